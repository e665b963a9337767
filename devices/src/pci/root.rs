//! The PCI root complex: bus 0 with a host bridge at 00:00.0 and up to 32 slots of 8
//! functions, reached through the two config access mechanisms: [`PciConfigIo`] (ports
//! 0xCF8-0xCFF) and [`PciConfigMmio`] (ECAM, 4 KiB per function).
//!
//! Config writes can change where BARs decode. The root hands those [`ConfigEffect`]s to the
//! [`PciEffectHandler`] it was built with, synchronously, after the device's lock is
//! released and before the guest's access completes; the VMM's handler moves KVM slots and
//! bus entries. [`EffectQueue`] is a handler that only records, for tests and for a VMM that
//! prefers to drain effects itself.
//!
//! Lock order: the device map's lock is released before a device is locked, and no lock of
//! the root is held while the effect handler runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use super::bar::{BarError, BarInfo};
use super::config_space::{
    ConfigEffect, PciConfigSpace, CLASS_CODE, COMMAND, COMMAND_BUS_MASTER, COMMAND_IO_SPACE,
    COMMAND_MEMORY_SPACE, CONFIG_SPACE_SIZE, DEVICE_ID, HEADER_TYPE, HEADER_TYPE_MULTI_FUNCTION,
    STATUS, STATUS_W1C_BITS, VENDOR_ID,
};
use super::device::{lock_device, PciDevice, SharedPciDevice};
use super::{PciAddress, SLOTS_PER_BUS};
use crate::bus::BusDevice;

/// Vendor ID of the host bridge: Red Hat's block for virtual hardware.
pub const HOST_BRIDGE_VENDOR_ID: u16 = 0x1b36;
/// Device ID of the host bridge ("PCIe host bridge"; guests apply no quirks to it).
pub const HOST_BRIDGE_DEVICE_ID: u16 = 0x0008;
/// Class code of a host bridge.
pub const HOST_BRIDGE_CLASS: u32 = 0x06_0000;
/// First port of the 0xCF8 mechanism.
pub const CONFIG_IO_BASE: u64 = 0xcf8;
/// Ports taken by the 0xCF8 mechanism (address at 0xCF8, data at 0xCFC-0xCFF).
pub const CONFIG_IO_LEN: u64 = 8;
/// ECAM bytes per bus (32 devices x 8 functions x 4 KiB).
pub const ECAM_BUS_SIZE: u64 = 1 << 20;

const CONFIG_ADDRESS_ENABLE: u32 = 0x8000_0000;
/// Bits of 0xCF8 that hold something: enable, bus, device, function, dword register.
const CONFIG_ADDRESS_MASK: u32 = 0x80ff_fffc;

/// Receives what config writes changed, tagged with the function that changed.
pub trait PciEffectHandler: Send + Sync {
    /// Applies one effect. Called on the vCPU thread of the config write, with no PCI lock
    /// held; the guest continues once it returns.
    fn apply(&self, device: PciAddress, effect: ConfigEffect);
}

/// A [`PciEffectHandler`] that records effects until [`EffectQueue::drain`].
#[derive(Debug, Default)]
pub struct EffectQueue {
    effects: Mutex<Vec<(PciAddress, ConfigEffect)>>,
}

