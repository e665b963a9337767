//! Building a VM from a [`VmConfig`], in the design's order:
//! KVM -> guest memory -> interrupt controller -> devices -> boot description -> vCPUs.
//!
//! The per-architecture steps live in `x86_64` and `aarch64`, behind the same function names.
//! On arm64 the interrupt controller step also creates the vCPUs (KVM initialises the vGIC
//! only once every vCPU exists, and the device tree needs their MPIDRs); it hands them on in
//! its [`platform::Irqchip`] to the vCPU step, which sets their boot registers.
//!
//! [`Vm::build`] is the recipe; each step is a named function returning typed parts. The
//! built [`Vm`] owns everything the guest uses; [`Vm::start`] hands the vCPUs to their threads
//! and returns a [`RunningVm`]. Dropping a `RunningVm` stops the vCPUs first, then releases
//! the VM, its devices and its memory.

use std::sync::{Arc, Mutex};

use devices::legacy::{BootMark, SerialDevice};
use devices::lifecycle::GuestRequests;
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::GuestAddress;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::config::VmConfig;
use crate::memory::{self, GuestMemory, MemoryError};
use crate::vcpu::{IoBuses, VcpuError, VcpuFailures, VcpuSet};

pub mod pci;
#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
use x86_64 as platform;
#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
use aarch64 as platform;
#[cfg(target_arch = "x86_64")]
pub use x86_64::{acpi_tables, acpi_tables_for};

