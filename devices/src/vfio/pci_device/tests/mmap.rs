//! The mmap plan: which parts of each BAR are mmapped and which trap.

use super::*;
use crate::vfio::bars::{MmapArea, TrapRange};

fn area(offset: u64, size: u64, file_offset: u64) -> MmapArea {
    MmapArea {
        offset,
        size,
        file_offset,
    }
}

fn trap(offset: u64, size: u64) -> TrapRange {
    TrapRange { offset, size }
}

/// (bar, mmapped areas, trapped ranges) of every BAR.
fn plan(dev: &VfioPciDevice) -> Vec<(u8, Vec<MmapArea>, Vec<TrapRange>)> {
    dev.mmap_plan()
        .iter()
        .map(|p| (p.bar, p.mmaps.clone(), p.traps.clone()))
        .collect()
}

const REGION: u64 = 1 << 40;

#[test]
fn e1000e_traps_only_the_msix_pages() {
    let r = rig(e1000e());
    assert_eq!(
        plan(&r.dev),
        vec![
            (0, vec![area(0, 0x2_0000, 0)], vec![]),
            (1, vec![area(0, 0x2_0000, REGION)], vec![]),
            (2, vec![], vec![trap(0, 0x20)]),
            (
                3,
                vec![
                    area(0x1000, 0x1000, 3 * REGION + 0x1000),
                    area(0x3000, 0x1000, 3 * REGION + 0x3000)
                ],
                vec![trap(0, 0x1000), trap(0x2000, 0x1000)]
            ),
            (6, vec![], vec![trap(0, 0x4_0000)]),
        ]
    );
    let bar3 = &r.dev.mmap_plan()[3];
    assert_eq!((bar3.kind, bar3.size), (BarKind::Memory32, 0x4000));
    assert!(r.dev.device_fd().is_none());
}

#[test]
fn table_in_the_middle_of_a_bar() {
    let builder = FakeVfio::builder(0x144d, 0xa808)
        .bar(0, FakeBar::mem64(0x10_0000))
        .msix(0x50, 64, (0, 0x8_0000), (0, 0x8_1000))
        .intx(1);
    let r = rig(builder);
    assert_eq!(
        plan(&r.dev),
        vec![(
            0,
            vec![area(0, 0x8_0000, 0), area(0x8_2000, 0x7_e000, 0x8_2000)],
            vec![trap(0x8_0000, 0x2000)]
        )]
    );
}

#[test]
fn table_and_pba_sharing_an_unaligned_page() {
    let builder = FakeVfio::builder(1, 2)
        .bar(0, FakeBar::mem32(0x4000))
        .msix(0x50, 32, (0, 0x3000), (0, 0x3800))
        .intx(1);
    let r = rig(builder);
    assert_eq!(
        plan(&r.dev),
        vec![(0, vec![area(0, 0x3000, 0)], vec![trap(0x3000, 0x1000)])]
    );
}

#[test]
fn sparse_areas_are_honoured() {
    let bar = FakeBar::mem64(0x10_0000).sparse(&[(0, 0x8_0000), (0xc_0000, 0x4_0000)]);
    let builder = FakeVfio::builder(1, 2)
        .bar(0, bar)
        .msix(0x50, 64, (0, 0x8_0000), (0, 0xc_0000))
        .intx(1);
    let r = rig(builder);
    assert_eq!(
        plan(&r.dev),
        vec![(
            0,
            vec![area(0, 0x8_0000, 0), area(0xc_1000, 0x3_f000, 0xc_1000)],
            vec![trap(0x8_0000, 0x4_1000)]
        )]
    );
}

#[test]
fn msix_mappable_regions_still_trap_the_table() {
    let builder = e1000e().bar(3, FakeBar::mem32(0x4000).msix_mappable());
    let r = rig(builder);
    assert_eq!(
        r.dev.mmap_plan()[3].traps,
        vec![trap(0, 0x1000), trap(0x2000, 0x1000)]
    );
}

#[test]
fn unmappable_and_small_bars_trap_whole() {
    let builder = FakeVfio::builder(1, 2)
        .bar(0, FakeBar::mem32(0x1_0000).no_mmap())
        .bar(1, FakeBar::mem32(0x100))
        .intx(1);
    let r = rig(builder);
    assert_eq!(
        plan(&r.dev),
        vec![
            (0, vec![], vec![trap(0, 0x1_0000)]),
            (1, vec![], vec![trap(0, 0x100)])
        ]
    );
}

#[test]
fn intx_mode_maps_the_table_pages_too() {
    let r = rig_with(e1000e(), intx_only(), 8, true);
    assert_eq!(
        r.dev.mmap_plan()[3].mmaps,
        vec![area(0, 0x4000, 3 * REGION)]
    );
    assert_eq!(r.dev.mmap_plan()[3].traps, vec![]);
}

#[test]
fn large_host_pages() {
    let options = VfioPciOptions {
        page_size: 0x1_0000,
        ..VfioPciOptions::default()
    };
    let r = rig_with(e1000e(), options, 8, true);
    let plans = plan(&r.dev);
    assert_eq!(plans[0], (0, vec![area(0, 0x2_0000, 0)], vec![]));
    // 16 KiB is less than a 64 KiB page: the whole BAR traps.
    assert_eq!(plans[3], (3, vec![], vec![trap(0, 0x4000)]));
}
