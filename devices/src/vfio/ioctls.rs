//! [`VfioBackend`] over the kernel: a `vfio_ioctls::VfioDevice` (opened by the VMM through
//! a container and group, or iommufd) plus a duplicate of its fd.
//!
//! vfio-ioctls 0.10 only logs failed region reads and writes and ignores the result of
//! VFIO_DEVICE_RESET, so this backend reads and writes regions with pread/pwrite on the
//! device fd and issues the reset ioctls itself, to report real errors. [`VfioResetFd`] holds
//! the reset ioctls (function reset and PCI bus hot reset, which vfio-ioctls does not wrap)
//! on its own duplicate of the device fd, for the VMM's reset policy.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;

use vfio_bindings::bindings::vfio::{vfio_device_info, VFIO_DEVICE_FLAGS_RESET};
use vfio_ioctls::{VfioDevice, VfioRegionInfoCap};
use vmm_sys_util::eventfd::EventFd;

use super::backend::{
    IrqInfo, RegionInfo, SparseArea, VfioBackend, VfioBackendError, INTX_IRQ, REGION_READ,
    REGION_WRITE,
};

/// Ioctl numbers vfio-ioctls does not export.
mod nr {
    use vfio_bindings::bindings::vfio::{VFIO_BASE, VFIO_TYPE};

    vmm_sys_util::ioctl_io_nr!(VFIO_DEVICE_GET_INFO, u32::from(VFIO_TYPE), VFIO_BASE + 7);
    vmm_sys_util::ioctl_io_nr!(VFIO_DEVICE_RESET, u32::from(VFIO_TYPE), VFIO_BASE + 11);
    vmm_sys_util::ioctl_io_nr!(
        VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
        u32::from(VFIO_TYPE),
        VFIO_BASE + 12
    );
    vmm_sys_util::ioctl_io_nr!(
        VFIO_DEVICE_PCI_HOT_RESET,
        u32::from(VFIO_TYPE),
        VFIO_BASE + 13
    );
}

/// A VFIO device opened through vfio-ioctls.
pub struct VfioIoctlsBackend {
    // Declared first so it closes first: vfio-ioctls releases the group when `device` drops,
    // and the kernel refuses that (EBUSY) while any fd of the device is still open.
    file: File,
    device: VfioDevice,
}

impl VfioIoctlsBackend {
    /// Wraps `device`; duplicates its fd for pread/pwrite, ioctls and mmap.
    pub fn new(device: VfioDevice) -> io::Result<Self> {
        // SAFETY: `device` owns this fd and keeps it open for the duration of the borrow,
        // which ends when the duplicate is made.
        let borrowed = unsafe { BorrowedFd::borrow_raw(device.as_raw_fd()) };
        let file = File::from(borrowed.try_clone_to_owned()?);
        Ok(VfioIoctlsBackend { file, device })
    }

    /// The reset ioctls of this device on a duplicate of its fd.
    pub fn reset_fd(&self) -> io::Result<VfioResetFd> {
        Ok(VfioResetFd {
            file: self.file.try_clone()?,
        })
    }

    /// The vfio-ioctls device, for what this interface does not cover (DMA mapping is done
    /// on the container, not here).
    pub fn device(&self) -> &VfioDevice {
        &self.device
    }

    fn check(
        &self,
        op: &'static str,
        index: u32,
        offset: u64,
        len: usize,
        flag: u32,
    ) -> Result<u64, VfioBackendError> {
        let out_of_range = || VfioBackendError::OutOfRange {
            op,
            index,
            offset,
            len,
        };
        let end = offset.checked_add(len as u64).ok_or_else(out_of_range)?;
        if end > self.device.get_region_size(index)
            || self.device.get_region_flags(index) & flag == 0
        {
            return Err(out_of_range());
        }
        Ok(self.device.get_region_offset(index) + offset)
    }

    fn device_flags(&self) -> io::Result<u32> {
        device_flags(&self.file)
    }
}

