//! The x86 ACPI tables: RSDP, XSDT, FADT (hardware-reduced), MADT, DSDT and, with a PCI root,
//! MCFG.
//!
//! [`build_tables`] turns a plain [`AcpiPlatform`] description into table bytes laid out from
//! a base address (RSDP first, then DSDT, FADT, MADT, MCFG when there is PCI, any extra
//! tables, and the XSDT that points at them); [`write_tables`] copies them into guest memory.
//! Nothing here touches KVM. The PCI root complex (MCFG, `PCI0`, INTx links) is in [`pci`].
//!
//! The platform is hardware-reduced ACPI: no PM1/GPE blocks and no SCI. Power-off and reset
//! go through the FADT's sleep control and reset registers, which ovmm places in an I/O
//! block at [`ACPI_PM_BASE`]. Interrupts: the in-kernel 8259 pair, the IOAPIC (id 0, GSIs
//! 0..24) and one local APIC per vCPU, APIC id = vCPU index.

use acpi_tables::fadt::{FADTBuilder, Flags, PmProfile};
use acpi_tables::gas::{AccessSize, AddressSpace, GAS};
use acpi_tables::rsdp::Rsdp;
use acpi_tables::sdt::Sdt;
use acpi_tables::xsdt::XSDT;
use acpi_tables::Aml;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryError};

use super::layout::{
    ACPI_PM_BASE, ACPI_RESET_OFFSET, ACPI_RESET_VALUE, ACPI_S5_SLEEP_TYPE,
    ACPI_SLEEP_CONTROL_OFFSET, ACPI_SLEEP_STATUS_OFFSET, ACPI_TABLES_MAX_SIZE, COM1_PORT,
    COM_PORT_LEN, I8042_COMMAND_PORT, I8042_DATA_PORT, I8042_IRQ, IOAPIC_START, LAPIC_START,
    PIT_GSI, RTC_IRQ, RTC_PORT, RTC_PORT_LEN, SERIAL_IRQ,
};

mod dsdt;
pub mod ged;
pub mod pci;
pub use dsdt::dsdt;
pub use ged::GedDescription;
pub use pci::{PciError, PciRootDescription, PrtEntry};

/// OEM id in every table header.
pub const OEM_ID: [u8; 6] = *b"OVMM  ";
/// OEM revision in every table header.
pub const OEM_REVISION: u32 = 1;
/// Tables are placed at multiples of this.
const TABLE_ALIGN: u64 = 8;
/// Size of an ACPI table header.
const HEADER_LEN: usize = 36;
/// Signatures ovmm always generates itself; an extra table may not reuse them.
const GENERATED: [&str; 4] = ["XSDT", "FACP", "DSDT", "APIC"];
/// Signature ovmm generates when the platform has PCI.
const GENERATED_WITH_PCI: &str = "MCFG";
/// Signatures that are not tables the XSDT can list.
const NOT_IN_XSDT: [&str; 3] = ["RSD ", "RSDT", "FACS"];
/// The one signature a platform may have several tables of.
const REPEATABLE: &str = "SSDT";

/// An ISA device as the DSDT describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsaDevice {
    /// I/O port ranges: (first port, number of ports).
    pub ports: Vec<(u16, u8)>,
    /// IRQ = IOAPIC GSI (edge-triggered, active high).
    pub irq: u32,
}

/// The hardware-reduced sleep and reset registers (all single-byte I/O ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmRegisters {
    /// FADT SLEEP_CONTROL_REG.
    pub sleep_control_port: u16,
    /// FADT SLEEP_STATUS_REG.
    pub sleep_status_port: u16,
    /// FADT RESET_REG.
    pub reset_port: u16,
    /// FADT RESET_VALUE.
    pub reset_value: u8,
    /// SLP_TYP of S5 in the DSDT's `_S5_`.
    pub s5_sleep_type: u8,
}

