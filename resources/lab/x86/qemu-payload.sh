#!/bin/bash
# Build a cpio (appended to the L1 initramfs) holding this host's qemu-system-x86_64, the shared
# libraries it loads (ldd of the binary), and the firmware `-M microvm` needs. L1 uses it as the
# reference VMM for the benchmark and as the stand-in VMM (ovmm-qemu) while ovmm cannot boot yet.
#   qemu-payload.sh OUT.cpio
set -euo pipefail
OUT=$1
Q=$(command -v qemu-system-x86_64) || { echo "qemu-payload: qemu-system-x86_64 not found (apt-get install qemu-system-x86)" >&2; exit 1; }
Q=$(readlink -f "$Q")
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
mkdir -p "$d/usr/bin" "$d/usr/share/qemu"
cp "$Q" "$d/usr/bin/qemu-system-x86_64"
nlibs=0
# ldd prints "libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
for lib in $(ldd "$Q" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
  mkdir -p "$d$(dirname "$lib")"
  cp -L "$lib" "$d$lib"
  nlibs=$((nlibs + 1))
done
if ldd "$Q" | grep -q 'not found'; then
  echo "qemu-payload: ldd reports missing libraries:" >&2; ldd "$Q" | grep 'not found' >&2; exit 1
fi
# Firmware microvm loads (bios-microvm.bin, a link to qboot.rom on Debian) and the option ROMs
# QEMU may ask for when booting a kernel directly.
datadir=/usr/share/qemu
for f in bios-microvm.bin linuxboot_dma.bin linuxboot.bin kvmvapic.bin pvh.bin; do
  if [ -e "$datadir/$f" ]; then cp -L "$datadir/$f" "$d/usr/share/qemu/$f"; fi
done
[ -s "$d/usr/share/qemu/bios-microvm.bin" ] || { echo "qemu-payload: no $datadir/bios-microvm.bin (package qemu-system-data / seabios)" >&2; exit 1; }
(cd "$d" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) > "$OUT.$$"
mv "$OUT.$$" "$OUT"
echo "qemu payload: $OUT ($(stat -c %s "$OUT") bytes, $nlibs libraries, $("$Q" --version | head -1))"
