//! The PCI root complex (segment 0) in the ACPI tables: the MCFG, and in the DSDT the host
//! bridge `\_SB_.PCI0`, one interrupt link per INTx GSI and the motherboard device
//! `\_SB_.MBRS` that reserves the ECAM.
//!
//! `PCI0` (PNP0A08, compatible PNP0A03) has a `_CRS` with the bus range, the 0xCF8 config
//! ports and the I/O, 32-bit and 64-bit windows; a `_PRT` that routes each (slot, pin) the VMM
//! wired to an interrupt link; and the PCI Firmware `_DSM` whose function 5 returns 0, so the
//! OS keeps the BARs ovmm assigned. It has `_SEG`, `_UID`, `_BBN` 0 and `_CCA` 1 but no
//! `_ADR`: a device has `_HID` or `_ADR`, not both (iasl warns), and Linux finds a root bridge
//! by `_HID`. There is no `_OSC` yet, so Linux keeps native PCIe services (AER, PME, hotplug)
//! off for this bridge and logs that the platform retains control; MSI is not affected.
//!
//! INTx: the VMM raises a GSI in 16..=23 through a KVM irqfd, level-triggered, 1 = asserted.
//! A `_PRT` entry naming a GSI directly (no link) makes Linux register it level, active low
//! (`acpi_pci_irq_enable`). KVM's IOAPIC ignores the polarity bit, so that works under KVM,
//! but it describes a line ovmm does not have. As QEMU q35 does, each GSI gets a fixed
//! interrupt link `GSnn` (PNP0C0F) whose `_PRS` and `_CRS` hold the one GSI as
//! `Interrupt (ResourceConsumer, Level, ActiveHigh, Shared)`; Linux takes trigger and
//! polarity from the link, so the IOAPIC pin is programmed level, active high. The links have
//! a no-op `_SRS` (the only choice `_PRS` offers is the wired GSI) and no `_DIS` or `_STA`:
//! a wired line cannot be disconnected. No MADT override is needed: those are for ISA IRQs.
//!
//! MMCONFIG: Linux uses the MCFG area only when it is reserved in the e820 map or by a
//! motherboard device (PNP0C01/PNP0C02) in ACPI. `MBRS` (PNP0C02) reserves it with a
//! `Memory32Fixed` in its `_CRS`, as QEMU q35 does; the e820 map is left alone.

use acpi_tables::aml::{
    AddressSpace, AddressSpaceCacheable, Arg, BufferData, Device, EISAName, Equal, If, Interrupt,
    Memory32Fixed, Method, Name, PackageBuilder, Path, ResourceTemplate, Return, Uuid, IO, ONE,
    ZERO,
};
use acpi_tables::mcfg::MCFG;
use acpi_tables::{Aml, AmlSink};
use vm_memory::GuestAddress;

use super::{AcpiPlatform, OEM_ID, OEM_REVISION};
use crate::x86_64::layout::{
    IOAPIC_SIZE, IOAPIC_START, LAPIC_SIZE, LAPIC_START, PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_PORT_LEN,
    PCI_ECAM_BUS_SIZE, PCI_ECAM_SIZE, PCI_ECAM_START, PCI_INTX_GSI_BASE, PCI_INTX_GSI_COUNT,
    PCI_IO_SIZE, PCI_IO_START, PCI_MMIO32_SIZE, PCI_MMIO32_START,
};

/// UUID of the PCI Firmware Specification's `_DSM` for host bridges and devices.
pub const PCI_DSM_UUID: &str = "E5C937D0-3553-4D7A-9117-EA4D19C3434D";
/// `_DSM` function 5: "preserve PCI boot configuration" (0 = keep the firmware's BARs).
const DSM_PRESERVE_BOOT_CONFIG: u8 = 5;
/// `_DSM` function 0's answer: functions other than 0 exist (bit 0) and function 5 (bit 5).
const DSM_SUPPORTED_FUNCTIONS: u8 = (1 << 0) | (1 << DSM_PRESERVE_BOOT_CONFIG);
/// Most buses one ECAM area covers.
const MAX_BUSES: u64 = 256;
/// 4 GiB: the end of the 32-bit address space.
const FOUR_GIB: u64 = 1 << 32;
/// One past the last I/O port.
const IO_SPACE_END: u32 = 0x1_0000;
/// Device numbers on a PCI bus.
const SLOTS: u8 = 32;

