//! The event register of the ACPI Generic Event Device (GED, `ACPI0013`): how ovmm tells a
//! hardware-reduced ACPI guest that something happened, such as a press of the power button.
//!
//! The register is 32 bits of pending events. The VMM sets bits with [`GedDevice::notify`],
//! which also pulses the device's interrupt; the guest's `_EVT` method (in the DSDT) reads the
//! register, which returns the pending bits and clears them, and notifies the ACPI device each
//! bit stands for ([`EVENT_POWER_BUTTON`]: the `PNP0C0C` power button, notify 0x80). Writes
//! are ignored. x86 places the register at 4 I/O ports; the device does not care which bus.

use vmm_sys_util::eventfd::EventFd;

use crate::bus::BusDevice;

/// Event bit: the power button was pressed.
pub const EVENT_POWER_BUTTON: u32 = 1 << 0;

/// The GED event register as a bus device.
pub struct GedDevice {
    pending: u32,
    irq: EventFd,
    notified: u64,
}

impl GedDevice {
    /// Length of the register in bytes.
    pub const LEN: u64 = 4;

    /// A register that pulses `irq` (an irqfd, edge-triggered) when an event is raised.
    pub fn new(irq: EventFd) -> Self {
        GedDevice {
            pending: 0,
            irq,
            notified: 0,
        }
    }

    /// Marks `events` pending and interrupts the guest.
    pub fn notify(&mut self, events: u32) -> std::io::Result<()> {
        self.pending |= events;
        self.notified += 1;
        self.irq.write(1)
    }

    /// Events raised but not yet read by the guest.
    pub fn pending(&self) -> u32 {
        self.pending
    }

    /// How many times [`GedDevice::notify`] was called.
    pub fn notified(&self) -> u64 {
        self.notified
    }
}

impl BusDevice for GedDevice {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let bytes = self.pending.to_le_bytes();
        for (i, b) in data.iter_mut().enumerate() {
            *b = offset
                .checked_add(i as u64)
                .and_then(|o| bytes.get(o as usize).copied())
                .unwrap_or(0);
        }
        // A read that covers the register's first byte takes the events (the AML reads the
        // whole dword at once).
        if offset == 0 && !data.is_empty() {
            self.pending = 0;
        }
    }

    fn write(&mut self, _offset: u64, _data: &[u8]) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_sys_util::eventfd::EFD_NONBLOCK;

    #[test]
    fn notify_sets_bits_and_pulses_the_interrupt() {
        let irq = EventFd::new(EFD_NONBLOCK).unwrap();
        let mut ged = GedDevice::new(irq.try_clone().unwrap());
        assert!(irq.read().is_err(), "no interrupt before an event");
        ged.notify(EVENT_POWER_BUTTON).unwrap();
        assert_eq!(irq.read().unwrap(), 1);
        assert_eq!(ged.pending(), 1);
        ged.notify(1 << 4).unwrap();
        assert_eq!(ged.notified(), 2);

        let mut data = [0u8; 4];
        ged.read(0, &mut data);
        assert_eq!(u32::from_le_bytes(data), 0x11);
        // Read-to-clear.
        ged.read(0, &mut data);
        assert_eq!(data, [0; 4]);
        assert_eq!(ged.pending(), 0);
    }

    #[test]
    fn partial_reads_and_writes() {
        let mut ged = GedDevice::new(EventFd::new(EFD_NONBLOCK).unwrap());
        ged.notify(0x0102_0304).unwrap();
        let mut hi = [0u8; 2];
        ged.read(2, &mut hi);
        assert_eq!(hi, [0x02, 0x01]);
        assert_eq!(
            ged.pending(),
            0x0102_0304,
            "a read past byte 0 does not clear"
        );
        let mut wide = [0xffu8; 8];
        ged.read(0, &mut wide);
        assert_eq!(wide, [4, 3, 2, 1, 0, 0, 0, 0]);
        ged.notify(EVENT_POWER_BUTTON).unwrap();
        ged.write(0, &[0xff; 4]);
        assert_eq!(ged.pending(), EVENT_POWER_BUTTON, "writes are ignored");
    }
}
