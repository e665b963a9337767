//! What a PCI function looks like to the root complex and to the VMM: the [`PciDevice`]
//! trait, and [`BarTrap`], the bus adapter that sends guest accesses to a trapped part of a
//! BAR to its device.

use std::sync::{Arc, Mutex, MutexGuard};

use super::bar::{BarError, BarInfo};
use super::config_space::ConfigEffect;
use crate::bus::BusDevice;

/// A PCI function on the root bus. Every method is required: there are no defaults to forget.
pub trait PciDevice: Send {
    /// A short name for logs and errors (for a passed-through device, its host address).
    fn debug_label(&self) -> &str;

    /// Reads the dword at `offset` (a multiple of 4 below 4096). Registers the function does
    /// not implement read as 0.
    fn config_read(&self, offset: u16) -> u32;

    /// Writes 1, 2 or 4 bytes at `offset` (within one dword) and returns what the VMM must
    /// apply outside the device (BARs that now decode elsewhere).
    fn config_write(&mut self, offset: u16, data: &[u8]) -> Vec<ConfigEffect>;

    /// The function's BARs with their sizes and current addresses, for the VMM to place them
    /// and to size the PCI windows.
    fn bars(&self) -> &[BarInfo];

    /// Places BAR `bar` at `address` (called by the VMM before the guest runs). Returns the
    /// change in decoding, empty while the guest has not enabled the BAR's space.
    fn set_bar_address(&mut self, bar: u8, address: u64) -> Result<Vec<ConfigEffect>, BarError>;

    /// A guest read at `offset` within a trapped part of BAR `bar`.
    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]);

    /// A guest write at `offset` within a trapped part of BAR `bar`.
    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]);
}

/// How PCI devices are shared between the root complex, the BAR traps and the VMM.
pub type SharedPciDevice = Arc<Mutex<dyn PciDevice>>;

/// Locks a shared PCI device; a poisoned mutex is still used (the registers are plain data).
pub fn lock_device(device: &SharedPciDevice) -> MutexGuard<'_, dyn PciDevice + 'static> {
    device.lock().unwrap_or_else(|e| e.into_inner())
}

/// A [`BusDevice`] for one trapped range of a BAR: the VMM inserts it on the MMIO bus (or the
/// port I/O bus for an I/O BAR) at `BAR address + start` with the range's length, and bus
/// offsets become BAR offsets `start + offset`.
pub struct BarTrap {
    device: SharedPciDevice,
    bar: u8,
    start: u64,
}

impl BarTrap {
    /// Traps the range of BAR `bar` that starts `start` bytes into the BAR.
    pub fn new(device: SharedPciDevice, bar: u8, start: u64) -> Self {
        BarTrap { device, bar, start }
    }
}

impl BusDevice for BarTrap {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        lock_device(&self.device).bar_read(self.bar, self.start + offset, data);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        lock_device(&self.device).bar_write(self.bar, self.start + offset, data);
    }
}
