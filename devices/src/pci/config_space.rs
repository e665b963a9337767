//! A function's 4 KiB configuration space as plain data: the register bytes, which bits a
//! guest may write, which bits clear when written with 1 (status), and the BARs.
//!
//! A guest write is masked bit by bit; what it changed outside the registers (a BAR that now
//! decodes somewhere else) is returned as [`ConfigEffect`]s for the VMM to apply. Nothing
//! here talks to a real device: [`crate::vfio`] layers the passed-through registers over it.

use super::bar::{BarError, BarInfo, BarKind, BarRemap, ROM_ENABLE};

/// Size of a PCIe function's configuration space.
pub const CONFIG_SPACE_SIZE: usize = 4096;
/// Size of a conventional PCI function's configuration space (and of what 0xCF8 reaches).
pub const LEGACY_CONFIG_SIZE: usize = 256;

/// Vendor ID (16 bits).
pub const VENDOR_ID: u16 = 0x00;
/// Device ID (16 bits).
pub const DEVICE_ID: u16 = 0x02;
/// Command register (16 bits).
pub const COMMAND: u16 = 0x04;
/// Status register (16 bits).
pub const STATUS: u16 = 0x06;
/// Revision ID (8 bits); the class code follows in the same dword.
pub const REVISION_ID: u16 = 0x08;
/// Class code: programming interface, subclass, base class (24 bits).
pub const CLASS_CODE: u16 = 0x09;
/// Cache line size (8 bits).
pub const CACHE_LINE_SIZE: u16 = 0x0c;
/// Header type (8 bits; bit 7 = multi-function).
pub const HEADER_TYPE: u16 = 0x0e;
/// First BAR register.
pub const BAR0: u16 = 0x10;
/// CardBus CIS pointer.
pub const CARDBUS_CIS: u16 = 0x28;
/// Subsystem vendor ID (16 bits).
pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2c;
/// Subsystem ID (16 bits).
pub const SUBSYSTEM_ID: u16 = 0x2e;
/// Expansion ROM base address.
pub const ROM_ADDRESS: u16 = 0x30;
/// Capabilities pointer (8 bits).
pub const CAPABILITIES_POINTER: u16 = 0x34;
/// Interrupt line (8 bits, scratch for the guest).
pub const INTERRUPT_LINE: u16 = 0x3c;
/// Interrupt pin (8 bits: 0 none, 1..=4 INTA..INTD).
pub const INTERRUPT_PIN: u16 = 0x3d;
/// Where the extended capability list starts.
pub const EXTENDED_CAPS_START: u16 = 0x100;

/// Command: I/O space decoding enable.
pub const COMMAND_IO_SPACE: u16 = 0x1;
/// Command: memory space decoding enable.
pub const COMMAND_MEMORY_SPACE: u16 = 0x2;
/// Command: bus master (DMA) enable.
pub const COMMAND_BUS_MASTER: u16 = 0x4;
/// Command: INTx disable.
pub const COMMAND_INTX_DISABLE: u16 = 0x400;
/// Status: the capability list exists.
pub const STATUS_CAPABILITIES_LIST: u16 = 0x10;
/// Status: the error bits a guest clears by writing 1 (parity, aborts, SERR).
pub const STATUS_W1C_BITS: u16 = 0xf900;
/// Header type: multi-function device.
pub const HEADER_TYPE_MULTI_FUNCTION: u8 = 0x80;

/// Something a config write changed that the VMM must apply outside the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigEffect {
    /// A BAR started, stopped or moved decoding.
    Bar(BarRemap),
}

/// Registers, write masks and BARs of one function.
#[derive(Clone, Debug)]
pub struct PciConfigSpace {
    regs: Vec<u32>,
    writable: Vec<u32>,
    w1c: Vec<u32>,
    bars: Vec<BarInfo>,
}

impl Default for PciConfigSpace {
    fn default() -> Self {
        Self::new()
    }
}

impl PciConfigSpace {
    /// An all-zero config space in which nothing is writable.
    pub fn new() -> Self {
        let dwords = CONFIG_SPACE_SIZE / 4;
        PciConfigSpace {
            regs: vec![0; dwords],
            writable: vec![0; dwords],
            w1c: vec![0; dwords],
            bars: Vec::new(),
        }
    }

