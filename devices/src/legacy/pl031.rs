//! The PL031 real-time clock of the arm64 platform (`arm,pl031` in the device tree): a thin
//! adapter over [`vm_superio::Rtc`], which owns the registers (data, match, load, control,
//! interrupt mask and status) and the AMBA PrimeCell ID registers Linux's AMBA bus reads to
//! bind the `rtc-pl031` driver.
//!
//! The clock starts at the host's wall-clock time (seconds since the Unix epoch, UTC) and
//! ticks with it; a guest that writes the load register moves its own view only. Linux reads
//! it at boot (`CONFIG_RTC_HCTOSYS`) to set the guest's clock.
//!
//! What this adapter adds: the PL031 is a 32-bit APB device, so an access of another width or
//! alignment is served from the 32-bit register that holds it (reads see the bytes of that
//! register, narrow writes are ignored as on an APB bus that only decodes word writes), and
//! accesses past the 4 KiB frame read as 0. The alarm (match interrupt) is not emulated, as in
//! vm-superio: the match register keeps its value and the raw interrupt status stays 0.

use vm_superio::rtc_pl031::RtcEvents;
use vm_superio::Rtc;

use crate::bus::BusDevice;

/// Size of the PL031's register frame.
pub const PL031_SIZE: u64 = 0x1000;

/// Counts accesses to offsets the PL031 does not have, for a debug log line each.
#[derive(Debug, Default)]
pub struct InvalidAccessLog;

impl RtcEvents for InvalidAccessLog {
    fn invalid_read(&self) {
        log::debug!("pl031: guest read a register the RTC does not have");
    }

    fn invalid_write(&self) {
        log::debug!("pl031: guest wrote a read-only or missing RTC register");
    }
}

/// The PL031 as a bus device.
pub struct Pl031Device {
    rtc: Rtc<InvalidAccessLog>,
}

impl Default for Pl031Device {
    fn default() -> Self {
        Self::new()
    }
}

impl Pl031Device {
    /// A clock that reads the host's current time.
    pub fn new() -> Self {
        Pl031Device {
            rtc: Rtc::with_events(InvalidAccessLog),
        }
    }

    fn register(offset: u64) -> Option<u16> {
        (offset < PL031_SIZE).then_some((offset & !3) as u16)
    }
}

impl BusDevice for Pl031Device {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let Some(reg) = Self::register(offset) else {
            data.fill(0);
            return;
        };
        let mut word = [0u8; 4];
        self.rtc.read(reg, &mut word);
        let start = (offset & 3) as usize;
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = word.get(start + i).copied().unwrap_or(0);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        match (Self::register(offset), <&[u8; 4]>::try_from(data)) {
            (Some(reg), Ok(word)) if offset & 3 == 0 => self.rtc.write(reg, word),
            _ => log::debug!(
                "pl031: ignored a {}-byte write at offset {offset:#x} (the RTC takes aligned 32-bit writes)",
                data.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    const RTCDR: u64 = 0x0;
    const RTCMR: u64 = 0x4;
    const RTCLR: u64 = 0x8;
    const RTCCR: u64 = 0xc;
    const RTCIMSC: u64 = 0x10;
    const RTCRIS: u64 = 0x14;

    fn now() -> u32 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32
    }

    fn read32(dev: &mut Pl031Device, offset: u64) -> u32 {
        let mut data = [0u8; 4];
        dev.read(offset, &mut data);
        u32::from_le_bytes(data)
    }

    #[test]
    fn data_register_is_host_time() {
        let mut dev = Pl031Device::new();
        let before = now();
        let t = read32(&mut dev, RTCDR);
        let after = now();
        assert!((before..=after).contains(&t), "{before} <= {t} <= {after}");
        // The clock runs (control reads 1) and nothing is pending.
        assert_eq!(read32(&mut dev, RTCCR), 1);
        assert_eq!(read32(&mut dev, RTCRIS), 0);
    }

    #[test]
    fn load_register_moves_the_guest_clock() {
        let mut dev = Pl031Device::new();
        dev.write(RTCLR, &1_000_000u32.to_le_bytes());
        assert_eq!(read32(&mut dev, RTCLR), 1_000_000);
        let t = read32(&mut dev, RTCDR);
        assert!((1_000_000..1_000_005).contains(&t), "{t}");
        // Match and mask registers keep what the guest wrote.
        dev.write(RTCMR, &0x1234_5678u32.to_le_bytes());
        dev.write(RTCIMSC, &3u32.to_le_bytes());
        assert_eq!(read32(&mut dev, RTCMR), 0x1234_5678);
        assert_eq!(read32(&mut dev, RTCIMSC), 1);
    }

    #[test]
    fn primecell_ids_for_the_amba_bus() {
        let mut dev = Pl031Device::new();
        let ids: Vec<u32> = (0..8).map(|i| read32(&mut dev, 0xfe0 + 4 * i)).collect();
        assert_eq!(ids, [0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        // A byte read inside a register returns that register's byte.
        let mut byte = [0xaa];
        dev.read(0xff0, &mut byte);
        assert_eq!(byte, [0x0d]);
        dev.read(0xff1, &mut byte);
        assert_eq!(byte, [0]);
    }

    #[test]
    fn odd_accesses_are_harmless() {
        let mut dev = Pl031Device::new();
        let before = read32(&mut dev, RTCLR);
        dev.write(RTCLR + 1, &[1, 2, 3, 4]);
        dev.write(RTCLR, &[9, 9]);
        assert_eq!(read32(&mut dev, RTCLR), before);
        let mut far = [0xaau8; 4];
        dev.read(PL031_SIZE + 8, &mut far);
        assert_eq!(far, [0; 4]);
    }
}
