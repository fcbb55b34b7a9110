#!/usr/bin/env bash
# The TUI benchmark: time from `aatune tui` start to the first screen (headless: --batch with no
# keys) on a store holding about 1 M events, and to the groups screen of the busiest profile.
# Target: first screen < 300 ms (the profiles screen reads per-profile aggregates, never one row
# per group or event); groups screen of the busiest profile < 300 ms CPU (its groups through the
# profile index, a few sampled records per group; the evidence loads when a Detail screen opens). Reported as PASS/MISS with wall and CPU time and the load average (the
# build machine is shared: wall time mostly measures the other processes); a MISS does not fail
# the script.
#
# Usage: tests/bench/tui_bench.sh [--build DIR] [--aatune BIN] [--lines N] [--workdir DIR] [--runs N]
#   --build DIR    build directory holding aatune (default <repo>/build-tui, else <repo>/build)
#   --aatune BIN   use this binary
#   --lines N      lines in the generated log (default 2000000: about 1 M AppArmor records)
#   --workdir DIR  where the log and the store are cached (default ${TMPDIR:-/tmp}/aatune-tui-bench)
#   --runs N       timed runs per screen, best kept (default 5)
# The log and the store are cached in the workdir under names keyed by the generator's content
# hash and the line count, so reruns skip generating and scanning; a scan that did not finish is
# never cached.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=""
aatune=""
lines=2000000
runs=5
workdir="${TMPDIR:-/tmp}/aatune-tui-bench"
while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --aatune) aatune=$2; shift 2 ;;
    --lines) lines=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tui_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $lines =~ ^[1-9][0-9]*$ ]] || { echo "tui_bench.sh: --lines: '$lines' is not a count" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "tui_bench.sh: --runs: '$runs' is not a count" >&2; exit 2; }

if [[ -z $aatune ]]; then
  if [[ -z $build ]]; then
    build="$repo/build-tui"
    [[ -d $build ]] || build="$repo/build"
  fi
  [[ -f $build/CMakeCache.txt ]] || cmake -S "$repo" -B "$build" -G Ninja >/dev/null
  cmake --build "$build" --target aatune >/dev/null
  aatune="$build/aatune"
fi
[[ -x /usr/bin/time ]] || { echo "tui_bench.sh: needs /usr/bin/time (Debian: time)" >&2; exit 2; }

mkdir -p "$workdir"
gen="$repo/tests/bench/gen_log.py"
gen_version=$(sha256sum "$gen" | cut -c1-12)
log="$workdir/bench-$lines-gen$gen_version.log"
# The store is cached per schema version too: a store written at an older schema is migrated, not
# rewritten, so its records would stay in the old layout and the numbers would measure that.
schema=$(sed -n 's/.*kSchemaVersion = \([0-9]*\);.*/\1/p' "$repo/store/store.h")
[[ $schema =~ ^[0-9]+$ ]] || { echo "tui_bench.sh: no kSchemaVersion in store/store.h" >&2; exit 2; }
db="$workdir/bench-$lines-gen$gen_version-schema$schema.db"
if [[ ! -s $log ]]; then
  echo "== generating $lines lines into $log"
  python3 "$gen" --lines "$lines" --seed 1 "$log.part"
  mv "$log.part" "$log"
fi
if [[ ! -s $db ]]; then
  echo "== scanning $log into $db"
  rm -rf "$db.part"
  mkdir "$db.part"
  /usr/bin/time -f "   scan: %e s wall, %U s user, %S s sys" \
    "$aatune" scan --db "$db.part/store.db" --no-journal --no-kmsg --quiet "$log"
  # Only a finished scan is kept (an interrupted one once left a 60k-event "1 M" store); the
  # store's -wal file, if any, moves with it.
  for f in "$db.part"/store.db*; do mv "$f" "$db${f#"$db.part"/store.db}"; done
  rmdir "$db.part"
fi
tree="$repo/samples/libvirt/apparmor.d"
tui=("$aatune" tui --db "$db" --profiles "$tree" --no-reload)

# One untimed run: migrates a store written by an older aatune and warms the page cache.
"${tui[@]}" --batch "" >/dev/null

# best KEYS: runs the TUI `runs` times with --batch KEYS; prints "WALL_MS CPU_MS" of the run with
# the best wall time, CPU = user + sys.
best() {
  local keys=$1 best_wall=999999 best_cpu=0 t wall cpu
  t=$(mktemp)
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -f '%e %U %S' -o "$t" "${tui[@]}" --batch "$keys" >/dev/null
    read -r wall cpu < <(awk '{ printf "%d %d\n", $1 * 1000 + 0.5, ($2 + $3) * 1000 + 0.5 }' "$t")
    if ((wall < best_wall)); then
      best_wall=$wall
      best_cpu=$cpu
    fi
  done
  rm -f "$t"
  echo "$best_wall $best_cpu"
}

events=$(sqlite3 "$db" 'SELECT count(*) FROM events' 2>/dev/null || echo "?")
groups=$(sqlite3 "$db" 'SELECT count(*) FROM groups' 2>/dev/null || echo "?")
read -r first_wall first_cpu < <(best "")
read -r top_wall top_cpu < <(best "Enter")
verdict=MISS
((first_wall < 300)) && verdict=PASS
cpu_verdict=MISS
((first_cpu < 300)) && cpu_verdict=PASS
echo "store:                    $db"
echo "events / groups:          $events / $groups"
echo "load average:             $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo "first screen (profiles):  ${first_wall} ms wall, ${first_cpu} ms CPU   target < 300 ms: $verdict (CPU: $cpu_verdict)"
top_verdict=MISS
((top_cpu < 300)) && top_verdict=PASS
echo "groups of top profile:    ${top_wall} ms wall, ${top_cpu} ms CPU   target < 300 ms CPU: $top_verdict"
