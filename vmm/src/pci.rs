//! The guest's PCI segment as the VMM sees it: the root complex on the buses, the windows
//! BARs are placed in, and [`BarMapper`], which turns the device model's BAR effects (the
//! guest enabled decoding, moved or disabled a BAR) into KVM memory slots for mmapped BAR
//! areas and bus traps for the rest.
//!
//! Devices never touch KVM: they report effects to the root, the root calls
//! [`BarMapper::apply`] on the vCPU thread that made the access, before the access completes.
//! Guest addresses (which slot and function each device gets) are [`slots::PciSlots`]'s.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex, Weak};

use devices::bus::SharedDevice;
use devices::pci::bar::{BarKind, BarRemap, ByteSize};
use devices::pci::config_space::ConfigEffect;
use devices::pci::device::{BarTrap, SharedPciDevice};
use devices::pci::root::PciEffectHandler;
use devices::pci::PciAddress;
use devices::vfio::{BarMmapPlan, TrapRange};
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;

use crate::vcpu::IoBuses;

pub mod slots;
pub use slots::{PciSlots, SlotError};

/// One address window of the PCI root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// What it is called in messages ("32-bit MMIO window", ...).
    pub name: &'static str,
    /// First address.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
}

impl Window {
    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.start + self.size
    }

    fn contains(&self, start: u64, size: u64) -> bool {
        start >= self.start && start.checked_add(size).is_some_and(|e| e <= self.end())
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{:#x}..{:#x}) ({})",
            self.name,
            self.start,
            self.end(),
            ByteSize(self.size)
        )
    }
}

/// The windows of the root: I/O ports, 32-bit MMIO and (when a device needs it) 64-bit MMIO.
#[derive(Clone, Copy, Debug)]
pub struct PciWindows {
    /// Port I/O window for I/O BARs.
    pub io: Window,
    /// MMIO below 4 GiB.
    pub mmio32: Window,
    /// MMIO above RAM.
    pub mmio64: Option<Window>,
}

impl PciWindows {
    /// The window a BAR of `kind` belongs in.
    pub fn for_kind(&self, kind: BarKind) -> Option<&Window> {
        match kind {
            BarKind::Io => Some(&self.io),
            BarKind::Memory32 | BarKind::Rom => Some(&self.mmio32),
            BarKind::Memory64 => self.mmio64.as_ref(),
        }
    }
}

/// A BAR that could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    /// It does not fit in its window.
    #[error("BAR {bar} of {device} ({size}, {kind}) does not fit in the {window}{hint}")]
    DoesNotFit {
        /// Device label.
        device: String,
        /// BAR index.
        bar: u8,
        /// Its size.
        size: ByteSize,
        /// Its kind.
        kind: BarKind,
        /// The window it needed.
        window: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// `--pci-mmio64-size` asks for more than the guest can address.
    #[error("--pci-mmio64-size {asked} does not fit: the 64-bit window starts at {start:#x} and the guest's physical addresses end at {limit:#x} (the host CPU's address width), which leaves {room}; ask for at most {room}")]
    WindowTooLarge {
        /// The size asked for.
        asked: ByteSize,
        /// The most there is room for.
        room: ByteSize,
        /// Where the window starts.
        start: u64,
        /// The guest's address limit.
        limit: u64,
    },
}

/// Places BARs in a window at natural alignment, biggest first so alignment wastes nothing.
pub struct WindowAllocator {
    window: Window,
    next: u64,
}

impl WindowAllocator {
    /// An allocator over `window`.
    pub fn new(window: Window) -> Self {
        WindowAllocator {
            next: window.start,
            window,
        }
    }

    /// Takes a naturally aligned range of `size` bytes (a power of two), if one is left.
    pub fn allocate(&mut self, size: u64) -> Option<u64> {
        let align = size.max(1);
        let start = self.next.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        (end <= self.window.end()).then(|| {
            self.next = end;
            start
        })
    }
}

/// A host mapping of part of a BAR (from the VFIO device fd); unmapped on drop.
struct HostMapping {
    offset: u64,
    size: u64,
    host: usize,
}

impl Drop for HostMapping {
    fn drop(&mut self) {
        // SAFETY: `host`/`size` describe a mapping this struct created and still owns; no KVM
        // slot refers to it any more (slots are removed before mappings are dropped).
        unsafe { libc::munmap(self.host as *mut libc::c_void, self.size as usize) };
    }
}

