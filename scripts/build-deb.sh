#!/usr/bin/env bash
# Builds the Debian package from this tree, installs it with apt-get, checks that it works
# (aatune --version, man -w aatune) and removes it again. Needs root (apt-get) and the
# packaging tools (debhelper, dpkg-dev; lintian is run when present).
# The tree is copied to a scratch directory first: dpkg-buildpackage writes beside the source and
# into debian/, and the checkout must stay clean.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
if [[ $(id -u) -ne 0 ]]; then
  echo "build-deb: need root to install the package" >&2
  exit 3
fi
for tool in dpkg-buildpackage dh; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool missing (apt-get install debhelper dpkg-dev)" >&2; exit 2; }
done
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
work=$(mktemp -d /tmp/aatune-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/aatune-$version"
tar -C "$src" --exclude=./.git --exclude='./build*' --exclude=./obj-* -cf - . |
  tar -C "$work/aatune-$version" -xf -

echo "build-deb: building aatune $version in $work"
(cd "$work/aatune-$version" &&
  DEB_BUILD_OPTIONS="nocheck parallel=${AATUNE_DEB_JOBS:-2}" dpkg-buildpackage -us -uc -b) \
  >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; echo "build-deb: dpkg-buildpackage failed" >&2; exit 1; }
deb=$(ls "$work"/aatune_"$version"_*.deb)

if command -v lintian >/dev/null; then
  # Errors fail the build; warnings are printed for the record.
  lintian --fail-on error "$deb" || { echo "build-deb: lintian found errors" >&2; exit 1; }
fi

expected=(
  /usr/bin/aatune
  /usr/share/man/man1/aatune.1.gz
  /usr/share/bash-completion/completions/aatune
  /usr/share/zsh/vendor-completions/_aatune
  /lib/systemd/system/aatune-watch.service
  /etc/aatune/aatune.conf
)
contents=$(dpkg-deb -c "$deb")
for f in "${expected[@]}"; do
  grep -q " \.$f\$" <<<"$contents" || { echo "build-deb: $f missing from the package" >&2; exit 1; }
done

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "$deb" >/dev/null
/usr/bin/aatune --version
man -w aatune
apt-get remove -y -qq aatune >/dev/null
if [[ -e /usr/bin/aatune ]] || dpkg-query -W -f='${Status}' aatune 2>/dev/null | grep -q 'ok installed'; then
  echo "build-deb: aatune still installed after apt-get remove" >&2
  exit 1
fi
apt-get purge -y -qq aatune >/dev/null  # the conffile too: leave the machine as it was
echo "build-deb: ok ($(basename "$deb") built, installed, run and removed)"
