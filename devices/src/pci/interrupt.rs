//! How a PCI device raises interrupts without knowing KVM.
//!
//! - MSI and MSI-X: the device is handed an [`MsiInterrupts`] at construction. It owns one
//!   eventfd per vector (the VMM registers each as a KVM irqfd on its own GSI) and turns the
//!   guest's programming of a vector (address, data, mask) into [`VectorUpdate`]s, which the
//!   VMM's GSI router turns into KVM routes. The interrupt itself never passes through
//!   userspace: VFIO signals the eventfd and KVM injects it.
//! - INTx: an [`IntxLine`] is a level-triggered line as a pair of eventfds. The device (VFIO)
//!   signals `trigger`; the VMM registers `trigger` as a KVM irqfd with `resample` as its
//!   resample fd, so when the guest EOIs the interrupt KVM signals `resample`, which VFIO uses
//!   to unmask the line. EOI and unmask stay in the kernel.

use std::io;

use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// The address/data pair a guest programs into an MSI or MSI-X vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MsiMessage {
    /// Message address (64-bit; the upper half is 0 for 32-bit MSI).
    pub address: u64,
    /// Message data.
    pub data: u32,
}

/// A vector's programming as the guest left it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsiVector {
    /// Where the interrupt goes.
    pub message: MsiMessage,
    /// Whether the vector may not be delivered now (vector mask, function mask, or MSI/MSI-X
    /// disabled).
    pub masked: bool,
}

/// A change of one vector, sent to the VMM's router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorUpdate {
    /// The vector number within the device (0-based).
    pub vector: u16,
    /// The message to route it with (the last one programmed, also when masked).
    pub message: MsiMessage,
    /// Whether the vector is masked.
    pub masked: bool,
}

/// The MSI/MSI-X vectors the VMM reserved for one device.
///
/// The VMM implements this over its GSI router: vector `n` owns `eventfd(n)`, registered as a
/// KVM irqfd on a GSI whose route [`MsiInterrupts::update`] rewrites.
pub trait MsiInterrupts: Send {
    /// How many vectors were reserved (eventfds and GSIs exist for `0..vector_count()`).
    fn vector_count(&self) -> u16;

    /// The eventfd the device signals for `vector`, or `None` past [`Self::vector_count`].
    fn eventfd(&self, vector: u16) -> Option<&EventFd>;

    /// Applies vector changes, all at once (one routing-table update for the batch).
    ///
    /// A masked vector must not be delivered; an interrupt signalled while it is masked must
    /// stay pending and be delivered when it is unmasked (with KVM: drop the irqfd while
    /// masked and register it again on unmask; KVM injects at once when the eventfd already
    /// holds a count).
    fn update(&mut self, updates: &[VectorUpdate]) -> io::Result<()>;

    /// Whether `vector` was signalled while masked and still waits for its unmask (the
    /// pending bit the guest reads in the MSI-X PBA or the MSI pending register).
    fn pending(&self, vector: u16) -> bool;
}

/// A level-triggered INTx line: the trigger eventfd and the resample (EOI) eventfd.
#[derive(Debug)]
pub struct IntxLine {
    /// Signalled by the device to assert the line.
    pub trigger: EventFd,
    /// Signalled by KVM when the guest EOIs; the device unmasks its line then.
    pub resample: EventFd,
}

impl IntxLine {
    /// Creates both eventfds (non-blocking).
    pub fn new() -> io::Result<Self> {
        Ok(IntxLine {
            trigger: EventFd::new(EFD_NONBLOCK)?,
            resample: EventFd::new(EFD_NONBLOCK)?,
        })
    }

    /// Duplicates both eventfds, so the VMM keeps its own handles to register with KVM.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(IntxLine {
            trigger: self.trigger.try_clone()?,
            resample: self.resample.try_clone()?,
        })
    }
}
