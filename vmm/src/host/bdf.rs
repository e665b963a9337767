//! PCI addresses (`0000:01:00.0`, or `01:00.0` for domain 0) and their sysfs paths.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A PCI function address: domain, bus, device (slot) and function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bdf {
    /// PCI segment (domain); 16 bits on most hosts, up to 32 on VMD hosts.
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device (slot) number, 0..=31.
    pub device: u8,
    /// Function number, 0..=7.
    pub function: u8,
}

/// Why a string is not a PCI address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a PCI address ({reason}); write it as 0000:01:00.0 or 01:00.0")]
pub struct BdfError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Bdf {
    /// A function address.
    pub fn new(domain: u32, bus: u8, device: u8, function: u8) -> Bdf {
        Bdf {
            domain,
            bus,
            device,
            function,
        }
    }

    /// The device's directory relative to the system root: `sys/bus/pci/devices/0000:01:00.0`.
    pub fn sysfs_dir(&self) -> String {
        format!("sys/bus/pci/devices/{self}")
    }

    /// The path of one attribute of the device relative to the system root.
    pub fn sysfs(&self, attr: &str) -> String {
        format!("sys/bus/pci/devices/{self}/{attr}")
    }
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

fn hex_field(s: &str, max_digits: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

impl FromStr for Bdf {
    type Err = BdfError;

    fn from_str(input: &str) -> Result<Bdf, BdfError> {
        let err = |reason| BdfError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        let (slot, function) = s.rsplit_once('.').ok_or_else(|| err("no '.function'"))?;
        let function = hex_field(function, 1).ok_or_else(|| err("bad function"))?;
        if function > 7 {
            return Err(err("function is above 7"));
        }
        let parts: Vec<&str> = slot.split(':').collect();
        let (domain, bus, device) = match parts.as_slice() {
            [bus, device] => (0, *bus, *device),
            [domain, bus, device] => {
                let domain = hex_field(domain, 8).ok_or_else(|| err("bad domain"))?;
                (domain, *bus, *device)
            }
            _ => return Err(err("expected domain:bus:device.function")),
        };
        let bus = hex_field(bus, 2).ok_or_else(|| err("bad bus"))?;
        let device = hex_field(device, 2).ok_or_else(|| err("bad device"))?;
        if device > 31 {
            return Err(err("device is above 1f"));
        }
        Ok(Bdf::new(domain, bus as u8, device as u8, function as u8))
    }
}

impl TryFrom<String> for Bdf {
    type Error = BdfError;

    fn try_from(s: String) -> Result<Bdf, BdfError> {
        s.parse()
    }
}

impl From<Bdf> for String {
    fn from(b: Bdf) -> String {
        b.to_string()
    }
}

/// The last path component that reads as a full PCI address, e.g. the device in
/// `/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/net/eth0`.
pub fn last_in_path(path: &std::path::Path) -> Option<Bdf> {
    all_in_path(path).pop()
}

/// Every path component that reads as a full PCI address, outermost first.
pub fn all_in_path(path: &std::path::Path) -> Vec<Bdf> {
    path.components()
        .filter_map(|c| c.as_os_str().to_str())
        .filter(|c| c.matches(':').count() == 2)
        .filter_map(|c| c.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_full_and_short_forms() {
        let b: Bdf = "0001:03:00.0".parse().unwrap();
        assert_eq!(b, Bdf::new(1, 3, 0, 0));
        assert_eq!(b.to_string(), "0001:03:00.0");
        let s: Bdf = "01:00.1".parse().unwrap();
        assert_eq!(s, Bdf::new(0, 1, 0, 1));
        assert_eq!(s.to_string(), "0000:01:00.1");
        let u: Bdf = "0000:3D:1F.7".parse().unwrap();
        assert_eq!(u, Bdf::new(0, 0x3d, 0x1f, 7));
        let vmd: Bdf = "10000:e1:00.0".parse().unwrap();
        assert_eq!(vmd.domain, 0x10000);
        assert_eq!(vmd.to_string(), "10000:e1:00.0");
    }

    #[test]
    fn errors_name_the_input_and_the_fault() {
        let cases = [
            ("01:00", "no '.function'"),
            ("01:00.8", "function is above 7"),
            ("01:20.0", "device is above 1f"),
            ("0000:100:00.0", "bad bus"),
            ("zz:00.0", "bad bus"),
            ("1:2:3:4.0", "expected domain:bus:device.function"),
            ("", "no '.function'"),
        ];
        for (input, reason) in cases {
            let e = input.parse::<Bdf>().unwrap_err();
            assert_eq!(e.reason, reason, "{input}");
            assert!(e.to_string().contains(&format!("{input:?}")), "{e}");
        }
    }

    #[test]
    fn sysfs_paths_and_serde() {
        let b = Bdf::new(0, 1, 0, 0);
        assert_eq!(b.sysfs_dir(), "sys/bus/pci/devices/0000:01:00.0");
        assert_eq!(b.sysfs("driver"), "sys/bus/pci/devices/0000:01:00.0/driver");
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"0000:01:00.0\"");
        let back: Bdf = serde_json::from_str("\"01:00.0\"").unwrap();
        assert_eq!(back, b);
        assert!(serde_json::from_str::<Bdf>("\"nope\"").is_err());
    }

    #[test]
    fn finds_addresses_in_sysfs_paths() {
        let p = Path::new("/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0/net/eth0");
        assert_eq!(last_in_path(p), Some(Bdf::new(0, 3, 0, 0)));
        assert_eq!(
            all_in_path(p),
            vec![Bdf::new(0, 0, 0x1c, 0), Bdf::new(0, 3, 0, 0)]
        );
        assert_eq!(
            last_in_path(Path::new("/sys/devices/platform/serial8250")),
            None
        );
    }
}
