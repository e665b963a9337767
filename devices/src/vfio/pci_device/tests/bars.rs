//! BARs: discovery from region sizes, size probes, placement, decoding, trapped accesses.

use super::*;

/// A GPU-like function: 16 MiB BAR 0, a 64 GiB prefetchable 64-bit BAR 1-2, a 32 MiB
/// prefetchable 64-bit BAR 3-4, 128 I/O ports at BAR 5, a 512 KiB ROM.
fn gpu() -> FakeVfioBuilder {
    FakeVfio::builder(0x10de, 0x2204)
        .class(0x03_0000)
        .bar(0, FakeBar::mem32(16 << 20))
        .bar(1, FakeBar::mem64(64 << 30).prefetchable())
        .bar(3, FakeBar::mem64(32 << 20).prefetchable())
        .bar(5, FakeBar::io(0x80))
        .rom(0x8_0000)
        .intx(1)
}

fn summary(dev: &VfioPciDevice) -> Vec<(u8, BarKind, u64, bool, u64)> {
    dev.bars()
        .iter()
        .map(|b| (b.index, b.kind, b.size, b.prefetchable, b.address))
        .collect()
}

#[test]
fn bars_come_from_region_sizes_and_register_flags() {
    let r = rig(e1000e());
    assert_eq!(
        summary(&r.dev),
        vec![
            (0, BarKind::Memory32, 0x2_0000, false, 0),
            (1, BarKind::Memory32, 0x2_0000, false, 0),
            (2, BarKind::Io, 0x20, false, 0),
            (3, BarKind::Memory32, 0x4000, false, 0),
            (6, BarKind::Rom, 0x4_0000, false, 0),
        ]
    );
    // The device's own (host) BAR values are not shown; unplaced BARs read as their flags.
    assert_eq!(r.fake.config_u32(0x10), 0xfc00_0000);
    assert_eq!(read(&r.dev, 0x10), 0);
    assert_eq!(read(&r.dev, 0x18), 0x1);
    assert_eq!(read(&r.dev, 0x20), 0);
    assert_eq!(read(&r.dev, 0x24), 0);
    assert_eq!(read(&r.dev, 0x30), 0);

    let r = rig(gpu());
    assert_eq!(
        summary(&r.dev),
        vec![
            (0, BarKind::Memory32, 16 << 20, false, 0),
            (1, BarKind::Memory64, 64 << 30, true, 0),
            (3, BarKind::Memory64, 32 << 20, true, 0),
            (5, BarKind::Io, 0x80, false, 0),
            (6, BarKind::Rom, 0x8_0000, false, 0),
        ]
    );
}

#[test]
fn size_probes_of_32bit_io_and_rom_bars() {
    let mut r = rig(e1000e());
    for register in (0x10..0x28).step_by(4) {
        assert!(write32(&mut r.dev, register, u32::MAX).is_empty());
    }
    assert!(write32(&mut r.dev, 0x30, u32::MAX).is_empty());
    let probed: Vec<u32> = (0x10..0x28).step_by(4).map(|o| read(&r.dev, o)).collect();
    assert_eq!(
        probed,
        vec![0xfffe_0000, 0xfffe_0000, 0xffff_ffe1, 0xffff_c000, 0, 0]
    );
    // ROM: size bits and the enable bit as written.
    assert_eq!(read(&r.dev, 0x30), 0xfffc_0001);
    // Linux probes the ROM with the enable bit clear.
    write32(&mut r.dev, 0x30, 0xffff_f800);
    assert_eq!(read(&r.dev, 0x30), 0xfffc_0000);
    // Restoring the addresses.
    write32(&mut r.dev, 0x10, 0xc000_0000);
    assert_eq!(read(&r.dev, 0x10), 0xc000_0000);
    assert_eq!(r.dev.bars()[0].address, 0xc000_0000);
    // None of this reached the device.
    assert_eq!(device_config_writes(&r.fake), vec![]);
    assert_eq!(r.fake.config_u32(0x10), 0xfc00_0000);
}

#[test]
fn size_probes_of_64bit_pairs_and_prefetchable_flags() {
    let mut r = rig(gpu());
    for register in (0x10..0x28).step_by(4) {
        write32(&mut r.dev, register, u32::MAX);
    }
    let probed: Vec<u32> = (0x10..0x28).step_by(4).map(|o| read(&r.dev, o)).collect();
    assert_eq!(
        probed,
        vec![
            0xff00_0000, // 16 MiB, 32-bit, not prefetchable
            0x0000_000c, // 64 GiB: no size bits in the low dword; 64-bit, prefetchable
            0xffff_fff0, // ... the high dword holds them
            0xfe00_000c, // 32 MiB, 64-bit, prefetchable
            0xffff_ffff, // ... high dword all ones
            0xffff_ff81, // 128 I/O ports
        ]
    );
    assert_eq!(device_config_writes(&r.fake), vec![]);
}

