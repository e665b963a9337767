//! The arm64 guest physical address map, the SPIs of ovmm's platform devices, and the 64-bit
//! PCI window helper.
//!
//! ```text
//! 0x0000_0000 ┌───────────────────────────────┐
//!             │ (unused)                      │
//! 0x0800_0000 ├───────────────────────────────┤ GIC_DIST_START: GICv3 distributor, 64 KiB
//! 0x0808_0000 │ GICv3 ITS                     │ GIC_ITS_START, 128 KiB (only with a vITS)
//! 0x080a_0000 │ GICv3 redistributors          │ GIC_REDIST_START, 128 KiB per vCPU,
//!             │                               │ room for MAX_VCPUS = 123 vCPUs
//! 0x0900_0000 ├───────────────────────────────┤ SERIAL_START: 16550A UART (ns16550a), 4 KiB
//! 0x0901_0000 │ PL031 RTC                     │ RTC_START, 4 KiB
//! 0x0902_0000 │ test-exit register            │ TEST_EXIT_START, 4 KiB
//! 0x0903_0000 │ boot-timer register           │ BOOT_TIMER_START, 4 KiB
//! 0x0904_0000 │ PL061 GPIO (power button)     │ GPIO_START, 4 KiB
//! 0x0905_0000 │ (unused)                      │
//! 0x0fff_0000 │ PCI I/O space                 │ PCI_IO_START, 64 KiB (I/O ports 0..0xffff)
//! 0x1000_0000 ├───────────────────────────────┤ PCI_MMIO32_START: 32-bit PCI window, 512 MiB
//! 0x3000_0000 ├───────────────────────────────┤ PCI_ECAM_START: ECAM, 256 MiB, buses 0..=255
//! 0x4000_0000 ├───────────────────────────────┤ RAM_START: RAM, one contiguous region
//!             │ kernel Image, DTB, initrd     │ placed by `boot::plan_boot`
//!             ├───────────────────────────────┤ RAM end
//!             │ 64-bit PCI window             │ pci_mmio64_window: aligned, below 2^ipa_bits
//!             └───────────────────────────────┘
//! ```
//!
//! The low 1 GiB follows QEMU's `virt` machine where it can, so guest kernels and habits made
//! for `virt` apply. Two places differ: QEMU puts its PCI I/O space at 0x3eff_0000 and a 16 MiB
//! ECAM at 0x3f00_0000; ovmm keeps the full 256-bus ECAM at 0x3000_0000 (as on x86) and moves
//! the 64 KiB of I/O space just below the 32-bit window.
//!
//! Guest RAM starts at 1 GiB, so the identity DMA map (IOVA = guest physical address) never
//! touches the IOVA window Linux's SMMU drivers reserve for MSIs at 0x0800_0000..0x0810_0000.
//!
//! Interrupt numbers: the device tree names an SPI by its number `n` (INTID `n + 32`). KVM's
//! default arm64 routing maps irqfd GSI `n` to SPI `n`, so for irqfds the GSI is the SPI number;
//! `KVM_IRQ_LINE` wants the INTID instead ([`spi_intid`]).

use std::fmt;

use thiserror::Error;
use vm_memory::GuestAddress;

/// 1 KiB.
const KIB: u64 = 1 << 10;
/// 1 MiB.
const MIB: u64 = 1 << 20;
/// 1 GiB.
const GIB: u64 = 1 << 30;

// ---- interrupt controller -----------------------------------------------------------------

/// GICv3 distributor (GICD).
pub const GIC_DIST_START: GuestAddress = GuestAddress(0x0800_0000);
/// Size of the GICv3 distributor frame.
pub const GIC_DIST_SIZE: u64 = 64 * KIB;
/// GICv3 Interrupt Translation Service (MSI controller), present only when KVM gives a vITS.
pub const GIC_ITS_START: GuestAddress = GuestAddress(0x0808_0000);
/// Size of the ITS frame (control page and translater page, 64 KiB each).
pub const GIC_ITS_SIZE: u64 = 128 * KIB;
/// First GICv3 redistributor (GICR); one follows another for each vCPU.
pub const GIC_REDIST_START: GuestAddress = GuestAddress(0x080a_0000);
/// Size of one vCPU's redistributor (RD_base and SGI_base frames, 64 KiB each).
pub const GIC_REDIST_SIZE_PER_VCPU: u64 = 128 * KIB;
/// Room for redistributors: from [`GIC_REDIST_START`] up to the UART (15.375 MiB).
pub const GIC_REDIST_MAX_SIZE: u64 = SERIAL_START.0 - GIC_REDIST_START.0;
/// Most vCPUs this map supports: as many redistributors as fit below the UART,
/// (0x0900_0000 - 0x080a_0000) / 128 KiB = 123.
pub const MAX_VCPUS: u32 = (GIC_REDIST_MAX_SIZE / GIC_REDIST_SIZE_PER_VCPU) as u32;
/// Interrupts the vGIC is created with (`KVM_DEV_ARM_VGIC_GRP_NR_IRQS`): 32 private ones
/// (SGIs and PPIs) and 224 SPIs.
pub const GIC_NR_IRQS: u32 = 256;
/// INTID of SPI 0.
pub const GIC_SPI_INTID_BASE: u32 = 32;

