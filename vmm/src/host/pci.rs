//! What one host PCI device looks like in sysfs: identity, driver, IOMMU group, whether it is a
//! bridge, its BARs (`resource`) and the bits of config space ovmm reads (PCIe capability:
//! port type and slot power limit).

use serde::Serialize;

use super::bdf::{self, Bdf};
use super::class::class_name;
use super::error::HostError;
use super::sysroot::SysRoot;

/// The driver that makes a device usable by ovmm.
pub const VFIO_PCI: &str = "vfio-pci";

/// What a device is, as far as passthrough cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A normal (type 0 header) function: can be passed through.
    Endpoint,
    /// A PCI-to-PCI bridge or switch port: stays with the host.
    Bridge,
    /// A PCIe root port: a bridge directly below the host bridge.
    RootPort,
    /// A host bridge (class 0x0600): the CPU side of the bus, never passed through.
    HostBridge,
}

impl Kind {
    /// Bridges, root ports and host bridges: they stay with the host.
    pub fn is_bridge(self) -> bool {
        self != Kind::Endpoint
    }
}

/// One host PCI function as read from sysfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciDevice {
    /// Its address.
    pub bdf: Bdf,
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// 24-bit class code.
    pub class: u32,
    /// The bound driver, if any.
    pub driver: Option<String>,
    /// The content of `driver_override`, if set.
    pub driver_override: Option<String>,
    /// The IOMMU group, if the IOMMU covers it.
    pub group: Option<u32>,
    /// Endpoint or bridge.
    pub kind: Kind,
}

impl PciDevice {
    /// Reads the device at `bdf`.
    pub fn read(root: &SysRoot, bdf: Bdf) -> Result<PciDevice, HostError> {
        if !root.exists(&bdf.sysfs_dir()) {
            return Err(HostError::NoDevice(bdf));
        }
        let class = root.read_hex(&bdf.sysfs("class")).unwrap_or(0) as u32;
        let config = read_config(root, bdf);
        Ok(PciDevice {
            bdf,
            vendor: root.read_hex(&bdf.sysfs("vendor")).unwrap_or(0xffff) as u16,
            device: root.read_hex(&bdf.sysfs("device")).unwrap_or(0xffff) as u16,
            class,
            driver: driver(root, bdf),
            driver_override: driver_override(root, bdf),
            group: root
                .link_name(&bdf.sysfs("iommu_group"))
                .and_then(|g| g.parse().ok()),
            kind: kind(root, bdf, class, &config),
        })
    }

    /// `vendor:device` in lowercase hex.
    pub fn ids(&self) -> String {
        format!("{:04x}:{:04x}", self.vendor, self.device)
    }

    /// The class in words.
    pub fn class_name(&self) -> &'static str {
        class_name(self.class)
    }

    /// Whether the bound driver is vfio-pci or a VFIO variant driver.
    pub fn on_vfio(&self) -> bool {
        self.driver.as_deref().is_some_and(is_vfio_driver)
    }
}

/// Whether `driver` gives userspace the device through VFIO: vfio-pci, or a variant driver
/// such as `mlx5_vfio_pci` or `nvgrace_gpu_vfio_pci`.
pub fn is_vfio_driver(driver: &str) -> bool {
    driver == VFIO_PCI || driver.ends_with("_vfio_pci") || driver.ends_with("-vfio-pci")
}

/// The driver bound to `bdf`, if any.
pub fn driver(root: &SysRoot, bdf: Bdf) -> Option<String> {
    root.link_name(&bdf.sysfs("driver"))
}

/// The device's `driver_override`; the kernel shows "(null)" when it is unset.
pub fn driver_override(root: &SysRoot, bdf: Bdf) -> Option<String> {
    root.read_opt(&bdf.sysfs("driver_override"))
        .filter(|s| !s.is_empty() && s != "(null)")
}

