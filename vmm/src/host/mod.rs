//! `ovmm host`: list, check, bind and restore the host PCI devices a VM gets through VFIO.
//!
//! Everything reads and writes through a [`SysRoot`] (`/` in production, a fake tree in tests).
//! Data flows one way: sysfs/procfs -> [`pci`] and [`group`] (what the devices are) ->
//! [`inuse`] (what the host needs) -> [`check`] (findings with codes and fixes) or [`bind`]
//! (driver changes, recorded first in the [`journal`]) -> [`report`] (text) or JSON.
//!
//! - [`bdf`]: PCI addresses.
//! - [`sysroot`]: the root every path is relative to.
//! - [`pci`], [`class`], [`group`]: devices, class names, IOMMU groups and viability.
//! - [`inuse`]: the default-route NIC, disks with mounted filesystems, the console GPU.
//! - [`check`]: `ovmm host check`.
//! - [`list`]: `ovmm host list`.
//! - [`kernel`]: the sysfs writes the kernel reacts to, behind a trait.
//! - [`journal`], [`bind`], [`managed`]: binding, crash-safe restore, `managed=on`.
//! - [`cli`]: the subcommands and their exit status.

pub mod bdf;
pub mod bind;
pub mod check;
pub mod class;
pub mod cli;
pub mod error;
pub mod group;
pub mod inuse;
pub mod journal;
pub mod kernel;
pub mod list;
pub mod managed;
pub mod pci;
pub mod report;
pub mod sysroot;

pub use bdf::Bdf;
pub use bind::ManagedBinding;
pub use cli::{run, HostCommand};
pub use error::HostError;
pub use sysroot::SysRoot;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
