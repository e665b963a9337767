//! The x86_64 guest physical address map and the I/O ports ovmm's platform uses.
//!
//! ```text
//! 0x0000_0000 ┌──────────────────────────────┐
//!             │ real-mode IVT + BIOS data    │ left zero
//! 0x0000_0500 │ GDT (BOOT_GDT_START)         │ 5 descriptors
//! 0x0000_0540 │ IDT (BOOT_IDT_START)         │ one empty gate
//! 0x0000_7000 │ zero page (boot_params)      │ 4 KiB
//! 0x0000_8ff0 │ boot stack top (grows down)  │
//! 0x0000_9000 │ PML4                         │ 4 KiB
//! 0x0000_a000 │ PDPT                         │ 4 KiB
//! 0x0000_b000 │ 4 page directories           │ 16 KiB: identity map of 0..4 GiB, 2 MiB pages
//! 0x0002_0000 │ kernel command line          │ CMDLINE_MAX_SIZE
//! 0x0009_fc00 ├──────────────────────────────┤ EBDA_START (e820: reserved from here to 1 MiB)
//! 0x000e_0000 │ RSDP, then the ACPI tables   │ ACPI_TABLES_MAX_SIZE (128 KiB)
//! 0x0010_0000 ├──────────────────────────────┤ HIMEM_START: kernel load address
//!             │ RAM (kernel, initrd, ...)    │
//! 0xc000_0000 ├──────────────────────────────┤ MEM_32BIT_GAP_START: end of low RAM
//!             │ 32-bit PCI MMIO window       │ 512 MiB
//! 0xe000_0000 │ PCI ECAM (MMCONFIG)          │ 256 MiB: buses 0..=255
//! 0xf000_0000 │ (unused)                     │
//! 0xfec0_0000 │ IOAPIC                       │
//! 0xfee0_0000 │ local APIC                   │
//! 0x1_0000_0000 ├────────────────────────────┤ HIGH_RAM_START: RAM beyond 3 GiB continues here
//!             │ RAM                          │
//!             │ 64-bit PCI window (later)    │ above RAM
//! ```
//!
//! Guests with up to 3 GiB of RAM get one region at 0; bigger guests get 3 GiB at 0 and the
//! rest at 4 GiB ([`ram_regions`]). Devices see only offsets inside their I/O range; ovmm
//! wires them at the ports below.

use vm_memory::GuestAddress;

/// 1 MiB.
const MIB: u64 = 1 << 20;
/// 1 GiB.
const GIB: u64 = 1 << 30;

// ---- boot-time structures in low memory ---------------------------------------------------

/// Global descriptor table written for the 64-bit boot (null, code, data, 16-byte TSS).
pub const BOOT_GDT_START: GuestAddress = GuestAddress(0x500);
/// Bytes reserved for the boot GDT (8 descriptors).
pub const BOOT_GDT_MAX_SIZE: u64 = 0x40;
/// Interrupt descriptor table for the boot CPU: one not-present gate, so any early exception
/// shuts the guest down instead of jumping through garbage. Linux installs its own at once.
pub const BOOT_IDT_START: GuestAddress = GuestAddress(BOOT_GDT_START.0 + BOOT_GDT_MAX_SIZE);
/// Bytes reserved for the boot IDT (one 16-byte long-mode gate).
pub const BOOT_IDT_SIZE: u64 = 0x10;
/// The zero page: Linux's `struct boot_params`, passed in `rsi`.
pub const ZERO_PAGE_START: GuestAddress = GuestAddress(0x7000);
/// Size of the zero page.
pub const ZERO_PAGE_SIZE: u64 = 0x1000;
/// Initial stack pointer of the boot CPU (16-byte aligned, grows down towards the zero page).
pub const BOOT_STACK_POINTER: GuestAddress = GuestAddress(0x8ff0);
/// Page-map level 4 of the boot identity map.
pub const PML4_START: GuestAddress = GuestAddress(0x9000);
/// Page-directory-pointer table of the boot identity map.
pub const PDPTE_START: GuestAddress = GuestAddress(0xa000);
/// First of [`BOOT_PD_COUNT`] page directories (2 MiB pages), one per GiB identity-mapped.
pub const PDE_START: GuestAddress = GuestAddress(0xb000);
/// Number of page directories: the boot page tables identity-map `BOOT_PD_COUNT` GiB.
pub const BOOT_PD_COUNT: u64 = 4;
/// Bytes identity-mapped by the boot page tables (all of low RAM and the 32-bit hole).
pub const BOOT_IDENTITY_MAP_SIZE: u64 = BOOT_PD_COUNT * GIB;
/// Kernel command line, NUL-terminated.
pub const CMDLINE_START: GuestAddress = GuestAddress(0x2_0000);
/// Room for the command line, terminating NUL included. Linux on x86 keeps at most
/// 2047 bytes (`COMMAND_LINE_SIZE`); a bzImage states its own limit in the setup header,
/// which [`super::boot::configure_system`] checks.
pub const CMDLINE_MAX_SIZE: u64 = 0x1000;
/// Start of the extended BIOS data area: the end of usable conventional memory. Everything
/// from here to 1 MiB is reported as reserved in the e820 map.
pub const EBDA_START: GuestAddress = GuestAddress(0x9_fc00);
/// The RSDP; the other ACPI tables follow it. Inside the 0xE0000..0x100000 area Linux scans
/// for an RSDP when the boot protocol does not hand one over.
pub const ACPI_START: GuestAddress = GuestAddress(0xe_0000);
/// Bytes available for the RSDP and all ACPI tables (up to 1 MiB).
pub const ACPI_TABLES_MAX_SIZE: u64 = 0x2_0000;
/// Where the kernel is loaded (bzImage protected-mode code or vmlinux): 1 MiB.
pub const HIMEM_START: GuestAddress = GuestAddress(MIB);
/// Highest address an initrd may occupy when the kernel's setup header does not say
/// (`initrd_addr_max` of boot protocols before 2.03).
pub const DEFAULT_INITRD_ADDR_MAX: u32 = 0x37ff_ffff;