/// Maps `size` bytes of `fd` at `offset`, aligned in the host so that the kernel can use huge
/// mappings for large BARs (min(size, 1 GiB) for BARs of 2 MiB or more).
fn mmap_aligned(fd: BorrowedFd<'_>, offset: u64, size: u64) -> std::io::Result<usize> {
    let align = if size >= 2 << 20 {
        size.next_power_of_two().min(1 << 30)
    } else {
        4096
    };
    let reserve = size + align;
    // SAFETY: an anonymous PROT_NONE reservation; nothing aliases it.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            reserve as usize,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let base = base as u64;
    let aligned = (base + align - 1) & !(align - 1);
    // SAFETY: MAP_FIXED over the part of our own reservation starting at `aligned`.
    let mapped = unsafe {
        libc::mmap(
            aligned as *mut libc::c_void,
            size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    let result = if mapped == libc::MAP_FAILED {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(aligned as usize)
    };
    // SAFETY: release the unused head and tail of our reservation (and all of it on error).
    unsafe {
        if result.is_err() {
            libc::munmap(base as *mut libc::c_void, reserve as usize);
        } else {
            if aligned > base {
                libc::munmap(base as *mut libc::c_void, (aligned - base) as usize);
            }
            let tail = aligned + size;
            if base + reserve > tail {
                libc::munmap(tail as *mut libc::c_void, (base + reserve - tail) as usize);
            }
        }
    }
    result
}

struct BarMaps {
    kind: BarKind,
    mmaps: Vec<HostMapping>,
    traps: Vec<TrapRange>,
    /// Where the BAR decodes now, with the KVM slots of its mmapped areas.
    live: Option<(u64, Vec<u32>)>,
}

struct DeviceMaps {
    label: String,
    device: SharedPciDevice,
    bars: HashMap<u8, BarMaps>,
}

#[derive(Default)]
struct MapperState {
    devices: HashMap<PciAddress, DeviceMaps>,
    free_slots: Vec<u32>,
    next_slot: u32,
}

/// Applies BAR effects: KVM slots for mmapped areas, bus traps for trapped ranges.
///
/// It holds the buses weakly: the buses hold the root's config-access devices, the root holds
/// this mapper, so a strong reference would be a cycle that keeps every device (and its VFIO
/// file descriptors) alive after the VM is gone.
pub struct BarMapper {
    vm: Arc<VmFd>,
    io: Weak<IoBuses>,
    windows: PciWindows,
    state: Mutex<MapperState>,
}

impl BarMapper {
    /// A mapper whose KVM slots start at `first_slot` (the slots below belong to RAM).
    pub fn new(vm: Arc<VmFd>, io: Arc<IoBuses>, windows: PciWindows, first_slot: u32) -> Self {
        BarMapper {
            vm,
            io: Arc::downgrade(&io),
            windows,
            state: Mutex::new(MapperState {
                next_slot: first_slot,
                ..Default::default()
            }),
        }
    }

    /// The windows BARs may decode in.
    pub fn windows(&self) -> &PciWindows {
        &self.windows
    }

    /// Registers a device's BARs: mmaps the areas the plan names from `fd`. Nothing is
    /// visible to the guest until it enables decoding.
    pub fn add_device(
        &self,
        address: PciAddress,
        label: &str,
        device: SharedPciDevice,
        plan: &[BarMmapPlan],
        fd: Option<BorrowedFd<'_>>,
    ) -> std::io::Result<()> {
        let mut bars = HashMap::new();
        for p in plan {
            let mut mmaps = Vec::new();
            for area in &p.mmaps {
                let fd = fd.ok_or_else(|| {
                    std::io::Error::other(format!("{label} has no device fd to map BAR {}", p.bar))
                })?;
                let host = mmap_aligned(fd, area.file_offset, area.size).map_err(|e| {
                    std::io::Error::other(format!(
                        "cannot mmap BAR {} of {label} ({:#x} bytes at offset {:#x}): {e}",
                        p.bar, area.size, area.offset
                    ))
                })?;
                mmaps.push(HostMapping {
                    offset: area.offset,
                    size: area.size,
                    host,
                });
            }
            bars.insert(
                p.bar,
                BarMaps {
                    kind: p.kind,
                    mmaps,
                    traps: p.traps.clone(),
                    live: None,
                },
            );
        }
        let mut state = lock(&self.state);
        state.devices.insert(
            address,
            DeviceMaps {
                label: label.to_string(),
                device,
                bars,
            },
        );
        Ok(())
    }

    fn remap(&self, address: PciAddress, r: &BarRemap) {
        let Some(io) = self.io.upgrade() else {
            return;
        };
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let Some(dev) = state.devices.get_mut(&address) else {
            return;
        };
        let Some(bar) = dev.bars.get_mut(&r.bar) else {
            return;
        };
        if let Some((old, slots)) = bar.live.take() {
            for (m, slot) in bar.mmaps.iter().zip(&slots) {
                self.set_slot(*slot, old + m.offset, 0, 0);
            }
            state.free_slots.extend(slots);
            let bus = bus_for(&io, bar.kind);
            for t in &bar.traps {
                let _ = bus.remove(old + t.offset);
            }
        }
        let Some(new) = r.new else { return };
        let fits = self
            .windows
            .for_kind(bar.kind)
            .is_some_and(|w| w.contains(new, r.size));
        if !fits {
            log::warn!(
                "{}: guest placed BAR {} ({}) at {new:#x}, outside the root's windows; not mapping it",
                dev.label,
                r.bar,
                ByteSize(r.size)
            );
            return;
        }
        let mut slots = Vec::with_capacity(bar.mmaps.len());
        for m in &bar.mmaps {
            let slot = state.free_slots.pop().unwrap_or_else(|| {
                state.next_slot += 1;
                state.next_slot - 1
            });
            self.set_slot(slot, new + m.offset, m.size, m.host as u64);
            slots.push(slot);
        }
        let bus = bus_for(&io, bar.kind);
        for t in &bar.traps {
            let trap: SharedDevice = Arc::new(Mutex::new(BarTrap::new(
                dev.device.clone(),
                r.bar,
                t.offset,
            )));
            if let Err(e) = bus.insert(trap, new + t.offset, t.size) {
                log::warn!(
                    "{}: cannot trap BAR {} at {:#x}: {e}",
                    dev.label,
                    r.bar,
                    new + t.offset
                );
            }
        }
        bar.live = Some((new, slots));
    }

    fn set_slot(&self, slot: u32, gpa: u64, size: u64, host: u64) {
        let region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: size,
            userspace_addr: host,
        };
        // SAFETY: `host..host + size` is a live mapping of a BAR owned by this mapper; it is
        // removed from KVM (size 0) before the mapping is dropped.
        if let Err(e) = unsafe { self.vm.set_user_memory_region(region) } {
            log::error!("KVM refused BAR slot {slot} at {gpa:#x} ({size:#x} bytes): {e}");
        }
    }

    /// Where BAR `bar` of the device at `address` decodes now and how many of its bytes are
    /// mapped straight into the guest: `None` while the guest has not enabled it (or the
    /// device has no such BAR).
    pub fn bar_state(&self, address: PciAddress, bar: u8) -> Option<(u64, u64)> {
        let state = lock(&self.state);
        let b = state.devices.get(&address)?.bars.get(&bar)?;
        let (at, _) = b.live.as_ref()?;
        Some((*at, b.mmaps.iter().map(|m| m.size).sum()))
    }

    /// Removes every BAR slot from KVM, unmaps the BARs from this process and lets go of the
    /// devices, so that closing a device really releases it (a live mmap keeps the device
    /// file, and with it the VFIO group, busy).
    pub fn release_all(&self) {
        let mut state = lock(&self.state);
        for dev in state.devices.values_mut() {
            for bar in dev.bars.values_mut() {
                if let Some((addr, slots)) = bar.live.take() {
                    for (m, slot) in bar.mmaps.iter().zip(&slots) {
                        self.set_slot(*slot, addr + m.offset, 0, 0);
                    }
                }
            }
        }
        state.devices.clear();
    }
}

impl PciEffectHandler for BarMapper {
    fn apply(&self, device: PciAddress, effect: ConfigEffect) {
        match effect {
            ConfigEffect::Bar(remap) => self.remap(device, &remap),
        }
    }
}

impl Drop for BarMapper {
    fn drop(&mut self) {
        self.release_all();
    }
}

fn bus_for(io: &IoBuses, kind: BarKind) -> &devices::bus::Bus {
    match kind {
        BarKind::Io => &io.pio,
        _ => &io.mmio,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: u64, size: u64) -> Window {
        Window {
            name: "test window",
            start,
            size,
        }
    }

    #[test]
    fn allocates_naturally_aligned_biggest_first() {
        let mut a = WindowAllocator::new(window(0xc000_0000, 0x2000_0000));
        assert_eq!(a.allocate(0x1000_0000), Some(0xc000_0000));
        assert_eq!(a.allocate(0x800_0000), Some(0xd000_0000));
        assert_eq!(a.allocate(0x4000), Some(0xd800_0000));
        assert_eq!(a.allocate(0x1000), Some(0xd800_4000));
        assert_eq!(a.allocate(0x10), Some(0xd800_5000));
        // Natural alignment after a small BAR skips ahead; running out gives None.
        assert_eq!(a.allocate(0x400_0000), Some(0xdc00_0000));
        assert_eq!(a.allocate(0x400_0000), None);
    }

    #[test]
    fn window_bounds() {
        let w = window(0x1000, 0xf000);
        assert!(w.contains(0x1000, 0x100));
        assert!(w.contains(0xff00, 0x100));
        assert!(!w.contains(0xff00, 0x101));
        assert!(!w.contains(0x800, 0x100));
        assert!(!w.contains(u64::MAX, 2));
        assert_eq!(w.to_string(), "test window [0x1000..0x10000) (60 KiB)");
    }
}
