//! MSI-X: the capability (where the table and the pending-bit array live, the enable and
//! function-mask bits) and an emulated vector table.
//!
//! The capability registers live in the function's [`PciConfigSpace`]
//! ([`MsixCap::install`] sets their write masks). The table is kept here, in
//! [`MsixTable`], because the guest reaches it through a BAR, not through config space; the
//! pending-bit array is computed on read from the caller's idea of what is pending.

use super::config_space::PciConfigSpace;
use super::interrupt::{MsiMessage, MsiVector};
use super::msi::overlaps;

/// Capability ID of MSI-X.
pub const MSIX_CAP_ID: u8 = 0x11;
/// Length of the MSI-X capability.
pub const MSIX_CAP_LEN: u16 = 12;
/// Size of one table entry.
pub const MSIX_ENTRY_SIZE: u64 = 16;

const CONTROL: u16 = 0x2;
const TABLE: u16 = 0x4;
const PBA: u16 = 0x8;
const CTRL_ENABLE: u16 = 0x8000;
const CTRL_FUNCTION_MASK: u16 = 0x4000;
const CTRL_TABLE_SIZE: u16 = 0x7ff;
const BIR_MASK: u32 = 0x7;
const ENTRY_MASKED: u32 = 0x1;

/// The enable and function-mask bits of the message control register.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsixControl {
    /// MSI-X enable.
    pub enabled: bool,
    /// Function mask: every vector masked regardless of its own mask bit.
    pub function_masked: bool,
}

/// Where an MSI-X capability, its table and its PBA are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsixCap {
    /// Offset of the capability header in config space.
    pub offset: u16,
    /// Number of table entries (1 to 2048).
    pub table_size: u16,
    /// BAR holding the table.
    pub table_bar: u8,
    /// Offset of the table in that BAR.
    pub table_offset: u64,
    /// BAR holding the pending-bit array.
    pub pba_bar: u8,
    /// Offset of the pending-bit array in that BAR.
    pub pba_offset: u64,
}

impl MsixCap {
    /// Reads the MSI-X capability at `offset`.
    pub fn parse(config: &PciConfigSpace, offset: u16) -> Self {
        let control = config.read_u16(offset + CONTROL);
        let table = config.read_u32(offset + TABLE);
        let pba = config.read_u32(offset + PBA);
        MsixCap {
            offset,
            table_size: (control & CTRL_TABLE_SIZE) + 1,
            table_bar: (table & BIR_MASK) as u8,
            table_offset: u64::from(table & !BIR_MASK),
            pba_bar: (pba & BIR_MASK) as u8,
            pba_offset: u64::from(pba & !BIR_MASK),
        }
    }

    /// Bytes taken by the table.
    pub fn table_len(&self) -> u64 {
        u64::from(self.table_size) * MSIX_ENTRY_SIZE
    }

    /// Bytes taken by the pending-bit array (one bit per vector, in qwords).
    pub fn pba_len(&self) -> u64 {
        u64::from(self.table_size).div_ceil(64) * 8
    }

    /// Whether an access of `len` bytes at `offset` touches the capability.
    pub fn overlaps(&self, offset: u16, len: usize) -> bool {
        overlaps(self.offset, MSIX_CAP_LEN, offset, len)
    }

    /// Clears enable and function mask and makes only those two bits writable; the table
    /// size, table and PBA locations stay read-only.
    pub fn install(&self, config: &mut PciConfigSpace) {
        let control = config.read_u16(self.offset + CONTROL) & CTRL_TABLE_SIZE;
        config.set_u16(self.offset + CONTROL, control);
        config.set_writable_u16(self.offset + CONTROL, CTRL_ENABLE | CTRL_FUNCTION_MASK);
        config.set_writable_u32(self.offset + TABLE, 0);
        config.set_writable_u32(self.offset + PBA, 0);
    }

    /// The enable and function-mask bits as the guest left them.
    pub fn control(&self, config: &PciConfigSpace) -> MsixControl {
        let control = config.read_u16(self.offset + CONTROL);
        MsixControl {
            enabled: control & CTRL_ENABLE != 0,
            function_masked: control & CTRL_FUNCTION_MASK != 0,
        }
    }
}

/// The emulated MSI-X table: per entry, message address (low, high), data, vector control.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsixTable {
    entries: Vec<[u32; 4]>,
}

impl MsixTable {
    /// A table of `size` entries, all zero and masked (the reset state).
    pub fn new(size: u16) -> Self {
        MsixTable {
            entries: vec![[0, 0, 0, ENTRY_MASKED]; usize::from(size)],
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads at `offset` from the start of the table; bytes past the table read as 0.
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = self
                .locate(offset + i as u64)
                .map_or(0, |(entry, field, shift)| {
                    (self.entries[entry][field] >> shift) as u8
                });
        }
    }

