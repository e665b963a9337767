#!/bin/bash
# Fetch and unpack the Debian packages the x86 lab boots: the kernel that linux-image-amd64 depends
# on (used for both the emulated host L1 and the guest L2) and busybox-static.
#   fetch.sh LABDIR
# Result (cached; delete LABDIR/dist to fetch again):
#   LABDIR/dist/kver            kernel release, e.g. 6.1.0-56-amd64
#   LABDIR/dist/vmlinuz         the kernel image
#   LABDIR/dist/root/lib/modules/KVER   its modules, with modules.dep made by depmod
#   LABDIR/dist/busybox         static busybox
set -euo pipefail
LAB=$1
D=$LAB/dist
mkdir -p "$LAB"
exec 9> "$LAB/.fetch.lock"
flock 9   # one fetch at a time; a second lab run waits, then finds the cache
if [ -f "$D/ready" ]; then
  echo "fetch: cached kernel $(cat "$D/kver") in $D"
  exit 0
fi
for tool in apt-get apt-cache dpkg depmod; do
  command -v "$tool" >/dev/null || { echo "fetch: $tool not found (Debian's apt, dpkg and kmod are needed)" >&2; exit 1; }
done
rm -rf "$D"
APT_OPTS=""
if [ "$(id -u)" -eq 0 ]; then APT_OPTS="-o APT::Sandbox::User=root"; fi   # silences the _apt warning
mkdir -p "$D/debs"
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1
}
kpkg=$(kernel_package)
if [ -z "$kpkg" ]; then
  echo "fetch: apt knows no linux-image-amd64; running apt-get update"
  apt-get update -qq
  kpkg=$(kernel_package)
fi
[ -n "$kpkg" ] || { echo "fetch: cannot find the package linux-image-amd64 depends on (apt-cache depends linux-image-amd64)" >&2; exit 1; }
echo "fetch: downloading $kpkg and busybox-static"
if ! (cd "$D/debs" && apt-get download -qq $APT_OPTS "$kpkg" busybox-static); then
  echo "fetch: download failed; running apt-get update and retrying"
  apt-get update -qq
  if ! (cd "$D/debs" && apt-get download -qq $APT_OPTS "$kpkg" busybox-static); then
    echo "fetch: cannot download $kpkg and busybox-static: the lab needs the Debian archive (apt sources with bookworm main) reachable" >&2
    exit 1
  fi
fi
dpkg -x "$D"/debs/linux-image-*.deb "$D/root"
dpkg -x "$D"/debs/busybox-static_*.deb "$D/bb"
kver=$(ls "$D/root/lib/modules")
depmod -b "$D/root" "$kver"
cp "$D/root/boot/vmlinuz-$kver" "$D/vmlinuz"
cp "$D/bb/bin/busybox" "$D/busybox"
echo "$kver" > "$D/kver"
rm -rf "$D/debs" "$D/bb"
touch "$D/ready"
echo "fetch: kernel $kver ready in $D"
