#!/usr/bin/env bash
# The long fuzzing run issue 9 asks for: each libFuzzer target runs until IT has used N minutes of
# CPU time (not wall time: on a shared machine 10 wall minutes can be 2 CPU minutes), with
# ASan+UBSan and leak detection on, a 10 s per-input timeout and the project dictionary. Builds and
# seeds exactly as tests/fuzz/run.sh does (it calls it with a 1 s budget first), then prints one
# summary row per target: CPU seconds, executions, executions per CPU second, coverage (cov) and
# features (ft) at the end, corpus size, and how it ended. A crash, leak or timeout stops that
# target, saves the input in tests/fuzz/crashers/ and makes the script exit non-zero.
#
# Usage: tests/fuzz/long.sh [--cpu-minutes N] [--parallel P] [--nice K] [--timeout S] [TARGET...]
#   --cpu-minutes N  CPU minutes per target (default 10)
#   --timeout S      libFuzzer's per-input timeout, in wall seconds (default 10). A starved fuzzer
#                    (high --nice on a busy machine) trips it without any slow input: raise it then
#   --parallel P     targets fuzzed at the same time (default 2)
#   --nice K         run the fuzzers at this niceness (default 0; 19 soaks up idle CPU only)
#   TARGET           parse_line, line_reader, profile_tree, aare (default: all four)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cpu_minutes=10
parallel=2
niceness=0
timeout=10
targets=()
while (($#)); do
  case "$1" in
    --cpu-minutes) cpu_minutes=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --nice) niceness=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    parse_line | line_reader | profile_tree | aare) targets+=("$1"); shift ;;
    *) echo "long.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$cpu_minutes" "$parallel" "$timeout"; do
  [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "long.sh: '$n' is not a positive number" >&2; exit 2; }
done
[[ $niceness =~ ^[0-9]+$ && $niceness -le 19 ]] || { echo "long.sh: --nice takes 0..19" >&2; exit 2; }
((${#targets[@]})) || targets=(parse_line line_reader profile_tree aare)

build="$repo/build-fuzz"
# run.sh builds the targets and lays out the seeds; one second of fuzzing is its smallest budget.
mkdir -p "$build"
bash "$repo/tests/fuzz/run.sh" 1 >"$build/fuzz-long-setup.log" 2>&1 || {
  echo "long.sh: building or seeding failed; see $build/fuzz-long-setup.log" >&2
  exit 2
}
seeds="$build/fuzz-seeds"
ticks=$(getconf CLK_TCK)
# AATUNE_FUZZ_CPU_SECONDS overrides the budget (for a quick check of this script).
budget=$((${AATUNE_FUZZ_CPU_SECONDS:-$((cpu_minutes * 60))} * ticks))

# utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat; the command
# name in field 2 may hold spaces, so count from the closing parenthesis).
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
  stat=${stat##*) }
  read -r -a f <<<"$stat"
  echo $((f[11] + f[12]))
}

# Runs one target until its CPU budget is spent, then interrupts it (libFuzzer prints its final
# statistics and exits 0 on SIGINT); writes the last CPU reading next to the log.
fuzz_one() {
  local target=$1 log="$build/fuzz-long-$1.log" corpus="$build/fuzz-corpus-$1"
  mkdir -p "$corpus"
  nice -n "$niceness" "$build/tests/fuzz/fuzz_$target" -max_total_time=86400 -max_len=16384 \
    -timeout="$timeout" -rss_limit_mb=2048 -dict="$repo/tests/fuzz/apparmor.dict" -print_final_stats=1 \
    -artifact_prefix="$repo/tests/fuzz/crashers/$target-" "$corpus" "$seeds/$target" \
    >"$log" 2>&1 &
  local pid=$! used=0
  while kill -0 "$pid" 2>/dev/null; do
    used=$(cpu_ticks "$pid")
    if ((used >= budget)); then
      kill -INT "$pid" 2>/dev/null || true
      break
    fi
    sleep 2
  done
  local rc=0
  wait "$pid" || rc=$?
  echo "$used $rc" >"$log.cpu"
  return 0
}

echo "== fuzzing ${targets[*]} for $((budget / ticks)) CPU seconds each ($parallel at a time, nice $niceness)"
running=0
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  running=$((running + 1))
  if ((running >= parallel)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

status=0
printf '%-14s %9s %12s %12s %8s %8s %8s  %s\n' target cpu_s execs execs/cpu_s cov ft corpus ended
for t in "${targets[@]}"; do
  log="$build/fuzz-long-$t.log"
  read -r used rc <"$log.cpu"
  cpu_s=$((used / ticks))
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [[ -n $execs ]] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(find "$build/fuzz-corpus-$t" -type f | wc -l)
  ended="budget spent (SIGINT)"
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|Test unit written' "$log"; then
    ended="FAILED: see $log and tests/fuzz/crashers/"
    status=1
  elif ((used < budget)); then
    ended="stopped early (exit $rc) after $cpu_s s: see $log"
    status=1
  fi
  rate=0
  ((cpu_s > 0)) && rate=$((${execs:-0} / cpu_s))
  printf '%-14s %9s %12s %12s %8s %8s %8s  %s\n' "$t" "$cpu_s" "${execs:-?}" "$rate" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$ended"
done
exit $status