/// Everything that can go wrong while building a VM.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// /dev/kvm cannot be opened or is unusable.
    #[error("cannot use KVM (/dev/kvm): {0}; check that the kvm module is loaded and that you may open /dev/kvm")]
    Kvm(#[source] kvm_ioctls::Error),
    /// KVM speaks another API version.
    #[error("KVM API version {0} is not supported (ovmm needs 12)")]
    KvmVersion(i32),
    /// A KVM VM-level call failed.
    #[error("cannot {what}: {source}")]
    KvmCall {
        /// What ovmm was doing.
        what: &'static str,
        /// KVM's error.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// Guest memory could not be set up.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The kernel, initrd or command line could not be loaded (bad input).
    #[error("{0}")]
    Load(String),
    /// The boot description (boot params, ACPI) could not be written.
    #[error("cannot describe the platform to the guest: {0}")]
    Platform(String),
    /// A device could not be created or placed.
    #[error("cannot set up {what}: {reason}")]
    Device {
        /// Which device.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A vCPU could not be created or configured.
    #[error("cannot set up vCPU {id}: {what}: {source}")]
    Vcpu {
        /// vCPU index.
        id: u8,
        /// What ovmm was doing.
        what: &'static str,
        /// KVM's error.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// vCPU threads could not start.
    #[error(transparent)]
    Start(#[from] VcpuError),
    /// A passthrough device could not be opened.
    #[error(transparent)]
    Vfio(#[from] crate::vfio::VfioError),
    /// A BAR does not fit its window.
    #[error(transparent)]
    Placement(#[from] crate::pci::PlacementError),
    /// A `--disk` or `--net` device could not be set up.
    #[error(transparent)]
    Virtio(#[from] crate::virtio::VirtioError),
}

impl BuildError {
    /// True when the error comes from what the user gave (kernel, initrd, sizes), not from
    /// the host: those are configuration errors (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            BuildError::Load(_)
                | BuildError::Placement(_)
                | BuildError::Vfio(crate::vfio::VfioError::Preflight(_))
        ) || matches!(self, BuildError::Virtio(e) if e.is_bad_input())
    }
}

/// What the boot description step leaves for the vCPUs.
pub struct Boot {
    /// Where the boot vCPU starts.
    pub entry: GuestAddress,
    /// The device tree blob and where it was written (arm64).
    pub device_tree: Option<(GuestAddress, Vec<u8>)>,
}

/// Turns a bus error while placing `what` on a bus into a build error.
fn bus_error(what: &'static str) -> impl Fn(devices::bus::BusError) -> BuildError {
    move |e| BuildError::Device {
        what,
        reason: e.to_string(),
    }
}

/// A new eventfd registered as KVM's irqfd for `gsi`: the interrupt line `what` raises.
fn irq_line(vm: &VmFd, gsi: u32, what: &'static str) -> Result<EventFd, BuildError> {
    let irq = EventFd::new(EFD_NONBLOCK).map_err(|e| BuildError::Device {
        what,
        reason: e.to_string(),
    })?;
    vm.register_irqfd(&irq, gsi)
        .map_err(|e| BuildError::Device {
            what,
            reason: format!("cannot register it as KVM's irqfd for GSI {gsi}: {e}"),
        })?;
    Ok(irq)
}

/// Where the guest's console output goes; created by the runner, shared across reboots.
pub type ConsoleOut = Box<dyn std::io::Write + Send>;

/// What the VMM hands to a VM build besides the configuration.
pub struct BuildContext {
    /// Lifecycle requests from devices and vCPUs.
    pub requests: GuestRequests,
    /// Makes the writer for the guest console (called once per build).
    pub console: Box<dyn Fn() -> std::io::Result<ConsoleOut>>,
    /// When this boot began (ovmm's start for the first boot): the boot timer counts from it.
    pub started: std::time::Instant,
}

/// An orderly shutdown request the guest sees, implemented by the platform (x86: an ACPI
/// power-button event through the Generic Event Device). The guest decides what to do.
pub trait PowerButton: Send + Sync {
    /// Presses the button once.
    fn press(&self) -> Result<(), String>;
}

/// What the VMM uses to observe and control a running guest besides its vCPUs.
pub struct ControlDevices {
    /// When the guest reached userspace (the boot-timer register).
    pub boot_mark: BootMark,
    /// The power button, where the platform has one.
    pub power_button: Option<Box<dyn PowerButton>>,
}

/// A VM that is built but whose vCPUs do not run yet.
pub struct Vm {
    // Field order is drop order: vCPUs, buses and devices, then the VM fd, then the memory.
    vcpus: Vec<VcpuFd>,
    io: Arc<IoBuses>,
    serial: Arc<Mutex<SerialDevice>>,
    pci: pci::PciSegment,
    device_tree: Option<Vec<u8>>,
    control: ControlDevices,
    requests: GuestRequests,
    vm_fd: Arc<VmFd>,
    _kvm: Kvm,
    _memory: GuestMemory,
}

/// Opens /dev/kvm and checks that it is usable.
pub fn open_kvm() -> Result<Kvm, BuildError> {
    let kvm = Kvm::new().map_err(BuildError::Kvm)?;
    let version = kvm.get_api_version();
    if version != 12 {
        return Err(BuildError::KvmVersion(version));
    }
    Ok(kvm)
}

impl Vm {
    /// Builds a VM from `config`.
    pub fn build(config: &VmConfig, ctx: &BuildContext) -> Result<Vm, BuildError> {
        let kvm = open_kvm()?;
        let vm_fd = Arc::new(platform::create_vm(&kvm, config)?);
        let memory = memory::create(&platform::ram_regions(config.memory))?;
        let next_slot = memory::register(&vm_fd, &memory, 0)?;
        let irqchip = platform::create_irqchip(&kvm, &vm_fd, config)?;
        let io = Arc::new(IoBuses::default());
        let console = (ctx.console)().map_err(|e| BuildError::Device {
            what: "the serial console output",
            reason: e.to_string(),
        })?;
        let serial = platform::create_devices(&vm_fd, &io, config, &ctx.requests, console)?;
        let control = platform::create_control_devices(&vm_fd, &io, ctx.started)?;
        let pci = platform::create_pci(&kvm, &vm_fd, &io, &memory, config, next_slot, &irqchip)?;
        let boot = platform::load_boot_description(&memory, config, &pci, &irqchip)?;
        let vcpus = platform::create_vcpus(&kvm, &vm_fd, &memory, config.cpus, &boot, irqchip)?;
        Ok(Vm {
            vcpus,
            io,
            serial,
            pci,
            device_tree: boot.device_tree.map(|(_, blob)| blob),
            control,
            requests: ctx.requests.clone(),
            vm_fd,
            _kvm: kvm,
            _memory: memory,
        })
    }

    /// Starts the vCPU threads.
    pub fn start(mut self, failures: Arc<VcpuFailures>) -> Result<RunningVm, BuildError> {
        let vcpus = std::mem::take(&mut self.vcpus);
        let threads = VcpuSet::start(vcpus, self.io.clone(), self.requests.clone(), failures)?;
        Ok(RunningVm { threads, vm: self })
    }

    /// The VM file descriptor (for device wiring that needs KVM).
    pub fn vm_fd(&self) -> &VmFd {
        &self.vm_fd
    }

    /// The PCI segment (root complex and passthrough devices).
    pub fn pci(&self) -> &pci::PciSegment {
        &self.pci
    }

    /// The device tree blob the guest gets (arm64; `None` on x86, which has ACPI tables).
    pub fn device_tree(&self) -> Option<&[u8]> {
        self.device_tree.as_deref()
    }
}

/// Builds the VM `config` describes without ever starting it, for inspection (`--dump-dtb`,
/// `--dump-acpi`): guest console output and requests go nowhere, since no vCPU runs.
pub fn build_unstarted(config: &VmConfig) -> Result<Vm, BuildError> {
    let requests = GuestRequests::new().map_err(|e| BuildError::Device {
        what: "the guest request channel",
        reason: e.to_string(),
    })?;
    let ctx = BuildContext {
        requests,
        console: Box::new(|| Ok(Box::new(std::io::sink()) as ConsoleOut)),
        started: std::time::Instant::now(),
    };
    Vm::build(config, &ctx)
}

/// The device tree of the VM `config` describes (`--dump-dtb`; `None` on x86).
pub fn device_tree_of(config: &VmConfig) -> Result<Option<Vec<u8>>, BuildError> {
    let vm = build_unstarted(config)?;
    Ok(vm.device_tree().map(<[u8]>::to_vec))
}

/// A VM whose vCPUs run. Dropping it stops them, then releases the VM.
pub struct RunningVm {
    // Declared first so it drops first: vCPU threads stop before the VM goes away.
    threads: VcpuSet,
    vm: Vm,
}

impl RunningVm {
    /// The guest's serial port, for the input pump.
    pub fn serial(&self) -> &Arc<Mutex<SerialDevice>> {
        &self.vm.serial
    }

    /// The `--disk` and `--net` devices, for the event loop.
    pub fn virtio(&self) -> &crate::virtio::VirtioDevices {
        &self.vm.pci.virtio
    }

    /// Stops the vCPUs and waits for their threads.
    pub fn stop(mut self) {
        self.threads.stop();
    }

    /// Parks the vCPUs outside KVM_RUN (see [`VcpuSet::pause`]).
    pub fn pause(&self) -> Result<(), String> {
        self.threads.pause()
    }

    /// Lets paused vCPUs run again.
    pub fn resume(&self) {
        self.threads.resume()
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.threads.is_paused()
    }

    /// When this boot started and when the guest reached userspace.
    pub fn boot_mark(&self) -> &BootMark {
        &self.vm.control.boot_mark
    }

    /// Presses the guest's power button.
    pub fn press_power_button(&self) -> Result<(), String> {
        match &self.vm.control.power_button {
            Some(button) => button.press(),
            None => Err("this platform has no power button yet".to_string()),
        }
    }

    /// The PCI segment.
    pub fn pci(&self) -> &pci::PciSegment {
        &self.vm.pci
    }
}
