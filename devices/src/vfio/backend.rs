//! The small interface between the VFIO PCI device model and a VFIO device: region
//! information and access, interrupt set-up, reset, and the fd to mmap BARs from.
//!
//! [`super::ioctls::VfioIoctlsBackend`] implements it over the kernel (vfio-ioctls);
//! [`super::fake::FakeVfio`] implements it in memory for tests. Every method is required.

use std::io;
use std::os::fd::BorrowedFd;

use vmm_sys_util::eventfd::EventFd;

/// VFIO region index of BAR 0 (BARs 1-5 follow).
pub const BAR0_REGION: u32 = 0;
/// VFIO region index of the expansion ROM.
pub const ROM_REGION: u32 = 6;
/// VFIO region index of config space.
pub const CONFIG_REGION: u32 = 7;
/// VFIO IRQ index of INTx.
pub const INTX_IRQ: u32 = 0;
/// VFIO IRQ index of MSI.
pub const MSI_IRQ: u32 = 1;
/// VFIO IRQ index of MSI-X.
pub const MSIX_IRQ: u32 = 2;

/// Region flag: readable.
pub const REGION_READ: u32 = 0x1;
/// Region flag: writable.
pub const REGION_WRITE: u32 = 0x2;
/// Region flag: can be mmapped (possibly only in the sparse areas).
pub const REGION_MMAP: u32 = 0x4;
/// IRQ flag: the index cannot grow while enabled (disable, then enable with more vectors).
pub const IRQ_NORESIZE: u32 = 0x8;

/// A part of a region that may be mmapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SparseArea {
    /// Offset within the region.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// What VFIO says about one region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionInfo {
    /// Size in bytes; 0 when the region does not exist.
    pub size: u64,
    /// `REGION_*` flags.
    pub flags: u32,
    /// Offset of the region on the device fd (for pread/pwrite and mmap).
    pub file_offset: u64,
    /// The mmappable areas when VFIO restricts mmap to parts of the region.
    pub sparse_areas: Option<Vec<SparseArea>>,
    /// VFIO allows mmapping the page(s) holding the MSI-X table.
    pub msix_mappable: bool,
}

impl RegionInfo {
    /// Whether the region can be mmapped (in full, or in its sparse areas).
    pub fn mmappable(&self) -> bool {
        self.flags & REGION_MMAP != 0
    }
}

/// What VFIO says about one interrupt index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqInfo {
    /// Number of vectors (0: the index is not supported).
    pub count: u32,
    /// `IRQ_*` flags.
    pub flags: u32,
}

impl IrqInfo {
    /// Whether enabling more vectors needs a disable first.
    pub fn noresize(&self) -> bool {
        self.flags & IRQ_NORESIZE != 0
    }
}

/// Errors from a VFIO device.
#[derive(Debug, thiserror::Error)]
pub enum VfioBackendError {
    /// The access does not fit the region, or the region lacks the needed permission.
    #[error("region {index} does not allow a {len}-byte {op} at {offset:#x}")]
    OutOfRange {
        /// "read" or "write".
        op: &'static str,
        /// Region index.
        index: u32,
        /// Offset within the region.
        offset: u64,
        /// Access length.
        len: usize,
    },
    /// The read or write on the device fd failed.
    #[error("{op} of {len} bytes at {offset:#x} of region {index} failed")]
    Access {
        /// "read" or "write".
        op: &'static str,
        /// Region index.
        index: u32,
        /// Offset within the region.
        offset: u64,
        /// Access length.
        len: usize,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// Setting up interrupts (VFIO_DEVICE_SET_IRQS) failed.
    #[error("{op} of IRQ index {index} ({count} eventfds) failed")]
    Irq {
        /// What was asked: "enable", "disable", "set unmask fd", "unmask".
        op: &'static str,
        /// IRQ index.
        index: u32,
        /// Number of eventfds passed.
        count: usize,
        /// What VFIO said.
        #[source]
        source: io::Error,
    },
    /// VFIO_DEVICE_GET_INFO or VFIO_DEVICE_RESET failed.
    #[error("device reset failed")]
    Reset(#[source] io::Error),
}

/// A VFIO PCI device as the device model needs it.
pub trait VfioBackend: Send {
    /// Information about region `index` (size 0 when it does not exist).
    fn region_info(&self, index: u32) -> RegionInfo;

    /// Reads `data.len()` bytes at `offset` of region `index`.
    fn region_read(&self, index: u32, offset: u64, data: &mut [u8])
        -> Result<(), VfioBackendError>;

    /// Writes `data` at `offset` of region `index`.
    fn region_write(&self, index: u32, offset: u64, data: &[u8]) -> Result<(), VfioBackendError>;

    /// Information about IRQ index `index`, `None` if the device does not have it.
    fn irq_info(&self, index: u32) -> Option<IrqInfo>;

    /// Makes vectors `0..fds.len()` of IRQ `index` signal `fds` (VFIO_IRQ_SET_ACTION_TRIGGER).
    /// Called again with a longer list to grow the set.
    fn enable_irq(&self, index: u32, fds: &[&EventFd]) -> Result<(), VfioBackendError>;

    /// Disables every vector of IRQ `index`.
    fn disable_irq(&self, index: u32) -> Result<(), VfioBackendError>;

    /// Makes VFIO unmask INTx whenever `fd` is signalled (VFIO_IRQ_SET_ACTION_UNMASK with an
    /// eventfd): the KVM resample fd goes here.
    fn set_intx_unmask_fd(&self, fd: &EventFd) -> Result<(), VfioBackendError>;

    /// Unmasks INTx once.
    fn unmask_intx(&self) -> Result<(), VfioBackendError>;

    /// Resets the device if it supports a reset: `Ok(false)` when it does not.
    fn reset(&self) -> Result<bool, VfioBackendError>;

    /// The device fd to mmap regions from (at [`RegionInfo::file_offset`]), if there is one.
    fn device_fd(&self) -> Option<BorrowedFd<'_>>;
}
