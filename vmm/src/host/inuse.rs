//! Devices the host itself still needs: the NIC carrying the default route, controllers of
//! disks with mounted filesystems or active swap, and the console's GPU. Taking one of these
//! away cuts the host off, so bind and check refuse them unless forced.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::bdf::{self, Bdf};
use super::sysroot::SysRoot;

/// Why the host needs a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "use", rename_all = "kebab-case")]
pub enum HostUse {
    /// The network interface with a default route.
    DefaultRoute {
        /// The interface that carries the route (maybe a bridge or bond above the NIC).
        iface: String,
    },
    /// A block device with a mounted filesystem (or swap).
    Mounted {
        /// The block device, e.g. `/dev/nvme0n1p2`.
        dev: String,
        /// Where it is mounted (`[swap]` for swap).
        mountpoint: String,
    },
    /// The GPU the console boots on.
    Console {
        /// Where that was read.
        why: String,
    },
}

impl HostUse {
    /// The check code for this use.
    pub fn code(&self) -> &'static str {
        match self {
            HostUse::DefaultRoute { .. } => "OVMM-HOST-NIC",
            HostUse::Mounted { .. } => "OVMM-HOST-DISK",
            HostUse::Console { .. } => "OVMM-HOST-CONSOLE",
        }
    }
}

impl fmt::Display for HostUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostUse::DefaultRoute { iface } => {
                write!(f, "network interface {iface} carries the default route")
            }
            HostUse::Mounted { dev, mountpoint } if mountpoint == "[swap]" => {
                write!(f, "{dev} is active swap")
            }
            HostUse::Mounted { dev, mountpoint } => write!(f, "{dev} is mounted on {mountpoint}"),
            HostUse::Console { why } => write!(f, "it drives the console ({why})"),
        }
    }
}

/// What the host uses each PCI device for.
pub type HostUses = BTreeMap<Bdf, Vec<HostUse>>;

/// Collects every device the host needs.
pub fn host_uses(root: &SysRoot) -> HostUses {
    let mut uses = HostUses::new();
    let mut add = |bdfs: Vec<Bdf>, u: HostUse| {
        for b in bdfs {
            let list = uses.entry(b).or_default();
            if !list.contains(&u) {
                list.push(u.clone());
            }
        }
    };
    for iface in default_route_ifaces(root) {
        add(
            net_devices(root, &iface, 0),
            HostUse::DefaultRoute { iface },
        );
    }
    for (dev, mountpoint) in mounted_block_devices(root) {
        let name = block_name(root, &dev);
        add(
            block_devices(root, &name, 0),
            HostUse::Mounted { dev, mountpoint },
        );
    }
    for (bdf, why) in console_gpus(root) {
        add(vec![bdf], HostUse::Console { why });
    }
    uses
}

/// Interfaces with an IPv4 or IPv6 default route.
fn default_route_ifaces(root: &SysRoot) -> Vec<String> {
    let mut ifaces = Vec::new();
    let v4 = root.read_opt("proc/net/route").unwrap_or_default();
    for line in v4.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
        if f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000" {
            ifaces.push(f[0].to_string());
        }
    }
    let v6 = root.read_opt("proc/net/ipv6_route").unwrap_or_default();
    for line in v6.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // dest plen src splen nexthop metric refcnt use flags iface
        if f.len() >= 10 && f[0].bytes().all(|b| b == b'0') && f[1] == "00" && f[9] != "lo" {
            ifaces.push(f[9].to_string());
        }
    }
    ifaces.sort();
    ifaces.dedup();
    ifaces
}

/// The PCI devices under a network interface, following bonds, bridges and VLANs down to
/// their lower devices.
fn net_devices(root: &SysRoot, iface: &str, depth: u32) -> Vec<Bdf> {
    let dir = format!("sys/class/net/{iface}");
    if let Some(b) = root
        .canonical(&format!("{dir}/device"))
        .and_then(|p| bdf::last_in_path(&p))
    {
        return vec![b];
    }
    if depth >= 4 {
        return Vec::new();
    }
    let mut lower: Vec<String> = root
        .list(&dir)
        .into_iter()
        .filter_map(|n| n.strip_prefix("lower_").map(str::to_string))
        .collect();
    lower.extend(root.list(&format!("{dir}/brif")));
    lower.sort();
    lower.dedup();
    lower
        .iter()
        .flat_map(|l| net_devices(root, l, depth + 1))
        .collect()
}

/// `(device, mountpoint)` for every mounted `/dev/...` filesystem and active swap device.
fn mounted_block_devices(root: &SysRoot) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mounts = root.read_opt("proc/mounts").unwrap_or_default();
    let root_arg = root.read_opt("proc/cmdline").and_then(|c| {
        c.split_whitespace()
            .find_map(|w| w.strip_prefix("root=/dev/").map(|d| format!("/dev/{d}")))
    });
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(dev), Some(mnt)) = (f.next(), f.next()) else {
            continue;
        };
        if !dev.starts_with("/dev/") {
            continue;
        }
        // OpenWrt and some initramfs setups show the root filesystem as /dev/root.
        let dev = match (&root_arg, dev) {
            (Some(r), "/dev/root") => r.clone(),
            _ => dev.to_string(),
        };
        out.push((dev, mnt.to_string()));
    }
    let swaps = root.read_opt("proc/swaps").unwrap_or_default();
    for line in swaps.lines().skip(1) {
        if let Some(dev) = line
            .split_whitespace()
            .next()
            .filter(|d| d.starts_with("/dev/"))
        {
            out.push((dev.to_string(), "[swap]".to_string()));
        }
    }
    out
}

/// The kernel name of a block device node (`/dev/mapper/root` -> `dm-0`).
fn block_name(root: &SysRoot, dev: &str) -> String {
    root.canonical(dev)
        .and_then(|p| p.file_name()?.to_str().map(str::to_string))
        .unwrap_or_else(|| dev.rsplit('/').next().unwrap_or(dev).to_string())
}

/// The PCI controllers behind a block device, following device-mapper and md to their
/// underlying disks.
fn block_devices(root: &SysRoot, name: &str, depth: u32) -> Vec<Bdf> {
    let dir = format!("sys/class/block/{name}");
    let slaves = root.list(&format!("{dir}/slaves"));
    if !slaves.is_empty() && depth < 4 {
        return slaves
            .iter()
            .flat_map(|s| block_devices(root, s, depth + 1))
            .collect();
    }
    root.canonical(&dir)
        .and_then(|p| bdf::last_in_path(&p))
        .into_iter()
        .collect()
}

/// GPUs the console runs on: `boot_vga` set, or the device behind a framebuffer.
fn console_gpus(root: &SysRoot) -> Vec<(Bdf, String)> {
    let mut out = Vec::new();
    for bdf in super::pci::all_devices(root) {
        if root.read_opt(&bdf.sysfs("boot_vga")).as_deref() == Some("1") {
            out.push((bdf, format!("{} = 1", root.shown(&bdf.sysfs("boot_vga")))));
        }
    }
    for fb in root.list("sys/class/graphics") {
        let link = format!("sys/class/graphics/{fb}/device");
        if let Some(b) = root.canonical(&link).and_then(|p| bdf::last_in_path(&p)) {
            out.push((b, format!("framebuffer {fb}")));
        }
    }
    out
}
