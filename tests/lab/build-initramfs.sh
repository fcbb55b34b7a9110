#!/usr/bin/env bash
# Builds the lab guest's initramfs (cpio.gz): static busybox, apparmor_parser and aatune with the
# shared libraries ldd names, the exerciser and the capture tool (built static here), the profile
# tree of tests/lab/profiles with abi/3.0, and /init (tests/lab/init.sh).
#
#   tests/lab/build-initramfs.sh OUT.cpio.gz [AATUNE_BINARY]
#
# Without AATUNE_BINARY (or if it does not exist) the guest still captures records, and every
# aatune step is reported as skipped.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-initramfs.sh OUT.cpio.gz [AATUNE_BINARY]}
aatune=${2:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/aatune-lab-initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

die() { echo "build-initramfs: error: $*" >&2; exit 1; }
[[ -x /bin/busybox ]] || die "/bin/busybox missing (run tests/lab/setup.sh)"
[[ -x /sbin/apparmor_parser ]] || die "/sbin/apparmor_parser missing (apt-get install apparmor)"

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/apparmor.d/abi,etc/lab,proc,sys,dev,tmp,root,run}
mkdir -p "$root"/{lib/x86_64-linux-gnu,lib64}

# Copies a dynamic binary and every library ldd resolves for it, at the same paths.
copy_with_libs() {
  local src=$1 dst=$2
  install -D -m 0755 "$src" "$root$dst"
  local lib
  while read -r lib; do
    [[ -e $root$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done < <(ldd "$src" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}')
}

cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ $applet == busybox ]] || ln -sf /bin/busybox "$root/bin/$applet"
done
copy_with_libs /sbin/apparmor_parser /sbin/apparmor_parser
if [[ -n $aatune && -x $aatune ]]; then
  copy_with_libs "$aatune" /usr/bin/aatune
  # RelWithDebInfo carries tens of MB of DWARF: the guest only needs the code.
  strip --strip-debug "$root/usr/bin/aatune"
else
  echo "build-initramfs: note: no aatune binary; the guest will only capture records" >&2
fi

cflags=(-static -O2 -Wall -Wextra -Werror)
gcc "${cflags[@]}" -o "$root/usr/bin/aa_exercise" "$here/aa_exercise.c"
cp "$root/usr/bin/aa_exercise" "$root/usr/bin/aa_peer"
gcc "${cflags[@]}" -o "$root/usr/bin/lab_capture" "$here/lab_capture.c"

cp /etc/apparmor.d/abi/3.0 "$root/etc/apparmor.d/abi/3.0" 2>/dev/null ||
  die "/etc/apparmor.d/abi/3.0 missing: network rules need it with apparmor_parser 3.0"
cp -r "$here/profiles/." "$root/etc/apparmor.d/"
echo secret >"$root/etc/lab/secret"
echo probe >"$root/etc/lab/probe"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
echo lab >"$root/etc/hostname"
# Debian pins policy features here; an empty file only silences the parser's missing-file warning.
mkdir -p "$root/etc/apparmor" && echo "# aatune lab" >"$root/etc/apparmor/parser.conf"
install -m 0755 "$here/init.sh" "$root/init"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) |
  gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "build-initramfs: $out ($(du -k "$out" | cut -f1) KiB)" >&2
