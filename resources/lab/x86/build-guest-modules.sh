#!/bin/bash
# Build the lab guest's test driver for QEMU's edu device (resources/lab/guest/edu) against
# Debian's headers for the lab kernel, with the host's gcc-12.
#   build-guest-modules.sh LABDIR        (after fetch.sh)  ->  LABDIR/guest-modules/ovmm_edu.ko
# Cached: rebuilt only when the driver's source is newer than the .ko. The headers
# (linux-headers-KVER, its -common part and linux-kbuild) are unpacked into LABDIR/headers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
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
command -v gcc-12 >/dev/null || { echo "guest modules: gcc-12 not found (Debian package gcc-12)" >&2; exit 1; }
command -v make >/dev/null || { echo "guest modules: make not found (Debian package make)" >&2; exit 1; }
H=$LAB/headers
if [ ! -f "$H/ready-$kver" ]; then
  rm -rf "$H"
  mkdir -p "$H/debs"
  APT_OPTS=""
  if [ "$(id -u)" -eq 0 ]; then APT_OPTS="-o APT::Sandbox::User=root"; fi
  kbuild=$(apt-cache depends "linux-headers-$kver" | sed -n 's/^ *Depends: \(linux-kbuild-[^ ]*\)$/\1/p' | head -1)
  [ -n "$kbuild" ] || { echo "guest modules: apt-cache knows no linux-headers-$kver (run apt-get update)" >&2; exit 1; }
  echo "guest modules: downloading linux-headers-$kver, its -common part and $kbuild"
  common=linux-headers-${kver%-amd64}-common
  (cd "$H/debs" && apt-get download -qq $APT_OPTS "linux-headers-$kver" "$common" "$kbuild") ||
    { echo "guest modules: cannot download the kernel headers from the Debian archive" >&2; exit 1; }
  for deb in "$H"/debs/*.deb; do dpkg -x "$deb" "$H"; done
  rm -rf "$H/debs"
  # The arch part includes the common part by absolute path; point it at our copy.
  sed -i "s|/usr/src/|$H/usr/src/|" "$H/usr/src/linux-headers-$kver/Makefile"
  touch "$H/ready-$kver"
fi
b=$(mktemp -d); trap 'rm -rf "$b"' EXIT
cp "$SRC"/Makefile "$SRC"/*.c "$b/"
make -s -C "$H/usr/src/linux-headers-$kver" M="$b" modules 2>&1 | grep -v 'Skipping BTF generation' || true
[ -f "$b/ovmm_edu.ko" ] || { echo "guest modules: building ovmm_edu.ko failed" >&2; exit 1; }
mkdir -p "$OUT"
cp "$b/ovmm_edu.ko" "$KO.$$"
mv "$KO.$$" "$KO"
echo "guest modules: built $KO"
