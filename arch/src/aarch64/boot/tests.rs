use super::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A synthetic 64-byte arm64 Image header.
fn header_bytes(text_offset: u64, image_size: u64, flags: u64) -> Vec<u8> {
    let mut h = vec![0u8; IMAGE_HEADER_SIZE];
    // code0/code1 as an EFI-stub kernel has them: "MZ" then a branch.
    h[0..8].copy_from_slice(&[b'M', b'Z', 0x40, 0xfa, 0x00, 0x00, 0x00, 0x14]);
    h[8..16].copy_from_slice(&text_offset.to_le_bytes());
    h[16..24].copy_from_slice(&image_size.to_le_bytes());
    h[24..32].copy_from_slice(&flags.to_le_bytes());
    h[56..60].copy_from_slice(b"ARM\x64");
    h[60..64].copy_from_slice(&0x40u32.to_le_bytes());
    h
}

fn header(text_offset: u64, image_size: u64) -> ImageHeader {
    parse_image_header(&header_bytes(text_offset, image_size, 0b1010)).unwrap()
}

fn ram(size: u64) -> GuestRange {
    GuestRange::new(GuestAddress(GIB), size)
}

#[test]
fn parses_a_modern_header() {
    // Debian 6.1: text_offset 0, 4 KiB pages, placement anywhere.
    let h = parse_image_header(&header_bytes(0, 0x2260000, 0b1010)).unwrap();
    assert_eq!(
        h,
        ImageHeader {
            text_offset: 0,
            image_size: 0x2260000,
            page_size: KernelPageSize::Size4K,
            phys_anywhere: true,
        }
    );
}

#[test]
fn parses_page_sizes_placement_and_old_text_offsets() {
    let h = parse_image_header(&header_bytes(0x80000, 0x100_0000, 3 << 1)).unwrap();
    assert_eq!(h.text_offset, 0x80000);
    assert_eq!(h.page_size, KernelPageSize::Size64K);
    assert!(!h.phys_anywhere);
    let h = parse_image_header(&header_bytes(0, 0x100_0000, 2 << 1)).unwrap();
    assert_eq!(h.page_size, KernelPageSize::Size16K);
    let h = parse_image_header(&header_bytes(0, 0x100_0000, 0)).unwrap();
    assert_eq!(h.page_size, KernelPageSize::Unspecified);
    // A whole file parses the same as its header.
    let mut file = header_bytes(0, 0x100_0000, 0b1010);
    file.resize(4096, 0xaa);
    assert_eq!(parse_image_header(&file).unwrap().image_size, 0x100_0000);
}

#[test]
fn rejects_what_is_not_a_bootable_image() {
    let good = header_bytes(0, 0x100_0000, 0b1010);
    assert_eq!(
        parse_image_header(&good[..63]),
        Err(BootError::TooShort { len: 63 })
    );
    let mut bad_magic = good.clone();
    bad_magic[56..60].copy_from_slice(b"RISC");
    let err = parse_image_header(&bad_magic).unwrap_err();
    assert_eq!(err, BootError::BadMagic { found: *b"RISC" });
    assert!(err.to_string().contains("[52, 49, 53, 43]"), "{err}");
    let mut big_endian = good.clone();
    big_endian[24] |= 1;
    assert_eq!(parse_image_header(&big_endian), Err(BootError::BigEndian));
    assert_eq!(
        parse_image_header(&header_bytes(0, 0, 0)),
        Err(BootError::NoImageSize)
    );
    assert_eq!(
        parse_image_header(&header_bytes(0x20_0000, 0x100_0000, 0)),
        Err(BootError::TextOffset(0x20_0000))
    );
    assert_eq!(
        parse_image_header(&header_bytes(0x8_0001, 0x100_0000, 0)),
        Err(BootError::TextOffset(0x8_0001))
    );
}

#[test]
fn names_compressed_kernels() {
    assert_eq!(
        parse_image_header(&[0x1f, 0x8b, 0x08, 0x00]),
        Err(BootError::Gzip)
    );
    let mut zboot = vec![0u8; 64];
    zboot[0..2].copy_from_slice(b"MZ");
    zboot[4..8].copy_from_slice(b"zimg");
    zboot[24..28].copy_from_slice(b"zstd");
    let err = parse_image_header(&zboot).unwrap_err();
    assert_eq!(err, BootError::Zboot("zstd".into()));
    assert!(err.to_string().contains("zboot"), "{err}");
    // A truncated zboot header still says what it is.
    assert_eq!(
        parse_image_header(&zboot[..10]),
        Err(BootError::Zboot(String::new()))
    );
}

#[test]
fn places_kernel_dtb_and_initrd_in_order() {
    let boot = plan_boot(
        ram(512 * MIB),
        &header(0, 34 * MIB),
        30 * MIB,
        Some(5 * MIB),
    )
    .unwrap();
    assert_eq!(
        boot.kernel,
        GuestRange::new(GuestAddress(0x4000_0000), 34 * MIB)
    );
    assert_eq!(boot.entry(), GuestAddress(0x4000_0000));
    assert_eq!(
        boot.fdt,
        GuestRange::new(GuestAddress(0x4220_0000), 2 * MIB)
    );
    assert_eq!(
        boot.initrd,
        Some(GuestRange::new(GuestAddress(0x4240_0000), 5 * MIB))
    );
}

