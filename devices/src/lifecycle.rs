//! Guest-initiated lifecycle requests: power-off, reset and "exit with this status".
//!
//! Devices that end or restart the VM (the ACPI sleep register, the i8042 reset line, the
//! test-exit port, a triple fault seen by a vCPU) hold a clone of [`GuestRequests`] and call
//! [`GuestRequests::send`]. The VMM's main loop waits on [`GuestRequests::eventfd`] and then
//! [`GuestRequests::take`]s the request. The first request wins until it is taken: a guest
//! that writes its exit status and then powers off exits with that status.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};

use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// What the guest asked the VMM to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestRequest {
    /// Orderly power-off (ACPI S5, PSCI SYSTEM_OFF).
    PowerOff,
    /// Reset / reboot (i8042 pulse, ACPI reset register, triple fault, PSCI SYSTEM_RESET).
    Reset,
    /// Stop the VM and make ovmm exit with this status (the test-exit device).
    Exit(u8),
}

#[derive(Debug)]
struct Inner {
    evt: EventFd,
    pending: Mutex<Option<GuestRequest>>,
}

/// A cloneable handle through which devices and vCPUs send [`GuestRequest`]s to the VMM.
#[derive(Clone, Debug)]
pub struct GuestRequests(Arc<Inner>);

impl GuestRequests {
    /// Creates the channel; fails only if an eventfd cannot be created.
    pub fn new() -> std::io::Result<Self> {
        Ok(GuestRequests(Arc::new(Inner {
            evt: EventFd::new(EFD_NONBLOCK)?,
            pending: Mutex::new(None),
        })))
    }

    /// Records `request` (unless an earlier one is still pending) and wakes the VMM.
    pub fn send(&self, request: GuestRequest) {
        let mut pending = self.0.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_none() {
            *pending = Some(request);
        }
        drop(pending);
        if let Err(e) = self.0.evt.write(1) {
            log::error!("cannot signal guest request {request:?}: {e}");
        }
    }

    /// Takes the pending request, if any, and clears the wake-up eventfd.
    pub fn take(&self) -> Option<GuestRequest> {
        // Draining can fail with EAGAIN when nothing was written; that is not an error here.
        let _ = self.0.evt.read();
        self.0
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Returns the request that is pending without taking it.
    pub fn peek(&self) -> Option<GuestRequest> {
        *self.0.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The eventfd that becomes readable when a request is sent.
    pub fn eventfd(&self) -> &EventFd {
        &self.0.evt
    }
}

impl AsRawFd for GuestRequests {
    fn as_raw_fd(&self) -> RawFd {
        self.0.evt.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_request_wins_until_taken() {
        let r = GuestRequests::new().unwrap();
        assert_eq!(r.take(), None);
        r.send(GuestRequest::Exit(7));
        r.send(GuestRequest::PowerOff);
        assert_eq!(r.peek(), Some(GuestRequest::Exit(7)));
        assert_eq!(r.take(), Some(GuestRequest::Exit(7)));
        assert_eq!(r.take(), None);
        r.clone().send(GuestRequest::Reset);
        assert_eq!(r.take(), Some(GuestRequest::Reset));
    }

    #[test]
    fn eventfd_is_signalled() {
        let r = GuestRequests::new().unwrap();
        r.send(GuestRequest::PowerOff);
        assert_eq!(r.eventfd().read().unwrap(), 1);
    }
}
