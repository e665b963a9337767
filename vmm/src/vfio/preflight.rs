//! Checks made before anything is opened, so that a device ovmm cannot use is reported in
//! one clear sentence and the host is left exactly as it was.
//!
//! Every path is read below a root directory (`/` in production, a fake tree in tests).

use std::path::{Path, PathBuf};

use crate::config::VfioConfig;

/// Why a device cannot be passed through as things stand.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreflightError {
    /// VFIO is not available at all.
    #[error(
        "VFIO is not available (no /dev/vfio/vfio): load the vfio-pci module (modprobe vfio-pci)"
    )]
    NoVfio,
    /// The device does not exist.
    #[error("PCI device {0} does not exist on this host (`ovmm host list` shows the devices)")]
    NotFound(String),
    /// The device has no IOMMU group.
    #[error("{0} has no IOMMU group: the IOMMU is off or missing; enable it in the firmware and on the host kernel command line (intel_iommu=on or amd_iommu=on); `ovmm host check {0}` says more")]
    NoIommu(String),
    /// The device is not bound to vfio-pci.
    #[error("{label} is {}, not to vfio-pci: run `ovmm host bind {label}` first", match driver { Some(d) => format!("bound to {d}"), None => "bound to no driver".to_string() })]
    NotVfioPci {
        /// The device.
        label: String,
        /// Its current driver.
        driver: Option<String>,
    },
    /// Another member of the group is still used by the host.
    #[error("IOMMU group {group} of {label} is not viable: it also holds {}; the devices of a group can only go to one VM together: {fix}", others.join(", "))]
    GroupNotViable {
        /// The device.
        label: String,
        /// Its group number.
        group: String,
        /// "0000:01:00.1 (driver snd_hda_intel)" for each blocking member.
        others: Vec<String>,
        /// What to do: bind the group, and pass the members that are not passed yet.
        fix: String,
    },
    /// The group's device node cannot be opened.
    #[error("cannot open {path} for {label}: {reason}; run ovmm as root or give your user access to it (chown or a udev rule)")]
    Permission {
        /// The device.
        label: String,
        /// `/dev/vfio/N`.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// RLIMIT_MEMLOCK too low to pin guest memory.
    #[error("RLIMIT_MEMLOCK is {limit_mib} MiB but passthrough pins all {needed_mib} MiB of guest memory: raise it (`ulimit -l {needed_kib}`, or LimitMEMLOCK=infinity in a systemd unit)")]
    Memlock {
        /// Current limit, MiB.
        limit_mib: u64,
        /// Guest memory, MiB.
        needed_mib: u64,
        /// Guest memory, KiB (the unit `ulimit -l` takes).
        needed_kib: u64,
    },
}

fn read_link_name(path: &Path) -> Option<String> {
    std::fs::read_link(path)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// Checks every device of `devices` below `root`; `memory` is the guest RAM size.
pub fn check(root: &Path, devices: &[VfioConfig], memory: u64) -> Result<(), PreflightError> {
    if devices.is_empty() {
        return Ok(());
    }
    if !root.join("dev/vfio/vfio").exists() {
        return Err(PreflightError::NoVfio);
    }
    for d in devices {
        check_device(root, d, devices)?;
    }
    check_memlock(memory)
}

fn sysfs_dir(root: &Path, d: &VfioConfig) -> PathBuf {
    root.join(d.sysfs.strip_prefix("/").unwrap_or(&d.sysfs))
}

fn check_device(root: &Path, d: &VfioConfig, all: &[VfioConfig]) -> Result<(), PreflightError> {
    let dir = sysfs_dir(root, d);
    if !dir.join("config").exists() {
        return Err(PreflightError::NotFound(d.label.clone()));
    }
    let group = read_link_name(&dir.join("iommu_group"))
        .ok_or_else(|| PreflightError::NoIommu(d.label.clone()))?;
    let driver = read_link_name(&dir.join("driver"));
    if driver.as_deref() != Some("vfio-pci") {
        return Err(PreflightError::NotVfioPci {
            label: d.label.clone(),
            driver,
        });
    }
    let members = root
        .join("sys/kernel/iommu_groups")
        .join(&group)
        .join("devices");
    let mut others = Vec::new();
    let mut not_passed = Vec::new();
    for entry in std::fs::read_dir(&members).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == d.label {
            continue;
        }
        let member = entry.path();
        let driver = read_link_name(&member.join("driver"));
        let is_bridge = std::fs::read_to_string(member.join("class"))
            .map(|c| c.trim().starts_with("0x0604"))
            .unwrap_or(false);
        let fine = match driver.as_deref() {
            None | Some("vfio-pci") | Some("pci-stub") => true,
            Some("pcieport") => is_bridge,
            Some(_) => false,
        };
        if !fine {
            let also_passed = all.iter().any(|o| o.label == name);
            let why = if also_passed {
                ", also given with --vfio"
            } else {
                not_passed.push(format!("--vfio {name}"));
                ""
            };
            others.push(format!(
                "{name} (driver {}{why})",
                driver.unwrap_or_default()
            ));
        }
    }
    if !others.is_empty() {
        others.sort();
        not_passed.sort();
        let bind = format!(
            "run `ovmm host bind {}` (it binds the whole group to vfio-pci) or add managed=on",
            d.label
        );
        let fix = if not_passed.is_empty() {
            bind
        } else {
            format!(
                "{bind}, and pass the others too ({}), or leave them bound to vfio-pci unused",
                not_passed.join(" ")
            )
        };
        return Err(PreflightError::GroupNotViable {
            label: d.label.clone(),
            group,
            others,
            fix,
        });
    }
    let node = root.join("dev/vfio").join(&group);
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&node)
        .map(drop)
        .map_err(|e| PreflightError::Permission {
            label: d.label.clone(),
            path: format!("/dev/vfio/{group}"),
            reason: e.to_string(),
        })
}