    /// Writes at `offset` from the start of the table. The low two address bits and every
    /// vector-control bit but the mask are read-only. Returns the vectors whose programming
    /// changed, in order.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Vec<u16> {
        let mut changed: Vec<u16> = Vec::new();
        for (i, &value) in data.iter().enumerate() {
            let Some((entry, field, shift)) = self.locate(offset + i as u64) else {
                continue;
            };
            let writable = match field {
                0 => 0xffff_fffc,
                3 => ENTRY_MASKED,
                _ => u32::MAX,
            } & (0xff << shift);
            let word = &mut self.entries[entry][field];
            let new = (*word & !writable) | ((u32::from(value) << shift) & writable);
            if new != *word {
                *word = new;
                let vector = entry as u16;
                if !changed.contains(&vector) {
                    changed.push(vector);
                }
            }
        }
        changed
    }

    /// The programming of vector `index` under `control` (masked when MSI-X is disabled, the
    /// function is masked or the entry is masked). `None` past the table.
    pub fn vector(&self, index: u16, control: MsixControl) -> Option<MsiVector> {
        let [low, high, data, vector_control] = *self.entries.get(usize::from(index))?;
        Some(MsiVector {
            message: MsiMessage {
                address: (u64::from(high) << 32) | u64::from(low),
                data,
            },
            masked: !control.enabled
                || control.function_masked
                || vector_control & ENTRY_MASKED != 0,
        })
    }

    fn locate(&self, offset: u64) -> Option<(usize, usize, u32)> {
        let entry = usize::try_from(offset / MSIX_ENTRY_SIZE).ok()?;
        (entry < self.entries.len()).then(|| {
            let within = (offset % MSIX_ENTRY_SIZE) as usize;
            (entry, within / 4, 8 * (within % 4) as u32)
        })
    }
}

/// Reads the pending-bit array at `offset`: bit `n` is `pending(n)` for the `vectors`
/// vectors of the table, 0 beyond.
pub fn read_pba(offset: u64, data: &mut [u8], vectors: u16, pending: impl Fn(u16) -> bool) {
    for (i, byte) in data.iter_mut().enumerate() {
        let first = (offset + i as u64) * 8;
        *byte = (0..8u64)
            .filter(|bit| {
                let vector = first + bit;
                vector < u64::from(vectors) && pending(vector as u16)
            })
            .fold(0, |acc, bit| acc | (1 << bit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_an_e1000e() {
        // e1000e: 5 vectors, table at BAR 3 offset 0, PBA at BAR 3 offset 0x2000.
        let mut config = PciConfigSpace::new();
        config.set_u8(0xa0, MSIX_CAP_ID);
        config.set_u16(0xa2, 0xc004);
        config.set_u32(0xa4, 0x0000_0003);
        config.set_u32(0xa8, 0x0000_2003);
        let cap = MsixCap::parse(&config, 0xa0);
        assert_eq!(
            cap,
            MsixCap {
                offset: 0xa0,
                table_size: 5,
                table_bar: 3,
                table_offset: 0,
                pba_bar: 3,
                pba_offset: 0x2000
            }
        );
        assert_eq!((cap.table_len(), cap.pba_len()), (80, 8));
        cap.install(&mut config);
        assert_eq!(config.read_u16(0xa2), 0x0004);
        assert_eq!(cap.control(&config), MsixControl::default());
        config.write(0xa0, &u32::MAX.to_le_bytes());
        config.write(0xa4, &u64::MAX.to_le_bytes());
        assert_eq!(config.read_u32(0xa0), 0xc004_0000 | u32::from(MSIX_CAP_ID));
        assert_eq!(config.read_u32(0xa4), 3);
        assert_eq!(config.read_u32(0xa8), 0x2003);
        assert_eq!(
            cap.control(&config),
            MsixControl {
                enabled: true,
                function_masked: true
            }
        );
        assert!(cap.overlaps(0xa8, 4) && !cap.overlaps(0xac, 4));
    }

    #[test]
    fn table_reads_and_writes() {
        let mut table = MsixTable::new(4);
        let mut entry = [0u8; 16];
        table.read(16, &mut entry);
        assert_eq!(entry, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(table.write(16, &0xfee0_1003u32.to_le_bytes()), vec![1]);
        assert_eq!(table.write(20, &0u32.to_le_bytes()), Vec::<u16>::new());
        assert_eq!(table.write(24, &0x4041u32.to_le_bytes()), vec![1]);
        // Only the mask bit of vector control is writable.
        assert_eq!(table.write(28, &0xffff_fffeu32.to_le_bytes()), vec![1]);
        let mut word = [0u8; 4];
        table.read(28, &mut word);
        assert_eq!(u32::from_le_bytes(word), 0);
        let on = MsixControl {
            enabled: true,
            function_masked: false,
        };
        let expected = MsiVector {
            message: MsiMessage {
                address: 0xfee0_1000,
                data: 0x4041,
            },
            masked: false,
        };
        assert_eq!(table.vector(1, on), Some(expected));
        let masked = MsiVector {
            masked: true,
            ..expected
        };
        let function_masked = MsixControl {
            function_masked: true,
            ..on
        };
        assert_eq!(table.vector(1, function_masked), Some(masked));
        assert_eq!(table.vector(1, MsixControl::default()), Some(masked));
        assert_eq!(table.vector(0, on).map(|v| v.masked), Some(true));
        assert_eq!(table.vector(4, on), None);
        // A qword write of address low and high at once.
        assert_eq!(table.write(32, &0x2_fee0_0000u64.to_le_bytes()), vec![2]);
        assert_eq!(table.vector(2, on).unwrap().message.address, 0x2_fee0_0000);
        // Writes past the table are dropped; reads there return 0.
        assert!(table.write(64, &[0xff; 4]).is_empty());
        table.read(60, &mut entry[..8]);
        assert_eq!(&entry[..8], &[1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn pba_bits_come_from_pending() {
        let pending = |v: u16| v == 1 || v == 9 || v == 64 || v == 70;
        let mut data = [0u8; 16];
        read_pba(0, &mut data, 70, pending);
        assert_eq!(data[0], 0b10);
        assert_eq!(data[1], 0b10);
        // Vector 64 is in the second qword; vector 70 does not exist.
        assert_eq!(data[8], 0b1);
        assert_eq!(data.iter().map(|b| b.count_ones()).sum::<u32>(), 3);
        let mut high = [0u8; 4];
        read_pba(8, &mut high, 70, pending);
        assert_eq!(u32::from_le_bytes(high), 1);
    }
}
