#!/bin/bash
# Build the emulated host's (L1) initramfs.
#   LAB_ARCH_DIR=resources/lab/ARCH build-l1-initrd.sh LABDIR PLAN OUT [OVMM_BIN] [QEMU_PAYLOAD_CPIO]
# LABDIR holds fetch.sh's dist/ and guest-initrd.cpio; PLAN becomes /lab/plan (what L1 runs);
# OVMM_BIN ("" for none) becomes /bin/ovmm; QEMU_PAYLOAD_CPIO (qemu-payload.sh) is appended as is.
# Contents: busybox, l1-init as /init, the modules of ARCH/l1-modules.txt with their
# dependencies, /lab/{lib.sh,bench.sh,blk-bench.sh,demo.sh,demo-run.sh,arch.env,plan,l1-modules.txt} (ARCH's own files
# first, then common/), /lab/scenarios/*.sh (scenarios/ARCH), /lab/guest/{vmlinuz,initrd.cpio,
# initrd-virtio.cpio,disk.ext4.gz},
# /bin/ovmm-qemu (ARCH's stand-in), the ACPI tables of ARCH/acpi/*.dsl
# compiled with iasl as /lab/guest/NAME.aml (for --acpi-table; x86 only).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ARCH_DIR=${LAB_ARCH_DIR:?LAB_ARCH_DIR must name resources/lab/x86 or resources/lab/arm64 (the lab harness sets it)}
. "$ARCH_DIR/arch.env"
SCEN=$HERE/../scenarios/$LAB_ARCH
LAB=$1 PLAN=$2 OUT=$3 OVMM=${4:-} PAYLOAD=${5:-}
kver=$(cat "$LAB/dist/kver")
mods=$LAB/dist/root/lib/modules/$kver
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
mkdir -p "$d"/{bin,proc,sys,dev,tmp,lab/guest,lab/scenarios,lib/modules/$kver}
# the architecture's file if it has one, else the shared one
pick() { if [ -e "$ARCH_DIR/$1" ]; then echo "$ARCH_DIR/$1"; else echo "$HERE/$1"; fi; }
cp "$LAB/dist/busybox" "$d/bin/busybox"
ln -s busybox "$d/bin/sh"
install -m 755 "$(pick l1-init)" "$d/init"
install -m 755 "$(pick ovmm-qemu)" "$d/bin/ovmm-qemu"
for f in lib.sh bench.sh blk-bench.sh demo.sh demo-run.sh arch.env l1-modules.txt; do
  install -m 644 "$(pick "$f")" "$d/lab/$f"
done
install -m 644 "$PLAN" "$d/lab/plan"
install -m 644 "$SCEN"/*.sh "$d/lab/scenarios/"
cp "$LAB/dist/vmlinuz" "$d/lab/guest/vmlinuz"
cp "$LAB/guest-initrd.cpio" "$d/lab/guest/initrd.cpio"
for dsl in "$ARCH_DIR"/acpi/*.dsl; do
  [ -e "$dsl" ] || continue
  name=$(basename "$dsl" .dsl)
  iasl -p "$d/lab/guest/$name" "$dsl" > "$d/iasl.log" 2>&1 || { cat "$d/iasl.log" >&2; exit 1; }
  [ -s "$d/lab/guest/$name.aml" ] || { echo "iasl made no $name.aml" >&2; exit 1; }
done
rm -f "$d/iasl.log"
cp "$LAB/guest-initrd-virtio.cpio" "$d/lab/guest/initrd-virtio.cpio"
cp "$LAB/guest-disk.ext4.gz" "$d/lab/guest/disk.ext4.gz"
if [ -n "$OVMM" ]; then install -m 755 "$OVMM" "$d/bin/ovmm"; fi
# modules and everything they depend on, as modprobe resolves it from the depmod'ed tree
for m in $(grep -v '^#' "$ARCH_DIR/l1-modules.txt"); do
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
