//! Base address registers: what a BAR is (kind, size, prefetchable flag, address), how its
//! register bits encode that, and the errors of placing one.

use std::fmt;

/// Number of regular BARs in a type-0 header.
pub const BAR_COUNT: u8 = 6;
/// The index ovmm uses for the expansion ROM BAR (register 0x30), as VFIO does.
pub const ROM_BAR: u8 = 6;

/// I/O space indicator (bit 0 of an I/O BAR).
const IO_SPACE: u32 = 0x1;
/// Memory type "64-bit" (bits 2:1 = 0b10 of a memory BAR).
const MEM_TYPE_64: u32 = 0x4;
/// Prefetchable (bit 3 of a memory BAR).
const PREFETCHABLE: u32 = 0x8;
/// Enable bit of the expansion ROM BAR.
pub const ROM_ENABLE: u32 = 0x1;

/// What kind of space a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// Port I/O.
    Io,
    /// Memory below 4 GiB (one register).
    Memory32,
    /// Memory anywhere (a pair of registers: this index and the next).
    Memory64,
    /// The expansion ROM (register 0x30; memory, enabled by its own bit).
    Rom,
}

impl fmt::Display for BarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BarKind::Io => "I/O",
            BarKind::Memory32 => "32-bit memory",
            BarKind::Memory64 => "64-bit memory",
            BarKind::Rom => "expansion ROM",
        })
    }
}

/// One BAR of a function: its index, kind, size, flags and the address programmed in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarInfo {
    /// 0..=5 for regular BARs (the lower index of a 64-bit pair), [`ROM_BAR`] for the ROM.
    pub index: u8,
    /// The space it decodes.
    pub kind: BarKind,
    /// Size in bytes, a power of two.
    pub size: u64,
    /// Prefetchable flag of a memory BAR.
    pub prefetchable: bool,
    /// The address currently in the register (flag bits removed). It decodes there only
    /// while the command register enables its space; see
    /// [`crate::pci::config_space::PciConfigSpace::bar_mapping`].
    pub address: u64,
}

impl BarInfo {
    /// A BAR of `kind` and `size` at index `index`, not placed yet.
    pub fn new(index: u8, kind: BarKind, size: u64, prefetchable: bool) -> Self {
        BarInfo {
            index,
            kind,
            size,
            prefetchable,
            address: 0,
        }
    }

    /// Offset of the (lower) register of this BAR in config space.
    pub fn register(&self) -> u16 {
        match self.kind {
            BarKind::Rom => 0x30,
            _ => 0x10 + 4 * u16::from(self.index),
        }
    }

    /// Whether the BAR decodes memory (the ROM included) rather than I/O ports.
    pub fn is_memory(&self) -> bool {
        self.kind != BarKind::Io
    }

    /// The read-only low bits of the (lower) register: space, type and prefetchable flags.
    pub fn flag_bits(&self) -> u32 {
        let prefetch = if self.prefetchable { PREFETCHABLE } else { 0 };
        match self.kind {
            BarKind::Io => IO_SPACE,
            BarKind::Memory32 => prefetch,
            BarKind::Memory64 => MEM_TYPE_64 | prefetch,
            BarKind::Rom => 0,
        }
    }

    /// The bits of the (lower) register that hold flags rather than address bits.
    pub fn low_flag_mask(&self) -> u32 {
        match self.kind {
            BarKind::Io => 0x3,
            BarKind::Memory32 | BarKind::Memory64 => 0xf,
            BarKind::Rom => 0x7ff,
        }
    }

    /// Address bits the guest can set: every bit at or above the size, within the
    /// register width (32 bits, 64 for a pair). This is also what an all-ones size probe
    /// leaves in the address bits.
    pub fn address_mask(&self) -> u64 {
        let mask = !self.size.wrapping_sub(1);
        match self.kind {
            BarKind::Memory64 => mask,
            _ => mask & u64::from(!self.low_flag_mask()),
        }
    }

