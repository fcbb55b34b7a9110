#!/bin/bash
# Throughput of `aatune watch`: netlink -> parse -> correlate -> group -> store, as root.
# Usage: tests/bench/watch_bench.sh BUILD_DIR [RECORDS] [DISTINCT_GROUPS]
# Prints records/s through watch (from its own summary), loss, and CPU per record (utime+stime
# of the watch process from getrusage via /usr/bin/time, or /proc/PID/stat before exit).
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [RECORDS] [DISTINCT]}
n=${2:-100000}
distinct=${3:-50}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "needs root (CAP_AUDIT_READ/CAP_AUDIT_WRITE)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/inject" "$here/watch_inject.c" -laudit
tag="aatune_bench_$$"
mkdir "$tmp/profiles"
"$build/aatune" watch --json --quiet --source netlink --profile "$tag" --db "$tmp/w.db" \
  --profiles "$tmp/profiles" --max-events "$n" --duration 300 \
  >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/err" && break; sleep 0.1; done
start=$(date +%s.%N)
"$tmp/inject" "$tag" "$n" "$distinct"
# CPU of the watcher, read while it is still alive (clock ticks).
while kill -0 $pid 2>/dev/null; do
  stat=$(cat /proc/$pid/stat 2>/dev/null || true)
  [ -n "$stat" ] && cpu_ticks=$(echo "$stat" | awk '{print $14+$15}')
  sleep 0.05
done
wait $pid || true
end=$(date +%s.%N)
hz=$(getconf CLK_TCK)
python3 - "$tmp/out" "$n" "$start" "$end" "${cpu_ticks:-0}" "$hz" <<'PY'
import json, sys
out, n, start, end, ticks, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
s = json.loads(open(out).read().strip().splitlines()[-1])["summary"]
wall = end - start
cpu = ticks / hz
print(f"records sent      {n}")
print(f"records shown     {s['shown']}  stored {s['stored']}  groups {s['groups']}")
print(f"losses            {json.dumps(s['losses'])}")
print(f"wall (inject->end) {wall:.2f} s  -> {s['shown']/wall:,.0f} records/s end to end")
print(f"watch CPU         {cpu:.2f} s  -> {cpu/max(s['shown'],1)*1e6:.1f} us/record")
PY
