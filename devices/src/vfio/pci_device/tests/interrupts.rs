//! MSI, MSI-X and INTx: routes sent to the router and VFIO set-up calls.

use super::*;

const MSIX_ENABLE: u16 = 0x8000;
const MSIX_FUNCTION_MASK: u16 = 0x4000;

/// Writes the address (one qword) and data of MSI-X entry `vector` of the e1000e table.
fn program_entry(dev: &mut VfioPciDevice, vector: u64, address: u64, data: u32) {
    dev.bar_write(3, vector * 16, &address.to_le_bytes());
    dev.bar_write(3, vector * 16 + 8, &data.to_le_bytes());
}

fn set_entry_mask(dev: &mut VfioPciDevice, vector: u64, masked: bool) {
    dev.bar_write(3, vector * 16 + 12, &u32::from(masked).to_le_bytes());
}

fn entry_message(vector: u64) -> MsiMessage {
    message(0xfee0_0000 + (vector << 12), 0x30 + vector as u32)
}

/// An e1000e with MSI-X enabled (function unmasked) and entries 0-4 programmed, all still
/// masked; the calls so far are dropped.
fn msix_rig(builder: FakeVfioBuilder, vectors: u16) -> Rig {
    let mut r = rig_with(builder, VfioPciOptions::default(), vectors, true);
    write16(&mut r.dev, 0xa2, MSIX_ENABLE);
    for vector in 0..5 {
        let msg = entry_message(vector);
        program_entry(&mut r.dev, vector, msg.address, msg.data);
    }
    r.fake.take_calls();
    r.msi.take_batches();
    r
}

fn enable_msix(index: u32, fds: &[RawFd]) -> FakeCall {
    FakeCall::EnableIrq {
        index,
        fds: fds.to_vec(),
    }
}

#[test]
fn msi_programming_routes_then_enables() {
    let mut r = rig(e1000e());
    let (trigger, resample) = r.intx.unwrap();
    r.fake.take_calls();
    write32(&mut r.dev, 0xd4, 0xfee0_0000);
    write32(&mut r.dev, 0xd8, 0);
    write16(&mut r.dev, 0xdc, 0x0041);
    assert_eq!(r.msi.take_batches(), no_updates());
    assert_eq!(r.fake.take_irq_calls(), vec![]);

    write16(&mut r.dev, 0xd2, 0x0001);
    let msg = message(0xfee0_0000, 0x41);
    assert_eq!(r.msi.take_batches(), vec![vec![update(0, msg, false)]]);
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![
            FakeCall::DisableIrq { index: INTX_IRQ },
            enable_msix(MSI_IRQ, &r.msi.raw_fds(1)),
        ]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Msi { vectors: 1 });
    assert_eq!(read(&r.dev, 0xd0) >> 16, 0x0081);

    // Retargeting while enabled changes the route only.
    write32(&mut r.dev, 0xd4, 0xfee0_1000);
    let moved = message(0xfee0_1000, 0x41);
    assert_eq!(r.msi.take_batches(), vec![vec![update(0, moved, false)]]);
    assert_eq!(r.fake.take_irq_calls(), vec![]);

    // Disabling MSI masks the route and brings INTx back.
    write16(&mut r.dev, 0xd2, 0x0000);
    assert_eq!(r.msi.take_batches(), vec![vec![update(0, moved, true)]]);
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![
            FakeCall::DisableIrq { index: MSI_IRQ },
            FakeCall::EnableIrq {
                index: INTX_IRQ,
                fds: vec![trigger]
            },
            FakeCall::SetIntxUnmaskFd { fd: resample },
        ]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Intx);
    // The device's own MSI capability was never written.
    assert_eq!(r.fake.config_u32(0xd4), 0);
}