fn device_flags(file: &File) -> io::Result<u32> {
    let mut info = vfio_device_info {
        argsz: std::mem::size_of::<vfio_device_info>() as u32,
        ..Default::default()
    };
    // SAFETY: VFIO_DEVICE_GET_INFO writes at most `argsz` bytes into `info`, which we own and
    // which lives through the call; the fd is a VFIO device fd.
    let ret = unsafe {
        vmm_sys_util::ioctl::ioctl_with_mut_ref(file, nr::VFIO_DEVICE_GET_INFO(), &mut info)
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.flags)
}

/// A function that a bus hot reset of a device would reset too (from
/// VFIO_DEVICE_GET_PCI_HOT_RESET_INFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DependentDevice {
    /// Its IOMMU group.
    pub group: u32,
    /// PCI segment (domain).
    pub segment: u16,
    /// Bus number.
    pub bus: u8,
    /// Device and function, `device << 3 | function`.
    pub devfn: u8,
}

impl std::fmt::Display for DependentDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            self.segment,
            self.bus,
            self.devfn >> 3,
            self.devfn & 7
        )
    }
}

/// Words of the hot reset structures' header: argsz, flags, count.
const HOT_RESET_HEADER_WORDS: usize = 3;

/// The reset ioctls of one VFIO device, on its own duplicate of the device fd (the device
/// model owns the backend; the VMM resets through this).
pub struct VfioResetFd {
    file: File,
}

impl VfioResetFd {
    /// Whether VFIO_DEVICE_RESET works for the device (VFIO_DEVICE_FLAGS_RESET: the kernel
    /// found a function-level method, FLR, PM or a bus reset the device has to itself).
    pub fn function_reset_supported(&self) -> io::Result<bool> {
        Ok(device_flags(&self.file)? & VFIO_DEVICE_FLAGS_RESET != 0)
    }

    /// VFIO_DEVICE_RESET.
    pub fn function_reset(&self) -> io::Result<()> {
        // SAFETY: VFIO_DEVICE_RESET takes no argument; the fd is a VFIO device fd.
        let ret = unsafe { vmm_sys_util::ioctl::ioctl(&self.file, nr::VFIO_DEVICE_RESET()) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The functions a bus hot reset of this device resets (itself included); an error when
    /// the device cannot be reset through its bus (ENOTTY and the like).
    pub fn hot_reset_info(&self) -> io::Result<Vec<DependentDevice>> {
        let mut count = 0usize;
        loop {
            // Header, then two words per device: group id, segment | bus << 16 | devfn << 24.
            let mut buf = vec![0u32; HOT_RESET_HEADER_WORDS + 2 * count];
            buf[0] = (buf.len() * 4) as u32;
            // SAFETY: the kernel reads argsz from the buffer and writes at most argsz bytes
            // into it; the buffer is ours and lives through the call.
            let ret = unsafe {
                vmm_sys_util::ioctl::ioctl_with_mut_ptr(
                    &self.file,
                    nr::VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(),
                    buf.as_mut_ptr(),
                )
            };
            let needed = buf[2] as usize;
            if ret < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ENOSPC) && needed > count {
                    count = needed;
                    continue;
                }
                return Err(e);
            }
            return Ok(buf[HOT_RESET_HEADER_WORDS..]
                .chunks_exact(2)
                .take(needed)
                .map(|d| DependentDevice {
                    group: d[0],
                    segment: d[1] as u16,
                    bus: (d[1] >> 16) as u8,
                    devfn: (d[1] >> 24) as u8,
                })
                .collect());
        }
    }

