#!/usr/bin/env python3
"""Host-side assertions on what the lab guest sent back (tests/lab/run.sh output).

    check_lab.py OUTDIR EXPECTED_TSV AATUNE_BINARY

Ground truth is the kernel's own text (the netlink capture by lab_capture, never aatune's
collector), decoded here by a deliberately small tokenizer. Against it we check:
  kernel    every aa_exercise check was denied and logged as tests/lab/expected.tsv says
  kmsg      the /dev/kmsg copy holds the same records (the rate limit is off in the guest)
  parse     `aatune parse --format json` found every expected record with the right fields
  apply     (if it ran) the rules were written, loaded, and the run-1 denials are gone in run 2
  lifecycle (if they ran) disable/enable/complain did what they say, seen from the kernel
  export    (if it ran) a non-empty bundle came back
  audit1    with audit=1 every denial has SYSCALL/PROCTITLE/EOE companions, and aatune still
            parses every expected record from that stream
Prints one PASS/FAIL/SKIP line per assertion; exit 1 if any FAIL.
"""

import json
import os
import re
import subprocess
import sys

UNTRUSTED = {"name", "profile", "comm", "peer", "target", "namespace", "path", "srcname",
             "fstype", "label", "dev", "ocomm", "capname", "ns"}
TOKEN = re.compile(r'([A-Za-z_]+)=("([^"]*)"|\S*)')
HEADER = re.compile(r'type=(\d+) audit\((\d+\.\d+:\d+)\): ?(.*)$')

# aatune's JSON may use libapparmor's field names (event.h) or the kernel's; accept both.
ALIASES = {
    "apparmor": ["apparmor", "event", "event_type", "type"],
    "class": ["class", "rule_class"],
    "profile": ["profile", "label"],
    "requested_mask": ["requested_mask", "requested"],
    "denied_mask": ["denied_mask", "denied"],
    "peer": ["peer", "peer_profile", "peer_label"],
    "family": ["family", "net_family"],
    "sock_type": ["sock_type", "net_sock_type"],
    "fstype": ["fstype", "fs_type"],
    "srcname": ["srcname", "src_name"],
    "target": ["target", "name2"],
    "capname": ["capname", "name"],  # libapparmor files capname under name
}

results = []


def report(status, what, detail=""):
    results.append(status)
    print(f"{status} {what}" + (f": {detail}" if detail else ""))


def decode(key, value):
    if key in UNTRUSTED and value and len(value) % 2 == 0 and re.fullmatch(r"[0-9A-F]+", value):
        try:
            return bytes.fromhex(value).decode("utf-8", "replace")
        except ValueError:
            return value
    return value


def parse_record(line):
    """One `type=N audit(id): body` line -> (type, audit_id, {field: decoded value})."""
    m = HEADER.match(line)
    if not m:
        return None
    fields = {}
    for key, raw, quoted in TOKEN.findall(m.group(3)):
        if key not in fields:
            fields[key] = quoted if raw.startswith('"') else decode(key, raw)
    return int(m.group(1)), m.group(2), fields


