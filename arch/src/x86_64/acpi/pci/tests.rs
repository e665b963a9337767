//! Tests of the PCI root in the ACPI tables: the MCFG and XSDT bytes, the checks on the
//! description, the DSDT through `iasl -d` (and back), and the `_DSM`, `_PRT` and links
//! evaluated by ACPICA's `acpiexec`. Without PCI the tables must equal the ones ovmm built
//! before PCI existed (`testdata/tables-4cpus-no-pci.hex`).

use std::path::Path as FsPath;
use std::process::Command;

use super::super::tests::{
    disassemble, find, iasl, pci_platform, table_at, tables, tables_of, u16_at, u32_at, u64_at,
    Scratch,
};
use super::super::*;
use super::{link_name, PCI_DSM_UUID};
use crate::x86_64::layout::ACPI_START;

/// The tables of [`pci_platform`] with 2 vCPUs.
fn pci_tables() -> AcpiTables {
    tables_of(&pci_platform(2))
}

/// The signatures the XSDT lists, in order.
fn xsdt_signatures(t: &AcpiTables) -> Vec<String> {
    let xsdt = &t.get("XSDT").unwrap().bytes;
    xsdt[36..]
        .chunks(8)
        .map(|c| table_at(t, u64_at(c, 0)).signature.clone())
        .collect()
}

#[test]
fn without_pci_the_tables_equal_the_ones_before_pci() {
    let hex: String = include_str!("../testdata/tables-4cpus-no-pci.hex")
        .split_whitespace()
        .collect();
    let before: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let t = tables(4);
    assert!(AcpiPlatform::new(4).pci.is_none());
    let mut image = vec![0u8; t.size() as usize];
    image[..t.rsdp.len()].copy_from_slice(&t.rsdp);
    for table in &t.tables {
        let off = (table.addr.0 - ACPI_START.0) as usize;
        image[off..off + table.bytes.len()].copy_from_slice(&table.bytes);
    }
    assert_eq!(image.len(), 700);
    assert_eq!(image, before);
    assert!(t.get("MCFG").is_none());
}

#[test]
fn mcfg_has_one_allocation_for_the_whole_ecam() {
    let t = pci_tables();
    let mcfg = &t.get("MCFG").unwrap().bytes;
    assert_eq!(mcfg.len(), 36 + 8 + 16);
    assert_eq!(u32_at(mcfg, 4), 60, "length");
    assert_eq!(mcfg[8], 1, "revision");
    assert_eq!(checksum(mcfg), 0);
    assert_eq!(&mcfg[10..16], b"OVMM  ");
    assert_eq!(&mcfg[16..24], b"OVMMMCFG");
    assert_eq!(u64_at(mcfg, 36), 0, "reserved");
    assert_eq!(u64_at(mcfg, 44), 0xe000_0000, "ECAM base");
    assert_eq!(u16_at(mcfg, 52), 0, "segment");
    assert_eq!((mcfg[54], mcfg[55]), (0, 255), "bus range");
    assert_eq!(u32_at(mcfg, 56), 0, "reserved");
}

#[test]
fn a_smaller_ecam_covers_fewer_buses() {
    let mut p = pci_platform(1);
    let pci = p.pci.as_mut().unwrap();
    pci.ecam = (GuestAddress(0xe000_0000), 64 << 20);
    assert_eq!(pci.last_bus(), 63);
    let t = tables_of(&p);
    let mcfg = &t.get("MCFG").unwrap().bytes;
    assert_eq!((mcfg[54], mcfg[55]), (0, 63));
    assert_eq!(checksum(mcfg), 0);
    let dsdt = &t.get("DSDT").unwrap().bytes;
    // WordBusNumber: producer, min/max fixed, 0..=63, length 64.
    let bus_range = [0x88, 0x0d, 0, 2, 0x0c, 0, 0, 0, 0, 0, 63, 0, 0, 0, 64, 0];
    assert!(find(dsdt, &bus_range).is_some());
    // The MBRS reservation: Memory32Fixed, read-write, 0xE0000000, 64 MiB.
    let reservation = [0x86, 9, 0, 1, 0, 0, 0, 0xe0, 0, 0, 0, 0x04];
    assert!(find(dsdt, &reservation).is_some());
}

