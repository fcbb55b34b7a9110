#!/bin/bash
# Throughput of `aatune watch`: netlink -> receive thread -> parse -> correlate -> group -> store,
# as root. Injects USER_AVC records through the kernel with libaudit (watch_inject.c), from
# INJECTORS processes at once, and reads watch's own summary and its exact CPU time (rusage).
# Usage: tests/bench/watch_bench.sh BUILD_DIR [RECORDS] [DISTINCT_GROUPS] [INJECTORS]
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [RECORDS] [DISTINCT] [INJECTORS]}
n=${2:-100000}
distinct=${3:-50}
injectors=${4:-2}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "needs root (CAP_AUDIT_READ/CAP_AUDIT_WRITE)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/inject" "$here/watch_inject.c" -laudit
mkdir "$tmp/profiles"
python3 - "$build/aatune" "$tmp" "$n" "$distinct" "$injectors" <<'PY'
import json, os, resource, signal, subprocess, sys, time
aatune, tmp, n, distinct, injectors = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
tag = f"aatune_bench_{os.getpid()}"
err = open(f"{tmp}/err", "w+")
watch = subprocess.Popen([aatune, "watch", "--json", "--quiet", "--source", "netlink", "--profile", tag,
                          "--db", f"{tmp}/w.db", "--profiles", f"{tmp}/profiles",
                          "--max-events", str(n), "--duration", "600"],
                         stdout=subprocess.PIPE, stderr=err)
for _ in range(200):
    err.seek(0)
    if "listening on" in err.read():
        break
    time.sleep(0.05)
per = [n // injectors + (1 if i < n % injectors else 0) for i in range(injectors)]
start = time.monotonic()
procs, first = [], 0
for i, count in enumerate(per):
    # Distinct seq ranges per injector, so every record is unique.
    procs.append(subprocess.Popen([f"{tmp}/inject", tag, str(count), str(distinct), str(first)],
                                  stderr=subprocess.PIPE, text=True))
    first += count
send_lines = [p.communicate()[1].strip() for p in procs]
sent_at = time.monotonic()
# Without loss watch stops by itself at --max-events; with loss, stop it once it has been idle.
deadline = sent_at + 30 + n / 5000
# os.wait4 (not Popen.poll, which would reap it first) to get watch's exact CPU time.
status = None
while status is None and time.monotonic() < deadline:
    pid, st, usage = os.wait4(watch.pid, os.WNOHANG)
    if pid == watch.pid:
        status = st
    else:
        time.sleep(0.02)
if status is None:
    watch.send_signal(signal.SIGINT)
    _, status, usage = os.wait4(watch.pid, 0)
watch.returncode = os.waitstatus_to_exitcode(status)
out = watch.stdout.read().decode()
end = time.monotonic()
s = json.loads(out.strip().splitlines()[-1])["summary"]
cpu = usage.ru_utime + usage.ru_stime
wall = end - start
print(f"records sent       {n} by {injectors} injector(s): " + "; ".join(send_lines))
print(f"send phase         {sent_at - start:.2f} s -> {n / (sent_at - start):,.0f} records/s offered")
print(f"records shown      {s['shown']}  stored {s['stored']}  groups {s['groups']}  read {s['records']}")
print(f"losses             {json.dumps(s['losses'])}")
print(f"end to end         {wall:.2f} s from first send to watch exit -> {s['shown'] / wall:,.0f} records/s")
print(f"watch CPU          {cpu:.2f} s (user {usage.ru_utime:.2f}, sys {usage.ru_stime:.2f}) -> "
      f"{cpu / max(s['shown'], 1) * 1e6:.1f} us/record, {max(s['shown'], 1) / max(cpu, 1e-9):,.0f} records per CPU-second")
print(f"max RSS            {usage.ru_maxrss / 1024:.0f} MiB")
PY