/// Every PCI function on the host, sorted.
pub fn all_devices(root: &SysRoot) -> Vec<Bdf> {
    let mut all: Vec<Bdf> = root
        .list("sys/bus/pci/devices")
        .iter()
        .filter_map(|name| name.parse().ok())
        .collect();
    all.sort();
    all
}

/// The bridges above `bdf`, outermost first, from its place in `/sys/devices`.
pub fn upstream(root: &SysRoot, bdf: Bdf) -> Vec<Bdf> {
    let Some(path) = root.canonical(&bdf.sysfs_dir()) else {
        return Vec::new();
    };
    let mut chain = bdf::all_in_path(&path);
    chain.pop();
    chain
}

/// Config space as far as the caller may read it (64 bytes for non-root users).
pub fn read_config(root: &SysRoot, bdf: Bdf) -> Vec<u8> {
    root.read_bytes(&bdf.sysfs("config")).unwrap_or_default()
}

fn kind(root: &SysRoot, bdf: Bdf, class: u32, config: &[u8]) -> Kind {
    if class >> 8 == 0x0600 {
        return Kind::HostBridge;
    }
    let bridge = match config.get(0x0e) {
        Some(header) => matches!(header & 0x7f, 1 | 2),
        None => {
            matches!(class >> 8, 0x0604 | 0x0607 | 0x0609) || root.exists(&bdf.sysfs("pci_bus"))
        }
    };
    if !bridge {
        return Kind::Endpoint;
    }
    let root_port = match pcie_cap(config) {
        Some(cap) => cap.port_type == PORT_ROOT,
        // Without the capability (non-root callers read only 64 bytes), a bridge with no
        // bridge above it sits on the root bus.
        None => upstream(root, bdf).is_empty(),
    };
    if root_port {
        Kind::RootPort
    } else {
        Kind::Bridge
    }
}

/// PCIe capability device/port type of a root port.
pub const PORT_ROOT: u8 = 4;

/// The PCI Express capability of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcieCap {
    /// Offset in config space.
    pub offset: usize,
    /// Device/port type (0 endpoint, 4 root port, 5/6 switch up/down port, ...).
    pub port_type: u8,
    /// Whether the port has a slot.
    pub slot_implemented: bool,
}

fn u16_at(config: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes([
        *config.get(off)?,
        *config.get(off + 1)?,
    ]))
}

