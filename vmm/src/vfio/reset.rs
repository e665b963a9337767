//! Resetting passed-through devices when a VM starts and when it ends (a guest reboot is both:
//! ovmm rebuilds the VM), and saying how.
//!
//! Per device, in order of preference:
//! 1. **Function reset** (VFIO_DEVICE_RESET) when VFIO offers one: the kernel uses the first
//!    method of the device's sysfs `reset_method` that works (FLR, PM, a bus reset the device
//!    has to itself, ...), which the log names.
//! 2. **Bus hot reset** (VFIO_DEVICE_PCI_HOT_RESET) when every function the reset would touch is
//!    in an IOMMU group this VM holds; one hot reset serves every device it covers.
//! 3. **None**: the log says why (no method, or which foreign device a bus reset would hit).
//!
//! The choice is [`choose`], a pure function; [`Resets`] gathers the facts and acts.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use devices::vfio::ioctls::{DependentDevice, VfioIoctlsBackend, VfioResetFd};

/// How a device gets reset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResetMethod {
    /// VFIO_DEVICE_RESET; `kernel` is the device's sysfs `reset_method` list (what the kernel
    /// tries, in order), empty when unknown.
    Function {
        /// The kernel's methods, e.g. `["flr", "bus"]`.
        kernel: Vec<String>,
    },
    /// VFIO_DEVICE_PCI_HOT_RESET of the bus, which also resets `devices` (this one included).
    Bus {
        /// Every function the reset touches, `0000:01:00.0`.
        devices: Vec<String>,
        /// Their IOMMU groups.
        groups: Vec<u32>,
    },
    /// No reset: why not.
    None {
        /// The reason, for the log.
        reason: String,
    },
}

impl std::fmt::Display for ResetMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResetMethod::Function { kernel } if kernel.is_empty() => {
                write!(f, "function reset (VFIO_DEVICE_RESET)")
            }
            ResetMethod::Function { kernel } => write!(
                f,
                "function reset (VFIO_DEVICE_RESET; the kernel's method: {})",
                kernel.join(", then ")
            ),
            ResetMethod::Bus { devices, .. } => write!(
                f,
                "bus hot reset (VFIO_DEVICE_PCI_HOT_RESET) of {}",
                devices.join(", ")
            ),
            ResetMethod::None { reason } => write!(f, "no reset: {reason}"),
        }
    }
}

/// Chooses the reset of one device from what VFIO and sysfs say: whether VFIO offers a
/// function reset, the sysfs `reset_method` list, what a bus hot reset would touch (or why
/// there is none), and the IOMMU groups this VM holds.
pub fn choose(
    function_reset: bool,
    kernel_methods: &[String],
    hot_reset: Result<&[DependentDevice], String>,
    owned_groups: &[u32],
) -> ResetMethod {
    if function_reset {
        return ResetMethod::Function {
            kernel: kernel_methods.to_vec(),
        };
    }
    let affected = match hot_reset {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => {
            return ResetMethod::None {
                reason: "no function reset and a bus reset would touch no device".to_string(),
            }
        }
        Err(why) => {
            let methods = if kernel_methods.is_empty() {
                "none".to_string()
            } else {
                kernel_methods.join(" ")
            };
            return ResetMethod::None {
                reason: format!(
                    "the device has no FLR, PM or bus reset VFIO can use (sysfs reset_method: {methods}; bus hot reset: {why})"
                ),
            };
        }
    };
    let foreign: Vec<String> = affected
        .iter()
        .filter(|d| !owned_groups.contains(&d.group))
        .map(|d| format!("{d} (IOMMU group {})", d.group))
        .collect();
    if !foreign.is_empty() {
        return ResetMethod::None {
            reason: format!(
                "a bus hot reset would also reset {}, which this VM does not hold; pass those through too to allow it",
                foreign.join(", ")
            ),
        };
    }
    let mut groups: Vec<u32> = affected.iter().map(|d| d.group).collect();
    groups.sort_unstable();
    groups.dedup();
    ResetMethod::Bus {
        devices: affected.iter().map(|d| d.to_string()).collect(),
        groups,
    }
}

/// One passed-through device as the reset needs it.
struct Target {
    label: String,
    sysfs: PathBuf,
    group: Option<u32>,
    fd: VfioResetFd,
}

/// The devices of one VM, reset together.
pub struct Resets {
    targets: Vec<Target>,
}

