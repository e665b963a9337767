#!/usr/bin/env bash
# ovmm's whole test suite, every tier, as CI runs it (.ci/run calls exactly this script):
#   1. style: cargo fmt --check and clippy with warnings as errors;
#   2. unit tests (all crates), KVM smoke tests (needs /dev/kvm), and the x86 lab tests
#      (QEMU TCG emulated host, see resources/lab/) through `cargo test --workspace`.
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

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy -j 2 --workspace --all-targets -- -D warnings

step "tests: unit, KVM smoke, x86 lab"
cargo test -j 2 --workspace -- --test-threads=2