fn u32_at(config: &[u8], off: usize) -> Option<u32> {
    let b = config.get(off..off + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The offset of the standard capability `id`, walking the list from 0x34.
pub fn find_cap(config: &[u8], id: u8) -> Option<usize> {
    let status = u16_at(config, 0x06)?;
    if status & 0x10 == 0 {
        return None;
    }
    let mut ptr = usize::from(*config.get(0x34)? & 0xfc);
    // At most 48 capabilities fit in 192 bytes; the bound also stops loops.
    for _ in 0..48 {
        if ptr < 0x40 {
            return None;
        }
        if *config.get(ptr)? == id {
            return Some(ptr);
        }
        ptr = usize::from(*config.get(ptr + 1)? & 0xfc);
    }
    None
}

/// The PCIe capability (id 0x10), if present and readable.
pub fn pcie_cap(config: &[u8]) -> Option<PcieCap> {
    let offset = find_cap(config, 0x10)?;
    let flags = u16_at(config, offset + 2)?;
    Some(PcieCap {
        offset,
        port_type: ((flags >> 4) & 0xf) as u8,
        slot_implemented: flags & 0x100 != 0,
    })
}

/// A slot power limit in milliwatts from its 8-bit value and 2-bit scale (PCIe base spec:
/// scale 0 = 1 W, 1 = 0.1 W, 2 = 0.01 W, 3 = 0.001 W; values 0xF0-0xF2 at scale 0 mean
/// 250/275/300 W). Zero means "not set".
pub fn power_milliwatts(value: u8, scale: u8) -> Option<u32> {
    let v = u32::from(value);
    match (value, scale & 3) {
        (0, _) => None,
        (0xf0, 0) => Some(250_000),
        (0xf1, 0) => Some(275_000),
        (0xf2, 0) => Some(300_000),
        (0xf3..=0xff, 0) => None,
        (_, 0) => Some(v * 1000),
        (_, 1) => Some(v * 100),
        (_, 2) => Some(v * 10),
        _ => Some(v),
    }
}

/// The slot power limit a port advertises in Slot Capabilities (PCIe cap + 0x14, bits 7-14
/// value, 15-16 scale), when the port has a slot.
pub fn slot_cap_power(config: &[u8]) -> Option<u32> {
    let cap = pcie_cap(config)?;
    if !cap.slot_implemented {
        return None;
    }
    let slot_cap = u32_at(config, cap.offset + 0x14)?;
    power_milliwatts((slot_cap >> 7) as u8, ((slot_cap >> 15) & 3) as u8)
}

/// The slot power limit an endpoint captured from its port (Device Capabilities, PCIe cap
/// + 0x04, bits 18-25 value, 26-27 scale).
pub fn captured_slot_power(config: &[u8]) -> Option<u32> {
    let cap = pcie_cap(config)?;
    let dev_cap = u32_at(config, cap.offset + 0x04)?;
    power_milliwatts((dev_cap >> 18) as u8, ((dev_cap >> 26) & 3) as u8)
}

/// The kind of address space a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// I/O ports.
    Io,
    /// Memory below 4 GiB (32-bit BAR or the ROM).
    Mem32,
    /// Memory anywhere (64-bit BAR).
    Mem64,
}

/// One BAR (or the expansion ROM) from the device's `resource` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bar {
    /// BAR number 0-5; 6 is the expansion ROM.
    pub index: u8,
    /// Size in bytes.
    pub size: u64,
    /// Address space.
    pub space: Space,
    /// Prefetchable memory.
    pub prefetch: bool,
}

const IORESOURCE_IO: u64 = 0x100;
const IORESOURCE_MEM: u64 = 0x200;
const IORESOURCE_PREFETCH: u64 = 0x2000;
const IORESOURCE_MEM_64: u64 = 0x10_0000;

/// Parses a `resource` file: one `start end flags` line per resource; lines 0-5 are BARs,
/// line 6 the ROM, later lines (SR-IOV, bridge windows) are ignored.
pub fn parse_resources(text: &str) -> Vec<Bar> {
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    let mut bars = Vec::new();
    for (index, line) in text.lines().take(7).enumerate() {
        let f: Vec<u64> = line.split_whitespace().filter_map(hex).collect();
        let [start, end, flags] = f[..] else { continue };
        if flags & (IORESOURCE_IO | IORESOURCE_MEM) == 0 || end <= start {
            continue;
        }
        let space = if flags & IORESOURCE_IO != 0 {
            Space::Io
        } else if flags & IORESOURCE_MEM_64 != 0 && index < 6 {
            Space::Mem64
        } else {
            Space::Mem32
        };
        bars.push(Bar {
            index: index as u8,
            size: end - start + 1,
            space,
            prefetch: flags & IORESOURCE_PREFETCH != 0,
        });
    }
    bars
}

