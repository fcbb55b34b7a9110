#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++-19 in build-fuzz/ and fuzzes the record parser
# (fuzz_parse_line, 2/5 of the time), the line reader, the profile tree reader and the AARE
# matcher (fuzz_line_reader, fuzz_profile_tree, fuzz_aare, 1/5 each) for SECONDS in all (default
# 180). Crashing inputs are saved in tests/fuzz/crashers/. CI uses tests/fuzz/ci.sh instead.
#
# Usage: tests/fuzz/run.sh [SECONDS] [-- EXTRA_LIBFUZZER_FLAGS...]
# Env:   CXX (default clang++-19), CC (default clang-19), AATUNE_CONFORMANCE_DIR, AATUNE_FIXTURES_DIR
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=180
if (($#)) && [[ $1 != -- ]]; then
  seconds=$1
  shift
fi
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || {
  echo "run.sh: SECONDS must be a positive number, got '$seconds'" >&2
  exit 2
}
[[ ${1:-} == -- ]] && shift
extra=("$@")

build="$repo/build-fuzz"
cxx=${CXX:-clang++-19}
cc=${CC:-clang-19}
command -v "$cxx" >/dev/null || { echo "run.sh: $cxx not found (apt-get install clang-19)" >&2; exit 2; }
conformance=${AATUNE_CONFORMANCE_DIR:-$repo/../shared/conformance/libapparmor-test_multi}
fixtures=${AATUNE_FIXTURES_DIR:-$repo/../shared/fixtures}

echo "== configuring and building $build with $cxx"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" -DAATUNE_FUZZ=ON \
  -DAATUNE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target fuzz_parse_line fuzz_line_reader fuzz_profile_tree fuzz_aare

# Seeds, rebuilt each run; the corpora grow across runs in $build/fuzz-corpus-<target>.
# fuzz_parse_line: one line per file (conformance .in files, real-kernel fixture lines, generated
# lines). fuzz_line_reader: whole files, including a wrapped dbus record and a gzip stream.
seeds="$build/fuzz-seeds"
rm -rf "$seeds"
mkdir -p "$seeds/parse_line" "$seeds/line_reader" "$repo/tests/fuzz/crashers"
if [[ -d $conformance ]]; then
  cp -f "$conformance"/*.in "$seeds/parse_line"/
  cp -f "$conformance"/*.in "$seeds/line_reader"/
else
  echo "   (no conformance corpus at $conformance; seeding from generated lines only)"
fi
if [[ -d $fixtures/real-kernel ]]; then
  cat "$fixtures"/real-kernel/*.txt | split -l 1 -a 4 - "$seeds/parse_line/fixture-"
  cp -f "$fixtures"/real-kernel/*.txt "$seeds/line_reader"/
fi
gen="$build/fuzz-gen.log"
python3 "$repo/tests/bench/gen_log.py" --lines 300 --seed 5 "$gen"
split -l 1 -a 4 "$gen" "$seeds/parse_line/gen-"
split -l 40 -a 2 "$gen" "$seeds/line_reader/gen-"
head -n 40 "$gen" | gzip -9n >"$seeds/line_reader/gen.gz"
python3 "$repo/tests/fuzz/make_seeds.py" "$repo" "$conformance" "$seeds"
echo "   $(ls "$seeds/parse_line" | wc -l) + $(ls "$seeds/line_reader" | wc -l) seed inputs"

# The parser gets two thirds of the time: it is the attack surface and runs ~40x more inputs/s.
parse_seconds=$(((seconds * 2 + 4) / 5))
other_seconds=$(((seconds - parse_seconds) / 3 > 0 ? (seconds - parse_seconds) / 3 : 1))
rc=0
for pair in "parse_line:$parse_seconds" "line_reader:$other_seconds" \
  "profile_tree:$other_seconds" "aare:$other_seconds"; do
  target=${pair%%:*}
  secs=${pair##*:}
  corpus="$build/fuzz-corpus-$target"
  mkdir -p "$corpus"
  echo "== fuzz_$target for $secs s (crashers go to tests/fuzz/crashers/$target-*)"
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$secs" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -dict="$repo/tests/fuzz/apparmor.dict" -print_final_stats=1 \
    -artifact_prefix="$repo/tests/fuzz/crashers/$target-" "${extra[@]}" "$corpus" \
    "$seeds/$target" || rc=$?
done
if ((rc != 0)); then
  echo "== a fuzzer stopped with status $rc: see the artifact named above in tests/fuzz/crashers/" >&2
fi
exit $rc