#[test]
fn the_xsdt_lists_the_mcfg_after_the_madt() {
    assert_eq!(xsdt_signatures(&tables(1)), ["FACP", "APIC"]);
    assert_eq!(xsdt_signatures(&pci_tables()), ["FACP", "APIC", "MCFG"]);
    let ssdt = acpi_tables::sdt::Sdt::new(*b"SSDT", 36, 2, *b"USER  ", *b"USERSSDT", 1);
    let p = AcpiPlatform {
        extra_tables: vec![ssdt.as_slice().to_vec()],
        ..pci_platform(1)
    };
    assert_eq!(
        xsdt_signatures(&tables_of(&p)),
        ["FACP", "APIC", "MCFG", "SSDT"]
    );
}

#[test]
fn an_extra_mcfg_is_refused_only_when_ovmm_makes_one() {
    let user_mcfg = acpi_tables::sdt::Sdt::new(*b"MCFG", 44, 1, *b"USER  ", *b"USERMCFG", 1)
        .as_slice()
        .to_vec();
    let without_pci = AcpiPlatform {
        extra_tables: vec![user_mcfg.clone()],
        ..AcpiPlatform::new(1)
    };
    assert_eq!(
        xsdt_signatures(&tables_of(&without_pci)),
        ["FACP", "APIC", "MCFG"]
    );
    let with_pci = AcpiPlatform {
        extra_tables: vec![user_mcfg],
        ..pci_platform(1)
    };
    let err = build_tables(&with_pci, ACPI_START).unwrap_err().to_string();
    assert_eq!(
        err,
        "extra ACPI table #0 (MCFG): ovmm generates this table itself"
    );
}

#[test]
fn every_slot_and_pin_can_be_routed() {
    let intx: Vec<PrtEntry> = (0..32u8)
        .flat_map(|slot| (0..4u8).map(move |pin| (slot, pin)))
        .map(|(slot, pin)| PrtEntry {
            slot,
            pin,
            gsi: 16 + (u32::from(slot) + u32::from(pin)) % 8,
        })
        .collect();
    let p = AcpiPlatform {
        pci: Some(PciRootDescription::new(None, intx)),
        ..AcpiPlatform::new(1)
    };
    let t = tables_of(&p);
    let dsdt = &t.get("DSDT").unwrap().bytes;
    // Name (_PRT, Package (0x80) {...}): NameOp, name, PackageOp, 2-byte PkgLength, count.
    let prt = find(dsdt, b"_PRT").unwrap();
    assert_eq!((dsdt[prt - 1], dsdt[prt + 4]), (0x08, 0x12));
    assert_eq!(dsdt[prt + 5] >> 6, 1, "2-byte PkgLength");
    assert_eq!(dsdt[prt + 7], 128, "entries");
    for gsi in 16..24 {
        assert!(find(dsdt, link_name(gsi).as_bytes()).is_some(), "GS{gsi}");
    }
    // The last entry: slot 31 INTD -> GS18 (16 + 34 % 8).
    // Package: PkgLength 20, 4 elements, DWord 0x001FFFFF, Byte 3, \_SB_.GS18, Zero.
    let last = [
        &[0x12, 20, 4, 0x0c, 0xff, 0xff, 0x1f, 0, 0x0a, 3, b'\\', 0x2e][..],
        b"_SB_GS18",
        &[0],
    ]
    .concat();
    assert!(find(dsdt, &last).is_some());
}

/// `build_tables` with `pci_platform(1)` changed by `change`; its error message.
fn refusal(change: impl FnOnce(&mut PciRootDescription)) -> String {
    let mut p = pci_platform(1);
    change(p.pci.as_mut().unwrap());
    let err = build_tables(&p, ACPI_START).unwrap_err();
    assert!(matches!(err, AcpiError::Pci(_)), "{err:?}");
    err.to_string()
}

