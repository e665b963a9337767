//! Address-range dispatch for guest port I/O and MMIO.
//!
//! A [`Bus`] maps non-overlapping ranges `[base, base + len)` to devices. A device sees only
//! offsets inside its own range. The map's lock is held just long enough to find the device
//! and clone its handle; the device's own mutex is taken after the map lock is released, so a
//! slow device never blocks lookups for other devices, and a device may be moved (removed
//! and inserted again) while other vCPUs keep running.
//!
//! Lock order: `Bus::ranges` (read or write) is never held while a device mutex is taken.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// A device that answers guest reads and writes at offsets within its range.
pub trait BusDevice: Send {
    /// Fills `data` with the value read at `offset` (relative to the device's base).
    fn read(&mut self, offset: u64, data: &mut [u8]);
    /// Handles a write of `data` at `offset` (relative to the device's base).
    fn write(&mut self, offset: u64, data: &[u8]);
}

/// How devices are shared between the bus and whoever else drives them (an input thread, ...).
pub type SharedDevice = Arc<Mutex<dyn BusDevice>>;

/// Errors from placing devices on a bus.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    /// The new range is empty or wraps around the address space.
    #[error("invalid range: base {base:#x}, length {len:#x}")]
    InvalidRange {
        /// Start of the rejected range.
        base: u64,
        /// Its length.
        len: u64,
    },
    /// The new range overlaps a range already on the bus.
    #[error("range {base:#x}+{len:#x} overlaps the device at {other_base:#x}+{other_len:#x}")]
    Overlap {
        /// Start of the rejected range.
        base: u64,
        /// Its length.
        len: u64,
        /// Start of the range it collides with.
        other_base: u64,
        /// Length of the range it collides with.
        other_len: u64,
    },
    /// No device starts at this address.
    #[error("no device at {0:#x}")]
    NotFound(u64),
}

struct Entry {
    len: u64,
    device: SharedDevice,
}

/// A set of devices indexed by address range.
#[derive(Default)]
pub struct Bus {
    ranges: RwLock<BTreeMap<u64, Entry>>,
}

impl Bus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Places `device` at `[base, base + len)`.
    pub fn insert(&self, device: SharedDevice, base: u64, len: u64) -> Result<(), BusError> {
        if len == 0 || base.checked_add(len - 1).is_none() {
            return Err(BusError::InvalidRange { base, len });
        }
        let mut ranges = self.ranges.write().unwrap_or_else(|e| e.into_inner());
        let end = base + (len - 1);
        // The closest range starting at or below `end` is the only one that can overlap.
        if let Some((&other_base, other)) = ranges.range(..=end).next_back() {
            if other_base + (other.len - 1) >= base {
                return Err(BusError::Overlap {
                    base,
                    len,
                    other_base,
                    other_len: other.len,
                });
            }
        }
        ranges.insert(base, Entry { len, device });
        Ok(())
    }

    /// Removes the device whose range starts at `base` and returns it.
    pub fn remove(&self, base: u64) -> Result<SharedDevice, BusError> {
        let mut ranges = self.ranges.write().unwrap_or_else(|e| e.into_inner());
        ranges
            .remove(&base)
            .map(|e| e.device)
            .ok_or(BusError::NotFound(base))
    }

    /// Finds the device covering `addr` and returns it with the offset of `addr` in its range.
    pub fn resolve(&self, addr: u64) -> Option<(SharedDevice, u64)> {
        let ranges = self.ranges.read().unwrap_or_else(|e| e.into_inner());
        let (&base, entry) = ranges.range(..=addr).next_back()?;
        let offset = addr - base;
        (offset < entry.len).then(|| (entry.device.clone(), offset))
    }

    /// Dispatches a read. Returns `false` (leaving `data` untouched) when nothing is mapped.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.resolve(addr) {
            Some((device, offset)) => {
                lock(&device).read(offset, data);
                true
            }
            None => false,
        }
    }

    /// Dispatches a write. Returns `false` when nothing is mapped at `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        match self.resolve(addr) {
            Some((device, offset)) => {
                lock(&device).write(offset, data);
                true
            }
            None => false,
        }
    }
}

/// Locks a shared device; a device whose mutex was poisoned by a panicking vCPU is still used,
/// since its registers are plain data.
pub fn lock(device: &SharedDevice) -> std::sync::MutexGuard<'_, dyn BusDevice + 'static> {
    device.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        writes: Vec<(u64, Vec<u8>)>,
    }

    impl BusDevice for Recorder {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(offset as u8);
        }
        fn write(&mut self, offset: u64, data: &[u8]) {
            self.writes.push((offset, data.to_vec()));
        }
    }

    #[test]
    fn dispatches_by_range_with_offsets() {
        let bus = Bus::new();
        let a = Arc::new(Mutex::new(Recorder::default()));
        bus.insert(a.clone(), 0x3f8, 8).unwrap();
        let mut data = [0u8; 1];
        assert!(bus.read(0x3fd, &mut data));
        assert_eq!(data, [5]);
        assert!(bus.write(0x3f8, &[0x41]));
        assert_eq!(a.lock().unwrap().writes, vec![(0, vec![0x41])]);
        assert!(!bus.read(0x400, &mut data));
        assert!(!bus.write(0x3f7, &[0]));
    }

    #[test]
    fn rejects_overlaps_and_bad_ranges() {
        let bus = Bus::new();
        let dev = || Arc::new(Mutex::new(Recorder::default())) as SharedDevice;
        bus.insert(dev(), 0x100, 0x10).unwrap();
        assert!(matches!(
            bus.insert(dev(), 0x10f, 1),
            Err(BusError::Overlap {
                other_base: 0x100,
                ..
            })
        ));
        assert!(matches!(
            bus.insert(dev(), 0xf0, 0x11),
            Err(BusError::Overlap { .. })
        ));
        bus.insert(dev(), 0xf0, 0x10).unwrap();
        bus.insert(dev(), 0x110, 0x10).unwrap();
        assert_eq!(
            bus.insert(dev(), 0x1000, 0),
            Err(BusError::InvalidRange {
                base: 0x1000,
                len: 0
            })
        );
        assert!(bus.insert(dev(), u64::MAX, 2).is_err());
        bus.insert(dev(), u64::MAX, 1).unwrap();
    }

    #[test]
    fn remove_and_move() {
        let bus = Bus::new();
        let a = Arc::new(Mutex::new(Recorder::default()));
        bus.insert(a, 0x1000, 0x100).unwrap();
        let d = bus.remove(0x1000).unwrap();
        assert!(!bus.write(0x1000, &[1]));
        bus.insert(d, 0x2000, 0x100).unwrap();
        assert!(bus.write(0x20ff, &[1]));
        assert_eq!(bus.remove(0x1000).err(), Some(BusError::NotFound(0x1000)));
    }
}
