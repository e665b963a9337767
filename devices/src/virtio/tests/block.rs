//! virtio-blk behind the transport: requests laid out by a driver in guest memory, results
//! checked in the used ring, the status byte, the image file and the interrupts.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use vm_memory::{Bytes, GuestAddress};

use super::driver::{enable_msix, fired, memory, rig, Buffers, DriverQueue, Rig};
use crate::virtio::block::{Block, BlockError, BlockOptions};
use crate::virtio::SharedVirtioDevice;

const VERSION_1: u64 = 1 << 32;
const EVENT_IDX: u64 = 1 << 29;
const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;
const F_DISCARD: u64 = 1 << 13;
const F_WRITE_ZEROES: u64 = 1 << 14;

/// A temporary image of `size` bytes whose byte `i` is `i * 7 + i / 512` (mod 256).
pub fn temp_disk(name: &str, size: usize) -> (File, PathBuf) {
    let path = std::env::temp_dir().join(format!(
        "ovmm-virtio-{name}-{}-{:?}.img",
        std::process::id(),
        std::thread::current().id()
    ));
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 512) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    (file, path)
}

fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| (i * 7 + i / 512) as u8)
        .collect()
}

struct Disk {
    rig: Rig,
    q: DriverQueue,
    bufs: Buffers,
    path: PathBuf,
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn disk(name: &str, sectors: usize, read_only: bool, features: u64) -> Disk {
    let (file, path) = temp_disk(name, sectors * 512);
    let block = Block::new(BlockOptions {
        label: format!("virtio-blk {name}"),
        file,
        read_only,
        serial: "serial-0123456789-abcdef".into(),
    })
    .unwrap();
    let device: SharedVirtioDevice = Arc::new(Mutex::new(block));
    let mut rig = rig(device, 2, memory());
    enable_msix(&mut rig, 2);
    let q = DriverQueue::new(&rig.mem.clone(), 0x1000, 16);
    assert_eq!(rig.handshake(VERSION_1 | features, &[&q], true), 15);
    // The kick after DRIVER_OK finds nothing to do.
    rig.run_io();
    assert!(!fired(&rig.vectors[1]));
    Disk {
        rig,
        q,
        bufs: Buffers::new(),
        path,
    }
}

impl Disk {
    fn mem(&self) -> crate::virtio::GuestMemory {
        self.rig.mem.clone()
    }

    /// Queues a request of `kind` at `sector`: header, `out` data (device-readable), then
    /// `in_lens` device-writable buffers and the status byte. Returns the addresses of the
    /// writable buffers and of the status byte.
    fn request(
        &mut self,
        kind: u32,
        sector: u64,
        out: &[&[u8]],
        in_lens: &[u32],
    ) -> (Vec<u64>, u64) {
        let mem = self.mem();
        let header = self.bufs.alloc(16);
        mem.write_obj(kind, GuestAddress(header)).unwrap();
        mem.write_obj(sector, GuestAddress(header + 8)).unwrap();
        let mut chain = vec![(header, 16, false)];
        for data in out {
            let at = self.bufs.alloc(data.len() as u32);
            mem.write_slice(data, GuestAddress(at)).unwrap();
            chain.push((at, data.len() as u32, false));
        }
        let mut ins = Vec::new();
        for &len in in_lens {
            let at = self.bufs.alloc(len);
            mem.write_slice(&vec![0xee; len as usize], GuestAddress(at))
                .unwrap();
            chain.push((at, len, true));
            ins.push(at);
        }
        let status = self.bufs.alloc(1);
        mem.write_obj(0xffu8, GuestAddress(status)).unwrap();
        chain.push((status, 1, true));
        self.q.add(&mem, &chain);
        (ins, status)
    }

    /// Notifies the queue, runs the I/O side, returns the used entries and whether the
    /// queue's vector fired.
    fn run(&mut self) -> (Vec<(u32, u32)>, bool) {
        self.rig.write16(0x3000, 0);
        self.rig.run_io();
        let used = self.q.take_used(&self.mem());
        (used, fired(&self.rig.vectors[1]))
    }

