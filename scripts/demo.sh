#!/usr/bin/env bash
# The main job on the bundled libvirt scenario ("my VM will not start"), non-interactively, on a
# throw-away copy of the profile tree: scan the logs of the failed start, explain and propose,
# apply into the right files (validated with the real apparmor_parser), and show that a second
# run finds nothing left to do. Nothing outside a temporary directory is written.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build >/dev/null

work=$(mktemp -d /tmp/aatune-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a samples/libvirt/apparmor.d "$work/apparmor.d"
logs=(samples/libvirt/logs/kern.log samples/libvirt/logs/audit.log)
common=(--profiles "$work/apparmor.d" --libvirt-xml samples/libvirt)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. What went wrong: denials, explained, with proposed fixes"
./build/aatune suggest "${common[@]}" "${logs[@]}" || true

step "2. Apply the proposals (validated by apparmor_parser; reload skipped: no AppArmor here)"
./build/aatune apply "${common[@]}" --all --yes --no-reload --state "$work/state" "${logs[@]}"

step "3. Run again on the same logs: nothing left to do"
./build/aatune suggest "${common[@]}" "${logs[@]}"

step "4. Disable just the guest's profile instead of all of AppArmor"
guest=$(basename "$(ls "$work"/apparmor.d/libvirt/libvirt-*[0-9a-f] | head -1)")
./build/aatune disable "$guest" --profiles "$work/apparmor.d" --no-reload
ls -l "$work/apparmor.d/disable/"