#[test]
fn bad_ecams_are_refused() {
    let cases: [(u64, u64); 5] = [
        (0xe000_0000, 0),
        (0xe000_0000, (1 << 20) + 4096),
        (0xe000_0000, 512 << 20),
        (0xe008_0000, 256 << 20),
        (0xf800_0000, 256 << 20),
    ];
    for (base, size) in cases {
        let msg = refusal(|pci| pci.ecam = (GuestAddress(base), size));
        assert_eq!(
            msg,
            format!(
                "ACPI tables cannot describe the PCI root: PCI ECAM at {base:#x} ({size:#x} \
                 bytes) is not 1 to 256 whole buses of 1 MiB, 1 MiB aligned, ending at or \
                 below 4 GiB"
            )
        );
    }
}

#[test]
fn windows_outside_their_space_are_refused() {
    let msg = refusal(|pci| pci.io = (0x1000, 0));
    assert!(
        msg.ends_with("PCI I/O window at 0x1000 (0x0 bytes) is empty"),
        "{msg}"
    );
    let msg = refusal(|pci| pci.io = (0xf000, 0x2000));
    assert!(
        msg.ends_with("PCI I/O window at 0xf000 (0x2000 bytes) runs past port 0xFFFF"),
        "{msg}"
    );
    let msg = refusal(|pci| pci.mmio32 = (GuestAddress(0xf000_0000), 512 << 20));
    assert!(
        msg.ends_with("PCI 32-bit window at 0xf0000000 (0x20000000 bytes) runs past 4 GiB"),
        "{msg}"
    );
    let msg = refusal(|pci| pci.mmio64 = Some((GuestAddress(u64::MAX - 0xfff), 0x2000)));
    assert!(
        msg.ends_with("PCI 64-bit window at 0xfffffffffffff000 (0x2000 bytes) runs past 2^64"),
        "{msg}"
    );
    let msg = refusal(|pci| pci.mmio64 = Some((GuestAddress(64 << 30), 0)));
    assert!(msg.ends_with("is empty"), "{msg}");
}

#[test]
fn overlapping_ranges_are_refused_with_both_named() {
    let msg = refusal(|pci| pci.mmio32 = (GuestAddress(0xc000_0000), 0x2010_0000));
    assert!(
        msg.ends_with(
            "PCI ECAM [0xe0000000..0xf0000000) overlaps 32-bit window [0xc0000000..0xe0100000)"
        ),
        "{msg}"
    );
    let msg = refusal(|pci| pci.mmio64 = Some((GuestAddress(0xd000_0000), 1 << 30)));
    assert!(
        msg.ends_with(
            "PCI ECAM [0xe0000000..0xf0000000) overlaps 64-bit window [0xd0000000..0x110000000)"
        ),
        "{msg}"
    );
    let msg = refusal(|pci| pci.mmio32 = (GuestAddress(0xf000_0000), 0xf00_0000));
    assert!(
        msg.ends_with("overlaps IOAPIC [0xfec00000..0xfec01000)"),
        "{msg}"
    );
    let msg = refusal(|pci| pci.io = (0xc00, 0xf400));
    assert!(
        msg.ends_with("PCI I/O window [0xc00..0x10000) overlaps config ports [0xcf8..0xd00)"),
        "{msg}"
    );
    let msg = refusal(|pci| pci.io = (0x3fc, 0x100));
    assert!(
        msg.ends_with("PCI I/O window [0x3fc..0x4fc) overlaps serial ports [0x3f8..0x400)"),
        "{msg}"
    );
    let msg = refusal(|pci| pci.io = (0x400, 0x201));
    assert!(
        msg.ends_with("overlaps sleep control port [0x600..0x601)"),
        "{msg}"
    );
}

#[test]
fn bad_intx_routes_are_refused() {
    let route = |slot, pin, gsi| PrtEntry { slot, pin, gsi };
    let cases = [
        (
            route(32, 0, 16),
            "PCI INTx route for slot 32: not a device number (0-31)",
        ),
        (
            route(4, 4, 16),
            "PCI INTx route for slot 4: pin 4 is not INTA-INTD (0-3)",
        ),
        (
            route(4, 2, 11),
            "PCI INTx route for slot 4 INTC: GSI 11 is not one of the IOAPIC pins for PCI (16-23)",
        ),
        (
            route(4, 0, 24),
            "PCI INTx route for slot 4 INTA: GSI 24 is not one of the IOAPIC pins for PCI (16-23)",
        ),
        (
            route(2, 1, 19),
            "PCI INTx route for slot 2 INTB is given twice",
        ),
    ];
    for (entry, expected) in cases {
        let msg = refusal(|pci| pci.intx.push(entry));
        assert!(msg.ends_with(expected), "{msg}");
    }
}

