//! The hardware-reduced ACPI sleep and reset registers, one byte each in a 4-byte block (the
//! VMM places it at I/O port 0x600; the FADT points at it):
//!
//! | offset | register        | FADT field         | behaviour                               |
//! |--------|-----------------|--------------------|-----------------------------------------|
//! | 0      | sleep control   | SLEEP_CONTROL_REG  | write: SLP_EN (bit 5) with SLP_TYP      |
//! |        |                 |                    | (bits 2..=4) = 5 sends `PowerOff`; other|
//! |        |                 |                    | sleep types are logged and the guest    |
//! |        |                 |                    | "wakes up" at once. Reads 0.            |
//! | 1      | sleep status    | SLEEP_STATUS_REG   | bit 7 WAK_STS: set by such a wake-up,   |
//! |        |                 |                    | cleared by writing 1 to it              |
//! | 2      | reset           | RESET_REG          | writing 1 (the FADT's RESET_VALUE)      |
//! |        |                 |                    | sends `Reset`; other values are ignored |
//! | 3      | unused          |                    | reads 0, writes ignored                 |
//!
//! The DSDT's `\_S5` package must give SLP_TYP 5. Linux polls WAK_STS after writing
//! SLP_EN for any state other than S5, so an ignored sleep must set it or the guest would spin
//! forever; ovmm's DSDT offers only S5, so this only matters for a guest that tries anyway.

use crate::bus::BusDevice;
use crate::lifecycle::{GuestRequest, GuestRequests};

/// Offset of the sleep control register.
pub const SLEEP_CONTROL_OFFSET: u8 = 0;
/// Offset of the sleep status register.
pub const SLEEP_STATUS_OFFSET: u8 = 1;
/// Offset of the reset register.
pub const RESET_OFFSET: u8 = 2;
/// The value that resets the machine (the FADT's RESET_VALUE).
pub const RESET_VALUE: u8 = 1;
/// The SLP_TYP value that powers off (the DSDT's `\_S5`).
pub const SLP_TYP_S5: u8 = 5;

const SLP_EN: u8 = 1 << 5;
const SLP_TYP_SHIFT: u8 = 2;
const SLP_TYP_MASK: u8 = 0b111;
const WAK_STS: u8 = 1 << 7;

/// The ACPI sleep and reset registers as a bus device.
pub struct AcpiPmDevice {
    requests: GuestRequests,
    wake_status: bool,
}

impl AcpiPmDevice {
    /// Length of the register block.
    pub const LEN: u64 = 4;

    /// Registers that send power-off and reset through `requests`.
    pub fn new(requests: GuestRequests) -> Self {
        AcpiPmDevice {
            requests,
            wake_status: false,
        }
    }

    fn sleep_control(&mut self, value: u8) {
        if value & SLP_EN == 0 {
            return;
        }
        match (value >> SLP_TYP_SHIFT) & SLP_TYP_MASK {
            SLP_TYP_S5 => {
                log::info!("acpi: guest entered S5 (power off)");
                self.requests.send(GuestRequest::PowerOff);
            }
            other => {
                log::warn!("acpi: guest asked for sleep type {other}; not supported, waking it");
                self.wake_status = true;
            }
        }
    }

    fn reset(&mut self, value: u8) {
        if value == RESET_VALUE {
            log::info!("acpi: guest wrote the reset register");
            self.requests.send(GuestRequest::Reset);
        } else {
            log::debug!("acpi: ignored reset register value {value:#04x}");
        }
    }

    fn read_register(&self, reg: u8) -> u8 {
        match reg {
            SLEEP_STATUS_OFFSET if self.wake_status => WAK_STS,
            _ => 0,
        }
    }

    fn write_register(&mut self, reg: u8, value: u8) {
        match reg {
            SLEEP_CONTROL_OFFSET => self.sleep_control(value),
            SLEEP_STATUS_OFFSET if value & WAK_STS != 0 => self.wake_status = false,
            RESET_OFFSET => self.reset(value),
            _ => {}
        }
    }
}

impl BusDevice for AcpiPmDevice {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        super::read_bytes(offset, data, Self::LEN, |reg| self.read_register(reg));
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        super::write_bytes(offset, data, Self::LEN, |reg, value| {
            self.write_register(reg, value)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> (AcpiPmDevice, GuestRequests) {
        let requests = GuestRequests::new().unwrap();
        (AcpiPmDevice::new(requests.clone()), requests)
    }

    fn sleep(typ: u8) -> u8 {
        SLP_EN | typ << SLP_TYP_SHIFT
    }

    fn status(dev: &mut AcpiPmDevice) -> u8 {
        let mut b = [0xFF];
        dev.read(u64::from(SLEEP_STATUS_OFFSET), &mut b);
        b[0]
    }

    #[test]
    fn s5_powers_off() {
        let (mut dev, requests) = device();
        assert_eq!(sleep(5), 0x34);
        dev.write(u64::from(SLEEP_CONTROL_OFFSET), &[0x34]);
        assert_eq!(requests.take(), Some(GuestRequest::PowerOff));
    }

    #[test]
    fn s5_without_slp_en_does_nothing() {
        let (mut dev, requests) = device();
        dev.write(u64::from(SLEEP_CONTROL_OFFSET), &[5 << SLP_TYP_SHIFT]);
        assert_eq!(requests.take(), None);
        assert_eq!(status(&mut dev), 0);
    }

    #[test]
    fn s3_is_ignored_and_reports_a_wake_up() {
        let (mut dev, requests) = device();
        // Linux clears WAK_STS, writes SLP_TYP|SLP_EN, then polls WAK_STS.
        dev.write(u64::from(SLEEP_STATUS_OFFSET), &[WAK_STS]);
        assert_eq!(status(&mut dev), 0);
        dev.write(u64::from(SLEEP_CONTROL_OFFSET), &[sleep(3)]);
        assert_eq!(requests.take(), None);
        assert_eq!(status(&mut dev), WAK_STS);
        // Writing 0 leaves it; writing 1 clears it.
        dev.write(u64::from(SLEEP_STATUS_OFFSET), &[0]);
        assert_eq!(status(&mut dev), WAK_STS);
        dev.write(u64::from(SLEEP_STATUS_OFFSET), &[WAK_STS]);
        assert_eq!(status(&mut dev), 0);
    }

    #[test]
    fn reset_value_resets() {
        let (mut dev, requests) = device();
        dev.write(u64::from(RESET_OFFSET), &[2]);
        dev.write(u64::from(RESET_OFFSET), &[0]);
        assert_eq!(requests.take(), None);
        dev.write(u64::from(RESET_OFFSET), &[RESET_VALUE]);
        assert_eq!(requests.take(), Some(GuestRequest::Reset));
    }

    #[test]
    fn unused_offset_and_reads() {
        let (mut dev, requests) = device();
        dev.write(3, &[0xFF]);
        assert_eq!(requests.take(), None);
        let mut all = [0xAA; 4];
        dev.read(0, &mut all);
        assert_eq!(all, [0, 0, 0, 0]);
    }
}
