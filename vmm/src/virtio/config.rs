//! `--disk` and `--net`: parsing and checking, before anything is created on the host.
//!
//! `--disk PATH[,readonly=on][,id=NAME]`: the image must exist, be a regular file ovmm may open
//! the way the VM will use it (read-write unless `readonly=on`) and hold whole 512-byte
//! sectors. `--net tap=IFNAME[,mac=MAC]`: the TAP itself is checked when it is opened (its
//! existence and ovmm's permission), where the kernel answers for it.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use devices::virtio::block::SECTOR_SIZE;

use crate::config::ConfigError;

/// Longest serial virtio-blk can report.
pub const MAX_SERIAL: usize = 20;

/// One `--disk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    /// The raw image.
    pub path: PathBuf,
    /// `readonly=on`.
    pub read_only: bool,
    /// The serial the guest sees: `id=` or the image's file name, cut to 20 bytes.
    pub serial: String,
}

/// One `--net`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// The TAP interface.
    pub tap: String,
    /// `mac=`, or `None` for the default derived from the TAP's name.
    pub mac: Option<[u8; 6]>,
}

/// Every virtio device of the VM, in command-line order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtioConfig {
    /// `--disk`s.
    pub disks: Vec<DiskConfig>,
    /// `--net`s.
    pub nets: Vec<NetConfig>,
}

impl VirtioConfig {
    /// Parses and checks `--disk` and `--net` values.
    pub fn validate(disks: &[String], nets: &[String]) -> Result<VirtioConfig, ConfigError> {
        let mut cfg = VirtioConfig::default();
        for value in disks {
            let disk = DiskConfig::parse(value)?;
            let bad = |reason: String| ConfigError::BadDisk {
                value: value.clone(),
                reason,
            };
            if cfg.disks.iter().any(|d| same_file(&d.path, &disk.path)) {
                return Err(bad("this image is already given to another --disk".into()));
            }
            if cfg.disks.iter().any(|d| d.serial == disk.serial) && value.contains("id=") {
                return Err(bad(format!(
                    "id={} is already taken by another --disk",
                    disk.serial
                )));
            }
            check_image(&disk).map_err(bad)?;
            cfg.disks.push(disk);
        }
        for value in nets {
            let net = NetConfig::parse(value)?;
            if cfg.nets.iter().any(|n| n.tap == net.tap) {
                return Err(ConfigError::BadNet {
                    value: value.clone(),
                    reason: format!("TAP '{}' is already given to another --net", net.tap),
                });
            }
            cfg.nets.push(net);
        }
        Ok(cfg)
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl DiskConfig {
    /// Parses `PATH[,readonly=on|off][,id=NAME]`.
    pub fn parse(value: &str) -> Result<DiskConfig, ConfigError> {
        let bad = |reason: String| ConfigError::BadDisk {
            value: value.to_string(),
            reason,
        };
        let mut parts = value.split(',');
        let path = parts.next().unwrap_or_default();
        if path.is_empty() {
            return Err(bad("the image path is missing".into()));
        }
        let mut disk = DiskConfig {
            path: PathBuf::from(path),
            read_only: false,
            serial: default_serial(Path::new(path)),
        };
        for opt in parts {
            let (key, val) = opt
                .split_once('=')
                .ok_or_else(|| bad(format!("option '{opt}' is not key=value")))?;
            match key {
                "readonly" => {
                    disk.read_only = crate::config::parse_switch(val)
                        .ok_or_else(|| bad(format!("readonly={val}: use on or off")))?
                }
                "id" => {
                    let ok = !val.is_empty()
                        && val.len() <= MAX_SERIAL
                        && val.bytes().all(|b| b.is_ascii_graphic());
                    if !ok {
                        return Err(bad(format!(
                            "id={val}: use 1 to {MAX_SERIAL} printable ASCII characters without spaces"
                        )));
                    }
                    disk.serial = val.to_string();
                }
                _ => return Err(bad(format!("unknown option '{key}' (known: readonly, id)"))),
            }
        }
        Ok(disk)
    }

    /// Opens the image the way the VM uses it.
    pub fn open(&self) -> std::io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(!self.read_only)
            .open(&self.path)
    }
}

/// The image's file name, cut to what virtio-blk can report.
fn default_serial(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "disk".to_string());
    let mut serial: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    serial.truncate(MAX_SERIAL);
    serial
}

/// The image can be opened as the VM will open it and holds whole sectors.
fn check_image(disk: &DiskConfig) -> Result<(), String> {
    let path = disk.path.display();
    let mode = if disk.read_only {
        "reading"
    } else {
        "reading and writing (add readonly=on for a read-only disk)"
    };
    let file = disk
        .open()
        .map_err(|e| format!("cannot open '{path}' for {mode}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the size of '{path}': {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "'{path}' is not a regular file (ovmm takes raw image files)"
        ));
    }
    if meta.len() % SECTOR_SIZE != 0 {
        return Err(format!(
            "'{path}' is {} bytes, not a multiple of {SECTOR_SIZE}; pad it to whole sectors (truncate -s %512 '{path}' rounds it up)",
            meta.len()
        ));
    }
    if meta.len() == 0 {
        return Err(format!("'{path}' is empty"));
    }
    Ok(())
}

impl NetConfig {
    /// Parses `tap=IFNAME[,mac=MAC]`.
    pub fn parse(value: &str) -> Result<NetConfig, ConfigError> {
        let bad = |reason: String| ConfigError::BadNet {
            value: value.to_string(),
            reason,
        };
        let mut tap = None;
        let mut mac = None;
        for opt in value.split(',') {
            let (key, val) = opt
                .split_once('=')
                .ok_or_else(|| bad(format!("option '{opt}' is not key=value")))?;
            match key {
                "tap" if !val.is_empty() => tap = Some(val.to_string()),
                "tap" => return Err(bad("tap= needs an interface name".into())),
                "mac" => mac = Some(parse_mac(val).map_err(bad)?),
                _ => return Err(bad(format!("unknown option '{key}' (known: tap, mac)"))),
            }
        }
        let tap = tap.ok_or_else(|| bad("tap=IFNAME is missing".into()))?;
        Ok(NetConfig { tap, mac })
    }
}

/// Parses `52:54:00:12:34:56`; a multicast address is refused.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || format!("mac={s}: use six hex bytes separated by ':', e.g. 02:00:00:00:00:01");
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in mac.iter_mut() {
        let p = parts.next().filter(|p| p.len() == 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "mac={s} is a multicast address; the first byte must be even"
        ));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests;