// ---- platform devices ---------------------------------------------------------------------

/// The 16550A UART (`ns16550a`, byte-wide registers at offsets 0..=7).
pub const SERIAL_START: GuestAddress = GuestAddress(0x0900_0000);
/// Size of the UART's MMIO range.
pub const SERIAL_SIZE: u64 = 4 * KIB;
/// SPI of the UART.
pub const SERIAL_SPI: u32 = 1;
/// The PL031 real-time clock (an AMBA PrimeCell).
pub const RTC_START: GuestAddress = GuestAddress(0x0901_0000);
/// Size of the RTC's MMIO range.
pub const RTC_SIZE: u64 = 4 * KIB;
/// SPI of the RTC.
pub const RTC_SPI: u32 = 2;
/// Test-exit register: the first byte written anywhere in the page ends ovmm with that value
/// as its exit status.
pub const TEST_EXIT_START: GuestAddress = GuestAddress(0x0902_0000);
/// Size of the test-exit range.
pub const TEST_EXIT_SIZE: u64 = 4 * KIB;
/// Boot-timer register: a guest write there marks "userspace reached".
pub const BOOT_TIMER_START: GuestAddress = GuestAddress(0x0903_0000);
/// Size of the boot-timer range.
pub const BOOT_TIMER_SIZE: u64 = 4 * KIB;
/// The PL061 GPIO controller (an AMBA PrimeCell) that carries the power button.
pub const GPIO_START: GuestAddress = GuestAddress(0x0904_0000);
/// Size of the GPIO controller's MMIO range.
pub const GPIO_SIZE: u64 = 4 * KIB;
/// SPI of the GPIO controller (after the PCI INTx SPIs 3..=6).
pub const GPIO_SPI: u32 = 7;
/// The GPIO line of the power button (a `gpio-keys` key sending KEY_POWER), line 3 as on
/// QEMU's `virt`.
pub const GPIO_POWER_BUTTON_PIN: u8 = 3;
const _: () = assert!(GPIO_POWER_BUTTON_PIN < 8, "the PL061 has GPIO lines 0 to 7");

// ---- PCI ----------------------------------------------------------------------------------

/// PCI I/O space as seen by the CPU: I/O port `p` is at `PCI_IO_START + p`.
pub const PCI_IO_START: GuestAddress = GuestAddress(0x0fff_0000);
/// Size of the PCI I/O space (ports 0..=0xffff).
pub const PCI_IO_SIZE: u64 = 64 * KIB;
/// 32-bit PCI memory window (non-prefetchable; also holds small 64-bit BARs).
pub const PCI_MMIO32_START: GuestAddress = GuestAddress(0x1000_0000);
/// Size of the 32-bit PCI window.
pub const PCI_MMIO32_SIZE: u64 = 512 * MIB;
/// PCI Express enhanced configuration space (ECAM), segment 0.
pub const PCI_ECAM_START: GuestAddress = GuestAddress(0x3000_0000);
/// ECAM size: 256 buses of 32 devices of 8 functions of 4 KiB.
pub const PCI_ECAM_SIZE: u64 = 256 * MIB;
/// ECAM bytes per bus.
pub const PCI_ECAM_BUS_SIZE: u64 = MIB;
/// First of the four SPIs PCI INTx lines are swizzled onto (SPIs 3..=6).
pub const PCI_INTX_SPI_BASE: u32 = 3;
/// Number of SPIs for PCI INTx (one per pin).
pub const PCI_INTX_SPI_COUNT: u32 = 4;
/// Smallest alignment of the 64-bit PCI window.
pub const PCI_MMIO64_MIN_ALIGN: u64 = GIB;