/// One `_PRT` route: INTx `pin` of device `slot` on bus 0 raises IOAPIC input `gsi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrtEntry {
    /// Device number on bus 0 (0..32).
    pub slot: u8,
    /// Interrupt pin: 0 = INTA .. 3 = INTD (the config-space Interrupt Pin register minus 1).
    pub pin: u8,
    /// The GSI the VMM wired the pin to, in `PCI_INTX_GSI_BASE..+PCI_INTX_GSI_COUNT`
    /// (16..=23); described level-triggered, active high.
    pub gsi: u32,
}

/// The PCI root complex of segment 0 as the guest should see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciRootDescription {
    /// ECAM (MMCONFIG) base and size; size / 1 MiB buses starting at 0 (256 MiB: 0..=255).
    /// Must end at or below 4 GiB.
    pub ecam: (GuestAddress, u64),
    /// I/O window for I/O BARs: first port and number of ports ((0x1000, 0xF000) is
    /// 0x1000..=0xFFFF).
    pub io: (u16, u16),
    /// 32-bit memory window for BARs below 4 GiB: base and size (described non-cacheable).
    pub mmio32: (GuestAddress, u64),
    /// 64-bit memory window above RAM, sized by the VMM: base and size. Described
    /// "Cacheable", which Linux accepts for prefetchable and non-prefetchable BARs alike.
    pub mmio64: Option<(GuestAddress, u64)>,
    /// INTx routing the VMM chose, one entry per (slot, pin) it wired.
    pub intx: Vec<PrtEntry>,
}

impl PciRootDescription {
    /// ovmm's fixed x86 layout (ECAM 0xE000_0000 256 MiB, I/O 0x1000..=0xFFFF, 32-bit
    /// window 0xC000_0000 512 MiB) with the VMM's 64-bit window and INTx routing.
    pub fn new(mmio64: Option<(GuestAddress, u64)>, intx: Vec<PrtEntry>) -> Self {
        PciRootDescription {
            ecam: (PCI_ECAM_START, PCI_ECAM_SIZE),
            io: (PCI_IO_START, PCI_IO_SIZE),
            mmio32: (PCI_MMIO32_START, PCI_MMIO32_SIZE),
            mmio64,
            intx,
        }
    }

    /// The last bus the ECAM covers.
    pub fn last_bus(&self) -> u8 {
        let buses = (self.ecam.1 / PCI_ECAM_BUS_SIZE).clamp(1, MAX_BUSES);
        (buses - 1) as u8
    }
}