/// The device's BARs and ROM.
pub fn bars(root: &SysRoot, bdf: Bdf) -> Vec<Bar> {
    root.read_opt(&bdf.sysfs("resource"))
        .map(|t| parse_resources(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 256 bytes of config space with a PCIe capability at 0x40.
    fn config_with_pcie(port_type: u8, slot: bool, dev_cap: u32, slot_cap: u32) -> Vec<u8> {
        let mut c = vec![0u8; 256];
        c[0x06] = 0x10; // capability list
        c[0x0e] = if port_type == PORT_ROOT { 1 } else { 0 };
        c[0x34] = 0x40;
        c[0x40] = 0x10;
        c[0x41] = 0x00;
        let flags: u16 = 2 | (u16::from(port_type) << 4) | if slot { 0x100 } else { 0 };
        c[0x42..0x44].copy_from_slice(&flags.to_le_bytes());
        c[0x44..0x48].copy_from_slice(&dev_cap.to_le_bytes());
        c[0x54..0x58].copy_from_slice(&slot_cap.to_le_bytes());
        c
    }

    #[test]
    fn walks_to_the_pcie_capability() {
        let mut c = config_with_pcie(PORT_ROOT, true, 0, 0);
        // Put a PM capability first: 0x40 -> 0x60 (PCIe).
        c.copy_within(0x40..0x44, 0x60);
        c[0x40] = 0x01;
        c[0x41] = 0x60;
        let cap = pcie_cap(&c).unwrap();
        assert_eq!(cap.offset, 0x60);
        assert_eq!(cap.port_type, PORT_ROOT);
        assert!(cap.slot_implemented);
        assert_eq!(find_cap(&c, 0x05), None);
        // No capability list bit, or only the 64 bytes a non-root user may read.
        let mut none = c.clone();
        none[0x06] = 0;
        assert_eq!(pcie_cap(&none), None);
        assert_eq!(pcie_cap(&c[..64]), None);
        // A list that loops on itself ends.
        let mut looped = vec![0u8; 256];
        looped[0x06] = 0x10;
        looped[0x34] = 0x40;
        looped[0x40] = 0x05;
        looped[0x41] = 0x40;
        assert_eq!(find_cap(&looped, 0x10), None);
    }

    #[test]
    fn decodes_slot_power_limits() {
        // 40 W: value 40, scale 0 (1 W) in Slot Capabilities bits 7-16.
        let port = config_with_pcie(PORT_ROOT, true, 0, 40 << 7);
        assert_eq!(slot_cap_power(&port), Some(40_000));
        // 25 W as 250 x 0.1 W.
        let port = config_with_pcie(PORT_ROOT, true, 0, (250 << 7) | (1 << 15));
        assert_eq!(slot_cap_power(&port), Some(25_000));
        // No slot: nothing to read.
        let port = config_with_pcie(PORT_ROOT, false, 0, 40 << 7);
        assert_eq!(slot_cap_power(&port), None);
        // An endpoint that captured 75 W in Device Capabilities bits 18-27.
        let ep = config_with_pcie(0, false, 75 << 18, 0);
        assert_eq!(captured_slot_power(&ep), Some(75_000));
        assert_eq!(power_milliwatts(0xf1, 0), Some(275_000));
        assert_eq!(power_milliwatts(0, 0), None);
        assert_eq!(power_milliwatts(0xf5, 0), None);
        assert_eq!(power_milliwatts(7, 3), Some(7));
    }

    #[test]
    fn parses_bars_from_resource() {
        let text = "\
0x00000000f0000000 0x00000000f0ffffff 0x0000000000040200
0x0000006000000000 0x000000600fffffff 0x000000000014220c
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000006010000000 0x0000006011ffffff 0x000000000014220c
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x000000000000e000 0x000000000000e07f 0x0000000000040101
0x00000000f1000000 0x00000000f107ffff 0x0000000000046200
0x0000000000000000 0x0000000000000000 0x0000000000000000
";
        let bars = parse_resources(text);
        assert_eq!(
            bars,
            vec![
                Bar {
                    index: 0,
                    size: 16 << 20,
                    space: Space::Mem32,
                    prefetch: false
                },
                Bar {
                    index: 1,
                    size: 256 << 20,
                    space: Space::Mem64,
                    prefetch: true
                },
                Bar {
                    index: 3,
                    size: 32 << 20,
                    space: Space::Mem64,
                    prefetch: true
                },
                Bar {
                    index: 5,
                    size: 128,
                    space: Space::Io,
                    prefetch: false
                },
                Bar {
                    index: 6,
                    size: 512 << 10,
                    space: Space::Mem32,
                    prefetch: true
                },
            ]
        );
    }
}
