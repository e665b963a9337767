//! The VM's virtio devices: every `--disk` becomes a virtio-blk function and every `--net` a
//! virtio-net function on the PCI root, after the passthrough devices.
//!
//! Per function: MSI-X vectors on KVM irqfds ([`KvmMsiVectors`]), an INTx line registered
//! with KVM's resample fd on the slot's GSI, and KVM ioeventfds on the queue notify addresses
//! ([`KvmNotify`]), so neither interrupts nor notifications pass through a vCPU exit. The
//! devices' I/O is served by the runner's event loop: [`subscribers`] gives it one
//! event-manager subscriber per device.

pub mod config;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};

use devices::pci::device::{PciDevice, SharedPciDevice};
use devices::pci::interrupt::{IntxLine, MsiInterrupts};
use devices::pci::root::PciRoot;
use devices::vfio::{BarMmapPlan, TrapRange};
use devices::virtio::block::{Block, BlockError, BlockOptions};
use devices::virtio::net::{default_mac, Net, NetOptions};
use devices::virtio::pci::{VirtioPciArgs, VirtioPciDevice, BAR_SIZE};
use devices::virtio::tap::{Tap, TapError};
use devices::virtio::{lock_device, NotifyRegistrar, SharedVirtioDevice, VirtioInterrupt};
use event_manager::{EventOps, Events, MutEventSubscriber};
use kvm_ioctls::{IoEventAddress, NoDatamatch, VmFd};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use crate::config::VmConfig;
use crate::interrupt::{self, GsiRouter, KvmMsiVectors};
use crate::memory::GuestMemory;
use crate::pci::{BarMapper, WindowAllocator};
use crate::vm::pci::IntxRoute;
use config::{DiskConfig, NetConfig};

/// PCI class of a virtio-blk function: mass storage, other.
const CLASS_STORAGE_OTHER: u32 = 0x01_8000;
/// PCI class of a virtio-net function: network, Ethernet.
const CLASS_ETHERNET: u32 = 0x02_0000;

/// Why a virtio device could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum VirtioError {
    /// A disk image cannot be used (bad input).
    #[error("--disk {path}: {reason}")]
    Disk {
        /// The image.
        path: String,
        /// Why.
        reason: String,
    },
    /// The image file is not whole sectors (bad input).
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A TAP cannot be used.
    #[error("--net: {0}")]
    Tap(#[from] TapError),
    /// The host refused something (KVM, eventfds).
    #[error("cannot set up {what}: {reason}")]
    Host {
        /// Which part.
        what: String,
        /// Why.
        reason: String,
    },
}

impl VirtioError {
    /// True when the user's input is at fault (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            VirtioError::Disk { .. } => true,
            VirtioError::Block(BlockError::PartialSector { .. }) => true,
            VirtioError::Block(_) | VirtioError::Host { .. } => false,
            VirtioError::Tap(e) => e.is_bad_input(),
        }
    }
}

fn host(what: impl Into<String>) -> impl FnOnce(io::Error) -> VirtioError {
    let what = what.into();
    move |e| VirtioError::Host {
        what,
        reason: e.to_string(),
    }
}

/// One virtio function of the VM, as the event loop needs it.
struct Attached {
    device: SharedVirtioDevice,
    interrupt: Arc<VirtioInterrupt>,
    /// KVM signals it when the guest ends an INTx interrupt.
    resample: EventFd,
    /// The registered copy of the INTx line (kept for as long as the VM lives).
    _intx: IntxLine,
}

/// The VM's virtio devices.
#[derive(Default)]
pub struct VirtioDevices {
    attached: Vec<Attached>,
}

/// What placing the devices needs from the PCI build.
pub struct PciContext<'a> {
    /// The VM.
    pub vm: &'a Arc<VmFd>,
    /// The GSI router the MSI-X vectors are allocated from.
    pub router: &'a Arc<GsiRouter>,
    /// The root the functions go on.
    pub root: &'a PciRoot,
    /// The mapper that traps their BARs.
    pub mapper: &'a BarMapper,
    /// The 32-bit window's allocator, past the passthrough devices' BARs.
    pub mmio32: &'a mut WindowAllocator,
    /// The GSI of a slot's INTA.
    pub intx_gsi: fn(u8) -> u32,
    /// The guest addresses in use: each device claims the next free slot.
    pub slots: &'a mut crate::pci::PciSlots,
    /// Whether devices may use MSI-X (`--msi off`, or arm64 without a vITS: INTx only).
    pub msi: bool,
    /// Whether MSI routes carry the device's requester ID (arm64 vITS).
    pub msi_requester_ids: bool,
}