#[test]
fn msi_multiple_vectors_with_per_vector_masks() {
    let builder = FakeVfio::builder(0x1b36, 0x0010)
        .bar(0, FakeBar::mem32(0x4000))
        .msi(0x50, 4, true, true)
        .intx(1);
    let mut r = rig(builder);
    r.fake.take_calls();
    assert_eq!(read(&r.dev, 0x50) >> 16, 0x0184);
    write32(&mut r.dev, 0x54, 0xfee0_0000);
    write32(&mut r.dev, 0x58, 0);
    write16(&mut r.dev, 0x5c, 0x4020);
    write32(&mut r.dev, 0x60, 0b0010);
    // Enable with multiple message enable = 2: four vectors, vector 1 masked.
    write16(&mut r.dev, 0x52, 0x0021);
    let msg = |v: u32| message(0xfee0_0000, 0x4020 + v);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![
            update(0, msg(0), false),
            update(2, msg(2), false),
            update(3, msg(3), false)
        ]]
    );
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![
            FakeCall::DisableIrq { index: INTX_IRQ },
            enable_msix(MSI_IRQ, &r.msi.raw_fds(4)),
        ]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Msi { vectors: 4 });

    write32(&mut r.dev, 0x60, 0);
    assert_eq!(r.msi.take_batches(), vec![vec![update(1, msg(1), false)]]);
    write32(&mut r.dev, 0x60, 0b1000);
    assert_eq!(r.msi.take_batches(), vec![vec![update(3, msg(3), true)]]);
    assert_eq!(r.fake.take_irq_calls(), vec![]);
    // Mask bits exist only for the four vectors; pending bits come from the router.
    write32(&mut r.dev, 0x60, 0xffff_fff8);
    assert_eq!(read(&r.dev, 0x60), 0b1000);
    assert_eq!(r.msi.take_batches(), no_updates());
    r.msi.set_pending(3, true);
    assert_eq!(read(&r.dev, 0x64), 0b1000);
    write32(&mut r.dev, 0x64, u32::MAX);
    assert_eq!(read(&r.dev, 0x64), 0b1000);
}

#[test]
fn msi_enable_failure_falls_back_to_intx() {
    let mut r = rig(e1000e());
    let (trigger, resample) = r.intx.unwrap();
    r.fake.take_calls();
    r.fake.fail_next(FakeFailure::EnableIrq(MSI_IRQ));
    write32(&mut r.dev, 0xd4, 0xfee0_0000);
    write16(&mut r.dev, 0xd2, 0x0001);
    let msg = message(0xfee0_0000, 0);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(0, msg, false)], vec![update(0, msg, true)]]
    );
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![
            FakeCall::DisableIrq { index: INTX_IRQ },
            enable_msix(MSI_IRQ, &r.msi.raw_fds(1)),
            FakeCall::EnableIrq {
                index: INTX_IRQ,
                fds: vec![trigger]
            },
            FakeCall::SetIntxUnmaskFd { fd: resample },
        ]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Intx);
}

#[test]
fn msix_vectors_are_enabled_lazily() {
    let mut r = rig(e1000e());
    let fds = r.msi.raw_fds(5);
    r.fake.take_calls();
    // Linux enables MSI-X with the function masked, then fills and unmasks the table.
    write16(&mut r.dev, 0xa2, MSIX_ENABLE | MSIX_FUNCTION_MASK);
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![FakeCall::DisableIrq { index: INTX_IRQ }]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Msix { vectors: 0 });
    for vector in 0..3 {
        let msg = entry_message(vector);
        program_entry(&mut r.dev, vector, msg.address, msg.data);
    }
    set_entry_mask(&mut r.dev, 0, false);
    assert_eq!(r.msi.take_batches(), no_updates());
    assert_eq!(r.fake.take_irq_calls(), vec![]);

    write16(&mut r.dev, 0xa2, MSIX_ENABLE);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(0, entry_message(0), false)]]
    );
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![enable_msix(MSIX_IRQ, &fds[..1])]
    );

    // Unmasking vector 2 grows the VFIO set to vectors 0..=2 in one call.
    set_entry_mask(&mut r.dev, 2, false);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(2, entry_message(2), false)]]
    );
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![enable_msix(MSIX_IRQ, &fds[..3])]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Msix { vectors: 3 });

    // Below the high-water mark only routes change.
    set_entry_mask(&mut r.dev, 1, false);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(1, entry_message(1), false)]]
    );
    set_entry_mask(&mut r.dev, 2, true);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(2, entry_message(2), true)]]
    );
    r.dev.bar_write(3, 0, &0xfee0_5000u32.to_le_bytes());
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(0, message(0xfee0_5000, 0x30), false)]]
    );
    // No VFIO call, and nothing written to the device's own table.
    assert_eq!(r.fake.take_calls(), vec![]);
}

#[test]
fn msix_on_a_noresize_index_disables_before_growing() {
    let mut r = msix_rig(e1000e().msix_noresize(), 8);
    let fds = r.msi.raw_fds(5);
    set_entry_mask(&mut r.dev, 0, false);
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![enable_msix(MSIX_IRQ, &fds[..1])]
    );
    set_entry_mask(&mut r.dev, 3, false);
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![
            FakeCall::DisableIrq { index: MSIX_IRQ },
            enable_msix(MSIX_IRQ, &fds[..4])
        ]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Msix { vectors: 4 });
}

