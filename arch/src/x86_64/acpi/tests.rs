//! Tests of the ACPI tables: structure, checksums and addresses parsed back from the bytes,
//! the copy in guest memory, and `iasl -d` on every table. The PCI tables' own tests are in
//! `pci/tests.rs`; they share the helpers here.

use std::path::{Path, PathBuf};
use std::process::Command;

use vm_memory::GuestMemoryMmap;

use super::*;
use crate::x86_64::layout::ACPI_START;

pub(super) fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}
pub(super) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
pub(super) fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

pub(super) fn tables(num_cpus: u8) -> AcpiTables {
    build_tables(&AcpiPlatform::new(num_cpus), ACPI_START).unwrap()
}

/// ovmm's platform with a PCI root: the fixed windows, a 64 GiB 64-bit window at 64 GiB and
/// INTx of slots 1-3 on GSIs 16-18 (slot 3 INTD shares GSI 16 with slot 1 INTA).
pub(super) fn pci_platform(num_cpus: u8) -> AcpiPlatform {
    let route = |slot, pin, gsi| PrtEntry { slot, pin, gsi };
    let pci = PciRootDescription::new(
        Some((GuestAddress(64 << 30), 64 << 30)),
        vec![
            route(1, 0, 16),
            route(2, 0, 17),
            route(2, 1, 18),
            route(3, 3, 16),
        ],
    );
    AcpiPlatform {
        pci: Some(pci),
        ..AcpiPlatform::new(num_cpus)
    }
}

/// The tables of `p` at [`ACPI_START`].
pub(super) fn tables_of(p: &AcpiPlatform) -> AcpiTables {
    build_tables(p, ACPI_START).unwrap()
}

/// The table at `addr`, found by address as a guest would.
pub(super) fn table_at(t: &AcpiTables, addr: u64) -> &AcpiTable {
    t.tables
        .iter()
        .find(|x| x.addr.0 == addr)
        .unwrap_or_else(|| panic!("no table at {addr:#x}"))
}

/// MADT sub-structures as (type, bytes).
fn madt_entries(madt: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 44;
    while off < madt.len() {
        let len = madt[off + 1] as usize;
        assert!(
            len >= 2 && off + len <= madt.len(),
            "bad MADT entry at {off}"
        );
        out.push((madt[off], madt[off..off + len].to_vec()));
        off += len;
    }
    out
}

#[test]
fn every_checksum_is_valid() {
    for cpus in [1, 4, 255] {
        for t in [tables(cpus), tables_of(&pci_platform(cpus))] {
            every_checksum_is_valid_in(&t);
        }
    }
}

fn every_checksum_is_valid_in(t: &AcpiTables) {
    assert_eq!(t.rsdp.len(), 36);
    assert_eq!(checksum(&t.rsdp[..20]), 0, "RSDP v1 checksum");
    assert_eq!(checksum(&t.rsdp), 0, "RSDP extended checksum");
    for table in &t.tables {
        assert_eq!(checksum(&table.bytes), 0, "{} checksum", table.signature);
        assert_eq!(&table.bytes[..4], table.signature.as_bytes());
        assert_eq!(
            u32_at(&table.bytes, 4) as usize,
            table.bytes.len(),
            "{} length",
            table.signature
        );
    }
}

#[test]
fn rsdp_xsdt_and_fadt_point_at_the_right_tables() {
    let t = tables(2);
    assert_eq!(t.rsdp_addr, ACPI_START);
    assert_eq!(&t.rsdp[..8], b"RSD PTR ");
    assert_eq!(t.rsdp[15], 2, "RSDP revision");
    assert_eq!(u32_at(&t.rsdp, 20), 36, "RSDP length");
    let xsdt = table_at(&t, u64_at(&t.rsdp, 24));
    assert_eq!(xsdt.signature, "XSDT");
    let entries: Vec<u64> = xsdt.bytes[36..].chunks(8).map(|c| u64_at(c, 0)).collect();
    let signatures: Vec<&str> = entries
        .iter()
        .map(|&a| table_at(&t, a).signature.as_str())
        .collect();
    assert_eq!(signatures, ["FACP", "APIC"]);
    let fadt = &table_at(&t, entries[0]).bytes;
    assert_eq!(table_at(&t, u64_at(fadt, 140)).signature, "DSDT", "X_DSDT");
    assert_eq!(
        u64::from(u32_at(fadt, 40)),
        u64_at(fadt, 140),
        "DSDT == X_DSDT"
    );
}

