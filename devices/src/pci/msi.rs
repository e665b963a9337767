//! The MSI capability: its layout (32- or 64-bit address, per-vector masking, how many
//! messages) and the vectors the guest programmed in it.
//!
//! The registers themselves live in the function's [`PciConfigSpace`]: [`MsiCap::install`]
//! sets their initial values and write masks, guest writes go through the config space's
//! masking, and [`MsiCap::vectors`] reads back what the guest left there.

use super::config_space::PciConfigSpace;
use super::interrupt::{MsiMessage, MsiVector};

/// Capability ID of MSI.
pub const MSI_CAP_ID: u8 = 0x05;

const CONTROL: u16 = 0x2;
const ADDRESS_LO: u16 = 0x4;
const CTRL_ENABLE: u16 = 0x1;
const CTRL_MMC_SHIFT: u16 = 1;
const CTRL_MME_SHIFT: u16 = 4;
const CTRL_MME_MASK: u16 = 0x7 << CTRL_MME_SHIFT;
const CTRL_64BIT: u16 = 0x80;
const CTRL_PER_VECTOR_MASK: u16 = 0x100;
const CTRL_EXT_DATA_ENABLE: u16 = 0x400;

/// Where an MSI capability sits and which optional parts it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiCap {
    offset: u16,
    control: u16,
}

impl MsiCap {
    /// Reads the layout of the MSI capability at `offset` from its message control register.
    pub fn parse(config: &PciConfigSpace, offset: u16) -> Self {
        MsiCap {
            offset,
            control: config.read_u16(offset + CONTROL),
        }
    }

    /// Offset of the capability header.
    pub fn offset(&self) -> u16 {
        self.offset
    }

    /// Whether the message address has an upper dword.
    pub fn is_64bit(&self) -> bool {
        self.control & CTRL_64BIT != 0
    }

    /// Whether the capability has mask and pending registers.
    pub fn per_vector_mask(&self) -> bool {
        self.control & CTRL_PER_VECTOR_MASK != 0
    }

    /// How many vectors the function can use (multiple message capable), 1 to 32.
    pub fn max_vectors(&self) -> u32 {
        1 << ((self.control >> CTRL_MMC_SHIFT) & 0x7).min(5)
    }

    /// Length of the capability in bytes.
    pub fn size(&self) -> u16 {
        match (self.is_64bit(), self.per_vector_mask()) {
            (false, false) => 0x0a,
            (true, false) => 0x0e,
            (false, true) => 0x14,
            (true, true) => 0x18,
        }
    }

    /// Offset of the mask bits register, if the capability has one.
    pub fn mask_offset(&self) -> Option<u16> {
        let at = if self.is_64bit() { 0x10 } else { 0x0c };
        self.per_vector_mask().then_some(self.offset + at)
    }

    /// Offset of the pending bits register, if the capability has one.
    pub fn pending_offset(&self) -> Option<u16> {
        self.mask_offset().map(|mask| mask + 4)
    }

    /// Whether an access of `len` bytes at `offset` touches the capability.
    pub fn overlaps(&self, offset: u16, len: usize) -> bool {
        overlaps(self.offset, self.size(), offset, len)
    }

    /// Resets the registers (disabled, address and data 0, every vector unmasked) and makes
    /// writable exactly what the guest may program: enable, multiple message enable, address,
    /// data and the mask bits of existing vectors.
    pub fn install(&self, config: &mut PciConfigSpace) {
        let control = self.control & !(CTRL_ENABLE | CTRL_MME_MASK | CTRL_EXT_DATA_ENABLE);
        config.set_u16(self.offset + CONTROL, control);
        config.set_writable_u16(self.offset + CONTROL, CTRL_ENABLE | CTRL_MME_MASK);
        config.set_u32(self.offset + ADDRESS_LO, 0);
        config.set_writable_u32(self.offset + ADDRESS_LO, 0xffff_fffc);
        if self.is_64bit() {
            config.set_u32(self.offset + ADDRESS_LO + 4, 0);
            config.set_writable_u32(self.offset + ADDRESS_LO + 4, u32::MAX);
        }
        // Message data is 16 bits; the extended data half stays 0 and read-only.
        config.set_u32(self.data_offset(), 0);
        config.set_writable_u32(self.data_offset(), 0xffff);
        if let (Some(mask), Some(pending)) = (self.mask_offset(), self.pending_offset()) {
            let vector_bits = u32::MAX >> (32 - self.max_vectors());
            config.set_u32(mask, 0);
            config.set_writable_u32(mask, vector_bits);
            config.set_u32(pending, 0);
            config.set_writable_u32(pending, 0);
        }
    }

    /// Whether the guest enabled MSI.
    pub fn enabled(&self, config: &PciConfigSpace) -> bool {
        config.read_u16(self.offset + CONTROL) & CTRL_ENABLE != 0
    }

