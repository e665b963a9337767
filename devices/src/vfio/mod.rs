//! VFIO passthrough of a host PCI function.
//!
//! [`VfioPciDevice`] is a [`crate::pci::PciDevice`] built over a [`VfioBackend`]: the real one
//! ([`ioctls::VfioIoctlsBackend`], over vfio-ioctls) or the in-memory [`fake::FakeVfio`] the
//! tests use. The device knows nothing of KVM: it reports BAR decoding changes as
//! [`crate::pci::ConfigEffect`]s, publishes an mmap plan ([`BarMmapPlan`]) for the VMM to
//! back BARs with KVM memory slots, and drives interrupts through the
//! [`crate::pci::MsiInterrupts`] router and [`crate::pci::IntxLine`] it is given.
//!
//! - [`backend`]: the VFIO interface and its types.
//! - [`ioctls`]: the kernel implementation.
//! - [`fake`]: the test doubles.
//! - [`pci_device`]: the device model (config shadow, BARs, capabilities, interrupts).

pub mod backend;
mod bars;
mod caps;
pub mod fake;
mod interrupts;
pub mod ioctls;
pub mod pci_device;
mod shadow;

pub use backend::{IrqInfo, RegionInfo, SparseArea, VfioBackend, VfioBackendError};
pub use bars::{BarMmapPlan, MmapArea, RomPolicy, TrapRange, MIN_ROM_SIZE};
pub use caps::{EXT_CAP_ARI, EXT_CAP_REBAR, EXT_CAP_SRIOV};
pub use interrupts::IrqMode;
pub use pci_device::{
    vectors_needed, PciIdOverrides, VfioPciArgs, VfioPciDevice, VfioPciError, VfioPciOptions,
    DEFAULT_HIDDEN_EXT_CAPS,
};