// ---- RAM and the 32-bit hole ---------------------------------------------------------------

/// End of low RAM and start of the 32-bit MMIO hole (3 GiB).
pub const MEM_32BIT_GAP_START: GuestAddress = GuestAddress(3 * GIB);
/// Size of the 32-bit hole: 3 GiB to 4 GiB.
pub const MEM_32BIT_GAP_SIZE: u64 = GIB;
/// RAM beyond the first 3 GiB starts here (4 GiB).
pub const HIGH_RAM_START: GuestAddress = GuestAddress(4 * GIB);
/// 32-bit PCI memory window for BARs (non-prefetchable and small prefetchable).
pub const PCI_MMIO32_START: GuestAddress = MEM_32BIT_GAP_START;
/// Size of the 32-bit PCI window.
pub const PCI_MMIO32_SIZE: u64 = 512 * MIB;
/// PCI Express enhanced configuration space (MMCONFIG), segment 0.
pub const PCI_ECAM_START: GuestAddress = GuestAddress(PCI_MMIO32_START.0 + PCI_MMIO32_SIZE);
/// ECAM size: 256 buses of 32 devices of 8 functions of 4 KiB.
pub const PCI_ECAM_SIZE: u64 = 256 * MIB;
/// ECAM bytes per bus: 32 devices of 8 functions of 4 KiB.
pub const PCI_ECAM_BUS_SIZE: u64 = MIB;
/// First port of the PCI I/O window for I/O BARs (the ports below belong to the platform).
pub const PCI_IO_START: u16 = 0x1000;
/// Number of ports of the PCI I/O window: 0x1000..=0xFFFF.
pub const PCI_IO_SIZE: u16 = 0xf000;
/// The KVM in-kernel IOAPIC's MMIO page.
pub const IOAPIC_START: GuestAddress = GuestAddress(0xfec0_0000);
/// Size of the IOAPIC's MMIO page.
pub const IOAPIC_SIZE: u64 = 0x1000;
/// The local APIC's MMIO page (every vCPU sees its own).
pub const LAPIC_START: GuestAddress = GuestAddress(0xfee0_0000);
/// Size of the local APIC's MMIO page.
pub const LAPIC_SIZE: u64 = 0x1000;

// ---- I/O ports and legacy IRQs ---------------------------------------------------------------

