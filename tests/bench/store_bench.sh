#!/usr/bin/env bash
# The store benchmark: `aatune scan` of a large generated log into a fresh store (events/s end to
# end, parse included), a re-scan of the unchanged file (should read nothing and take < 5 % of the
# first scan), and the store size per million events. Targets are reported as PASS/MISS; a MISS
# does not fail the script.
#
# Usage: tests/bench/store_bench.sh [--build DIR] [--aatune BIN] [--lines N] [--seed S]
#                                   [--workdir DIR]
#   --build DIR    build directory holding aatune (default <repo>/build-store, else <repo>/build)
#   --aatune BIN   use this binary
#   --lines N      lines in the generated log (default 2000000; about half are AppArmor records)
#   --seed S       generator seed (default 1)
#   --workdir DIR  where the log and the store go (default ${TMPDIR:-/tmp}/aatune-store-bench)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=""
aatune=""
lines=2000000
seed=1
workdir="${TMPDIR:-/tmp}/aatune-store-bench"
while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --aatune) aatune=$2; shift 2 ;;
    --lines) lines=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "store_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -z $aatune ]]; then
  if [[ -z $build ]]; then
    build="$repo/build-store"
    [[ -d $build ]] || build="$repo/build"
  fi
  [[ -f $build/CMakeCache.txt ]] || cmake -S "$repo" -B "$build" -G Ninja >/dev/null
  cmake --build "$build" --target aatune >/dev/null
  aatune="$build/aatune"
fi

mkdir -p "$workdir"
log="$workdir/bench-$lines-$seed.log"
if [[ ! -s $log ]]; then
  echo "== generating $lines lines into $log"
  if [[ -x $repo/tests/bench/gen_log.py ]] || [[ -f $repo/tests/bench/gen_log.py ]]; then
    python3 "$repo/tests/bench/gen_log.py" --lines "$lines" --seed "$seed" "$log"
  else
    # Fallback generator: kern.log records of a few shapes, distinct serials, plus noise.
    awk -v n="$lines" 'BEGIN {
      for (i = 0; i < n; i++) {
        if (i % 2) { printf "Jul 24 12:25:33 web01 sshd[%d]: session opened for user u%d\n", i, i % 7; continue }
        printf "Jul 24 12:25:33 web01 kernel: [42416.178567] audit: type=1400 audit(1795424536.%03d:%d): apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"/usr/sbin/p%d\" name=\"/srv/data/f%d\" pid=%d comm=\"p\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0\n", i % 1000, i, i % 20, i % 500, i
      }
    }' >"$log"
  fi
fi
cat "$log" >/dev/null  # warm the page cache

db="$workdir/store.db"
rm -f "$db" "$db-wal" "$db-shm"
now() { date +%s.%N; }
# CPU time (user + sys) of one command, from GNU time: on a shared machine wall time mostly
# measures the other processes, so the rates are given in both.
cpu_of() { awk '{ print $1 + $2 }' "$1"; }
timed() {  # timed CPUFILE CMD...: runs CMD, stdout to stdout, "user sys maxrss_kb" into CPUFILE
  local f=$1
  shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f '%U %S %M' -o "$f" "$@"
  else
    "$@"
    echo "0 0 0" >"$f"
  fi
}

t0=$(now)
out=$(timed "$workdir/cpu1" "$aatune" scan --quiet --db "$db" "$log")
t1=$(now)
events=$(awk '$1 == "total" { print $3 }' <<<"$out")
first=$(echo "$t1 - $t0" | bc -l)
first_cpu=$(cpu_of "$workdir/cpu1")
rate=$(echo "$events / $first" | bc -l)
rate_cpu=$(echo "$events / $first_cpu" | bc -l)

t0=$(now)
out2=$(timed "$workdir/cpu2" "$aatune" scan --quiet --db "$db" "$log")
t1=$(now)
second=$(echo "$t1 - $t0" | bc -l)
second_cpu=$(cpu_of "$workdir/cpu2")
reread=$(awk '$1 == "total" { print $2 }' <<<"$out2")

size=$(($(stat -c %s "$db") + $(stat -c %s "$db-wal" 2>/dev/null || echo 0)))
per_million=$(echo "$size / 1048576 * 1000000 / $events" | bc -l)

verdict() { if (($(echo "$1" | bc -l))); then echo PASS; else echo MISS; fi; }
printf 'log            %s (%s lines, %s MB)\n' "$log" "$lines" "$(($(stat -c %s "$log") / 1048576))"
printf '(load average now: %s on %s cores)\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
printf 'first scan     wall %.2f s, cpu %.2f s, %s events: %.0f events/s wall, %.0f events/s cpu\n' \
  "$first" "$first_cpu" "$events" "$rate" "$rate_cpu"
printf '               peak RSS %s MB\n' "$(awk '{ print int($3 / 1024) }' "$workdir/cpu1")"
printf '               target >= 500000/s: %s (wall), %s (cpu)\n' "$(verdict "$rate >= 500000")" \
  "$(verdict "$rate_cpu >= 500000")"
printf 're-scan        wall %.3f s (%.1f %% of first), cpu %.3f s (%.1f %%), lines read %s\n' \
  "$second" "$(echo "100 * $second / $first" | bc -l)" "$second_cpu" \
  "$(echo "100 * $second_cpu / ($first_cpu + 0.000001)" | bc -l)" "$reread"
printf '               target 0 lines, < 5 %%: %s\n' \
  "$(verdict "$reread == 0 && $second < 0.05 * $first")"
printf 'store size     %.1f MB total, %.1f MB per million events\n' \
  "$(echo "$size / 1048576" | bc -l)" "$per_million"