#[test]
fn honours_text_offset_and_rounds_the_dtb_block_up() {
    let boot = plan_boot(
        ram(256 * MIB),
        &header(0x8_0000, 0x123_4567),
        0x100_0000,
        None,
    )
    .unwrap();
    assert_eq!(boot.kernel.start, GuestAddress(0x4008_0000));
    assert_eq!(boot.kernel.size, 0x123_4567);
    // The kernel ends at 0x412b_4567: the DTB takes the next 2 MiB block.
    assert_eq!(boot.fdt.start, GuestAddress(0x4140_0000));
    assert_eq!(boot.initrd, None);
}

#[test]
fn a_file_longer_than_image_size_is_kept_whole() {
    let boot = plan_boot(ram(256 * MIB), &header(0, 8 * MIB), 9 * MIB, None).unwrap();
    assert_eq!(boot.kernel.size, 9 * MIB);
    assert_eq!(boot.fdt.start, GuestAddress(GIB + 10 * MIB));
}

#[test]
fn unaligned_ram_start_moves_the_kernel_base_up() {
    let ram = GuestRange::new(GuestAddress(GIB + MIB), 64 * MIB);
    let boot = plan_boot(ram, &header(0x1000, 4 * MIB), 4 * MIB, None).unwrap();
    assert_eq!(boot.kernel.start, GuestAddress(GIB + 2 * MIB + 0x1000));
}

#[test]
fn dtb_block_follows_the_boot_protocol() {
    for (kernel, initrd) in [(MIB, 0), (34 * MIB + 1, 7), (63 * MIB, 10 * MIB)] {
        let boot = plan_boot(ram(GIB), &header(0, kernel), kernel, Some(initrd)).unwrap();
        let fdt = boot.fdt;
        assert_eq!(fdt.start.0 % FDT_ALIGN_CHECK, 0);
        assert_eq!(fdt.start.0 % (2 * MIB), 0, "block must not straddle 2 MiB");
        assert_eq!(fdt.size, FDT_MAX_SIZE);
        let initrd = boot.initrd.unwrap();
        assert_eq!(initrd.start.0 % INITRD_ALIGN, 0);
        for (a, b) in [(boot.kernel, fdt), (fdt, initrd), (boot.kernel, initrd)] {
            assert!(!a.overlaps(&b), "{a} overlaps {b}");
        }
        for part in [boot.kernel, fdt, initrd] {
            assert!(ram(GIB).contains(&part), "{part} outside RAM");
        }
    }
}

const FDT_ALIGN_CHECK: u64 = crate::aarch64::layout::FDT_ALIGN;

#[test]
fn kernel_that_does_not_fit_names_its_size() {
    let err = plan_boot(ram(16 * MIB), &header(0, 34 * MIB), 30 * MIB, None).unwrap_err();
    assert_eq!(
        err,
        BootError::KernelDoesNotFit {
            size: 34 * MIB,
            load: GIB,
            ram: ram(16 * MIB),
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("34 MiB") && message.contains("0x41000000"),
        "{message}"
    );
}

#[test]
fn dtb_block_must_fit_after_the_kernel() {
    // The kernel fills RAM up to 1 MiB short of the DTB block's end.
    let err = plan_boot(ram(35 * MIB), &header(0, 34 * MIB), 34 * MIB, None).unwrap_err();
    assert_eq!(
        err,
        BootError::FdtDoesNotFit {
            start: GIB + 34 * MIB,
            ram: ram(35 * MIB),
        }
    );
    assert!(plan_boot(ram(36 * MIB), &header(0, 34 * MIB), 34 * MIB, None).is_ok());
}

#[test]
fn initrd_fits_exactly_or_fails_naming_sizes() {
    let h = header(0, 34 * MIB);
    let exact = plan_boot(ram(36 * MIB + 5 * MIB), &h, 34 * MIB, Some(5 * MIB)).unwrap();
    assert_eq!(exact.initrd.unwrap().end(), GIB + 41 * MIB);
    let err = plan_boot(ram(36 * MIB + 5 * MIB), &h, 34 * MIB, Some(5 * MIB + 1)).unwrap_err();
    assert_eq!(
        err,
        BootError::InitrdDoesNotFit {
            size: 5 * MIB + 1,
            start: GIB + 36 * MIB,
            ram: ram(41 * MIB),
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("0x500001 bytes") && message.contains("5 MiB of RAM"),
        "{message}"
    );
}

#[test]
fn kernel_and_initrd_share_a_32gib_window() {
    let h = header(0, 34 * MIB);
    // 30 GiB of initrd after a 36 MiB kernel + DTB stays inside [1 GiB, 33 GiB).
    assert!(plan_boot(ram(40 * GIB), &h, 34 * MIB, Some(30 * GIB)).is_ok());
    let err = plan_boot(ram(40 * GIB), &h, 34 * MIB, Some(32 * GIB)).unwrap_err();
    assert_eq!(
        err,
        BootError::InitrdWindow {
            kernel_start: GIB,
            initrd_end: GIB + 36 * MIB + 32 * GIB,
        }
    );
    assert!(err.to_string().contains("32 GiB"), "{err}");
}

#[test]
fn huge_sizes_do_not_overflow() {
    let h = header(0, 34 * MIB);
    assert!(matches!(
        plan_boot(ram(GIB), &h, 34 * MIB, Some(u64::MAX)),
        Err(BootError::InitrdDoesNotFit { .. })
    ));
    let near_top = GuestRange::new(GuestAddress(u64::MAX - MIB), MIB);
    assert!(plan_boot(near_top, &h, 34 * MIB, None).is_err());
    assert!(plan_boot(ram(GIB), &h, u64::MAX, None).is_err());
}
