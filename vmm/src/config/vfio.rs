//! `--vfio` values: one host PCI function or a whole host slot, with their options, and the
//! guest address each function gets (from `addr=`, or the next free slot).
//!
//! [`resolve`] turns every value into [`VfioConfig`]s, one per function: a whole slot
//! (`--vfio 0000:01:00`) becomes one guest slot holding every function the host slot has, with
//! the host's function numbers; a single function becomes function 0 of its own guest slot
//! unless `addr=` says otherwise. Explicit addresses are claimed first, then the others take
//! the next free slots in command-line order.

use std::path::{Path, PathBuf};

use devices::pci::PciAddress;

use super::ConfigError;
use crate::host::Bdf;
use crate::pci::slots::{parse_guest_address, PciSlots};

/// Largest `romfile=` ovmm serves (ROM BARs of real devices are at most a few MiB).
pub const MAX_ROM_FILE: u64 = 16 << 20;

/// Options that only make sense for one function, refused on a whole slot.
const PER_FUNCTION: [&str; 6] = [
    "romfile",
    "vendor-id",
    "device-id",
    "sub-vendor-id",
    "sub-device-id",
    "class-code",
];

/// One host PCI function to pass through (`--vfio DEVICE[,opt=val...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VfioConfig {
    /// Its sysfs directory (`/sys/bus/pci/devices/0000:01:00.0`).
    pub sysfs: PathBuf,
    /// Its host address, for messages (`0000:01:00.0`).
    pub label: String,
    /// `intx=on`: hide MSI and MSI-X so the guest driver uses INTx.
    pub intx_only: bool,
    /// `managed=on`: bind the device's IOMMU group to vfio-pci before the VM starts and give
    /// it back to its drivers when the VM ends.
    pub managed: bool,
    /// `vendor-id=`, `device-id=`, `sub-vendor-id=`, `sub-device-id=`, `class-code=` (hex): the
    /// IDs the guest sees instead of the device's own.
    pub ids: devices::vfio::PciIdOverrides,
    /// `rombar=off` hides the device's expansion ROM from the guest.
    pub rombar: bool,
    /// `romfile=PATH`: the guest sees this file as the device's ROM instead of its own.
    pub romfile: Option<PathBuf>,
    /// The guest address: from `addr=`, or given by [`resolve`] (always set after
    /// validation; a configuration built by hand may leave it to the build).
    pub addr: Option<PciAddress>,
}

/// What one `--vfio` value names.
enum Target {
    /// One function.
    Function,
    /// Every function of a host slot; `Bdf` is its function 0.
    Slot(Bdf),
}

/// One parsed `--vfio` value.
struct Parsed {
    value: String,
    target: Target,
    /// Options, applied to every function.
    template: VfioConfig,
    /// `addr=`: slot and, if given, function.
    guest: Option<(u8, Option<u8>)>,
}

impl VfioConfig {
    /// Parses `DEVICE[,opt=val...]` naming one function; DEVICE is `0000:01:00.0`, `01:00.0`
    /// or a sysfs path. Options: `intx`, `managed`, `rombar` (on/off), the ID overrides
    /// (hex), `romfile=PATH` and `addr=SLOT[.FUNCTION]` (hex). A whole slot (`0000:01:00`)
    /// needs [`resolve`], which reads the host's functions.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let parsed = parse_value(value)?;
        if let Target::Slot(_) = parsed.target {
            return Err(bad(
                value,
                "a whole slot is expanded by the VM configuration",
            ));
        }
        let mut cfg = parsed.template;
        if let Some((slot, function)) = parsed.guest {
            cfg.addr = Some(guest(value, slot, function.unwrap_or(0))?);
        }
        Ok(cfg)
    }
}

