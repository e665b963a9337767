//! virtio 1.x devices on PCI: the modern virtio-pci transport and the block and network
//! devices behind it.
//!
//! The split follows the spec: [`pci::VirtioPciDevice`] is the transport (a [`PciDevice`]
//! with the common, notify, ISR and device-config capabilities in one memory BAR, MSI-X, and
//! INTx through the ISR), and a [`VirtioDevice`] is the device type (its features, its config
//! space, its queues). Ring handling is the rust-vmm `virtio-queue` crate's.
//!
//! Two threads meet here. vCPU threads drive the transport (register reads and writes, the
//! status handshake, MSI-X programming). The VMM's event loop drives the device's I/O side: it
//! watches [`VirtioDevice::event_sources`] (each queue's notification eventfd, which KVM
//! signals through an ioeventfd without a vCPU exit, and backend fds such as a TAP) and calls
//! [`VirtioDevice::handle_event`]. The device signals the driver through the shared
//! [`interrupt::VirtioInterrupt`], never through the transport.
//!
//! Lock order: the transport's PCI-device lock, then the device's lock. The I/O side takes
//! only the device's lock.
//!
//! - [`pci`]: the transport, [`common`]: its common-config registers and the handshake.
//! - [`interrupt`]: ISR, INTx and MSI-X vectors as the device signals them.
//! - [`queue`]: helpers around `virtio-queue` shared by the devices.
//! - [`block`]: virtio-blk on a raw image file. [`net`] and [`tap`]: virtio-net on a TAP.
//!
//! [`PciDevice`]: crate::pci::PciDevice

pub mod block;
pub mod common;
pub mod interrupt;
pub mod net;
pub mod pci;
pub mod queue;
pub mod tap;

use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard};

use virtio_queue::Queue;
use vmm_sys_util::eventfd::EventFd;

pub use interrupt::VirtioInterrupt;
pub use pci::{NotifyRegistrar, VirtioPciDevice};

/// Guest memory as the devices see it.
pub type GuestMemory = vm_memory::GuestMemoryMmap<()>;

/// PCI vendor ID of virtio devices.
pub const VIRTIO_PCI_VENDOR_ID: u16 = 0x1af4;
/// Modern virtio PCI device IDs are this plus the virtio device type.
pub const VIRTIO_PCI_DEVICE_ID_BASE: u16 = 0x1040;

/// What a device runs with between DRIVER_OK and the next reset.
pub struct Activation {
    /// Guest memory, where the rings and buffers are.
    pub mem: GuestMemory,
    /// One queue per [`VirtioDevice::queue_max_sizes`] entry, configured by the driver (a queue
    /// the driver did not enable is not ready).
    pub queues: Vec<Queue>,
    /// The features both sides agreed on.
    pub features: u64,
    /// How to interrupt the driver.
    pub interrupt: Arc<VirtioInterrupt>,
}

/// Why a device refused to start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActivateError {
    /// A queue the device needs was not enabled, or its rings are outside guest memory.
    #[error("queue {index} is not usable: {reason}")]
    BadQueue {
        /// The queue.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A file descriptor the event loop watches for a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSource {
    /// The descriptor.
    pub fd: RawFd,
    /// Edge-triggered (a TAP: the device reads until it would block or runs out of buffers)
    /// rather than level-triggered (an eventfd the device drains).
    pub edge_triggered: bool,
}

/// One virtio device type behind the transport.
pub trait VirtioDevice: Send {
    /// The virtio device type (`VIRTIO_ID_BLOCK`, ...); the PCI device ID is 0x1040 plus this.
    fn device_type(&self) -> u32;

    /// A short name for logs and errors.
    fn label(&self) -> &str;

    /// The maximum size of each queue; the length is the number of queues.
    fn queue_max_sizes(&self) -> &[u16];

    /// Device-type feature bits offered to the driver. The transport adds `VIRTIO_F_VERSION_1`
    /// and the ring features.
    fn features(&self) -> u64;

    /// Reads the device-specific config space at `offset`; bytes past its end read as 0.
    fn read_config(&self, offset: u64, data: &mut [u8]);

    /// Writes the device-specific config space (most devices ignore it).
    fn write_config(&mut self, offset: u64, data: &[u8]) {
        log::debug!(
            "{}: ignoring a {}-byte config write at {offset:#x}",
            self.label(),
            data.len()
        );
    }

    /// Starts processing: the driver set DRIVER_OK.
    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError>;

    /// Stops processing and forgets the queues and features (the driver wrote 0 to the status
    /// register). Requests already completed stay completed.
    fn reset(&mut self);

    /// The eventfd that carries the driver's notifications of queue `index`.
    fn queue_event(&self, index: usize) -> Option<&EventFd>;

    /// Every descriptor the event loop must watch for this device. The set is fixed at
    /// construction.
    fn event_sources(&self) -> Vec<EventSource>;

    /// One of [`Self::event_sources`] is ready. Called on the event loop's thread.
    fn handle_event(&mut self, fd: RawFd);
}

/// How a device is shared between the transport and the event loop.
pub type SharedVirtioDevice = Arc<Mutex<dyn VirtioDevice>>;

/// Locks a shared device; a poisoned lock is still used (the state stays consistent per request).
pub fn lock_device(device: &SharedVirtioDevice) -> MutexGuard<'_, dyn VirtioDevice + 'static> {
    device.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads `data.len()` bytes at `offset` of `bytes`; what lies past the end reads as 0.
pub(crate) fn read_bytes(bytes: &[u8], offset: u64, data: &mut [u8]) {
    for (i, out) in data.iter_mut().enumerate() {
        *out = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(i))
            .and_then(|at| bytes.get(at))
            .copied()
            .unwrap_or(0);
    }
}

#[cfg(test)]
mod tests;
