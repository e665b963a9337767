//! BARs of a passed-through function: found from VFIO's region sizes and the flag bits of the
//! device's BAR registers (never by probing the device), and the mmap plan that says which
//! parts of each BAR the VMM maps into guest memory and which parts trap.
//!
//! Only the pages holding the MSI-X table and PBA trap in an mmappable BAR (plus whatever
//! VFIO's sparse areas leave out). I/O BARs, the ROM, regions without the mmap flag and BARs
//! smaller than a host page trap whole.

use super::backend::{RegionInfo, VfioBackend, ROM_REGION};
use crate::pci::bar::{BarInfo, BarKind, BAR_COUNT, ROM_BAR};
use crate::pci::config_space::{PciConfigSpace, BAR0};
use crate::pci::msix::MsixCap;

/// What to do with the device's expansion ROM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RomPolicy {
    /// Show the device's own ROM (VFIO region 6), read through traps.
    #[default]
    FromDevice,
    /// Show no ROM BAR.
    Hidden,
    /// Show these bytes as the ROM instead of the device's (`romfile=`): the ROM BAR is the
    /// image's size rounded up to a power of two (at least [`MIN_ROM_SIZE`]), read-only, and
    /// reads past the image return 0xff. The device's own ROM is never read.
    Image(std::sync::Arc<[u8]>),
}

/// Smallest ROM BAR: the register's address field starts at bit 11.
pub const MIN_ROM_SIZE: u64 = 2 << 10;

impl RomPolicy {
    /// The ROM BAR size an image of `len` bytes needs.
    pub fn image_bar_size(len: u64) -> u64 {
        len.max(MIN_ROM_SIZE).next_power_of_two()
    }

    /// Copies the image's bytes at `offset` into `data` (0xff past its end); `false` when
    /// the policy serves no image.
    pub fn read_image(&self, offset: u64, data: &mut [u8]) -> bool {
        let RomPolicy::Image(image) = self else {
            return false;
        };
        data.fill(0xff);
        if let Ok(start) = usize::try_from(offset) {
            if let Some(rest) = image.get(start..) {
                let n = rest.len().min(data.len());
                data[..n].copy_from_slice(&rest[..n]);
            }
        }
        true
    }
}

/// A part of a BAR to mmap from the device fd into guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapArea {
    /// Offset within the BAR (page-aligned).
    pub offset: u64,
    /// Length (a multiple of the page size).
    pub size: u64,
    /// Offset on the device fd to pass to mmap.
    pub file_offset: u64,
}

/// A part of a BAR whose guest accesses trap to [`crate::pci::PciDevice::bar_read`] /
/// [`crate::pci::PciDevice::bar_write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapRange {
    /// Offset within the BAR.
    pub offset: u64,
    /// Length.
    pub size: u64,
}

/// How one BAR is served: mmapped areas and trapped ranges, together covering the BAR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarMmapPlan {
    /// The BAR index ([`ROM_BAR`] for the ROM).
    pub bar: u8,
    /// Its kind.
    pub kind: BarKind,
    /// Its size.
    pub size: u64,
    /// Areas to mmap, by offset.
    pub mmaps: Vec<MmapArea>,
    /// Ranges that trap, by offset.
    pub traps: Vec<TrapRange>,
}

/// The BARs of the device: sizes from VFIO's regions, kinds and prefetchable flags from the
/// device's BAR registers in `device_config`. Addresses start at 0.
pub(super) fn discover_bars(
    backend: &dyn VfioBackend,
    device_config: &PciConfigSpace,
    rom: &RomPolicy,
) -> Vec<BarInfo> {
    let mut bars = Vec::new();
    let mut index = 0;
    while index < BAR_COUNT {
        let size = backend.region_info(u32::from(index)).size;
        let register = device_config.read_u32(BAR0 + 4 * u16::from(index));
        let kind = if register & 0x1 != 0 {
            BarKind::Io
        } else if register & 0x6 == 0x4 {
            BarKind::Memory64
        } else {
            BarKind::Memory32
        };
        let prefetchable = kind != BarKind::Io && register & 0x8 != 0;
        if size != 0 {
            bars.push(BarInfo::new(index, kind, size, prefetchable));
        }
        index += if kind == BarKind::Memory64 && size != 0 {
            2
        } else {
            1
        };
    }
    let rom_size = match rom {
        RomPolicy::FromDevice => backend.region_info(ROM_REGION).size,
        RomPolicy::Hidden => 0,
        RomPolicy::Image(image) => RomPolicy::image_bar_size(image.len() as u64),
    };
    if rom_size != 0 {
        bars.push(BarInfo::new(ROM_BAR, BarKind::Rom, rom_size, false));
    }
    bars
}