#[test]
fn tables_are_contiguous_aligned_and_inside_their_area() {
    let t = tables(4);
    let mut end = t.rsdp_addr.0 + t.rsdp.len() as u64;
    for table in &t.tables {
        assert_eq!(table.addr.0 % 8, 0, "{} alignment", table.signature);
        assert!(
            table.addr.0 >= end && table.addr.0 - end < 8,
            "{} not contiguous",
            table.signature
        );
        end = table.addr.0 + table.bytes.len() as u64;
    }
    assert_eq!(t.size(), end - ACPI_START.0);
    assert!(end <= 0x10_0000);
}

#[test]
fn madt_has_one_enabled_lapic_per_cpu() {
    for cpus in [1u8, 4, 255] {
        let t = tables(cpus);
        let madt = &t.get("APIC").unwrap().bytes;
        assert_eq!(madt[8], 5, "MADT revision");
        assert_eq!(u32_at(madt, 36), 0xfee0_0000, "local APIC address");
        assert_eq!(u32_at(madt, 40), 1, "PCAT_COMPAT");
        let lapics: Vec<Vec<u8>> = madt_entries(madt)
            .into_iter()
            .filter(|e| e.0 == 0)
            .map(|e| e.1)
            .collect();
        assert_eq!(lapics.len(), usize::from(cpus));
        for (i, l) in lapics.iter().enumerate() {
            assert_eq!(l.len(), 8);
            assert_eq!(
                (l[2], l[3]),
                (i as u8, i as u8),
                "UID and APIC id of CPU {i}"
            );
            assert_eq!(u32_at(l, 4), 1, "CPU {i} enabled");
        }
    }
}

#[test]
fn madt_describes_the_ioapic_pit_override_and_nmi() {
    let t = tables(2);
    let entries = madt_entries(&t.get("APIC").unwrap().bytes);
    let of_type = |ty: u8| -> Vec<Vec<u8>> {
        entries
            .iter()
            .filter(|e| e.0 == ty)
            .map(|e| e.1.clone())
            .collect()
    };
    let ioapic = of_type(1);
    assert_eq!(ioapic.len(), 1);
    assert_eq!(ioapic[0][2], 0, "IOAPIC id");
    assert_eq!(u32_at(&ioapic[0], 4), 0xfec0_0000);
    assert_eq!(u32_at(&ioapic[0], 8), 0, "GSI base");
    let iso = of_type(2);
    assert_eq!(iso.len(), 1);
    assert_eq!((iso[0][2], iso[0][3]), (0, 0), "ISA bus, IRQ 0");
    assert_eq!(u32_at(&iso[0], 4), 2, "to GSI 2");
    assert_eq!(u16_at(&iso[0], 8), 0);
    let nmi = of_type(4);
    assert_eq!(nmi, vec![vec![4, 6, 0xff, 0, 0, 1]]);
}

#[test]
fn fadt_is_hardware_reduced_with_sleep_and_reset_registers() {
    let t = tables(1);
    let fadt = &t.get("FACP").unwrap().bytes;
    assert_eq!(fadt.len(), 276);
    assert_eq!((fadt[8], fadt[131]), (6, 5), "FADT revision 6.5");
    let flags = u32_at(fadt, 112);
    assert_eq!(flags, (1 << 20) | (1 << 10) | (1 << 5) | (1 << 4));
    assert_eq!(
        u16_at(fadt, 109),
        0b111,
        "legacy devices, 8042, no VGA; CMOS RTC present"
    );
    assert_eq!(fadt[45], 0, "PM profile");
    // GAS: space 1 (I/O), 8 bits, offset 0, byte access, address.
    let gas = |off: usize| {
        (
            fadt[off],
            fadt[off + 1],
            fadt[off + 2],
            fadt[off + 3],
            u64_at(fadt, off + 4),
        )
    };
    assert_eq!(gas(116), (1, 8, 0, 1, 0x602), "RESET_REG");
    assert_eq!(fadt[128], 1, "RESET_VALUE");
    assert_eq!(gas(244), (1, 8, 0, 1, 0x600), "SLEEP_CONTROL_REG");
    assert_eq!(gas(256), (1, 8, 0, 1, 0x601), "SLEEP_STATUS_REG");
    // No fixed-hardware blocks and no SCI on a hardware-reduced platform.
    assert_eq!(u16_at(fadt, 46), 0, "SCI_INT");
    assert!(
        fadt[56..88].iter().all(|&b| b == 0),
        "PM1/PM2/PM timer/GPE blocks"
    );
    assert!(fadt[148..244].iter().all(|&b| b == 0), "X_ PM/GPE blocks");
}