#[test]
fn placement_errors_name_the_bar() {
    let mut r = rig(gpu());
    assert!(r.dev.set_bar_address(1, 0x40_0000_0000).unwrap().is_empty());
    assert_eq!(
        r.dev.set_bar_address(1, 0x40_1000_0000),
        Err(BarError::Misaligned {
            bar: 1,
            address: 0x40_1000_0000,
            size: ByteSize(64 << 30)
        })
    );
    assert_eq!(
        r.dev.set_bar_address(0, 0x1_0000_0000),
        Err(BarError::OutOfRange {
            bar: 0,
            kind: BarKind::Memory32,
            address: 0x1_0000_0000,
            size: ByteSize(16 << 20)
        })
    );
    assert_eq!(
        r.dev.set_bar_address(2, 0xc000_0000),
        Err(BarError::NoSuchBar { bar: 2 })
    );
    assert_eq!(read(&r.dev, 0x14), 0x0000_000c);
    assert_eq!(read(&r.dev, 0x18), 0x40);
}

#[test]
fn command_register_gates_decoding_and_reaches_the_device() {
    let mut r = rig(gpu());
    let (mem32, mem64, io, rom) = (
        BarKind::Memory32,
        BarKind::Memory64,
        BarKind::Io,
        BarKind::Rom,
    );
    for (bar, address) in [
        (0, 0xc000_0000),
        (1, 0x40_0000_0000),
        (3, 0x50_0000_0000),
        (5, 0xc000),
        (6, 0xe000_0000),
    ] {
        assert!(r.dev.set_bar_address(bar, address).unwrap().is_empty());
    }
    r.fake.take_calls();

    let effects = write16(&mut r.dev, 0x04, 0x0006);
    assert_eq!(
        effects,
        vec![
            remap(0, mem32, 16 << 20, None, Some(0xc000_0000)),
            remap(1, mem64, 64 << 30, None, Some(0x40_0000_0000)),
            remap(3, mem64, 32 << 20, None, Some(0x50_0000_0000)),
        ]
    );
    assert_eq!(
        device_config_writes(&r.fake),
        vec![(0x04, vec![0x06, 0x00])]
    );
    assert_eq!(read(&r.dev, 0x04) & 0xffff, 0x0006);

    let effects = write16(&mut r.dev, 0x04, 0x0007);
    assert_eq!(effects, vec![remap(5, io, 0x80, None, Some(0xc000))]);

    // A guest move while decoding: unmap at the old address, map at the new one.
    let effects = write32(&mut r.dev, 0x10, 0xd000_0000);
    assert_eq!(
        effects,
        vec![remap(
            0,
            mem32,
            16 << 20,
            Some(0xc000_0000),
            Some(0xd000_0000)
        )]
    );
    // The ROM decodes once its enable bit is set too.
    let effects = write32(&mut r.dev, 0x30, 0xe000_0001);
    assert_eq!(
        effects,
        vec![remap(6, rom, 0x8_0000, None, Some(0xe000_0000))]
    );

    let effects = write16(&mut r.dev, 0x04, 0x0004);
    let unmapped: Vec<(u8, Option<u64>)> = effects
        .iter()
        .map(|ConfigEffect::Bar(remap)| (remap.bar, remap.new))
        .collect();
    assert_eq!(
        unmapped,
        vec![(0, None), (1, None), (3, None), (5, None), (6, None)]
    );
    assert_eq!(device_config_writes(&r.fake).len(), 2);
}

#[test]
fn decode_bits_start_cleared_even_if_the_device_has_them_set() {
    let r = rig(e1000e().config_bytes(0x04, &[0x07, 0x00]));
    assert_eq!(read(&r.dev, 0x04) & 0xffff, 0x0004);
}

#[test]
fn impossible_bar_layouts_are_rejected_with_names() {
    let err = build_err(FakeVfio::builder(1, 2).bar(5, FakeBar::mem64(0x1000)));
    assert_eq!(err.to_string(), "BAR layout of 0000:01:00.0 rejected");
    let source = std::error::Error::source(&err).map(|s| s.to_string());
    assert_eq!(
        source.as_deref(),
        Some("BAR 5 cannot be a 64-bit memory BAR")
    );
    let err = build_err(FakeVfio::builder(1, 2).bar(0, FakeBar::mem32(0x3000)));
    assert!(matches!(
        err,
        VfioPciError::Bar {
            source: BarError::BadSize {
                bar: 0,
                size: 0x3000,
                ..
            },
            ..
        }
    ));
}

#[test]
fn rom_can_be_hidden() {
    let options = VfioPciOptions {
        rom: RomPolicy::Hidden,
        ..VfioPciOptions::default()
    };
    let mut r = rig_with(e1000e(), options, 8, true);
    assert!(r.dev.bars().iter().all(|b| b.kind != BarKind::Rom));
    write32(&mut r.dev, 0x30, u32::MAX);
    assert_eq!(read(&r.dev, 0x30), 0);
    assert!(r.dev.mmap_plan().iter().all(|p| p.bar != ROM_BAR));
}

