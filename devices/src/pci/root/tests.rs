use super::*;
use crate::pci::bar::{BarKind, BarRemap};
use crate::pci::device::BarTrap;

/// A function with one 4 KiB memory BAR that records what reaches it.
struct TestDevice {
    config: PciConfigSpace,
    writes: Vec<(u16, Vec<u8>)>,
    bar_accesses: Vec<(u8, u64, usize)>,
}

impl TestDevice {
    fn new(vendor: u16, device: u16) -> Arc<Mutex<TestDevice>> {
        let mut config = PciConfigSpace::new();
        config.set_u16(VENDOR_ID, vendor);
        config.set_u16(DEVICE_ID, device);
        config.set_writable_u16(COMMAND, COMMAND_MEMORY_SPACE);
        config
            .add_bar(BarInfo::new(0, BarKind::Memory32, 0x1000, false))
            .unwrap();
        config.set_bar_address(0, 0xc000_0000).unwrap();
        Arc::new(Mutex::new(TestDevice {
            config,
            writes: Vec::new(),
            bar_accesses: Vec::new(),
        }))
    }
}

impl PciDevice for TestDevice {
    fn debug_label(&self) -> &str {
        "test device"
    }
    fn config_read(&self, offset: u16) -> u32 {
        self.config.read_u32(offset)
    }
    fn config_write(&mut self, offset: u16, data: &[u8]) -> Vec<ConfigEffect> {
        self.writes.push((offset, data.to_vec()));
        self.config.write(offset, data)
    }
    fn bars(&self) -> &[BarInfo] {
        self.config.bars()
    }
    fn set_bar_address(&mut self, bar: u8, address: u64) -> Result<Vec<ConfigEffect>, BarError> {
        self.config.set_bar_address(bar, address)
    }
    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        self.bar_accesses.push((bar, offset, data.len()));
        data.fill(bar);
    }
    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        self.bar_accesses.push((bar, offset, data.len()));
    }
}

fn addr(device: u8, function: u8) -> PciAddress {
    PciAddress::new(0, device, function).unwrap()
}

fn setup() -> (Arc<PciRoot>, Arc<EffectQueue>, Arc<Mutex<TestDevice>>) {
    let queue = Arc::new(EffectQueue::new());
    let root = Arc::new(PciRoot::new(queue.clone()));
    let device = TestDevice::new(0x8086, 0x10d3);
    assert_eq!(root.add_device(device.clone()).unwrap(), addr(1, 0));
    (root, queue, device)
}

fn cf8(device: u8, function: u8, register: u8) -> [u8; 4] {
    (0x8000_0000u32 | u32::from(device) << 11 | u32::from(function) << 8 | u32::from(register))
        .to_le_bytes()
}

fn io_read(io: &mut PciConfigIo, offset: u64, len: usize) -> u32 {
    let mut data = [0u8; 4];
    io.read(offset, &mut data[..len]);
    u32::from_le_bytes(data)
}

fn ecam_read(mmio: &mut PciConfigMmio, offset: u64, len: usize) -> u32 {
    let mut data = [0u8; 4];
    mmio.read(offset, &mut data[..len]);
    u32::from_le_bytes(data)
}

#[test]
fn host_bridge_through_cf8() {
    let (root, _, _) = setup();
    let mut io = PciConfigIo::new(root);
    io.write(0, &cf8(0, 0, 0x00));
    assert_eq!(io_read(&mut io, 4, 4), 0x0008_1b36);
    io.write(0, &cf8(0, 0, 0x08));
    assert_eq!(io_read(&mut io, 4, 4), 0x0600_0000);
    // Byte and word reads at 0xCFC-0xCFF pick bytes of the selected dword.
    io.write(0, &cf8(0, 0, 0x00));
    assert_eq!(io_read(&mut io, 5, 1), 0x1b);
    assert_eq!(io_read(&mut io, 6, 2), 0x0008);
    assert_eq!(io_read(&mut io, 7, 1), 0x00);
    // An access crossing the end of the data window reads all-ones.
    assert_eq!(io_read(&mut io, 6, 4), 0xffff_ffff);
}

#[test]
fn cf8_address_register() {
    let (root, _, _) = setup();
    let mut io = PciConfigIo::new(root);
    // Reserved bits read back as 0.
    io.write(0, &u32::MAX.to_le_bytes());
    assert_eq!(io_read(&mut io, 0, 4), 0x80ff_fffc);
    // Byte and word accesses to 0xCF8-0xCFB are not the address register.
    io.write(1, &[0x06]);
    io.write(2, &[0, 0]);
    assert_eq!(io_read(&mut io, 0, 4), 0x80ff_fffc);
    assert_eq!(io_read(&mut io, 1, 1), 0xff);
    // Disabled address register: the data window reads all-ones and ignores writes.
    io.write(0, &0x0000_0800u32.to_le_bytes());
    assert_eq!(io_read(&mut io, 4, 4), 0xffff_ffff);
    io.write(0, &0x0000_0804u32.to_le_bytes());
    io.write(4, &COMMAND_MEMORY_SPACE.to_le_bytes());
    io.write(0, &cf8(1, 0, 0x04));
    assert_eq!(io_read(&mut io, 4, 2), 0);
}

#[test]
fn empty_slots_and_other_buses_read_all_ones() {
    let (root, _, _) = setup();
    let mut io = PciConfigIo::new(root.clone());
    io.write(0, &cf8(2, 0, 0));
    assert_eq!(io_read(&mut io, 4, 4), 0xffff_ffff);
    io.write(0, &cf8(1, 1, 0));
    assert_eq!(io_read(&mut io, 4, 2), 0xffff);
    io.write(
        0,
        &(u32::from_le_bytes(cf8(1, 0, 0)) | 1 << 16).to_le_bytes(),
    );
    assert_eq!(io_read(&mut io, 4, 4), 0xffff_ffff);
    io.write(0, &cf8(1, 0, 0));
    assert_eq!(io_read(&mut io, 4, 4), 0x10d3_8086);
    // Writes to an empty slot go nowhere.
    root.config_write(addr(5, 0), 0x04, &[0xff]);
    assert_eq!(root.config_read(addr(5, 0), 0x04), u32::MAX);
}