#[test]
fn the_ovmm_layout_is_accepted_without_a_64bit_window_or_intx() {
    let p = AcpiPlatform {
        pci: Some(PciRootDescription::new(None, Vec::new())),
        ..AcpiPlatform::new(1)
    };
    let t = tables_of(&p);
    let dsdt = &t.get("DSDT").unwrap().bytes;
    assert!(find(dsdt, b"PCI0").is_some() && find(dsdt, b"MBRS").is_some());
    assert!(find(dsdt, b"GS16").is_none(), "no links without routes");
    // No QWord address space descriptor.
    assert!(find(dsdt, &[0x8a, 0x2b, 0]).is_none());
}

#[test]
fn links_are_level_active_high_shared_and_one_per_gsi() {
    let t = pci_tables();
    let dsdt = &t.get("DSDT").unwrap().bytes;
    for gsi in [16u8, 17, 18] {
        let name = link_name(gsi.into());
        let at = find(dsdt, name.as_bytes()).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(dsdt[at - 4..at - 2], [0x5b, 0x82], "{name} is a Device");
        // Extended IRQ: consumer, level (bit 1 clear), active high (bit 2 clear), shared.
        let irq = [0x89, 6, 0, 0x09, 1, gsi, 0, 0, 0];
        let device = &dsdt[at..];
        let first = find(device, &irq).unwrap();
        assert!(
            find(&device[first + 1..], &irq).is_some(),
            "{name}: _PRS and _CRS"
        );
    }
    let links = dsdt.windows(4).filter(|w| w.starts_with(b"GS1")).count();
    // 3 devices, and 4 references from _PRT (GS16 twice).
    assert_eq!(links, 3 + 4);
    assert!(find(dsdt, b"GS19").is_none());
}

// ---- iasl and acpiexec ----

