//! Building the PCI segment: the root complex with its config-space access paths on the
//! buses, and every `--vfio` device placed on it (device model, interrupts, BARs).
//!
//! Order: open the devices (preflight, container, reset, DMA) -> build each device model with
//! its MSI vectors and INTx line -> size the 64-bit window from the real 64-bit BARs (or
//! `--pci-mmio64-size`) -> place all BARs at natural alignment, biggest first -> add the
//! devices to the root at their guest addresses -> mmap their BARs -> connect INTx to the
//! slot's GSI. A BAR that does not fit fails the build before the guest starts, naming the
//! device, the BAR, its size and the window. When the segment is dropped the devices are
//! reset again ("at exit"), after their BARs are unmapped.
//!
//! Guest addresses are known before the device models exist because on arm64 every MSI route
//! carries the device's requester ID for the vITS. Without MSI (`--msi off`, or an arm64 host
//! that gives no vITS) every device is built as with `intx=on`.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use devices::pci::bar::{BarKind, ByteSize};
use devices::pci::device::{PciDevice, SharedPciDevice};
use devices::pci::interrupt::{IntxLine, MsiInterrupts};
use devices::pci::root::{PciConfigIo, PciConfigMmio, PciEffectHandler, PciRoot};
use devices::pci::PciAddress;
use devices::vfio::pci_device::{vectors_needed, VfioPciArgs, VfioPciDevice, VfioPciOptions};
use devices::vfio::RomPolicy;
use kvm_ioctls::VmFd;
use vfio_ioctls::VfioContainer;

use super::BuildError;
use crate::config::VmConfig;
use crate::interrupt::{self, GsiRouter, KvmMsiVectors};
use crate::memory::GuestMemory;
use crate::pci::{BarMapper, PciSlots, PciWindows, PlacementError, Window, WindowAllocator};
use crate::vcpu::IoBuses;
use crate::vfio;

/// Where the platform puts the root complex (from the architecture's layout).
pub struct PciPlatform {
    /// ECAM base and size.
    pub ecam: (u64, u64),
    /// Legacy config ports (x86: 0xCF8), if any.
    pub config_io_port: Option<u64>,
    /// I/O window for I/O BARs.
    pub io: Window,
    /// The 32-bit MMIO window.
    pub mmio32: Window,
    /// First address the 64-bit window may use (above RAM).
    pub mmio64_floor: u64,
    /// Addresses the guest can reach (2^physical address bits).
    pub addr_limit: u64,
    /// GSI of INTA for a slot.
    pub intx_gsi: fn(u8) -> u32,
    /// Whether devices may use MSI/MSI-X (otherwise they are all built INTx-only).
    pub msi: bool,
    /// Whether MSI routes carry the device's requester ID (arm64 vITS).
    pub msi_requester_ids: bool,
}

/// A slot's INTx routing, for the platform description (ACPI `_PRT`, FDT `interrupt-map`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntxRoute {
    /// PCI slot.
    pub slot: u8,
    /// GSI its INTA is wired to.
    pub gsi: u32,
}

/// A passed-through device on the segment, for the API's device listing.
pub struct Passthrough {
    /// Its guest address.
    pub address: PciAddress,
    /// Its host address (`0000:01:00.0`).
    pub host: String,
    /// Its host sysfs directory.
    pub sysfs: PathBuf,
    /// The device model (also on the root, as a `dyn PciDevice`).
    pub device: Arc<Mutex<VfioPciDevice>>,
}

/// The built segment. Field order is drop order: BAR mappings, then the root and its
/// devices, then the VFIO container (the reset handles go first, in `drop`).
pub struct PciSegment {
    mapper: Arc<BarMapper>,
    /// The root complex.
    pub root: Arc<PciRoot>,
    passthrough: Vec<Passthrough>,
    /// The windows the platform must describe.
    pub windows: PciWindows,
    /// INTx routes of the slots in use.
    pub intx: Vec<IntxRoute>,
    /// The guest addresses in use; more devices take [`PciSlots::claim_next`].
    pub slots: PciSlots,
    /// The `--disk` and `--net` devices.
    pub virtio: crate::virtio::VirtioDevices,
    _intx_lines: Vec<IntxLine>,
    resets: Option<vfio::reset::Resets>,
    shared: vfio::shared_group::SharedGroupFds,
    _container: Option<Arc<VfioContainer>>,
}

