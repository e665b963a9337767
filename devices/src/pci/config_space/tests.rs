use super::*;
use crate::pci::bar::ROM_BAR;

fn remap(bar: &BarInfo, old: Option<u64>, new: Option<u64>) -> ConfigEffect {
    ConfigEffect::Bar(BarRemap {
        bar: bar.index,
        kind: bar.kind,
        size: bar.size,
        old,
        new,
    })
}

#[test]
fn writes_are_masked_per_bit() {
    let mut cs = PciConfigSpace::new();
    cs.set_u32(0x40, 0x1234_5678);
    cs.set_writable_u32(0x40, 0x0000_ff0f);
    assert!(cs.write(0x40, &0xffff_ffffu32.to_le_bytes()).is_empty());
    assert_eq!(cs.read_u32(0x40), 0x1234_ff7f);
    // A byte write touches only its byte.
    cs.write(0x41, &[0x00]);
    assert_eq!(cs.read_u32(0x40), 0x1234_007f);
    // Read-only registers ignore writes.
    cs.set_u16(VENDOR_ID, 0x8086);
    cs.write(VENDOR_ID, &[0xff, 0xff]);
    assert_eq!(cs.vendor_id(), 0x8086);
    assert_eq!(cs.writable_u32(0x40), 0xff0f);
}

#[test]
fn status_error_bits_are_write_one_to_clear() {
    let mut cs = PciConfigSpace::new();
    cs.set_u16(STATUS, 0xf910 | 0x0100);
    cs.set_w1c_u16(STATUS, STATUS_W1C_BITS);
    // Writing 0 keeps everything, writing 1 to bit 13 clears only it.
    cs.write(STATUS, &0u16.to_le_bytes());
    assert_eq!(cs.status(), 0xf910);
    cs.write(STATUS, &0x2000u16.to_le_bytes());
    assert_eq!(cs.status(), 0xd910);
    // The capabilities bit is read-only: writing 1 to it does not clear it.
    cs.write(STATUS, &0xffffu16.to_le_bytes());
    assert_eq!(cs.status(), 0x0010);
}

#[test]
fn bytes_past_4k_are_dropped() {
    let mut cs = PciConfigSpace::new();
    cs.set_writable_u32(0xffc, u32::MAX);
    cs.write(0xffe, &[1, 2, 3, 4]);
    assert_eq!(cs.read_u32(0xffc), 0x0201_0000);
    let mut data = [0xaa; 4];
    cs.read(0xffe, &mut data);
    assert_eq!(data, [1, 2, 0, 0]);
}

#[test]
fn size_probe_of_each_bar_kind() {
    let mut cs = PciConfigSpace::new();
    cs.add_bar(BarInfo::new(0, BarKind::Memory32, 0x2_0000, false))
        .unwrap();
    cs.add_bar(BarInfo::new(1, BarKind::Memory32, 0x1000, true))
        .unwrap();
    cs.add_bar(BarInfo::new(2, BarKind::Memory64, 64 << 30, true))
        .unwrap();
    cs.add_bar(BarInfo::new(4, BarKind::Io, 0x20, false))
        .unwrap();
    cs.add_bar(BarInfo::new(ROM_BAR, BarKind::Rom, 0x1_0000, false))
        .unwrap();
    for reg in [0x10u16, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x30] {
        assert!(cs.write(reg, &u32::MAX.to_le_bytes()).is_empty());
    }
    assert_eq!(cs.read_u32(0x10), 0xfffe_0000);
    assert_eq!(cs.read_u32(0x14), 0xffff_f008);
    // 64 GiB: the low dword holds only flags, the high dword the size bits above 4 GiB.
    assert_eq!(cs.read_u32(0x18), 0x0000_000c);
    assert_eq!(cs.read_u32(0x1c), 0xffff_fff0);
    assert_eq!(cs.read_u32(0x20), 0xffff_ffe1);
    // BAR 5 does not exist: read-only zero.
    assert_eq!(cs.read_u32(0x24), 0);
    // ROM: address bits and the enable bit.
    assert_eq!(cs.read_u32(0x30), 0xffff_0001);
    // Probes are not addresses.
    assert_eq!(cs.bar(0).unwrap().address, 0xfffe_0000);
    assert_eq!(cs.bar(2).unwrap().address, 0xffff_fff0_0000_0000);
}

