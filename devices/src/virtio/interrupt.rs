//! How a virtio device interrupts its driver, shared by the transport (which knows how the
//! driver set interrupts up) and the device's I/O side (which decides when to interrupt).
//!
//! - MSI-X enabled: queue `q` signals the eventfd of the vector the driver wrote to
//!   `queue_msix_vector` (none for `VIRTIO_MSI_NO_VECTOR`). The VMM registered each eventfd as
//!   a KVM irqfd; masking is the VMM router's business (a masked vector stays pending).
//! - Otherwise INTx: the device sets a bit in the ISR and asserts the level-triggered line.
//!   The driver's read of the ISR clears it; when the guest EOIs, KVM signals the line's
//!   resample eventfd and [`VirtioInterrupt::resample`] asserts the line again if the ISR is
//!   still set, which is how a level interrupt stays asserted until it is served.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::RwLock;

use vmm_sys_util::eventfd::EventFd;

/// "No vector" in `config_msix_vector` and `queue_msix_vector`.
pub const VIRTIO_MSI_NO_VECTOR: u16 = 0xffff;
/// ISR bit: a used buffer was added to a queue.
pub const ISR_QUEUE: u8 = 0x1;
/// ISR bit: the device configuration changed.
pub const ISR_CONFIG: u8 = 0x2;

#[derive(Debug, Default)]
struct Routing {
    msix_enabled: bool,
    intx_disabled: bool,
    config_vector: Option<u16>,
    queue_vectors: Vec<Option<u16>>,
}

/// The ISR, the INTx line and the MSI-X vectors of one virtio function.
#[derive(Debug)]
pub struct VirtioInterrupt {
    isr: AtomicU8,
    intx: Option<EventFd>,
    vectors: Vec<EventFd>,
    routing: RwLock<Routing>,
}

impl VirtioInterrupt {
    /// A function with `queues` queues whose INTx line is asserted through `intx` and whose
    /// MSI-X vector `n` is `vectors[n]`. Every vector starts unassigned and MSI-X disabled.
    pub fn new(intx: Option<EventFd>, vectors: Vec<EventFd>, queues: usize) -> Self {
        VirtioInterrupt {
            isr: AtomicU8::new(0),
            intx,
            vectors,
            routing: RwLock::new(Routing {
                queue_vectors: vec![None; queues],
                ..Default::default()
            }),
        }
    }

    /// Number of MSI-X vectors.
    pub fn vector_count(&self) -> u16 {
        self.vectors.len() as u16
    }

    /// Tells the driver that queue `queue` has new used buffers.
    pub fn signal_queue(&self, queue: u16) {
        let vector = {
            let r = self.routing();
            if r.msix_enabled {
                Some(r.queue_vectors.get(usize::from(queue)).copied().flatten())
            } else {
                None
            }
        };
        self.signal(vector, ISR_QUEUE);
    }

    /// Tells the driver that the device configuration changed.
    pub fn signal_config(&self) {
        let vector = {
            let r = self.routing();
            r.msix_enabled.then_some(r.config_vector)
        };
        self.signal(vector, ISR_CONFIG);
    }

    // `msix`: `None` when MSI-X is off (INTx), `Some(None)` for no vector.
    fn signal(&self, msix: Option<Option<u16>>, isr_bit: u8) {
        match msix {
            Some(Some(v)) => {
                if let Some(evt) = self.vectors.get(usize::from(v)) {
                    write_eventfd(evt);
                }
            }
            Some(None) => {}
            None => {
                self.isr.fetch_or(isr_bit, Ordering::SeqCst);
                if !self.routing().intx_disabled {
                    if let Some(evt) = &self.intx {
                        write_eventfd(evt);
                    }
                }
            }
        }
    }

    /// The ISR as the driver reads it: returns the bits and clears them.
    pub fn take_isr(&self) -> u8 {
        self.isr.swap(0, Ordering::SeqCst)
    }

    /// The ISR without clearing it.
    pub fn isr(&self) -> u8 {
        self.isr.load(Ordering::SeqCst)
    }

    /// The guest ended the INTx interrupt (KVM's resample eventfd fired): asserts the line
    /// again while the ISR still has bits set, as a level-triggered line would stay high.
    pub fn resample(&self) {
        if self.isr() != 0 && !self.routing().intx_disabled {
            if let Some(evt) = &self.intx {
                write_eventfd(evt);
            }
        }
    }

    /// Whether MSI-X is on (the transport follows the capability's enable bit).
    pub fn set_msix_enabled(&self, enabled: bool) {
        self.routing_mut().msix_enabled = enabled;
    }

    /// Follows the command register's INTx-disable bit.
    pub fn set_intx_disabled(&self, disabled: bool) {
        self.routing_mut().intx_disabled = disabled;
    }

    /// Sets the vector of config-change interrupts (`None`: no vector).
    pub fn set_config_vector(&self, vector: Option<u16>) {
        self.routing_mut().config_vector = vector;
    }

    /// Sets the vector of queue `queue` (`None`: no vector).
    pub fn set_queue_vector(&self, queue: usize, vector: Option<u16>) {
        if let Some(v) = self.routing_mut().queue_vectors.get_mut(queue) {
            *v = vector;
        }
    }

    /// Back to the reset state: ISR clear, no vectors assigned (MSI-X enable and INTx disable
    /// follow config space, which a device reset does not change).
    pub fn reset(&self) {
        self.isr.store(0, Ordering::SeqCst);
        let mut r = self.routing_mut();
        r.config_vector = None;
        r.queue_vectors.iter_mut().for_each(|v| *v = None);
    }

    fn routing(&self) -> std::sync::RwLockReadGuard<'_, Routing> {
        self.routing.read().unwrap_or_else(|e| e.into_inner())
    }

    fn routing_mut(&self) -> std::sync::RwLockWriteGuard<'_, Routing> {
        self.routing.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn write_eventfd(evt: &EventFd) {
    if let Err(e) = evt.write(1) {
        log::warn!("cannot signal a virtio interrupt eventfd: {e}");
    }
}
