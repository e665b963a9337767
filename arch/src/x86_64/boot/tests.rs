//! Tests of the zero page, the e820 map and initrd placement.

use linux_loader::loader::bootparam::{boot_params, setup_header};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::*;
use crate::x86_64::layout::{ram_regions, ACPI_START, CMDLINE_START};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn guest_memory(ram: &[(GuestAddress, u64)]) -> GuestMemoryMmap {
    let ranges: Vec<(GuestAddress, usize)> = ram.iter().map(|r| (r.0, r.1 as usize)).collect();
    GuestMemoryMmap::<()>::from_ranges(&ranges).expect("guest memory")
}

/// Writes a zero page for `mem_size` bytes of RAM and reads it back.
fn boot_and_read_back(mem_size: u64, config: BootConfig) -> boot_params {
    let ram = ram_regions(mem_size);
    let mem = guest_memory(&ram);
    configure_system(
        &mem,
        &BootConfig {
            ram_regions: ram,
            ..config
        },
    )
    .expect("configure_system");
    mem.read_obj(ZERO_PAGE_START).expect("read zero page")
}

/// The e820 table of `bp` as (start, size, type).
fn e820_of(bp: &boot_params) -> Vec<(u64, u64, u32)> {
    let table = bp.e820_table;
    table[..bp.e820_entries as usize]
        .iter()
        .map(|e| (e.addr, e.size, e.r#type))
        .collect()
}

fn base_config() -> BootConfig {
    BootConfig {
        cmdline_addr: CMDLINE_START,
        cmdline_size: 24,
        ..Default::default()
    }
}

/// A setup header as a 6.1 bzImage brings it (protocol 2.15, 2047-byte command line).
fn bzimage_header() -> setup_header {
    setup_header {
        setup_sects: 27,
        boot_flag: 0xaa55,
        header: 0x5372_6448,
        version: 0x020f,
        loadflags: 0x01,
        initrd_addr_max: 0x7fff_ffff,
        kernel_alignment: 0x20_0000,
        relocatable_kernel: 1,
        xloadflags: 0x7f,
        cmdline_size: 2047,
        init_size: 0x02e6_5000,
        ..Default::default()
    }
}

#[test]
fn zero_page_for_512mib_with_default_header() {
    let config = BootConfig {
        initrd: Some((GuestAddress(0x1f00_0000), 0x12_3456)),
        rsdp: Some(ACPI_START),
        ..base_config()
    };
    let bp = boot_and_read_back(512 * MIB, config);
    let hdr = bp.hdr;
    assert_eq!({ hdr.boot_flag }, 0xaa55);
    assert_eq!({ hdr.header }, 0x5372_6448);
    assert_eq!({ hdr.kernel_alignment }, 0x100_0000);
    assert_eq!(hdr.type_of_loader, 0xff);
    assert_eq!(hdr.loadflags & 0x01, 0x01);
    assert_eq!({ hdr.cmd_line_ptr }, 0x2_0000);
    assert_eq!({ bp.ext_cmd_line_ptr }, 0);
    assert_eq!({ hdr.cmdline_size }, 24);
    assert_eq!({ hdr.ramdisk_image }, 0x1f00_0000);
    assert_eq!({ hdr.ramdisk_size }, 0x12_3456);
    assert_eq!({ bp.acpi_rsdp_addr }, 0xe_0000);
    assert_eq!(
        e820_of(&bp),
        vec![
            (0, 0x9_fc00, E820_RAM),
            (0x9_fc00, 0x10_0000 - 0x9_fc00, E820_RESERVED),
            (0x10_0000, 512 * MIB - 0x10_0000, E820_RAM),
        ]
    );
}

#[test]
fn zero_page_for_5gib_keeps_the_bzimage_header() {
    let config = BootConfig {
        setup_header: Some(bzimage_header()),
        ..base_config()
    };
    let bp = boot_and_read_back(5 * GIB, config);
    let hdr = bp.hdr;
    // Copied from the kernel...
    assert_eq!(hdr.setup_sects, 27);
    assert_eq!({ hdr.version }, 0x020f);
    assert_eq!({ hdr.kernel_alignment }, 0x20_0000);
    assert_eq!({ hdr.init_size }, 0x02e6_5000);
    assert_eq!({ hdr.xloadflags }, 0x7f);
    // ...and filled in by the loader.
    assert_eq!(hdr.type_of_loader, 0xff);
    assert_eq!({ hdr.cmd_line_ptr }, 0x2_0000);
    assert_eq!({ hdr.ramdisk_image }, 0);
    assert_eq!({ hdr.ramdisk_size }, 0);
    assert_eq!({ bp.acpi_rsdp_addr }, 0);
    assert_eq!(
        e820_of(&bp),
        vec![
            (0, 0x9_fc00, E820_RAM),
            (0x9_fc00, 0x10_0000 - 0x9_fc00, E820_RESERVED),
            (0x10_0000, 3 * GIB - 0x10_0000, E820_RAM),
            (4 * GIB, 2 * GIB, E820_RAM),
        ]
    );
}

#[test]
fn e820_leaves_the_mmio_hole_out() {
    let map = e820_map(&ram_regions(8 * GIB)).unwrap();
    for e in &map {
        let (start, end) = (e.addr, e.addr + e.size);
        assert!(
            end <= 3 * GIB || start >= 4 * GIB,
            "{start:#x}..{end:#x} in the hole"
        );
    }
    let ram: u64 = map
        .iter()
        .filter(|e| e.r#type == E820_RAM)
        .map(|e| e.size)
        .sum();
    assert_eq!(ram, 8 * GIB - (0x10_0000 - 0x9_fc00));
}

#[test]
fn initrd_above_4gib_uses_the_ext_fields() {
    let params = BootConfig {
        initrd: Some((GuestAddress(0x1_2345_6000), 0x1_0000_1000)),
        ram_regions: ram_regions(GIB),
        ..base_config()
    };
    let bp = build_boot_params(&params).unwrap();
    assert_eq!({ bp.hdr.ramdisk_image }, 0x2345_6000);
    assert_eq!({ bp.ext_ramdisk_image }, 1);
    assert_eq!({ bp.hdr.ramdisk_size }, 0x1000);
    assert_eq!({ bp.ext_ramdisk_size }, 1);
}

#[test]
fn cmdline_longer_than_the_kernel_allows_is_refused() {
    let params = BootConfig {
        setup_header: Some(bzimage_header()),
        cmdline_size: 2049,
        ram_regions: ram_regions(GIB),
        ..base_config()
    };
    let err = build_boot_params(&params).unwrap_err();
    assert!(
        matches!(
            err,
            BootError::CmdlineTooLong {
                len: 2048,
                max: 2047,
                ..
            }
        ),
        "{err}"
    );
    // 2047 characters + NUL is exactly the limit.
    let ok = BootConfig {
        cmdline_size: 2048,
        ..params
    };
    assert!(build_boot_params(&ok).is_ok());
}

#[test]
fn cmdline_longer_than_the_buffer_is_refused() {
    let params = BootConfig {
        cmdline_size: CMDLINE_MAX_SIZE as usize + 1,
        ram_regions: ram_regions(GIB),
        ..base_config()
    };
    let err = build_boot_params(&params).unwrap_err();
    assert!(
        matches!(err, BootError::CmdlineTooLong { max: 4095, .. }),
        "{err}"
    );
}

#[test]
fn zero_page_outside_ram_is_an_error_naming_it() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0x10_0000), 0x10_0000)]).unwrap();
    let params = BootConfig {
        ram_regions: ram_regions(GIB),
        ..base_config()
    };
    let err = configure_system(&mem, &params).unwrap_err();
    assert!(err.to_string().contains("zero page at 0x7000"), "{err}");
}