    fn status(&self, at: u64) -> u8 {
        self.mem().read_obj(GuestAddress(at)).unwrap()
    }

    fn guest(&self, at: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.mem().read_slice(&mut v, GuestAddress(at)).unwrap();
        v
    }

    fn file(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut f = File::open(&self.path).unwrap();
        f.seek(SeekFrom::Start(offset)).unwrap();
        let mut v = vec![0; len];
        f.read_exact(&mut v).unwrap();
        v
    }
}

#[test]
fn features_and_config_space() {
    let mut d = disk("config", 128, false, 0);
    let offered = d.rig.device_features();
    assert_eq!(
        offered & (F_FLUSH | F_DISCARD | F_WRITE_ZEROES | F_RO),
        F_FLUSH | F_DISCARD | F_WRITE_ZEROES
    );
    assert_eq!(d.rig.read32(0x2000), 128, "capacity (low)");
    assert_eq!(d.rig.read32(0x2004), 0, "capacity (high)");
    assert_eq!(d.rig.read32(0x200c), 254, "seg_max");
    assert_eq!(d.rig.read32(0x2014), 512, "blk_size");
    assert_eq!(d.rig.read32(0x2028), 32, "max_discard_seg");
    assert_eq!(d.rig.read8(0x2038), 1, "write_zeroes_may_unmap");
    assert_eq!(d.rig.read32(0x2100), 0, "past the structure");
}

#[test]
fn read_across_descriptors() {
    let mut d = disk("read", 64, false, 0);
    let (ins, status) = d.request(0, 3, &[], &[512, 1024]);
    let (used, irq) = d.run();
    assert_eq!(
        used,
        vec![(0, 1537)],
        "head 0, 1536 data bytes and the status byte"
    );
    assert!(irq);
    assert_eq!(d.status(status), 0);
    assert_eq!(d.guest(ins[0], 512), pattern(3 * 512, 512));
    assert_eq!(d.guest(ins[1], 1024), pattern(4 * 512, 1024));
}

#[test]
fn write_then_flush() {
    let mut d = disk("write", 64, false, 0);
    let data: Vec<u8> = (0..1024).map(|i| (i % 251) as u8).collect();
    let (_, status) = d.request(1, 10, &[&data[..512], &data[512..]], &[]);
    let (used, _) = d.run();
    assert_eq!((used, d.status(status)), (vec![(0, 1)], 0));
    assert_eq!(d.file(10 * 512, 1024), data);
    assert_eq!(
        d.file(9 * 512, 512),
        pattern(9 * 512, 512),
        "the sector before is untouched"
    );
    let (_, status) = d.request(4, 0, &[], &[]);
    let (used, _) = d.run();
    assert_eq!((used.len(), d.status(status)), (1, 0));
}

#[test]
fn get_id_and_errors() {
    let mut d = disk("id", 64, false, 0);
    let (ins, status) = d.request(8, 0, &[], &[20]);
    let (used, _) = d.run();
    assert_eq!((used, d.status(status)), (vec![(0, 21)], 0));
    assert_eq!(d.guest(ins[0], 20), b"serial-0123456789-ab");
    // Past the end of the disk.
    let (_, status) = d.request(0, 63, &[], &[1024]);
    let (used, _) = d.run();
    assert_eq!(
        (used[0].1, d.status(status)),
        (1, 1),
        "IOERR, nothing written"
    );
    // Not whole sectors.
    let (_, status) = d.request(0, 0, &[], &[100]);
    d.run();
    assert_eq!(d.status(status), 1);
    // A request type the device does not know.
    let (_, status) = d.request(0x99, 0, &[], &[]);
    d.run();
    assert_eq!(d.status(status), 2, "UNSUPP");
}

#[test]
fn read_only_disk_refuses_writes() {
    let mut d = disk("ro", 64, true, 0);
    assert_eq!(d.rig.device_features() & (F_RO | F_DISCARD), F_RO);
    let (_, status) = d.request(1, 0, &[&[0u8; 512]], &[]);
    d.run();
    assert_eq!(d.status(status), 1, "IOERR");
    assert_eq!(d.file(0, 512), pattern(0, 512));
    let mut seg = Vec::new();
    seg.extend_from_slice(&0u64.to_le_bytes());
    seg.extend_from_slice(&8u32.to_le_bytes());
    seg.extend_from_slice(&0u32.to_le_bytes());
    let (_, status) = d.request(11, 0, &[&seg], &[]);
    d.run();
    assert_eq!(d.status(status), 1);
    let (ins, status) = d.request(0, 1, &[], &[512]);
    d.run();
    assert_eq!(
        (d.status(status), d.guest(ins[0], 512)),
        (0, pattern(512, 512))
    );
}

fn discard_segment(sector: u64, sectors: u32, flags: u32) -> Vec<u8> {
    let mut seg = Vec::new();
    seg.extend_from_slice(&sector.to_le_bytes());
    seg.extend_from_slice(&sectors.to_le_bytes());
    seg.extend_from_slice(&flags.to_le_bytes());
    seg
}

#[test]
fn write_zeroes_and_discard() {
    let mut d = disk("zeroes", 64, false, F_DISCARD | F_WRITE_ZEROES);
    let segs = [discard_segment(8, 8, 0), discard_segment(32, 1, 1)].concat();
    let (_, status) = d.request(13, 0, &[&segs], &[]);
    d.run();
    assert_eq!(d.status(status), 0);
    assert_eq!(d.file(8 * 512, 4096), vec![0; 4096]);
    assert_eq!(d.file(32 * 512, 512), vec![0; 512]);
    assert_eq!(d.file(7 * 512, 512), pattern(7 * 512, 512));
    assert_eq!(d.file(33 * 512, 512), pattern(33 * 512, 512));
    assert_eq!(
        std::fs::metadata(&d.path).unwrap().len(),
        64 * 512,
        "the size is kept"
    );
    // Discard: a hole where the file system can punch one, else UNSUPP; never an error.
    let (_, status) = d.request(11, 0, &[&discard_segment(16, 8, 0)], &[]);
    d.run();
    match d.status(status) {
        0 => assert_eq!(d.file(16 * 512, 4096), vec![0; 4096]),
        s => assert_eq!(s, 2),
    }
    // Discard with the unmap flag, or past the end: refused.
    let (_, status) = d.request(11, 0, &[&discard_segment(0, 1, 1)], &[]);
    d.run();
    assert_eq!(d.status(status), 2);
    let (_, status) = d.request(13, 0, &[&discard_segment(60, 8, 0)], &[]);
    d.run();
    assert_eq!(d.status(status), 1);
}

#[test]
fn event_idx_suppresses_interrupts_and_asks_for_notifications() {
    let mut d = disk("eventidx", 64, false, EVENT_IDX);
    let mem = d.mem();
    // The driver wants an interrupt only after the second used entry (used_event = 1).
    d.q.set_used_event(&mem, 1);
    d.request(0, 0, &[], &[512]);
    let (used, irq) = d.run();
    assert_eq!((used.len(), irq), (1, false));
    d.request(0, 1, &[], &[512]);
    let (used, irq) = d.run();
    assert_eq!((used.len(), irq), (1, true));
    // The device asks to be notified at the next available entry.
    assert_eq!(d.q.avail_event(&mem), 2);
    assert_eq!(d.q.used_flags(&mem), 0);
}

#[test]
fn reset_stops_the_device() {
    let mut d = disk("reset", 64, false, 0);
    d.rig.write8(0x14, 0);
    d.request(0, 0, &[], &[512]);
    let (used, irq) = d.run();
    assert_eq!(
        (used.len(), irq),
        (0, false),
        "a reset device does not touch the rings"
    );
}

#[test]
fn partial_sector_image_is_refused() {
    let (file, path) = temp_disk("partial", 1000);
    let e = Block::new(BlockOptions {
        label: "virtio-blk odd.img".into(),
        file,
        read_only: false,
        serial: String::new(),
    })
    .err()
    .unwrap();
    std::fs::remove_file(path).unwrap();
    assert!(
        matches!(e, BlockError::PartialSector { size: 1000, .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("odd.img: its size 1000 bytes is not a multiple of 512"),
        "{e}"
    );
}