def read_lines(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return None


def load_expected(path):
    rows = []
    for line in read_lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        check, *pairs = line.split("\t")
        rows.append((check, dict(p.split("=", 1) for p in pairs)))
    return rows


def phases(boot_dir):
    """netlink.txt split by the guest's phase marks: {phase: [records]}."""
    lines = read_lines(os.path.join(boot_dir, "netlink.txt")) or []
    records = [parse_record(line) for line in lines]
    out, start = {}, 0
    for mark in read_lines(os.path.join(boot_dir, "phases.txt")) or []:
        name, end = mark.split()
        out[name] = [r for r in records[start:int(end)] if r]
        start = int(end)
    out["rest"] = [r for r in records[start:] if r]
    return out


def matches_raw(fields, want):
    return all(fields.get(k) == v for k, v in want.items())


def key_of(fields):
    return tuple(fields.get(k) for k in ("profile", "class", "operation", "name", "requested_mask",
                                         "peer", "capname", "family"))


def proposal_for(proposals, fields, with_rule):
    """The suggest proposal whose evidence is this kernel record (same profile/operation, and
    the record's object first in the evidence target), if any."""
    obj = {fields.get("name"), fields.get("peer"), fields.get("capname"), fields.get("family")}
    for p in proposals:
        if with_rule and not p.get("rule"):
            continue
        for e in p.get("evidence", []):
            target = e.get("target") or ""
            if (e.get("profile") == fields.get("profile")
                    and e.get("operation") == fields.get("operation")
                    and any(o and (target == o or target.startswith(o + " ")) for o in obj)):
                return p
    return None


def flatten(obj, out=None):
    """A JSON event -> {key: str}; nested objects and [key, value] pair lists are merged in."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)):
                flatten(v, out)
            elif v is not None:
                out.setdefault(k, str(v))
    elif isinstance(obj, list):
        if len(obj) == 2 and all(isinstance(x, str) for x in obj):
            out.setdefault(obj[0], obj[1])
        else:
            for x in obj:
                flatten(x, out)
    return out


def json_events(text):
    """aatune parse --format json output: a JSON array, an object with a list, or JSON lines."""
    text = text.strip()
    if not text:
        return []
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            lists = [v for v in doc.values() if isinstance(v, list)]
            doc = lists[0] if lists else [doc]
        return [d for d in doc if isinstance(d, dict)]
    except json.JSONDecodeError:
        events = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                events.append(json.loads(line))
        return events


def get(event, key):
    for alias in ALIASES.get(key, [key]):
        if alias in event:
            return event[alias]
    return None


def matches_json(event, want):
    for k, v in want.items():
        got = get(event, k)
        if got is None:
            return False
        if k == "apparmor":
            if got.lower() not in (v.lower(), "k" + v.lower()):
                return False
        elif got != v:
            return False
    return True


def is_denied(event):
    v = get(event, "apparmor")
    return v is not None and v.lower() in ("denied", "kdenied")


def check_parse_output(label, text, expected, n_denied, container=None):
    try:
        events = [flatten(e) for e in json_events(text)]
    except (json.JSONDecodeError, TypeError) as e:
        report("FAIL", f"parse {label}", f"output is not JSON: {e}")
        return
    if container:
        wrong = {(e.get("container"), e.get("trust")) for e in events} - {container}
        report("FAIL" if wrong or not events else "PASS", f"parse {label} container/trust",
               f"expected {container}" + (f", got {sorted(map(str, wrong))}" if wrong else ""))
    for check, want in expected:
        if any(matches_json(e, want) for e in events):
            report("PASS", f"parse {label} {check} {want['profile']}")
        else:
            close = [e for e in events if get(e, "operation") == want.get("operation")
                     and get(e, "profile") == want.get("profile")]
            report("FAIL", f"parse {label} {check} {want['profile']}",
                   f"no event with {want}; same operation/profile: {close[:1]}")
    denied = sum(1 for e in events if is_denied(e))
    if denied == n_denied:
        report("PASS", f"parse {label} count", f"{denied} DENIED events, as in the capture")
    else:
        report("FAIL", f"parse {label} count", f"{denied} DENIED events, the capture has {n_denied}")


def steps(boot_dir):
    out = {}
    for line in read_lines(os.path.join(boot_dir, "steps.txt")) or []:
        parts = line.split(maxsplit=2)
        if len(parts) >= 2:
            m = re.search(r"rc=(\d+)", line)
            out[parts[1]] = (parts[0], int(m.group(1)) if m else None, line)
    return out


def results_of(path):
    out = {}
    for line in read_lines(path) or []:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "RESULT":
            out[parts[1]] = parts[2]
        elif parts and parts[0] == "LABEL":
            out["LABEL"] = " ".join(parts[1:])
    return out


def text(boot_dir, name):
    lines = read_lines(os.path.join(boot_dir, name))
    return None if lines is None else "\n".join(lines)


def main():
    outdir, expected_path, aatune = sys.argv[1:4]
    expected = load_expected(expected_path)
    boot = os.path.join(outdir, "default")
    ph = phases(boot)
    run1 = ph.get("run1", [])
    denied1 = [f for t, _, f in run1 if t == 1400 and f.get("apparmor") == "DENIED"]

    # kernel: every check was refused and logged exactly as expected.
    r1 = results_of(os.path.join(boot, "run1.txt"))
    if r1.get("LABEL") != "aatest (enforce)":
        report("FAIL", "kernel exerciser confined", f"label {r1.get('LABEL')!r}")
    for check in dict.fromkeys(c for c, _ in expected):
        if r1.get(check) in ("EACCES", "EPERM"):
            report("PASS", f"kernel {check} refused", r1[check])
        else:
            report("FAIL", f"kernel {check} refused", f"result {r1.get(check)!r}")
    peer1 = text(boot, "peer.txt") or ""
    report("FAIL" if "PEER got signal" in peer1 else "PASS", "kernel signal not delivered in run 1",
           peer1.replace("\n", "; "))
    for check, want in expected:
        if any(matches_raw(f, want) for f in denied1):
            report("PASS", f"kernel record {check} {want['profile']}")
        else:
            report("FAIL", f"kernel record {check} {want['profile']}", f"no record with {want}")
    if len(denied1) != len(expected):
        report("FAIL", "kernel record count", f"{len(denied1)} DENIED, expected {len(expected)}")

    # kmsg: the same records, nothing lost.
    kmsg = read_lines(os.path.join(boot, "kmsg.txt")) or []
    kmsg_ids = set(re.findall(r"type=1400 audit\((\d+\.\d+:\d+)\)", "\n".join(kmsg)))
    nl_ids = {aid for t, aid, _ in ph.get("load", []) + run1 if t == 1400}
    if nl_ids and nl_ids <= kmsg_ids:
        report("PASS", "kmsg holds every netlink record", f"{len(nl_ids)} records")
    else:
        report("FAIL", "kmsg holds every netlink record", f"missing {sorted(nl_ids - kmsg_ids)}")

    st = steps(boot)

    # parse: aatune's reading of both captures.
    for label, name in (("kmsg", "step-parse-kmsg.txt"), ("netlink", "step-parse-netlink.txt")):
        s = st.get(f"parse-{label}")
        if s is None:
            report("FAIL", f"parse {label}", "aatune parse did not run in the guest "
                   f"({st.get('parse', ('', '', 'no step record'))[2]})")
            continue
        if s[1] != 0:
            err = text(boot, f"step-parse-{label}.err") or ""
            report("FAIL", f"parse {label}", f"rc={s[1]}: {err.strip()[:300]}")
            continue
        # /dev/kmsg text is the kernel's own; the netlink lines carry no container of their own.
        container = ("dmesg", "kernel") if label == "kmsg" else None
        check_parse_output(label, text(boot, name) or "", expected, len(denied1), container)

    # scan: the live /dev/kmsg source into the store, as `aatune status` reports it.
    s = st.get("scan")
    if s is None or s[0] == "SKIP":
        report("SKIP", "scan", "aatune scan not available in this build")
    elif s[1] != 0:
        report("FAIL", "scan kmsg", f"rc={s[1]}: {(text(boot, 'step-scan.err') or '').strip()[:300]}")
    elif st.get("status") is None:
        report("SKIP", "scan stored the denials", "aatune status not available to check the store")
    else:
        want = {}
        for _, w in expected:
            want[w["profile"]] = want.get(w["profile"], 0) + 1
        try:
            rows = json.loads(text(boot, "step-status.txt") or "[]")
            got = {r.get("profile"): r.get("events") for r in rows if isinstance(r, dict)}
        except json.JSONDecodeError as e:
            got = {"error": str(e)}
        for p, n in want.items():
            ok = got.get(p) == n
            report("PASS" if ok else "FAIL", f"scan kmsg stored {n} events for {p}",
                   f"status says {got.get(p)}" + ("" if ok else
                   f"; scan: {(text(boot, 'step-scan.err') or '').strip().splitlines()[:1]}"))

    # suggest: which run-1 denials got a proposed rule (the others were refused, with a reason).
    accepted = None
    s = st.get("suggest")
    if s is None or s[0] == "SKIP":
        report("SKIP", "suggest", "aatune suggest not available in this build")
    elif s[1] not in (0, 1):
        report("FAIL", "suggest", f"rc={s[1]}: {(text(boot, 'step-suggest.err') or '').strip()[:300]}")
    else:
        try:
            proposals = json.loads(text(boot, "step-suggest.txt") or "{}").get("proposals", [])
        except json.JSONDecodeError as e:
            proposals = []
            report("FAIL", "suggest", f"--format json output is not JSON: {e}")
        accepted = [f for f in denied1 if proposal_for(proposals, f, with_rule=True)]
        for f in denied1:
            if not proposal_for(proposals, f, with_rule=False):
                report("FAIL", "suggest covers every denial", f"nothing about {key_of(f)}")
        refused = [key_of(f) for f in denied1 if f not in accepted]
        report("PASS", "suggest", f"{len(accepted)} of {len(denied1)} denials got a rule" +
               (f"; refused: {refused}" if refused else ""))

    # apply (or the suggest output applied by hand until `apply` exists) + run 2.
    s = st.get("apply")
    how = "apply"
    if (s is None or s[0] == "SKIP") and "apply-suggested" in st:
        s, how = st["apply-suggested"], "apply-suggested"
        report("SKIP", "apply", "aatune apply not available; the suggest output was applied by hand")
    if s is None or s[0] == "SKIP":
        report("SKIP", "apply", "aatune apply not available in this build")
    elif s[1] != 0:
        err = (text(boot, f"step-{how}.err") or "").strip()
        report("FAIL", how, f"rc={s[1]}: {err[:400]}")
    else:
        report("PASS", f"{how} rc=0")
        local = text(boot, "local-aatest.txt") or ""
        rules = [l for l in local.splitlines() if l.strip() and not l.strip().startswith("#")]
        report("PASS" if rules else "FAIL", f"{how} wrote rules into local/aatest",
               f"{len(rules)} rule lines")
        loaded = text(boot, "profiles-applied.txt") or ""
        report("PASS" if "aatest (enforce)" in loaded and "aatest_peer (enforce)" in loaded
               else "FAIL", f"{how} left both profiles loaded in enforce mode",
               loaded.replace("\n", "; "))
        if accepted is None:
            accepted = denied1  # nothing says otherwise: --all accepts everything
        acc_keys = {key_of(f) for f in accepted}
        r2 = results_of(os.path.join(boot, "run2.txt"))
        for check in dict.fromkeys(c for c, _ in expected):
            recs = [f for f in denied1
                    if any(c == check and matches_raw(f, w) for c, w in expected)]
            if not all(key_of(f) in acc_keys for f in recs):
                print(f"INFO run2 {check}: not every denial of it got a rule; "
                      f"result {r2.get(check)!r}")
                continue
            ok = r2.get(check) == "ok" or (check == "mkdir" and r2.get(check) == "EEXIST")
            report("PASS" if ok else "FAIL", f"run2 {check} now allowed",
                   f"result {r2.get(check)!r}")
        run2 = [f for t, _, f in ph.get("run2", []) if t == 1400 and f.get("apparmor") == "DENIED"]
        back = [f for f in run2 if key_of(f) in acc_keys]
        report("FAIL" if back else "PASS", "run2 no accepted run-1 denial comes back",
               "; ".join(str(key_of(f)) for f in back) or f"{len(acc_keys)} accepted")
        new = [f for f in run2 if key_of(f) not in {key_of(g) for g in denied1}]
        if new:
            print(f"INFO run2 new denials (not seen in run 1): {[key_of(f) for f in new]}")
        sig = [f for f in accepted if f.get("class") == "signal"]
        if len(sig) == 2:
            peer = text(boot, "peer2.txt") or ""
            report("PASS" if "PEER got signal" in peer else "FAIL",
                   "run2 signal delivered through the paired peer rules", peer.replace("\n", "; "))
        else:
            report("FAIL", "run2 signal pair", f"{len(sig)} of the 2 signal denials got a rule")

    # lifecycle, seen from the kernel.
    def probe_records(phase, kind):
        return [f for t, _, f in ph.get(phase, []) if t == 1400 and f.get("apparmor") == kind
                and f.get("name") == "/etc/lab/probe"]

    # (step, tag of its files and phase, expected kernel listing, label, probe result, record)
    for name, tag, want_loaded, want_label, want_result, record in (
            ("disable", "disabled", None, "unconfined", "ok", None),
            ("enable", "enabled", "aatest (enforce)", "aatest (enforce)", "EACCES", "DENIED"),
            ("complain", "complain", "aatest (complain)", "aatest (complain)", "ok", "ALLOWED")):
        s = st.get(name)
        if s is None or s[0] == "SKIP":
            report("SKIP", name, f"aatune {name} not available in this build")
            continue
        if s[1] != 0:
            err = (text(boot, f"step-{name}.err") or "").strip()
            report("FAIL", name, f"rc={s[1]}: {err[:300]}")
            continue
        loaded = text(boot, f"profiles-{tag}.txt") or ""
        names = [l.split(" ")[0] for l in loaded.splitlines()]
        if want_loaded is None:
            report("FAIL" if "aatest" in names else "PASS", f"{name} removed aatest from the kernel",
                   loaded.replace("\n", "; "))
        else:
            report("PASS" if want_loaded in loaded.splitlines() else "FAIL",
                   f"{name} kernel shows {want_loaded}", loaded.replace("\n", "; "))
        probe = results_of(os.path.join(boot, f"probe-{tag}.txt"))
        report("PASS" if probe.get("LABEL") == want_label else "FAIL", f"{name} process label",
               f"{probe.get('LABEL')!r}, expected {want_label!r}")
        report("PASS" if probe.get("probe") == want_result else "FAIL", f"{name} probe result",
               f"{probe.get('probe')!r}, expected {want_result!r}")
        if record:
            recs = probe_records(tag, record)
            report("PASS" if recs else "FAIL", f"{name} kernel wrote an {record} record for the probe")

    s = st.get("export")
    if s is None or s[0] == "SKIP":
        report("SKIP", "export", "aatune export not available in this build")
    elif s[1] != 0:
        report("FAIL", "export", f"rc={s[1]}: {(text(boot, 'step-export.err') or '').strip()[:300]}")
    else:
        bundle = os.path.join(boot, "bundle.tar.gz")
        size = os.path.getsize(bundle) if os.path.exists(bundle) else 0
        report("PASS" if size > 0 else "FAIL", "export produced a bundle", f"{size} bytes")

    # audit1: companions, and aatune parse on that stream (on the host: same binary, same text).
    a1 = os.path.join(outdir, "audit1")
    if not os.path.isdir(a1):
        report("SKIP", "audit1", "the audit=1 boot was not run")
    else:
        recs = [r for r in (parse_record(l) for l in read_lines(os.path.join(a1, "netlink.txt")) or [])
                if r]
        by_id = {}
        for t, aid, _ in recs:
            by_id.setdefault(aid, set()).add(t)
        den = [(aid, f) for t, aid, f in recs if t == 1400 and f.get("apparmor") == "DENIED"]
        for check, want in expected:
            if not any(matches_raw(f, want) for _, f in den):
                report("FAIL", f"audit1 kernel record {check} {want['profile']}", "missing")
        lonely = [aid for aid, _ in den if not {1300, 1327, 1320} <= by_id[aid]]
        report("FAIL" if lonely or not den else "PASS",
               "audit1 every denial has SYSCALL+PROCTITLE+EOE",
               f"{len(den)} denials" + (f", without: {lonely}" if lonely else ""))
        proc = subprocess.run([aatune, "parse", "--format", "json",
                               os.path.join(a1, "netlink.txt")],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            report("FAIL", "audit1 parse", f"rc={proc.returncode}: {proc.stderr.strip()[:300]}")
        else:
            check_parse_output("audit1", proc.stdout, expected, len(den))

    print(f"SUMMARY {results.count('PASS')} passed, {results.count('FAIL')} failed, "
          f"{results.count('SKIP')} skipped")
    return 1 if "FAIL" in results else 0


if __name__ == "__main__":
    sys.exit(main())
