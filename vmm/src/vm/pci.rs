//! Building the PCI segment: the root complex with its config-space access paths on the
//! buses, and every `--vfio` device placed on it (device model, interrupts, BARs).
//!
//! Order: open the devices (preflight, container, DMA) -> build each device model with its
//! MSI vectors and INTx line -> size the 64-bit window from the real 64-bit BARs -> place all
//! BARs at natural alignment, biggest first -> add the devices to the root -> mmap their BARs
//! -> connect INTx to the slot's GSI. A BAR that does not fit fails the build before the guest
//! starts, naming the device, the BAR, its size and the window.

use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};

use devices::pci::bar::{BarKind, ByteSize};
use devices::pci::device::{PciDevice, SharedPciDevice};
use devices::pci::interrupt::{IntxLine, MsiInterrupts};
use devices::pci::root::{PciConfigIo, PciConfigMmio, PciEffectHandler, PciRoot};
use devices::vfio::pci_device::{vectors_needed, VfioPciArgs, VfioPciDevice, VfioPciOptions};
use devices::vfio::RomPolicy;
use kvm_ioctls::VmFd;
use vfio_ioctls::VfioContainer;

use super::BuildError;
use crate::config::VmConfig;
use crate::interrupt::{self, GsiRouter, KvmMsiVectors};
use crate::memory::GuestMemory;
use crate::pci::{BarMapper, PciWindows, PlacementError, Window, WindowAllocator};
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
}

/// A slot's INTx routing, for the platform description (ACPI `_PRT`, FDT `interrupt-map`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntxRoute {
    /// PCI slot.
    pub slot: u8,
    /// GSI its INTA is wired to.
    pub gsi: u32,
}

/// The built segment. Field order is drop order: BAR mappings, then the root and its
/// devices, then the VFIO container.
pub struct PciSegment {
    mapper: Arc<BarMapper>,
    /// The root complex.
    pub root: Arc<PciRoot>,
    /// The windows the platform must describe.
    pub windows: PciWindows,
    /// INTx routes of the slots in use.
    pub intx: Vec<IntxRoute>,
    /// The `--disk` and `--net` devices.
    pub virtio: crate::virtio::VirtioDevices,
    _intx_lines: Vec<IntxLine>,
    _container: Option<Arc<VfioContainer>>,
}

impl Drop for PciSegment {
    fn drop(&mut self) {
        // BAR mappings go before the devices close (the root holds the mapper too, so its own
        // drop would come too late).
        self.mapper.release_all();
    }
}

impl PciSegment {
    /// The BAR mapper (for the API's device listing later).
    pub fn mapper(&self) -> &Arc<BarMapper> {
        &self.mapper
    }
}

struct Built {
    label: String,
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
    let opened = vfio::open(vm, mem, &config.vfio, config.memory)?;
    let router = Arc::new(GsiRouter::new(vm.clone()));
    let mut built = Vec::new();
    let mut container = None;
    if let Some(o) = opened {
        container = Some(o.container);
        for (cfg, backend) in o.devices {
            built.push(build_device(vm, &router, &cfg, backend)?);
        }
    }
    let windows = PciWindows {
        io: platform.io,
        mmio32: platform.mmio32,
        mmio64: mmio64_window(&built, platform)?,
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
    for b in built {
        let plan = b.device.mmap_plan().to_vec();
        let fd = b
            .device
            .device_fd()
            .map(|fd| fd.try_clone_to_owned())
            .transpose()
            .map_err(|e| device_error("a VFIO device fd", e))?;
        let shared: SharedPciDevice = Arc::new(Mutex::new(b.device));
        let address = root
            .add_device(shared.clone())
            .map_err(|e| device_error("a PCI slot", e))?;
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
        intx.push(IntxRoute {
            slot: address.device(),
            gsi,
        });
        log::info!("{} is {address} in the guest (INTA on GSI {gsi})", b.label);
    }
    let virtio_pci = crate::virtio::PciContext {
        vm,
        router: &router,
        root: &root,
        mapper: &mapper,
        mmio32: &mut virtio_mmio32,
        intx_gsi: platform.intx_gsi,
    };
    let (virtio, virtio_intx) = crate::virtio::add_devices(virtio_pci, mem, config)?;
    intx.extend(virtio_intx);
    Ok(PciSegment {
        mapper,
        root,
        windows,
        intx,
        virtio,
        _intx_lines: lines,
        _container: container,
    })
}

fn build_device(
    vm: &Arc<VmFd>,
    router: &Arc<GsiRouter>,
    cfg: &crate::config::VfioConfig,
    backend: devices::vfio::ioctls::VfioIoctlsBackend,
) -> Result<Built, BuildError> {
    let label = cfg.label.clone();
    let vectors = vectors_needed(&backend);
    let msi: Option<Box<dyn MsiInterrupts>> = if vectors > 0 && !cfg.intx_only {
        Some(Box::new(
            KvmMsiVectors::new(router.clone(), vm.clone(), vectors)
                .map_err(|e| device_error("MSI vectors", e))?,
        ))
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
            intx_only: cfg.intx_only,
            ids: cfg.ids,
            rom: if cfg.rombar {
                RomPolicy::FromDevice
            } else {
                RomPolicy::Hidden
            },
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
        device,
        intx,
    })
}

fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

const GIB: u64 = 1 << 30;

/// The 64-bit window: from the first 1 GiB boundary above RAM (or the largest BAR's alignment),
/// big enough for every 64-bit BAR at natural alignment, rounded up to 1 GiB, and inside the
/// guest's physical address space.
fn mmio64_window(built: &[Built], p: &PciPlatform) -> Result<Option<Window>, BuildError> {
    let mut sizes: Vec<(u64, &str, u8)> = built
        .iter()
        .flat_map(|b| {
            b.device
                .bars()
                .iter()
                .filter(|bar| bar.kind == BarKind::Memory64)
                .map(move |bar| (bar.size, b.label.as_str(), bar.index))
        })
        .collect();
    if sizes.is_empty() {
        return Ok(None);
    }
    sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
    let largest = sizes[0].0;
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
    let start = align_up(p.mmio64_floor, largest.max(GIB))
        .ok_or_else(|| too_big(largest, sizes[0].1, sizes[0].2, p.mmio64_floor))?;
    let mut end = start;
    for &(size, label, bar) in &sizes {
        end = align_up(end, size)
            .and_then(|s| s.checked_add(size))
            .filter(|&e| e <= p.addr_limit)
            .ok_or_else(|| too_big(size, label, bar, start))?;
    }
    let end = align_up(end, GIB).unwrap_or(end).min(p.addr_limit);
    Ok(Some(Window {
        name: "64-bit MMIO window",
        start,
        size: end - start,
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
