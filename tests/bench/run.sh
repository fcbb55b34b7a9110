#!/usr/bin/env bash
# The parser benchmark: aatune parse --count against grep -c and libapparmor's parse_record().
#
# In one run it builds what it needs, generates a deterministic mixed log (about half AppArmor
# records, half noise; reused from the work dir when already there), warms the page cache, times
# each tool (best of 3, wall clock), prints time, MB/s and the ratios, and measures peak RSS on two
# file sizes to show memory is flat in the file size (wall and CPU time come from wait4(),
# through a few lines of Python; RSS from /usr/bin/time when installed). Targets are reported as PASS/MISS; a MISS
# does not fail the script. See docs/bench.md.
#
# Usage: tests/bench/run.sh [--build DIR] [--aatune BIN] [--lines N] [--seed S] [--big-factor K]
#                           [--workdir DIR]
#   --build DIR       build directory holding aatune (default: <repo>/build; configured if empty)
#   --aatune BIN      time this aatune binary instead of DIR/aatune (not rebuilt)
#   --lines N         lines in the main log (default 1000000)
#   --seed S          generator seed (default 1)
#   --big-factor K    the second log for the RSS check is K copies of the first (default 4)
#   --workdir DIR     where the logs go (default ${TMPDIR:-/tmp}/aatune-bench)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$repo/build"
lines=1000000
seed=1
big_factor=4
workdir="${TMPDIR:-/tmp}/aatune-bench"
aatune=""

while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --aatune) aatune=$2; shift 2 ;;
    --lines) lines=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --big-factor) big_factor=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$lines" "$seed" "$big_factor"; do
  [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "run.sh: '$n' is not a positive number" >&2; exit 2; }
done

export LC_ALL=C  # grep's fastest mode; the other two do not look at the locale
python=$(command -v python3) || { echo "run.sh: python3 is needed for the generator" >&2; exit 2; }

# ---- build -----------------------------------------------------------------------------------
if [[ ! -f $build/CMakeCache.txt ]]; then
  echo "== configuring $build"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
if [[ -z $aatune ]]; then
  echo "== building aatune in $build"
  cmake --build "$build" --target aatune >/dev/null ||
    echo "   (building aatune failed; its row will be skipped)"
  aatune="$build/aatune"
fi
echo "== building aa_parse_loop in $build"
cmake --build "$build" --target aa_parse_loop >/dev/null
aa_loop="$build/tests/bench/aa_parse_loop"

# ---- generate --------------------------------------------------------------------------------
mkdir -p "$workdir"
log="$workdir/mixed-s$seed-n$lines.log"
summary="$workdir/mixed-s$seed-n$lines.json"
big="$workdir/mixed-s$seed-n$lines-x$big_factor.log"
if [[ ! -s $log || ! -s $summary || $summary -ot $repo/tests/bench/gen_log.py ]]; then
  echo "== generating $log ($lines lines, seed $seed)"
  "$python" "$repo/tests/bench/gen_log.py" --lines "$lines" --seed "$seed" \
    --summary "$summary" "$log"
else
  echo "== reusing $log"
fi
if [[ ! -s $big || $big -ot $log ]]; then
  for ((i = 0; i < big_factor; i++)); do cat "$log"; done >"$big"
fi
bytes=$(stat -c %s "$log")
big_bytes=$(stat -c %s "$big")
"$python" - "$summary" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print("   %d lines, %.1f MB, %d AppArmor records (%d without an apparmor= key), %d with class=,"
      " %d hex-encoded, %d wrapped" % (s["lines"], s["bytes"] / 1e6, s["records"],
      s["without_apparmor_key"], s["with_class_field"], s["hex_encoded"], s["wrapped"]))
print("   expected per class:", " ".join("%s=%d" % kv for kv in sorted(s["by_class"].items())))
print("   expected per type: ", " ".join("%s=%d" % kv for kv in sorted(s["by_type"].items())))
EOF

# ---- measure ---------------------------------------------------------------------------------
out="$workdir/out"
mkdir -p "$out"
cat "$log" "$big" >/dev/null  # warm the page cache

# measure OUTFILE CMD...: runs CMD once with stdout to OUTFILE; prints "wall cpu maxrss_kb rc"
# (wall and user+sys CPU seconds of the child, from wait4()). The peak RSS comes from GNU time
# when installed: a child forked from Python inherits Python's RSS high-water mark (~14 MB floor).
measure() {
  "$python" - "$@" <<'PY'
import os, subprocess, sys, time
cmd = sys.argv[2:]
rss_file = sys.argv[1] + ".rss"
if os.access("/usr/bin/time", os.X_OK):
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd
with open(sys.argv[1], "wb") as out, open(sys.argv[1] + ".stderr", "wb") as err:
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=out, stderr=err)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
rss = usage.ru_maxrss
if cmd[0] == "/usr/bin/time":
    with open(rss_file) as f:
        rss = int(f.read().split()[-1])
print("%.4f %.4f %d %d" % (wall, usage.ru_utime + usage.ru_stime, rss,
                           os.waitstatus_to_exitcode(status)))
PY
}

# best_of3 NAME CMD...: runs CMD three times (stdout to $out/NAME.stdout) and sets $best (wall s)
# and $best_cpu (user+sys s) to the fastest of each and $rss to the peak RSS (KiB). Returns CMD's
# exit status. CPU time is shown too because wall time suffers most when the machine is busy.
best_of3() {
  local name=$1 i wall cpu maxrss rc
  shift
  best="" best_cpu="" rss=0
  for i in 1 2 3; do
    read -r wall cpu maxrss rc < <(measure "$out/$name.stdout" "$@")
    ((rc == 0)) || return "$rc"
    if [[ -z $best ]] || awk -v t="$wall" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$wall; fi
    if [[ -z $best_cpu ]] || awk -v t="$cpu" -v b="$best_cpu" 'BEGIN { exit !(t < b) }'; then
      best_cpu=$cpu
    fi
    ((maxrss > rss)) && rss=$maxrss
  done
  return 0
}

