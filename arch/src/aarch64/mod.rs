//! The arm64 guest platform, as plain data that builds and is tested on every host:
//! - [`layout`]: the guest physical address map, SPI numbers and the 64-bit PCI window;
//! - [`fdt`]: the device tree ovmm hands the kernel;
//! - [`boot`]: the Image header and where the Image, the DTB and the initrd go;
//! - [`regs`]: KVM register IDs and the boot vCPU's registers.
//!
//! Nothing here touches KVM: the vCPU registers and the vGIC are set up by the VMM from these
//! values.

pub mod boot;
pub mod fdt;
pub mod layout;
pub mod regs;
