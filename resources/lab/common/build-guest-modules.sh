#!/bin/bash
# Build the lab guest's test driver for QEMU's edu device (resources/lab/guest/edu) against
# Debian's headers for the lab kernel: with the host's gcc-12 on x86, cross-compiled with
# CROSS_COMPILE (arch.env, aarch64-linux-gnu-) on arm64. The headers packages come for the lab's
# architecture, linux-kbuild (the host tools in the headers' scripts/) for the host's.
#   LAB_ARCH_DIR=resources/lab/ARCH build-guest-modules.sh LABDIR   (after fetch.sh)
#     ->  LABDIR/guest-modules/ovmm_edu.ko
# Cached: rebuilt only when the driver's source is newer than the .ko. The headers
# (linux-headers-KVER, its -common part and linux-kbuild) are unpacked into LABDIR/headers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ARCH_DIR=${LAB_ARCH_DIR:?LAB_ARCH_DIR must name resources/lab/x86 or resources/lab/arm64 (the lab harness sets it)}
. "$ARCH_DIR/arch.env"
. "$HERE/apt.sh"
SRC=$HERE/../guest/edu
LAB=$1
kver=$(cat "$LAB/dist/kver")
OUT=$LAB/guest-modules
KO=$OUT/ovmm_edu.ko
exec 9> "$LAB/.modules.lock"
flock 9
if [ -f "$KO" ] && [ -z "$(find "$SRC" -newer "$KO" -type f)" ]; then
  echo "guest modules: cached $KO"
  exit 0
fi
command -v "${CROSS_COMPILE}gcc-12" >/dev/null ||
  { echo "guest modules: ${CROSS_COMPILE}gcc-12 not found (Debian package gcc-12${CROSS_COMPILE:+-${CROSS_COMPILE%-}})" >&2; exit 1; }
command -v make >/dev/null || { echo "guest modules: make not found (Debian package make)" >&2; exit 1; }
H=$LAB/headers
if [ ! -f "$H/ready-$kver" ]; then
  rm -rf "$H"
  lab_apt_prepare "$LAB" "$DEB_ARCH"
  common=linux-headers-${kver%-*}-common
  kbuild=$(lab_apt_cache depends "linux-headers-$kver" 2>/dev/null | sed -n 's/^ *Depends: \(linux-kbuild-[^ ]*\)$/\1/p' | head -1)
  [ -n "$kbuild" ] || { echo "guest modules: apt-cache knows no linux-headers-$kver (run apt-get update)" >&2; exit 1; }
  echo "guest modules: downloading linux-headers-$kver and $common ($DEB_ARCH)"
  lab_apt_download "$H/debs" "linux-headers-$kver" "$common"
  # linux-kbuild holds the host programs the headers' scripts/ link to: the host's architecture.
  lab_apt_prepare "$LAB" "$(dpkg --print-architecture)"
  echo "guest modules: downloading $kbuild (host tools)"
  lab_apt_download "$H/debs" "$kbuild"
  for deb in "$H"/debs/*.deb; do dpkg -x "$deb" "$H"; done
  rm -rf "$H/debs"
  # The arch part includes the common part by absolute path; point it at our copy.
  sed -i "s|/usr/src/|$H/usr/src/|" "$H/usr/src/linux-headers-$kver/Makefile"
  touch "$H/ready-$kver"
fi
b=$(mktemp -d); trap 'rm -rf "$b"' EXIT
cp "$SRC"/Makefile "$SRC"/*.c "$b/"
# The headers' .kernelvariables set ARCH and CC = $(CROSS_COMPILE)gcc-12.
make -s -C "$H/usr/src/linux-headers-$kver" M="$b" CROSS_COMPILE="$CROSS_COMPILE" modules 2>&1 |
  grep -v 'Skipping BTF generation' || true
[ -f "$b/ovmm_edu.ko" ] || { echo "guest modules: building ovmm_edu.ko failed" >&2; exit 1; }
mkdir -p "$OUT"
cp "$b/ovmm_edu.ko" "$KO.$$"
mv "$KO.$$" "$KO"
echo "guest modules: built $KO"
