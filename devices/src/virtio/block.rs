//! virtio-blk on a raw image file: read, write, flush, get-id, discard and write-zeroes, one
//! request queue, requests served on the event loop's thread with one positioned read or write
//! per MiB through a bounce buffer.
//!
//! A read-only disk offers `VIRTIO_BLK_F_RO` and fails every write, discard and write-zeroes
//! with `VIRTIO_BLK_S_IOERR`, in case a guest writes anyway. Discard punches a hole in the file
//! (`VIRTIO_BLK_S_UNSUPP` when its file system cannot); write-zeroes punches a hole when the
//! driver allows unmapping, else zeroes the range (`FALLOC_FL_ZERO_RANGE`, or plain writes).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use virtio_bindings::virtio_blk::{
    VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO,
    VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_S_IOERR,
    VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH,
    VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_WRITE_ZEROES,
    VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
};
use virtio_bindings::virtio_ids::VIRTIO_ID_BLOCK;
use virtio_queue::Queue;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::interrupt::VirtioInterrupt;
use super::queue::{self, read_guest, split, write_guest, Chain, Segments};
use super::{read_bytes, ActivateError, Activation, EventSource, GuestMemory, VirtioDevice};

/// Bytes per sector, the unit of every virtio-blk address.
pub const SECTOR_SIZE: u64 = 512;
/// Size of the request queue.
pub const QUEUE_SIZE: u16 = 256;
/// Discard and write-zeroes segments per request.
const MAX_DISCARD_SEGMENTS: u32 = 32;
/// Largest discard or write-zeroes segment, in sectors (4 GiB - 512).
const MAX_DISCARD_SECTORS: u32 = u32::MAX >> 9;
/// Discard granularity, in sectors (4 KiB).
const DISCARD_ALIGNMENT_SECTORS: u32 = 8;
/// Length of the config space ovmm fills (`struct virtio_blk_config` up to
/// `write_zeroes_may_unmap`).
const CONFIG_LEN: usize = 0x3c;
/// Length of a request header (type, reserved, sector).
const HEADER_LEN: usize = 16;
/// Requests move through a buffer this big: one positioned read or write per MiB instead of a
/// seek and a read per guest page (system calls are what costs most in a VMM process).
const BOUNCE_LEN: usize = 1 << 20;

/// What the block device is built from.
pub struct BlockOptions {
    /// A name for logs ("virtio-blk /path/disk.img").
    pub label: String,
    /// The open image (read-write unless `read_only`).
    pub file: File,
    /// Refuse writes and tell the driver the disk is read-only.
    pub read_only: bool,
    /// The serial the driver reads with GET_ID (up to 20 bytes; longer is cut).
    pub serial: String,
}

