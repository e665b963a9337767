//! The virtio-pci transport: config space, capabilities, the handshake, notifications and
//! interrupts, driven through the `PciDevice` interface as a guest would.

use std::sync::{Arc, Mutex};

use super::block::temp_disk;
use super::driver::{enable_msix, fired, memory, rig, DriverQueue, Rig, BAR};
use crate::pci::config_space::{COMMAND, COMMAND_INTX_DISABLE, COMMAND_MEMORY_SPACE};
use crate::pci::device::PciDevice;
use crate::virtio::block::{Block, BlockOptions};
use crate::virtio::SharedVirtioDevice;

const VERSION_1: u64 = 1 << 32;
const EVENT_IDX: u64 = 1 << 29;
const INDIRECT: u64 = 1 << 28;

fn block_rig(vectors: u16) -> Rig {
    let (file, _) = temp_disk("transport", 64 * 512);
    let block = Block::new(BlockOptions {
        label: "virtio-blk test".into(),
        file,
        read_only: false,
        serial: "t".into(),
    })
    .unwrap();
    let device: SharedVirtioDevice = Arc::new(Mutex::new(block));
    rig(device, vectors, memory())
}

/// Walks the capability list: (offset, id) pairs.
fn caps(pci: &dyn PciDevice) -> Vec<(u16, u8)> {
    let mut out = Vec::new();
    let mut at = (pci.config_read(0x34) & 0xff) as u16;
    while at != 0 && out.len() < 16 {
        let header = pci.config_read(at);
        out.push((at, header as u8));
        at = ((header >> 8) & 0xff) as u16;
    }
    out
}

#[test]
fn config_space_describes_a_modern_virtio_function() {
    let r = block_rig(2);
    let pci = &r.pci;
    assert_eq!(
        pci.config_read(0x00),
        0x1042_1af4,
        "vendor 0x1af4, device 0x1040 + 2"
    );
    assert_eq!(
        pci.config_read(0x08),
        0x0180_0001,
        "class 0x018000, revision 1"
    );
    assert_eq!(pci.config_read(0x2c), 0x0002_1af4);
    assert_eq!(pci.config_read(0x3c) >> 8 & 0xff, 1, "INTA");
    assert_ne!(pci.config_read(0x04) >> 16 & 0x10, 0, "capability list");
    let list = caps(pci);
    assert_eq!(
        list,
        vec![
            (0x40, 9),
            (0x50, 9),
            (0x64, 9),
            (0x74, 9),
            (0x84, 9),
            (0x98, 0x11)
        ]
    );
    // cfg_type, bar, offset, length of each vendor capability.
    let vendor: Vec<(u8, u8, u32, u32)> = list[..5]
        .iter()
        .map(|&(at, _)| {
            let h = pci.config_read(at);
            let bar = pci.config_read(at + 4) as u8;
            (
                (h >> 24) as u8,
                bar,
                pci.config_read(at + 8),
                pci.config_read(at + 12),
            )
        })
        .collect();
    assert_eq!(
        vendor,
        vec![
            (1, 0, 0x0000, 0x38),
            (2, 0, 0x3000, 0x1000),
            (3, 0, 0x1000, 4),
            (4, 0, 0x2000, 0x1000),
            (5, 0, 0, 0)
        ]
    );
    assert_eq!(pci.config_read(0x50 + 16), 4, "notify_off_multiplier");
    // MSI-X: 2 entries, table at BAR 0 + 0x4000, PBA at BAR 0 + 0x6000.
    assert_eq!(pci.config_read(0x98) >> 16, 1);
    assert_eq!(pci.config_read(0x9c), 0x4000);
    assert_eq!(pci.config_read(0xa0), 0x6000);
    let bars = pci.bars();
    assert_eq!(
        (bars.len(), bars[0].size, bars[0].address),
        (1, 0x8000, BAR)
    );
}

#[test]
fn intx_only_function_has_no_msix_capability() {
    let r = block_rig(0);
    assert_eq!(caps(&r.pci).last(), Some(&(0x84, 9)));
}

#[test]
fn bar_size_probe_and_pci_cfg_window() {
    let mut r = block_rig(2);
    r.pci.config_write(COMMAND, &0u16.to_le_bytes());
    r.pci.config_write(0x10, &u32::MAX.to_le_bytes());
    assert_eq!(
        r.pci.config_read(0x10),
        0xffff_8000,
        "32 KiB, 32-bit, not prefetchable"
    );
    r.pci.config_write(0x10, &(BAR as u32).to_le_bytes());
    // virtio_pci_cfg_cap: bar 0, offset 0x12 (num_queues), length 2, then read the data.
    r.pci.config_write(0x84 + 4, &[0]);
    r.pci.config_write(0x84 + 8, &0x12u32.to_le_bytes());
    r.pci.config_write(0x84 + 12, &2u32.to_le_bytes());
    assert_eq!(
        r.pci.config_read(0x84 + 16),
        1,
        "one queue, read through config space"
    );
    // A write through the window: device_feature_select = 1.
    r.pci.config_write(0x84 + 8, &0u32.to_le_bytes());
    r.pci.config_write(0x84 + 12, &4u32.to_le_bytes());
    r.pci.config_write(0x84 + 16, &1u32.to_le_bytes());
    assert_eq!(r.read32(0x00), 1);
    assert_eq!(r.read32(0x04), 1, "high word: VERSION_1");
}

