//! Helpers around `virtio-queue` that every device uses: draining a queue with the
//! notification-suppression rules (`VIRTIO_RING_F_EVENT_IDX` when negotiated), and guest
//! buffers as lists of (address, length) segments for zero-copy file I/O.

use virtio_queue::desc::split::Descriptor;
use virtio_queue::{DescriptorChain, Queue, QueueT};
use vm_memory::GuestAddress;

use super::interrupt::VirtioInterrupt;
use super::GuestMemory;

/// A chain as the device handles it.
pub type Chain<'a> = DescriptorChain<&'a GuestMemory>;

/// Pops every available chain of `queue`, hands each to `handle` (which returns how many bytes
/// it wrote into the chain), puts them in the used ring and interrupts the driver for queue
/// `index` if the ring says it wants one. Returns how many chains were used.
///
/// With notifications suppressed while it works and re-enabled before it stops, a buffer made
/// available during the drain is either seen here or notified.
pub fn drain(
    mem: &GuestMemory,
    queue: &mut Queue,
    index: u16,
    interrupt: &VirtioInterrupt,
    mut handle: impl FnMut(Chain<'_>) -> u32,
) -> Result<usize, virtio_queue::Error> {
    let mut used = 0;
    loop {
        queue.disable_notification(mem)?;
        let mut round = 0;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let len = handle(chain);
            queue.add_used(mem, head, len)?;
            round += 1;
        }
        used += round;
        // A ring whose index is corrupt yields nothing but never looks empty: stop.
        if !queue.enable_notification(mem)? || round == 0 {
            break;
        }
    }
    if used > 0 {
        notify_if_needed(mem, queue, index, interrupt)?;
    }
    Ok(used)
}

/// Interrupts the driver for queue `index` if used buffers were added that it wants to hear of.
pub fn notify_if_needed(
    mem: &GuestMemory,
    queue: &mut Queue,
    index: u16,
    interrupt: &VirtioInterrupt,
) -> Result<(), virtio_queue::Error> {
    if queue.needs_notification(mem)? {
        interrupt.signal_queue(index);
    }
    Ok(())
}

/// Guest buffers as (address, length) segments, in chain order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Segments(pub Vec<(GuestAddress, usize)>);

impl Segments {
    /// Total bytes.
    pub fn len(&self) -> usize {
        self.0.iter().map(|s| s.1).sum()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The segments covering bytes `start..start + len` (clipped to what exists).
    pub fn range(&self, start: usize, len: usize) -> Segments {
        let mut out = Vec::new();
        let (mut skip, mut left) = (start, len);
        for &(addr, seg) in &self.0 {
            if left == 0 {
                break;
            }
            if skip >= seg {
                skip -= seg;
                continue;
            }
            let take = (seg - skip).min(left);
            out.push((GuestAddress(addr.0 + skip as u64), take));
            left -= take;
            skip = 0;
        }
        Segments(out)
    }
}

/// Splits a chain into its device-readable and device-writable segments.
pub fn split(chain: Chain<'_>) -> (Segments, Segments) {
    let mut readable = Vec::new();
    let mut writable = Vec::new();
    for d in chain {
        push(&d, &mut readable, &mut writable);
    }
    (Segments(readable), Segments(writable))
}

fn push(
    d: &Descriptor,
    readable: &mut Vec<(GuestAddress, usize)>,
    writable: &mut Vec<(GuestAddress, usize)>,
) {
    let seg = (d.addr(), d.len() as usize);
    if d.is_write_only() {
        writable.push(seg);
    } else {
        readable.push(seg);
    }
}

/// Copies guest bytes `start..start + out.len()` of `segments` into `out`; false if the
/// segments are shorter or outside guest memory.
pub fn read_guest(mem: &GuestMemory, segments: &Segments, start: usize, out: &mut [u8]) -> bool {
    use vm_memory::Bytes;
    let mut at = 0;
    for (addr, len) in segments.range(start, out.len()).0 {
        if mem.read_slice(&mut out[at..at + len], addr).is_err() {
            return false;
        }
        at += len;
    }
    at == out.len()
}

/// Copies `data` into guest bytes `start..` of `segments`; false if they are too short or
/// outside guest memory.
pub fn write_guest(mem: &GuestMemory, segments: &Segments, start: usize, data: &[u8]) -> bool {
    use vm_memory::Bytes;
    let mut at = 0;
    for (addr, len) in segments.range(start, data.len()).0 {
        if mem.write_slice(&data[at..at + len], addr).is_err() {
            return false;
        }
        at += len;
    }
    at == data.len()
}