/// COM1, a 16550 UART.
pub const COM1_PORT: u16 = 0x3f8;
/// Number of ports of a 16550 UART.
pub const COM_PORT_LEN: u16 = 8;
/// IRQ (IOAPIC pin, GSI) of COM1.
pub const SERIAL_IRQ: u32 = 4;
/// i8042 data port.
pub const I8042_DATA_PORT: u16 = 0x60;
/// i8042 command/status port (writing 0xFE there resets the machine).
pub const I8042_COMMAND_PORT: u16 = 0x64;
/// IRQ of the i8042 keyboard port.
pub const I8042_IRQ: u32 = 1;
/// CMOS RTC index port; the data port follows it.
pub const RTC_PORT: u16 = 0x70;
/// Number of CMOS RTC ports (index and data).
pub const RTC_PORT_LEN: u16 = 2;
/// IRQ of the CMOS RTC.
pub const RTC_IRQ: u32 = 8;
/// Base of the ACPI power-management block (hardware-reduced sleep and reset registers).
pub const ACPI_PM_BASE: u16 = 0x600;
/// Number of ports of the ACPI power-management block.
pub const ACPI_PM_LEN: u16 = 4;
/// Offset of the sleep control register in the PM block (FADT SLEEP_CONTROL_REG).
pub const ACPI_SLEEP_CONTROL_OFFSET: u16 = 0;
/// Offset of the sleep status register in the PM block (FADT SLEEP_STATUS_REG).
pub const ACPI_SLEEP_STATUS_OFFSET: u16 = 1;
/// Offset of the reset register in the PM block (FADT RESET_REG).
pub const ACPI_RESET_OFFSET: u16 = 2;
/// Value the guest writes to the reset register to reset the machine (FADT RESET_VALUE).
pub const ACPI_RESET_VALUE: u8 = 1;
/// SLP_TYP of the S5 (soft-off) state: the DSDT's `_S5_` and the sleep control device agree
/// that SLP_EN with this type powers the VM off.
pub const ACPI_S5_SLEEP_TYPE: u8 = 5;
/// Test-exit port: a one-byte write ends ovmm with that status.
pub const TEST_EXIT_PORT: u16 = 0xf4;
/// Number of ports of the test-exit device.
pub const TEST_EXIT_PORT_LEN: u16 = 1;
/// Boot-timer port: the guest's init writes any byte here once it reaches userspace
/// (`printf '\001' | dd of=/dev/port bs=1 seek=245 count=1`).
pub const BOOT_TIMER_PORT: u16 = 0xf5;
/// Number of ports of the boot-timer device.
pub const BOOT_TIMER_PORT_LEN: u16 = 1;
/// The ACPI Generic Event Device's 32-bit event register (the DSDT's `_EVT` reads it).
pub const GED_PORT: u16 = 0x610;
/// Number of ports of the GED event register.
pub const GED_PORT_LEN: u16 = 4;
/// PCI configuration mechanism #1 (0xCF8 address, 0xCFC data).
pub const PCI_CONFIG_IO_PORT: u16 = 0xcf8;
/// Number of ports of PCI configuration mechanism #1.
pub const PCI_CONFIG_IO_PORT_LEN: u16 = 8;
/// IRQ of the ACPI Generic Event Device (hardware-reduced ACPI has no SCI; this is the IRQ
/// an SCI would have had).
pub const SCI_IRQ: u32 = 9;
/// The Generic Event Device's interrupt (edge-triggered, active high).
pub const GED_IRQ: u32 = SCI_IRQ;
/// The PIT's ISA IRQ 0 arrives on IOAPIC pin 2 in KVM (MADT interrupt source override).
pub const PIT_GSI: u32 = 2;
/// Number of pins of KVM's in-kernel IOAPIC: GSIs 0..24.
pub const IOAPIC_NUM_PINS: u32 = 24;
/// First GSI for PCI INTx: the IOAPIC pins above the 16 ISA IRQs (as on QEMU q35).
pub const PCI_INTX_GSI_BASE: u32 = 16;
/// Number of GSIs for PCI INTx (16..=23); the ACPI tables describe them level-triggered,
/// active high.
pub const PCI_INTX_GSI_COUNT: u32 = IOAPIC_NUM_PINS - PCI_INTX_GSI_BASE;

