#!/usr/bin/env bash
# Obtains what the real-kernel lab needs, from Debian packages only, and caches the kernel.
#
#   tests/lab/setup.sh            # prints the cache dir on its last line
#
# Installs qemu-system-x86, busybox-static, cpio (apt-get install) and unpacks a Debian AppArmor
# kernel (linux-image-6.12.*+deb12-cloud-amd64-unsigned) with `dpkg -x` into the cache dir
# ($AATUNE_LAB_CACHE, default /var/cache/aatune-lab). Fast when already done: no apt call at all.
#
# Exit codes: 0 ready; 77 the lab cannot be provisioned here (no root / no archive / no package),
# with the reason on stderr. lab_test.sh turns 77 into a ctest SKIP.
set -euo pipefail

cache=${AATUNE_LAB_CACHE:-/var/cache/aatune-lab}
kernel_glob='linux-image-6.12.*+deb12-cloud-amd64-unsigned'
skip() { echo "lab-setup: SKIP: $*" >&2; exit 77; }

have_tools() {
  command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null &&
    [[ -x /bin/busybox ]] && /bin/busybox --list 2>/dev/null | grep -qx ash &&
    ! ldd /bin/busybox >/dev/null 2>&1  # must be the static build
}
have_kernel() { compgen -G "$cache/kernel/boot/vmlinuz-*" >/dev/null; }

apt_updated=0
apt_update_once() {
  if ((apt_updated == 0)); then
    apt-get update -qq >/dev/null 2>&1 || echo "lab-setup: warning: apt-get update failed" >&2
    apt_updated=1
  fi
}

if ! have_tools; then
  [[ $(id -u) -eq 0 ]] || skip "need root to install qemu-system-x86 busybox-static cpio"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends qemu-system-x86 busybox-static cpio \
      >/dev/null 2>&1; then
    apt_update_once
    apt-get install -y -qq --no-install-recommends qemu-system-x86 busybox-static cpio \
      >/dev/null || skip "apt-get install qemu-system-x86 busybox-static cpio failed"
  fi
  have_tools || skip "qemu-system-x86_64/static busybox/cpio still missing after install"
fi

if ! have_kernel; then
  # The exact version changes with point releases: ask apt which one is available now.
  pick_kernel() {
    apt-cache search --names-only "^linux-image-6\.12\..*\+deb12-cloud-amd64-unsigned$" 2>/dev/null |
      awk '{print $1}' | sort -V | tail -n1
  }
  pkg=$(pick_kernel)
  if [[ -z $pkg ]]; then
    apt_update_once
    pkg=$(pick_kernel)
  fi
  [[ -n $pkg ]] || skip "no package matching $kernel_glob in the apt archive"
  mkdir -p "$cache/dl" 2>/dev/null || skip "cannot create the cache dir $cache (set AATUNE_LAB_CACHE)"
  (cd "$cache/dl" && apt-get download -qq "$pkg" >/dev/null 2>&1) ||
    { apt_update_once; (cd "$cache/dl" && apt-get download -qq "$pkg" >/dev/null); } ||
    skip "apt-get download $pkg failed"
  deb=$(ls -t "$cache"/dl/"$pkg"_*.deb | head -n1)
  rm -rf "$cache/kernel.tmp"
  dpkg -x "$deb" "$cache/kernel.tmp"
  rm -rf "$cache/kernel"
  mv "$cache/kernel.tmp" "$cache/kernel"
  rm -f "$deb"  # keep only the unpacked vmlinuz/config; the modules are not needed
  rm -rf "$cache/kernel/lib/modules" "$cache/kernel/usr"
fi
have_kernel || skip "no vmlinuz under $cache/kernel/boot"
grep -q '^CONFIG_SECURITY_APPARMOR=y' "$cache"/kernel/boot/config-* ||
  skip "the cached kernel has no CONFIG_SECURITY_APPARMOR"
echo "$cache"