// ---- RAM and boot -------------------------------------------------------------------------

/// Start of guest RAM (1 GiB).
pub const RAM_START: GuestAddress = GuestAddress(GIB);
/// The kernel Image goes `text_offset` bytes above a base aligned to this (arm64 boot protocol).
pub const KERNEL_BASE_ALIGN: u64 = 2 * MIB;
/// Largest device tree blob the arm64 boot protocol allows; ovmm reserves a whole 2 MiB-aligned
/// block of this size for it, so it never crosses a 2 MiB boundary.
pub const FDT_MAX_SIZE: u64 = 2 * MIB;
/// Alignment the boot protocol requires for the DTB.
pub const FDT_ALIGN: u64 = 8;
/// Smallest IPA size KVM arm64 accepts for a VM.
pub const MIN_IPA_BITS: u8 = 32;
/// Largest IPA size of the architecture (52-bit PA with LPA/LPA2).
pub const MAX_IPA_BITS: u8 = 52;

/// A range of guest physical addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestRange {
    /// First address.
    pub start: GuestAddress,
    /// Length in bytes.
    pub size: u64,
}

impl GuestRange {
    /// The range of `size` bytes from `start`.
    pub const fn new(start: GuestAddress, size: u64) -> Self {
        GuestRange { start, size }
    }

    /// One past the last address (saturates at 2^64).
    pub fn end(&self) -> u64 {
        self.start.0.saturating_add(self.size)
    }

    /// Whether the two ranges share an address (empty ranges share none).
    pub fn overlaps(&self, other: &GuestRange) -> bool {
        self.size > 0 && other.size > 0 && self.start.0 < other.end() && other.start.0 < self.end()
    }

    /// Whether `other` lies entirely inside this range.
    pub fn contains(&self, other: &GuestRange) -> bool {
        other.start.0 >= self.start.0 && other.end() <= self.end()
    }
}

impl fmt::Display for GuestRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:#x}..{:#x}) ({})",
            self.start.0,
            self.end(),
            ByteSize(self.size)
        )
    }
}

/// The GICv3 frames of a VM: what KVM's vGIC device and the device tree both need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicRegions {
    /// Distributor frame.
    pub distributor: GuestRange,
    /// All redistributors, one [`GIC_REDIST_SIZE_PER_VCPU`] frame per vCPU.
    pub redistributors: GuestRange,
    /// The ITS frame, when the VM has a vITS.
    pub its: Option<GuestRange>,
}

impl GicRegions {
    /// The standard frames for `vcpus` vCPUs, with or without an ITS.
    pub fn for_vcpus(vcpus: u32, with_its: bool) -> Result<Self, LayoutError> {
        if vcpus == 0 || vcpus > MAX_VCPUS {
            return Err(LayoutError::VcpuCount {
                count: vcpus,
                max: MAX_VCPUS,
            });
        }
        Ok(GicRegions {
            distributor: GuestRange::new(GIC_DIST_START, GIC_DIST_SIZE),
            redistributors: GuestRange::new(
                GIC_REDIST_START,
                u64::from(vcpus) * GIC_REDIST_SIZE_PER_VCPU,
            ),
            its: with_its.then_some(GuestRange::new(GIC_ITS_START, GIC_ITS_SIZE)),
        })
    }
}

/// A byte count shown as "64 GiB", "4 KiB" or "0x1800 bytes" in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 5] = [
            ("PiB", 50),
            ("TiB", 40),
            ("GiB", 30),
            ("MiB", 20),
            ("KiB", 10),
        ];
        for (unit, shift) in UNITS {
            let scale = 1u64 << shift;
            if self.0 >= scale && self.0 % scale == 0 {
                return write!(f, "{} {unit}", self.0 >> shift);
            }
        }
        write!(f, "{:#x} bytes", self.0)
    }
}

