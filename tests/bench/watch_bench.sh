#!/bin/bash
# Throughput of `aatune watch`: netlink -> receive thread -> parse -> correlate -> group -> store,
# as root. Injects USER_AVC records through the kernel with libaudit (watch_inject.c), from
# INJECTORS processes at once, and reads watch's own summary and its exact CPU time (rusage).
# Usage: tests/bench/watch_bench.sh BUILD_DIR [RECORDS] [DISTINCT_GROUPS] [INJECTORS] [BATCH]
#   BATCH: netlink messages per sendto() of each injector (default 1); 0 = libaudit, which waits
#          for the kernel's ACK after every record.
#   WATCH_ARGS (environment): extra arguments for watch (default: --json --quiet).
#   PERF=FILE (environment): also record a call-graph profile of watch into FILE (perf record -g).
#   NO_WATCH=1 (environment): only the injectors, nobody listening: the kernel path's own rate.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [RECORDS] [DISTINCT] [INJECTORS] [BATCH]}
n=${2:-100000}
distinct=${3:-50}
injectors=${4:-2}
batch=${5:-1}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "needs root (CAP_AUDIT_READ/CAP_AUDIT_WRITE)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/inject" "$here/watch_inject.c" -laudit
mkdir "$tmp/profiles"
echo "load average       $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kernel audit       $("$tmp/inject" --status 2>&1)"
python3 - "$build/aatune" "$tmp" "$n" "$distinct" "$injectors" "$batch" <<'PY'
import json, os, resource, shlex, signal, subprocess, sys, time
aatune, tmp, n, distinct, injectors, batch = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
tag = f"aatune_bench_{os.getpid()}"
no_watch = os.environ.get("NO_WATCH") == "1"
extra = shlex.split(os.environ.get("WATCH_ARGS", "--json --quiet"))
perf = None
if not no_watch:
    err = open(f"{tmp}/err", "w+")
    watch = subprocess.Popen([aatune, "watch", *extra, "--source", "netlink", "--profile", tag,
                              "--db", f"{tmp}/w.db", "--profiles", f"{tmp}/profiles",
                              "--max-events", str(n), "--duration", "600"],
                             stdout=open(f"{tmp}/out", "w"), stderr=err)
    for _ in range(200):
        err.seek(0)
        if "listening on" in err.read():
            break
        time.sleep(0.05)
    if os.environ.get("PERF"):
        perf = subprocess.Popen(["perf", "record", "-g", "-o", os.environ["PERF"], "-p", str(watch.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
def kauditd_cpu():
    # utime + stime of the kernel thread that moves records from the audit queue to listeners.
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().split()
            except OSError:
                continue
            if fields[1] == "(kauditd)":
                return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return 0.0
kauditd_start = kauditd_cpu()
per = [n // injectors + (1 if i < n % injectors else 0) for i in range(injectors)]
start = time.monotonic()
procs, first = [], 0
for i, count in enumerate(per):
    # Distinct seq ranges per injector, so every record is unique.
    procs.append(subprocess.Popen([f"{tmp}/inject", tag, str(count), str(distinct), str(first), str(batch)],
                                  stderr=subprocess.PIPE, text=True))
    first += count
send_lines = [p.communicate()[1].strip() for p in procs]
sent_at = time.monotonic()
# Only the injectors have been reaped so far: their CPU is the sending side of the kernel path.
inj = resource.getrusage(resource.RUSAGE_CHILDREN)
inj_cpu = inj.ru_utime + inj.ru_stime
def kernel_side():
    k = kauditd_cpu() - kauditd_start
    print(f"injectors CPU      {inj_cpu:.2f} s (user {inj.ru_utime:.2f}, sys {inj.ru_stime:.2f}) -> {inj_cpu / n * 1e6:.1f} us/record")
    print(f"kauditd CPU        {k:.2f} s -> {k / n * 1e6:.1f} us/record")
    return inj_cpu + k
if no_watch:
    print(f"records sent       {n} by {injectors} injector(s), {batch} per sendto, nobody listening: " + "; ".join(send_lines))
    print(f"send phase         {sent_at - start:.2f} s -> {n / (sent_at - start):,.0f} records/s offered")
    kernel_side()
    sys.exit(0)
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
end = time.monotonic()
out = open(f"{tmp}/out").read()
if perf:
    perf.wait()
s = json.loads(out.strip().splitlines()[-1])["summary"]
cpu = usage.ru_utime + usage.ru_stime
wall = end - start
print(f"records sent       {n} by {injectors} injector(s), {batch} per sendto: " + "; ".join(send_lines))
print(f"send phase         {sent_at - start:.2f} s -> {n / (sent_at - start):,.0f} records/s offered")
print(f"records shown      {s['shown']}  stored {s['stored']}  groups {s['groups']}  read {s['records']}")
print(f"losses             {json.dumps(s['losses'])}")
if s['shown'] != n:
    print(f"summary            {json.dumps(s)}")
print(f"end to end         {wall:.2f} s from first send to watch exit -> {s['shown'] / wall:,.0f} records/s")
print(f"watch CPU          {cpu:.2f} s (user {usage.ru_utime:.2f}, sys {usage.ru_stime:.2f}) -> "
      f"{cpu / max(s['shown'], 1) * 1e6:.1f} us/record, {max(s['shown'], 1) / max(cpu, 1e-9):,.0f} records per CPU-second")
print(f"max RSS            {usage.ru_maxrss / 1024:.0f} MiB")
k = kernel_side()
total = k + cpu
print(f"all CPU per record {total / n * 1e6:.1f} us (kernel path {k / n * 1e6:.1f} + watch {cpu / max(s['shown'], 1) * 1e6:.1f})"
      f" -> at most {2 * n / total:,.0f} records/s on 2 idle cores")
PY
