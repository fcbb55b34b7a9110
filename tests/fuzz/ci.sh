#!/usr/bin/env bash
# CI: builds the four libFuzzer targets with clang-19 (ASan+UBSan) and fuzzes EACH for SECONDS
# (default 60) from the seed corpus: the record parser (fuzz_parse_line), the line reader
# (fuzz_line_reader), the profile tree reader (fuzz_profile_tree) and the AARE matcher
# (fuzz_aare). Fails on the first crash, leak, timeout or broken contract; the input is saved in
# tests/fuzz/crashers/<target>-*. Installs clang-19 when missing (AATUNE_WITH_FUZZ=1
# scripts/install-deps.sh).
#
# Usage: tests/fuzz/ci.sh [SECONDS]
# Env:   AATUNE_FUZZ_BUILD (default build-fuzz), AATUNE_CONFORMANCE_DIR, AATUNE_FIXTURES_DIR
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || {
  echo "ci.sh: SECONDS must be a positive number, got '$seconds'" >&2
  exit 2
}
if ! command -v clang++-19 >/dev/null; then
  echo "== installing clang-19"
  AATUNE_WITH_FUZZ=1 bash "$repo/scripts/install-deps.sh"
fi
build=${AATUNE_FUZZ_BUILD:-$repo/build-fuzz}
conformance=${AATUNE_CONFORMANCE_DIR:-$repo/../shared/conformance/libapparmor-test_multi}
fixtures=${AATUNE_FIXTURES_DIR:-$repo/../shared/fixtures}
targets=(fuzz_parse_line fuzz_line_reader fuzz_profile_tree fuzz_aare)

echo "== configuring and building $build with clang++-19"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_C_COMPILER=clang-19 -DAATUNE_FUZZ=ON \
  -DAATUNE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target "${targets[@]}"

# Seeds: the conformance cases and real-kernel fixtures (records), the samples' profile trees
# (profiles and AARE patterns).
seeds="$build/fuzz-seeds"
rm -rf "$seeds"
mkdir -p "$seeds/parse_line" "$seeds/line_reader" "$repo/tests/fuzz/crashers"
if [[ -d $conformance ]]; then
  cp -f "$conformance"/*.in "$seeds/parse_line"/
  cp -f "$conformance"/*.in "$seeds/line_reader"/
fi
if [[ -d $fixtures/real-kernel ]]; then
  cat "$fixtures"/real-kernel/*.txt | split -l 1 -a 4 - "$seeds/parse_line/fixture-"
  cp -f "$fixtures"/real-kernel/*.txt "$seeds/line_reader"/
fi
for log in "$repo"/samples/*/logs/*.log "$repo"/samples/mixed/*.log "$repo"/samples/audit/*.log; do
  [[ -f $log ]] && cp -f "$log" "$seeds/line_reader/$(echo "${log#"$repo"/}" | tr / _)"
done
python3 "$repo/tests/fuzz/make_seeds.py" "$repo" "$conformance" "$seeds"

rc=0
for target in "${targets[@]}"; do
  name=${target#fuzz_}
  corpus="$build/fuzz-corpus-$name"
  mkdir -p "$corpus"
  max_len=8192
  [[ $name == profile_tree ]] && max_len=16384
  echo "== $target for $seconds s"
  log="$build/$target.log"
  status=0
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -dict="$repo/tests/fuzz/apparmor.dict" -print_final_stats=1 \
    -artifact_prefix="$repo/tests/fuzz/crashers/$name-" "$corpus" "$seeds/$name" \
    >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|stat::)' "$log" || true
  if ((status != 0)); then
    tail -n 40 "$log" >&2
    echo "== $target stopped with status $status: see tests/fuzz/crashers/$name-*" >&2
    rc=1
  fi
done
# fuzz_profile_tree's scratch trees (named after its pid; libFuzzer exits with _Exit).
rm -rf /dev/shm/aatune-fuzz-tree-* 2>/dev/null || true
exit $rc