impl Drop for PciSegment {
    fn drop(&mut self) {
        // BAR mappings go before the devices close (the root holds the mapper too, so its own
        // drop would come too late), and before a reset, which revokes them.
        self.mapper.release_all();
        // The reset handles are duplicate device fds: they must be closed before the devices
        // drop, or vfio-ioctls cannot release the groups (EBUSY).
        if let Some(resets) = self.resets.take() {
            resets.reset_all("at exit");
        }
        self.shared.release();
    }
}

impl PciSegment {
    /// The BAR mapper (for the API's device listing later).
    pub fn mapper(&self) -> &Arc<BarMapper> {
        &self.mapper
    }

    /// The passed-through devices.
    pub fn passthrough(&self) -> &[Passthrough] {
        &self.passthrough
    }
}

struct Built {
    label: String,
    address: PciAddress,
    sysfs: PathBuf,
    device: VfioPciDevice,
    intx: IntxLine,
}

fn device_error(what: &'static str, e: impl std::fmt::Display) -> BuildError {
    BuildError::Device {
        what,
        reason: e.to_string(),
    }
}

/// Builds the root complex and every passthrough device of `config`.
pub fn create(
    vm: &Arc<VmFd>,
    io: &Arc<IoBuses>,
    mem: &GuestMemory,
    config: &VmConfig,
    first_slot: u32,
    platform: &PciPlatform,
) -> Result<PciSegment, BuildError> {
    let slots = guest_addresses(&config.vfio)?;
    let opened = vfio::open(vm, mem, &config.vfio, config.memory)?;
    let router = Arc::new(GsiRouter::new(vm.clone()));
    let mut built = Vec::new();
    let mut container = None;
    let mut resets = None;
    let mut shared = Default::default();
    if let Some(o) = opened {
        container = Some(o.container);
        resets = Some(o.resets);
        shared = o.shared;
        for ((cfg, backend), address) in o.devices.into_iter().zip(&slots.1) {
            built.push(build_device(
                vm, &router, &cfg, backend, *address, platform,
            )?);
        }
    }
    let windows = PciWindows {
        io: platform.io,
        mmio32: platform.mmio32,
        mmio64: mmio64_window(&built, platform, config.pci_mmio64_size)?,
    };
    place_bars(&mut built, &windows)?;
    let mut virtio_mmio32 = crate::virtio::allocator_after(
        windows.mmio32,
        built
            .iter()
            .flat_map(|b| b.device.bars().iter().map(|bar| (bar.address, bar.size))),
    );

    let mapper = Arc::new(BarMapper::new(vm.clone(), io.clone(), windows, first_slot));
    let root = Arc::new(PciRoot::new(mapper.clone() as Arc<dyn PciEffectHandler>));
    if let Some(port) = platform.config_io_port {
        io.pio
            .insert(
                Arc::new(Mutex::new(PciConfigIo::new(root.clone()))),
                port,
                8,
            )
            .map_err(|e| device_error("the PCI config ports", e))?;
    }
    io.mmio
        .insert(
            Arc::new(Mutex::new(PciConfigMmio::new(root.clone()))),
            platform.ecam.0,
            platform.ecam.1,
        )
        .map_err(|e| device_error("the PCI ECAM window", e))?;

    let mut intx = Vec::new();
    let mut lines = Vec::new();
    let mut passthrough = Vec::new();
    for b in built {
        let plan = b.device.mmap_plan().to_vec();
        let fd = b
            .device
            .device_fd()
            .map(|fd| fd.try_clone_to_owned())
            .transpose()
            .map_err(|e| device_error("a VFIO device fd", e))?;
        let concrete = Arc::new(Mutex::new(b.device));
        let shared: SharedPciDevice = concrete.clone();
        let address = b.address;
        root.add_device_at(address, shared.clone())
            .map_err(|e| device_error("a PCI slot", e))?;
        passthrough.push(Passthrough {
            address,
            host: b.label.clone(),
            sysfs: b.sysfs,
            device: concrete,
        });
        mapper
            .add_device(
                address,
                &b.label,
                shared,
                &plan,
                fd.as_ref().map(|f| f.as_fd()),
            )
            .map_err(|e| device_error("the BAR mappings", e))?;
        let gsi = (platform.intx_gsi)(address.device());
        lines.push(interrupt::connect_intx(vm, &b.intx, gsi).map_err(|e| device_error("INTx", e))?);
        let route = IntxRoute {
            slot: address.device(),
            gsi,
        };
        if !intx.contains(&route) {
            intx.push(route);
        }
        log::info!("{} is {address} in the guest (INTA on GSI {gsi})", b.label);
    }
    let mut slots = slots.0;
    let virtio_pci = crate::virtio::PciContext {
        vm,
        router: &router,
        root: &root,
        mapper: &mapper,
        mmio32: &mut virtio_mmio32,
        intx_gsi: platform.intx_gsi,
        slots: &mut slots,
        msi: platform.msi,
        msi_requester_ids: platform.msi_requester_ids,
    };
    let (virtio, virtio_intx) = crate::virtio::add_devices(virtio_pci, mem, config)?;
    intx.extend(virtio_intx);
    Ok(PciSegment {
        mapper,
        root,
        passthrough,
        windows,
        intx,
        slots,
        virtio,
        _intx_lines: lines,
        resets,
        shared,
        _container: container,
    })
}

