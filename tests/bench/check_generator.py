#!/usr/bin/env python3
"""Smoke test for gen_log.py (ctest: bench_generator_smoke).

Generates ~1000 lines and checks that the output is well-formed: about half the lines are AppArmor
records, every record is in a known container with a valid header, quotes are balanced, hex
values are real hex, the summary agrees with the text, and the same seed gives the same bytes.

Usage: check_generator.py GEN_LOG_PY WORKDIR
"""

import json
import os
import re
import subprocess
import sys

LINES = 1000

# One pattern per container the generator writes an AppArmor record in.
HEADER = r'audit\(\d{10}\.\d{3}:\d+\): '
CONTAINERS = {
    "syslog": re.compile(r'^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [\w.-]+ kernel: '
                         r'(\[ *\d+\.\d{6}\] )?(audit: )?type=1(400|107|502) ' + HEADER),
    "rfc3339": re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 [\w.-]+ kernel: '
                          r'\[ *\d+\.\d{6}\] audit: type=1(400|107) ' + HEADER),
    "dbus_fallback": re.compile(r'^(\S+ [ \d]\d \d\d:\d\d:\d\d|\S+) [\w.-]+ dbus-daemon\[\d+\]: '
                                r'apparmor="'),
    "auditlog": re.compile(r'^(node=[\w.-]+ )?type=(AVC|USER_AVC) msg=' + HEADER),
    "dmesg": re.compile(r'^\[ *\d+\.\d{6}\] audit: type=1400 ' + HEADER),
    "kmsg": re.compile(r'^5,\d+,\d+,-;audit: type=1400 ' + HEADER),
    "bare": re.compile(r'^type=1400 ' + HEADER),
}
EVENT = re.compile(r'apparmor="(DENIED|ALLOWED|AUDIT|KILLED|STATUS)" operation="[a-z_]+"')
BARE_HEX = re.compile(r'(?<= )(name|profile|comm|peer|target|srcname|label|cwd)=([0-9A-F]+)(?= |$)')


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def generate(gen, workdir, seed):
    out = os.path.join(workdir, "gen-%d.log" % seed)
    summary = os.path.join(workdir, "gen-%d.json" % seed)
    subprocess.run([sys.executable, gen, "--lines", str(LINES), "--seed", str(seed), "--summary",
                    summary, out], check=True)
    with open(out, "rb") as f:
        data = f.read()
    with open(summary) as f:
        return data, json.load(f)


def check_line(no, line):
    container = next((name for name, rx in CONTAINERS.items() if rx.match(line)), None)
    if container is None:
        fail("line %d: no known container: %r" % (no, line[:160]))
    if not EVENT.search(line):
        fail("line %d: no apparmor=/operation= pair: %r" % (no, line[:160]))
    record = line.split("\x1d", 1)[0]  # auditd ENRICHED fields follow 0x1d
    # A USER_AVC body sits inside msg='...' (which the wrapped form closes on the next line).
    body = record.split("msg='", 1)[1] if "msg='" in record else record
    if body.count('"') % 2:
        fail("line %d: unbalanced double quotes: %r" % (no, line[:160]))
    for key, value in BARE_HEX.findall(body):
        if len(value) % 2:
            fail("line %d: %s= hex value of odd length" % (no, key))
        text = bytes.fromhex(value).decode("utf-8")  # raises on garbage
        if all(0x21 <= ord(c) <= 0x7E and c != '"' for c in text):
            fail("line %d: %s= is hex although %r needs no encoding" % (no, key, text))
    return container


def main():
    gen, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    data, summary = generate(gen, workdir, 7)
    again, _ = generate(gen, workdir, 7)
    other, _ = generate(gen, workdir, 8)
    if data != again:
        fail("seed 7 gave different bytes on two runs")
    if data == other:
        fail("seeds 7 and 8 gave the same bytes")
    if b"\r" in data or b"\0" in data:
        fail("output contains CR or NUL")
    if not data.endswith(b"\n"):
        fail("output does not end with a newline")

    lines = data.decode("utf-8").split("\n")[:-1]
    if not LINES <= len(lines) < LINES + 8:
        fail("asked for %d lines, got %d" % (LINES, len(lines)))
    if summary["lines"] != len(lines) or summary["bytes"] != len(data):
        fail("summary lines/bytes %d/%d disagree with the file %d/%d" % (
            summary["lines"], summary["bytes"], len(lines), len(data)))

    containers = set()
    aa = 0
    for no, line in enumerate(lines, 1):
        if "apparmor=" in line:
            aa += 1
            containers.add(check_line(no, line))
    share = aa / len(lines)
    if not 0.45 <= share <= 0.55:
        fail("AppArmor share %.3f outside 0.45..0.55" % share)
    expected = summary["records"] - summary["without_apparmor_key"]
    if aa != expected:
        fail("%d lines carry apparmor= but the summary says %d" % (aa, expected))
    if len(containers) < 5:
        fail("only %d containers used: %s" % (len(containers), sorted(containers)))
    classes = set(summary["by_class"])
    needed = {"file", "cap", "net", "signal", "ptrace", "mount", "dbus", "status"}
    if not needed <= classes:
        fail("classes missing: %s" % sorted(needed - classes))
    if summary["with_class_field"] == 0 or summary["with_class_field"] == summary["records"]:
        fail("expected a mix of records with and without class=")
    if summary["hex_encoded"] == 0:
        fail("no hex-encoded values")
    print("OK: %d lines, %d AppArmor (%.1f%%), containers %s, classes %s" % (
        len(lines), aa, 100 * share, sorted(containers), sorted(classes)))


if __name__ == "__main__":
    main()
