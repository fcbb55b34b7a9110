#!/bin/sh
# /init of the lab guest (busybox ash). Runs the scenario as an admin would on a real host and
# prints every result between `=====AATUNE-LAB BEGIN <name>=====` / `=====AATUNE-LAB END <name>=====`
# markers on the serial console; tests/lab/run.sh cuts them into files.
#
# Kernel command line, aatune.lab=
#   full    (default boot) `aatune watch` (auto: the audit netlink) collects run 1 into the store;
#           export from that store, apply its records into local/, run 2, disable/enable/complain
#   audit1  (with audit=1) `aatune watch --source netlink` collects run 1 with its SYSCALL/
#           PROCTITLE/EOE companions
#   kmsg    nothing listens on the audit netlink: `aatune watch` (auto) runs without
#           CAP_AUDIT_READ, must fall back to /dev/kmsg and say so, and collects run 1 from there
# lab_capture (never aatune) records the kernel's own text as ground truth: the netlink group in
# full/audit1, /dev/kmsg at the end of every boot.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LC_ALL=C

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t securityfs securityfs /sys/kernel/security
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# Kernel messages must not interleave with the sections on the console.
dmesg -n 1
# kmsg copies are rate limited to 10 per 5 s; the kmsg capture must hold the whole run.
echo 0 >/proc/sys/kernel/printk_ratelimit
# Yama (stacked before AppArmor) would refuse ptrace of a non-child with EPERM and no record.
[ -w /proc/sys/kernel/yama/ptrace_scope ] && echo 0 >/proc/sys/kernel/yama/ptrace_scope

mode=full
for w in $(cat /proc/cmdline); do
  case $w in aatune.lab=*) mode=${w#aatune.lab=} ;; esac
done

L=/tmp/lab
O=$L/out
DB=$L/aatune.db
mkdir -p $O $L/mnt $L/export
for f in wfile afile owned "with space"; do echo data >"$L/$f"; done
PROFILES=/etc/apparmor.d
SEC=/sys/kernel/security/apparmor
START=$(cut -d' ' -f1 /proc/uptime)

# A small settle time: kauditd delivers records asynchronously.
settle() { usleep 500000; }
# Phase boundaries as line counts of the netlink capture, so the host can tell runs apart.
mark() {
  settle
  n=0
  [ -e $L/netlink.txt ] && n=$(wc -l <$L/netlink.txt)
  echo "$1 $n" >>$L/phases.txt
}
note() { echo "$*" >>$L/steps.txt; }
# Runs one aatune step; stdout goes to $L/step-<name>.txt, stderr to $L/step-<name>.err.
step() {
  name=$1
  shift
  "$@" >"$L/step-$name.txt" 2>"$L/step-$name.err"
  rc=$?
  note "STEP $name rc=$rc cmd=$*"
  return $rc
}
profiles_now() { cut -d' ' -f1- $SEC/profiles 2>/dev/null | grep aatest | sort >"$L/profiles-$1.txt"; }
# Waits (up to ~20 s: TCG on busy cores) until $2 contains $3; $1 names the wait in steps.txt.
wait_for() {
  i=0
  while ! grep -q "$3" "$2" 2>/dev/null && [ $i -lt 200 ]; do usleep 100000; i=$((i + 1)); done
  grep -q "$3" "$2" 2>/dev/null || note "TIMEOUT $1 waiting for '$3' in $2"
}

# `aatune watch` as an admin runs it in a second terminal: in the background, stopped with Ctrl-C
# (SIGINT) once the denials happened. Its stdout is JSON lines, stderr its diagnostics.
WATCHPID=
start_watch() {
  "$@" >$L/watch.json 2>$L/watch.err &
  WATCHPID=$!
  wait_for watch $L/watch.err "listening on"
  note "STEP watch-start cmd=$*"
}
stop_watch() {
  [ -n "$WATCHPID" ] || return 0
  settle
  kill -INT $WATCHPID
  wait $WATCHPID
  note "STEP watch rc=$? (stopped with SIGINT)"
}

{
  echo "kernel $(uname -r)"
  echo "lsm $(cat /sys/kernel/security/lsm)"
  echo "apparmor_enabled $(cat /sys/module/apparmor/parameters/enabled)"
  echo "cmdline $(cat /proc/cmdline)"
  echo "mode $mode"
  echo "aatune $(aatune --version 2>&1)"
  echo "parser $(apparmor_parser -V 2>&1 | head -n1)"
} >$L/info.txt

NLPID=
if [ $mode != kmsg ]; then
  # Independent ground truth: the audit multicast group (never aatune's own collector).
  lab_capture netlink >$L/netlink.txt 2>$L/capture.err &
  NLPID=$!
  wait_for capture $L/capture.err listening
fi

case $mode in
  full) start_watch aatune watch --json --db $DB --profiles $PROFILES ;;
  audit1) start_watch aatune watch --json --source netlink --db $DB --profiles $PROFILES ;;
  kmsg) start_watch lab_capture without-audit-read aatune watch --json --db $DB --profiles $PROFILES ;;