#[test]
fn fadt_follows_the_platform_devices() {
    let p = AcpiPlatform {
        rtc: None,
        i8042: None,
        ..AcpiPlatform::new(1)
    };
    let t = build_tables(&p, ACPI_START).unwrap();
    let fadt = &t.get("FACP").unwrap().bytes;
    assert_eq!(
        u16_at(fadt, 109),
        (1 << 5) | (1 << 2) | 1,
        "no RTC, no 8042"
    );
    let dsdt = &t.get("DSDT").unwrap().bytes;
    assert!(find(dsdt, b"COM1").is_some());
    assert!(find(dsdt, b"RTC_").is_none() && find(dsdt, b"KBD_").is_none());
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn dsdt_holds_s5_and_the_isa_devices() {
    let t = tables(1);
    let dsdt = &t.get("DSDT").unwrap().bytes;
    assert_eq!(dsdt[8], 2, "DSDT revision");
    // Name (_S5_, Package (4) { 5, 5, 0, 0 }): NameOp, name, PackageOp, PkgLength 8, count 4,
    // BytePrefix 5 twice, Zero twice.
    let s5 = find(dsdt, b"_S5_").expect("_S5_");
    assert_eq!(dsdt[s5 - 1], 0x08);
    assert_eq!(
        &dsdt[s5 + 4..s5 + 12],
        &[0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00]
    );
    // EISA ids as DWordConst: PNP0501, PNP0B00, PNP0303.
    for id in [
        [0x41, 0xd0, 0x05, 0x01],
        [0x41, 0xd0, 0x0b, 0x00],
        [0x41, 0xd0, 0x03, 0x03],
    ] {
        assert!(
            find(dsdt, &[&[0x0c][..], &id].concat()).is_some(),
            "EISA id {id:x?}"
        );
    }
    // COM1's I/O descriptor: Decode16 0x3f8..0x3f8, align 1, 8 ports; extended IRQ 4.
    assert!(find(dsdt, &[0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08]).is_some());
    assert!(find(dsdt, &[0x89, 0x06, 0x00, 0x03, 0x01, 0x04, 0, 0, 0]).is_some());
}

#[test]
fn extra_tables_are_appended_and_listed() {
    let mut ssdt = Sdt::new(*b"SSDT", 40, 2, *b"USER  ", *b"USERSSDT", 7);
    ssdt.write_u32(36, 0x1234_5678);
    let p = AcpiPlatform {
        extra_tables: vec![ssdt.as_slice().to_vec()],
        ..AcpiPlatform::new(1)
    };
    let t = build_tables(&p, ACPI_START).unwrap();
    let xsdt = &t.get("XSDT").unwrap().bytes;
    assert_eq!(xsdt.len(), 36 + 3 * 8);
    let user = table_at(&t, u64_at(xsdt, 36 + 16));
    assert_eq!(user.signature, "SSDT");
    assert_eq!(user.bytes, ssdt.as_slice());
}

#[test]
fn bad_extra_tables_are_refused_with_the_reason() {
    let good = Sdt::new(*b"SSDT", 40, 2, *b"USER  ", *b"USERSSDT", 7)
        .as_slice()
        .to_vec();
    let mut bad_sum = good.clone();
    bad_sum[39] = 1;
    let mut longer = good.clone();
    longer.push(0);
    let dsdt = Sdt::new(*b"DSDT", 36, 2, *b"USER  ", *b"USERDSDT", 7)
        .as_slice()
        .to_vec();
    let facs = Sdt::new(*b"FACS", 64, 2, *b"USER  ", *b"USERFACS", 7)
        .as_slice()
        .to_vec();
    let text = Sdt::new(*b"abc\n", 36, 1, *b"USER  ", *b"USERTEXT", 7)
        .as_slice()
        .to_vec();
    let cases: [(Vec<u8>, &str); 6] = [
        (b"SSDT".to_vec(), "shorter than an ACPI header"),
        (bad_sum, "bad checksum"),
        (longer, "header length 40 differs from the 41 bytes"),
        (dsdt, "generates this table itself"),
        (facs, "the XSDT cannot list"),
        (text, "not 4 upper-case letters"),
    ];
    for (table, reason) in cases {
        let p = AcpiPlatform {
            extra_tables: vec![good.clone(), table],
            ..AcpiPlatform::new(1)
        };
        let err = build_tables(&p, ACPI_START).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("extra ACPI table #1"), "{msg}");
        assert!(msg.contains(reason), "{msg}");
    }
}