/// A PCI root description that cannot be put in the tables.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PciError {
    /// The ECAM is not whole buses on a bus boundary below 4 GiB.
    #[error(
        "PCI ECAM at {base:#x} ({size:#x} bytes) is not 1 to 256 whole buses of 1 MiB, \
         1 MiB aligned, ending at or below 4 GiB"
    )]
    Ecam {
        /// Its base.
        base: u64,
        /// Its size.
        size: u64,
    },
    /// A window is empty or runs past the end of its address space.
    #[error("PCI {window} window at {base:#x} ({size:#x} bytes) {problem}")]
    Window {
        /// "I/O", "32-bit" or "64-bit".
        window: &'static str,
        /// Its base.
        base: u64,
        /// Its size.
        size: u64,
        /// What is wrong.
        problem: &'static str,
    },
    /// Two ranges of the same address space overlap.
    #[error(
        "PCI {first} [{:#x}..{:#x}) overlaps {second} [{:#x}..{:#x})",
        first_range.0, first_range.1, second_range.0, second_range.1
    )]
    Overlap {
        /// The first range's name.
        first: String,
        /// Its start and end (exclusive).
        first_range: (u64, u64),
        /// The second range's name.
        second: String,
        /// Its start and end (exclusive).
        second_range: (u64, u64),
    },
    /// An INTx route names a device number a bus does not have.
    #[error("PCI INTx route for slot {slot}: not a device number (0-31)")]
    IntxSlot {
        /// The slot given.
        slot: u8,
    },
    /// An INTx route names a pin other than INTA-INTD.
    #[error("PCI INTx route for slot {slot}: pin {pin} is not INTA-INTD (0-3)")]
    IntxPin {
        /// The slot.
        slot: u8,
        /// The pin given.
        pin: u8,
    },
    /// An INTx route uses a GSI outside the IOAPIC pins set aside for PCI.
    #[error(
        "PCI INTx route for slot {slot} INT{}: GSI {gsi} is not one of the IOAPIC pins for \
         PCI ({}-{})",
        pin_letter(*pin), PCI_INTX_GSI_BASE, PCI_INTX_GSI_BASE + PCI_INTX_GSI_COUNT - 1
    )]
    IntxGsi {
        /// The slot.
        slot: u8,
        /// The pin (0 = INTA).
        pin: u8,
        /// The GSI given.
        gsi: u32,
    },
    /// The same (slot, pin) is routed twice.
    #[error("PCI INTx route for slot {slot} INT{} is given twice", pin_letter(*pin))]
    IntxDuplicate {
        /// The slot.
        slot: u8,
        /// The pin (0 = INTA).
        pin: u8,
    },
}

/// 'A' for pin 0 .. 'D' for pin 3 ('?' otherwise).
fn pin_letter(pin: u8) -> char {
    match pin {
        0..=3 => char::from(b'A' + pin),
        _ => '?',
    }
}

/// A named address range, end exclusive.
struct Span {
    name: String,
    start: u64,
    end: u64,
}

impl Span {
    fn new(name: impl Into<String>, start: u64, size: u64) -> Self {
        Span {
            name: name.into(),
            start,
            end: start.saturating_add(size),
        }
    }
}

/// Checks `pci` against itself and the rest of `p`: ECAM shape, windows inside their address
/// spaces and clear of each other and of the platform's fixed ranges, INTx routes.
pub fn check(pci: &PciRootDescription, p: &AcpiPlatform) -> Result<(), PciError> {
    check_ecam(pci.ecam)?;
    check_windows(pci)?;
    let (ecam, mmio32) = (pci.ecam, pci.mmio32);
    let mut memory = vec![
        Span::new("ECAM", ecam.0 .0, ecam.1),
        Span::new("32-bit window", mmio32.0 .0, mmio32.1),
    ];
    if let Some((base, size)) = pci.mmio64 {
        memory.push(Span::new("64-bit window", base.0, size));
    }
    let platform_memory = [
        Span::new("IOAPIC", IOAPIC_START.0, IOAPIC_SIZE),
        Span::new("local APIC", LAPIC_START.0, LAPIC_SIZE),
    ];
    no_overlaps(&memory, &platform_memory)?;
    let io = [Span::new("I/O window", pci.io.0.into(), pci.io.1.into())];
    no_overlaps(&io, &platform_ports(p))?;
    check_intx(&pci.intx)
}

fn check_ecam((base, size): (GuestAddress, u64)) -> Result<(), PciError> {
    let buses = size / PCI_ECAM_BUS_SIZE;
    let whole_buses = size % PCI_ECAM_BUS_SIZE == 0 && (1..=MAX_BUSES).contains(&buses);
    let aligned = base.0 % PCI_ECAM_BUS_SIZE == 0;
    let below_4g = u128::from(base.0) + u128::from(size) <= u128::from(FOUR_GIB);
    if whole_buses && aligned && below_4g {
        Ok(())
    } else {
        Err(PciError::Ecam { base: base.0, size })
    }
}

