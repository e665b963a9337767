//! The Generic Event Device (`ACPI0013`) and the power button (`PNP0C0C`) in the DSDT: how a
//! hardware-reduced ACPI guest learns that its power button was pressed.
//!
//! ```text
//! Device (GED_) {
//!     Name (_HID, "ACPI0013")  Name (_UID, 0)
//!     Name (_CRS, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { IRQ } })
//!     OperationRegion (GDST, SystemIO, PORT, 4)
//!     Field (GDST, DWordAcc, NoLock, WriteAsZeros) { GDAT, 32 }
//!     Method (_EVT, 1, Serialized) {
//!         Local0 = GDAT                                   // read-to-clear pending events
//!         If ((Local0 & 1) == 1) { Notify (\_SB_.PWRB, 0x80) }
//!     }
//! }
//! Device (PWRB) { Name (_HID, EisaId ("PNP0C0C"))  Name (_UID, 0) }
//! ```
//!
//! Linux's `evged` driver runs `_EVT` on the interrupt; the ACPI button driver turns notify
//! 0x80 on `PNP0C0C` into a KEY_POWER input event, which the guest's init acts on. The event
//! bits are those of ovmm's GED device model (`devices::legacy::ged`).

use acpi_tables::aml::{
    And, Device, EISAName, Equal, Field, FieldAccessType, FieldEntry, FieldLockRule,
    FieldUpdateRule, If, Interrupt, Local, Method, Name, Notify, OpRegion, OpRegionSpace, Path,
    ResourceTemplate, Store, ZERO,
};
use acpi_tables::Aml;

/// The power-button bit of the GED event register.
pub const EVENT_POWER_BUTTON: u32 = 1 << 0;

/// Where the GED's event register and interrupt are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GedDescription {
    /// First I/O port of the 32-bit event register.
    pub port: u16,
    /// Its interrupt (GSI; edge-triggered, active high).
    pub irq: u32,
}

/// Appends `GED_` and `PWRB` to the `\_SB_` scope's devices.
pub fn devices(ged: &GedDescription, aml: &mut Vec<u8>) {
    let hid: &dyn Aml = &"ACPI0013";
    let hid = Name::new(Path::new("_HID"), hid);
    let uid = Name::new(Path::new("_UID"), &ZERO);
    let irq = Interrupt::new(true, true, false, false, ged.irq);
    let crs = ResourceTemplate::new(vec![&irq]);
    let crs = Name::new(Path::new("_CRS"), &crs);
    let port = u64::from(ged.port);
    let len = 4u64;
    let region = OpRegion::new(Path::new("GDST"), OpRegionSpace::SystemIO, &port, &len);
    let field = Field::new(
        Path::new("GDST"),
        FieldAccessType::DWord,
        FieldLockRule::NoLock,
        FieldUpdateRule::WriteAsZeroes,
        vec![FieldEntry::Named(*b"GDAT", 32)],
    );
    let (local0, local1, gdat) = (Local(0), Local(1), Path::new("GDAT"));
    let read = Store::new(&local0, &gdat);
    let bit = u64::from(EVENT_POWER_BUTTON);
    let masked = And::new(&local1, &local0, &bit);
    let is_set = Equal::new(&local1, &bit);
    let button = Path::new("\\_SB_.PWRB");
    let notify_value = 0x80u8;
    let notify = Notify::new(&button, &notify_value);
    let on_button = If::new(&is_set, vec![&notify]);
    let evt = Method::new(Path::new("_EVT"), 1, true, vec![&read, &masked, &on_button]);
    Device::new(
        Path::new("GED_"),
        vec![&hid, &uid, &crs, &region, &field, &evt],
    )
    .to_aml_bytes(aml);

    let hid = EISAName::new("PNP0C0C");
    let hid = Name::new(Path::new("_HID"), &hid);
    Device::new(Path::new("PWRB"), vec![&hid, &uid]).to_aml_bytes(aml);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{disassemble, tables_of, Scratch};
    use super::super::AcpiPlatform;
    use super::*;

    #[test]
    fn iasl_sees_the_ged_and_the_power_button() {
        let mut p = AcpiPlatform::new(1);
        p.ged = Some(GedDescription {
            port: 0x610,
            irq: 9,
        });
        let t = tables_of(&p);
        let scratch = Scratch::new("ged");
        let dsl = disassemble(&scratch.0, "DSDT", &t.get("DSDT").unwrap().bytes);
        for needle in [
            "Device (GED)",
            "Name (_HID, \"ACPI0013\" /* Generic Event Device */)",
            "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )",
            "0x00000009,",
            "OperationRegion (GDST, SystemIO, 0x0610, 0x04)",
            "Field (GDST, DWordAcc, NoLock, WriteAsZeros)",
            "GDAT,   32",
            "Method (_EVT, 1, Serialized)",
            "Local0 = GDAT /* \\_SB_.GED_.GDAT */",
            "Local1 = (Local0 & One)",
            "If ((Local1 == One))",
            "Notify (\\_SB.PWRB, 0x80)",
            "Device (PWRB)",
            "Name (_HID, EisaId (\"PNP0C0C\")",
        ] {
            assert!(dsl.contains(needle), "no '{needle}' in:\n{dsl}");
        }
        // Without a GED, neither device is there.
        let plain = tables_of(&AcpiPlatform::new(1));
        let dsl = disassemble(&scratch.0, "DSDT", &plain.get("DSDT").unwrap().bytes);
        assert!(
            !dsl.contains("ACPI0013") && !dsl.contains("PNP0C0C"),
            "{dsl}"
        );
    }
}
