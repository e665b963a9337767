//! The test-exit port: a guest ends the VM and picks ovmm's exit status by writing one byte.
//!
//! On x86 it sits at I/O port 0xF4
//! (`printf '\007' | dd of=/dev/port bs=1 seek=244 count=1` makes ovmm exit with status 7);
//! on arm64 the same device sits behind MMIO. Any write sends
//! [`GuestRequest::Exit`] with the first byte written, whatever the offset and width; reads
//! return zeros.

use crate::bus::BusDevice;
use crate::lifecycle::{GuestRequest, GuestRequests};

/// The test-exit register as a bus device.
pub struct TestExitDevice {
    requests: GuestRequests,
}

impl TestExitDevice {
    /// Length of the range the device needs.
    pub const LEN: u64 = 1;

    /// A device that sends exit requests through `requests`.
    pub fn new(requests: GuestRequests) -> Self {
        TestExitDevice { requests }
    }
}

impl BusDevice for TestExitDevice {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, _offset: u64, data: &[u8]) {
        if let Some(&status) = data.first() {
            log::info!("test-exit: guest asked to exit with status {status}");
            self.requests.send(GuestRequest::Exit(status));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_sends_exit_with_the_first_byte() {
        let requests = GuestRequests::new().unwrap();
        let mut dev = TestExitDevice::new(requests.clone());
        dev.write(0, &[7]);
        assert_eq!(requests.take(), Some(GuestRequest::Exit(7)));
        dev.write(0, &[0xFF, 1, 2, 3]);
        assert_eq!(requests.take(), Some(GuestRequest::Exit(255)));
        dev.write(0, &[]);
        assert_eq!(requests.take(), None);
    }

    #[test]
    fn reads_are_zero() {
        let requests = GuestRequests::new().unwrap();
        let mut dev = TestExitDevice::new(requests.clone());
        let mut data = [0xAA; 4];
        dev.read(0, &mut data);
        assert_eq!(data, [0; 4]);
        assert_eq!(requests.take(), None);
    }
}
