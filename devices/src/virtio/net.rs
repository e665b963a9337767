//! virtio-net on a TAP device: one receive and one transmit queue, frames copied between the
//! TAP and the rings with their `virtio_net_hdr_v1` unchanged (no offloads are offered, so the
//! header says "no checksum, no segmentation" both ways).
//!
//! Receive is driven by two events: the TAP became readable (edge-triggered: the device reads
//! until the TAP is empty or the driver has no buffer left) and the driver added receive
//! buffers (the RX queue's notification). A frame read while no buffer is free waits in the
//! device until one is.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use virtio_bindings::virtio_ids::VIRTIO_ID_NET;
use virtio_bindings::virtio_net::{VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS, VIRTIO_NET_S_LINK_UP};
use virtio_queue::{Queue, QueueT};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::interrupt::VirtioInterrupt;
use super::queue::{self, read_guest, split, write_guest};
use super::tap::{Tap, VNET_HDR_LEN};
use super::{read_bytes, ActivateError, Activation, EventSource, GuestMemory, VirtioDevice};

/// Size of each queue.
pub const QUEUE_SIZE: u16 = 256;
/// Receive queue index.
pub const RX: usize = 0;
/// Transmit queue index.
pub const TX: usize = 1;
/// Largest frame handled: a 64 KiB packet with its Ethernet and virtio-net headers.
const MAX_FRAME: usize = 65536 + 14 + 4 + VNET_HDR_LEN;

/// What the network device is built from.
pub struct NetOptions {
    /// A name for logs ("virtio-net tap0").
    pub label: String,
    /// The attached TAP.
    pub tap: Tap,
    /// The guest's MAC address.
    pub mac: [u8; 6],
}

/// Frame counts, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Frames handed to the guest.
    pub rx_frames: u64,
    /// Frames dropped because the guest's buffer was too small.
    pub rx_dropped: u64,
    /// Frames sent to the TAP.
    pub tx_frames: u64,
    /// Frames the TAP refused or that were malformed.
    pub tx_dropped: u64,
}

struct Active {
    mem: GuestMemory,
    rx: Queue,
    tx: Queue,
    interrupt: Arc<VirtioInterrupt>,
}

/// A virtio network device.
pub struct Net {
    label: String,
    tap: Tap,
    config: [u8; 8],
    queue_events: [EventFd; 2],
    active: Option<Active>,
    rx_buf: Vec<u8>,
    /// Length of the frame waiting in `rx_buf` for a guest buffer.
    rx_pending: Option<usize>,
    tx_buf: Vec<u8>,
    stats: NetStats,
}

/// The default MAC of a guest NIC: a hash of `seed` (the TAP's name, which the host keeps
/// stable) with the locally administered bit set and the multicast bit clear.
pub fn default_mac(seed: &str) -> [u8; 6] {
    // FNV-1a: stable across Rust releases, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"ovmm-virtio-net:".iter().chain(seed.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [(b[0] & 0xfe) | 0x02, b[1], b[2], b[3], b[4], b[5]]
}

impl Net {
    /// A network device on `options.tap`.
    pub fn new(options: NetOptions) -> io::Result<Net> {
        let mut config = [0u8; 8];
        config[..6].copy_from_slice(&options.mac);
        config[6..8].copy_from_slice(&(VIRTIO_NET_S_LINK_UP as u16).to_le_bytes());
        Ok(Net {
            label: options.label,
            tap: options.tap,
            config,
            queue_events: [EventFd::new(EFD_NONBLOCK)?, EventFd::new(EFD_NONBLOCK)?],
            active: None,
            rx_buf: vec![0; MAX_FRAME],
            rx_pending: None,
            tx_buf: vec![0; MAX_FRAME],
            stats: NetStats::default(),
        })
    }