mbps() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.0f", b / 1e6 / t }'; }
row() {  # row LABEL WALL CPU NOTE
  printf '   %-27s %7.3f s %6s MB/s %7.3f s cpu  %s\n' "$1" "$2" "$(mbps "$bytes" "$2")" "$3" "$4"
}

declare -A time cpu rss_small rss_big
aatune_threads=$(nproc)
((aatune_threads > 16)) && aatune_threads=16
echo "== timing on $log (best of 3, warm cache)"
echo "   (load average now: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores)"

best_of3 grep grep -c apparmor= "$log" || true  # exit 1 would only mean "no match"
time[grep]=$best cpu[grep]=$best_cpu rss_small[grep]=$rss
row "grep -c apparmor=" "$best" "$best_cpu" "$(cat "$out/grep.stdout") matching lines"

best_of3 libapparmor "$aa_loop" "$log"
time[libapparmor]=$best cpu[libapparmor]=$best_cpu rss_small[libapparmor]=$rss
row "libapparmor parse_record()" "$best" "$best_cpu" "$(cat "$out/libapparmor.stdout")"
candidates=$(sed -n 's/.*candidates=\([0-9]*\).*/\1/p' "$out/libapparmor.stdout")
# A record libapparmor rejects (e.g. any 6.12 record with class=) could be cheaper than a real
# parse; time it again on the records it accepts, so its per-record cost is not flattered.
accepted="$workdir/accepted-s$seed-n$lines.log"
[[ -s $accepted && $accepted -nt $log ]] || "$aa_loop" --print-accepted "$log" >"$accepted"
n_accepted=$(wc -l <"$accepted")
best_of3 libapparmor_ok "$aa_loop" "$accepted"
printf '   %-27s %.2f us cpu per candidate on the full log, %.2f us per record on the %d it accepts\n' \
  "" "$(awk -v t="${cpu[libapparmor]}" -v n="$candidates" 'BEGIN { print t * 1e6 / n }')" \
  "$(awk -v t="$best_cpu" -v n="$n_accepted" 'BEGIN { print t * 1e6 / n }')" "$n_accepted"

have_aatune=0
if [[ -x $aatune ]] && best_of3 aatune "$aatune" parse --count "$log"; then
  have_aatune=1
  time[aatune]=$best cpu[aatune]=$best_cpu rss_small[aatune]=$rss
  # aatune --count splits a plain file over one thread per core (capped at 16); grep and the
  # libapparmor loop use one. Wall time is what the user waits for; CPU time is the work done.
  row "aatune parse --count" "$best" "$best_cpu" "$aatune_threads threads"
  sed 's/^/      | /' "$out/aatune.stdout" | head -n 40
else
  echo "   aatune parse --count        SKIPPED: $(head -n 1 "$out/aatune.stdout.stderr" \
    2>/dev/null || echo "$aatune not built")"
fi

echo "== peak RSS (KiB): $((bytes / 1000000)) MB log vs $((big_bytes / 1000000)) MB log"
tools=(grep libapparmor)
((have_aatune)) && tools+=(aatune)
for tool in "${tools[@]}"; do
  case $tool in
    grep) cmd=(grep -c apparmor=) ;;
    libapparmor) cmd=("$aa_loop") ;;
    aatune) cmd=("$aatune" parse --count) ;;
  esac
  read -r _ _ rss_big[$tool] _ < <(measure "$out/rss.stdout" "${cmd[@]}" "$big")
  printf '   %-27s %8s %8s\n' "$tool" "${rss_small[$tool]}" "${rss_big[$tool]}"
done

echo "== targets"
verdict() { awk -v c="$1" 'BEGIN { print (c ? "PASS" : "MISS") }'; }
if ((have_aatune)); then
  vs_grep=$(awk -v a="${time[aatune]}" -v g="${time[grep]}" 'BEGIN { printf "%.2f", a / g }')
  vs_lib=$(awk -v a="${time[aatune]}" -v l="${time[libapparmor]}" 'BEGIN { printf "%.1f", l / a }')
  cpu_grep=$(awk -v a="${cpu[aatune]}" -v g="${cpu[grep]}" 'BEGIN { printf "%.2f", a / g }')
  cpu_lib=$(awk -v a="${cpu[aatune]}" -v l="${cpu[libapparmor]}" 'BEGIN { printf "%.1f", l / a }')
  growth=$(awk -v s="${rss_small[aatune]}" -v b="${rss_big[aatune]}" 'BEGIN { printf "%.2f", b / s }')
  echo "   aatune time / grep time        = ${vs_grep}x  (target <= 2x)   $(verdict \
    "$(awk -v r="$vs_grep" 'BEGIN { print (r <= 2.0) }')")"
  echo "   libapparmor time / aatune time = ${vs_lib}x  (target >= 15x)  $(verdict \
    "$(awk -v r="$vs_lib" 'BEGIN { print (r >= 15.0) }')")"
  echo "   aatune RSS big / small         = ${growth}x  (flat: <= 1.25x)  $(verdict \
    "$(awk -v r="$growth" 'BEGIN { print (r <= 1.25) }')")"
  echo "   (same ratios in CPU time: aatune/grep ${cpu_grep}x, libapparmor/aatune ${cpu_lib}x;"
  echo "    aatune ran on $aatune_threads threads, grep and libapparmor on 1)"
else
  echo "   aatune not measured: targets (<= 2x grep, >= 15x libapparmor, flat RSS) MISS"
fi
