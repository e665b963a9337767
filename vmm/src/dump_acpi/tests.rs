//! Tests of the table dump: file names, and the written files disassembled with `iasl -d`
//! (PCI windows, `_PRT`, MADT entries, the GED and power button).

use super::*;
#[cfg(target_arch = "x86_64")]
use crate::vm::pci::IntxRoute;
#[cfg(target_arch = "x86_64")]
use std::process::Command;

#[test]
fn names_follow_acpidump() {
    assert_eq!(
        file_names(&["DSDT", "FACP", "APIC", "MCFG", "XSDT"]),
        ["dsdt.dat", "facp.dat", "apic.dat", "mcfg.dat", "xsdt.dat"]
    );
    assert_eq!(
        file_names(&["DSDT", "SSDT", "SSDT", "XSDT"]),
        ["dsdt.dat", "ssdt1.dat", "ssdt2.dat", "xsdt.dat"]
    );
}

/// Runs `iasl -d FILE` in `dir` and returns the .dsl text; fails (never skips) without iasl.
#[cfg(target_arch = "x86_64")]
pub(crate) fn iasl_d(dir: &Path, file: &str) -> String {
    let out = match Command::new("iasl").arg("-d").arg(file).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "iasl not found: install acpica-tools (apt-get install acpica-tools) to check the ACPI tables"
        ),
        Err(e) => panic!("cannot run iasl: {e}"),
    };
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "iasl -d {file} failed:\n{log}");
    let lower = log.to_lowercase();
    assert!(
        !lower.contains("error") && !lower.contains("warning"),
        "iasl -d {file} complained:\n{log}"
    );
    let dsl = dir.join(file.replace(".dat", ".dsl"));
    std::fs::read_to_string(&dsl).unwrap_or_else(|e| panic!("{}: {e}", dsl.display()))
}

#[test]
#[cfg(target_arch = "x86_64")]
fn dumped_tables_disassemble_with_windows_prt_madt_and_ged() {
    let dir = std::env::temp_dir().join(format!("ovmm-dump-acpi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let routes = [
        IntxRoute { slot: 1, gsi: 17 },
        IntxRoute { slot: 2, gsi: 18 },
    ];
    let tables = crate::vm::acpi_tables_for(
        2,
        Some((0x40_0000_0000, 0x40_0000_0000)),
        &routes,
        Vec::new(),
    )
    .unwrap();
    let written = write_tables(&dir, &tables).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["rsdp.dat", "dsdt.dat", "facp.dat", "apic.dat", "mcfg.dat", "xsdt.dat"]
    );
    // iasl disassembles tables, not the RSDP (a pointer structure): check its signature.
    assert!(std::fs::read(dir.join("rsdp.dat"))
        .unwrap()
        .starts_with(b"RSD PTR "));
    for name in &names[1..] {
        iasl_d(&dir, name);
    }

    let apic = std::fs::read_to_string(dir.join("apic.dsl")).unwrap();
    assert_eq!(
        apic.matches("Subtable Type : 00 [Processor Local APIC]")
            .count(),
        2,
        "{apic}"
    );
    assert!(apic.contains("Local Apic ID : 01"), "{apic}");
    assert!(apic.contains("Subtable Type : 01 [I/O APIC]"), "{apic}");
    assert!(
        apic.contains("Subtable Type : 02 [Interrupt Source Override]"),
        "{apic}"
    );

    let dsdt = std::fs::read_to_string(dir.join("dsdt.dsl")).unwrap();
    for needle in [
        // The 32-bit window, the I/O window and the 64-bit window in PCI0's _CRS.
        "0xC0000000,         // Range Minimum",
        "0xDFFFFFFF,         // Range Maximum",
        "0x1000,             // Range Minimum",
        "0xFFFF,             // Range Maximum",
        "0x0000004000000000, // Range Minimum",
        "0x0000007FFFFFFFFF, // Range Maximum",
        // _PRT: slots 1 and 2, INTA, through the links of GSIs 17 and 18.
        "Name (_PRT, Package (0x02)",
        "0x0001FFFF,",
        "0x0002FFFF,",
        // The GED and the power button.
        "Name (_HID, \"ACPI0013\" /* Generic Event Device */)",
        "Name (_HID, EisaId (\"PNP0C0C\") /* Power Button Device */)",
    ] {
        assert!(dsdt.contains(needle), "no '{needle}' in:\n{dsdt}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
