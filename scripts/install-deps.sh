#!/usr/bin/env bash
# Installs everything aatune needs to build, test and run, from Debian 12 packages only.
# Run as root (or through sudo). Safe to run again: apt-get skips what is installed.
set -euo pipefail
packages=(
  build-essential g++ cmake ninja-build pkg-config git clang-format
  libaudit-dev libapparmor-dev apparmor apparmor-utils python3-apparmor
  libncurses-dev nlohmann-json3-dev libsqlite3-dev sqlite3 libsystemd-dev zlib1g-dev libzstd-dev
  libgtest-dev libgmock-dev
  # journal files for the native journal reader's tests (systemd-journal-remote writes them)
  systemd-journal-remote
  tmux
  # man page checks (groff -ww, man -l) and the Debian package (scripts/build-deb.sh)
  groff-base man-db dpkg-dev debhelper lintian
)
if [[ "${AATUNE_WITH_FUZZ:-0}" == 1 ]]; then
  packages+=(clang-19 libclang-rt-19-dev)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#packages[@]} packages present"