/// Why a layout request cannot be met.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LayoutError {
    /// The vCPU count is zero or needs more redistributors than fit below the UART.
    #[error("{count} vCPUs: the arm64 layout has redistributor room for 1 to {max}")]
    VcpuCount {
        /// Requested vCPUs.
        count: u32,
        /// [`MAX_VCPUS`].
        max: u32,
    },
    /// The IPA size is outside what KVM arm64 can give a VM.
    #[error("IPA size of {ipa_bits} bits is outside {MIN_IPA_BITS}..={MAX_IPA_BITS}")]
    IpaBits {
        /// Requested IPA bits.
        ipa_bits: u8,
    },
    /// A BAR size is not a power of two.
    #[error("largest 64-bit BAR size {} is not a power of two", ByteSize(*.size))]
    BarSize {
        /// The rejected size.
        size: u64,
    },
    /// The window asked for is empty or smaller than the largest BAR it must hold.
    #[error(
        "64-bit PCI window of {} cannot hold the largest BAR ({})",
        ByteSize(*.wanted),
        ByteSize(*.largest_bar)
    )]
    WindowTooSmall {
        /// Requested window size.
        wanted: u64,
        /// Largest BAR.
        largest_bar: u64,
    },
    /// The window does not fit between the end of RAM and the top of the IPA space.
    #[error(
        "64-bit PCI window of {} (largest BAR {}) does not fit: aligned to {} above RAM \
         (ending at {ram_end:#x}) it would start at {base:#x}, and the {ipa_bits}-bit IPA space \
         ends at {:#x}",
        ByteSize(*.wanted),
        ByteSize(*.largest_bar),
        ByteSize(*.align),
        1u128 << *.ipa_bits
    )]
    Mmio64DoesNotFit {
        /// Requested window size.
        wanted: u64,
        /// Largest BAR.
        largest_bar: u64,
        /// End of guest RAM.
        ram_end: u64,
        /// Alignment the window needed.
        align: u64,
        /// Where the window would have started (saturated at 2^64).
        base: u64,
        /// The VM's IPA size.
        ipa_bits: u8,
    },
}

/// Guest RAM regions for `mem_size` bytes of RAM: one region from [`RAM_START`] (none for
/// zero bytes). Whether it fits the VM's IPA space is the caller's check ([`max_ram_size`]).
pub fn ram_regions(mem_size: u64) -> Vec<(GuestAddress, u64)> {
    if mem_size == 0 {
        return Vec::new();
    }
    vec![(RAM_START, mem_size)]
}

/// Most RAM an `ipa_bits`-bit IPA space can hold above [`RAM_START`] (leaving no room for a
/// 64-bit PCI window).
pub fn max_ram_size(ipa_bits: u8) -> Result<u64, LayoutError> {
    check_ipa_bits(ipa_bits)?;
    Ok((1u64 << ipa_bits) - RAM_START.0)
}

/// SPI `spi` as a GIC INTID, the number `KVM_IRQ_LINE` wants for an SPI.
pub const fn spi_intid(spi: u32) -> u32 {
    GIC_SPI_INTID_BASE + spi
}

/// Places the 64-bit PCI window: `wanted` bytes from the first address at or above `ram_end`
/// aligned to the larger of 1 GiB and `largest_bar`, ending at or below 2^`ipa_bits`.
/// Returns `(base, size)` with `size == wanted`.
///
/// `largest_bar` must be a power of two no larger than `wanted`; with aligned placement every
/// BAR of at most that size can then sit naturally aligned inside the window.
pub fn pci_mmio64_window(
    ram_end: u64,
    ipa_bits: u8,
    wanted: u64,
    largest_bar: u64,
) -> Result<(u64, u64), LayoutError> {
    check_ipa_bits(ipa_bits)?;
    if !largest_bar.is_power_of_two() {
        return Err(LayoutError::BarSize { size: largest_bar });
    }
    if wanted < largest_bar {
        return Err(LayoutError::WindowTooSmall {
            wanted,
            largest_bar,
        });
    }
    let align = largest_bar.max(PCI_MMIO64_MIN_ALIGN);
    let limit = 1u64 << ipa_bits;
    let base = align_up(ram_end, align);
    match base {
        Some(base) if base <= limit && wanted <= limit - base => Ok((base, wanted)),
        _ => Err(LayoutError::Mmio64DoesNotFit {
            wanted,
            largest_bar,
            ram_end,
            align,
            base: base.unwrap_or(u64::MAX),
            ipa_bits,
        }),
    }
}

/// `value` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn align_up(value: u64, align: u64) -> Option<u64> {
    debug_assert!(align.is_power_of_two());
    value.checked_add(align - 1).map(|v| v & !(align - 1))
}

fn check_ipa_bits(ipa_bits: u8) -> Result<(), LayoutError> {
    if (MIN_IPA_BITS..=MAX_IPA_BITS).contains(&ipa_bits) {
        Ok(())
    } else {
        Err(LayoutError::IpaBits { ipa_bits })
    }
}

#[cfg(test)]
mod tests;