#[test]
fn msix_function_mask_masks_every_vector() {
    let mut r = msix_rig(e1000e(), 8);
    set_entry_mask(&mut r.dev, 0, false);
    set_entry_mask(&mut r.dev, 1, false);
    r.msi.take_batches();
    r.fake.take_calls();
    write16(&mut r.dev, 0xa2, MSIX_ENABLE | MSIX_FUNCTION_MASK);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![
            update(0, entry_message(0), true),
            update(1, entry_message(1), true)
        ]]
    );
    assert_eq!(read(&r.dev, 0xa0) >> 16, 0xc004);
    write16(&mut r.dev, 0xa2, MSIX_ENABLE);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![
            update(0, entry_message(0), false),
            update(1, entry_message(1), false)
        ]]
    );
    assert_eq!(r.fake.take_irq_calls(), vec![]);
    assert_eq!(read(&r.dev, 0xa0) >> 16, 0x8004);
}

#[test]
fn msix_disable_returns_to_intx_and_reenable_starts_over() {
    let mut r = msix_rig(e1000e(), 8);
    let (trigger, resample) = r.intx.unwrap();
    let fds = r.msi.raw_fds(5);
    set_entry_mask(&mut r.dev, 0, false);
    r.msi.take_batches();
    r.fake.take_calls();
    write16(&mut r.dev, 0xa2, 0);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(0, entry_message(0), true)]]
    );
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![
            FakeCall::DisableIrq { index: MSIX_IRQ },
            FakeCall::EnableIrq {
                index: INTX_IRQ,
                fds: vec![trigger]
            },
            FakeCall::SetIntxUnmaskFd { fd: resample },
        ]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Intx);

    write16(&mut r.dev, 0xa2, MSIX_ENABLE);
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![
            FakeCall::DisableIrq { index: INTX_IRQ },
            enable_msix(MSIX_IRQ, &fds[..1])
        ]
    );
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(0, entry_message(0), false)]]
    );
}

#[test]
fn msix_table_reads_and_pba() {
    let mut r = msix_rig(e1000e(), 8);
    let mut entry = [0u8; 16];
    r.dev.bar_read(3, 16, &mut entry);
    let words: Vec<u32> = entry
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(words, vec![0xfee0_1000, 0, 0x31, 1]);
    let mut qword = [0u8; 8];
    r.dev.bar_read(3, 32, &mut qword);
    assert_eq!(u64::from_le_bytes(qword), 0xfee0_2000);

    r.msi.set_pending(1, true);
    r.msi.set_pending(4, true);
    r.dev.bar_read(3, 0x2000, &mut qword);
    assert_eq!(u64::from_le_bytes(qword), 0b1_0010);
    let mut high = [0u8; 4];
    r.dev.bar_read(3, 0x2004, &mut high);
    assert_eq!(high, [0; 4]);
    // The PBA is read-only; writes go nowhere.
    r.dev.bar_write(3, 0x2000, &[0xff; 8]);
    assert_eq!(r.fake.take_calls(), vec![]);
    r.dev.bar_read(3, 0x2000, &mut qword);
    assert_eq!(u64::from_le_bytes(qword), 0b1_0010);
}

#[test]
fn msix_enable_failure_is_retried_on_the_next_unmask() {
    let mut r = msix_rig(e1000e(), 8);
    let fds = r.msi.raw_fds(5);
    r.fake.fail_next(FakeFailure::EnableIrq(MSIX_IRQ));
    set_entry_mask(&mut r.dev, 0, false);
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![enable_msix(MSIX_IRQ, &fds[..1])]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Msix { vectors: 0 });
    set_entry_mask(&mut r.dev, 1, false);
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![enable_msix(MSIX_IRQ, &fds[..2])]
    );
    assert_eq!(r.dev.irq_mode(), IrqMode::Msix { vectors: 2 });
}

#[test]
fn msix_vectors_past_the_reserved_ones_are_not_routed() {
    let mut r = msix_rig(e1000e(), 2);
    set_entry_mask(&mut r.dev, 4, false);
    assert_eq!(r.msi.take_batches(), no_updates());
    assert_eq!(r.fake.take_irq_calls(), vec![]);
    set_entry_mask(&mut r.dev, 1, false);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(1, entry_message(1), false)]]
    );
    assert_eq!(
        r.fake.take_irq_calls(),
        vec![enable_msix(MSIX_IRQ, &r.msi.raw_fds(2))]
    );
}

#[test]
fn failed_route_update_is_retried_by_the_next_control_write() {
    let mut r = msix_rig(e1000e(), 8);
    r.msi.fail_next_update();
    set_entry_mask(&mut r.dev, 0, false);
    assert_eq!(r.msi.take_batches(), no_updates());
    write16(&mut r.dev, 0xa2, MSIX_ENABLE);
    assert_eq!(
        r.msi.take_batches(),
        vec![vec![update(0, entry_message(0), false)]]
    );
}

fn no_updates() -> Vec<Vec<VectorUpdate>> {
    Vec::new()
}