/// The mmap plan of every BAR. `msix` is the MSI-X capability shown to the guest, if any:
/// its table and PBA pages become holes.
pub(super) fn mmap_plan(
    bars: &[BarInfo],
    region: impl Fn(u32) -> RegionInfo,
    msix: Option<&MsixCap>,
    page_size: u64,
) -> Vec<BarMmapPlan> {
    bars.iter()
        .map(|bar| {
            let info = region(u32::from(bar.index));
            let mmaps = mmap_areas(bar, &info, msix, page_size);
            let traps = complement(&mmaps, bar.size);
            BarMmapPlan {
                bar: bar.index,
                kind: bar.kind,
                size: bar.size,
                mmaps,
                traps,
            }
        })
        .collect()
}

fn mmap_areas(
    bar: &BarInfo,
    info: &RegionInfo,
    msix: Option<&MsixCap>,
    page_size: u64,
) -> Vec<MmapArea> {
    let mappable_kind = matches!(bar.kind, BarKind::Memory32 | BarKind::Memory64);
    if !mappable_kind || !info.mmappable() || bar.size < page_size || page_size == 0 {
        return Vec::new();
    }
    let mut ranges: Vec<(u64, u64)> = match &info.sparse_areas {
        Some(areas) => areas
            .iter()
            .map(|a| (a.offset, a.offset.saturating_add(a.size).min(bar.size)))
            .collect(),
        None => vec![(0, bar.size)],
    };
    if let Some(cap) = msix {
        let holes = [
            (cap.table_bar, cap.table_offset, cap.table_len()),
            (cap.pba_bar, cap.pba_offset, cap.pba_len()),
        ];
        for (hole_bar, offset, len) in holes {
            if hole_bar == bar.index {
                let start = offset - offset % page_size;
                let end = align_up(offset.saturating_add(len), page_size);
                ranges = subtract(&ranges, start, end);
            }
        }
    }
    let mut areas: Vec<MmapArea> = ranges
        .into_iter()
        .filter_map(|(start, end)| {
            let start = align_up(start, page_size);
            let end = end - end % page_size;
            (end > start).then_some(MmapArea {
                offset: start,
                size: end - start,
                file_offset: info.file_offset + start,
            })
        })
        .collect();
    areas.sort_by_key(|a| a.offset);
    areas
}

/// `value` rounded up to a multiple of `page_size` (saturating at the top).
fn align_up(value: u64, page_size: u64) -> u64 {
    value
        .checked_next_multiple_of(page_size)
        .unwrap_or(u64::MAX)
}

/// `ranges` (half-open) minus `[start, end)`.
fn subtract(ranges: &[(u64, u64)], start: u64, end: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(a, b) in ranges {
        if b <= start || a >= end {
            out.push((a, b));
            continue;
        }
        if a < start {
            out.push((a, start));
        }
        if b > end {
            out.push((end, b));
        }
    }
    out
}

/// The parts of `[0, size)` not covered by `areas` (sorted, disjoint).
fn complement(areas: &[MmapArea], size: u64) -> Vec<TrapRange> {
    let mut traps = Vec::new();
    let mut at = 0;
    for area in areas {
        if area.offset > at {
            traps.push(TrapRange {
                offset: at,
                size: area.offset - at,
            });
        }
        at = at.max(area.offset + area.size);
    }
    if at < size {
        traps.push(TrapRange {
            offset: at,
            size: size - at,
        });
    }
    traps
}
