//! The config space a passed-through function shows the guest: a [`PciConfigSpace`] shadow
//! layered over the device's own config space.
//!
//! Per bit, two masks decide: `emulated` bits are read from the shadow (the others from the
//! device, live); `passthrough` bits of a guest write go to the device (every write also
//! goes through the shadow's write masks). BARs, the ROM BAR, IDs, the capability pointers
//! and the MSI / MSI-X capabilities are emulated and never written to the device; the
//! command register's decode bits are read from the shadow but still written through.

use super::backend::{VfioBackend, VfioBackendError, CONFIG_REGION};
use crate::pci::config_space::{
    get_byte, set_byte, ConfigEffect, PciConfigSpace, CONFIG_SPACE_SIZE,
};

pub(super) struct ShadowConfig {
    pub(super) space: PciConfigSpace,
    emulated: Vec<u32>,
    passthrough: Vec<u32>,
}

impl ShadowConfig {
    /// A shadow holding `bytes` (the device's config space, `bytes.len()` long) with every
    /// bit passed through; bytes past the device's config space are emulated zeros.
    pub(super) fn new(bytes: &[u8]) -> Self {
        let dwords = CONFIG_SPACE_SIZE / 4;
        let device_dwords = bytes.len().min(CONFIG_SPACE_SIZE) / 4;
        let mut emulated = vec![u32::MAX; dwords];
        let mut passthrough = vec![0; dwords];
        emulated[..device_dwords].fill(0);
        passthrough[..device_dwords].fill(u32::MAX);
        ShadowConfig {
            space: PciConfigSpace::from_bytes(bytes),
            emulated,
            passthrough,
        }
    }

    /// Serves `len` bytes at `offset` from the shadow only: reads come from the shadow and
    /// guest writes never reach the device.
    pub(super) fn emulate(&mut self, offset: u16, len: u16) {
        for pos in usize::from(offset)..usize::from(offset) + usize::from(len) {
            set_byte(&mut self.emulated, pos, 0xff);
            set_byte(&mut self.passthrough, pos, 0x00);
        }
    }

    /// Reads the bits of `mask` in the dword at `offset` from the shadow; writes to them
    /// still reach the device.
    pub(super) fn shadow_bits(&mut self, offset: u16, mask: u32) {
        if let Some(word) = self.emulated.get_mut(usize::from(offset) / 4) {
            *word |= mask;
        }
    }

    /// The dword at `offset` (rounded down to a multiple of 4) as the guest sees it.
    pub(super) fn read(
        &self,
        backend: &dyn VfioBackend,
        offset: u16,
    ) -> Result<u32, VfioBackendError> {
        let offset = offset & !3;
        let emulated = self
            .emulated
            .get(usize::from(offset) / 4)
            .copied()
            .unwrap_or(u32::MAX);
        let shadow = self.space.read_u32(offset);
        if emulated == u32::MAX {
            return Ok(shadow);
        }
        let mut bytes = [0u8; 4];
        backend.region_read(CONFIG_REGION, u64::from(offset), &mut bytes)?;
        Ok((u32::from_le_bytes(bytes) & !emulated) | (shadow & emulated))
    }

    /// A guest write: through the shadow's write masks, and the passed-through bits to the
    /// device (bytes that mix both kinds keep the device's current value in their emulated
    /// bits). Returns the shadow's effects and the outcome of the device write.
    pub(super) fn write(
        &mut self,
        backend: &dyn VfioBackend,
        offset: u16,
        data: &[u8],
    ) -> (Vec<ConfigEffect>, Result<(), VfioBackendError>) {
        let effects = self.space.write(offset, data);
        let masks: Vec<u8> = (0..data.len())
            .map(|i| get_byte(&self.passthrough, usize::from(offset) + i))
            .collect();
        let (Some(first), Some(last)) = (
            masks.iter().position(|&m| m != 0),
            masks.iter().rposition(|&m| m != 0),
        ) else {
            return (effects, Ok(()));
        };
        let at = u64::from(offset) + first as u64;
        let mut out = data[first..=last].to_vec();
        let result = (|| {
            if masks[first..=last].iter().any(|&m| m != 0xff) {
                let mut current = vec![0u8; out.len()];
                backend.region_read(CONFIG_REGION, at, &mut current)?;
                for ((byte, mask), old) in out.iter_mut().zip(&masks[first..=last]).zip(current) {
                    *byte = (*byte & mask) | (old & !mask);
                }
            }
            backend.region_write(CONFIG_REGION, at, &out)
        })();
        (effects, result)
    }
}