/// Builds every `--disk` and `--net` device and puts it on the PCI root, in the next free
/// slots. Returns the devices and their INTx routes.
pub fn add_devices(
    ctx: PciContext<'_>,
    mem: &GuestMemory,
    config: &VmConfig,
) -> Result<(VirtioDevices, Vec<IntxRoute>), VirtioError> {
    let mut built: Vec<(SharedVirtioDevice, u32)> = Vec::new();
    for disk in &config.virtio.disks {
        built.push((Arc::new(Mutex::new(open_disk(disk)?)), CLASS_STORAGE_OTHER));
    }
    for net in &config.virtio.nets {
        built.push((Arc::new(Mutex::new(open_net(net)?)), CLASS_ETHERNET));
    }
    let mut ctx = ctx;
    let mut devices = VirtioDevices::default();
    let mut routes = Vec::new();
    for (device, class_code) in built {
        let (attached, route) = attach(&mut ctx, mem, device, class_code)?;
        devices.attached.push(attached);
        routes.push(route);
    }
    Ok((devices, routes))
}

fn open_disk(disk: &DiskConfig) -> Result<Block, VirtioError> {
    let path = disk.path.display().to_string();
    let bad = |reason: String| VirtioError::Disk {
        path: path.clone(),
        reason,
    };
    let file = disk
        .open()
        .map_err(|e| bad(format!("cannot open the image: {e}")))?;
    lock_image(&file, disk.read_only).map_err(bad)?;
    let block = Block::new(BlockOptions {
        label: format!("virtio-blk {path}"),
        file,
        read_only: disk.read_only,
        serial: disk.serial.clone(),
    })?;
    log::info!(
        "virtio-blk {path}: {} sectors, serial '{}'{}",
        block.sectors(),
        disk.serial,
        if disk.read_only { ", read-only" } else { "" }
    );
    Ok(block)
}

/// Takes an advisory lock on the image (shared for a read-only disk), so two VMs do not write
/// one image at once. (`File::try_lock` needs Rust 1.89, above the workspace's MSRV.)
fn lock_image(file: &File, read_only: bool) -> Result<(), String> {
    let mode = if read_only {
        libc::LOCK_SH
    } else {
        libc::LOCK_EX
    };
    // SAFETY: flock takes only integers; the descriptor belongs to `file`, open for the call.
    let ret = unsafe { libc::flock(file.as_raw_fd(), mode | libc::LOCK_NB) };
    if ret == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        "the image is in use by another process (it holds a lock on it); stop that process or give this VM a copy".to_string()
    } else {
        format!("cannot lock the image: {e}")
    })
}

fn open_net(net: &NetConfig) -> Result<Net, VirtioError> {
    let tap = Tap::open(&net.tap)?;
    let mac = net.mac.unwrap_or_else(|| default_mac(&net.tap));
    let label = format!("virtio-net {}", net.tap);
    log::info!(
        "{label}: MAC {}",
        mac.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    );
    Net::new(NetOptions {
        label: label.clone(),
        tap,
        mac,
    })
    .map_err(host(label))
}

fn attach(
    ctx: &mut PciContext<'_>,
    mem: &GuestMemory,
    device: SharedVirtioDevice,
    class_code: u32,
) -> Result<(Attached, IntxRoute), VirtioError> {
    let (vm, router, root) = (ctx.vm, ctx.router, ctx.root);
    let (label, queues) = {
        let d = lock_device(&device);
        (d.label().to_string(), d.queue_max_sizes().len())
    };
    let address = ctx
        .slots
        .claim_next(&label)
        .map_err(|e| VirtioError::Host {
            what: format!("a PCI slot for {label}"),
            reason: e.to_string(),
        })?;
    let msi = if ctx.msi {
        let mut vectors = KvmMsiVectors::new(router.clone(), vm.clone(), queues as u16 + 1)
            .map_err(|e| VirtioError::Host {
                what: format!("MSI-X vectors for {label}"),
                reason: e.to_string(),
            })?;
        if ctx.msi_requester_ids {
            vectors = vectors.with_requester_id(crate::vm::pci::requester_id(address));
        }
        Some(Box::new(vectors) as Box<dyn MsiInterrupts>)
    } else {
        None
    };
    let line = IntxLine::new().map_err(host(format!("an INTx line for {label}")))?;
    let trigger = line
        .trigger
        .try_clone()
        .map_err(host(format!("an INTx line for {label}")))?;
    let mut pci = VirtioPciDevice::new(VirtioPciArgs {
        device: device.clone(),
        mem: mem.clone(),
        msi,
        intx: Some(trigger),
        notify: Some(Box::new(KvmNotify { vm: vm.clone() })),
        class_code,
    })
    .map_err(|e| VirtioError::Host {
        what: label.clone(),
        reason: e.to_string(),
    })?;
    let bar = ctx
        .mmio32
        .allocate(BAR_SIZE)
        .ok_or_else(|| VirtioError::Host {
            what: label.clone(),
            reason: format!(
                "no room left for its {} KiB BAR in the 32-bit PCI window",
                BAR_SIZE >> 10
            ),
        })?;
    pci.set_bar_address(0, bar).map_err(|e| VirtioError::Host {
        what: label.clone(),
        reason: e.to_string(),
    })?;
    let interrupt = pci.interrupt();
    let shared: SharedPciDevice = Arc::new(Mutex::new(pci));
    root.add_device_at(address, shared.clone())
        .map_err(|e| VirtioError::Host {
            what: format!("a PCI slot for {label}"),
            reason: e.to_string(),
        })?;
    let plan = BarMmapPlan {
        bar: 0,
        kind: devices::pci::bar::BarKind::Memory32,
        size: BAR_SIZE,
        mmaps: Vec::new(),
        traps: vec![TrapRange {
            offset: 0,
            size: BAR_SIZE,
        }],
    };
    ctx.mapper
        .add_device(address, &label, shared, &[plan], None)
        .map_err(host(format!("the BAR of {label}")))?;
    let gsi = (ctx.intx_gsi)(address.device());
    let registered = interrupt::connect_intx(vm, &line, gsi).map_err(|e| VirtioError::Host {
        what: format!("INTx of {label}"),
        reason: e.to_string(),
    })?;
    log::info!("{label} is {address} in the guest (BAR 0 at {bar:#x}, INTA on GSI {gsi})");
    Ok((
        Attached {
            device,
            interrupt,
            resample: line.resample,
            _intx: registered,
        },
        IntxRoute {
            slot: address.device(),
            gsi,
        },
    ))
}