/// Errors building a block device.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The image's size is not a whole number of sectors.
    #[error("{label}: its size {size} bytes is not a multiple of {SECTOR_SIZE}; resize the image (truncate -s) to whole sectors")]
    PartialSector {
        /// The device.
        label: String,
        /// The file size.
        size: u64,
    },
    /// The OS refused something.
    #[error("{label}: {what}: {source}")]
    Io {
        /// The device.
        label: String,
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

struct Active {
    mem: GuestMemory,
    queue: Queue,
    interrupt: Arc<VirtioInterrupt>,
}

/// A virtio block device.
pub struct Block {
    label: String,
    file: File,
    read_only: bool,
    serial: [u8; VIRTIO_BLK_ID_BYTES as usize],
    sectors: u64,
    config: [u8; CONFIG_LEN],
    features: u64,
    queue_event: EventFd,
    active: Option<Active>,
    bounce: Vec<u8>,
}

/// A request's outcome: bytes written into the guest's buffers, or a virtio-blk status.
type Outcome = Result<usize, u8>;
const IOERR: u8 = VIRTIO_BLK_S_IOERR as u8;
const UNSUPP: u8 = VIRTIO_BLK_S_UNSUPP as u8;

impl Block {
    /// A block device over `options.file`.
    pub fn new(options: BlockOptions) -> Result<Block, BlockError> {
        let io_err = |what| {
            let label = options.label.clone();
            move |source| BlockError::Io {
                label,
                what,
                source,
            }
        };
        let size = options
            .file
            .metadata()
            .map_err(io_err("cannot read the image's size"))?
            .len();
        if size % SECTOR_SIZE != 0 {
            return Err(BlockError::PartialSector {
                label: options.label,
                size,
            });
        }
        let queue_event = EventFd::new(EFD_NONBLOCK).map_err(io_err("cannot create an eventfd"))?;
        let mut serial = [0u8; VIRTIO_BLK_ID_BYTES as usize];
        let id = options.serial.as_bytes();
        let n = id.len().min(serial.len());
        serial[..n].copy_from_slice(&id[..n]);
        let sectors = size / SECTOR_SIZE;
        let mut features =
            1 << VIRTIO_BLK_F_SEG_MAX | 1 << VIRTIO_BLK_F_BLK_SIZE | 1 << VIRTIO_BLK_F_FLUSH;
        if options.read_only {
            features |= 1 << VIRTIO_BLK_F_RO;
        } else {
            features |= 1 << VIRTIO_BLK_F_DISCARD | 1 << VIRTIO_BLK_F_WRITE_ZEROES;
        }
        Ok(Block {
            config: config_space(sectors),
            label: options.label,
            file: options.file,
            read_only: options.read_only,
            serial,
            sectors,
            features,
            queue_event,
            active: None,
            bounce: vec![0; BOUNCE_LEN],
        })
    }

    /// The disk's size in sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    fn process_queue(&mut self) {
        let Some(mut active) = self.active.take() else {
            return;
        };
        let Active {
            mem,
            queue: q,
            interrupt,
        } = &mut active;
        if let Err(e) = queue::drain(mem, q, 0, interrupt, |chain| {
            self.handle_request(mem, chain)
        }) {
            log::error!("{}: request queue: {e}", self.label);
        }
        self.active = Some(active);
    }

    fn handle_request(&mut self, mem: &GuestMemory, chain: Chain<'_>) -> u32 {
        let (readable, writable) = split(chain);
        let Some(status_at) = writable.len().checked_sub(1) else {
            log::warn!("{}: a request without a status byte; dropped", self.label);
            return 0;
        };
        let (status, written) = match self.execute(mem, &readable, &writable.range(0, status_at)) {
            Ok(n) => (VIRTIO_BLK_S_OK as u8, n),
            Err(status) => (status, 0),
        };
        if !write_guest(mem, &writable, status_at, &[status]) {
            log::warn!("{}: cannot write a request's status byte", self.label);
        }
        (written + 1) as u32
    }

    fn execute(&mut self, mem: &GuestMemory, readable: &Segments, out: &Segments) -> Outcome {
        let mut header = [0u8; HEADER_LEN];
        if !read_guest(mem, readable, 0, &mut header) {
            return Err(IOERR);
        }
        let kind = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let sector = u64::from_le_bytes(header[8..16].try_into().unwrap_or([0; 8]));
        let data_in = readable.range(HEADER_LEN, usize::MAX);
        match kind {
            VIRTIO_BLK_T_IN => self.read(mem, sector, out),
            VIRTIO_BLK_T_OUT if self.read_only => Err(IOERR),
            VIRTIO_BLK_T_OUT => self.write(mem, sector, &data_in),
            VIRTIO_BLK_T_FLUSH if self.read_only => Ok(0),
            VIRTIO_BLK_T_FLUSH => self
                .file
                .sync_data()
                .map(|_| 0)
                .map_err(|e| self.io_error("flush", e)),
            VIRTIO_BLK_T_GET_ID => {
                let n = out.len().min(self.serial.len());
                if write_guest(mem, out, 0, &self.serial[..n]) {
                    Ok(n)
                } else {
                    Err(IOERR)
                }
            }
            VIRTIO_BLK_T_DISCARD | VIRTIO_BLK_T_WRITE_ZEROES if self.read_only => Err(IOERR),
            VIRTIO_BLK_T_DISCARD | VIRTIO_BLK_T_WRITE_ZEROES => {
                self.discard_or_zero(mem, kind, &data_in)
            }
            _ => Err(UNSUPP),
        }
    }

    /// The byte offset of `sector` if `bytes` bytes from there are inside the disk.
    fn check_range(&self, sector: u64, bytes: u64) -> Result<u64, u8> {
        let end = sector
            .checked_add(bytes.div_ceil(SECTOR_SIZE))
            .ok_or(IOERR)?;
        if bytes % SECTOR_SIZE != 0 || end > self.sectors {
            log::debug!("{}: request for {bytes} bytes at sector {sector} is outside the disk or not whole sectors", self.label);
            return Err(IOERR);
        }
        Ok(sector * SECTOR_SIZE)
    }

    fn io_error(&self, what: &str, e: impl std::fmt::Display) -> u8 {
        log::warn!("{}: {what} failed: {e}", self.label);
        IOERR
    }

    fn read(&mut self, mem: &GuestMemory, sector: u64, out: &Segments) -> Outcome {
        let offset = self.check_range(sector, out.len() as u64)?;
        let mut done = 0;
        while done < out.len() {
            let n = (out.len() - done).min(BOUNCE_LEN);
            let buf = &mut self.bounce[..n];
            if let Err(e) = self.file.read_exact_at(buf, offset + done as u64) {
                return Err(self.io_error("read", e));
            }
            if !write_guest(mem, out, done, buf) {
                return Err(self.io_error("read", "a buffer is outside guest memory"));
            }
            done += n;
        }
        Ok(out.len())
    }

    fn write(&mut self, mem: &GuestMemory, sector: u64, data: &Segments) -> Outcome {
        let offset = self.check_range(sector, data.len() as u64)?;
        let mut done = 0;
        while done < data.len() {
            let n = (data.len() - done).min(BOUNCE_LEN);
            let buf = &mut self.bounce[..n];
            if !read_guest(mem, data, done, buf) {
                return Err(self.io_error("write", "a buffer is outside guest memory"));
            }
            if let Err(e) = self.file.write_all_at(buf, offset + done as u64) {
                return Err(self.io_error("write", e));
            }
            done += n;
        }
        Ok(0)
    }

    fn discard_or_zero(&mut self, mem: &GuestMemory, kind: u32, data: &Segments) -> Outcome {
        let count = data.len() / 16;
        if count == 0 || data.len() % 16 != 0 || count > MAX_DISCARD_SEGMENTS as usize {
            return Err(IOERR);
        }
        for i in 0..count {
            let mut seg = [0u8; 16];
            if !read_guest(mem, data, i * 16, &mut seg) {
                return Err(IOERR);
            }
            let sector = u64::from_le_bytes(seg[..8].try_into().unwrap_or([0; 8]));
            let sectors = u32::from_le_bytes([seg[8], seg[9], seg[10], seg[11]]);
            let flags = u32::from_le_bytes([seg[12], seg[13], seg[14], seg[15]]);
            let len = u64::from(sectors) * SECTOR_SIZE;
            let offset = self.check_range(sector, len)?;
            if kind == VIRTIO_BLK_T_DISCARD {
                if flags != 0 {
                    return Err(UNSUPP);
                }
                self.punch_hole(offset, len)?;
            } else {
                if flags & !VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP != 0 {
                    return Err(UNSUPP);
                }
                let unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP != 0;
                if !(unmap && self.punch_hole(offset, len).is_ok()) {
                    self.zero_range(offset, len)?;
                }
            }
        }
        Ok(0)
    }

    fn punch_hole(&self, offset: u64, len: u64) -> Result<(), u8> {
        fallocate(
            &self.file,
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset,
            len,
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => UNSUPP,
            _ => self.io_error("punching a hole", e),
        })
    }

    fn zero_range(&mut self, offset: u64, len: u64) -> Result<(), u8> {
        match fallocate(
            &self.file,
            libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
            offset,
            len,
        ) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
            Err(e) => return Err(self.io_error("zeroing a range", e)),
        }
        self.bounce.fill(0);
        let mut done = 0;
        while done < len {
            let n = (len - done).min(BOUNCE_LEN as u64) as usize;
            if let Err(e) = self.file.write_all_at(&self.bounce[..n], offset + done) {
                return Err(self.io_error("writing zeroes", e));
            }
            done += n as u64;
        }
        Ok(())
    }
}