    /// The first address past what the register can hold.
    pub fn address_limit(&self) -> u128 {
        match self.kind {
            BarKind::Memory64 => 1u128 << 64,
            _ => 1u128 << 32,
        }
    }

    /// Checks that the BAR can exist at its index with its size.
    pub fn validate(&self) -> Result<(), BarError> {
        let bar = self.index;
        let index_ok = match self.kind {
            BarKind::Rom => bar == ROM_BAR,
            BarKind::Memory64 => bar < BAR_COUNT - 1,
            BarKind::Io | BarKind::Memory32 => bar < BAR_COUNT,
        };
        if !index_ok {
            return Err(BarError::BadIndex {
                bar,
                kind: self.kind,
            });
        }
        let (min, max) = match self.kind {
            BarKind::Io => (4, 1u64 << 31),
            BarKind::Memory32 => (16, 1u64 << 31),
            BarKind::Memory64 => (16, 1u64 << 63),
            BarKind::Rom => (2048, 1u64 << 31),
        };
        if !self.size.is_power_of_two() || self.size < min || self.size > max {
            return Err(BarError::BadSize {
                bar,
                kind: self.kind,
                size: self.size,
                min,
                max,
            });
        }
        Ok(())
    }

    /// Checks that the BAR can be placed at `address`.
    pub fn check_address(&self, address: u64) -> Result<(), BarError> {
        if self.size == 0 || address % self.size != 0 {
            return Err(BarError::Misaligned {
                bar: self.index,
                address,
                size: ByteSize(self.size),
            });
        }
        if u128::from(address) + u128::from(self.size) > self.address_limit() {
            return Err(BarError::OutOfRange {
                bar: self.index,
                kind: self.kind,
                address,
                size: ByteSize(self.size),
            });
        }
        Ok(())
    }
}

/// A BAR started, stopped or moved decoding: the VMM unmaps it at `old` and maps it at `new`.
///
/// `None` means "not decoding": the command register has its space disabled, the ROM enable
/// bit is clear, or the register holds 0 or an all-ones size probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarRemap {
    /// The BAR index ([`ROM_BAR`] for the ROM).
    pub bar: u8,
    /// Its kind (I/O BARs go on the port I/O bus, the others on the MMIO bus).
    pub kind: BarKind,
    /// Its size in bytes.
    pub size: u64,
    /// Where it decoded before the write.
    pub old: Option<u64>,
    /// Where it decodes after the write.
    pub new: Option<u64>,
}

/// Errors from declaring or placing a BAR.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BarError {
    /// The index cannot hold this kind of BAR (a 64-bit BAR at 5, a ROM outside 6, ...).
    #[error("BAR {bar} cannot be a {kind} BAR")]
    BadIndex {
        /// The index asked for.
        bar: u8,
        /// The kind asked for.
        kind: BarKind,
    },
    /// The size is not a power of two or is outside what the BAR kind can decode.
    #[error("BAR {bar} ({kind}) has size {size:#x}, not a power of two in {min:#x}..={max:#x}")]
    BadSize {
        /// The BAR index.
        bar: u8,
        /// Its kind.
        kind: BarKind,
        /// The rejected size.
        size: u64,
        /// Smallest size of this kind.
        min: u64,
        /// Largest size of this kind.
        max: u64,
    },
    /// The index (or the upper half of a 64-bit BAR) is already used by another BAR.
    #[error("BAR {bar} is already in use")]
    Taken {
        /// The BAR index.
        bar: u8,
    },
    /// No BAR with this index exists.
    #[error("BAR {bar} does not exist")]
    NoSuchBar {
        /// The BAR index.
        bar: u8,
    },
    /// The address is not a multiple of the BAR size.
    #[error("address {address:#x} for BAR {bar} is not aligned to its size ({size})")]
    Misaligned {
        /// The BAR index.
        bar: u8,
        /// The rejected address.
        address: u64,
        /// The BAR size.
        size: ByteSize,
    },
    /// The BAR would end beyond what its register can address (4 GiB for 32-bit BARs).
    #[error("BAR {bar} ({kind}, {size}) at {address:#x} does not fit its address width")]
    OutOfRange {
        /// The BAR index.
        bar: u8,
        /// Its kind.
        kind: BarKind,
        /// The rejected address.
        address: u64,
        /// The BAR size.
        size: ByteSize,
    },
}

