//! The DSDT: the `_S5_` soft-off package and, under `\_SB_`, the ISA devices Linux's PNP layer
//! should find (COM1, the CMOS RTC, the i8042 keyboard controller), each with `_HID`, `_UID`
//! and a `_CRS` of its I/O ports and IRQ, then, with PCI, the devices [`super::pci`] builds,
//! and the Generic Event Device and power button of [`super::ged`].

use acpi_tables::aml::{
    Device, EISAName, Interrupt, Name, Package, Path, ResourceTemplate, Scope, IO, ZERO,
};
use acpi_tables::sdt::Sdt;
use acpi_tables::Aml;

use super::{AcpiPlatform, IsaDevice, OEM_ID, OEM_REVISION};

/// DSDT revision 2: AML integers are 64-bit.
const DSDT_REVISION: u8 = 2;
/// Size of an ACPI table header.
const HEADER_LEN: u32 = 36;

/// Builds the complete DSDT (header and AML) for `p`.
pub fn dsdt(p: &AcpiPlatform) -> Vec<u8> {
    let mut aml = Vec::new();
    sleep_states(p, &mut aml);

    let mut devices = Vec::new();
    let isa = [
        ("COM1", "PNP0501", &p.serial),
        ("RTC_", "PNP0B00", &p.rtc),
        ("KBD_", "PNP0303", &p.i8042),
    ];
    for (name, hid, dev) in isa {
        if let Some(dev) = dev {
            isa_device(name, hid, dev, &mut devices);
        }
    }
    if let Some(pci) = &p.pci {
        super::pci::devices(pci, &mut devices);
    }
    if let Some(ged) = &p.ged {
        super::ged::devices(ged, &mut devices);
    }
    aml.extend(Scope::raw(Path::new("\\_SB_"), devices));

    let mut table = Sdt::new(
        *b"DSDT",
        HEADER_LEN,
        DSDT_REVISION,
        OEM_ID,
        *b"OVMMDSDT",
        OEM_REVISION,
    );
    table.append_slice(&aml);
    table.as_slice().to_vec()
}

/// `Name (_S5_, Package (4) { SLP_TYP, SLP_TYP, 0, 0 })`: the value the guest writes into the
/// sleep control register to power off.
fn sleep_states(p: &AcpiPlatform, aml: &mut Vec<u8>) {
    let slp_typ = p.pm.s5_sleep_type;
    let package = Package::new(vec![&slp_typ, &slp_typ, &ZERO, &ZERO]);
    Name::new(Path::new("_S5_"), &package).to_aml_bytes(aml);
}

/// `Device (name) { _HID, _UID 0, _CRS { IO..., Interrupt (edge, active high) } }`.
fn isa_device(name: &str, hid: &str, dev: &IsaDevice, aml: &mut Vec<u8>) {
    let ports: Vec<IO> = dev
        .ports
        .iter()
        .map(|&(base, len)| IO::new(base, base, 1, len))
        .collect();
    let irq = Interrupt::new(true, true, false, false, dev.irq);
    let mut resources: Vec<&dyn Aml> = ports.iter().map(|io| io as &dyn Aml).collect();
    resources.push(&irq);
    let crs = ResourceTemplate::new(resources);

    let hid = EISAName::new(hid);
    let hid = Name::new(Path::new("_HID"), &hid);
    let uid = Name::new(Path::new("_UID"), &ZERO);
    let crs = Name::new(Path::new("_CRS"), &crs);
    Device::new(Path::new(name), vec![&hid, &uid, &crs]).to_aml_bytes(aml);
}