#[test]
fn a_rom_image_replaces_the_devices_rom() {
    // 40 KiB image: the ROM BAR is 64 KiB, the device's own 256 KiB ROM is not shown.
    let image: Vec<u8> = (0..40 * 1024).map(|i| (i % 251) as u8).collect();
    let options = VfioPciOptions {
        rom: RomPolicy::Image(image.clone().into()),
        ..VfioPciOptions::default()
    };
    let mut r = rig_with(e1000e(), options, 8, true);
    r.fake.poke(6, 0, &[0x11; 16]);
    let rom = r
        .dev
        .bars()
        .iter()
        .find(|b| b.kind == BarKind::Rom)
        .copied();
    assert_eq!(rom.map(|b| (b.index, b.size)), Some((ROM_BAR, 0x1_0000)));
    write32(&mut r.dev, 0x30, u32::MAX);
    assert_eq!(read(&r.dev, 0x30), 0xffff_0001);
    let plan = r.dev.mmap_plan().iter().find(|p| p.bar == ROM_BAR).cloned();
    let plan = plan.expect("the ROM has a plan");
    assert!(plan.mmaps.is_empty());
    assert_eq!(
        plan.traps,
        vec![crate::vfio::TrapRange {
            offset: 0,
            size: 0x1_0000
        }]
    );
    r.fake.take_calls();
    let mut data = [0u8; 8];
    r.dev.bar_read(ROM_BAR, 0x1000, &mut data);
    assert_eq!(data.to_vec(), image[0x1000..0x1008].to_vec());
    // The last bytes of the image, then padding.
    r.dev.bar_read(ROM_BAR, 40 * 1024 - 4, &mut data);
    assert_eq!(
        data,
        [
            image[40956],
            image[40957],
            image[40958],
            image[40959],
            0xff,
            0xff,
            0xff,
            0xff
        ]
    );
    r.dev.bar_read(ROM_BAR, 0xfffc, &mut data[..4]);
    assert_eq!(data[..4], [0xff; 4]);
    r.dev.bar_write(ROM_BAR, 0, &[0; 4]);
    r.dev.bar_read(ROM_BAR, 0, &mut data[..4]);
    assert_eq!(data[..4], image[..4]);
    // The device's ROM region was never touched.
    assert_eq!(r.fake.take_calls(), vec![]);
}

#[test]
fn rom_image_bar_sizes() {
    assert_eq!(RomPolicy::image_bar_size(1), 2048);
    assert_eq!(RomPolicy::image_bar_size(2048), 2048);
    assert_eq!(RomPolicy::image_bar_size(2049), 4096);
    assert_eq!(RomPolicy::image_bar_size(40 << 10), 64 << 10);
    assert_eq!(RomPolicy::image_bar_size(1 << 20), 1 << 20);
}

#[test]
fn rom_contents_come_from_region_6_and_ignore_writes() {
    let mut r = rig(e1000e());
    r.fake.poke(6, 0, &[0x55, 0xaa, 0x40]);
    let mut data = [0u8; 4];
    r.dev.bar_read(ROM_BAR, 0, &mut data);
    assert_eq!(data, [0x55, 0xaa, 0x40, 0x00]);
    r.fake.take_calls();
    r.dev.bar_write(ROM_BAR, 0, &[0; 4]);
    assert_eq!(r.fake.take_calls(), vec![]);
}

#[test]
fn trapped_accesses_outside_msix_reach_the_device() {
    let mut r = rig(e1000e());
    r.fake.take_calls();
    r.fake.poke(0, 0x100, &[1, 2, 3, 4]);
    let mut data = [0u8; 4];
    r.dev.bar_read(0, 0x100, &mut data);
    assert_eq!(data, [1, 2, 3, 4]);
    r.dev.bar_write(2, 0x4, &[9, 0, 0, 0]);
    // BAR 3 between the table page and the PBA page is the device's own.
    r.dev.bar_write(3, 0x1000, &[7; 4]);
    assert_eq!(r.fake.peek(3, 0x1000, 4), vec![7; 4]);
    assert_eq!(
        r.fake.take_calls(),
        vec![
            FakeCall::RegionWrite {
                index: 2,
                offset: 4,
                data: vec![9, 0, 0, 0]
            },
            FakeCall::RegionWrite {
                index: 3,
                offset: 0x1000,
                data: vec![7; 4]
            },
        ]
    );
    // A failing read returns all-ones instead of stale data.
    r.fake.fail_next(FakeFailure::RegionRead(0));
    r.dev.bar_read(0, 0x100, &mut data);
    assert_eq!(data, [0xff; 4]);
    r.dev.bar_read(0, 0x100, &mut data);
    assert_eq!(data, [1, 2, 3, 4]);
}
