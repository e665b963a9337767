#!/usr/bin/env bash
# ovmm's whole test suite, every tier, as CI runs it (.ci/run calls exactly this script):
#   1. style: cargo fmt --check and clippy with warnings as errors;
#   2. unit tests (all crates), KVM smoke tests (needs /dev/kvm), and the x86 and arm64 lab tests
#      (QEMU TCG emulated hosts, see resources/lab/) through `cargo test --workspace`;
#   arm64: clippy for aarch64, and the workspace's unit tests cross-built for aarch64 and run
#   under qemu-aarch64-static (the runner in .cargo/config.toml).
# It installs what the tests need first (Debian packages through resources/lab/setup-host.sh,
# rustup components). A tier that cannot run fails with the reason; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==== %s\n' "$*"; }

step "host packages"
bash resources/lab/setup-host.sh

step "toolchain components"
for c in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
done

step "aarch64 target"
AARCH64=aarch64-unknown-linux-gnu
rustup target list --installed 2>/dev/null | grep -qx "$AARCH64" || rustup target add "$AARCH64"
for tool in aarch64-linux-gnu-gcc qemu-aarch64-static; do
  command -v "$tool" >/dev/null || { echo "test.sh: $tool is missing after setup-host.sh" >&2; exit 1; }
done

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy -j 2 --workspace --all-targets -- -D warnings

step "clippy ($AARCH64)"
cargo clippy -j 2 --workspace --all-targets --target "$AARCH64" -- -D warnings

step "unit tests for $AARCH64 under qemu-aarch64-static"
# Library and binary unit tests: the integration tests need this machine's /dev/kvm (smoke) or
# boot the labs, which the run below does for both architectures.
t=$SECONDS
cargo test -j 2 --workspace --lib --bins --target "$AARCH64" -- --test-threads=2
echo "test.sh: aarch64 unit tests took $((SECONDS - t)) s"

step "tests: unit, KVM smoke, x86 and arm64 labs"
cargo test -j 2 --workspace -- --test-threads=2
