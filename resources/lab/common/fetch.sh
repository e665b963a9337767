#!/bin/bash
# Fetch and unpack the Debian packages a lab boots: the kernel that KERNEL_META (arch.env)
# depends on (used for both the emulated host L1 and the guest L2) and busybox-static, for the
# lab's architecture (arm64 packages come through a private apt state, see apt.sh).
#   LAB_ARCH_DIR=resources/lab/ARCH fetch.sh LABDIR
# Result (cached; delete LABDIR/dist to fetch again):
#   LABDIR/dist/kver            kernel release, e.g. 6.1.0-56-amd64 or 6.1.0-56-arm64
#   LABDIR/dist/vmlinuz         the kernel image (bzImage on x86; on arm64 an uncompressed Image)
#   LABDIR/dist/root/lib/modules/KVER   its modules, with modules.dep made by depmod
#   LABDIR/dist/busybox         static busybox
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ARCH_DIR=${LAB_ARCH_DIR:?LAB_ARCH_DIR must name resources/lab/x86 or resources/lab/arm64 (the lab harness sets it)}
. "$ARCH_DIR/arch.env"
. "$HERE/apt.sh"
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
lab_apt_prepare "$LAB" "$DEB_ARCH"
kernel_package() {
  lab_apt_cache depends "$KERNEL_META" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1
}
kpkg=$(kernel_package)
if [ -z "$kpkg" ]; then
  echo "fetch: apt knows no $KERNEL_META; running apt-get update"
  lab_apt_update
  kpkg=$(kernel_package)
fi
[ -n "$kpkg" ] || { echo "fetch: cannot find the package $KERNEL_META depends on (apt-cache depends $KERNEL_META)" >&2; exit 1; }
echo "fetch: downloading $kpkg and busybox-static ($DEB_ARCH)"
lab_apt_download "$D/debs" "$kpkg" busybox-static
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
