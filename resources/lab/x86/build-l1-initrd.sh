#!/bin/bash
# Build the emulated host's (L1) initramfs.
#   build-l1-initrd.sh LABDIR PLAN OUT [OVMM_BIN] [QEMU_PAYLOAD_CPIO]
# LABDIR holds fetch.sh's dist/ and guest-initrd.cpio; PLAN becomes /lab/plan (what L1 runs);
# OVMM_BIN ("" for none) becomes /bin/ovmm; QEMU_PAYLOAD_CPIO (qemu-payload.sh) is appended as is.
# Contents: busybox, l1-init as /init, the modules of l1-modules.txt with their dependencies,
# /lab/{lib.sh,bench.sh,blk-bench.sh,demo.sh,plan,l1-modules.txt}, /lab/scenarios/*.sh,
# /lab/guest/{vmlinuz,initrd.cpio,initrd-virtio.cpio,disk.ext4.gz}, /bin/ovmm-qemu.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SCEN=$HERE/../scenarios/x86
LAB=$1 PLAN=$2 OUT=$3 OVMM=${4:-} PAYLOAD=${5:-}
kver=$(cat "$LAB/dist/kver")
mods=$LAB/dist/root/lib/modules/$kver
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
mkdir -p "$d"/{bin,proc,sys,dev,tmp,lab/guest,lab/scenarios,lib/modules/$kver}
cp "$LAB/dist/busybox" "$d/bin/busybox"
ln -s busybox "$d/bin/sh"
install -m 755 "$HERE/l1-init" "$d/init"
install -m 755 "$HERE/ovmm-qemu" "$d/bin/ovmm-qemu"
install -m 644 "$HERE/lib.sh" "$HERE/bench.sh" "$HERE/demo.sh" "$HERE/l1-modules.txt" "$d/lab/"
install -m 644 "$HERE/blk-bench.sh" "$d/lab/"
install -m 644 "$PLAN" "$d/lab/plan"
install -m 644 "$SCEN"/*.sh "$d/lab/scenarios/"
cp "$LAB/dist/vmlinuz" "$d/lab/guest/vmlinuz"
cp "$LAB/guest-initrd.cpio" "$d/lab/guest/initrd.cpio"
cp "$LAB/guest-initrd-virtio.cpio" "$d/lab/guest/initrd-virtio.cpio"
cp "$LAB/guest-disk.ext4.gz" "$d/lab/guest/disk.ext4.gz"
if [ -n "$OVMM" ]; then install -m 755 "$OVMM" "$d/bin/ovmm"; fi
# modules and everything they depend on, as modprobe resolves it from the depmod'ed tree
for m in $(grep -v '^#' "$HERE/l1-modules.txt"); do
  modprobe -d "$LAB/dist/root" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | sort -u | while read -r ko; do
  rel=${ko#"$mods"/}
  mkdir -p "$d/lib/modules/$kver/$(dirname "$rel")"
  cp "$ko" "$d/lib/modules/$kver/$rel"
done
cp "$mods"/modules.order "$mods"/modules.builtin* "$d/lib/modules/$kver/"
depmod -b "$d" "$kver"
(cd "$d" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) > "$OUT.$$"
if [ -n "$PAYLOAD" ]; then cat "$PAYLOAD" >> "$OUT.$$"; fi
mv "$OUT.$$" "$OUT"
echo "L1 initrd: $OUT ($(stat -c %s "$OUT") bytes)"
