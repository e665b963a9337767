//! The driver side, for tests: guest memory, split rings laid out by hand, descriptor chains,
//! used-ring reading, and the virtio-pci handshake through the [`PciDevice`] interface.

use std::io;
use std::sync::{Arc, Mutex};

use vm_memory::{Address, Bytes, GuestAddress};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::pci::config_space::{COMMAND, COMMAND_MEMORY_SPACE};
use crate::pci::device::PciDevice;
use crate::pci::interrupt::{MsiInterrupts, VectorUpdate};
use crate::virtio::pci::{NotifyRegistrar, VirtioPciArgs, VirtioPciDevice};
use crate::virtio::{GuestMemory, SharedVirtioDevice};

/// Where the tests put BAR 0.
pub const BAR: u64 = 0xc000_0000;
/// Guest memory size in tests.
pub const MEM_SIZE: u64 = 4 << 20;
/// First address the tests allocate buffers from.
const BUFFERS: u64 = 0x10_0000;

/// `VRING_DESC_F_NEXT`, `VRING_DESC_F_WRITE`.
const F_NEXT: u16 = 1;
const F_WRITE: u16 = 2;

pub fn memory() -> GuestMemory {
    GuestMemory::from_ranges(&[(GuestAddress(0), MEM_SIZE as usize)]).unwrap()
}

/// A split virtqueue as the driver sees it.
pub struct DriverQueue {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    next_desc: u16,
    avail_idx: u16,
    last_used: u16,
}

impl DriverQueue {
    /// Lays out a queue of `size` entries at `base` (descriptors, then the available ring, then
    /// the used ring at 4-byte alignment).
    pub fn new(mem: &GuestMemory, base: u64, size: u16) -> Self {
        let desc = base;
        let avail = desc + 16 * u64::from(size);
        let used = (avail + 6 + 2 * u64::from(size) + 3) & !3;
        let end = used + 6 + 8 * u64::from(size);
        mem.write_slice(&vec![0u8; (end - base) as usize], GuestAddress(base))
            .unwrap();
        DriverQueue {
            size,
            desc,
            avail,
            used,
            next_desc: 0,
            avail_idx: 0,
            last_used: 0,
        }
    }

    /// Adds a chain of buffers `(address, length, device-writable)` and makes it available.
    /// Returns its head.
    pub fn add(&mut self, mem: &GuestMemory, bufs: &[(u64, u32, bool)]) -> u16 {
        let head = self.next_desc;
        for (i, &(addr, len, writable)) in bufs.iter().enumerate() {
            let index = (self.next_desc + i as u16) % self.size;
            let last = i + 1 == bufs.len();
            let flags = if last { 0 } else { F_NEXT } | if writable { F_WRITE } else { 0 };
            let next = (index + 1) % self.size;
            let at = GuestAddress(self.desc + 16 * u64::from(index));
            mem.write_obj(addr, at).unwrap();
            mem.write_obj(len, at.unchecked_add(8)).unwrap();
            mem.write_obj(flags, at.unchecked_add(12)).unwrap();
            mem.write_obj(if last { 0u16 } else { next }, at.unchecked_add(14))
                .unwrap();
        }
        self.next_desc = (self.next_desc + bufs.len() as u16) % self.size;
        let slot = self.avail + 4 + 2 * u64::from(self.avail_idx % self.size);
        mem.write_obj(head, GuestAddress(slot)).unwrap();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.write_obj(self.avail_idx, GuestAddress(self.avail + 2))
            .unwrap();
        head
    }

    /// Used entries `(head, length)` added since the last call.
    pub fn take_used(&mut self, mem: &GuestMemory) -> Vec<(u32, u32)> {
        let idx: u16 = mem.read_obj(GuestAddress(self.used + 2)).unwrap();
        let mut out = Vec::new();
        while self.last_used != idx {
            let at = self.used + 4 + 8 * u64::from(self.last_used % self.size);
            let id: u32 = mem.read_obj(GuestAddress(at)).unwrap();
            let len: u32 = mem.read_obj(GuestAddress(at + 4)).unwrap();
            out.push((id, len));
            self.last_used = self.last_used.wrapping_add(1);
        }
        out
    }

    /// Sets `used_event` (the trailing field of the available ring): with EVENT_IDX the device
    /// interrupts only when its used index passes it.
    pub fn set_used_event(&self, mem: &GuestMemory, value: u16) {
        let at = self.avail + 4 + 2 * u64::from(self.size);
        mem.write_obj(value, GuestAddress(at)).unwrap();
    }

