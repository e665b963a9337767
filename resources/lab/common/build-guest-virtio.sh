#!/bin/bash
# The lab guest's virtio extras, made from the guest initramfs tree (build-guest-initrd.sh runs it):
#   build-guest-virtio.sh LABDIR TREE
#   LABDIR/guest-initrd-virtio.cpio  guest-initrd.cpio plus the virtio-pci, virtio-blk, virtio-net
#                                    and ext4 modules with their dependencies from Debian's kernel
#                                    package in /lib/ovmm/virtio (load order in .../order)
#   LABDIR/guest-disk.ext4.gz        a 32 MiB ext4 image of TREE with those modules and
#                                    /etc/ovmm-disk (made with mkfs.ext4 -d): the root disk of the
#                                    virtio scenarios; L1 unpacks a fresh copy for each scenario
set -euo pipefail
LAB=$1 TREE=$2
kver=$(cat "$LAB/dist/kver")
command -v mkfs.ext4 >/dev/null || { echo "guest virtio: mkfs.ext4 not found (Debian package e2fsprogs)" >&2; exit 1; }
v=$(mktemp -d); trap 'rm -rf "$v"' EXIT
mkdir -p "$v/extra/lib/ovmm/virtio"
for m in virtio_pci virtio_blk virtio_net ext4; do
  modprobe -d "$LAB/dist/root" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$v/extra/lib/ovmm/virtio/"
  basename "$ko" >> "$v/extra/lib/ovmm/virtio/order"
done
grep -q '^virtio_blk.ko$' "$v/extra/lib/ovmm/virtio/order" || { echo "guest virtio: virtio_blk.ko not found for $kver" >&2; exit 1; }
(cd "$v/extra" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) > "$v/extra.cpio"
cat "$LAB/guest-initrd.cpio" "$v/extra.cpio" > "$LAB/guest-initrd-virtio.cpio.$$"
mv "$LAB/guest-initrd-virtio.cpio.$$" "$LAB/guest-initrd-virtio.cpio"
mkdir -p "$v/disk"
cp -a "$TREE/." "$v/disk/"
cp -a "$v/extra/lib/ovmm/virtio" "$v/disk/lib/ovmm/"
mkdir -p "$v/disk/etc" "$v/disk/newroot"
echo "ovmm lab root disk" > "$v/disk/etc/ovmm-disk"
truncate -s 32M "$v/disk.img"
mkfs.ext4 -q -F -L ovmm-root -d "$v/disk" "$v/disk.img"
gzip -1 -n -c "$v/disk.img" > "$LAB/guest-disk.ext4.gz.$$"
mv "$LAB/guest-disk.ext4.gz.$$" "$LAB/guest-disk.ext4.gz"
echo "guest virtio: $LAB/guest-initrd-virtio.cpio ($(stat -c %s "$LAB/guest-initrd-virtio.cpio") bytes), $LAB/guest-disk.ext4.gz ($(stat -c %s "$LAB/guest-disk.ext4.gz") bytes)"