/// The process may pin `memory` bytes: it has CAP_IPC_LOCK or a high enough RLIMIT_MEMLOCK.
fn check_memlock(memory: u64) -> Result<(), PreflightError> {
    if has_ipc_lock() {
        return Ok(());
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        return Ok(());
    }
    if lim.rlim_cur == libc::RLIM_INFINITY || lim.rlim_cur >= memory {
        return Ok(());
    }
    Err(PreflightError::Memlock {
        limit_mib: lim.rlim_cur >> 20,
        needed_mib: memory >> 20,
        needed_kib: memory >> 10,
    })
}

/// Whether the effective capabilities include CAP_IPC_LOCK (bit 14).
fn has_ipc_lock() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 14) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Tree(PathBuf);
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tree(name: &str) -> Tree {
        let t = std::env::temp_dir().join(format!("ovmm-preflight-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(t.join("dev/vfio")).unwrap();
        std::fs::write(t.join("dev/vfio/vfio"), "").unwrap();
        Tree(t)
    }

    fn device(t: &Tree, bdf: &str, group: &str, driver: Option<&str>, class: &str) {
        let dir = t.0.join("sys/bus/pci/devices").join(bdf);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config"), [0u8; 64]).unwrap();
        std::fs::write(dir.join("class"), format!("{class}\n")).unwrap();
        let g = t.0.join("sys/kernel/iommu_groups").join(group);
        std::fs::create_dir_all(g.join("devices")).unwrap();
        symlink(&g, dir.join("iommu_group")).unwrap();
        symlink(&dir, g.join("devices").join(bdf)).unwrap();
        if let Some(d) = driver {
            let drv = t.0.join("sys/bus/pci/drivers").join(d);
            std::fs::create_dir_all(&drv).unwrap();
            symlink(&drv, dir.join("driver")).unwrap();
        }
        std::fs::write(t.0.join("dev/vfio").join(group), "").unwrap();
    }

    fn cfg(bdf: &str) -> VfioConfig {
        VfioConfig::parse(bdf).unwrap()
    }

    #[test]
    fn a_bound_device_in_a_viable_group_passes() {
        let t = tree("ok");
        device(&t, "0000:00:03.0", "5", Some("vfio-pci"), "0x020000");
        device(&t, "0000:00:02.0", "5", Some("pcieport"), "0x060400");
        device(&t, "0000:00:04.0", "5", None, "0x020000");
        check(&t.0, &[cfg("00:03.0")], 64 << 20).unwrap();
    }

    #[test]
    fn each_problem_is_named() {
        let t = tree("errs");
        device(&t, "0000:00:03.0", "5", Some("vfio-pci"), "0x020000");
        device(&t, "0000:00:03.1", "5", Some("snd_hda_intel"), "0x040300");
        device(&t, "0000:00:05.0", "6", Some("e1000e"), "0x020000");
        let e = check(&t.0, &[cfg("00:03.0")], 1 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IOMMU group 5 of 0000:00:03.0 is not viable: it also holds 0000:00:03.1 (driver snd_hda_intel); the devices of a group can only go to one VM together: run `ovmm host bind 0000:00:03.0` (it binds the whole group to vfio-pci) or add managed=on, and pass the others too (--vfio 0000:00:03.1), or leave them bound to vfio-pci unused"
        );
        // Both given: binding is the whole fix.
        let e = check(&t.0, &[cfg("00:03.0"), cfg("00:03.1")], 1 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IOMMU group 5 of 0000:00:03.0 is not viable: it also holds 0000:00:03.1 (driver snd_hda_intel, also given with --vfio); the devices of a group can only go to one VM together: run `ovmm host bind 0000:00:03.0` (it binds the whole group to vfio-pci) or add managed=on"
        );
        let e = check(&t.0, &[cfg("00:05.0")], 1 << 20).unwrap_err();
        assert!(e
            .to_string()
            .contains("bound to e1000e, not to vfio-pci: run `ovmm host bind 0000:00:05.0`"));
        assert_eq!(
            check(&t.0, &[cfg("00:09.0")], 1 << 20),
            Err(PreflightError::NotFound("0000:00:09.0".into()))
        );
        std::fs::remove_file(t.0.join("dev/vfio/vfio")).unwrap();
        assert_eq!(
            check(&t.0, &[cfg("00:05.0")], 1 << 20),
            Err(PreflightError::NoVfio)
        );
    }

    #[test]
    fn a_shared_group_is_accepted_when_all_are_passed_or_the_rest_is_unused_on_vfio() {
        let t = tree("shared");
        device(&t, "0000:01:01.0", "4", Some("vfio-pci"), "0x020000");
        device(&t, "0000:01:02.0", "4", Some("vfio-pci"), "0x020000");
        device(&t, "0000:00:0d.0", "4", None, "0x060400");
        check(&t.0, &[cfg("01:01.0"), cfg("01:02.0")], 1 << 20).unwrap();
        check(&t.0, &[cfg("01:01.0")], 1 << 20).unwrap();
    }

    #[test]
    fn no_group_means_no_iommu() {
        let t = tree("noiommu");
        let dir = t.0.join("sys/bus/pci/devices/0000:00:07.0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config"), [0u8; 64]).unwrap();
        let e = check(&t.0, &[cfg("00:07.0")], 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no IOMMU group") && e.contains("intel_iommu=on"),
            "{e}"
        );
    }
}