#[test]
fn cf8_writes_reach_the_right_register() {
    let (root, queue, device) = setup();
    let mut io = PciConfigIo::new(root);
    io.write(0, &cf8(1, 0, 0x04));
    io.write(4, &[0x02]);
    io.write(0, &cf8(1, 0, 0x3c));
    io.write(7, &[0x12]);
    io.write(6, &[0x34, 0x56]);
    assert_eq!(
        device.lock().unwrap().writes,
        vec![
            (0x04, vec![0x02]),
            (0x3f, vec![0x12]),
            (0x3e, vec![0x34, 0x56])
        ]
    );
    // Enabling memory decoding mapped BAR 0; the effect names the function.
    assert_eq!(
        queue.drain(),
        vec![(
            addr(1, 0),
            ConfigEffect::Bar(BarRemap {
                bar: 0,
                kind: BarKind::Memory32,
                size: 0x1000,
                old: None,
                new: Some(0xc000_0000)
            })
        )]
    );
    assert!(queue.drain().is_empty());
}

#[test]
fn host_bridge_command_and_status() {
    let (root, _, _) = setup();
    let bridge = addr(0, 0);
    root.config_write(bridge, 0x04, &0xffffu16.to_le_bytes());
    assert_eq!(root.config_read(bridge, 0x04) & 0xffff, 0x0007);
    assert_eq!(root.config_read(bridge, 0x10), 0);
    assert_eq!(root.config_read(bridge, 0x100), 0);
}

#[test]
fn ecam_decodes_bus_device_function_register() {
    let (root, queue, device) = setup();
    let mut mmio = PciConfigMmio::new(root);
    let function = |dev: u64, func: u64| dev << 15 | func << 12;
    assert_eq!(ecam_read(&mut mmio, 0, 4), 0x0008_1b36);
    assert_eq!(ecam_read(&mut mmio, function(1, 0), 4), 0x10d3_8086);
    assert_eq!(ecam_read(&mut mmio, function(1, 0) + 2, 2), 0x10d3);
    assert_eq!(ecam_read(&mut mmio, function(1, 0) + 1, 1), 0x80);
    assert_eq!(ecam_read(&mut mmio, function(1, 0) + 0x10, 4), 0xc000_0000);
    // Extended config space is reachable through ECAM only.
    assert_eq!(ecam_read(&mut mmio, function(1, 0) + 0x100, 4), 0);
    assert_eq!(ecam_read(&mut mmio, function(1, 1), 4), 0xffff_ffff);
    assert_eq!(
        ecam_read(&mut mmio, function(31, 7) + 0xffc, 4),
        0xffff_ffff
    );
    assert_eq!(
        ecam_read(&mut mmio, ECAM_BUS_SIZE + function(1, 0), 4),
        0xffff_ffff
    );
    // Misaligned accesses read all-ones and are not written.
    assert_eq!(ecam_read(&mut mmio, function(1, 0) + 3, 2), 0xffff);
    mmio.write(function(1, 0) + 2, &[0; 4]);
    mmio.write(function(1, 0) + 4, &0x0002u16.to_le_bytes());
    assert_eq!(
        device.lock().unwrap().writes,
        vec![(0x04, vec![0x02, 0x00])]
    );
    assert_eq!(queue.drain().len(), 1);
}

#[test]
fn placement_on_the_bus() {
    let (root, _, _) = setup();
    let second = TestDevice::new(0x1af4, 0x1000);
    assert_eq!(root.add_device(second.clone()).unwrap(), addr(2, 0));
    assert_eq!(
        root.add_device_at(addr(2, 0), second.clone()),
        Err(PciRootError::AddressTaken(addr(2, 0)))
    );
    let elsewhere = PciAddress::new(1, 0, 0).unwrap();
    assert_eq!(
        root.add_device_at(elsewhere, second.clone()),
        Err(PciRootError::NotOnBus0(elsewhere))
    );
    // A second function makes function 0 multi-function; function 1 itself is not marked.
    assert_eq!(root.config_read(addr(2, 0), 0x0c), 0);
    root.add_device_at(addr(2, 1), TestDevice::new(0x1af4, 0x1001))
        .unwrap();
    assert_eq!(root.config_read(addr(2, 0), 0x0c), 0x0080_0000);
    assert_eq!(root.config_read(addr(2, 0), 0x0e), 0x0080_0000);
    assert_eq!(root.config_read(addr(2, 1), 0x0c), 0);
    assert_eq!(root.devices().len(), 4);
    for slot in 3..32u8 {
        root.add_device(TestDevice::new(1, slot.into())).unwrap();
    }
    assert_eq!(
        root.add_device(TestDevice::new(1, 1)).unwrap_err(),
        PciRootError::NoFreeSlot
    );
    assert!(root.device(addr(31, 0)).is_some());
}

#[test]
fn bar_trap_adds_its_start() {
    let device = TestDevice::new(1, 2);
    let mut trap = BarTrap::new(device.clone(), 3, 0x2000);
    let mut data = [0u8; 4];
    trap.read(0x10, &mut data);
    assert_eq!(data, [3; 4]);
    trap.write(0x18, &[0; 8]);
    assert_eq!(
        device.lock().unwrap().bar_accesses,
        vec![(3, 0x2010, 4), (3, 0x2018, 8)]
    );
}