fn check_windows(pci: &PciRootDescription) -> Result<(), PciError> {
    let (io_base, io_size) = (u64::from(pci.io.0), u64::from(pci.io.1));
    check_window(
        "I/O",
        io_base,
        io_size,
        IO_SPACE_END.into(),
        "runs past port 0xFFFF",
    )?;
    let (base, size) = (pci.mmio32.0 .0, pci.mmio32.1);
    check_window("32-bit", base, size, FOUR_GIB.into(), "runs past 4 GiB")?;
    if let Some((base, size)) = pci.mmio64 {
        check_window("64-bit", base.0, size, 1 << 64, "runs past 2^64")?;
    }
    Ok(())
}

/// `base..base + size` must be non-empty and end at or below `limit`.
fn check_window(
    window: &'static str,
    base: u64,
    size: u64,
    limit: u128,
    past_limit: &'static str,
) -> Result<(), PciError> {
    let problem = if size == 0 {
        "is empty"
    } else if u128::from(base) + u128::from(size) > limit {
        past_limit
    } else {
        return Ok(());
    };
    Err(PciError::Window {
        window,
        base,
        size,
        problem,
    })
}

/// Every port range the platform's own devices use.
fn platform_ports(p: &AcpiPlatform) -> Vec<Span> {
    let mut spans = vec![Span::new(
        "config ports",
        PCI_CONFIG_IO_PORT.into(),
        PCI_CONFIG_IO_PORT_LEN.into(),
    )];
    let isa = [("serial", &p.serial), ("RTC", &p.rtc), ("i8042", &p.i8042)];
    for (name, dev) in isa {
        for &(port, len) in dev.iter().flat_map(|d| &d.ports) {
            spans.push(Span::new(format!("{name} ports"), port.into(), len.into()));
        }
    }
    let pm = [
        ("sleep control port", p.pm.sleep_control_port),
        ("sleep status port", p.pm.sleep_status_port),
        ("reset port", p.pm.reset_port),
    ];
    for (name, port) in pm {
        spans.push(Span::new(name, port.into(), 1));
    }
    spans
}

/// Fails on the first of the `pci` ranges that overlaps a later one or any `platform` range.
fn no_overlaps(pci: &[Span], platform: &[Span]) -> Result<(), PciError> {
    for (i, a) in pci.iter().enumerate() {
        for b in pci[i + 1..].iter().chain(platform) {
            if a.start < b.end && b.start < a.end {
                return Err(PciError::Overlap {
                    first: a.name.clone(),
                    first_range: (a.start, a.end),
                    second: b.name.clone(),
                    second_range: (b.start, b.end),
                });
            }
        }
    }
    Ok(())
}

fn check_intx(intx: &[PrtEntry]) -> Result<(), PciError> {
    let gsis = PCI_INTX_GSI_BASE..PCI_INTX_GSI_BASE + PCI_INTX_GSI_COUNT;
    for (i, e) in intx.iter().enumerate() {
        let (slot, pin, gsi) = (e.slot, e.pin, e.gsi);
        if slot >= SLOTS {
            return Err(PciError::IntxSlot { slot });
        }
        if pin > 3 {
            return Err(PciError::IntxPin { slot, pin });
        }
        if !gsis.contains(&gsi) {
            return Err(PciError::IntxGsi { slot, pin, gsi });
        }
        if intx[..i].iter().any(|o| (o.slot, o.pin) == (slot, pin)) {
            return Err(PciError::IntxDuplicate { slot, pin });
        }
    }
    Ok(())
}

/// The MCFG: one ECAM allocation, segment 0, buses 0..=last bus.
pub fn mcfg(pci: &PciRootDescription) -> Vec<u8> {
    let mut table = MCFG::new(OEM_ID, *b"OVMMMCFG", OEM_REVISION);
    table.add_ecam(pci.ecam.0 .0, 0, 0, pci.last_bus());
    let mut bytes = Vec::new();
    table.to_aml_bytes(&mut bytes);
    bytes
}