    /// Frame counts so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    fn process_tx(&mut self) {
        let Some(a) = self.active.as_mut() else {
            return;
        };
        let (tap, buf, stats, label) = (
            &mut self.tap,
            &mut self.tx_buf,
            &mut self.stats,
            &self.label,
        );
        let result = queue::drain(&a.mem, &mut a.tx, TX as u16, &a.interrupt, |chain| {
            let (readable, _) = split(chain);
            let n = readable.len();
            if !(VNET_HDR_LEN..=buf.len()).contains(&n)
                || !read_guest(&a.mem, &readable, 0, &mut buf[..n])
            {
                stats.tx_dropped += 1;
                return 0;
            }
            match tap.write_frame(&buf[..n]) {
                Ok(_) => stats.tx_frames += 1,
                Err(e) => {
                    stats.tx_dropped += 1;
                    if stats.tx_dropped.is_power_of_two() {
                        log::warn!(
                            "{label}: the TAP refused a frame ({e}); {} dropped so far",
                            stats.tx_dropped
                        );
                    }
                }
            }
            0
        });
        if let Err(e) = result {
            log::error!("{}: transmit queue: {e}", self.label);
        }
    }

    fn process_rx(&mut self) {
        let Some(mut a) = self.active.take() else {
            return;
        };
        if let Err(e) = self.receive(&mut a) {
            log::error!("{}: receive queue: {e}", self.label);
        }
        self.active = Some(a);
    }

    fn receive(&mut self, a: &mut Active) -> Result<(), virtio_queue::Error> {
        let mut used = 0u32;
        loop {
            let tap_empty = self.fill_rx(a, &mut used)?;
            // Out of buffers: ask the driver to notify when it adds some, unless it just did.
            if tap_empty || !a.rx.enable_notification(&a.mem)? {
                break;
            }
        }
        if used > 0 {
            queue::notify_if_needed(&a.mem, &mut a.rx, RX as u16, &a.interrupt)?;
        }
        Ok(())
    }

    /// Moves frames from the TAP into receive buffers. Returns true when the TAP is empty,
    /// false when the buffers ran out first.
    fn fill_rx(&mut self, a: &mut Active, used: &mut u32) -> Result<bool, virtio_queue::Error> {
        loop {
            let len = match self.rx_pending {
                Some(len) => len,
                None => match self.tap.read_frame(&mut self.rx_buf) {
                    Ok(len) => len,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        log::warn!("{}: reading the TAP failed: {e}", self.label);
                        return Ok(true);
                    }
                },
            };
            self.rx_pending = Some(len);
            let Some(chain) = a.rx.pop_descriptor_chain(&a.mem) else {
                return Ok(false);
            };
            let head = chain.head_index();
            let (_, writable) = split(chain);
            self.rx_pending = None;
            let written = if writable.len() >= len
                && write_guest(&a.mem, &writable, 0, &self.rx_buf[..len])
            {
                self.stats.rx_frames += 1;
                len as u32
            } else {
                self.stats.rx_dropped += 1;
                log::debug!(
                    "{}: a {len}-byte frame did not fit a {}-byte receive buffer",
                    self.label,
                    writable.len()
                );
                0
            };
            a.rx.add_used(&a.mem, head, written)?;
            *used += 1;
        }
    }
}

impl VirtioDevice for Net {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_NET
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE, QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        1 << VIRTIO_NET_F_MAC | 1 << VIRTIO_NET_F_STATUS
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_bytes(&self.config, offset, data);
    }

    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        let mut queues = activation.queues.into_iter();
        let (Some(rx), Some(tx)) = (queues.next(), queues.next()) else {
            return Err(ActivateError::BadQueue {
                index: RX,
                reason: "the device has two queues",
            });
        };
        for (index, q) in [(RX, &rx), (TX, &tx)] {
            if !q.ready() {
                return Err(ActivateError::BadQueue {
                    index,
                    reason: "it was not enabled",
                });
            }
        }
        self.active = Some(Active {
            mem: activation.mem,
            rx,
            tx,
            interrupt: activation.interrupt,
        });
        Ok(())
    }

    fn reset(&mut self) {
        self.active = None;
        self.rx_pending = None;
    }

    fn queue_event(&self, index: usize) -> Option<&EventFd> {
        self.queue_events.get(index)
    }

    fn event_sources(&self) -> Vec<EventSource> {
        let mut v: Vec<EventSource> = self
            .queue_events
            .iter()
            .map(|e| EventSource {
                fd: e.as_raw_fd(),
                edge_triggered: false,
            })
            .collect();
        v.push(EventSource {
            fd: self.tap.as_raw_fd(),
            edge_triggered: true,
        });
        v
    }

    fn handle_event(&mut self, fd: RawFd) {
        if fd == self.queue_events[TX].as_raw_fd() {
            let _ = self.queue_events[TX].read();
            self.process_tx();
        } else if fd == self.queue_events[RX].as_raw_fd() {
            let _ = self.queue_events[RX].read();
            self.process_rx();
        } else if fd == self.tap.as_raw_fd() {
            self.process_rx();
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let s = self.stats;
        log::info!(
            "{}: {} frames received ({} dropped), {} sent ({} dropped)",
            self.label,
            s.rx_frames,
            s.rx_dropped,
            s.tx_frames,
            s.tx_dropped
        );
    }
}