/// Guest RAM regions for `mem_size` bytes of RAM: one region from 0 when it fits below
/// [`MEM_32BIT_GAP_START`], otherwise 3 GiB from 0 and the rest from [`HIGH_RAM_START`].
/// No memory gives no region.
pub fn ram_regions(mem_size: u64) -> Vec<(GuestAddress, u64)> {
    let low_max = MEM_32BIT_GAP_START.0;
    match mem_size {
        0 => Vec::new(),
        size if size <= low_max => vec![(GuestAddress(0), size)],
        size => vec![(GuestAddress(0), low_max), (HIGH_RAM_START, size - low_max)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fixed area of the map, as (name, start, size).
    fn fixed_areas() -> Vec<(&'static str, u64, u64)> {
        vec![
            ("GDT", BOOT_GDT_START.0, BOOT_GDT_MAX_SIZE),
            ("IDT", BOOT_IDT_START.0, BOOT_IDT_SIZE),
            ("zero page", ZERO_PAGE_START.0, ZERO_PAGE_SIZE),
            // The stack grows down from its top to the end of the zero page.
            (
                "boot stack",
                ZERO_PAGE_START.0 + ZERO_PAGE_SIZE,
                BOOT_STACK_POINTER.0 - (ZERO_PAGE_START.0 + ZERO_PAGE_SIZE),
            ),
            ("PML4", PML4_START.0, 0x1000),
            ("PDPT", PDPTE_START.0, 0x1000),
            ("PDs", PDE_START.0, BOOT_PD_COUNT * 0x1000),
            ("cmdline", CMDLINE_START.0, CMDLINE_MAX_SIZE),
            ("ACPI", ACPI_START.0, ACPI_TABLES_MAX_SIZE),
            ("PCI MMIO32", PCI_MMIO32_START.0, PCI_MMIO32_SIZE),
            ("ECAM", PCI_ECAM_START.0, PCI_ECAM_SIZE),
            ("IOAPIC", IOAPIC_START.0, IOAPIC_SIZE),
            ("LAPIC", LAPIC_START.0, LAPIC_SIZE),
        ]
    }

    fn overlap(a: (u64, u64), b: (u64, u64)) -> bool {
        a.0 < b.0 + b.1 && b.0 < a.0 + a.1
    }

    #[test]
    fn fixed_areas_do_not_overlap() {
        let areas = fixed_areas();
        for (i, a) in areas.iter().enumerate() {
            assert!(a.2 > 0, "{} is empty", a.0);
            for b in &areas[i + 1..] {
                assert!(
                    !overlap((a.1, a.2), (b.1, b.2)),
                    "{} [{:#x}, +{:#x}) overlaps {} [{:#x}, +{:#x})",
                    a.0,
                    a.1,
                    a.2,
                    b.0,
                    b.1,
                    b.2
                );
            }
        }
    }

    #[test]
    fn boot_structures_sit_below_the_ebda_and_acpi_below_1mib() {
        for (name, start, size) in fixed_areas() {
            if start >= MEM_32BIT_GAP_START.0 {
                continue;
            }
            let end = start + size;
            if name == "ACPI" {
                assert!(start >= EBDA_START.0 && end <= HIMEM_START.0);
            } else {
                assert!(
                    end <= EBDA_START.0,
                    "{name} ends at {end:#x}, past the EBDA"
                );
            }
        }
        assert_eq!(BOOT_STACK_POINTER.0 % 16, 0);
    }

    #[test]
    fn mmio_windows_sit_in_the_32bit_gap() {
        let gap = (MEM_32BIT_GAP_START.0, MEM_32BIT_GAP_SIZE);
        assert_eq!(gap.0 + gap.1, HIGH_RAM_START.0);
        for (name, start, size) in fixed_areas() {
            if start < MEM_32BIT_GAP_START.0 {
                continue;
            }
            assert!(
                start >= gap.0 && start + size <= gap.0 + gap.1,
                "{name} leaves the 32-bit gap"
            );
        }
        assert_eq!(PCI_ECAM_START, GuestAddress(0xe000_0000));
        assert_eq!(PCI_MMIO32_START.0 + PCI_MMIO32_SIZE, PCI_ECAM_START.0);
    }

    #[test]
    fn ram_never_overlaps_the_32bit_gap() {
        let gap = (MEM_32BIT_GAP_START.0, MEM_32BIT_GAP_SIZE);
        for size in [
            1 << 20,
            512 << 20,
            3 << 30,
            (3 << 30) + 4096,
            5 << 30,
            64 << 30,
        ] {
            let regions = ram_regions(size);
            let total: u64 = regions.iter().map(|r| r.1).sum();
            assert_eq!(total, size);
            for (start, len) in regions {
                assert!(!overlap((start.0, len), gap), "{size:#x}: RAM in the gap");
            }
        }
    }

    #[test]
    fn ram_regions_split_at_3gib() {
        assert!(ram_regions(0).is_empty());
        assert_eq!(ram_regions(512 << 20), vec![(GuestAddress(0), 512 << 20)]);
        assert_eq!(ram_regions(3 << 30), vec![(GuestAddress(0), 3 << 30)]);
        assert_eq!(
            ram_regions(5 << 30),
            vec![(GuestAddress(0), 3 << 30), (GuestAddress(4 << 30), 2 << 30)]
        );
    }

    #[test]
    fn io_ports_do_not_overlap() {
        let ports = [
            ("COM1", COM1_PORT, COM_PORT_LEN),
            ("i8042 data", I8042_DATA_PORT, 1),
            ("i8042 command", I8042_COMMAND_PORT, 1),
            ("RTC", RTC_PORT, RTC_PORT_LEN),
            ("ACPI PM", ACPI_PM_BASE, ACPI_PM_LEN),
            ("test exit", TEST_EXIT_PORT, TEST_EXIT_PORT_LEN),
            ("boot timer", BOOT_TIMER_PORT, BOOT_TIMER_PORT_LEN),
            ("GED", GED_PORT, GED_PORT_LEN),
            ("PCI config", PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_PORT_LEN),
        ];
        for (i, a) in ports.iter().enumerate() {
            for b in &ports[i + 1..] {
                let (a_range, b_range) = ((a.1 as u64, a.2 as u64), (b.1 as u64, b.2 as u64));
                assert!(!overlap(a_range, b_range), "{} overlaps {}", a.0, b.0);
            }
        }
        const { assert!(ACPI_RESET_OFFSET < ACPI_PM_LEN && ACPI_SLEEP_STATUS_OFFSET < ACPI_PM_LEN) };
    }
}