#[test]
fn small_64bit_bar_probes_both_halves() {
    let mut cs = PciConfigSpace::new();
    cs.add_bar(BarInfo::new(0, BarKind::Memory64, 0x4000, false))
        .unwrap();
    cs.write(0x10, &u32::MAX.to_le_bytes());
    assert_eq!(cs.read_u32(0x10), 0xffff_c004);
    assert_eq!(cs.read_u32(0x14), 0);
    cs.write(0x14, &u32::MAX.to_le_bytes());
    assert_eq!(cs.read_u32(0x14), 0xffff_ffff);
}

#[test]
fn bar_declaration_errors() {
    let mut cs = PciConfigSpace::new();
    cs.add_bar(BarInfo::new(2, BarKind::Memory64, 0x1000, false))
        .unwrap();
    assert_eq!(
        cs.add_bar(BarInfo::new(3, BarKind::Memory32, 0x1000, false)),
        Err(BarError::Taken { bar: 3 })
    );
    assert_eq!(
        cs.add_bar(BarInfo::new(1, BarKind::Memory64, 0x1000, false)),
        Err(BarError::Taken { bar: 1 })
    );
    assert_eq!(
        cs.set_bar_address(4, 0x1000),
        Err(BarError::NoSuchBar { bar: 4 })
    );
    let mut placed = BarInfo::new(0, BarKind::Memory32, 0x1000, false);
    placed.address = 0xc000_0000;
    cs.add_bar(placed).unwrap();
    assert_eq!(cs.read_u32(0x10), 0xc000_0000);
    assert_eq!(cs.bar(0).unwrap().address, 0xc000_0000);
}

#[test]
fn decoding_follows_the_command_register() {
    let mut cs = PciConfigSpace::new();
    cs.set_writable_u16(COMMAND, COMMAND_IO_SPACE | COMMAND_MEMORY_SPACE);
    let mem = BarInfo::new(0, BarKind::Memory32, 0x1000, false);
    let io = BarInfo::new(1, BarKind::Io, 0x20, false);
    cs.add_bar(mem).unwrap();
    cs.add_bar(io).unwrap();
    // Placement before the guest runs: decoding is off, so nothing to map yet.
    assert!(cs.set_bar_address(0, 0xc000_0000).unwrap().is_empty());
    assert!(cs.set_bar_address(1, 0xc000).unwrap().is_empty());

    let effects = cs.write(COMMAND, &COMMAND_MEMORY_SPACE.to_le_bytes());
    assert_eq!(effects, vec![remap(&mem, None, Some(0xc000_0000))]);
    assert_eq!(cs.bar_mapping(0), Some(0xc000_0000));
    assert_eq!(cs.bar_mapping(1), None);

    let effects = cs.write(
        COMMAND,
        &(COMMAND_MEMORY_SPACE | COMMAND_IO_SPACE).to_le_bytes(),
    );
    assert_eq!(effects, vec![remap(&io, None, Some(0xc000))]);

    let effects = cs.write(COMMAND, &0u16.to_le_bytes());
    assert_eq!(
        effects,
        vec![
            remap(&mem, Some(0xc000_0000), None),
            remap(&io, Some(0xc000), None)
        ]
    );
}

