#!/usr/bin/env bash
# The TUI benchmark: time from `aatune tui` start to the first screen (headless: --batch with no
# keys) on a store holding about 1 M events, and to the groups screen of the busiest profile.
# Target: first screen < 300 ms (it reads the pre-aggregated groups, never the raw events).
# Reported as PASS/MISS; a MISS does not fail the script.
#
# Usage: tests/bench/tui_bench.sh [--build DIR] [--aatune BIN] [--lines N] [--workdir DIR]
#   --build DIR    build directory holding aatune (default <repo>/build-tui, else <repo>/build)
#   --aatune BIN   use this binary
#   --lines N      lines in the generated log (default 2000000: about 1 M AppArmor records)
#   --workdir DIR  where the log and the store go (default ${TMPDIR:-/tmp}/aatune-tui-bench)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=""
aatune=""
lines=2000000
workdir="${TMPDIR:-/tmp}/aatune-tui-bench"
while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --aatune) aatune=$2; shift 2 ;;
    --lines) lines=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tui_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -z $aatune ]]; then
  if [[ -z $build ]]; then
    build="$repo/build-tui"
    [[ -d $build ]] || build="$repo/build"
  fi
  [[ -f $build/CMakeCache.txt ]] || cmake -S "$repo" -B "$build" -G Ninja >/dev/null
  cmake --build "$build" --target aatune >/dev/null
  aatune="$build/aatune"
fi

mkdir -p "$workdir"
log="$workdir/bench-$lines.log"
db="$workdir/bench-$lines.db"
if [[ ! -s $log ]]; then
  echo "== generating $lines lines into $log"
  python3 "$repo/tests/bench/gen_log.py" --lines "$lines" --seed 1 "$log"
fi
if [[ ! -s $db ]]; then
  echo "== scanning into $db (the existing scan path)"
  "$aatune" scan --db "$db" --no-journal --no-kmsg --quiet "$log"
fi
tree="$repo/samples/libvirt/apparmor.d"

ms() {  # runs "$@" five times, prints the best wall time in ms
  local best=999999 t0 t1 d
  for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    d=$(((t1 - t0) / 1000000))
    ((d < best)) && best=$d
  done
  echo "$best"
}

events=$(sqlite3 "$db" 'select count(*) from events' 2>/dev/null || echo "?")
first=$(ms "$aatune" tui --db "$db" --profiles "$tree" --no-reload --batch "")
groups=$(ms "$aatune" tui --db "$db" --profiles "$tree" --no-reload --batch "Enter")
verdict=MISS
((first < 300)) && verdict=PASS
echo "events in store:          $events"
echo "first screen (profiles):  ${first} ms   target < 300 ms: $verdict"
echo "groups of top profile:    ${groups} ms"
