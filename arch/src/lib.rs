//! ovmm's guest platform, per architecture: the guest physical address map, the boot protocol
//! (x86 boot parameters and e820, arm64 registers), ACPI tables (x86) and the device tree
//! (arm64), and CPUID (x86).
//!
//! Table and tree generators are plain data code: they are compiled and unit-tested on every
//! host. Only code that needs another architecture's KVM structures is cfg-gated.
//!
//! - [`aarch64`]: the arm64 address map, device tree and Image boot placement (not cfg-gated:
//!   built and tested on every host).

pub mod aarch64;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;
