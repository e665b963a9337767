//! Legacy platform devices: the UART, the i8042 reset line, the CMOS RTC, the ACPI sleep and
//! reset registers and the test-exit port (x86), the boot-timer register, the ACPI Generic Event
//! Device's event register (x86), the PL031 RTC and the PL061 GPIO controller (arm64). Each is
//! a small register machine behind [`crate::bus::BusDevice`].
//!
//! All of them are 8-bit devices. An access wider than one byte is split into byte accesses at
//! consecutive offsets, lowest offset first, as the ISA bus does for an 8-bit device (so
//! `outw(0x70, index | value << 8)` selects a CMOS register and writes it). Offsets past a
//! device's last register read as 0 and ignore writes. The test-exit port is the exception: it
//! takes the first byte of any write, the boot timer any write, the GED register is 32 bits, and
//! the PL031 and PL061, 32-bit devices, have their own rules.

pub mod acpi_pm;
pub mod boot_timer;
pub mod cmos;
pub mod ged;
pub mod i8042;
pub mod pl031;
pub mod pl061;
pub mod serial;
pub mod test_exit;

pub use acpi_pm::AcpiPmDevice;
pub use boot_timer::{BootMark, BootTimerDevice};
pub use cmos::Cmos;
pub use ged::GedDevice;
pub use i8042::I8042Device;
pub use pl031::Pl031Device;
pub use pl061::Pl061Device;
pub use serial::{EventFdTrigger, SerialDevice};
pub use test_exit::TestExitDevice;

/// Fills `data` with byte reads at `offset`, `offset + 1`, ...; offsets at or past `registers`
/// read as 0.
fn read_bytes(offset: u64, data: &mut [u8], registers: u64, mut read: impl FnMut(u8) -> u8) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = match register_at(offset, i, registers) {
            Some(reg) => read(reg),
            None => 0,
        };
    }
}

/// Writes each byte of `data` to `offset`, `offset + 1`, ...; offsets at or past `registers`
/// are ignored.
fn write_bytes(offset: u64, data: &[u8], registers: u64, mut write: impl FnMut(u8, u8)) {
    for (i, &value) in data.iter().enumerate() {
        if let Some(reg) = register_at(offset, i, registers) {
            write(reg, value);
        }
    }
}

/// The register number `i` bytes past `offset`, if the device has it (`registers` <= 256).
fn register_at(offset: u64, i: usize, registers: u64) -> Option<u8> {
    let reg = offset.checked_add(i as u64)?;
    if reg < registers {
        u8::try_from(reg).ok()
    } else {
        None
    }
}