    /// `avail_event` (the trailing field of the used ring): where the device wants the next
    /// notification.
    pub fn avail_event(&self, mem: &GuestMemory) -> u16 {
        let at = self.used + 4 + 8 * u64::from(self.size);
        mem.read_obj(GuestAddress(at)).unwrap()
    }

    /// Flags of the used ring (bit 0: the device asks for no notifications).
    pub fn used_flags(&self, mem: &GuestMemory) -> u16 {
        mem.read_obj(GuestAddress(self.used)).unwrap()
    }
}

/// A bump allocator for buffers in guest memory.
pub struct Buffers {
    next: u64,
}

impl Buffers {
    pub fn new() -> Self {
        Buffers { next: BUFFERS }
    }

    /// `len` bytes at a fresh, 16-byte aligned address.
    pub fn alloc(&mut self, len: u32) -> u64 {
        let at = self.next;
        self.next = (self.next + u64::from(len) + 15) & !15;
        assert!(self.next < MEM_SIZE, "test buffers ran out of guest memory");
        at
    }
}

/// MSI-X vectors with eventfds the test keeps copies of, recording every update.
pub struct TestVectors {
    evts: Vec<EventFd>,
    updates: Arc<Mutex<Vec<VectorUpdate>>>,
}

impl TestVectors {
    /// `count` vectors; returns them, the test's copies of their eventfds and the update log.
    pub fn new(count: u16) -> (Self, Vec<EventFd>, Arc<Mutex<Vec<VectorUpdate>>>) {
        let evts: Vec<EventFd> = (0..count)
            .map(|_| EventFd::new(EFD_NONBLOCK).unwrap())
            .collect();
        let copies = evts.iter().map(|e| e.try_clone().unwrap()).collect();
        let updates = Arc::new(Mutex::new(Vec::new()));
        (
            TestVectors {
                evts,
                updates: updates.clone(),
            },
            copies,
            updates,
        )
    }
}

impl MsiInterrupts for TestVectors {
    fn vector_count(&self) -> u16 {
        self.evts.len() as u16
    }

    fn eventfd(&self, vector: u16) -> Option<&EventFd> {
        self.evts.get(usize::from(vector))
    }

    fn update(&mut self, updates: &[VectorUpdate]) -> io::Result<()> {
        self.updates.lock().unwrap().extend_from_slice(updates);
        Ok(())
    }

    fn pending(&self, _vector: u16) -> bool {
        false
    }
}

/// Registrations of notify addresses, as `(registered, address)` in call order.
pub type NotifyLog = Arc<Mutex<Vec<(bool, u64)>>>;

/// A [`NotifyRegistrar`] that records calls.
pub struct TestNotify(pub NotifyLog);

impl NotifyRegistrar for TestNotify {
    fn register(&mut self, address: u64, _event: &EventFd) -> io::Result<()> {
        self.0.lock().unwrap().push((true, address));
        Ok(())
    }

    fn unregister(&mut self, address: u64, _event: &EventFd) -> io::Result<()> {
        self.0.lock().unwrap().push((false, address));
        Ok(())
    }
}

/// A transport with its test handles.
pub struct Rig {
    pub pci: VirtioPciDevice,
    pub mem: GuestMemory,
    pub vectors: Vec<EventFd>,
    pub updates: Arc<Mutex<Vec<VectorUpdate>>>,
    pub intx: EventFd,
    pub notify: NotifyLog,
    pub device: SharedVirtioDevice,
}

/// Builds the transport around `device` with `vectors` MSI-X vectors (0: INTx only), places BAR
/// 0 at [`BAR`] and enables memory decoding.
pub fn rig(device: SharedVirtioDevice, vectors: u16, mem: GuestMemory) -> Rig {
    let (msi, copies, updates) = TestVectors::new(vectors);
    let intx = EventFd::new(EFD_NONBLOCK).unwrap();
    let notify: NotifyLog = Arc::default();
    let mut pci = VirtioPciDevice::new(VirtioPciArgs {
        device: device.clone(),
        mem: mem.clone(),
        msi: (vectors > 0).then(|| Box::new(msi) as Box<dyn MsiInterrupts>),
        intx: Some(intx.try_clone().unwrap()),
        notify: Some(Box::new(TestNotify(notify.clone()))),
        class_code: 0x01_8000,
    })
    .unwrap();
    assert!(pci.set_bar_address(0, BAR).unwrap().is_empty());
    pci.config_write(COMMAND, &COMMAND_MEMORY_SPACE.to_le_bytes());
    Rig {
        pci,
        mem,
        vectors: copies,
        updates,
        intx,
        notify,
        device,
    }
}