/// Appends the interrupt links, `PCI0` and `MBRS` to the body of `\_SB_`. Expects a
/// description [`check`] accepted (anything else gives wrong tables, not a panic).
pub fn devices(pci: &PciRootDescription, aml: &mut Vec<u8>) {
    let mut gsis: Vec<u32> = pci.intx.iter().map(|e| e.gsi).collect();
    gsis.sort_unstable();
    gsis.dedup();
    for gsi in gsis {
        interrupt_link(gsi, aml);
    }
    host_bridge(pci, aml);
    motherboard_resources(pci, aml);
}

/// Name of the interrupt link of `gsi` ("GS16" for GSI 16).
pub fn link_name(gsi: u32) -> String {
    format!("GS{:02}", gsi % 100)
}

/// AML bytes already encoded.
struct Encoded(Vec<u8>);

impl Aml for Encoded {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        sink.vec(&self.0);
    }
}

/// `Device (GSnn)`: a PCI interrupt link (PNP0C0F) fixed to `gsi`, level, active high, shared.
fn interrupt_link(gsi: u32, aml: &mut Vec<u8>) {
    let irq = Interrupt::new(true, false, false, true, gsi);
    let resources = ResourceTemplate::new(vec![&irq]);
    let hid = Name::new(Path::new("_HID"), &EISAName::new("PNP0C0F"));
    let uid = Name::new(Path::new("_UID"), &gsi);
    let prs = Name::new(Path::new("_PRS"), &resources);
    let crs = Name::new(Path::new("_CRS"), &resources);
    let srs = Method::new(Path::new("_SRS"), 1, false, vec![]);
    let children: Vec<&dyn Aml> = vec![&hid, &uid, &prs, &crs, &srs];
    Device::new(Path::new(&link_name(gsi)), children).to_aml_bytes(aml);
}

/// `Device (PCI0)`: the host bridge.
fn host_bridge(pci: &PciRootDescription, aml: &mut Vec<u8>) {
    let hid = Name::new(Path::new("_HID"), &EISAName::new("PNP0A08"));
    let cid = Name::new(Path::new("_CID"), &EISAName::new("PNP0A03"));
    let seg = Name::new(Path::new("_SEG"), &ZERO);
    let uid = Name::new(Path::new("_UID"), &ZERO);
    let bbn = Name::new(Path::new("_BBN"), &ZERO);
    let cca = Name::new(Path::new("_CCA"), &ONE);
    let crs = bridge_resources(pci);
    let prt = routing_table(&pci.intx);
    let dsm = firmware_dsm();
    let children: Vec<&dyn Aml> = vec![&hid, &cid, &seg, &uid, &bbn, &cca, &crs, &prt, &dsm];
    Device::new(Path::new("PCI0"), children).to_aml_bytes(aml);
}

/// The last address of a `size`-byte range from `base` (`base` for an empty one).
fn last(base: u64, size: u64) -> u64 {
    base.saturating_add(size.max(1) - 1)
}

