//! The x86_64 guest platform: the address map ([`layout`]), the Linux boot protocol
//! ([`boot`]), the boot CPU state ([`regs`]), CPUID ([`cpuid`]) and the ACPI tables
//! ([`acpi`]).
//!
//! Boot order for the VMM: load the kernel, command line and initrd (placed with
//! [`initrd_address`]); [`build_tables`] + [`write_tables`]; [`configure_system`]; then per
//! vCPU [`configure_cpuid`], [`boot_msrs`], [`setup_long_mode`], [`boot_regs`], [`boot_fpu`],
//! [`set_lint`].

pub mod acpi;
pub mod boot;
pub mod cpuid;
pub mod layout;
pub mod regs;

pub use acpi::{build_tables, write_tables, AcpiError, AcpiPlatform, AcpiTable, AcpiTables};
pub use boot::{configure_system, initrd_address, BootConfig, BootError};
pub use cpuid::configure_cpuid;
pub use regs::{boot_fpu, boot_msrs, boot_regs, set_lint, setup_long_mode};
