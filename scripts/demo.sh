#!/usr/bin/env bash
# The main job on the bundled libvirt scenario ("my VM will not start"), non-interactively, on a
# throw-away copy of the profile tree: scan the logs of the failed start, explain and propose,
# apply into the right files (validated with the real apparmor_parser), and show that a second
# run finds nothing left to do; then disable only the guest's profile and show the store's view.
# Nothing outside a temporary directory is written (the store and backups live there too).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target aatune >/dev/null

work=$(mktemp -d /tmp/aatune-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a samples/libvirt/apparmor.d "$work/apparmor.d"
logs=(samples/libvirt/logs/kern.log samples/libvirt/logs/audit.log)
common=(--profiles "$work/apparmor.d" --libvirt-xml samples/libvirt/domain.xml)
store=(--db "$work/aatune.db")

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "0. Scan the logs of the failed start into a store"
./build/aatune scan "${store[@]}" --no-journal --no-kmsg "${logs[@]}"

step "1. What went wrong: denials, explained, with proposed fixes"
# Exit status 1 means "proposals printed".
./build/aatune suggest "${common[@]}" "${logs[@]}" || [[ $? == 1 ]]

step "2. Apply them (validated by apparmor_parser; reload skipped: no AppArmor in this demo)"
# --glob volatile: the hugepages file's domain id and random suffix change on every start of the
# VM, so that rule is written with just those parts globbed; every other rule stays exact.
./build/aatune apply "${common[@]}" "${store[@]}" --all --force --yes --no-reload \
  --glob volatile --state "$work/state" "${logs[@]}"

step "3. Every changed profile still compiles"
for f in usr.sbin.libvirtd usr.sbin.chronyd libvirt/libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35; do
  /sbin/apparmor_parser -QTK --base "$work/apparmor.d" -I "$work/apparmor.d" "$work/apparmor.d/$f"
  echo "ok: $f"
done

step "4. Run again on the same logs: nothing left to do"
./build/aatune suggest "${common[@]}" "${logs[@]}"

step "5. Disable just the guest's profile instead of all of AppArmor"
guest=$(basename "$(ls "$work"/apparmor.d/libvirt/libvirt-*[0-9a-f] | head -1)")
./build/aatune disable "$guest" --profiles "$work/apparmor.d" --state "$work/state" --no-reload
ls -l "$work/apparmor.d/disable/"

step "6. What the store says now"
./build/aatune status "${store[@]}" --profiles "$work/apparmor.d"