/// Binds notify addresses to queue eventfds with KVM ioeventfds (any write length, no data
/// match: the guest writes the queue index, which the address already says).
struct KvmNotify {
    vm: Arc<VmFd>,
}

impl NotifyRegistrar for KvmNotify {
    fn register(&mut self, address: u64, event: &EventFd) -> io::Result<()> {
        self.vm
            .register_ioevent(event, &IoEventAddress::Mmio(address), NoDatamatch)
            .map_err(io::Error::from)
    }

    fn unregister(&mut self, address: u64, event: &EventFd) -> io::Result<()> {
        self.vm
            .unregister_ioevent(event, &IoEventAddress::Mmio(address), NoDatamatch)
            .map_err(io::Error::from)
    }
}

/// The event-loop side of one device: its queues and backend fds, and its INTx resample fd.
pub struct VirtioSubscriber {
    device: SharedVirtioDevice,
    interrupt: Arc<VirtioInterrupt>,
    resample: EventFd,
}

/// One event-manager subscriber per device, for the runner's event loop.
pub fn subscribers(devices: &VirtioDevices) -> Vec<Arc<Mutex<VirtioSubscriber>>> {
    devices
        .attached
        .iter()
        .filter_map(|a| {
            let resample = a
                .resample
                .try_clone()
                .map_err(|e| log::error!("cannot watch an INTx resample eventfd: {e}"))
                .ok()?;
            Some(Arc::new(Mutex::new(VirtioSubscriber {
                device: a.device.clone(),
                interrupt: a.interrupt.clone(),
                resample,
            })))
        })
        .collect()
}

impl MutEventSubscriber for VirtioSubscriber {
    fn init(&mut self, ops: &mut EventOps) {
        let mut sources: Vec<(RawFd, EventSet)> = lock_device(&self.device)
            .event_sources()
            .iter()
            .map(|s| {
                let set = if s.edge_triggered {
                    EventSet::IN | EventSet::EDGE_TRIGGERED
                } else {
                    EventSet::IN
                };
                (s.fd, set)
            })
            .collect();
        sources.push((self.resample.as_raw_fd(), EventSet::IN));
        for (fd, set) in sources {
            if let Err(e) = ops.add(Events::new_raw(fd, set)) {
                log::error!("cannot watch a virtio event source (fd {fd}): {e}");
            }
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if fd == self.resample.as_raw_fd() {
            let _ = self.resample.read();
            self.interrupt.resample();
            return;
        }
        let set = events.event_set();
        if set.intersects(EventSet::ERROR | EventSet::HANG_UP) && !set.contains(EventSet::IN) {
            let d = lock_device(&self.device);
            log::error!(
                "{}: its backend (fd {fd}) failed; no longer watching it",
                d.label()
            );
            let _ = ops.remove(Events::new_raw(fd, set));
            return;
        }
        lock_device(&self.device).handle_event(fd);
    }
}

/// An allocator over `window` that starts past every range of `used` that lies in it (the
/// passthrough devices' BARs, placed before the virtio devices).
pub fn allocator_after(
    window: crate::pci::Window,
    used: impl Iterator<Item = (u64, u64)>,
) -> WindowAllocator {
    let start = used
        .filter(|&(addr, size)| addr >= window.start && addr < window.end() && size > 0)
        .map(|(addr, size)| addr + size)
        .max()
        .unwrap_or(window.start)
        .min(window.end());
    WindowAllocator::new(crate::pci::Window {
        start,
        size: window.end() - start,
        ..window
    })
}
