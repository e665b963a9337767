//! The i8042 keyboard controller, reduced to its reset line.
//!
//! One device covers ports 0x60..=0x64 (place it at 0x60 with length [`I8042Device::LEN`]):
//!
//! | offset | port | read                         | write                          |
//! |--------|------|------------------------------|--------------------------------|
//! | 0      | 0x60 | data: 0                      | ignored                        |
//! | 1..=3  |      | 0                            | ignored                        |
//! | 4      | 0x64 | status: 0 (both buffers empty) | command                       |
//!
//! Offsets 1..=3 belong to other devices on a PC (0x61 is the speaker/NMI-status port). With
//! KVM's in-kernel PIT, KVM answers port 0x61 itself and those accesses never reach this
//! device.
//!
//! Status 0 means "input buffer empty", so Linux's `kb_wait()` returns at once, and "output
//! buffer empty", so the i8042 driver finds no controller and gives up quietly. Commands
//! 0xF0..=0xFF pulse the output-port lines whose bit is 0 in the low nibble; line 0 is the CPU
//! reset, so 0xFE (what Linux's `reboot=k` sends) and any even command in that range send
//! [`GuestRequest::Reset`]. Every other command is ignored.

use crate::bus::BusDevice;
use crate::lifecycle::{GuestRequest, GuestRequests};

/// Offset of the data port (0x60).
pub const DATA_OFFSET: u8 = 0;
/// Offset of the status (read) and command (write) port (0x64).
pub const COMMAND_OFFSET: u8 = 4;

/// Status register value: output and input buffers empty, nothing else set.
const STATUS_IDLE: u8 = 0;
/// "Pulse output port" commands: 0xF0 | lines-to-keep-high.
const PULSE_COMMANDS: u8 = 0xF0;
/// Output-port line 0 drives the CPU reset.
const RESET_LINE: u8 = 0x01;

/// The i8042 reset line as a bus device.
pub struct I8042Device {
    requests: GuestRequests,
}

impl I8042Device {
    /// Length of the port range the device covers (0x60..=0x64).
    pub const LEN: u64 = 5;

    /// A controller that sends resets through `requests`.
    pub fn new(requests: GuestRequests) -> Self {
        I8042Device { requests }
    }

    fn command(&mut self, value: u8) {
        let pulses_reset = value & PULSE_COMMANDS == PULSE_COMMANDS && value & RESET_LINE == 0;
        if pulses_reset {
            log::info!("i8042: guest pulsed the reset line (command {value:#04x})");
            self.requests.send(GuestRequest::Reset);
        } else {
            log::debug!("i8042: ignored command {value:#04x}");
        }
    }
}

impl BusDevice for I8042Device {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        super::read_bytes(offset, data, Self::LEN, |_| STATUS_IDLE);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        super::write_bytes(offset, data, Self::LEN, |reg, value| {
            if reg == COMMAND_OFFSET {
                self.command(value);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> (I8042Device, GuestRequests) {
        let requests = GuestRequests::new().unwrap();
        (I8042Device::new(requests.clone()), requests)
    }

    #[test]
    fn command_fe_resets() {
        let (mut dev, requests) = device();
        dev.write(u64::from(COMMAND_OFFSET), &[0xFE]);
        assert_eq!(requests.take(), Some(GuestRequest::Reset));
    }

    #[test]
    fn other_pulses_reset_only_when_line_0_goes_low() {
        let (mut dev, requests) = device();
        dev.write(u64::from(COMMAND_OFFSET), &[0xFF]);
        dev.write(u64::from(COMMAND_OFFSET), &[0xAA]);
        dev.write(u64::from(COMMAND_OFFSET), &[0x20]);
        assert_eq!(requests.take(), None);
        dev.write(u64::from(COMMAND_OFFSET), &[0xF0]);
        assert_eq!(requests.take(), Some(GuestRequest::Reset));
    }

    #[test]
    fn data_port_writes_do_not_reset() {
        let (mut dev, requests) = device();
        dev.write(u64::from(DATA_OFFSET), &[0xFE]);
        dev.write(2, &[0xFE]);
        assert_eq!(requests.take(), None);
    }

    #[test]
    fn status_never_makes_kb_wait_spin() {
        let (mut dev, _requests) = device();
        let mut status = [0xFF];
        dev.read(u64::from(COMMAND_OFFSET), &mut status);
        // Linux's kb_wait() spins while bit 1 (input buffer full) is set.
        assert_eq!(status[0] & 0x02, 0);
        assert_eq!(status[0], 0);
        let mut data = [0xFF; 2];
        dev.read(u64::from(DATA_OFFSET), &mut data);
        assert_eq!(data, [0, 0]);
    }
}
