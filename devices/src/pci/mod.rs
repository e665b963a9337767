//! PCI for ovmm: the root complex on bus 0 (a host bridge, config cycles through 0xCF8/0xCFC
//! and ECAM), config-space registers with per-bit write masks, BARs, and the MSI and MSI-X
//! capabilities.
//!
//! Nothing here knows VFIO or KVM. [`crate::vfio`] builds a passed-through function on these
//! parts. The VMM places devices on the [`root::PciRoot`], puts [`root::PciConfigIo`] and
//! [`root::PciConfigMmio`] on its buses, and applies the [`config_space::ConfigEffect`]s that
//! config writes produce (a BAR that starts, stops or moves decoding) through the
//! [`root::PciEffectHandler`] it gave the root. Devices raise interrupts through the
//! handles in [`interrupt`].
//!
//! - [`bar`]: BAR kinds, sizes, register encoding, placement errors.
//! - [`config_space`]: the 4 KiB register file with write masks and returned effects.
//! - [`device`]: the [`device::PciDevice`] trait and the BAR trap bus adapter.
//! - [`interrupt`]: MSI messages, the [`interrupt::MsiInterrupts`] router handle, INTx lines.
//! - [`msi`], [`msix`]: the MSI capability and the MSI-X capability, table and PBA.
//! - [`root`]: the root complex and the two config access mechanisms.

pub mod bar;
pub mod config_space;
pub mod device;
pub mod interrupt;
pub mod msi;
pub mod msix;
pub mod root;

use std::fmt;

pub use bar::{BarError, BarInfo, BarKind, BarRemap};
pub use config_space::{ConfigEffect, PciConfigSpace};
pub use device::{BarTrap, PciDevice, SharedPciDevice};
pub use interrupt::{IntxLine, MsiInterrupts, MsiMessage, MsiVector, VectorUpdate};
pub use root::{EffectQueue, PciConfigIo, PciConfigMmio, PciEffectHandler, PciRoot};

/// Slots on a bus.
pub const SLOTS_PER_BUS: u8 = 32;
/// Functions in a slot.
pub const FUNCTIONS_PER_SLOT: u8 = 8;

/// A bus/device/function address on PCI segment 0, shown as `0000:00:03.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    bus: u8,
    device: u8,
    function: u8,
}

impl PciAddress {
    /// The address of `bus`:`device`.`function`; fails if the device or function number is
    /// out of range.
    pub fn new(bus: u8, device: u8, function: u8) -> Result<Self, PciAddressError> {
        if device >= SLOTS_PER_BUS || function >= FUNCTIONS_PER_SLOT {
            return Err(PciAddressError { device, function });
        }
        Ok(PciAddress {
            bus,
            device,
            function,
        })
    }

    /// Bus number.
    pub fn bus(&self) -> u8 {
        self.bus
    }

    /// Device (slot) number, 0 to 31.
    pub fn device(&self) -> u8 {
        self.device
    }

    /// Function number, 0 to 7.
    pub fn function(&self) -> u8 {
        self.function
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "0000:{:02x}:{:02x}.{}",
            self.bus, self.device, self.function
        )
    }
}

/// A device or function number out of range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("PCI device {device} function {function} is out of range (devices 0-31, functions 0-7)")]
pub struct PciAddressError {
    /// The device number given.
    pub device: u8,
    /// The function number given.
    pub function: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_display_and_range() {
        let address = PciAddress::new(0, 0x1f, 7).unwrap();
        assert_eq!(address.to_string(), "0000:00:1f.7");
        assert_eq!(
            PciAddress::new(0, 32, 0),
            Err(PciAddressError {
                device: 32,
                function: 0
            })
        );
        assert!(PciAddress::new(1, 0, 8).is_err());
    }
}
