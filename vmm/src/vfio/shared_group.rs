//! Releasing devices that share an IOMMU group without errors.
//!
//! vfio-ioctls 0.10 keeps no count of the devices it opened per group: the first device of a
//! group to drop takes the group out of the container, which the kernel refuses (EBUSY) while
//! another device of the group is still open, and the teardown logs errors and leaves the work
//! to the kernel's fd cleanup. So before the device models drop, every device fd of a shared
//! group is closed in one go: each is atomically replaced (dup2) by `/dev/null`, so the numbers
//! stay valid for their owners, who close them later. The first drop then finds no device of
//! the group open and releases it cleanly; the next ones take and release it again (that is
//! what vfio-ioctls does for a group it no longer has).

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

use devices::vfio::ioctls::VfioIoctlsBackend;
use devices::vfio::VfioBackend;

use crate::config::VfioConfig;

/// The device fds of the groups that hold more than one of the VM's devices.
#[derive(Debug, Default)]
pub struct SharedGroupFds {
    fds: Vec<RawFd>,
}

impl SharedGroupFds {
    /// Notes the fds (vfio-ioctls' own and the backend's duplicate) of every device whose
    /// group holds another of `devices`.
    pub fn new(devices: &[(VfioConfig, VfioIoctlsBackend)]) -> Self {
        let groups: Vec<Option<String>> = devices.iter().map(|(c, _)| group_of(&c.sysfs)).collect();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for g in groups.iter().flatten() {
            *count.entry(g.as_str()).or_default() += 1;
        }
        let mut fds = Vec::new();
        for ((_, backend), group) in devices.iter().zip(&groups) {
            if group.as_deref().is_some_and(|g| count[g] > 1) {
                fds.push(backend.device().as_raw_fd());
                fds.extend(backend.device_fd().map(|fd| fd.as_raw_fd()));
            }
        }
        SharedGroupFds { fds }
    }

    /// Closes every noted device file, keeping the fd numbers open on `/dev/null`. Call it
    /// once, after the BARs are unmapped and before the device models drop.
    pub fn release(&self) {
        if self.fds.is_empty() {
            return;
        }
        let null = match File::open("/dev/null") {
            Ok(f) => f,
            Err(e) => {
                log::warn!("cannot open /dev/null to release shared-group devices: {e}");
                return;
            }
        };
        for &fd in &self.fds {
            // SAFETY: `fd` is a VFIO device fd owned by a device model (or its backend) that
            // is still alive: the PCI root drops after this call. dup2 atomically makes the
            // number refer to /dev/null, so its owner still closes a valid fd of its own later.
            if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
                log::warn!(
                    "cannot release a shared-group device fd: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

fn group_of(sysfs: &Path) -> Option<String> {
    std::fs::read_link(sysfs.join("iommu_group"))
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_string)
}
