//! Header registers: IDs and overrides, read-only registers, pass-through, reset, errors.

use super::*;

#[test]
fn ids_and_class_come_from_the_device() {
    let r = rig(e1000e());
    assert_eq!(read(&r.dev, 0x00), 0x10d3_8086);
    assert_eq!(read(&r.dev, 0x08), 0x0200_0003);
    assert_eq!(read(&r.dev, 0x2c), 0xa01f_8086);
}

#[test]
fn id_overrides_change_only_what_the_guest_sees() {
    let options = VfioPciOptions {
        ids: PciIdOverrides {
            vendor_id: Some(0x1af4),
            device_id: Some(0x1041),
            subsystem_vendor_id: Some(0x1af4),
            subsystem_id: Some(0x1100),
            class_code: Some(0x01_0802),
        },
        ..VfioPciOptions::default()
    };
    let r = rig_with(e1000e(), options, 8, true);
    assert_eq!(read(&r.dev, 0x00), 0x1041_1af4);
    assert_eq!(read(&r.dev, 0x08), 0x0108_0203);
    assert_eq!(read(&r.dev, 0x2c), 0x1100_1af4);
    assert_eq!(r.fake.config_u32(0x00), 0x10d3_8086);

    let options = VfioPciOptions {
        ids: PciIdOverrides {
            device_id: Some(0x10d4),
            ..PciIdOverrides::default()
        },
        ..VfioPciOptions::default()
    };
    let r = rig_with(e1000e(), options, 8, true);
    assert_eq!(read(&r.dev, 0x00), 0x10d4_8086);
    assert_eq!(read(&r.dev, 0x08), 0x0200_0003);
}

#[test]
fn read_only_registers_ignore_writes() {
    let mut r = rig(e1000e());
    r.fake.take_calls();
    for (offset, value) in [
        (0x00, u32::MAX),
        (0x08, u32::MAX),
        (0x28, u32::MAX),
        (0x2c, u32::MAX),
        (0x34, 0),
    ] {
        assert!(write32(&mut r.dev, offset, value).is_empty());
    }
    write8(&mut r.dev, 0x3d, 4);
    assert_eq!(read(&r.dev, 0x00), 0x10d3_8086);
    assert_eq!(read(&r.dev, 0x08), 0x0200_0003);
    assert_eq!(read(&r.dev, 0x28), 0);
    assert_eq!(read(&r.dev, 0x2c), 0xa01f_8086);
    assert_eq!(read(&r.dev, 0x34), 0xc8);
    assert_eq!(read(&r.dev, 0x3c) >> 8 & 0xff, 1);
    assert_eq!(device_config_writes(&r.fake), vec![]);
}

#[test]
fn multi_function_bit_is_hidden() {
    let r = rig(e1000e().header_type(0x80));
    assert_eq!(read(&r.dev, 0x0c) >> 16 & 0xff, 0);
}

#[test]
fn mixed_dword_write_keeps_the_devices_emulated_byte() {
    let mut r = rig(e1000e().config_bytes(0x0e, &[0x80]));
    r.fake.take_calls();
    // Cache line size, latency timer, header type (emulated, read-only), BIST.
    write32(&mut r.dev, 0x0c, 0x00ff_2010);
    assert_eq!(
        device_config_writes(&r.fake),
        vec![(0x0c, vec![0x10, 0x20, 0x80, 0x00])]
    );
    assert_eq!(read(&r.dev, 0x0c), 0x0000_2010);
}

#[test]
fn status_is_live_except_the_capability_bit() {
    let mut r = rig(e1000e());
    r.fake.poke(CONFIG_REGION, 0x06, &[0x10, 0x20]);
    assert_eq!(read(&r.dev, 0x04) >> 16, 0x2010);
    r.fake.take_calls();
    write16(&mut r.dev, 0x06, 0x2000);
    assert_eq!(
        device_config_writes(&r.fake),
        vec![(0x06, vec![0x00, 0x20])]
    );

    // Every capability hidden: the list bit reads 0 although the device has one.
    let builder = FakeVfio::builder(1, 2).msi(0x50, 1, false, false).intx(1);
    let r = rig_with(builder, intx_only(), 8, true);
    assert_eq!(r.fake.config_u32(0x04) >> 16 & 0x10, 0x10);
    assert_eq!(read(&r.dev, 0x04) >> 16 & 0x10, 0);
    assert_eq!(read(&r.dev, 0x34), 0);
}

#[test]
fn other_registers_pass_through() {
    let mut r = rig(e1000e());
    r.fake.poke(CONFIG_REGION, 0xe8, &[0x10, 0x28]);
    assert_eq!(read(&r.dev, 0xe8) & 0xffff, 0x2810);
    r.fake.take_calls();
    write16(&mut r.dev, 0xe8, 0x2830);
    write8(&mut r.dev, 0x0d, 0x40);
    write16(&mut r.dev, 0xcc, 0x0003);
    write32(&mut r.dev, 0x104, 0x1);
    assert_eq!(
        device_config_writes(&r.fake),
        vec![
            (0xe8, vec![0x30, 0x28]),
            (0x0d, vec![0x40]),
            (0xcc, vec![0x03, 0x00]),
            (0x104, vec![0x01, 0, 0, 0]),
        ]
    );
    assert_eq!(read(&r.dev, 0xe8) & 0xffff, 0x2830);
    assert_eq!(read(&r.dev, 0xcc) & 0xffff, 0x0003);
}

