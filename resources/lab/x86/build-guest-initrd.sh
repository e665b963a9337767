#!/bin/bash
# Build the lab guest's (L2) initramfs: static busybox and guest-init as /init.
#   build-guest-initrd.sh LABDIR        (after fetch.sh)  ->  LABDIR/guest-initrd.cpio
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=$1
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
mkdir -p "$d"/{bin,proc,sys,dev,tmp}
cp "$LAB/dist/busybox" "$d/bin/busybox"
ln -s busybox "$d/bin/sh"
cp "$HERE/guest-init" "$d/init"
chmod 755 "$d/init"
(cd "$d" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) > "$LAB/guest-initrd.cpio.$$"
mv "$LAB/guest-initrd.cpio.$$" "$LAB/guest-initrd.cpio"
echo "guest initrd: $LAB/guest-initrd.cpio ($(stat -c %s "$LAB/guest-initrd.cpio") bytes)"