impl Resets {
    /// Takes a reset handle (a duplicate fd) of each device: `(label, sysfs dir, backend)`.
    pub fn new<'a>(
        devices: impl IntoIterator<Item = (&'a str, &'a Path, &'a VfioIoctlsBackend)>,
    ) -> std::io::Result<Self> {
        let targets = devices
            .into_iter()
            .map(|(label, sysfs, backend)| {
                Ok(Target {
                    label: label.to_string(),
                    sysfs: sysfs.to_path_buf(),
                    group: iommu_group(sysfs),
                    fd: backend.reset_fd()?,
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Resets { targets })
    }

    /// Resets every device, each by the best method it has, and logs the method (`when`:
    /// "at start", "at exit"). A bus reset that covers several devices is done once.
    pub fn reset_all(&self, when: &str) {
        let owned: Vec<u32> = self.targets.iter().filter_map(|t| t.group).collect();
        let mut done: Vec<String> = Vec::new();
        for t in &self.targets {
            if done.contains(&t.label) {
                log::info!("{}: reset {when} with the bus hot reset above", t.label);
                continue;
            }
            let method = self.method(t, &owned);
            let result = match &method {
                ResetMethod::Function { .. } => t.fd.function_reset(),
                ResetMethod::Bus { devices, groups } => {
                    done.extend(devices.iter().cloned());
                    hot_reset(&t.fd, groups)
                }
                ResetMethod::None { .. } => Ok(()),
            };
            match result {
                Ok(()) if matches!(method, ResetMethod::None { .. }) => {
                    log::info!("{}: {method}; it keeps the state it was left in", t.label)
                }
                Ok(()) => log::info!("{}: reset {when} by {method}", t.label),
                Err(e) => log::warn!("{}: {method} {when} failed: {e}", t.label),
            }
        }
    }

    fn method(&self, t: &Target, owned: &[u32]) -> ResetMethod {
        let function = t.fd.function_reset_supported().unwrap_or(false);
        let kernel = kernel_methods(&t.sysfs);
        let hot = if function {
            Ok(Vec::new())
        } else {
            t.fd.hot_reset_info().map_err(|e| e.to_string())
        };
        choose(
            function,
            &kernel,
            hot.as_deref().map_err(Clone::clone),
            owned,
        )
    }
}

/// The kernel's reset methods for the device at `sysfs` (empty when it has none or the
/// kernel is too old to say).
fn kernel_methods(sysfs: &Path) -> Vec<String> {
    std::fs::read_to_string(sysfs.join("reset_method"))
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn iommu_group(sysfs: &Path) -> Option<u32> {
    std::fs::read_link(sysfs.join("iommu_group"))
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}

/// Hot reset with the fds of `groups`, which this process holds open (vfio-ioctls opened them
/// for the container and keeps them private; a group cannot be opened twice, so they are
/// found among this process's open files).
fn hot_reset(fd: &VfioResetFd, groups: &[u32]) -> std::io::Result<()> {
    let files = groups
        .iter()
        .map(|g| {
            open_group_fd(*g).ok_or_else(|| {
                std::io::Error::other(format!("this process holds no fd of /dev/vfio/{g}"))
            })
        })
        .collect::<std::io::Result<Vec<OwnedFd>>>()?;
    let fds: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
    fd.hot_reset(&fds)
}

/// A duplicate of this process's open fd of `/dev/vfio/GROUP`, if it has one.
fn open_group_fd(group: u32) -> Option<OwnedFd> {
    let want = PathBuf::from(format!("/dev/vfio/{group}"));
    let raw: i32 = std::fs::read_dir("/proc/self/fd")
        .ok()?
        .flatten()
        .find(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == want))?
        .file_name()
        .to_str()?
        .parse()
        .ok()?;
    // SAFETY: `raw` is an open fd of this process (just listed in /proc/self/fd): the group
    // file the VFIO container holds for as long as the VM lives, which outlives this call.
    // It is only borrowed to be duplicated.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    borrowed.try_clone_to_owned().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(group: u32, bus: u8, slot: u8) -> DependentDevice {
        DependentDevice {
            group,
            segment: 0,
            bus,
            devfn: slot << 3,
        }
    }

    fn methods(m: &[&str]) -> Vec<String> {
        m.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_function_reset_comes_first() {
        let m = choose(true, &methods(&["flr", "bus"]), Ok(&[]), &[]);
        assert_eq!(
            m.to_string(),
            "function reset (VFIO_DEVICE_RESET; the kernel's method: flr, then bus)"
        );
        let m = choose(true, &[], Err("x".into()), &[]);
        assert_eq!(m.to_string(), "function reset (VFIO_DEVICE_RESET)");
    }

    #[test]
    fn a_bus_reset_needs_every_affected_group() {
        let affected = [dev(4, 1, 1), dev(4, 1, 2)];
        let m = choose(false, &[], Ok(&affected), &[4]);
        assert_eq!(
            m,
            ResetMethod::Bus {
                devices: vec!["0000:01:01.0".into(), "0000:01:02.0".into()],
                groups: vec![4],
            }
        );
        assert_eq!(
            m.to_string(),
            "bus hot reset (VFIO_DEVICE_PCI_HOT_RESET) of 0000:01:01.0, 0000:01:02.0"
        );
        let affected = [dev(4, 1, 1), dev(7, 1, 2)];
        let m = choose(false, &methods(&["bus"]), Ok(&affected), &[4]);
        assert_eq!(
            m.to_string(),
            "no reset: a bus hot reset would also reset 0000:01:02.0 (IOMMU group 7), which this VM does not hold; pass those through too to allow it"
        );
        assert!(matches!(
            choose(false, &[], Ok(&affected), &[7, 4]),
            ResetMethod::Bus { groups, .. } if groups == vec![4, 7]
        ));
    }

    #[test]
    fn no_method_says_so() {
        let m = choose(
            false,
            &[],
            Err("Inappropriate ioctl for device".into()),
            &[1],
        );
        assert_eq!(
            m.to_string(),
            "no reset: the device has no FLR, PM or bus reset VFIO can use (sysfs reset_method: none; bus hot reset: Inappropriate ioctl for device)"
        );
    }

    #[test]
    fn dependent_devices_print_as_addresses() {
        let d = DependentDevice {
            group: 3,
            segment: 1,
            bus: 0x3a,
            devfn: 0x1f << 3 | 6,
        };
        assert_eq!(d.to_string(), "0001:3a:1f.6");
    }
}
