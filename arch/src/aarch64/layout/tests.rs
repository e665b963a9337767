use super::*;

/// Every fixed area of the map, as (name, range).
fn fixed_areas() -> Vec<(&'static str, GuestRange)> {
    vec![
        (
            "GIC distributor",
            GuestRange::new(GIC_DIST_START, GIC_DIST_SIZE),
        ),
        ("GIC ITS", GuestRange::new(GIC_ITS_START, GIC_ITS_SIZE)),
        (
            "GIC redistributors",
            GuestRange::new(GIC_REDIST_START, GIC_REDIST_MAX_SIZE),
        ),
        ("UART", GuestRange::new(SERIAL_START, SERIAL_SIZE)),
        ("RTC", GuestRange::new(RTC_START, RTC_SIZE)),
        (
            "test exit",
            GuestRange::new(TEST_EXIT_START, TEST_EXIT_SIZE),
        ),
        (
            "boot timer",
            GuestRange::new(BOOT_TIMER_START, BOOT_TIMER_SIZE),
        ),
        ("GPIO", GuestRange::new(GPIO_START, GPIO_SIZE)),
        ("PCI I/O", GuestRange::new(PCI_IO_START, PCI_IO_SIZE)),
        (
            "PCI MMIO32",
            GuestRange::new(PCI_MMIO32_START, PCI_MMIO32_SIZE),
        ),
        ("ECAM", GuestRange::new(PCI_ECAM_START, PCI_ECAM_SIZE)),
    ]
}

#[test]
fn fixed_areas_do_not_overlap_and_sit_below_ram() {
    let areas = fixed_areas();
    for (i, (name, a)) in areas.iter().enumerate() {
        assert!(a.size > 0, "{name} is empty");
        assert!(a.end() <= RAM_START.0, "{name} {a} reaches into RAM");
        for (other, b) in &areas[i + 1..] {
            assert!(!a.overlaps(b), "{name} {a} overlaps {other} {b}");
        }
    }
}

#[test]
fn device_frames_are_page_aligned_and_windows_naturally_aligned() {
    for (name, a) in fixed_areas() {
        assert_eq!(a.start.0 % 0x1000, 0, "{name} is not page aligned");
        assert_eq!(a.size % 0x1000, 0, "{name} size is not whole pages");
    }
    // 64 KiB alignment keeps every frame mappable by a 64 KiB-page guest or host.
    for start in [
        GIC_DIST_START,
        GIC_ITS_START,
        GIC_REDIST_START,
        PCI_IO_START,
    ] {
        assert_eq!(start.0 % (64 * KIB), 0, "{start:?}");
    }
    assert_eq!(PCI_ECAM_START.0 % PCI_ECAM_SIZE, 0);
    assert_eq!(PCI_MMIO32_START.0 % (256 * MIB), 0);
    assert_eq!(RAM_START.0 % GIB, 0);
}

#[test]
fn redistributor_room_gives_123_vcpus() {
    assert_eq!(GIC_REDIST_MAX_SIZE, 0xf6_0000);
    assert_eq!(MAX_VCPUS, 123);
    let gic = GicRegions::for_vcpus(MAX_VCPUS, true).unwrap();
    assert_eq!(gic.redistributors.end(), SERIAL_START.0);
    assert_eq!(
        GicRegions::for_vcpus(MAX_VCPUS + 1, false),
        Err(LayoutError::VcpuCount {
            count: 124,
            max: 123
        })
    );
    assert!(GicRegions::for_vcpus(0, false).is_err());
    let message = GicRegions::for_vcpus(200, false).unwrap_err().to_string();
    assert!(
        message.contains("200 vCPUs") && message.contains("123"),
        "{message}"
    );
}