/// What the ACPI tables describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiPlatform {
    /// Number of vCPUs (local APICs, ids 0..num_cpus).
    pub num_cpus: u8,
    /// COM1 (PNP0501).
    pub serial: Option<IsaDevice>,
    /// The CMOS RTC (PNP0B00). Without one the FADT says "no CMOS RTC".
    pub rtc: Option<IsaDevice>,
    /// The i8042 keyboard controller (PNP0303), data port first. Also sets the FADT's 8042 flag.
    pub i8042: Option<IsaDevice>,
    /// Sleep and reset registers.
    pub pm: PmRegisters,
    /// Complete tables appended as they are, each listed in the XSDT (for `--acpi-table`).
    /// Each must have a valid header and checksum and a signature ovmm does not generate.
    pub extra_tables: Vec<Vec<u8>>,
    /// The PCI root complex: MCFG, and `PCI0` with its INTx links and `MBRS` in the DSDT.
    /// `None` describes no PCI at all.
    pub pci: Option<PciRootDescription>,
    /// The Generic Event Device (`ACPI0013`) and the power button (`PNP0C0C`) it notifies.
    /// `None` leaves both out.
    pub ged: Option<GedDescription>,
}

impl AcpiPlatform {
    /// ovmm's x86 platform with `num_cpus` vCPUs: COM1, RTC and i8042 at their usual ports
    /// and IRQs, the PM block at [`ACPI_PM_BASE`], no extra tables and no PCI (set
    /// [`AcpiPlatform::pci`] to add it).
    pub fn new(num_cpus: u8) -> Self {
        AcpiPlatform {
            num_cpus,
            serial: Some(IsaDevice {
                ports: vec![(COM1_PORT, COM_PORT_LEN as u8)],
                irq: SERIAL_IRQ,
            }),
            rtc: Some(IsaDevice {
                ports: vec![(RTC_PORT, RTC_PORT_LEN as u8)],
                irq: RTC_IRQ,
            }),
            i8042: Some(IsaDevice {
                ports: vec![(I8042_DATA_PORT, 1), (I8042_COMMAND_PORT, 1)],
                irq: I8042_IRQ,
            }),
            pm: PmRegisters {
                sleep_control_port: ACPI_PM_BASE + ACPI_SLEEP_CONTROL_OFFSET,
                sleep_status_port: ACPI_PM_BASE + ACPI_SLEEP_STATUS_OFFSET,
                reset_port: ACPI_PM_BASE + ACPI_RESET_OFFSET,
                reset_value: ACPI_RESET_VALUE,
                s5_sleep_type: ACPI_S5_SLEEP_TYPE,
            },
            extra_tables: Vec::new(),
            pci: None,
            ged: None,
        }
    }
}

/// One table and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiTable {
    /// The 4-character signature.
    pub signature: String,
    /// Guest physical address.
    pub addr: GuestAddress,
    /// The whole table, header and checksum included.
    pub bytes: Vec<u8>,
}

/// The tables built by [`build_tables`], with their addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiTables {
    /// Address of the RSDP (the base given to [`build_tables`]).
    pub rsdp_addr: GuestAddress,
    /// The RSDP (revision 2, 36 bytes).
    pub rsdp: Vec<u8>,
    /// The tables in address order; the XSDT is the last.
    pub tables: Vec<AcpiTable>,
}

impl AcpiTables {
    /// The table with `signature`, if built.
    pub fn get(&self, signature: &str) -> Option<&AcpiTable> {
        self.tables.iter().find(|t| t.signature == signature)
    }

    /// Bytes from the RSDP to the end of the last table.
    pub fn size(&self) -> u64 {
        let end = self
            .tables
            .iter()
            .map(|t| t.addr.0 + t.bytes.len() as u64)
            .max()
            .unwrap_or(self.rsdp_addr.0 + self.rsdp.len() as u64);
        end - self.rsdp_addr.0
    }
}

