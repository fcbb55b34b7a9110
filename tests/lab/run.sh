#!/usr/bin/env bash
# Boots the lab guest under QEMU/TCG and cuts its console output into files.
#
#   tests/lab/run.sh [-o OUTDIR] [--aatune PATH] [--initrd FILE] [--boots "default audit1 kmsg"]
#
# Boots (each into OUTDIR/<boot>/, console log in OUTDIR/<boot>/console.log; tests/lab/init.sh):
#   default  the full scenario: watch (netlink) -> store -> export -> apply -> run 2 -> lifecycle
#   audit1   audit=1 on the command line: watch on netlink gets SYSCALL/PROCTITLE/EOE companions
#   kmsg     nothing on the audit netlink: watch (auto, without CAP_AUDIT_READ) uses /dev/kmsg
# Exit codes: 0 every boot reached its DONE marker; 1 a boot failed or timed out; 77 the lab
# cannot be provisioned here (see setup.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
outdir=$src/build-lab/lab/out
aatune=${AATUNE_BINARY:-$src/build-lab/aatune}
initrd=
boots="default audit1 kmsg"
timeout_s=${AATUNE_LAB_TIMEOUT:-180}
while (($#)); do
  case $1 in
    -o) outdir=$2; shift 2 ;;
    --aatune) aatune=$2; shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    --boots) boots=$2; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

cache=$("$here/setup.sh" | tail -n1) || exit $?
kernel=$(ls "$cache"/kernel/boot/vmlinuz-* | sort -V | tail -n1)
mkdir -p "$outdir"
if [[ -z $initrd ]]; then
  initrd=$outdir/initramfs.cpio.gz
  "$here/build-initramfs.sh" "$initrd" "$aatune"
fi

status=0
for boot in $boots; do
  case $boot in
    default) append="console=ttyS0 panic=-1 loglevel=4 aatune.lab=full" ;;
    audit1) append="console=ttyS0 panic=-1 loglevel=4 audit=1 aatune.lab=audit1" ;;
    kmsg) append="console=ttyS0 panic=-1 loglevel=4 aatune.lab=kmsg" ;;
    *) echo "run.sh: error: unknown boot '$boot' (default|audit1|kmsg)" >&2; exit 2 ;;
  esac
  dir=$outdir/$boot
  rm -rf "$dir"
  mkdir -p "$dir"
  start=$(date +%s.%N)
  set +e
  timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 512 \
    -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$kernel" -initrd "$initrd" -append "$append" </dev/null >"$dir/console.raw" 2>"$dir/qemu.err"
  rc=$?
  set -e
  end=$(date +%s.%N)
  tr -d '\r' <"$dir/console.raw" >"$dir/console.log"
  rm -f "$dir/console.raw"
  awk -v dir="$dir" '
    # Markers are matched anywhere in a line: firmware escape codes may precede the first one.
    match($0, /=====AATUNE-LAB BEGIN [^ =]+=====$/) {
      name = substr($0, RSTART + 22, RLENGTH - 27); file = dir "/" name; printf "" > file; next
    }
    /=====AATUNE-LAB END [^ =]+=====$/ { close(file); file = ""; next }
    /=====AATUNE-LAB DONE=====$/ { print "done" > (dir "/DONE"); next }
    file != "" { print >> file }
  ' "$dir/console.log"
  if [[ -f $dir/bundle.tar.gz.b64 ]]; then
    base64 -d "$dir/bundle.tar.gz.b64" >"$dir/bundle.tar.gz" && rm -f "$dir/bundle.tar.gz.b64"
  fi
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
  echo "$wall" >"$dir/wall_seconds"
  if [[ -f $dir/DONE ]]; then
    echo "run.sh: boot $boot done in ${wall}s -> $dir" >&2
  else
    echo "run.sh: error: boot $boot did not finish (qemu rc=$rc, ${wall}s); see $dir/console.log" >&2
    status=1
  fi
done
exit $status
