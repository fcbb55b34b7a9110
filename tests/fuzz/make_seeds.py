#!/usr/bin/env python3
"""Seed corpora for the rules fuzzers (fuzz_profile_tree, fuzz_aare) from the samples' profile
trees and the libapparmor conformance cases.

Usage: make_seeds.py REPO CONFORMANCE_DIR OUT_DIR
Writes OUT_DIR/profile_tree/* (one input per profile file, plus whole small trees in the
fuzz_profile_tree layout) and OUT_DIR/aare/* (a pattern from a profile, then logged names)."""
import pathlib
import random
import re
import sys

SEP = b"\n#@@\n"  # fuzz_profile_tree.cpp: file separator


def main() -> int:
    repo, conformance, out = (pathlib.Path(a) for a in sys.argv[1:4])
    tree_dir, aare_dir = out / "profile_tree", out / "aare"
    tree_dir.mkdir(parents=True, exist_ok=True)
    aare_dir.mkdir(parents=True, exist_ok=True)

    profile_files = sorted(p for p in (repo / "samples").glob("*/apparmor.d/**/*") if p.is_file())
    profile_files += sorted(conformance.glob("*.profile")) if conformance.is_dir() else []
    for i, path in enumerate(profile_files):
        (tree_dir / f"file-{i:04d}").write_bytes(path.read_bytes())
    # Whole trees: profile, an abstraction, its local override, the global tunables.
    for i, root in enumerate(sorted((repo / "samples").glob("*/apparmor.d"))):
        base = root / "abstractions/base"
        tunables = root / "tunables/global"
        for j, prof in enumerate(sorted(p for p in root.iterdir() if p.is_file())):
            local = root / "local" / prof.name
            parts = [prof.read_bytes(), base.read_bytes() if base.exists() else b"",
                     local.read_bytes() if local.exists() else b"",
                     tunables.read_bytes() if tunables.exists() else b""]
            (tree_dir / f"tree-{i}-{j}").write_bytes(SEP.join(parts))
    # An include cycle: the abstraction includes itself and the profile's local file.
    (tree_dir / "cycle").write_bytes(SEP.join([
        b"profile p /usr/bin/p {\n  include <abstractions/a>\n  include if exists <local/p>\n}\n",
        b"include <abstractions/a>\n/etc/a r,\n", b"include <abstractions/a>\n/tmp/** rw,\n",
        b"@{HOME}=/home/*/ /root/\n"]))

    patterns = set()
    rule_path = re.compile(rb"^\s*(?:(?:audit|deny|owner|allow)\s+)*((?:/|@\{)[^\s,]*)")
    for path in profile_files:
        for line in path.read_bytes().splitlines():
            m = rule_path.match(line)
            if m:
                patterns.add(m.group(1))
    names = set()
    if conformance.is_dir():
        for case in conformance.glob("*.in"):
            for m in re.finditer(rb'(?:name|name2|target)="([^"]*)"', case.read_bytes()):
                names.add(m.group(1))
    names |= {b"/etc/passwd", b"/home/user/.cache/x", b"/root/.cache", b"/tmp/a", b"/tmp//b/"}
    rng = random.Random(9)
    names_list = sorted(names)
    for i, pattern in enumerate(sorted(patterns)[:3000]):
        paths = rng.sample(names_list, min(3, len(names_list)))
        (aare_dir / f"p-{i:04d}").write_bytes(b"\n".join([pattern, *paths]))
    print(f"{len(list(tree_dir.iterdir()))} profile_tree + {len(list(aare_dir.iterdir()))} aare seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
