#!/bin/sh
# /init of the lab guest (busybox ash). Runs the scenario as an admin would on a real host and
# prints every result between `=====AATUNE-LAB BEGIN <name>=====` / `=====AATUNE-LAB END <name>=====`
# markers on the serial console; tests/lab/run.sh cuts them into files.
#
# Kernel command line: aatune.lab=full (default: the whole scenario) | capture (load, exercise,
# capture only: for the audit=1 boot).
export PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LC_ALL=C AATUNE_DB=/tmp/lab/aatune.db

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
mkdir -p $O $L/mnt
for f in wfile afile owned "with space"; do echo data >"$L/$f"; done
PROFILES=/etc/apparmor.d
SEC=/sys/kernel/security/apparmor

# A small settle time: kauditd delivers records asynchronously.
settle() { usleep 300000; }
# Phase boundaries as line counts of the netlink capture, so the host can tell runs apart.
mark() {
  settle
  echo "$1 $(wc -l <$L/netlink.txt)" >>$L/phases.txt
}
note() { echo "$*" >>$L/steps.txt; }
# Runs one aatune step; stdout goes to $L/step-<name>.txt, stderr to $L/step-<name>.err.
has_cmd() { aatune "$1" --help >/dev/null 2>&1; }
step() {
  name=$1
  shift
  "$@" >"$L/step-$name.txt" 2>"$L/step-$name.err"
  rc=$?
  note "STEP $name rc=$rc cmd=$*"
  return $rc
}
profiles_now() { cut -d' ' -f1- $SEC/profiles 2>/dev/null | grep aatest | sort >"$L/profiles-$1.txt"; }

{
  echo "kernel $(uname -r)"
  echo "lsm $(cat /sys/kernel/security/lsm)"
  echo "apparmor_enabled $(cat /sys/module/apparmor/parameters/enabled)"
  echo "cmdline $(cat /proc/cmdline)"
  echo "mode $mode"
  echo "aatune $(aatune --version 2>&1)"
  echo "parser $(apparmor_parser -V 2>&1 | head -n1)"
} >$L/info.txt

# Independent ground truth: the audit multicast group (never aatune's own collector).
lab_capture netlink >$L/netlink.txt 2>$L/capture.err &
NLPID=$!
i=0
while ! grep -q listening $L/capture.err 2>/dev/null && [ $i -lt 50 ]; do usleep 20000; i=$((i + 1)); done

WATCHPID=
if [ $mode = full ] && has_cmd watch; then
  aatune watch --json >$L/watch.json 2>$L/watch.err &
  WATCHPID=$!
  note "STEP watch started"
else
  note "SKIP watch (aatune watch not available)"
fi

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

if [ $mode = full ]; then
  [ -n "$WATCHPID" ] && { settle; kill $WATCHPID; wait $WATCHPID 2>/dev/null; }
  lab_capture kmsg >$L/kmsg.txt 2>>$L/capture.err

  # (2) Collect: parse what the kernel logged, as a user would with `dmesg`-style logs.
  if has_cmd parse; then
    step parse-kmsg aatune parse --format json $L/kmsg.txt
    step parse-netlink aatune parse --format json $L/netlink.txt
  else
    note "SKIP parse (aatune parse not available)"
  fi
  if has_cmd scan; then
    step scan aatune scan --no-journal kmsg
    has_cmd status && step status aatune status --json
  else
    note "SKIP scan (aatune scan not available)"
  fi

  if has_cmd suggest; then
    # Exit status 1 means "proposals printed".
    step suggest aatune suggest --profiles $PROFILES --format json $L/kmsg.txt
    aatune suggest --profiles $PROFILES --format apparmor $L/kmsg.txt >$L/suggest-rules.txt 2>&1
  else
    note "SKIP suggest (aatune suggest not available)"
  fi

  # (3) Apply every proposal into local/, validate, reload into the kernel.
  applied=0
  if has_cmd apply; then
    step apply aatune apply --all --yes --force --target local --profiles $PROFILES $L/kmsg.txt && applied=1
  elif [ -s $L/suggest-rules.txt ]; then
    # Until `apply` exists: put the proposed rules into local/ by hand, as an admin would, and let
    # the real kernel judge them.
    note "SKIP apply (aatune apply not available; applying the suggest output by hand)"
    awk -v dir=$PROFILES/local '
      /^profile [^ ]+ \{/ { cur = $2; next }
      /^}/ { cur = ""; next }
      cur != "" && $0 !~ /^[ \t]*#/ { print >> (dir "/" cur) }' $L/suggest-rules.txt
    step apply-suggested apparmor_parser -r -K $PROFILES/aatest $PROFILES/aatest_peer && applied=1
  else
    note "SKIP apply (aatune apply not available)"
  fi
  if [ $applied = 1 ]; then
    for p in aatest aatest_peer; do cp $PROFILES/local/$p "$L/local-$p.txt" 2>/dev/null; done
    profiles_now applied
  fi

  # (4) Exercise again: the accepted denials must be gone, the paired signal rule must work.
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

  # (5) Lifecycle on one profile.
  if has_cmd disable; then
    step disable aatune disable aatest --profiles $PROFILES
    profiles_now disabled
    /usr/bin/aa_exercise probe >$O/probe-disabled.txt 2>&1
    mark disabled
  else
    note "SKIP disable (aatune disable not available)"
  fi
  if has_cmd enable; then
    step enable aatune enable aatest --profiles $PROFILES
    profiles_now enabled
    /usr/bin/aa_exercise probe >$O/probe-enabled.txt 2>&1
    mark enabled
  else
    note "SKIP enable (aatune enable not available)"
  fi
  if has_cmd complain; then
    step complain aatune complain aatest --profiles $PROFILES
    profiles_now complain
    /usr/bin/aa_exercise probe >$O/probe-complain.txt 2>&1
    mark complain
  else
    note "SKIP complain (aatune complain not available)"
  fi

  # (6) A bug-report bundle of the run.
  if has_cmd export; then
    mkdir -p $L/export
    step export aatune export --format tar --profiles $PROFILES --output $L/export/bundle.tar.gz $L/kmsg.txt
    (cd $L/export && ls -la) >$L/export-list.txt 2>&1
  else
    note "SKIP export (aatune export not available)"
  fi
else
  lab_capture kmsg >$L/kmsg.txt 2>>$L/capture.err
fi

settle
kill $NLPID
wait $NLPID 2>/dev/null

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
for f in $O/*.txt; do section "$(basename $f)" "$f"; done
for f in $L/step-*.txt $L/step-*.err $L/profiles-*.txt $L/local-*.txt $L/suggest-rules.txt $L/watch.json $L/watch.err $L/export-list.txt; do
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
