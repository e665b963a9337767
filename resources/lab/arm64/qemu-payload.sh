#!/bin/bash
# Build a cpio (appended to the arm64 L1 initramfs) holding Debian's arm64 qemu-system-aarch64
# and the arm64 shared libraries it loads (its ELF NEEDED entries, followed recursively, and the
# dynamic loader). L1 uses it as the reference VMM of the benchmark (`-M virt -enable-kvm`) and
# for the stand-in VMM (ovmm-qemu). The packages (qemu-system-arm and its dependencies, about
# 40 MB) come through the lab's private arm64 apt state (common/apt.sh) and are cached in
# LABDIR/qemu-debs, LABDIR being OUT's folder.
#   qemu-payload.sh OUT.cpio
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/arch.env"
. "$HERE/../common/apt.sh"
OUT=$1
LAB=$(cd "$(dirname "$OUT")" && pwd)
command -v readelf >/dev/null || { echo "qemu-payload: readelf not found (Debian package binutils)" >&2; exit 1; }
DEBS=$LAB/qemu-debs
exec 9> "$LAB/.qemu-payload.lock"
flock 9
if [ ! -f "$DEBS/ready" ]; then
  rm -rf "$DEBS"
  lab_apt_prepare "$LAB" "$DEB_ARCH"
  echo "qemu-payload: downloading qemu-system-arm ($DEB_ARCH) and its dependencies"
  lab_apt_install_closure "$DEBS" qemu-system-arm
  touch "$DEBS/ready"
fi
x=$(mktemp -d); d=$(mktemp -d); trap 'rm -rf "$x" "$d"' EXIT
for deb in "$DEBS"/*.deb; do dpkg -x "$deb" "$x"; done
Q=$x/usr/bin/qemu-system-aarch64
[ -x "$Q" ] || { echo "qemu-payload: the qemu-system-arm package has no usr/bin/qemu-system-aarch64" >&2; exit 1; }
mkdir -p "$d/usr/bin" "$d/lib"
cp "$Q" "$d/usr/bin/qemu-system-aarch64"
# the library called NAME in the unpacked tree (Debian's arm64 multiarch folders)
find_lib() {
  for dir in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu lib usr/lib; do
    if [ -e "$x/$dir/$1" ]; then echo "$dir/$1"; return 0; fi
  done
  return 1
}
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
todo=$(needed "$Q")
seen=" "
nlibs=0
while [ -n "$todo" ]; do
  next=
  for lib in $todo; do
    case $seen in *" $lib "*) continue ;; esac
    seen="$seen$lib "
    rel=$(find_lib "$lib") || { echo "qemu-payload: $lib (needed by qemu-system-aarch64) is in none of the downloaded packages" >&2; exit 1; }
    mkdir -p "$d/$(dirname "$rel")"
    cp -L "$x/$rel" "$d/$rel"
    nlibs=$((nlibs + 1))
    next="$next $(needed "$x/$rel")"
  done
  todo=$next
done
# the program interpreter, /lib/ld-linux-aarch64.so.1
interp=$(readelf -l "$Q" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
rel=$(find_lib "$(basename "$interp")") || { echo "qemu-payload: no $interp in the downloaded libc6" >&2; exit 1; }
mkdir -p "$d$(dirname "$interp")"
cp -L "$x/$rel" "$d$interp"
# The virt board loads no firmware for -kernel; keep QEMU's data folder for its lookups.
mkdir -p "$d/usr/share/qemu"
version=$(dpkg-deb -f "$(ls "$DEBS"/qemu-system-arm_*.deb | head -1)" Version)
(cd "$d" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) > "$OUT.$$"
mv "$OUT.$$" "$OUT"
echo "qemu payload: $OUT ($(stat -c %s "$OUT") bytes, $nlibs libraries, qemu-system-arm $version for $DEB_ARCH)"