#[test]
fn feature_negotiation() {
    let mut r = block_rig(2);
    let offered = r.device_features();
    assert_eq!(
        offered & (VERSION_1 | EVENT_IDX | INDIRECT),
        VERSION_1 | EVENT_IDX | INDIRECT
    );
    // The legacy interface does not exist: FEATURES_OK without VERSION_1 is refused.
    r.write8(0x14, 1 | 2);
    r.write_driver_features(EVENT_IDX);
    r.write8(0x14, 1 | 2 | 8);
    assert_eq!(r.read8(0x14), 1 | 2);
    // So is a feature that was not offered.
    r.write_driver_features(VERSION_1 | 1 << 60);
    r.write8(0x14, 1 | 2 | 8);
    assert_eq!(r.read8(0x14), 1 | 2);
    // DRIVER_OK without FEATURES_OK does not stick either.
    r.write8(0x14, 1 | 2 | 4);
    assert_eq!(r.read8(0x14), 1 | 2);
    r.write_driver_features(VERSION_1 | EVENT_IDX);
    r.write8(0x14, 1 | 2 | 8);
    assert_eq!(r.read8(0x14), 1 | 2 | 8);
    // Features are fixed once accepted.
    r.write_driver_features(VERSION_1);
    r.write32(0x08, 0);
    assert_eq!(r.read32(0x0c), EVENT_IDX as u32);
}

#[test]
fn queue_registers_and_reset() {
    let mut r = block_rig(2);
    assert_eq!(r.read16(0x12), 1, "num_queues");
    r.write16(0x16, 0);
    assert_eq!(r.read16(0x18), 256, "queue_size starts at the maximum");
    assert_eq!(r.read16(0x1e), 0, "queue_notify_off");
    r.write16(0x18, 64);
    r.write32(0x20, 0x1234_5000);
    r.write32(0x24, 0x1);
    assert_eq!(r.read32(0x20), 0x1234_5000);
    assert_eq!(r.read32(0x24), 1);
    r.write16(0x1a, 1);
    assert_eq!(r.read16(0x1a), 1);
    r.write16(0x1a, 7);
    assert_eq!(
        r.read16(0x1a),
        0xffff,
        "a vector past the table reads back as NO_VECTOR"
    );
    r.write16(0x10, 5);
    assert_eq!(r.read16(0x10), 0xffff);
    // A queue that does not exist reads as size 0.
    r.write16(0x16, 3);
    assert_eq!(r.read16(0x18), 0);
    r.write8(0x14, 1);
    r.write8(0x14, 0);
    assert_eq!(r.read8(0x14), 0);
    r.write16(0x16, 0);
    assert_eq!(
        (r.read16(0x18), r.read32(0x20), r.read16(0x1a)),
        (256, 0, 0xffff)
    );
}

#[test]
fn notify_addresses_follow_the_bar() {
    let mut r = block_rig(2);
    assert_eq!(*r.notify.lock().unwrap(), vec![(true, BAR + 0x3000)]);
    assert_eq!(r.pci.notify_address(0), Some(BAR + 0x3000));
    // The guest moves the BAR while decoding: the binding moves with it.
    let moved = BAR + 0x10_0000;
    r.pci.config_write(0x10, &(moved as u32).to_le_bytes());
    // Decoding off: released.
    r.pci.config_write(COMMAND, &0u16.to_le_bytes());
    assert_eq!(
        *r.notify.lock().unwrap(),
        vec![
            (true, BAR + 0x3000),
            (false, BAR + 0x3000),
            (true, moved + 0x3000),
            (false, moved + 0x3000)
        ]
    );
    assert_eq!(r.pci.notify_address(0), None);
    r.pci
        .config_write(COMMAND, &COMMAND_MEMORY_SPACE.to_le_bytes());
    assert_eq!(
        r.notify.lock().unwrap().last(),
        Some(&(true, moved + 0x3000))
    );
    drop(r.pci);
    assert_eq!(
        r.notify.lock().unwrap().last(),
        Some(&(false, moved + 0x3000))
    );
}