    /// A config space holding `bytes` (up to 4 KiB; the rest is zero), nothing writable.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut space = Self::new();
        let len = bytes.len().min(CONFIG_SPACE_SIZE);
        space.set(0, &bytes[..len]);
        space
    }

    /// Reads `data.len()` bytes at `offset`; bytes past 4 KiB read as 0.
    pub fn read(&self, offset: u16, data: &mut [u8]) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = get_byte(&self.regs, usize::from(offset) + i);
        }
    }

    /// The byte at `offset`.
    pub fn read_u8(&self, offset: u16) -> u8 {
        get_byte(&self.regs, usize::from(offset))
    }

    /// The little-endian 16-bit value at `offset`.
    pub fn read_u16(&self, offset: u16) -> u16 {
        let mut data = [0; 2];
        self.read(offset, &mut data);
        u16::from_le_bytes(data)
    }

    /// The little-endian 32-bit value at `offset`.
    pub fn read_u32(&self, offset: u16) -> u32 {
        let mut data = [0; 4];
        self.read(offset, &mut data);
        u32::from_le_bytes(data)
    }

    /// Sets bytes as the device itself would: no write mask, no effects. Used to build the
    /// initial contents. BAR addresses follow the registers.
    pub fn set(&mut self, offset: u16, data: &[u8]) {
        put_bytes(&mut self.regs, offset, data);
        self.refresh_bar_addresses();
    }

    /// Sets one byte without the write mask.
    pub fn set_u8(&mut self, offset: u16, value: u8) {
        self.set(offset, &[value]);
    }

    /// Sets a 16-bit register without the write mask.
    pub fn set_u16(&mut self, offset: u16, value: u16) {
        self.set(offset, &value.to_le_bytes());
    }

    /// Sets a 32-bit register without the write mask.
    pub fn set_u32(&mut self, offset: u16, value: u32) {
        self.set(offset, &value.to_le_bytes());
    }

    /// Makes the bits of `mask` in the byte at `offset` guest-writable (others read-only).
    pub fn set_writable_u8(&mut self, offset: u16, mask: u8) {
        put_bytes(&mut self.writable, offset, &[mask]);
    }

    /// Makes the bits of `mask` in the 16-bit register at `offset` guest-writable.
    pub fn set_writable_u16(&mut self, offset: u16, mask: u16) {
        put_bytes(&mut self.writable, offset, &mask.to_le_bytes());
    }

    /// Makes the bits of `mask` in the 32-bit register at `offset` guest-writable.
    pub fn set_writable_u32(&mut self, offset: u16, mask: u32) {
        put_bytes(&mut self.writable, offset, &mask.to_le_bytes());
    }

    /// The guest-writable bits of the 32-bit register at `offset`.
    pub fn writable_u32(&self, offset: u16) -> u32 {
        let mut bytes = [0; 4];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = get_byte(&self.writable, usize::from(offset) + i);
        }
        u32::from_le_bytes(bytes)
    }

    /// Makes the bits of `mask` in the 16-bit register at `offset` write-1-to-clear.
    pub fn set_w1c_u16(&mut self, offset: u16, mask: u16) {
        put_bytes(&mut self.w1c, offset, &mask.to_le_bytes());
    }

    /// A guest write of `data` at `offset`: writable bits take the new value, read-only bits
    /// keep theirs, write-1-to-clear bits written with 1 become 0. Bytes past 4 KiB are
    /// dropped. Returns the BARs whose decoding changed.
    pub fn write(&mut self, offset: u16, data: &[u8]) -> Vec<ConfigEffect> {
        let before = self.mappings();
        for (i, &value) in data.iter().enumerate() {
            let pos = usize::from(offset) + i;
            if pos >= CONFIG_SPACE_SIZE {
                break;
            }
            let old = get_byte(&self.regs, pos);
            let writable = get_byte(&self.writable, pos);
            let cleared = get_byte(&self.w1c, pos) & value;
            set_byte(
                &mut self.regs,
                pos,
                ((old & !writable) | (value & writable)) & !cleared,
            );
        }
        self.refresh_bar_addresses();
        self.remaps(&before)
    }

    /// Declares a BAR: writes its flag bits, makes its address bits (and the ROM enable bit)
    /// writable and, if `bar.address` is not 0, places it there.
    pub fn add_bar(&mut self, bar: BarInfo) -> Result<(), BarError> {
        bar.validate()?;
        let taken = |index: u8| {
            self.bars
                .iter()
                .any(|b| b.index == index || (b.kind == BarKind::Memory64 && b.index + 1 == index))
        };
        if taken(bar.index) || (bar.kind == BarKind::Memory64 && taken(bar.index + 1)) {
            return Err(BarError::Taken { bar: bar.index });
        }
        if bar.address != 0 {
            bar.check_address(bar.address)?;
        }
        let register = bar.register();
        let mask = bar.address_mask();
        let enable = if bar.kind == BarKind::Rom {
            ROM_ENABLE
        } else {
            0
        };
        put_bytes(&mut self.regs, register, &bar.flag_bits().to_le_bytes());
        self.set_writable_u32(register, mask as u32 | enable);
        if bar.kind == BarKind::Memory64 {
            put_bytes(&mut self.regs, register + 4, &[0; 4]);
            self.set_writable_u32(register + 4, (mask >> 32) as u32);
        }
        let at = self.bars.partition_point(|b| b.index < bar.index);
        self.bars.insert(at, BarInfo { address: 0, ..bar });
        if bar.address != 0 {
            self.set_bar_address(bar.index, bar.address)?;
        }
        Ok(())
    }

    /// Places BAR `index` at `address` (the ROM enable bit is kept). Returns the change in
    /// decoding, which is empty while the command register has the BAR's space disabled, as
    /// it is before the guest runs.
    pub fn set_bar_address(
        &mut self,
        index: u8,
        address: u64,
    ) -> Result<Vec<ConfigEffect>, BarError> {
        let bar = *self.bar(index).ok_or(BarError::NoSuchBar { bar: index })?;
        bar.check_address(address)?;
        let before = self.mappings();
        let register = bar.register();
        let kept = self.read_u32(register) & bar.low_flag_mask();
        let low = (address as u32 & !bar.low_flag_mask()) | kept;
        put_bytes(&mut self.regs, register, &low.to_le_bytes());
        if bar.kind == BarKind::Memory64 {
            put_bytes(
                &mut self.regs,
                register + 4,
                &((address >> 32) as u32).to_le_bytes(),
            );
        }
        self.refresh_bar_addresses();
        Ok(self.remaps(&before))
    }

    /// The declared BARs, by index.
    pub fn bars(&self) -> &[BarInfo] {
        &self.bars
    }

    /// The BAR with this index (the lower index of a 64-bit pair).
    pub fn bar(&self, index: u8) -> Option<&BarInfo> {
        self.bars.iter().find(|b| b.index == index)
    }

    /// Where BAR `index` decodes now: its address if the command register enables its space
    /// (and, for the ROM, its enable bit is set), the address is not 0, not an all-ones size
    /// probe and fits the register width.
    pub fn bar_mapping(&self, index: u8) -> Option<u64> {
        self.bar(index).and_then(|bar| self.decode(bar))
    }

    /// The vendor ID.
    pub fn vendor_id(&self) -> u16 {
        self.read_u16(VENDOR_ID)
    }

    /// The device ID.
    pub fn device_id(&self) -> u16 {
        self.read_u16(DEVICE_ID)
    }

    /// The command register.
    pub fn command(&self) -> u16 {
        self.read_u16(COMMAND)
    }

    /// The status register.
    pub fn status(&self) -> u16 {
        self.read_u16(STATUS)
    }

    /// The 24-bit class code (base class in bits 23:16).
    pub fn class_code(&self) -> u32 {
        self.read_u32(REVISION_ID) >> 8
    }

    /// The header type byte.
    pub fn header_type(&self) -> u8 {
        self.read_u8(HEADER_TYPE)
    }

    /// The capabilities pointer.
    pub fn capabilities_pointer(&self) -> u8 {
        self.read_u8(CAPABILITIES_POINTER)
    }

    fn decode(&self, bar: &BarInfo) -> Option<u64> {
        let command = self.command();
        let enabled = match bar.kind {
            BarKind::Io => command & COMMAND_IO_SPACE != 0,
            BarKind::Memory32 | BarKind::Memory64 => command & COMMAND_MEMORY_SPACE != 0,
            BarKind::Rom => {
                command & COMMAND_MEMORY_SPACE != 0 && self.read_u32(ROM_ADDRESS) & ROM_ENABLE != 0
            }
        };
        let address = bar.address;
        let fits = u128::from(address) + u128::from(bar.size) <= bar.address_limit();
        (enabled && address != 0 && address != bar.address_mask() && fits).then_some(address)
    }

    fn mappings(&self) -> Vec<Option<u64>> {
        self.bars.iter().map(|bar| self.decode(bar)).collect()
    }

    fn remaps(&self, before: &[Option<u64>]) -> Vec<ConfigEffect> {
        self.bars
            .iter()
            .zip(before)
            .filter_map(|(bar, &old)| {
                let new = self.decode(bar);
                (new != old).then_some(ConfigEffect::Bar(BarRemap {
                    bar: bar.index,
                    kind: bar.kind,
                    size: bar.size,
                    old,
                    new,
                }))
            })
            .collect()
    }

    fn refresh_bar_addresses(&mut self) {
        for i in 0..self.bars.len() {
            let bar = self.bars[i];
            let low = u64::from(self.read_u32(bar.register()) & !bar.low_flag_mask());
            let high = match bar.kind {
                BarKind::Memory64 => u64::from(self.read_u32(bar.register() + 4)),
                _ => 0,
            };
            self.bars[i].address = (high << 32) | low;
        }
    }
}

/// Byte `pos` of a little-endian array of dwords (0 past the end).
pub(crate) fn get_byte(words: &[u32], pos: usize) -> u8 {
    words
        .get(pos / 4)
        .map_or(0, |word| (word >> (8 * (pos % 4))) as u8)
}

/// Sets byte `pos` of a little-endian array of dwords (ignored past the end).
pub(crate) fn set_byte(words: &mut [u32], pos: usize, value: u8) {
    if let Some(word) = words.get_mut(pos / 4) {
        let shift = 8 * (pos % 4);
        *word = (*word & !(0xff << shift)) | (u32::from(value) << shift);
    }
}

fn put_bytes(words: &mut [u32], offset: u16, data: &[u8]) {
    for (i, &value) in data.iter().enumerate() {
        set_byte(words, usize::from(offset) + i, value);
    }
}

#[cfg(test)]
mod tests;
