//! ovmm's device models.
//!
//! Every device here is a register machine that knows nothing of KVM or of the VMM around it:
//! it is handed what it needs at construction (an interrupt eventfd, an output stream, a
//! [`lifecycle::GuestRequests`] handle) and answers reads and writes at offsets within its own
//! range. The VMM places devices on a [`bus::Bus`] (one for port I/O, one for MMIO) and the vCPU
//! loops dispatch guest accesses through those buses.
//!
//! - [`bus`]: address-range dispatch shared by port I/O and MMIO.
//! - [`lifecycle`]: how a device asks the VMM to power off, reset or exit with a status.
//! - [`legacy`]: the platform devices every guest needs (serial, i8042, CMOS RTC, ACPI power
//!   registers, the test-exit port).
//! - [`pci`]: the PCI root complex (host bridge, 0xCF8 and ECAM config access), config
//!   space with write masks, BARs, MSI and MSI-X.
//! - [`vfio`]: a host PCI function passed through with VFIO, behind a small backend trait.
//! - [`virtio`]: the modern virtio-pci transport, virtio-blk and virtio-net.

pub mod bus;
pub mod legacy;
pub mod lifecycle;
pub mod pci;
pub mod vfio;
pub mod virtio;