#[test]
fn a_notification_through_the_bar_signals_the_queue() {
    let mut r = block_rig(2);
    let evt = crate::virtio::lock_device(&r.device)
        .queue_event(0)
        .unwrap()
        .try_clone()
        .unwrap();
    assert_eq!(r.pci.userspace_notifications(), 0);
    r.write16(0x3000, 0);
    assert!(fired(&evt));
    assert_eq!(r.pci.userspace_notifications(), 1);
    // Past the last queue: nothing.
    r.write16(0x3004, 1);
    assert!(!fired(&evt));
    assert_eq!(r.pci.userspace_notifications(), 1);
}

#[test]
fn msix_routing_and_queue_interrupts() {
    let mut r = block_rig(2);
    enable_msix(&mut r, 2);
    let updates = r.updates.lock().unwrap().clone();
    let routed: Vec<(u16, u64, u32, bool)> = updates
        .iter()
        .map(|u| (u.vector, u.message.address, u.message.data, u.masked))
        .collect();
    assert_eq!(
        routed,
        vec![(0, 0xfee0_0000, 0x40, false), (1, 0xfee0_1000, 0x41, false)]
    );
    let mem = r.mem.clone();
    let q = DriverQueue::new(&mem, 0x1000, 16);
    assert_eq!(r.handshake(VERSION_1, &[&q], true), 1 | 2 | 4 | 8);
    let interrupt = r.pci.interrupt();
    interrupt.signal_queue(0);
    assert!(fired(&r.vectors[1]) && !fired(&r.vectors[0]));
    assert!(!fired(&r.intx), "no INTx with MSI-X on");
    assert_eq!(r.read8(0x1000), 0, "the ISR is not used with MSI-X");
    interrupt.signal_config();
    assert!(fired(&r.vectors[0]));
    // Masking the function re-routes every vector as masked.
    r.updates.lock().unwrap().clear();
    r.pci.config_write(0x9a, &0xc000u16.to_le_bytes());
    assert!(r.updates.lock().unwrap().iter().all(|u| u.masked));
    assert_eq!(r.updates.lock().unwrap().len(), 2);
}

#[test]
fn intx_isr_and_resample() {
    let mut r = block_rig(2);
    let mem = r.mem.clone();
    let q = DriverQueue::new(&mem, 0x1000, 16);
    assert_eq!(r.handshake(VERSION_1, &[&q], false), 1 | 2 | 4 | 8);
    let interrupt = r.pci.interrupt();
    interrupt.signal_queue(0);
    assert!(fired(&r.intx));
    // The guest EOIs before reading the ISR: the line is asserted again.
    interrupt.resample();
    assert!(fired(&r.intx));
    assert_eq!(r.read8(0x1000), 1, "ISR: queue interrupt");
    assert_eq!(r.read8(0x1000), 0, "reading the ISR cleared it");
    interrupt.resample();
    assert!(!fired(&r.intx));
    // INTx disabled in the command register: the ISR is set but the line stays low.
    r.pci.config_write(
        COMMAND,
        &(COMMAND_MEMORY_SPACE | COMMAND_INTX_DISABLE).to_le_bytes(),
    );
    interrupt.signal_config();
    assert!(!fired(&r.intx));
    assert_eq!(r.read8(0x1000), 2);
}

#[test]
fn driver_ok_with_a_bad_queue_sets_needs_reset() {
    let mut r = block_rig(2);
    enable_msix(&mut r, 2);
    // The queue is never enabled: the block device refuses to start.
    r.write8(0x14, 1 | 2);
    r.write_driver_features(VERSION_1);
    r.write8(0x14, 1 | 2 | 8);
    r.write16(0x10, 0);
    let generation = r.read8(0x15);
    r.write8(0x14, 1 | 2 | 8 | 4);
    assert_eq!(r.read8(0x14), 1 | 2 | 8 | 4 | 64, "DEVICE_NEEDS_RESET");
    assert_ne!(r.read8(0x15), generation);
    assert!(fired(&r.vectors[0]), "config-change interrupt");
    // A queue whose size is not a power of two is refused too.
    r.write8(0x14, 0);
    let mem = r.mem.clone();
    let q = DriverQueue::new(&mem, 0x1000, 16);
    r.write8(0x14, 1 | 2);
    r.write_driver_features(VERSION_1);
    r.write8(0x14, 1 | 2 | 8);
    r.setup_queue(0, &q, 1);
    r.write16(0x16, 0);
    assert_eq!(r.read16(0x1c), 1);
    r.write8(0x14, 0);
    r.write8(0x14, 1 | 2);
    r.write_driver_features(VERSION_1);
    r.write8(0x14, 1 | 2 | 8);
    r.write16(0x16, 0);
    r.write16(0x18, 24);
    r.write16(0x1c, 1);
    r.write8(0x14, 1 | 2 | 8 | 4);
    assert_eq!(r.read8(0x14) & 64, 64);
}