/// The DSDT text of `iasl -d`, collapsed to single spaces per line.
fn dsdt_lines(dsl: &str) -> Vec<String> {
    dsl.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The lines of the resource descriptor of `kind` (e.g. "QWordMemory (") up to its closing
/// line, collapsed.
fn descriptor(lines: &[String], kind: &str) -> Vec<String> {
    let start = lines
        .iter()
        .position(|l| l.starts_with(kind))
        .unwrap_or_else(|| panic!("no {kind} in:\n{}", lines.join("\n")));
    let end = start
        + lines[start..]
            .iter()
            .position(|l| l.ends_with(")"))
            .unwrap();
    lines[start..=end].to_vec()
}

#[test]
fn iasl_sees_the_host_bridge_windows_routes_and_dsm() {
    let scratch = Scratch::new("pci-dsdt");
    let t = pci_tables();
    let dsl = disassemble(&scratch.0, "DSDT", &t.get("DSDT").unwrap().bytes);
    let lines = dsdt_lines(&dsl);
    for needle in [
        "Device (PCI0)",
        "Name (_HID, EisaId (\"PNP0A08\")",
        "Name (_CID, EisaId (\"PNP0A03\")",
        "Name (_SEG, Zero) // _SEG: PCI Segment",
        "Name (_BBN, Zero) // _BBN: BIOS Bus Number",
        "Name (_CCA, One) // _CCA: Cache Coherency Attribute",
        "Device (MBRS)",
        "Name (_HID, EisaId (\"PNP0C02\")",
        "Device (GS16)",
        "Name (_HID, EisaId (\"PNP0C0F\")",
        "Method (_SRS, 1, NotSerialized) // _SRS: Set Resource Settings",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(needle)),
            "{needle:?} missing:\n{dsl}"
        );
    }
    // The resource descriptors after "Device (PCI0)": its _CRS, then MBRS's.
    let pci0 = lines.iter().position(|l| l == "Device (PCI0)").unwrap();
    let expect = |kind: &str, values: &[&str]| {
        let d = descriptor(&lines[pci0..], kind).join(" ");
        for v in values {
            assert!(d.contains(v), "{v:?} missing from {d}");
        }
    };
    expect(
        "WordBusNumber (",
        &[
            "ResourceProducer",
            "0x0000, // Range Minimum",
            "0x00FF, // Range Maximum",
        ],
    );
    expect(
        "IO (Decode16,",
        &[
            "0x0CF8, // Range Minimum",
            "0x0CF8, // Range Maximum",
            "0x08, // Length",
        ],
    );
    expect(
        "WordIO (",
        &[
            "0x1000, // Range Minimum",
            "0xFFFF, // Range Maximum",
            "0xF000, // Length",
        ],
    );
    expect(
        "DWordMemory (",
        &[
            "NonCacheable, ReadWrite",
            "0xC0000000, // Range Minimum",
            "0xDFFFFFFF, // Range Maximum",
            "0x20000000, // Length",
        ],
    );
    expect(
        "QWordMemory (",
        &[
            "Cacheable, ReadWrite",
            "0x0000001000000000, // Range Minimum",
            "0x0000001FFFFFFFFF, // Range Maximum",
            "0x0000001000000000, // Length",
        ],
    );
    expect(
        "Memory32Fixed (",
        &[
            "ReadWrite",
            "0xE0000000, // Address Base",
            "0x10000000, // Address Length",
        ],
    );
    let irq = "Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, ,, )";
    assert_eq!(
        lines.iter().filter(|l| *l == irq).count(),
        2 * 3,
        "_PRS + _CRS of 3 links"
    );
    // _PRT: { address, pin, link, 0 } per route, in the order given.
    let text = lines.join(" ");
    for (address, pin, link) in [
        ("0x0001FFFF", "Zero", "GS16"),
        ("0x0002FFFF", "Zero", "GS17"),
        ("0x0002FFFF", "One", "GS18"),
        ("0x0003FFFF", "0x03", "GS16"),
    ] {
        let entry = format!("Package (0x04) {{ {address}, {pin}, \\_SB.{link}, Zero }}");
        assert!(text.contains(&entry), "{entry} missing:\n{dsl}");
    }
    assert!(
        text.to_lowercase()
            .contains("touuid (\"e5c937d0-3553-4d7a-9117-ea4d19c3434d\")"),
        "_DSM UUID missing:\n{dsl}"
    );
    // The disassembly compiles again without errors, warnings or remarks.
    let (ok, log) = iasl(&scratch.0, &["-p", "recompiled", "dsdt.dsl"]);
    assert!(
        ok && log.contains("0 Errors, 0 Warnings, 0 Remarks"),
        "{log}"
    );
}

#[test]
fn iasl_decodes_the_mcfg() {
    let scratch = Scratch::new("pci-mcfg");
    let t = pci_tables();
    let dsl = disassemble(&scratch.0, "MCFG", &t.get("MCFG").unwrap().bytes);
    let lines = dsdt_lines(&dsl);
    for expected in [
        "[02Ch 0044 8] Base Address : 00000000E0000000",
        "[034h 0052 2] Segment Group Number : 0000",
        "[036h 0054 1] Start Bus Number : 00",
        "[037h 0055 1] End Bus Number : FF",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected:?} missing from:\n{dsl}"
        );
    }
}

/// Runs `acpiexec` on `aml` in `dir` with the batch `commands`; returns the output of each
/// command (the text after its "Evaluating" line). Fails the test when acpiexec is missing
/// or reports an ACPI error.
fn acpiexec(dir: &FsPath, aml: &str, commands: &[String]) -> Vec<String> {
    let out = match Command::new("acpiexec")
        .args(["-b", &commands.join(";"), aml])
        .current_dir(dir)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "acpiexec not found: install acpica-tools (apt-get install acpica-tools) to run the AML"
        ),
        Err(e) => panic!("cannot run acpiexec: {e}"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "acpiexec failed:\n{text}");
    assert!(
        !text.contains("ACPI Error") && !text.contains("ACPI Exception"),
        "acpiexec complained:\n{text}"
    );
    let results: Vec<String> = text
        .split("\nEvaluating ")
        .skip(1)
        .map(str::to_string)
        .collect();
    assert_eq!(results.len(), commands.len(), "{text}");
    results
}