/// `Name (_CRS, ...)` of the host bridge: buses, config ports, I/O, 32-bit and 64-bit windows.
fn bridge_resources(pci: &PciRootDescription) -> Name {
    let buses = AddressSpace::<u16>::new_bus_number(0, pci.last_bus().into());
    let config = IO::new(
        PCI_CONFIG_IO_PORT,
        PCI_CONFIG_IO_PORT,
        1,
        PCI_CONFIG_IO_PORT_LEN as u8,
    );
    let (io_base, io_size) = pci.io;
    let io_last = last(io_base.into(), io_size.into()).min(0xffff) as u16;
    let io = AddressSpace::<u16>::new_io(io_base, io_last, None);
    let (base, size) = (pci.mmio32.0 .0, pci.mmio32.1);
    let mmio32 = AddressSpace::<u32>::new_memory(
        AddressSpaceCacheable::NotCacheable,
        true,
        base.min(FOUR_GIB - 1) as u32,
        last(base, size).min(FOUR_GIB - 1) as u32,
        None,
    );
    // "Cacheable", not "Prefetchable": Linux marks a root window IORESOURCE_PREFETCH only for
    // the latter, and then will not claim a non-prefetchable 64-bit BAR inside it.
    let mmio64 = pci.mmio64.map(|(base, size)| {
        AddressSpace::<u64>::new_memory(
            AddressSpaceCacheable::Cacheable,
            true,
            base.0,
            last(base.0, size),
            None,
        )
    });
    let mut resources: Vec<&dyn Aml> = vec![&buses, &config, &io, &mmio32];
    if let Some(mmio64) = &mmio64 {
        resources.push(mmio64);
    }
    Name::new(Path::new("_CRS"), &ResourceTemplate::new(resources))
}

/// `Name (_PRT, Package { Package { 0xSSSSFFFF, pin, \_SB_.GSnn, 0 }, ... })`.
fn routing_table(intx: &[PrtEntry]) -> Name {
    let mut table = PackageBuilder::new();
    for e in intx {
        let address = (u32::from(e.slot) << 16) | 0xffff;
        let link = Path::new(&format!("\\_SB_.{}", link_name(e.gsi)));
        let mut entry = PackageBuilder::new();
        entry.add_element(&address);
        entry.add_element(&e.pin);
        entry.add_element(&link);
        entry.add_element(&ZERO);
        table.add_element(&entry);
    }
    Name::new(Path::new("_PRT"), &table)
}

/// The PCI Firmware `_DSM`: function 0 lists functions 0 and 5, function 5 returns 0 (keep
/// the firmware's resource assignments); anything else gets `Buffer { 0 }`.
fn firmware_dsm() -> Encoded {
    let uuid = Uuid::new(PCI_DSM_UUID);
    let is_pci_uuid = Equal::new(&Arg(0), &uuid);
    let supported = BufferData::new(vec![DSM_SUPPORTED_FUNCTIONS]);
    let return_supported = Return::new(&supported);
    let is_query = Equal::new(&Arg(2), &ZERO);
    let query = If::new(&is_query, vec![&return_supported]);
    let is_preserve = Equal::new(&Arg(2), &DSM_PRESERVE_BOOT_CONFIG);
    let return_zero = Return::new(&ZERO);
    let preserve = If::new(&is_preserve, vec![&return_zero]);
    let known_uuid = If::new(&is_pci_uuid, vec![&query, &preserve]);
    let nothing = BufferData::new(vec![0]);
    let return_nothing = Return::new(&nothing);
    let method = Method::new(
        Path::new("_DSM"),
        4,
        false,
        vec![&known_uuid, &return_nothing],
    );
    let mut bytes = Vec::new();
    method.to_aml_bytes(&mut bytes);
    Encoded(bytes)
}

/// `Device (MBRS)`: a motherboard resource device (PNP0C02) reserving the ECAM.
fn motherboard_resources(pci: &PciRootDescription, aml: &mut Vec<u8>) {
    let (base, size) = (pci.ecam.0 .0, pci.ecam.1);
    let ecam = Memory32Fixed::new(
        true,
        base.min(FOUR_GIB - 1) as u32,
        size.min(u64::from(u32::MAX)) as u32,
    );
    let hid = Name::new(Path::new("_HID"), &EISAName::new("PNP0C02"));
    let uid = Name::new(Path::new("_UID"), &ZERO);
    let crs = Name::new(Path::new("_CRS"), &ResourceTemplate::new(vec![&ecam]));
    Device::new(Path::new("MBRS"), vec![&hid, &uid, &crs]).to_aml_bytes(aml);
}

#[cfg(test)]
mod tests;