impl EffectQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every effect recorded so far, oldest first.
    pub fn drain(&self) -> Vec<(PciAddress, ConfigEffect)> {
        std::mem::take(&mut *self.effects.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl PciEffectHandler for EffectQueue {
    fn apply(&self, device: PciAddress, effect: ConfigEffect) {
        self.effects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((device, effect));
    }
}

/// Errors from placing devices on the root bus.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PciRootError {
    /// The address already holds a function.
    #[error("PCI address {0} is already taken")]
    AddressTaken(PciAddress),
    /// Only bus 0 exists.
    #[error("PCI address {0} is not on bus 0, the only bus ovmm emulates")]
    NotOnBus0(PciAddress),
    /// Every slot of bus 0 is taken.
    #[error("no free slot left on PCI bus 0 (32 slots)")]
    NoFreeSlot,
}

/// Bus 0 and the functions on it.
pub struct PciRoot {
    devices: RwLock<BTreeMap<PciAddress, SharedPciDevice>>,
    effects: Arc<dyn PciEffectHandler>,
}

impl PciRoot {
    /// A bus 0 holding only the host bridge at 00:00.0; effects go to `effects`.
    pub fn new(effects: Arc<dyn PciEffectHandler>) -> Self {
        let mut devices: BTreeMap<PciAddress, SharedPciDevice> = BTreeMap::new();
        devices.insert(
            host_bridge_address(),
            Arc::new(Mutex::new(HostBridge::new())),
        );
        PciRoot {
            devices: RwLock::new(devices),
            effects,
        }
    }

    /// Puts `device` at function 0 of the lowest free slot and returns its address.
    pub fn add_device(&self, device: SharedPciDevice) -> Result<PciAddress, PciRootError> {
        let mut devices = self.devices.write().unwrap_or_else(|e| e.into_inner());
        let slot = (0..SLOTS_PER_BUS)
            .find(|&slot| !devices.keys().any(|a| a.bus() == 0 && a.device() == slot))
            .ok_or(PciRootError::NoFreeSlot)?;
        let address = PciAddress {
            bus: 0,
            device: slot,
            function: 0,
        };
        devices.insert(address, device);
        Ok(address)
    }

    /// Puts `device` at `address`. A slot with functions other than 0 is shown to the guest
    /// as multi-function (bit 7 of function 0's header type).
    pub fn add_device_at(
        &self,
        address: PciAddress,
        device: SharedPciDevice,
    ) -> Result<(), PciRootError> {
        if address.bus() != 0 {
            return Err(PciRootError::NotOnBus0(address));
        }
        let mut devices = self.devices.write().unwrap_or_else(|e| e.into_inner());
        if devices.contains_key(&address) {
            return Err(PciRootError::AddressTaken(address));
        }
        devices.insert(address, device);
        Ok(())
    }

    /// The function at `address`, if any.
    pub fn device(&self, address: PciAddress) -> Option<SharedPciDevice> {
        let devices = self.devices.read().unwrap_or_else(|e| e.into_inner());
        devices.get(&address).cloned()
    }

    /// Every function on the bus, by address (the host bridge first).
    pub fn devices(&self) -> Vec<(PciAddress, SharedPciDevice)> {
        let devices = self.devices.read().unwrap_or_else(|e| e.into_inner());
        devices.iter().map(|(a, d)| (*a, d.clone())).collect()
    }

    /// Reads the dword at `offset` (rounded down to a multiple of 4) of `address`'s config
    /// space. Absent functions and offsets past 4 KiB read as all-ones.
    pub fn config_read(&self, address: PciAddress, offset: u16) -> u32 {
        let offset = offset & !3;
        if usize::from(offset) >= CONFIG_SPACE_SIZE {
            return u32::MAX;
        }
        let (device, multi_function) = {
            let devices = self.devices.read().unwrap_or_else(|e| e.into_inner());
            let Some(device) = devices.get(&address).cloned() else {
                return u32::MAX;
            };
            let multi_function = address.function() == 0
                && devices.keys().any(|a| {
                    a.bus() == address.bus() && a.device() == address.device() && *a != address
                });
            (device, multi_function)
        };
        let value = lock_device(&device).config_read(offset);
        if multi_function && offset == HEADER_TYPE & !3 {
            value | u32::from(HEADER_TYPE_MULTI_FUNCTION) << (8 * (HEADER_TYPE % 4))
        } else {
            value
        }
    }

    /// Writes `data` (1, 2 or 4 bytes within one dword) at `offset` of `address`'s config
    /// space and passes the resulting effects to the handler. Writes to absent functions
    /// are dropped.
    pub fn config_write(&self, address: PciAddress, offset: u16, data: &[u8]) {
        if !fits_in_dword(u64::from(offset), data.len()) || usize::from(offset) >= CONFIG_SPACE_SIZE
        {
            log::warn!(
                "dropping a {}-byte config write at {offset:#x} of {address}",
                data.len()
            );
            return;
        }
        let Some(device) = self.device(address) else {
            return;
        };
        let effects = lock_device(&device).config_write(offset, data);
        for effect in effects {
            self.effects.apply(address, effect);
        }
    }
}

/// The host bridge at 00:00.0: IDs, class 0x060000, a command register, no BARs.
pub struct HostBridge {
    config: PciConfigSpace,
}

impl HostBridge {
    /// A host bridge in its reset state.
    pub fn new() -> Self {
        let mut config = PciConfigSpace::new();
        config.set_u16(VENDOR_ID, HOST_BRIDGE_VENDOR_ID);
        config.set_u16(DEVICE_ID, HOST_BRIDGE_DEVICE_ID);
        config.set_u32(CLASS_CODE - 1, HOST_BRIDGE_CLASS << 8);
        config.set_writable_u16(
            COMMAND,
            COMMAND_IO_SPACE | COMMAND_MEMORY_SPACE | COMMAND_BUS_MASTER,
        );
        config.set_w1c_u16(STATUS, STATUS_W1C_BITS);
        HostBridge { config }
    }
}

impl Default for HostBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl PciDevice for HostBridge {
    fn debug_label(&self) -> &str {
        "host bridge"
    }

    fn config_read(&self, offset: u16) -> u32 {
        self.config.read_u32(offset)
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) -> Vec<ConfigEffect> {
        self.config.write(offset, data)
    }

    fn bars(&self) -> &[BarInfo] {
        self.config.bars()
    }

    fn set_bar_address(&mut self, bar: u8, address: u64) -> Result<Vec<ConfigEffect>, BarError> {
        self.config.set_bar_address(bar, address)
    }

    fn bar_read(&mut self, _bar: u8, _offset: u64, data: &mut [u8]) {
        data.fill(0xff);
    }

    fn bar_write(&mut self, _bar: u8, _offset: u64, _data: &[u8]) {}
}

/// Config mechanism #1: the address register at 0xCF8 (dword accesses only) and the data
/// window at 0xCFC-0xCFF (byte, word or dword). Reaches the first 256 bytes of each function.
pub struct PciConfigIo {
    root: Arc<PciRoot>,
    address: u32,
}

impl PciConfigIo {
    /// The mechanism over `root`, with the address register cleared (disabled).
    pub fn new(root: Arc<PciRoot>) -> Self {
        PciConfigIo { root, address: 0 }
    }

    /// The function and register the address register selects, if its enable bit is set.
    fn selected(&self) -> Option<(PciAddress, u16)> {
        if self.address & CONFIG_ADDRESS_ENABLE == 0 {
            return None;
        }
        let address = PciAddress {
            bus: (self.address >> 16) as u8,
            device: ((self.address >> 11) & 0x1f) as u8,
            function: ((self.address >> 8) & 0x7) as u8,
        };
        Some((address, (self.address & 0xfc) as u16))
    }
}

impl BusDevice for PciConfigIo {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        data.fill(0xff);
        if offset == 0 && data.len() == 4 {
            data.copy_from_slice(&self.address.to_le_bytes());
            return;
        }
        let Some(byte) = offset.checked_sub(4) else {
            return;
        };
        if !fits_in_dword(byte, data.len()) {
            return;
        }
        if let Some((address, register)) = self.selected() {
            let value = self.root.config_read(address, register);
            extract(value, byte as usize, data);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset == 0 {
            if let Ok(bytes) = <[u8; 4]>::try_from(data) {
                self.address = u32::from_le_bytes(bytes) & CONFIG_ADDRESS_MASK;
            }
            return;
        }
        let Some(byte) = offset.checked_sub(4) else {
            return;
        };
        if !fits_in_dword(byte, data.len()) {
            return;
        }
        if let Some((address, register)) = self.selected() {
            self.root
                .config_write(address, register + byte as u16, data);
        }
    }
}

/// ECAM (MMCONFIG): bus, device, function and register decoded from the offset in the
/// window (bus in bits 27:20, device 19:15, function 14:12, register 11:0). Byte, word and
/// dword accesses within one dword.
pub struct PciConfigMmio {
    root: Arc<PciRoot>,
}

impl PciConfigMmio {
    /// ECAM over `root`; the VMM maps it with `buses * ECAM_BUS_SIZE` bytes.
    pub fn new(root: Arc<PciRoot>) -> Self {
        PciConfigMmio { root }
    }
}

fn decode_ecam(offset: u64) -> Option<(PciAddress, u16)> {
    let bus = u8::try_from(offset >> 20).ok()?;
    let address = PciAddress {
        bus,
        device: ((offset >> 15) & 0x1f) as u8,
        function: ((offset >> 12) & 0x7) as u8,
    };
    Some((address, (offset & 0xfff) as u16))
}

impl BusDevice for PciConfigMmio {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        data.fill(0xff);
        if !fits_in_dword(offset, data.len()) {
            log::warn!("ECAM: ignoring a {}-byte read at {offset:#x}", data.len());
            return;
        }
        if let Some((address, register)) = decode_ecam(offset) {
            let value = self.root.config_read(address, register);
            extract(value, usize::from(register % 4), data);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if !fits_in_dword(offset, data.len()) {
            log::warn!("ECAM: ignoring a {}-byte write at {offset:#x}", data.len());
            return;
        }
        if let Some((address, register)) = decode_ecam(offset) {
            self.root.config_write(address, register, data);
        }
    }
}

fn host_bridge_address() -> PciAddress {
    PciAddress {
        bus: 0,
        device: 0,
        function: 0,
    }
}

/// Whether an access of `len` bytes at `offset` is 1, 2 or 4 bytes and stays within one dword.
fn fits_in_dword(offset: u64, len: usize) -> bool {
    matches!(len, 1 | 2 | 4) && (offset % 4) as usize + len <= 4
}

/// Copies `data.len()` bytes of `value`, starting at byte `byte`, into `data`.
fn extract(value: u32, byte: usize, data: &mut [u8]) {
    let bytes = value.to_le_bytes();
    data.copy_from_slice(&bytes[byte..byte + data.len()]);
}

#[cfg(test)]
mod tests;
