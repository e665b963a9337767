//! Errors of the host module; each message names the device or file and says what to do.

use std::path::PathBuf;

use super::bdf::Bdf;

/// What went wrong while inspecting, binding or restoring host devices.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The address names no PCI device.
    #[error("no PCI device {0} (/{path} is missing); `ovmm host list` shows the devices there are", path = .0.sysfs_dir())]
    NoDevice(Bdf),
    /// The device is not covered by an IOMMU.
    #[error("{0} has no IOMMU group: the IOMMU is off or does not cover it; `ovmm host check {0}` says how to enable it")]
    NoGroup(Bdf),
    /// Bridges cannot be handed to a guest.
    #[error("{0} is a PCI bridge; bridges stay with the host, pass the devices behind it instead")]
    IsBridge(Bdf),
    /// The group holds a device the host itself uses.
    #[error("refusing to take {bdf} (IOMMU group {group}): the host needs it ({why}); pass --force to take it anyway")]
    HostNeeds {
        /// The device the host needs.
        bdf: Bdf,
        /// Its IOMMU group.
        group: u32,
        /// What the host uses it for.
        why: String,
    },
    /// vfio-pci refuses a physical function with virtual functions enabled.
    #[error("{bdf} has {vfs} SR-IOV virtual functions enabled and vfio-pci refuses such a PF; pass the VFs instead, or write 0 to {path}", path = .bdf.sysfs("sriov_numvfs"))]
    SriovPf {
        /// The physical function.
        bdf: Bdf,
        /// How many VFs are enabled.
        vfs: u64,
    },
    /// A sysfs or journal file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("write", "read", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A kernel operation (unbind, probe, bind) failed.
    #[error("{op} of {bdf} failed: {source}")]
    Kernel {
        /// The operation, e.g. "unbind from e1000e".
        op: String,
        /// The device.
        bdf: Bdf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// After probing, the device is not on the driver it should be on.
    #[error("{bdf} ended up on {got} instead of {wanted} after {step}; {hint}")]
    WrongDriver {
        /// The device.
        bdf: Bdf,
        /// The driver it should have.
        wanted: String,
        /// What it has ("no driver" when unbound).
        got: String,
        /// The step that should have bound it.
        step: &'static str,
        /// What to look at.
        hint: String,
    },
    /// The VFIO group node did not show up.
    #[error("/dev/vfio/{group} did not appear within {ms} ms after binding group {group} to vfio-pci; check `dmesg` for vfio errors")]
    NoVfioNode {
        /// The IOMMU group.
        group: u32,
        /// How long ovmm waited.
        ms: u128,
    },
    /// A kernel module could not be loaded.
    #[error("cannot load kernel module {module}: {reason}; load it by hand (`modprobe {module}`) or build it into the kernel")]
    Module {
        /// The module.
        module: String,
        /// Why.
        reason: String,
    },
    /// The journal is not valid.
    #[error(
        "journal {path} is unreadable ({reason}); fix or delete it, then restore drivers by hand"
    )]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another ovmm holds the journal lock for too long.
    #[error("journal lock {path} is held by process {pid}; wait for it to finish or remove the lock file if that process is gone")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The holder, as written in the lock file.
        pid: String,
    },
    /// A running ovmm still uses the device.
    #[error("{bdf} is held by running ovmm process {pid} (managed=on); stop that VM first or pass --force")]
    Held {
        /// The device.
        bdf: Bdf,
        /// The process that bound it.
        pid: u32,
    },
}

impl HostError {
    /// Whether the system refused access (the caller is not root).
    pub fn is_permission(&self) -> bool {
        let io = match self {
            HostError::Io { source, .. } | HostError::Kernel { source, .. } => source,
            _ => return false,
        };
        io.kind() == std::io::ErrorKind::PermissionDenied
    }

    /// An I/O error on `path` while doing `action`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> HostError {
        HostError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
