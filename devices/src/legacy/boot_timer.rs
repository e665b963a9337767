//! The boot-timer register: the guest's init writes any byte to it once it reaches userspace,
//! and ovmm learns how long the boot took.
//!
//! The device is bus-agnostic: x86 places it at I/O port 0xF5 (next to the test-exit port),
//! arm64 reserves an MMIO page for it. The first write of a boot records the time in the
//! device's [`BootMark`] and logs it at info level; later writes are ignored. Reads return 0.
//!
//! From a guest shell on x86: `printf '\001' | dd of=/dev/port bs=1 seek=245 count=1`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bus::BusDevice;

/// When a boot started and when the guest reached userspace. Cloned handles share the record:
/// the device writes it, the VMM reads it.
#[derive(Clone, Debug)]
pub struct BootMark {
    started: Instant,
    reached: Arc<Mutex<Option<Instant>>>,
}

impl BootMark {
    /// A record for a boot that started at `started`.
    pub fn new(started: Instant) -> Self {
        BootMark {
            started,
            reached: Arc::new(Mutex::new(None)),
        }
    }

    /// When the boot started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time from the start to the guest's first write, once it wrote.
    pub fn boot_time(&self) -> Option<Duration> {
        self.reached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| t.saturating_duration_since(self.started))
    }

    /// Records `now` unless a time is already recorded; returns the boot time if this call
    /// recorded it.
    fn mark(&self, now: Instant) -> Option<Duration> {
        let mut reached = self.reached.lock().unwrap_or_else(|e| e.into_inner());
        if reached.is_some() {
            return None;
        }
        *reached = Some(now);
        Some(now.saturating_duration_since(self.started))
    }
}

/// The boot-timer register as a bus device.
pub struct BootTimerDevice {
    mark: BootMark,
}

impl BootTimerDevice {
    /// Length of the range the device needs.
    pub const LEN: u64 = 1;

    /// A device that records into `mark`.
    pub fn new(mark: BootMark) -> Self {
        BootTimerDevice { mark }
    }
}

impl BusDevice for BootTimerDevice {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, _offset: u64, _data: &[u8]) {
        match self.mark.mark(Instant::now()) {
            Some(t) => log::info!(
                "boot timer: the guest reached userspace {} ms after the boot started",
                t.as_millis()
            ),
            None => log::debug!("boot timer: another write ignored (already recorded)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_write_records_later_ones_are_ignored() {
        let started = Instant::now() - Duration::from_millis(1500);
        let mark = BootMark::new(started);
        let mut dev = BootTimerDevice::new(mark.clone());
        assert_eq!(mark.boot_time(), None);
        let mut data = [0xaa; 2];
        dev.read(0, &mut data);
        assert_eq!(data, [0, 0]);
        assert_eq!(mark.boot_time(), None, "a read must not record");
        dev.write(0, &[1]);
        let first = mark.boot_time().expect("recorded");
        assert!(first >= Duration::from_millis(1500), "{first:?}");
        assert!(first < Duration::from_secs(60), "{first:?}");
        std::thread::sleep(Duration::from_millis(20));
        dev.write(0, &[1, 2, 3, 4]);
        assert_eq!(mark.boot_time(), Some(first));
        assert_eq!(mark.started(), started);
    }

    #[test]
    fn mark_is_shared_and_measured_from_the_start() {
        let t0 = Instant::now();
        let mark = BootMark::new(t0);
        assert_eq!(
            mark.mark(t0 + Duration::from_millis(850)),
            Some(Duration::from_millis(850))
        );
        assert_eq!(mark.mark(t0 + Duration::from_millis(900)), None);
        assert_eq!(mark.clone().boot_time(), Some(Duration::from_millis(850)));
    }
}
