#!/bin/bash
# Install the host packages the ovmm lab needs (QEMU for the emulated host, cpio and kmod to build
# its initramfs, busybox-static, acpica-tools for ACPI table checks, binutils for the benchmark's
# strip). Idempotent: installs only what is missing and says what it does. Run as root (or
# through sudo) on Debian/Ubuntu.
set -euo pipefail
PKGS=(qemu-system-x86 cpio kmod busybox-static acpica-tools binutils gcc make
  e2fsprogs gzip)
# arm64: the emulated arm64 host, the aarch64 cross toolchain (static arm64 ovmm, the guest's edu
# driver), qemu-user-static (aarch64 unit tests), dtc (device tree checks), readelf (QEMU payload)
PKGS+=(qemu-system-arm gcc-aarch64-linux-gnu gcc-12-aarch64-linux-gnu binutils-aarch64-linux-gnu
  libc6-dev-arm64-cross qemu-user-static device-tree-compiler gcc-12 util-linux)
missing=()
for p in "${PKGS[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    echo "setup-host: $p is already installed"
  else
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-host: nothing to do"
  exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
echo "setup-host: running apt-get update"
$SUDO apt-get update -qq
echo "setup-host: installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup-host: done"