/// `fallocate(2)` on an open file.
fn fallocate(file: &File, mode: i32, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    // SAFETY: fallocate takes only integers; the descriptor belongs to `file`, which is open
    // for the whole call.
    let ret = unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, len) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `struct virtio_blk_config` for a disk of `sectors` sectors.
fn config_space(sectors: u64) -> [u8; CONFIG_LEN] {
    let mut c = [0u8; CONFIG_LEN];
    let mut put = |at: usize, bytes: &[u8]| c[at..at + bytes.len()].copy_from_slice(bytes);
    put(0x00, &sectors.to_le_bytes());
    // seg_max: the driver puts a header and a status descriptor around the data segments.
    put(0x0c, &u32::from(QUEUE_SIZE - 2).to_le_bytes());
    put(0x14, &(SECTOR_SIZE as u32).to_le_bytes());
    put(0x24, &MAX_DISCARD_SECTORS.to_le_bytes());
    put(0x28, &MAX_DISCARD_SEGMENTS.to_le_bytes());
    put(0x2c, &DISCARD_ALIGNMENT_SECTORS.to_le_bytes());
    put(0x30, &MAX_DISCARD_SECTORS.to_le_bytes());
    put(0x34, &MAX_DISCARD_SEGMENTS.to_le_bytes());
    put(0x38, &[1]);
    c
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_BLOCK
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        self.features
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_bytes(&self.config, offset, data);
    }

    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        let queue = activation
            .queues
            .into_iter()
            .next()
            .filter(virtio_queue::QueueT::ready);
        let Some(queue) = queue else {
            return Err(ActivateError::BadQueue {
                index: 0,
                reason: "the request queue was not enabled",
            });
        };
        self.active = Some(Active {
            mem: activation.mem,
            queue,
            interrupt: activation.interrupt,
        });
        Ok(())
    }

    fn reset(&mut self) {
        self.active = None;
    }

    fn queue_event(&self, index: usize) -> Option<&EventFd> {
        (index == 0).then_some(&self.queue_event)
    }

    fn event_sources(&self) -> Vec<EventSource> {
        vec![EventSource {
            fd: self.queue_event.as_raw_fd(),
            edge_triggered: false,
        }]
    }

    fn handle_event(&mut self, fd: RawFd) {
        if fd == self.queue_event.as_raw_fd() {
            // Drained whether or not the device runs: the eventfd is level-triggered.
            let _ = self.queue_event.read();
            self.process_queue();
        }
    }
}