/// The guest address of each device, in order: its `addr` (set by validation), or function 0
/// of the next free slot for a configuration built without validation.
fn guest_addresses(
    devices: &[crate::config::VfioConfig],
) -> Result<(PciSlots, Vec<PciAddress>), BuildError> {
    let mut slots = PciSlots::new();
    let slot_error = |e: crate::pci::SlotError| device_error("a PCI address", e);
    for d in devices {
        if let Some(at) = d.addr {
            slots.claim(at, &d.label).map_err(slot_error)?;
        }
    }
    let mut addresses = Vec::with_capacity(devices.len());
    for d in devices {
        addresses.push(match d.addr {
            Some(at) => at,
            None => slots.claim_next(&d.label).map_err(slot_error)?,
        });
    }
    slots.check().map_err(slot_error)?;
    Ok((slots, addresses))
}

fn build_device(
    vm: &Arc<VmFd>,
    router: &Arc<GsiRouter>,
    cfg: &crate::config::VfioConfig,
    backend: devices::vfio::ioctls::VfioIoctlsBackend,
    address: PciAddress,
    platform: &PciPlatform,
) -> Result<Built, BuildError> {
    let label = cfg.label.clone();
    let vectors = vectors_needed(&backend);
    let intx_only = cfg.intx_only || !platform.msi;
    let msi: Option<Box<dyn MsiInterrupts>> = if vectors > 0 && !intx_only {
        let mut v = KvmMsiVectors::new(router.clone(), vm.clone(), vectors)
            .map_err(|e| device_error("MSI vectors", e))?;
        if platform.msi_requester_ids {
            v = v.with_requester_id(requester_id(address));
        }
        Some(Box::new(v))
    } else {
        None
    };
    let line = IntxLine::new().map_err(|e| device_error("an INTx line", e))?;
    let intx = line
        .try_clone()
        .map_err(|e| device_error("an INTx line", e))?;
    let device = VfioPciDevice::new(VfioPciArgs {
        label: label.clone(),
        backend: Box::new(backend),
        options: VfioPciOptions {
            intx_only,
            ids: cfg.ids,
            rom: rom_policy(cfg)?,
            // ovmm resets the devices itself, once all are open (see `vfio::reset`).
            reset: false,
            ..Default::default()
        },
        msi,
        intx: Some(line),
    })
    .map_err(|e| BuildError::Device {
        what: "a passthrough device",
        reason: e.to_string(),
    })?;
    log::info!("{label}: interrupts {:?}", device.irq_mode());
    Ok(Built {
        label,
        address,
        sysfs: cfg.sysfs.clone(),
        device,
        intx,
    })
}

/// The PCI requester ID of a function: `bus << 8 | device << 3 | function`, the device ID an
/// ITS sees (the device tree's `msi-map` maps requester IDs 1:1).
pub(crate) fn requester_id(address: PciAddress) -> u16 {
    u16::from(address.bus()) << 8 | u16::from(address.device()) << 3 | u16::from(address.function())
}