#[test]
fn mcfg_is_refused_only_with_pci_and_only_ssdt_repeats() {
    let mcfg = Sdt::new(*b"MCFG", 60, 1, *b"USER  ", *b"USERMCFG", 7)
        .as_slice()
        .to_vec();
    let ssdt = Sdt::new(*b"SSDT", 40, 2, *b"USER  ", *b"USERSSDT", 7)
        .as_slice()
        .to_vec();
    let hpet = Sdt::new(*b"HPET", 56, 1, *b"USER  ", *b"USERHPET", 7)
        .as_slice()
        .to_vec();
    assert_eq!(
        check_extra_tables(std::slice::from_ref(&mcfg), false).unwrap(),
        vec!["MCFG".to_string()]
    );
    let e = check_extra_tables(&[mcfg], true).unwrap_err().to_string();
    assert_eq!(
        e,
        "extra ACPI table #0 (MCFG): ovmm generates this table itself"
    );
    assert_eq!(
        check_extra_tables(&[ssdt.clone(), hpet.clone(), ssdt.clone()], true).unwrap(),
        vec!["SSDT", "HPET", "SSDT"]
    );
    let e = check_extra_tables(&[hpet.clone(), ssdt, hpet], true)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "extra ACPI table #2 (HPET): extra table #0 has the same signature; only SSDT may be given more than once"
    );
}

#[test]
fn oversized_tables_and_no_cpus_are_errors() {
    let big = Sdt::new(*b"OEM1", 0x2_0000, 1, *b"USER  ", *b"USERBIG ", 1)
        .as_slice()
        .to_vec();
    let p = AcpiPlatform {
        extra_tables: vec![big],
        ..AcpiPlatform::new(1)
    };
    let err = build_tables(&p, ACPI_START).unwrap_err();
    assert!(
        matches!(err, AcpiError::TooLarge { max: 0x2_0000, .. }),
        "{err}"
    );
    assert!(matches!(
        build_tables(&AcpiPlatform::new(0), ACPI_START),
        Err(AcpiError::NoCpus)
    ));
}

#[test]
fn written_tables_read_back_from_guest_memory() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 2 << 20)]).unwrap();
    let t = tables(4);
    let rsdp_addr = write_tables(&mem, &t).unwrap();
    assert_eq!(rsdp_addr, ACPI_START);
    let mut rsdp = [0u8; 36];
    mem.read_slice(&mut rsdp, rsdp_addr).unwrap();
    assert_eq!(&rsdp[..8], b"RSD PTR ");
    let xsdt_addr = GuestAddress(u64_at(&rsdp, 24));
    let mut header = [0u8; 36];
    mem.read_slice(&mut header, xsdt_addr).unwrap();
    assert_eq!(&header[..4], b"XSDT");
    let count = (u32_at(&header, 4) as usize - 36) / 8;
    for i in 0..count {
        let addr: u64 = mem
            .read_obj(GuestAddress(xsdt_addr.0 + 36 + 8 * i as u64))
            .unwrap();
        let expected = table_at(&t, addr);
        let mut bytes = vec![0u8; expected.bytes.len()];
        mem.read_slice(&mut bytes, GuestAddress(addr)).unwrap();
        assert_eq!(
            bytes, expected.bytes,
            "{} in guest memory",
            expected.signature
        );
    }
}