#[test]
fn guest_bar_moves_while_decoding() {
    let mut cs = PciConfigSpace::new();
    cs.set_writable_u16(COMMAND, COMMAND_MEMORY_SPACE);
    let bar = BarInfo::new(2, BarKind::Memory64, 0x10_0000, true);
    cs.add_bar(bar).unwrap();
    cs.set_bar_address(2, 0x1_0000_0000).unwrap();
    cs.write(COMMAND, &COMMAND_MEMORY_SPACE.to_le_bytes());
    assert_eq!(cs.bar_mapping(2), Some(0x1_0000_0000));

    // Low dword first: the BAR decodes at the half-written address, as hardware would.
    let effects = cs.write(0x18, &0x0020_0000u32.to_le_bytes());
    assert_eq!(
        effects,
        vec![remap(&bar, Some(0x1_0000_0000), Some(0x1_0020_0000))]
    );
    let effects = cs.write(0x1c, &2u32.to_le_bytes());
    assert_eq!(
        effects,
        vec![remap(&bar, Some(0x1_0020_0000), Some(0x2_0020_0000))]
    );
    // Flags survive the address writes.
    assert_eq!(cs.read_u32(0x18), 0x0020_000c);
    // Writing the same address again changes nothing.
    assert!(cs.write(0x1c, &2u32.to_le_bytes()).is_empty());
    // A full probe of both halves stops decoding; restoring the address maps it again
    // (through the half-restored address, which the VMM must check against its windows).
    cs.write(0x18, &u32::MAX.to_le_bytes());
    let effects = cs.write(0x1c, &u32::MAX.to_le_bytes());
    assert_eq!(effects, vec![remap(&bar, Some(0x2_fff0_0000), None)]);
    cs.write(0x18, &0x0020_0000u32.to_le_bytes());
    let effects = cs.write(0x1c, &2u32.to_le_bytes());
    assert_eq!(
        effects,
        vec![remap(
            &bar,
            Some(0xffff_ffff_0020_0000),
            Some(0x2_0020_0000)
        )]
    );
}

#[test]
fn probe_of_a_decoding_32bit_bar_unmaps_it() {
    let mut cs = PciConfigSpace::new();
    cs.set_writable_u16(COMMAND, COMMAND_MEMORY_SPACE);
    let bar = BarInfo::new(0, BarKind::Memory32, 0x1000, false);
    cs.add_bar(bar).unwrap();
    cs.set_bar_address(0, 0xc000_0000).unwrap();
    cs.write(COMMAND, &COMMAND_MEMORY_SPACE.to_le_bytes());
    let effects = cs.write(0x10, &u32::MAX.to_le_bytes());
    assert_eq!(effects, vec![remap(&bar, Some(0xc000_0000), None)]);
    let effects = cs.write(0x10, &0xc000_0000u32.to_le_bytes());
    assert_eq!(effects, vec![remap(&bar, None, Some(0xc000_0000))]);
    // Address 0 never decodes.
    let effects = cs.write(0x10, &0u32.to_le_bytes());
    assert_eq!(effects, vec![remap(&bar, Some(0xc000_0000), None)]);
}

#[test]
fn rom_decodes_only_with_its_enable_bit() {
    let mut cs = PciConfigSpace::new();
    cs.set_writable_u16(COMMAND, COMMAND_MEMORY_SPACE);
    let rom = BarInfo::new(ROM_BAR, BarKind::Rom, 0x8000, false);
    cs.add_bar(rom).unwrap();
    cs.set_bar_address(ROM_BAR, 0xd000_0000).unwrap();
    assert!(cs
        .write(COMMAND, &COMMAND_MEMORY_SPACE.to_le_bytes())
        .is_empty());
    let effects = cs.write(ROM_ADDRESS, &0xd000_0001u32.to_le_bytes());
    assert_eq!(effects, vec![remap(&rom, None, Some(0xd000_0000))]);
    assert_eq!(cs.read_u32(ROM_ADDRESS), 0xd000_0001);
    // Moving the ROM keeps the enable bit set by the guest.
    cs.set_bar_address(ROM_BAR, 0xd001_0000).unwrap();
    assert_eq!(cs.read_u32(ROM_ADDRESS), 0xd001_0001);
    let effects = cs.write(ROM_ADDRESS, &0xd001_0000u32.to_le_bytes());
    assert_eq!(effects, vec![remap(&rom, Some(0xd001_0000), None)]);
}

#[test]
fn typed_accessors() {
    let mut bytes = vec![0u8; 64];
    bytes[..4].copy_from_slice(&[0x86, 0x80, 0xd3, 0x10]);
    bytes[8..12].copy_from_slice(&[0x03, 0x00, 0x00, 0x02]);
    bytes[0x0e] = 0x80;
    bytes[0x34] = 0x40;
    let cs = PciConfigSpace::from_bytes(&bytes);
    assert_eq!(cs.vendor_id(), 0x8086);
    assert_eq!(cs.device_id(), 0x10d3);
    assert_eq!(cs.class_code(), 0x02_0000);
    assert_eq!(cs.read_u8(REVISION_ID), 3);
    assert_eq!(cs.header_type(), 0x80);
    assert_eq!(cs.capabilities_pointer(), 0x40);
}