/// The ROM the guest sees: the device's, none (`rombar=off`) or a file (`romfile=`).
fn rom_policy(cfg: &crate::config::VfioConfig) -> Result<RomPolicy, BuildError> {
    match &cfg.romfile {
        Some(path) => {
            let image = std::fs::read(path).map_err(|e| {
                BuildError::Load(format!(
                    "cannot read romfile '{}' for {}: {e}",
                    path.display(),
                    cfg.label
                ))
            })?;
            log::info!(
                "{}: ROM from {} ({} bytes, a {} ROM BAR)",
                cfg.label,
                path.display(),
                image.len(),
                ByteSize(RomPolicy::image_bar_size(image.len() as u64))
            );
            Ok(RomPolicy::Image(image.into()))
        }
        None if cfg.rombar => Ok(RomPolicy::FromDevice),
        None => Ok(RomPolicy::Hidden),
    }
}

fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

const GIB: u64 = 1 << 30;

/// The 64-bit window: from the first 1 GiB boundary above RAM (or the largest BAR's alignment),
/// big enough for every 64-bit BAR at natural alignment, and at least `requested` bytes
/// (`--pci-mmio64-size`), rounded up to 1 GiB, and inside the guest's physical address space.
/// No window when no device needs one and none is asked for.
fn mmio64_window(
    built: &[Built],
    p: &PciPlatform,
    requested: Option<u64>,
) -> Result<Option<Window>, BuildError> {
    let sizes: Vec<(u64, &str, u8)> = built
        .iter()
        .flat_map(|b| {
            b.device
                .bars()
                .iter()
                .filter(|bar| bar.kind == BarKind::Memory64)
                .map(move |bar| (bar.size, b.label.as_str(), bar.index))
        })
        .collect();
    size_mmio64(sizes, p, requested)
}

/// [`mmio64_window`] for 64-bit BARs given as (size, device, BAR index).
fn size_mmio64(
    mut sizes: Vec<(u64, &str, u8)>,
    p: &PciPlatform,
    requested: Option<u64>,
) -> Result<Option<Window>, BuildError> {
    if sizes.is_empty() && requested.is_none() {
        return Ok(None);
    }
    sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
    let largest = sizes.first().map_or(0, |s| s.0);
    let too_big = |size: u64, label: &str, bar: u8, start: u64| {
        PlacementError::DoesNotFit {
        device: label.to_string(),
        bar,
        size: ByteSize(size),
        kind: BarKind::Memory64,
        window: format!(
            "64-bit MMIO window, which starts at {start:#x} and must end below the guest's address limit {:#x}",
            p.addr_limit
        ),
        hint: " (the host CPU's physical address width limits the guest's)",
    }
    };
    let start = align_up(p.mmio64_floor, largest.max(GIB)).unwrap_or(u64::MAX);
    let mut end = start;
    for &(size, label, bar) in &sizes {
        end = align_up(end, size)
            .and_then(|s| s.checked_add(size))
            .filter(|&e| e <= p.addr_limit)
            .ok_or_else(|| too_big(size, label, bar, start))?;
    }
    let needed = align_up(end, GIB).unwrap_or(end).min(p.addr_limit) - start;
    let size = match requested {
        Some(asked) if asked > needed => {
            let room = p.addr_limit.saturating_sub(start) & !(GIB - 1);
            if asked > room {
                return Err(PlacementError::WindowTooLarge {
                    asked: ByteSize(asked),
                    room: ByteSize(room),
                    start,
                    limit: p.addr_limit,
                }
                .into());
            }
            asked
        }
        _ => needed,
    };
    Ok(Some(Window {
        name: "64-bit MMIO window",
        start,
        size,
    }))
}