#[test]
fn interrupt_line_is_scratch_and_pin_is_inta() {
    // The device uses INTB; on its own slot it is shown as INTA.
    let mut r = rig(e1000e().intx(2));
    assert_eq!(read(&r.dev, 0x3c) >> 8 & 0xff, 1);
    r.fake.take_calls();
    write8(&mut r.dev, 0x3c, 0x0b);
    assert_eq!(read(&r.dev, 0x3c) & 0xff, 0x0b);
    assert_eq!(device_config_writes(&r.fake), vec![]);

    // No line from the VMM: no pin, and no INTx set-up.
    let r = rig_with(e1000e(), VfioPciOptions::default(), 8, false);
    assert_eq!(read(&r.dev, 0x3c) >> 8 & 0xff, 0);
    assert_eq!(r.dev.irq_mode(), IrqMode::Off);
    assert_eq!(r.fake.take_irq_calls(), vec![]);
}

#[test]
fn failed_device_reads_return_all_ones() {
    let r = rig(e1000e());
    r.fake.fail_next(FakeFailure::RegionRead(CONFIG_REGION));
    assert_eq!(read(&r.dev, 0x04), u32::MAX);
    assert_eq!(read(&r.dev, 0x04) & 0xffff, 0);
    // Fully emulated dwords do not touch the device.
    r.fake.fail_next(FakeFailure::RegionRead(CONFIG_REGION));
    assert_eq!(read(&r.dev, 0x00), 0x10d3_8086);
    assert_eq!(read(&r.dev, 0x10), 0);
}

#[test]
fn malformed_config_writes_are_dropped() {
    let mut r = rig(e1000e());
    r.fake.take_calls();
    assert!(r.dev.config_write(0x0e, &[0; 4]).is_empty());
    assert!(r.dev.config_write(0x04, &[0; 3]).is_empty());
    assert!(r.dev.config_write(0x1000, &[0]).is_empty());
    assert_eq!(r.fake.take_calls(), vec![]);
}

#[test]
fn conventional_function_has_no_extended_space() {
    let r = rig(FakeVfio::builder(1, 2).intx(1));
    r.fake.fail_next(FakeFailure::RegionRead(CONFIG_REGION));
    assert_eq!(read(&r.dev, 0x100), 0);
    assert_eq!(read(&r.dev, 0xffc), 0);
}

#[test]
fn device_is_reset_at_open_when_it_can_be() {
    let r = rig(e1000e());
    assert_eq!(r.fake.calls().first(), Some(&FakeCall::Reset));
    let r = rig(e1000e().reset_supported(false));
    assert!(!r.fake.calls().contains(&FakeCall::Reset));
    let options = VfioPciOptions {
        reset: false,
        ..VfioPciOptions::default()
    };
    let r = rig_with(e1000e(), options, 8, true);
    assert!(!r.fake.calls().contains(&FakeCall::Reset));
    // A failing reset is not fatal.
    let fake = e1000e().build();
    fake.fail_next(FakeFailure::Reset);
    let dev = VfioPciDevice::new(VfioPciArgs {
        label: LABEL.to_string(),
        backend: Box::new(fake),
        options: VfioPciOptions::default(),
        msi: None,
        intx: None,
    });
    assert!(dev.is_ok());
}

#[test]
fn construction_errors_name_the_device() {
    let err = build_err(FakeVfio::builder(0x8086, 0x1234).header_type(0x01));
    assert_eq!(
        err.to_string(),
        "0000:01:00.0 has header type 0x01: only type-0 (endpoint) functions can be passed through"
    );
    let fake = e1000e().build();
    fake.fail_next(FakeFailure::RegionRead(CONFIG_REGION));
    let err = build_err_from(fake);
    assert_eq!(
        err.to_string(),
        "cannot read the config space of 0000:01:00.0"
    );

    let builder = FakeVfio::builder(1, 2).bar(0, FakeBar::mem32(0x1000)).msix(
        0x40,
        64,
        (0, 0xe00),
        (0, 0x800),
    );
    assert_eq!(
        build_err(builder).to_string(),
        "MSI-X table of 0000:01:00.0 (0x400 bytes at 0xe00 of BAR 0) is outside its memory BAR (4 KiB)"
    );
    let builder = FakeVfio::builder(1, 2)
        .bar(0, FakeBar::io(0x100))
        .bar(1, FakeBar::mem32(0x1000))
        .msix(0x40, 4, (1, 0), (0, 0x80));
    assert!(matches!(
        build_err(builder),
        VfioPciError::MsixPlacement {
            what: "PBA",
            bar: 0,
            bar_size: ByteSize(0),
            ..
        }
    ));
}

#[test]
fn vectors_to_reserve() {
    assert_eq!(vectors_needed(&e1000e().build()), 5);
    let builder = FakeVfio::builder(1, 2).msi(0x50, 16, true, true);
    assert_eq!(vectors_needed(&builder.build()), 16);
    assert_eq!(vectors_needed(&FakeVfio::builder(1, 2).build()), 0);
}
