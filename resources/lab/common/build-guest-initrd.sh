#!/bin/bash
# Build the lab guest's (L2) initramfs: static busybox and guest-init as /init, the NIC drivers
# of GUEST_NIC_MODULES and GUEST_EXTRA_MODULES (arch.env: the power button's input path for
# ovmm's API power-off) and the edu test driver (build-guest-modules.sh) in /lib/ovmm,
# the udhcpc script /bin/udhcpc-script, and the architecture's arch.env as /etc/lab-arch.env.
# Then build-guest-virtio.sh makes the virtio variant and the root disk.
#   LAB_ARCH_DIR=resources/lab/ARCH build-guest-initrd.sh LABDIR   (after fetch.sh)
#     ->  LABDIR/guest-initrd.cpio, LABDIR/guest-initrd-virtio.cpio, LABDIR/guest-disk.ext4.gz
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ARCH_DIR=${LAB_ARCH_DIR:?LAB_ARCH_DIR must name resources/lab/x86 or resources/lab/arm64 (the lab harness sets it)}
. "$ARCH_DIR/arch.env"
LAB=$1
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
bash "$HERE/build-guest-modules.sh" "$LAB"
kver=$(cat "$LAB/dist/kver")
mkdir -p "$d"/{bin,proc,sys,dev,tmp,etc,lib/ovmm}
for m in $GUEST_NIC_MODULES $GUEST_EXTRA_MODULES; do
  ko=$(modprobe -d "$LAB/dist/root" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}')
  [ "$(echo "$ko" | wc -l)" -eq 1 ] || { echo "guest initrd: $m.ko has dependencies now: $ko" >&2; exit 1; }
  cp "$ko" "$d/lib/ovmm/$m.ko"
done
"${CROSS_COMPILE}strip" --strip-debug -o "$d/lib/ovmm/ovmm_edu.ko" "$LAB/guest-modules/ovmm_edu.ko"
install -m 755 "$HERE/udhcpc-script" "$d/bin/udhcpc-script"
install -m 644 "$ARCH_DIR/arch.env" "$d/etc/lab-arch.env"
cp "$LAB/dist/busybox" "$d/bin/busybox"
ln -s busybox "$d/bin/sh"
cp "$HERE/guest-init" "$d/init"
chmod 755 "$d/init"
(cd "$d" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) > "$LAB/guest-initrd.cpio.$$"
mv "$LAB/guest-initrd.cpio.$$" "$LAB/guest-initrd.cpio"
echo "guest initrd: $LAB/guest-initrd.cpio ($(stat -c %s "$LAB/guest-initrd.cpio") bytes)"
bash "$HERE/build-guest-virtio.sh" "$LAB" "$d"
