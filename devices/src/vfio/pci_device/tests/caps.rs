//! The capability lists as the guest walks them.

use super::*;

#[test]
fn chain_is_kept_when_msi_can_be_delivered() {
    let r = rig(e1000e());
    assert_eq!(
        chain(&r.dev),
        vec![(0x01, 0xc8), (0x05, 0xd0), (0x10, 0xe0), (0x11, 0xa0)]
    );
    assert_eq!(ext_chain(&r.dev), vec![(0x0001, 0x100), (0x0003, 0x140)]);
}

#[test]
fn intx_option_hides_msi_and_msix() {
    let mut r = rig_with(e1000e(), intx_only(), 8, true);
    assert_eq!(chain(&r.dev), vec![(0x01, 0xc8), (0x10, 0xe0)]);
    // The hidden capabilities read as zeros; writes there never reach the device.
    for offset in [0xd0, 0xd4, 0xd8, 0xdc, 0xa0, 0xa4, 0xa8] {
        assert_eq!(read(&r.dev, offset), 0, "offset {offset:#x}");
    }
    r.fake.take_calls();
    write16(&mut r.dev, 0xd2, 0x0001);
    write16(&mut r.dev, 0xa2, 0x8000);
    assert_eq!(r.fake.take_calls(), vec![]);
    assert_eq!(r.dev.irq_mode(), IrqMode::Intx);
    assert_eq!(r.fake.config_u32(0xd0), 0x0080_e005);
}

#[test]
fn msi_is_hidden_without_a_router() {
    let fake = e1000e().build();
    let dev = VfioPciDevice::new(VfioPciArgs {
        label: LABEL.to_string(),
        backend: Box::new(fake.clone()),
        options: VfioPciOptions::default(),
        msi: None,
        intx: Some(IntxLine::new().unwrap()),
    })
    .unwrap();
    assert_eq!(chain(&dev), vec![(0x01, 0xc8), (0x10, 0xe0)]);
    assert_eq!(dev.irq_mode(), IrqMode::Intx);
}

#[test]
fn device_without_msi_uses_intx() {
    let builder = FakeVfio::builder(0x1234, 0x11e8)
        .bar(0, FakeBar::mem32(0x1000))
        .capability(0x40, 0x01, &[0x03, 0, 0, 0, 0, 0])
        .intx(1);
    let r = rig(builder);
    assert_eq!(chain(&r.dev), vec![(0x01, 0x40)]);
    let (trigger, resample) = r.intx.unwrap();
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![
            FakeCall::EnableIrq {
                index: INTX_IRQ,
                fds: vec![trigger]
            },
            FakeCall::SetIntxUnmaskFd { fd: resample },
        ]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Intx);
    assert_eq!(read(&r.dev, 0x3c) >> 8 & 0xff, 1);
}

#[test]
fn hidden_first_capability_moves_the_pointer() {
    let builder = FakeVfio::builder(1, 2)
        .msi(0x40, 1, false, false)
        .capability(0x50, 0x01, &[0x03, 0, 0, 0, 0, 0])
        .capability(0x60, 0x10, &[0x02, 0x00])
        .intx(1);
    let r = rig_with(builder, intx_only(), 8, true);
    assert_eq!(read(&r.dev, 0x34), 0x50);
    assert_eq!(chain(&r.dev), vec![(0x01, 0x50), (0x10, 0x60)]);
}

#[test]
fn looping_capability_list_ends() {
    let builder = FakeVfio::builder(1, 2)
        .capability(0x40, 0x01, &[0x03, 0])
        .capability(0x48, 0x09, &[0x00, 0])
        .intx(1)
        .config_bytes(0x49, &[0x40]);
    let r = rig(builder);
    assert_eq!(chain(&r.dev), vec![(0x01, 0x40), (0x09, 0x48)]);
}

/// A ConnectX-like function with the extended capabilities SR-IOV, ARI and Resizable BAR
/// between AER and DSN.
fn nic_with_ext_caps() -> FakeVfioBuilder {
    FakeVfio::builder(0x15b3, 0x101b)
        .bar(0, FakeBar::mem64(32 << 20).prefetchable())
        .capability(0x60, 0x10, &[0x02, 0x00])
        .intx(1)
        .ext_capability(0x100, 0x0001, 2, &[0xaa])
        .ext_capability(0x140, EXT_CAP_ARI, 1, &[])
        .ext_capability(0x150, EXT_CAP_SRIOV, 1, &[])
        .ext_capability(0x190, EXT_CAP_REBAR, 1, &[])
        .ext_capability(0x1a0, 0x0003, 1, &[])
}

#[test]
fn sriov_ari_and_rebar_are_hidden() {
    let mut r = rig(nic_with_ext_caps());
    assert_eq!(ext_chain(&r.dev), vec![(0x0001, 0x100), (0x0003, 0x1a0)]);
    assert_eq!(read(&r.dev, 0x100), 0x1a0 << 20 | 0x2_0001);
    for offset in [0x140, 0x150, 0x190] {
        assert_eq!(read(&r.dev, offset), 0, "offset {offset:#x}");
    }
    // The device's own list is untouched, and bodies still pass through.
    assert_eq!(r.fake.config_u32(0x100), 0x140 << 20 | 0x2_0001);
    assert_eq!(read(&r.dev, 0x104) & 0xff, 0xaa);
    r.fake.take_calls();
    write32(&mut r.dev, 0x100, u32::MAX);
    assert_eq!(device_config_writes(&r.fake), vec![]);
    assert_eq!(read(&r.dev, 0x100), 0x1a0 << 20 | 0x2_0001);
}

#[test]
fn hidden_list_is_an_option() {
    let options = VfioPciOptions {
        hidden_ext_caps: vec![],
        ..VfioPciOptions::default()
    };
    let r = rig_with(nic_with_ext_caps(), options, 8, true);
    assert_eq!(
        ext_chain(&r.dev),
        vec![
            (0x0001, 0x100),
            (EXT_CAP_ARI, 0x140),
            (EXT_CAP_SRIOV, 0x150),
            (EXT_CAP_REBAR, 0x190),
            (0x0003, 0x1a0)
        ]
    );
}

#[test]
fn hidden_head_of_the_extended_list_becomes_a_null_capability() {
    let builder = FakeVfio::builder(1, 2)
        .intx(1)
        .ext_capability(0x100, EXT_CAP_SRIOV, 1, &[])
        .ext_capability(0x140, 0x0001, 2, &[]);
    let r = rig(builder);
    assert_eq!(read(&r.dev, 0x100), 0x140 << 20);
    assert_eq!(read(&r.dev, 0x140), 0x0002_0001);
    assert_eq!(ext_chain(&r.dev), vec![(0x0000, 0x100), (0x0001, 0x140)]);

    let builder = FakeVfio::builder(1, 2)
        .intx(1)
        .ext_capability(0x100, EXT_CAP_ARI, 1, &[]);
    let r = rig(builder);
    assert_eq!(read(&r.dev, 0x100), 0);
    assert_eq!(ext_chain(&r.dev), vec![]);
}