fn place_bars(built: &mut [Built], windows: &PciWindows) -> Result<(), BuildError> {
    let mut all: Vec<(usize, u8, BarKind, u64)> = built
        .iter()
        .enumerate()
        .flat_map(|(i, b)| {
            b.device
                .bars()
                .iter()
                .map(move |bar| (i, bar.index, bar.kind, bar.size))
        })
        .collect();
    all.sort_by_key(|b| std::cmp::Reverse(b.3));
    let mut io = WindowAllocator::new(windows.io);
    let mut mmio32 = WindowAllocator::new(windows.mmio32);
    let mut mmio64 = windows.mmio64.map(WindowAllocator::new);
    for (i, index, kind, size) in all {
        let (alloc, window) = match kind {
            BarKind::Io => (Some(&mut io), windows.io),
            BarKind::Memory32 | BarKind::Rom => (Some(&mut mmio32), windows.mmio32),
            BarKind::Memory64 => (mmio64.as_mut(), windows.mmio64.unwrap_or(windows.mmio32)),
        };
        let addr =
            alloc
                .and_then(|a| a.allocate(size))
                .ok_or_else(|| PlacementError::DoesNotFit {
                    device: built[i].label.clone(),
                    bar: index,
                    size: ByteSize(size),
                    kind,
                    window: window.to_string(),
                    hint: "",
                })?;
        built[i]
            .device
            .set_bar_address(index, addr)
            .map_err(|e| device_error("a BAR", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requester_ids_match_the_msi_map() {
        let rid = |b, d, f| requester_id(PciAddress::new(b, d, f).unwrap());
        assert_eq!(rid(0, 1, 0), 0x08);
        assert_eq!(rid(0, 2, 0), 0x10);
        assert_eq!(rid(0, 31, 7), 0xff);
        assert_eq!(rid(1, 0, 0), 0x100);
    }

    fn platform(addr_bits: u32) -> PciPlatform {
        let window = |name, start, size| Window { name, start, size };
        PciPlatform {
            ecam: (0xe000_0000, 0x1000_0000),
            config_io_port: None,
            io: window("I/O window", 0x1000, 0xf000),
            mmio32: window("32-bit MMIO window", 0xc000_0000, 0x2000_0000),
            mmio64_floor: 4 << 30,
            addr_limit: 1 << addr_bits,
            intx_gsi: |slot| u32::from(slot),
            msi: true,
            msi_requester_ids: false,
        }
    }

    fn window(
        sizes: &[u64],
        addr_bits: u32,
        requested: Option<u64>,
    ) -> Result<Option<(u64, u64)>, String> {
        let sizes = sizes.iter().map(|&s| (s, "0000:01:00.0", 0)).collect();
        size_mmio64(sizes, &platform(addr_bits), requested)
            .map(|w| w.map(|w| (w.start, w.size)))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_window_is_sized_from_the_devices() {
        assert_eq!(window(&[], 40, None), Ok(None));
        assert_eq!(window(&[16 << 20], 40, None), Ok(Some((4 << 30, GIB))));
        // A 32 GiB BAR starts the window at its own alignment.
        assert_eq!(
            window(&[32 << 30, 256 << 20], 40, None),
            Ok(Some((32 << 30, 33 << 30)))
        );
    }

    #[test]
    fn a_larger_window_can_be_asked_for() {
        assert_eq!(
            window(&[], 40, Some(64 << 30)),
            Ok(Some((4 << 30, 64 << 30)))
        );
        assert_eq!(
            window(&[16 << 20], 40, Some(8 << 30)),
            Ok(Some((4 << 30, 8 << 30)))
        );
        // Asking for less than the devices need changes nothing.
        assert_eq!(
            window(&[32 << 30], 40, Some(GIB)),
            Ok(Some((32 << 30, 32 << 30)))
        );
    }

    #[test]
    fn a_window_beyond_the_address_width_is_refused_naming_both_sizes() {
        // 36 bits: 64 GiB of addresses, the window starts at 4 GiB: 60 GiB of room.
        assert_eq!(
            window(&[], 36, Some(60 << 30)),
            Ok(Some((4 << 30, 60 << 30)))
        );
        assert_eq!(
            window(&[], 36, Some(1 << 40)).unwrap_err(),
            "--pci-mmio64-size 1 TiB does not fit: the 64-bit window starts at 0x100000000 and the guest's physical addresses end at 0x1000000000 (the host CPU's address width), which leaves 60 GiB; ask for at most 60 GiB"
        );
        let e = window(&[64 << 30], 36, None).unwrap_err();
        assert!(
            e.starts_with("BAR 0 of 0000:01:00.0 (64 GiB, 64-bit memory) does not fit"),
            "{e}"
        );
    }
}