    /// The vectors the guest enabled (2^multiple-message-enable, at most
    /// [`Self::max_vectors`]): vector `i` carries the programmed data with its low bits
    /// replaced by `i`, and is masked while MSI is disabled or its mask bit is set.
    pub fn vectors(&self, config: &PciConfigSpace) -> Vec<MsiVector> {
        let control = config.read_u16(self.offset + CONTROL);
        let enabled = control & CTRL_ENABLE != 0;
        let count = (1u32 << ((control & CTRL_MME_MASK) >> CTRL_MME_SHIFT)).min(self.max_vectors());
        let low = u64::from(config.read_u32(self.offset + ADDRESS_LO));
        let high = match self.is_64bit() {
            true => u64::from(config.read_u32(self.offset + ADDRESS_LO + 4)),
            false => 0,
        };
        let data = u32::from(config.read_u16(self.data_offset()));
        let mask_bits = self.mask_offset().map_or(0, |at| config.read_u32(at));
        (0..count)
            .map(|i| MsiVector {
                message: MsiMessage {
                    address: (high << 32) | low,
                    data: (data & !(count - 1)) | i,
                },
                masked: !enabled || mask_bits & (1 << i) != 0,
            })
            .collect()
    }

    fn data_offset(&self) -> u16 {
        self.offset + if self.is_64bit() { 0x0c } else { 0x08 }
    }
}

/// Whether `[offset, offset + len)` and `[start, start + size)` intersect.
pub(crate) fn overlaps(start: u16, size: u16, offset: u16, len: usize) -> bool {
    let (start, end) = (usize::from(start), usize::from(start) + usize::from(size));
    let offset = usize::from(offset);
    offset < end && offset + len > start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space_with(offset: u16, control: u16) -> PciConfigSpace {
        let mut config = PciConfigSpace::new();
        config.set_u8(offset, MSI_CAP_ID);
        config.set_u16(offset + 2, control);
        config
    }

    fn write(config: &mut PciConfigSpace, offset: u16, value: u32) {
        config.write(offset, &value.to_le_bytes());
    }

    #[test]
    fn layouts() {
        let cap = MsiCap::parse(&space_with(0x50, 0x0000), 0x50);
        assert_eq!(
            (cap.size(), cap.max_vectors(), cap.mask_offset()),
            (0x0a, 1, None)
        );
        // 64-bit, per-vector mask, 8 vectors capable.
        let cap = MsiCap::parse(&space_with(0x50, 0x0186), 0x50);
        assert!(cap.is_64bit() && cap.per_vector_mask());
        assert_eq!(cap.size(), 0x18);
        assert_eq!(cap.max_vectors(), 8);
        assert_eq!(cap.mask_offset(), Some(0x60));
        assert_eq!(cap.pending_offset(), Some(0x64));
        let cap = MsiCap::parse(&space_with(0x50, 0x0100), 0x50);
        assert_eq!((cap.size(), cap.mask_offset()), (0x14, Some(0x5c)));
        assert!(cap.overlaps(0x60, 4) && cap.overlaps(0x4e, 4));
        assert!(!cap.overlaps(0x64, 4) && !cap.overlaps(0x4c, 4));
    }

    #[test]
    fn install_sets_masks() {
        let mut config = space_with(0x50, 0x0187 | 0x0470);
        let cap = MsiCap::parse(&config, 0x50);
        cap.install(&mut config);
        // Enable, MME and extended data enable cleared; capability bits kept.
        assert_eq!(config.read_u16(0x52), 0x0186);
        assert_eq!(config.writable_u32(0x50), 0x0071 << 16);
        assert_eq!(config.writable_u32(0x54), 0xffff_fffc);
        assert_eq!(config.writable_u32(0x58), u32::MAX);
        assert_eq!(config.writable_u32(0x5c), 0xffff);
        assert_eq!(config.writable_u32(0x60), 0xff);
        assert_eq!(config.writable_u32(0x64), 0);
        assert!(!cap.enabled(&config));
    }

    #[test]
    fn vectors_follow_guest_programming() {
        let mut config = space_with(0x50, 0x0186);
        let cap = MsiCap::parse(&config, 0x50);
        cap.install(&mut config);
        write(&mut config, 0x54, 0xfee0_100f);
        write(&mut config, 0x58, 0x1);
        write(&mut config, 0x5c, 0xdead_4123);
        write(&mut config, 0x60, 0b0110_0110);
        // Disabled, MME = 0: one vector, masked.
        let vectors = cap.vectors(&config);
        assert_eq!(vectors.len(), 1);
        assert!(vectors[0].masked);
        // Enable with MME = 2 (four vectors); the data's low two bits carry the vector.
        config.write(0x52, &0x0021u16.to_le_bytes());
        let vectors = cap.vectors(&config);
        let expected: Vec<_> = [
            (0x4120, false),
            (0x4121, true),
            (0x4122, true),
            (0x4123, false),
        ]
        .iter()
        .map(|&(data, masked)| MsiVector {
            message: MsiMessage {
                address: 0x1_fee0_100c,
                data,
            },
            masked,
        })
        .collect();
        assert_eq!(vectors, expected);
        // MME beyond the capability is clamped to 8 vectors.
        config.write(0x52, &0x0071u16.to_le_bytes());
        assert_eq!(cap.vectors(&config).len(), 8);
    }

    #[test]
    fn vectors_of_a_32bit_capability() {
        let mut config = space_with(0x68, 0x0000);
        let cap = MsiCap::parse(&config, 0x68);
        cap.install(&mut config);
        write(&mut config, 0x6c, 0xfee0_0000);
        write(&mut config, 0x70, 0x0041);
        config.write(0x6a, &0x0071u16.to_le_bytes());
        let vectors = cap.vectors(&config);
        assert_eq!(
            vectors,
            vec![MsiVector {
                message: MsiMessage {
                    address: 0xfee0_0000,
                    data: 0x41
                },
                masked: false
            }]
        );
    }
}
