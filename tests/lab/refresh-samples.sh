#!/usr/bin/env bash
# Refreshes samples/lab/ from a lab run, so that parser fixtures are genuine kernel output.
#
#   tests/lab/refresh-samples.sh [LAB_OUTDIR]
#
# With LAB_OUTDIR (a run.sh output directory) its captures are used; without, the lab is run
# first (run.sh, both boots). Writes:
#   samples/lab/netlink.txt         audit multicast, default boot (`type=N audit(...): ...`)
#   samples/lab/kmsg.txt            /dev/kmsg audit lines, default boot (`prio,seq,usec,-;audit: ...`)
#   samples/lab/audit1-netlink.txt  audit=1 boot: AVCs with SYSCALL/PROCTITLE/EOE companions
#   samples/lab/audit1-kmsg.txt     audit=1 boot, /dev/kmsg audit lines
#   samples/lab/README.md           provenance: kernel, parser, date, what produced each record
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
dest=$src/samples/lab
outdir=${1:-}
if [[ -z $outdir ]]; then
  outdir=$src/build-lab/lab/out
  "$here/run.sh" -o "$outdir"
fi

die() { echo "refresh-samples: error: $*" >&2; exit 1; }
for boot in default audit1; do
  [[ -f $outdir/$boot/DONE ]] || die "$outdir/$boot did not finish; run tests/lab/run.sh first"
  n=$(grep -c 'apparmor="DENIED"' "$outdir/$boot/netlink.txt" || true)
  want=$(grep -vc '^#' "$here/expected.tsv")
  ((n >= want)) || die "$outdir/$boot/netlink.txt has $n denials, expected at least $want"
done

mkdir -p "$dest"
cp "$outdir/default/netlink.txt" "$dest/netlink.txt"
cp "$outdir/audit1/netlink.txt" "$dest/audit1-netlink.txt"
grep ';audit: ' "$outdir/default/kmsg.txt" >"$dest/kmsg.txt"
grep ';audit: ' "$outdir/audit1/kmsg.txt" >"$dest/audit1-kmsg.txt"

kernel=$(sed -n 's/^kernel //p' "$outdir/default/info.txt")
parser=$(sed -n 's/^parser //p' "$outdir/default/info.txt")
steps=$(grep -h '^STEP' "$outdir/default/steps.txt" | sed 's/ cmd=.*//; s/^STEP //' | paste -sd, - | sed 's/,/, /g' || true)
cat >"$dest/README.md" <<MD
# Genuine kernel records from the aatune lab

Captured by \`tests/lab/refresh-samples.sh\` on $(date -u +%Y-%m-%d) from Debian's AppArmor kernel
($kernel) booted under QEMU/TCG (see docs/lab.md). Nothing here was edited by hand;
regenerate rather than edit.

- Profiles: \`tests/lab/profiles/\` (aatest confines \`aa_exercise\`, aatest_peer confines
  \`aa_peer\`); parser: $parser.
- Records: what \`tests/lab/aa_exercise.c\` provoked; each denial class and its expected fields
  are listed in \`tests/lab/expected.tsv\`. Later records come from the aatune steps that ran in
  that boot ($steps).
- \`netlink.txt\`, \`audit1-netlink.txt\`: the audit multicast group as read by
  \`tests/lab/lab_capture.c\`, one record per line as \`type=N <payload>\`.
- \`kmsg.txt\`, \`audit1-kmsg.txt\`: \`/dev/kmsg\` lines (\`prio,seq,usec,flags;text\`) starting with
  \`audit:\`, with the printk rate limit switched off in the guest so nothing is missing.
- \`audit1-*\`: the kernel booted with \`audit=1\`: every AVC is followed by SYSCALL (1300),
  PROCTITLE (1327) and, on netlink only, EOE (1320) with the same serial.
MD
wc -l "$dest"/*.txt >&2