#[test]
fn gic_regions_follow_the_vcpu_count_and_the_its_choice() {
    let gic = GicRegions::for_vcpus(4, false).unwrap();
    assert_eq!(
        gic.distributor,
        GuestRange::new(GuestAddress(0x0800_0000), 0x1_0000)
    );
    assert_eq!(
        gic.redistributors,
        GuestRange::new(GuestAddress(0x080a_0000), 0x8_0000)
    );
    assert_eq!(gic.its, None);
    let gic = GicRegions::for_vcpus(1, true).unwrap();
    assert_eq!(
        gic.its,
        Some(GuestRange::new(GuestAddress(0x0808_0000), 0x2_0000))
    );
    assert_eq!(gic.its.unwrap().end(), gic.redistributors.start.0);
}

#[test]
fn platform_spis_are_distinct_and_inside_the_vgic() {
    let mut spis = vec![SERIAL_SPI, RTC_SPI, GPIO_SPI];
    spis.extend(PCI_INTX_SPI_BASE..PCI_INTX_SPI_BASE + PCI_INTX_SPI_COUNT);
    let mut sorted = spis.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), spis.len(), "SPIs collide: {spis:?}");
    for spi in spis {
        assert!(spi_intid(spi) < GIC_NR_IRQS, "SPI {spi} beyond the vGIC");
    }
    assert_eq!(spi_intid(SERIAL_SPI), 33);
    assert_eq!(spi_intid(GPIO_SPI), 39);
    assert_eq!(GIC_NR_IRQS % 32, 0, "KVM wants a multiple of 32");
}

#[test]
fn ram_is_one_region_from_1gib() {
    assert!(ram_regions(0).is_empty());
    assert_eq!(
        ram_regions(512 * MIB),
        vec![(GuestAddress(0x4000_0000), 512 * MIB)]
    );
    assert_eq!(ram_regions(64 * GIB), vec![(RAM_START, 64 * GIB)]);
    for (name, area) in fixed_areas() {
        let (start, size) = ram_regions(4 * GIB)[0];
        assert!(!area.overlaps(&GuestRange::new(start, size)), "{name}");
    }
}

#[test]
fn max_ram_size_leaves_the_low_gib_to_devices() {
    assert_eq!(max_ram_size(32).unwrap(), 3 * GIB);
    assert_eq!(max_ram_size(40).unwrap(), (1 << 40) - GIB);
    assert_eq!(max_ram_size(31), Err(LayoutError::IpaBits { ipa_bits: 31 }));
    assert_eq!(max_ram_size(53), Err(LayoutError::IpaBits { ipa_bits: 53 }));
}

#[test]
fn mmio64_window_starts_aligned_above_ram() {
    // 2 GiB of RAM ends at 3 GiB: the window starts there (1 GiB aligned).
    let ram_end = RAM_START.0 + 2 * GIB;
    assert_eq!(
        pci_mmio64_window(ram_end, 40, 4 * GIB, 256 * MIB),
        Ok((3 * GIB, 4 * GIB))
    );
    // A RAM end that is not 1 GiB aligned is rounded up.
    assert_eq!(
        pci_mmio64_window(RAM_START.0 + 2 * GIB + 4096, 40, GIB, GIB),
        Ok((4 * GIB, GIB))
    );
    // A 16 GiB BAR makes the window 16 GiB aligned.
    assert_eq!(
        pci_mmio64_window(ram_end, 40, 32 * GIB, 16 * GIB),
        Ok((16 * GIB, 32 * GIB))
    );
}

#[test]
fn mmio64_window_may_end_exactly_at_the_ipa_limit() {
    // 36-bit IPA (64 GiB): 3 GiB of RAM ends at 4 GiB; 60 GiB fit exactly.
    assert_eq!(
        pci_mmio64_window(4 * GIB, 36, 60 * GIB, 32 * GIB),
        Err(LayoutError::Mmio64DoesNotFit {
            wanted: 60 * GIB,
            largest_bar: 32 * GIB,
            ram_end: 4 * GIB,
            align: 32 * GIB,
            base: 32 * GIB,
            ipa_bits: 36,
        })
    );
    assert_eq!(
        pci_mmio64_window(4 * GIB, 36, 60 * GIB, GIB),
        Ok((4 * GIB, 60 * GIB))
    );
    assert!(pci_mmio64_window(4 * GIB, 36, 60 * GIB + 4096, GIB).is_err());
}