impl Rig {
    pub fn read8(&mut self, offset: u64) -> u8 {
        let mut b = [0u8; 1];
        self.pci.bar_read(0, offset, &mut b);
        b[0]
    }

    pub fn read16(&mut self, offset: u64) -> u16 {
        let mut b = [0u8; 2];
        self.pci.bar_read(0, offset, &mut b);
        u16::from_le_bytes(b)
    }

    pub fn read32(&mut self, offset: u64) -> u32 {
        let mut b = [0u8; 4];
        self.pci.bar_read(0, offset, &mut b);
        u32::from_le_bytes(b)
    }

    pub fn write8(&mut self, offset: u64, v: u8) {
        self.pci.bar_write(0, offset, &[v]);
    }

    pub fn write16(&mut self, offset: u64, v: u16) {
        self.pci.bar_write(0, offset, &v.to_le_bytes());
    }

    pub fn write32(&mut self, offset: u64, v: u32) {
        self.pci.bar_write(0, offset, &v.to_le_bytes());
    }

    /// The 64 offered feature bits.
    pub fn device_features(&mut self) -> u64 {
        self.write32(0x00, 0);
        let low = self.read32(0x04);
        self.write32(0x00, 1);
        let high = self.read32(0x04);
        u64::from(low) | u64::from(high) << 32
    }

    pub fn write_driver_features(&mut self, features: u64) {
        self.write32(0x08, 0);
        self.write32(0x0c, features as u32);
        self.write32(0x08, 1);
        self.write32(0x0c, (features >> 32) as u32);
    }

    /// Sets queue `index` up (size, rings, vector) and enables it.
    pub fn setup_queue(&mut self, index: u16, q: &DriverQueue, vector: u16) {
        self.write16(0x16, index);
        self.write16(0x18, q.size);
        for (at, addr) in [(0x20, q.desc), (0x28, q.avail), (0x30, q.used)] {
            self.write32(at, addr as u32);
            self.write32(at + 4, (addr >> 32) as u32);
        }
        self.write16(0x1a, vector);
        self.write16(0x1c, 1);
    }

    /// The whole handshake: ACKNOWLEDGE, DRIVER, `features`, FEATURES_OK, the queues (queue `i`
    /// on vector `i + 1` when MSI-X is on, vector 0 for config), DRIVER_OK. Returns the status
    /// read back.
    pub fn handshake(&mut self, features: u64, queues: &[&DriverQueue], msix: bool) -> u8 {
        self.write8(0x14, 0);
        self.write8(0x14, 1);
        self.write8(0x14, 1 | 2);
        self.write_driver_features(features);
        self.write8(0x14, 1 | 2 | 8);
        assert_eq!(self.read8(0x14) & 8, 8, "FEATURES_OK refused");
        if msix {
            self.write16(0x10, 0);
        }
        for (i, q) in queues.iter().enumerate() {
            let vector = if msix { i as u16 + 1 } else { 0xffff };
            self.setup_queue(i as u16, q, vector);
        }
        self.write8(0x14, 1 | 2 | 8 | 4);
        self.read8(0x14)
    }

    /// Runs the device's I/O side on everything pending, as the event loop would.
    pub fn run_io(&self) {
        let sources = crate::virtio::lock_device(&self.device).event_sources();
        for s in sources {
            crate::virtio::lock_device(&self.device).handle_event(s.fd);
        }
    }
}

/// Whether an eventfd was signalled (reads and clears it).
pub fn fired(evt: &EventFd) -> bool {
    evt.read().is_ok()
}

/// Programs MSI-X table entry `vector` unmasked and enables MSI-X in config space.
pub fn enable_msix(rig: &mut Rig, vectors: u16) {
    for v in 0..vectors {
        let at = 0x4000 + 16 * u64::from(v);
        rig.pci
            .bar_write(0, at, &(0xfee0_0000u32 | u32::from(v) << 12).to_le_bytes());
        rig.pci
            .bar_write(0, at + 8, &(0x40 + u32::from(v)).to_le_bytes());
        rig.pci.bar_write(0, at + 12, &0u32.to_le_bytes());
    }
    // MSI-X capability at 0x98: enable bit 15 of message control.
    rig.pci.config_write(0x9a, &0x8000u16.to_le_bytes());
}