#[test]
fn e820_needs_ram_at_zero() {
    let err = e820_map(&[(GuestAddress(0x10_0000), GIB)]).unwrap_err();
    assert!(matches!(err, BootError::NoLowRam(Some((0x10_0000, _)))));
    assert!(matches!(e820_map(&[]), Err(BootError::NoLowRam(None))));
}

// ---- initrd placement ----

#[test]
fn initrd_goes_to_the_top_of_small_low_ram() {
    let ram = ram_regions(512 * MIB);
    let addr = initrd_address(&ram, GuestAddress(0x200_0000), 0x10_0000, None).unwrap();
    assert_eq!(addr, GuestAddress(512 * MIB - 0x10_0000));
}

#[test]
fn initrd_is_page_aligned_down() {
    let ram = ram_regions(512 * MIB);
    let addr = initrd_address(&ram, GuestAddress(0x200_0000), 0x10_0001, None).unwrap();
    assert_eq!(addr, GuestAddress(512 * MIB - 0x10_1000));
    assert_eq!(addr.0 % 4096, 0);
}

#[test]
fn initrd_respects_the_default_addr_max() {
    // 2 GiB of RAM, no header: the initrd must end at or below 0x37ff_ffff.
    let ram = ram_regions(2 * GIB);
    let addr = initrd_address(&ram, GuestAddress(0x200_0000), 0x20_0000, None).unwrap();
    assert_eq!(addr, GuestAddress(0x3800_0000 - 0x20_0000));
}

#[test]
fn initrd_respects_the_header_addr_max() {
    let ram = ram_regions(5 * GIB);
    let addr =
        initrd_address(&ram, GuestAddress(0x200_0000), 0x20_0000, Some(0x7fff_ffff)).unwrap();
    assert_eq!(addr, GuestAddress(0x8000_0000 - 0x20_0000));
    // A 64-bit kernel allowing anything still stays in low RAM (below 3 GiB).
    let addr = initrd_address(&ram, GuestAddress(0x200_0000), 0x20_0000, Some(u32::MAX)).unwrap();
    assert_eq!(addr, GuestAddress(3 * GIB - 0x20_0000));
}

#[test]
fn initrd_that_exactly_fits_above_the_kernel() {
    let ram = ram_regions(64 * MIB);
    // Kernel ends at 0x100_0800: the initrd may start at 0x100_1000.
    let size = 64 * MIB - 0x100_1000;
    let addr = initrd_address(&ram, GuestAddress(0x100_0800), size, None).unwrap();
    assert_eq!(addr, GuestAddress(0x100_1000));
    // One byte more does not fit, and the error names the numbers.
    let err = initrd_address(&ram, GuestAddress(0x100_0800), size + 1, None).unwrap_err();
    assert!(
        matches!(err, BootError::InitrdDoesNotFit { lowest: 0x100_1000, highest, .. } if highest == 64 * MIB),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{} bytes", size + 1)) && msg.contains("0x1001000"),
        "{msg}"
    );
}

#[test]
fn initrd_larger_than_ram_does_not_fit() {
    let ram = ram_regions(64 * MIB);
    let err = initrd_address(&ram, GuestAddress(0x200_0000), 128 * MIB, None).unwrap_err();
    assert!(matches!(err, BootError::InitrdDoesNotFit { .. }));
}

#[test]
fn empty_initrd_and_missing_ram_are_errors() {
    let ram = ram_regions(64 * MIB);
    assert!(matches!(
        initrd_address(&ram, GuestAddress(0x200_0000), 0, None),
        Err(BootError::EmptyInitrd)
    ));
    assert!(matches!(
        initrd_address(&[], GuestAddress(0x200_0000), 4096, None),
        Err(BootError::NoLowRam(None))
    ));
}