esac

# (1) Load the profiles in enforce mode and exercise every denial class.
apparmor_parser -r -K $PROFILES/aatest $PROFILES/aatest_peer >$L/load.txt 2>&1
note "STEP load rc=$?"
profiles_now loaded
/usr/bin/aa_peer peer >$O/peer.txt 2>&1 &
PEER=$!
usleep 100000
mark load
/usr/bin/aa_exercise run $PEER >$O/run1.txt 2>&1
mark run1
# (2) The watcher collected them; Ctrl-C stores what is pending and prints its summary.
stop_watch

if [ $mode = full ]; then
  # What watch stored, as `aatune status` reports it.
  step status aatune status --json --db $DB

  # (6, made here so that its patch is against the original tree) A bug-report bundle from the
  # store watch filled: its denials.log holds the kernel's records as watch stored them.
  step export aatune export --db $DB --profiles $PROFILES --format tar --output $L/export/bundle.tar.gz
  (cd $L/export && tar -xzf bundle.tar.gz && find . -type f | sort) >$L/export-list.txt 2>&1

  # (3) Accept every proposal (not the risky ones: no --force) for the records watch stored, into
  # local/; apply validates and reloads into the kernel. apply reads logs, not the store, so it
  # gets the store's records through the bundle's denials.log.
  applied=0
  if [ -s $L/export/aatune-export/denials.log ]; then
    step apply aatune apply --all --yes --target local --profiles $PROFILES --db $DB \
      $L/export/aatune-export/denials.log && applied=1
  else
    note "SKIP apply (the export bundle has no denials.log)"
  fi
  for p in aatest aatest_peer; do cp $PROFILES/local/$p "$L/local-$p.txt" 2>/dev/null; done
  profiles_now applied

  # (4) Exercise again: the accepted denials must be gone, the others still there, and the
  # paired signal rules must let the signal through.
  if [ $applied = 1 ]; then
    # Restart the peer as an admin restarts a service after a policy change: the kernel checks
    # the ptrace tracee side against the label the sleeping peer still holds, and that label is
    # only refreshed when the peer itself next passes a mediation hook (found by this lab).
    kill $PEER
    wait $PEER 2>/dev/null
    /usr/bin/aa_peer peer >$O/peer2.txt 2>&1 &
    PEER=$!
    usleep 100000
    /usr/bin/aa_exercise run $PEER >$O/run2.txt 2>&1
    mark run2
  else
    note "SKIP run2 (nothing applied)"
  fi

  # (5) Lifecycle on one profile, each seen from the kernel and from a fresh confined process.
  step disable aatune disable aatest --profiles $PROFILES
  profiles_now disabled
  /usr/bin/aa_exercise probe >$O/probe-disabled.txt 2>&1
  mark disabled
  step enable aatune enable aatest --profiles $PROFILES
  profiles_now enabled
  /usr/bin/aa_exercise probe >$O/probe-enabled.txt 2>&1
  mark enabled
  step complain aatune complain aatest --profiles $PROFILES
  profiles_now complain
  /usr/bin/aa_exercise probe >$O/probe-complain.txt 2>&1
  mark complain
fi

settle
lab_capture kmsg >$L/kmsg.txt 2>>$L/capture.err
if [ -n "$NLPID" ]; then
  kill $NLPID
  wait $NLPID 2>/dev/null
fi
echo "$START $(cut -d' ' -f1 /proc/uptime)" >$L/uptime.txt

section() {
  [ -e "$2" ] || return 0
  echo "=====AATUNE-LAB BEGIN $1====="
  cat "$2"
  echo "=====AATUNE-LAB END $1====="
}
section info.txt $L/info.txt
section netlink.txt $L/netlink.txt
section kmsg.txt $L/kmsg.txt
section phases.txt $L/phases.txt
section steps.txt $L/steps.txt
section load.txt $L/load.txt
section capture.err $L/capture.err
section uptime.txt $L/uptime.txt
for f in $O/*.txt; do section "$(basename $f)" "$f"; done
for f in $L/step-*.txt $L/step-*.err $L/profiles-*.txt $L/local-*.txt $L/watch.json $L/watch.err $L/export-list.txt; do
  [ -e "$f" ] && section "$(basename $f)" "$f"
done
if [ -e $L/export/bundle.tar.gz ]; then
  echo "=====AATUNE-LAB BEGIN bundle.tar.gz.b64====="
  base64 $L/export/bundle.tar.gz
  echo "=====AATUNE-LAB END bundle.tar.gz.b64====="
fi
echo "=====AATUNE-LAB DONE====="
sync
poweroff -f