#[test]
fn writing_outside_ram_names_the_table() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0xe_0000)]).unwrap();
    let err = write_tables(&mem, &tables(1)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot write ACPI table RSDP (36 bytes) at 0xe0000"),
        "{err}"
    );
}

// ---- iasl ----

/// A scratch directory for one test, removed on drop.
pub(super) struct Scratch(pub(super) PathBuf);

impl Scratch {
    pub(super) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ovmm-acpi-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs iasl with `args` in `dir`; fails the test (never skips) when iasl is missing.
pub(super) fn iasl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = match Command::new("iasl").args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "iasl not found: install acpica-tools (apt-get install acpica-tools) to check the ACPI tables"
        ),
        Err(e) => panic!("cannot run iasl: {e}"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Disassembles `bytes` with `iasl -d`; returns the .dsl text. Fails on any error or warning.
pub(super) fn disassemble(dir: &Path, signature: &str, bytes: &[u8]) -> String {
    let name = signature.to_lowercase();
    std::fs::write(dir.join(format!("{name}.dat")), bytes).unwrap();
    let (ok, log) = iasl(dir, &["-d", &format!("{name}.dat")]);
    let lower = log.to_lowercase();
    assert!(ok, "iasl -d {signature} failed:\n{log}");
    assert!(
        !lower.contains("error") && !lower.contains("warning"),
        "iasl -d {signature} complained:\n{log}"
    );
    std::fs::read_to_string(dir.join(format!("{name}.dsl"))).unwrap()
}

#[test]
fn iasl_disassembles_every_table() {
    let scratch = Scratch::new("disassemble");
    let with_pci = tables_of(&pci_platform(4));
    assert!(with_pci.get("MCFG").is_some());
    for table in tables(4).tables.iter().chain(&with_pci.tables) {
        let dsl = disassemble(&scratch.0, &table.signature, &table.bytes);
        assert!(
            !dsl.contains("Incorrect checksum"),
            "{}:\n{dsl}",
            table.signature
        );
        assert!(
            dsl.contains(&format!("\"{}\"", table.signature)),
            "{}",
            table.signature
        );
    }
}

#[test]
fn iasl_sees_s5_and_the_devices_in_the_dsdt() {
    let scratch = Scratch::new("dsdt");
    let t = tables(1);
    let dsl = disassemble(&scratch.0, "DSDT", &t.get("DSDT").unwrap().bytes);
    for needle in [
        "Name (_S5, Package (0x04)",
        "PNP0501",
        "PNP0B00",
        "PNP0303",
        "0x03F8",
        "Device (COM1)",
    ] {
        assert!(dsl.contains(needle), "{needle} missing from:\n{dsl}");
    }
    // The disassembly compiles again without errors, warnings or remarks.
    let (ok, log) = iasl(&scratch.0, &["-p", "recompiled", "dsdt.dsl"]);
    assert!(
        ok && log.contains("0 Errors, 0 Warnings, 0 Remarks"),
        "{log}"
    );
}

#[test]
fn iasl_decodes_the_fadt_flags_and_registers() {
    let scratch = Scratch::new("fadt");
    let t = tables(1);
    let dsl = disassemble(&scratch.0, "FACP", &t.get("FACP").unwrap().bytes);
    let lines: Vec<String> = dsl
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for expected in [
        "Hardware Reduced (V5) : 1",
        "Reset Register Supported (V2) : 1",
        "8042 Present on ports 60/64 (V2) : 1",
        "CMOS RTC Not Present (V5) : 0",
        "VGA Not Present (V4) : 1",
        "[080h 0128 1] Value to cause reset : 01",
        "[078h 0120 8] Address : 0000000000000602",
        "[0F8h 0248 8] Address : 0000000000000600",
        "[104h 0260 8] Address : 0000000000000601",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected:?} missing from:\n{dsl}"
        );
    }
}