/// The `_DSM` UUID as an acpiexec buffer argument (its bytes in ToUUID order).
fn dsm_uuid_argument() -> String {
    let mut bytes = Vec::new();
    acpi_tables::aml::Uuid::new(PCI_DSM_UUID).to_aml_bytes(&mut bytes);
    // BufferOp, PkgLength, BytePrefix 16, then the 16 bytes.
    assert_eq!(&bytes[..4], &[0x11, 0x13, 0x0a, 0x10]);
    let hex: Vec<String> = bytes[4..].iter().map(|b| format!("{b:02X}")).collect();
    format!("({})", hex.join(" "))
}

#[test]
fn acpiexec_evaluates_the_dsm_prt_and_links() {
    let scratch = Scratch::new("pci-acpiexec");
    let t = pci_tables();
    std::fs::write(scratch.0.join("dsdt.aml"), &t.get("DSDT").unwrap().bytes).unwrap();
    let uuid = dsm_uuid_argument();
    assert_eq!(uuid, "(D0 37 C9 E5 53 35 7A 4D 91 17 EA 4D 19 C3 43 4D)");
    let other_uuid = "(D0 37 C9 E5 53 35 7A 4D 91 17 EA 4D 19 C3 43 4E)";
    let dsm =
        |uuid: &str, function: u8| format!("evaluate \\_SB.PCI0._DSM {uuid} 1 {function} [ ]");
    let commands = [
        dsm(&uuid, 0),
        dsm(&uuid, 5),
        dsm(&uuid, 3),
        dsm(other_uuid, 0),
        dsm(other_uuid, 5),
        "evaluate \\_SB.PCI0._PRT".to_string(),
        "evaluate \\_SB.GS17._CRS".to_string(),
        "evaluate \\_SB.GS17._PRS".to_string(),
        "evaluate \\_SB.MBRS._CRS".to_string(),
    ];
    let r = acpiexec(&scratch.0, "dsdt.aml", &commands);
    let buffer = |bytes: &str| {
        format!(
            "[Buffer] Length {:02X} =     0000: {bytes}",
            bytes.split(' ').count()
        )
    };
    assert!(r[0].contains(&buffer("21")), "function 0 bitmap:\n{}", r[0]);
    assert!(
        r[1].contains("[Integer] = 0000000000000000"),
        "function 5:\n{}",
        r[1]
    );
    for (i, what) in [
        (2, "function 3"),
        (3, "other UUID"),
        (4, "other UUID, function 5"),
    ] {
        assert!(r[i].contains(&buffer("00")), "{what}:\n{}", r[i]);
    }
    assert_eq!(
        prt_entries(&r[5]),
        [
            (0x1ffff, 0, "GS16".to_string()),
            (0x2ffff, 0, "GS17".to_string()),
            (0x2ffff, 1, "GS18".to_string()),
            (0x3ffff, 3, "GS16".to_string()),
        ]
    );
    let irq17 = buffer("89 06 00 09 01 11 00 00 00 79 00");
    assert!(r[6].contains(&irq17), "GS17._CRS:\n{}", r[6]);
    assert!(r[7].contains(&irq17), "GS17._PRS:\n{}", r[7]);
    // Memory32Fixed: RW, 0xE0000000, 0x10000000; then the end tag.
    let ecam = "86 09 00 01 00 00 00 E0 00 00 00 10";
    assert!(r[8].contains(ecam), "MBRS._CRS:\n{}", r[8]);
}

/// The (address, pin, link) of each `_PRT` entry in acpiexec's dump of the package.
fn prt_entries(dump: &str) -> Vec<(u64, u64, String)> {
    let values: Vec<String> = dump
        .lines()
        .filter_map(|l| {
            if let Some((_, v)) = l.split_once("[Integer] = ") {
                Some(v.trim().to_string())
            } else {
                l.split_once("Name ")
                    .map(|(_, v)| v.split_whitespace().next().unwrap().to_string())
            }
        })
        .collect();
    assert_eq!(values.len() % 4, 0, "{dump}");
    values
        .chunks(4)
        .map(|e| {
            assert_eq!(e[3], "0000000000000000", "source index of {e:?}");
            let int = |s: &str| u64::from_str_radix(s, 16).unwrap();
            (int(&e[0]), int(&e[1]), e[2].clone())
        })
        .collect()
}