/// A byte count shown as "64 GiB", "4 KiB" or "0x1800 bytes" in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 6] = [
            ("EiB", 60),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_flags_per_kind() {
        let io = BarInfo::new(4, BarKind::Io, 0x20, false);
        assert_eq!(io.register(), 0x20);
        assert_eq!(io.flag_bits(), 0x1);
        assert_eq!(io.address_mask(), 0xffff_ffe0);

        let mem = BarInfo::new(0, BarKind::Memory32, 0x2_0000, true);
        assert_eq!(mem.flag_bits(), 0x8);
        assert_eq!(mem.address_mask(), 0xfffe_0000);

        let mem64 = BarInfo::new(2, BarKind::Memory64, 64 << 30, true);
        assert_eq!(mem64.flag_bits(), 0xc);
        assert_eq!(mem64.address_mask(), 0xffff_fff0_0000_0000);

        let rom = BarInfo::new(ROM_BAR, BarKind::Rom, 0x1_0000, false);
        assert_eq!(rom.register(), 0x30);
        assert_eq!(rom.address_mask(), 0xffff_0000);
    }

    #[test]
    fn validation_names_the_problem() {
        assert_eq!(
            BarInfo::new(5, BarKind::Memory64, 0x1000, false).validate(),
            Err(BarError::BadIndex {
                bar: 5,
                kind: BarKind::Memory64
            })
        );
        assert_eq!(
            BarInfo::new(0, BarKind::Memory32, 0x3000, false).validate(),
            Err(BarError::BadSize {
                bar: 0,
                kind: BarKind::Memory32,
                size: 0x3000,
                min: 16,
                max: 1 << 31
            })
        );
        assert!(BarInfo::new(1, BarKind::Io, 2, false).validate().is_err());
        assert!(BarInfo::new(6, BarKind::Memory32, 16, false)
            .validate()
            .is_err());
        assert!(BarInfo::new(4, BarKind::Memory64, 1 << 40, true)
            .validate()
            .is_ok());
    }

    #[test]
    fn placement_checks() {
        let bar = BarInfo::new(0, BarKind::Memory32, 0x1000, false);
        assert!(bar.check_address(0xc000_0000).is_ok());
        assert_eq!(
            bar.check_address(0xc000_0800),
            Err(BarError::Misaligned {
                bar: 0,
                address: 0xc000_0800,
                size: ByteSize(0x1000)
            })
        );
        assert!(bar.check_address(0x1_0000_0000).is_err());
        assert!(bar.check_address(0xffff_f000).is_ok());
        let big = BarInfo::new(2, BarKind::Memory64, 64 << 30, false);
        assert!(big.check_address(0x40_0000_0000).is_ok());
        assert!(big.check_address(0xffff_fff0_0000_0000).is_ok());
        let err = big.check_address(0x40_0000_1000).unwrap_err().to_string();
        assert_eq!(
            err,
            "address 0x4000001000 for BAR 2 is not aligned to its size (64 GiB)"
        );
    }

    #[test]
    fn byte_size_display() {
        assert_eq!(ByteSize(64 << 30).to_string(), "64 GiB");
        assert_eq!(ByteSize(4096).to_string(), "4 KiB");
        assert_eq!(ByteSize(0x1800).to_string(), "6 KiB");
        assert_eq!(ByteSize(0x1801).to_string(), "0x1801 bytes");
        assert_eq!(ByteSize(0).to_string(), "0x0 bytes");
    }
}