    /// VFIO_DEVICE_PCI_HOT_RESET, proving ownership of every affected device with the fds of
    /// their groups.
    pub fn hot_reset(&self, group_fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let mut buf = vec![0u32; HOT_RESET_HEADER_WORDS + group_fds.len()];
        buf[0] = (buf.len() * 4) as u32;
        buf[2] = group_fds.len() as u32;
        for (slot, fd) in buf[HOT_RESET_HEADER_WORDS..].iter_mut().zip(group_fds) {
            *slot = fd.as_raw_fd() as u32;
        }
        // SAFETY: the kernel reads argsz bytes from the buffer, which is ours and lives
        // through the call; the group fds are open for the duration of the borrow.
        let ret = unsafe {
            vmm_sys_util::ioctl::ioctl_with_ptr(
                &self.file,
                nr::VFIO_DEVICE_PCI_HOT_RESET(),
                buf.as_ptr(),
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn irq_error(
    op: &'static str,
    index: u32,
    count: usize,
    e: vfio_ioctls::VfioError,
) -> VfioBackendError {
    VfioBackendError::Irq {
        op,
        index,
        count,
        source: io::Error::other(e),
    }
}

impl VfioBackend for VfioIoctlsBackend {
    fn region_info(&self, index: u32) -> RegionInfo {
        let mut info = RegionInfo {
            size: self.device.get_region_size(index),
            flags: self.device.get_region_flags(index),
            file_offset: self.device.get_region_offset(index),
            sparse_areas: None,
            msix_mappable: false,
        };
        if info.size == 0 {
            return info;
        }
        for cap in self.device.get_region_caps(index) {
            match cap {
                VfioRegionInfoCap::SparseMmap(sparse) => {
                    info.sparse_areas = Some(
                        sparse
                            .areas
                            .iter()
                            .map(|a| SparseArea {
                                offset: a.offset,
                                size: a.size,
                            })
                            .collect(),
                    );
                }
                VfioRegionInfoCap::MsixMappable => info.msix_mappable = true,
                _ => {}
            }
        }
        info
    }

    fn region_read(
        &self,
        index: u32,
        offset: u64,
        data: &mut [u8],
    ) -> Result<(), VfioBackendError> {
        let at = self.check("read", index, offset, data.len(), REGION_READ)?;
        self.file
            .read_exact_at(data, at)
            .map_err(|source| VfioBackendError::Access {
                op: "read",
                index,
                offset,
                len: data.len(),
                source,
            })
    }

    fn region_write(&self, index: u32, offset: u64, data: &[u8]) -> Result<(), VfioBackendError> {
        let at = self.check("write", index, offset, data.len(), REGION_WRITE)?;
        self.file
            .write_all_at(data, at)
            .map_err(|source| VfioBackendError::Access {
                op: "write",
                index,
                offset,
                len: data.len(),
                source,
            })
    }

    fn irq_info(&self, index: u32) -> Option<IrqInfo> {
        self.device.get_irq_info(index).map(|irq| IrqInfo {
            count: irq.count,
            flags: irq.flags,
        })
    }

    fn enable_irq(&self, index: u32, fds: &[&EventFd]) -> Result<(), VfioBackendError> {
        self.device
            .enable_irq(index, fds.to_vec())
            .map_err(|e| irq_error("enable", index, fds.len(), e))
    }

    fn disable_irq(&self, index: u32) -> Result<(), VfioBackendError> {
        self.device
            .disable_irq(index)
            .map_err(|e| irq_error("disable", index, 0, e))
    }

    fn set_intx_unmask_fd(&self, fd: &EventFd) -> Result<(), VfioBackendError> {
        self.device
            .set_irq_resample_fd(INTX_IRQ, vec![fd])
            .map_err(|e| irq_error("set unmask fd", INTX_IRQ, 1, e))
    }

    fn unmask_intx(&self) -> Result<(), VfioBackendError> {
        self.device
            .unmask_irq(INTX_IRQ)
            .map_err(|e| irq_error("unmask", INTX_IRQ, 0, e))
    }

    fn reset(&self) -> Result<bool, VfioBackendError> {
        let flags = self.device_flags().map_err(VfioBackendError::Reset)?;
        if flags & VFIO_DEVICE_FLAGS_RESET == 0 {
            return Ok(false);
        }
        // SAFETY: VFIO_DEVICE_RESET takes no argument; the fd is a VFIO device fd.
        let ret = unsafe { vmm_sys_util::ioctl::ioctl(&self.file, nr::VFIO_DEVICE_RESET()) };
        if ret < 0 {
            return Err(VfioBackendError::Reset(io::Error::last_os_error()));
        }
        Ok(true)
    }

    fn device_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.file.as_fd())
    }
}