/// Errors building or writing the ACPI tables.
#[derive(Debug, thiserror::Error)]
pub enum AcpiError {
    /// A platform without CPUs.
    #[error("ACPI platform has no CPUs (num_cpus = 0)")]
    NoCpus,
    /// The tables outgrow their area.
    #[error("ACPI tables need {size} bytes, more than the {max} bytes reserved for them")]
    TooLarge {
        /// Bytes needed.
        size: u64,
        /// Bytes available.
        max: u64,
    },
    /// An extra table is malformed or clashes with a generated one.
    #[error("extra ACPI table #{index} ({signature}): {problem}")]
    InvalidExtraTable {
        /// Position in `extra_tables`.
        index: usize,
        /// Its signature (or "????" when too short to have one).
        signature: String,
        /// What is wrong.
        problem: String,
    },
    /// The PCI root description cannot be put in the tables.
    #[error("ACPI tables cannot describe the PCI root: {0}")]
    Pci(#[from] PciError),
    /// Writing a table into guest memory failed.
    #[error("cannot write ACPI table {signature} ({len} bytes) at {addr:#x}: {source}")]
    GuestMemory {
        /// The table.
        signature: String,
        /// Its address.
        addr: u64,
        /// Its size.
        len: usize,
        /// Why.
        #[source]
        source: GuestMemoryError,
    },
}

/// Builds all tables for `p`, the RSDP at `base` and the others after it (8-byte aligned).
pub fn build_tables(p: &AcpiPlatform, base: GuestAddress) -> Result<AcpiTables, AcpiError> {
    if p.num_cpus == 0 {
        return Err(AcpiError::NoCpus);
    }
    if let Some(pci) = &p.pci {
        pci::check(pci, p)?;
    }
    let mut placer = Placer {
        next: base.0 + Rsdp::len() as u64,
        tables: Vec::new(),
    };
    let dsdt_addr = placer.place("DSDT", dsdt(p));
    let fadt_addr = placer.place("FACP", fadt(p, dsdt_addr));
    let madt_addr = placer.place("APIC", madt(p));
    let mut xsdt_entries = vec![fadt_addr, madt_addr];
    if let Some(pci) = &p.pci {
        xsdt_entries.push(placer.place("MCFG", pci::mcfg(pci)));
    }
    let signatures = check_extra_tables(&p.extra_tables, p.pci.is_some())?;
    for (signature, table) in signatures.iter().zip(&p.extra_tables) {
        xsdt_entries.push(placer.place(signature, table.clone()));
    }
    let xsdt_addr = placer.place("XSDT", xsdt(&xsdt_entries));

    let mut rsdp = Vec::new();
    Rsdp::new(OEM_ID, xsdt_addr.0).to_aml_bytes(&mut rsdp);
    let tables = AcpiTables {
        rsdp_addr: base,
        rsdp,
        tables: placer.tables,
    };
    if tables.size() > ACPI_TABLES_MAX_SIZE {
        return Err(AcpiError::TooLarge {
            size: tables.size(),
            max: ACPI_TABLES_MAX_SIZE,
        });
    }
    Ok(tables)
}

/// Writes the RSDP and every table to their addresses; returns the RSDP's address (for the
/// zero page's `acpi_rsdp_addr`).
pub fn write_tables<M: GuestMemoryBackend>(
    mem: &M,
    t: &AcpiTables,
) -> Result<GuestAddress, AcpiError> {
    let rsdp = std::iter::once(("RSDP", t.rsdp_addr, &t.rsdp));
    let others = t
        .tables
        .iter()
        .map(|x| (x.signature.as_str(), x.addr, &x.bytes));
    for (signature, addr, bytes) in rsdp.chain(others) {
        mem.write_slice(bytes, addr)
            .map_err(|source| AcpiError::GuestMemory {
                signature: signature.to_string(),
                addr: addr.0,
                len: bytes.len(),
                source,
            })?;
    }
    log::debug!(
        "ACPI: RSDP at {:#x}, {} tables in {} bytes",
        t.rsdp_addr.0,
        t.tables.len(),
        t.size()
    );
    Ok(t.rsdp_addr)
}

/// Hands out consecutive aligned addresses and keeps the placed tables.
struct Placer {
    next: u64,
    tables: Vec<AcpiTable>,
}

impl Placer {
    fn place(&mut self, signature: &str, bytes: Vec<u8>) -> GuestAddress {
        let addr = self.next.div_ceil(TABLE_ALIGN) * TABLE_ALIGN;
        self.next = addr + bytes.len() as u64;
        self.tables.push(AcpiTable {
            signature: signature.to_string(),
            addr: GuestAddress(addr),
            bytes,
        });
        GuestAddress(addr)
    }
}

/// FADT IAPC_BOOT_ARCH: ISA devices present.
const IAPC_LEGACY_DEVICES: u16 = 1 << 0;
/// FADT IAPC_BOOT_ARCH: an 8042 is present.
const IAPC_8042: u16 = 1 << 1;
/// FADT IAPC_BOOT_ARCH: no VGA; do not probe for it.
const IAPC_VGA_NOT_PRESENT: u16 = 1 << 2;
/// FADT IAPC_BOOT_ARCH: no CMOS RTC.
const IAPC_CMOS_RTC_NOT_PRESENT: u16 = 1 << 5;

/// The FADT (revision 6.5): hardware-reduced, sleep control/status and reset registers as
/// byte-wide I/O registers, no fixed power or sleep button, DSDT at `dsdt_addr`.
pub fn fadt(p: &AcpiPlatform, dsdt_addr: GuestAddress) -> Vec<u8> {
    let mut f = FADTBuilder::new(OEM_ID, *b"OVMMFACP", OEM_REVISION)
        .preferred_pm_profile(PmProfile::Unspecified)
        .flag(Flags::HwReducedAcpi)
        .flag(Flags::ResetRegSup)
        .flag(Flags::PwrButton)
        .flag(Flags::SlpButton);
    f.dsdt = (dsdt_addr.0 as u32).into();
    f.x_dsdt = dsdt_addr.0.into();
    f.iapc_boot_arch = iapc_boot_arch(p).into();
    f.reset_reg = io_register(p.pm.reset_port);
    f.reset_value = p.pm.reset_value;
    f.sleep_control_reg = io_register(p.pm.sleep_control_port);
    f.sleep_status_reg = io_register(p.pm.sleep_status_port);
    let mut bytes = Vec::new();
    f.finalize().to_aml_bytes(&mut bytes);
    bytes
}

fn iapc_boot_arch(p: &AcpiPlatform) -> u16 {
    let mut flags = IAPC_VGA_NOT_PRESENT;
    if p.serial.is_some() || p.rtc.is_some() || p.i8042.is_some() {
        flags |= IAPC_LEGACY_DEVICES;
    }
    if p.i8042.is_some() {
        flags |= IAPC_8042;
    }
    if p.rtc.is_none() {
        flags |= IAPC_CMOS_RTC_NOT_PRESENT;
    }
    flags
}

/// A byte-wide I/O-space register.
fn io_register(port: u16) -> GAS {
    GAS::new(
        AddressSpace::SystemIo,
        8,
        0,
        AccessSize::ByteAccess,
        u64::from(port),
    )
}

/// MADT revision (ACPI 6.3 and later).
const MADT_REVISION: u8 = 5;
/// MADT flag: the system also has dual 8259s (masked by the OS when it uses the APICs).
const MADT_PCAT_COMPAT: u32 = 1;
/// MADT structure types.
const MADT_LOCAL_APIC: u8 = 0;
const MADT_IO_APIC: u8 = 1;
const MADT_INTERRUPT_OVERRIDE: u8 = 2;
const MADT_LOCAL_APIC_NMI: u8 = 4;
/// Local APIC flag: enabled.
const LAPIC_ENABLED: u32 = 1;
/// ACPI processor UID meaning "all processors".
const ALL_PROCESSORS: u8 = 0xff;

/// The MADT: local APIC address, PCAT_COMPAT, one enabled local APIC per vCPU (UID = APIC
/// id = index), the IOAPIC (id 0, GSI base 0), ISA IRQ 0 -> GSI 2 (the PIT), and LINT1 = NMI
/// on all processors.
pub fn madt(p: &AcpiPlatform) -> Vec<u8> {
    let mut t = Sdt::new(
        *b"APIC",
        44,
        MADT_REVISION,
        OEM_ID,
        *b"OVMMAPIC",
        OEM_REVISION,
    );
    t.write_u32(36, LAPIC_START.0 as u32);
    t.write_u32(40, MADT_PCAT_COMPAT);
    for cpu in 0..p.num_cpus {
        let mut s = vec![MADT_LOCAL_APIC, 8, cpu, cpu];
        s.extend(LAPIC_ENABLED.to_le_bytes());
        t.append_slice(&s);
    }
    let mut ioapic = vec![MADT_IO_APIC, 12, 0, 0];
    ioapic.extend((IOAPIC_START.0 as u32).to_le_bytes());
    ioapic.extend(0u32.to_le_bytes());
    t.append_slice(&ioapic);
    // Bus 0 (ISA), source IRQ 0, GSI 2, flags 0 (bus-default polarity and trigger).
    let mut iso = vec![MADT_INTERRUPT_OVERRIDE, 10, 0, 0];
    iso.extend(PIT_GSI.to_le_bytes());
    iso.extend(0u16.to_le_bytes());
    t.append_slice(&iso);
    // All processors, flags 0, LINT1.
    t.append_slice(&[MADT_LOCAL_APIC_NMI, 6, ALL_PROCESSORS, 0, 0, 1]);
    t.as_slice().to_vec()
}

/// The XSDT listing `entries`.
fn xsdt(entries: &[GuestAddress]) -> Vec<u8> {
    let mut x = XSDT::new(OEM_ID, *b"OVMMXSDT", OEM_REVISION);
    for e in entries {
        x.add_entry(e.0);
    }
    let mut bytes = Vec::new();
    x.to_aml_bytes(&mut bytes);
    bytes
}

/// Checks user tables before they are added to the XSDT: each has a whole header with a
/// matching length and a correct checksum, a signature ovmm does not generate (MCFG included
/// when `with_pci`) and that the XSDT may list, and only SSDTs may appear more than once.
/// Returns their signatures, in order.
pub fn check_extra_tables(tables: &[Vec<u8>], with_pci: bool) -> Result<Vec<String>, AcpiError> {
    let mut signatures: Vec<String> = Vec::with_capacity(tables.len());
    for (index, table) in tables.iter().enumerate() {
        let signature = check_extra_table(index, table, with_pci)?;
        if signature != REPEATABLE {
            if let Some(first) = signatures.iter().position(|s| *s == signature) {
                return Err(AcpiError::InvalidExtraTable {
                    index,
                    signature,
                    problem: format!(
                        "extra table #{first} has the same signature; only {REPEATABLE} may be given more than once"
                    ),
                });
            }
        }
        signatures.push(signature);
    }
    Ok(signatures)
}

/// Checks an extra table's header (and that ovmm does not generate its signature, MCFG
/// included when `with_pci`); returns its signature.
fn check_extra_table(index: usize, table: &[u8], with_pci: bool) -> Result<String, AcpiError> {
    let signature = table
        .get(..4)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_else(|| "????".to_string());
    let invalid = |problem: String| AcpiError::InvalidExtraTable {
        index,
        signature: signature.clone(),
        problem,
    };
    if table.len() < HEADER_LEN {
        return Err(invalid(format!(
            "{} bytes is shorter than an ACPI header ({HEADER_LEN})",
            table.len()
        )));
    }
    let length = u32::from_le_bytes([table[4], table[5], table[6], table[7]]) as usize;
    if length != table.len() {
        return Err(invalid(format!(
            "header length {length} differs from the {} bytes given",
            table.len()
        )));
    }
    if checksum(table) != 0 {
        return Err(invalid(format!(
            "bytes sum to {:#04x}, not 0 (bad checksum)",
            checksum(table)
        )));
    }
    if GENERATED.contains(&signature.as_str()) || with_pci && signature == GENERATED_WITH_PCI {
        return Err(invalid("ovmm generates this table itself".to_string()));
    }
    if NOT_IN_XSDT.contains(&signature.as_str()) {
        return Err(invalid(
            "the XSDT cannot list this kind of table".to_string(),
        ));
    }
    if !signature
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(invalid(
            "the signature is not 4 upper-case letters, digits or '_' (not an ACPI table?)"
                .to_string(),
        ));
    }
    Ok(signature)
}

/// The byte sum of `bytes` (0 for a table with a correct checksum).
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

#[cfg(test)]
mod tests;