fn bad(value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadVfio {
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn guest(value: &str, slot: u8, function: u8) -> Result<PciAddress, ConfigError> {
    PciAddress::new(0, slot, function).map_err(|e| bad(value, e.to_string()))
}

/// Splits DEVICE from its options and parses both.
fn parse_value(value: &str) -> Result<Parsed, ConfigError> {
    let mut parts = value.split(',');
    let device = parts.next().unwrap_or_default();
    let (sysfs, bdf, target) = parse_device(value, device)?;
    let mut cfg = VfioConfig {
        sysfs,
        label: bdf.to_string(),
        intx_only: false,
        managed: false,
        ids: Default::default(),
        rombar: true,
        romfile: None,
        addr: None,
    };
    let mut guest = None;
    for opt in parts {
        let (key, val) = opt
            .split_once('=')
            .ok_or_else(|| bad(value, format!("option '{opt}' is not key=value")))?;
        if matches!(target, Target::Slot(_)) && PER_FUNCTION.contains(&key) {
            return Err(bad(
                value,
                format!("{key}= applies to one function, not a whole slot: give the functions one by one (--vfio {slot}.0,addr=SLOT.0,{key}=... --vfio {slot}.1,addr=SLOT.1 ...)", slot = slot_name(&bdf)),
            ));
        }
        let switch = |what: &str| {
            parse_switch(val).ok_or_else(|| bad(value, format!("{what}={val}: use on or off")))
        };
        let id = |max| parse_id(key, val, max).map_err(|r| bad(value, r));
        match key {
            "intx" => cfg.intx_only = switch(key)?,
            "managed" => cfg.managed = switch(key)?,
            "rombar" => cfg.rombar = switch(key)?,
            "vendor-id" => cfg.ids.vendor_id = Some(id(0xffff)? as u16),
            "device-id" => cfg.ids.device_id = Some(id(0xffff)? as u16),
            "sub-vendor-id" => cfg.ids.subsystem_vendor_id = Some(id(0xffff)? as u16),
            "sub-device-id" => cfg.ids.subsystem_id = Some(id(0xffff)? as u16),
            "class-code" => cfg.ids.class_code = Some(id(0xff_ffff)?),
            "romfile" if val.is_empty() => return Err(bad(value, "romfile= needs a path")),
            "romfile" => cfg.romfile = Some(PathBuf::from(val)),
            "addr" => guest = Some(parse_guest_address(val).map_err(|r| bad(value, r))?),
            _ => {
                return Err(bad(
                    value,
                    format!("unknown option '{key}' (known: intx, managed, rombar, romfile, addr, vendor-id, device-id, sub-vendor-id, sub-device-id, class-code)"),
                ))
            }
        }
    }
    if cfg.romfile.is_some() && !cfg.rombar {
        return Err(bad(
            value,
            "romfile= and rombar=off contradict each other: keep one",
        ));
    }
    if let (Target::Slot(_), Some((_, Some(f)))) = (&target, guest) {
        if f != 0 {
            return Err(bad(
                value,
                format!("a whole slot keeps the host's function numbers: give addr=SLOT, not a function ({f})"),
            ));
        }
    }
    Ok(Parsed {
        value: value.to_string(),
        target,
        template: cfg,
        guest,
    })
}

/// DEVICE: a sysfs path, a function (`[dddd:]bb:ss.f`) or a slot (`[dddd:]bb:ss`).
fn parse_device(value: &str, device: &str) -> Result<(PathBuf, Bdf, Target), ConfigError> {
    if device.contains('/') {
        let path = PathBuf::from(device);
        let bdf = crate::host::bdf::last_in_path(&path).ok_or_else(|| {
            bad(
                value,
                format!("'{device}' does not end in a PCI address such as 0000:01:00.0"),
            )
        })?;
        return Ok((path, bdf, Target::Function));
    }
    if !device.contains('.') {
        if let Ok(first) = format!("{device}.0").parse::<Bdf>() {
            let sysfs = Path::new("/").join(first.sysfs_dir());
            return Ok((sysfs, first, Target::Slot(first)));
        }
    }
    let bdf: Bdf = device.parse().map_err(|e| bad(value, format!("{e}")))?;
    Ok((Path::new("/").join(bdf.sysfs_dir()), bdf, Target::Function))
}

/// `0000:01:00` for the slot of `bdf`.
fn slot_name(bdf: &Bdf) -> String {
    format!("{:04x}:{:02x}:{:02x}", bdf.domain, bdf.bus, bdf.device)
}

/// A hex ID (`0x1af4` or `1af4`) no larger than `max`.
fn parse_id(key: &str, val: &str, max: u32) -> Result<u32, String> {
    let digits = val
        .strip_prefix("0x")
        .or_else(|| val.strip_prefix("0X"))
        .unwrap_or(val);
    u32::from_str_radix(digits, 16)
        .ok()
        .filter(|&v| v <= max)
        .ok_or_else(|| format!("{key}={val}: use a hex number up to {max:#x}"))
}

pub(crate) fn parse_switch(v: &str) -> Option<bool> {
    match v {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// The functions of host slot `first` (its function 0) that exist below `root`, lowest first.
fn slot_functions(root: &Path, first: Bdf) -> Vec<Bdf> {
    let mut found: Vec<Bdf> = (0..8)
        .map(|f| Bdf {
            function: f,
            ..first
        })
        .filter(|b| root.join(b.sysfs_dir()).exists())
        .collect();
    found.sort();
    found
}

/// Parses every `--vfio` value, expands whole slots from the PCI devices below `root` (the
/// system root, `/`), checks `romfile=` files, refuses a function named twice, and gives each
/// function its guest address.
pub fn resolve(values: &[String], root: &Path) -> Result<Vec<VfioConfig>, ConfigError> {
    let mut groups: Vec<(Parsed, Vec<VfioConfig>)> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for value in values {
        let parsed = parse_value(value)?;
        let functions = match parsed.target {
            Target::Function => vec![parsed.template.clone()],
            Target::Slot(first) => {
                let found = slot_functions(root, first);
                if found.is_empty() {
                    return Err(ConfigError::NoSuchSlot {
                        value: value.clone(),
                        slot: slot_name(&first),
                    });
                }
                found
                    .into_iter()
                    .map(|bdf| VfioConfig {
                        sysfs: Path::new("/").join(bdf.sysfs_dir()),
                        label: bdf.to_string(),
                        ..parsed.template.clone()
                    })
                    .collect()
            }
        };
        for f in &functions {
            if labels.contains(&f.label) {
                return Err(ConfigError::DuplicateVfio(f.label.clone()));
            }
            labels.push(f.label.clone());
            if let Some(path) = &f.romfile {
                check_romfile(&f.label, path)?;
            }
        }
        groups.push((parsed, functions));
    }
    assign_addresses(&mut groups)?;
    Ok(groups.into_iter().flat_map(|(_, f)| f).collect())
}

/// `addr=` first, then the next free slots in command-line order; every slot must end up
/// with a function 0.
fn assign_addresses(groups: &mut [(Parsed, Vec<VfioConfig>)]) -> Result<(), ConfigError> {
    let mut slots = PciSlots::new();
    let host_function = |f: &VfioConfig| f.label.parse::<Bdf>().map_or(0, |b| b.function);
    for explicit in [true, false] {
        for (parsed, functions) in groups.iter_mut() {
            if parsed.guest.is_some() != explicit {
                continue;
            }
            let slot = match parsed.guest {
                Some((slot, _)) => slot,
                None => slots.next_free_slot(&functions[0].label)?,
            };
            for f in functions.iter_mut() {
                let function = match (&parsed.target, parsed.guest) {
                    (Target::Slot(_), _) => host_function(f),
                    (Target::Function, Some((_, function))) => function.unwrap_or(0),
                    (Target::Function, None) => 0,
                };
                let at = guest(&parsed.value, slot, function)?;
                slots.claim(at, &f.label)?;
                f.addr = Some(at);
            }
        }
    }
    slots.check()?;
    Ok(())
}

/// A `romfile=` must be a readable, non-empty file of at most [`MAX_ROM_FILE`] bytes.
fn check_romfile(device: &str, path: &Path) -> Result<(), ConfigError> {
    let problem = |problem: String| ConfigError::RomFile {
        device: device.to_string(),
        path: path.to_path_buf(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(problem("is not a regular file".to_string()));
    }
    std::fs::File::open(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
    match meta.len() {
        0 => Err(problem(
            "is empty; a ROM image starts with 0x55 0xaa".to_string(),
        )),
        n if n > MAX_ROM_FILE => Err(problem(format!(
            "is {n} bytes, more than the {} MiB ovmm serves as a ROM",
            MAX_ROM_FILE >> 20
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