#[test]
fn mmio64_window_error_names_the_sizes() {
    // A Jetson-like 40-bit IPA guest with 8 GiB of RAM cannot hold a 1 TiB window.
    let err = pci_mmio64_window(RAM_START.0 + 8 * GIB, 40, 1 << 40, 64 * GIB).unwrap_err();
    let message = err.to_string();
    for part in [
        "1 TiB",
        "64 GiB",
        "0x240000000",
        "0x1000000000",
        "40-bit",
        "0x10000000000",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

#[test]
fn mmio64_window_rejects_bad_requests() {
    assert_eq!(
        pci_mmio64_window(2 * GIB, 40, GIB, 3 * MIB),
        Err(LayoutError::BarSize { size: 3 * MIB })
    );
    assert_eq!(
        pci_mmio64_window(2 * GIB, 40, GIB, 0),
        Err(LayoutError::BarSize { size: 0 })
    );
    assert_eq!(
        pci_mmio64_window(2 * GIB, 40, 256 * MIB, GIB),
        Err(LayoutError::WindowTooSmall {
            wanted: 256 * MIB,
            largest_bar: GIB
        })
    );
    assert_eq!(
        pci_mmio64_window(2 * GIB, 60, GIB, GIB),
        Err(LayoutError::IpaBits { ipa_bits: 60 })
    );
    // RAM already past the IPA limit; and a RAM end near 2^64 must not overflow.
    assert!(pci_mmio64_window(1 << 41, 40, GIB, GIB).is_err());
    assert!(matches!(
        pci_mmio64_window(u64::MAX - 10, 52, GIB, GIB),
        Err(LayoutError::Mmio64DoesNotFit { base: u64::MAX, .. })
    ));
}

#[test]
fn mmio64_window_never_overlaps_ram_or_the_low_map() {
    for ram in [512 * MIB, 3 * GIB, 5 * GIB + 4096, 100 * GIB] {
        let (start, size) = ram_regions(ram)[0];
        let ram_range = GuestRange::new(start, size);
        for bar in [MIB, GIB, 8 * GIB] {
            let (base, len) = pci_mmio64_window(ram_range.end(), 44, 2 * bar, bar).unwrap();
            let window = GuestRange::new(GuestAddress(base), len);
            assert!(
                !window.overlaps(&ram_range),
                "{window} overlaps RAM {ram_range}"
            );
            assert_eq!(base % bar.max(GIB), 0);
            for (name, area) in fixed_areas() {
                assert!(!window.overlaps(&area), "{window} overlaps {name}");
            }
        }
    }
}

#[test]
fn byte_sizes_print_in_the_largest_exact_unit() {
    assert_eq!(ByteSize(64 * GIB).to_string(), "64 GiB");
    assert_eq!(ByteSize(1536 * MIB).to_string(), "1536 MiB");
    assert_eq!(ByteSize(4096).to_string(), "4 KiB");
    assert_eq!(ByteSize(0x1800).to_string(), "6 KiB");
    assert_eq!(ByteSize(0x1801).to_string(), "0x1801 bytes");
    assert_eq!(ByteSize(0).to_string(), "0x0 bytes");
}

#[test]
fn ranges_overlap_and_contain() {
    let a = GuestRange::new(GuestAddress(0x1000), 0x1000);
    let b = GuestRange::new(GuestAddress(0x1fff), 1);
    let c = GuestRange::new(GuestAddress(0x2000), 0x1000);
    assert!(a.overlaps(&b) && b.overlaps(&a));
    assert!(!a.overlaps(&c) && !c.overlaps(&a));
    assert!(!a.overlaps(&GuestRange::new(GuestAddress(0x1800), 0)));
    assert!(a.contains(&b) && !a.contains(&c));
    assert_eq!(a.to_string(), "[0x1000..0x2000) (4 KiB)");
}
