#!/usr/bin/env bash
# The quick-start demo: on a machine without passthrough hardware, boot the lab's emulated host
# (QEMU TCG with nested virtualization and an emulated IOMMU) and let ovmm boot a Debian guest
# inside it. Installs the lab's Debian packages first if they are missing (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash resources/lab/setup-host.sh >/dev/null
exec cargo run -q -j 2 -p ovmm-tests --bin lab -- demo "$@"
