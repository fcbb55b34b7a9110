#!/usr/bin/env bash
# ctest lab_real_kernel: the whole lab, host side.
#
#   tests/lab/lab_test.sh AATUNE_BINARY [OUTDIR]
#
# Provisions the lab (setup.sh), builds the initramfs with this aatune, boots the guest twice
# (run.sh) and asserts on what came back (check_lab.py). Exit 0 all assertions passed; 1 a
# failure; 77 SKIP, only when QEMU or the kernel package truly cannot be installed here.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
aatune=${1:?usage: lab_test.sh AATUNE_BINARY [OUTDIR]}
outdir=${2:-$(cd "$here/../.." && pwd)/build-lab/lab/out}
start=$SECONDS

"$here/setup.sh" >/dev/null
rc=$?
if ((rc == 77)); then
  echo "lab_test: SKIPPED: the QEMU lab cannot be provisioned on this machine (reason above)"
  exit 77
elif ((rc != 0)); then
  echo "lab_test: FAIL: setup.sh exited $rc"
  exit 1
fi
if [[ ! -x $aatune ]]; then
  echo "lab_test: FAIL: aatune binary '$aatune' not found (build the aatune target first)"
  exit 1
fi
command -v python3 >/dev/null || { echo "lab_test: FAIL: python3 is needed for the checks"; exit 1; }

echo "lab_test: setup done in $((SECONDS - start))s"
if ! "$here/run.sh" -o "$outdir" --aatune "$aatune"; then
  echo "lab_test: FAIL: a guest boot did not finish; console logs are in $outdir/*/console.log"
  exit 1
fi
python3 "$here/check_lab.py" "$outdir" "$here/expected.tsv" "$aatune"
rc=$?
echo "lab_test: total $((SECONDS - start))s; guest output in $outdir"
exit $rc
