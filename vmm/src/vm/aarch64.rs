//! The arm64 parts of the build recipe: the VM with the host's IPA size, the vCPUs (preferred
//! target, PSCI 0.2) and the vGICv3 with a vITS when KVM gives one, the platform devices on
//! MMIO (16550 UART, PL031 RTC, test-exit register, boot timer, and the PL061 GPIO controller
//! whose line 3 is the power button), the PCI segment with its I/O window on MMIO, and the boot
//! description: the Image, the initrd and the device tree placed by
//! `arch::aarch64::boot`, with the boot vCPU's registers.
//!
//! Order matters to KVM: the vGIC is initialised (`KVM_DEV_ARM_VGIC_CTRL_INIT`) only after
//! every vCPU exists and is initialised, and that initialisation installs KVM's default
//! interrupt routes, so it must come before any irqfd or route of ours.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arch::aarch64::boot;
use arch::aarch64::fdt::{self, intx_spi, Arm64Platform, FdtError, IntxPin};
use arch::aarch64::layout::{self, GicRegions, GuestRange};
use arch::aarch64::regs;
use devices::bus::{BusDevice, SharedDevice};
use devices::legacy::{
    BootMark, BootTimerDevice, Pl031Device, Pl061Device, SerialDevice, TestExitDevice,
};
use devices::lifecycle::GuestRequests;
use kvm_bindings::{
    kvm_create_device, kvm_device_attr, kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_ITS,
    kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3, kvm_enable_cap, kvm_vcpu_init,
    KVM_ARM_VCPU_POWER_OFF, KVM_ARM_VCPU_PSCI_0_2, KVM_CAP_ARM_NISV_TO_USER,
    KVM_DEV_ARM_VGIC_CTRL_INIT, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_DEV_ARM_VGIC_GRP_CTRL,
    KVM_DEV_ARM_VGIC_GRP_NR_IRQS, KVM_VGIC_ITS_ADDR_TYPE, KVM_VGIC_V3_ADDR_TYPE_DIST,
    KVM_VGIC_V3_ADDR_TYPE_REDIST,
};
use kvm_ioctls::{DeviceFd, Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress};

use super::pci::{PciPlatform, PciSegment};
use super::{bus_error, irq_line, Boot, BuildError, ControlDevices, PowerButton};
use crate::config::VmConfig;
use crate::memory::GuestMemory;
use crate::pci::Window;
use crate::vcpu::IoBuses;

/// IPA size of a VM created without asking (KVM's arm64 default).
const DEFAULT_IPA_BITS: u8 = 40;
/// First I/O port handed to I/O BARs: ports below stay free (port 0 looks "unassigned" to
/// some drivers, and the low ports are legacy ISA addresses).
const FIRST_PCI_IO_PORT: u64 = 0x1000;

/// Guest RAM regions for `size` bytes of memory.
pub fn ram_regions(size: u64) -> Vec<(GuestAddress, u64)> {
    layout::ram_regions(size)
}

/// The IPA size ovmm gives its VMs: all the host supports (`KVM_CAP_ARM_VM_IPA_SIZE`), or
/// KVM's default 40 bits when the host cannot choose.
pub fn ipa_bits(kvm: &Kvm) -> u8 {
    match kvm.get_host_ipa_limit() {
        limit if limit > 0 => limit.clamp(
            i32::from(layout::MIN_IPA_BITS),
            i32::from(layout::MAX_IPA_BITS),
        ) as u8,
        _ => DEFAULT_IPA_BITS,
    }
}

/// The VM, with the largest IPA space the host supports; checks that RAM fits in it.
pub fn create_vm(kvm: &Kvm, config: &VmConfig) -> Result<VmFd, BuildError> {
    let bits = ipa_bits(kvm);
    let max = layout::max_ram_size(bits).map_err(|e| BuildError::Platform(e.to_string()))?;
    if config.memory > max {
        return Err(BuildError::Load(format!(
            "--memory of {} MiB does not fit this host's {bits}-bit guest physical address \
             space: RAM starts at 1 GiB, so at most {} MiB; ask for less",
            config.memory >> 20,
            max >> 20
        )));
    }
    let vm = if kvm.get_host_ipa_limit() > 0 {
        kvm.create_vm_with_ipa_size(u32::from(bits))
    } else {
        kvm.create_vm()
    };
    log::info!("arm64 VM with a {bits}-bit IPA space");
    let vm = vm.map_err(|source| BuildError::KvmCall {
        what: "create the VM",
        source,
    })?;
    report_mmio_without_syndrome(&vm);
    Ok(vm)
}

/// Asks KVM to report guest MMIO accesses it cannot decode (`KVM_CAP_ARM_NISV_TO_USER`), so
/// the vCPU loop can name the address instead of KVM_RUN failing with ENOSYS.
fn report_mmio_without_syndrome(vm: &VmFd) {
    if vm.check_extension_raw(u64::from(KVM_CAP_ARM_NISV_TO_USER)) <= 0 {
        return;
    }
    let cap = kvm_enable_cap {
        cap: KVM_CAP_ARM_NISV_TO_USER,
        ..Default::default()
    };
    if let Err(e) = vm.enable_cap(&cap) {
        log::debug!("KVM_CAP_ARM_NISV_TO_USER: {e}");
    }
}

/// The vCPUs and the vGIC, created together because KVM initialises the vGIC only after the
/// vCPUs; the vCPU step takes the vCPUs from here.
pub struct Irqchip {
    vcpus: Vec<VcpuFd>,
    mpidrs: Vec<u64>,
    gic: GicRegions,
}

impl Irqchip {
    /// Whether the VM has a vITS (MSI controller).
    pub fn has_its(&self) -> bool {
        self.gic.its.is_some()
    }
}

/// Creates and initialises the vCPUs (secondaries powered off until PSCI CPU_ON), reads their
/// MPIDRs, then creates the vGICv3 and, unless `--msi off`, a vITS (without one, MSI is off
/// for the run and devices use INTx), and initialises them.
pub fn create_irqchip(_kvm: &Kvm, vm: &VmFd, config: &VmConfig) -> Result<Irqchip, BuildError> {
    let mut kvi = kvm_vcpu_init::default();
    vm.get_preferred_target(&mut kvi)
        .map_err(|source| BuildError::KvmCall {
            what: "read KVM's preferred arm64 vCPU target",
            source,
        })?;
    let mut vcpus = Vec::with_capacity(usize::from(config.cpus));
    let mut mpidrs = Vec::with_capacity(usize::from(config.cpus));
    for id in 0..config.cpus {
        let err = |what: &'static str| move |source| BuildError::Vcpu { id, what, source };
        let vcpu = vm.create_vcpu(u64::from(id)).map_err(err("create"))?;
        let mut init = kvi;
        init.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
        if id > 0 {
            init.features[0] |= 1 << KVM_ARM_VCPU_POWER_OFF;
        }
        vcpu.vcpu_init(&init)
            .map_err(err("initialise (KVM_ARM_VCPU_INIT)"))?;
        let mut mpidr = [0u8; 8];
        vcpu.get_one_reg(regs::MPIDR_EL1, &mut mpidr)
            .map_err(err("read MPIDR_EL1"))?;
        mpidrs.push(u64::from_le_bytes(mpidr));
        vcpus.push(vcpu);
    }
    let gic = create_gic(vm, u32::from(config.cpus), config.msi)?;
    Ok(Irqchip { vcpus, mpidrs, gic })
}

fn create_gic(vm: &VmFd, vcpus: u32, want_its: bool) -> Result<GicRegions, BuildError> {
    let regions = GicRegions::for_vcpus(vcpus, false).map_err(|e| BuildError::Device {
        what: "the GICv3",
        reason: e.to_string(),
    })?;
    let gic = create_kvm_device(vm, kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3).map_err(|source| {
        BuildError::KvmCall {
            what: "create the vGICv3 (ovmm needs a host with a GICv3; GICv2-only hosts such as the Raspberry Pi 4 are not supported)",
            source,
        }
    })?;
    let gic_call = |what: &'static str| move |source| BuildError::KvmCall { what, source };
    let dist = regions.distributor.start.0;
    let redist = regions.redistributors.start.0;
    set_attr(
        &gic,
        KVM_DEV_ARM_VGIC_GRP_ADDR,
        u64::from(KVM_VGIC_V3_ADDR_TYPE_DIST),
        &dist,
    )
    .map_err(gic_call("place the GICv3 distributor"))?;
    set_attr(
        &gic,
        KVM_DEV_ARM_VGIC_GRP_ADDR,
        u64::from(KVM_VGIC_V3_ADDR_TYPE_REDIST),
        &redist,
    )
    .map_err(gic_call("place the GICv3 redistributors"))?;
    let nr_irqs: u32 = layout::GIC_NR_IRQS;
    set_attr(&gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs)
        .map_err(gic_call("set the number of GICv3 interrupts"))?;

    let its = if want_its { create_its(vm) } else { None };
    init_device(&gic).map_err(gic_call("initialise the vGICv3"))?;
    if let Some(its) = &its {
        init_device(its).map_err(gic_call("initialise the vITS"))?;
    }
    let regions = GicRegions {
        its: its.map(|_| GuestRange::new(layout::GIC_ITS_START, layout::GIC_ITS_SIZE)),
        ..regions
    };
    log::info!(
        "vGICv3 for {vcpus} vCPUs{}",
        if regions.its.is_some() {
            " with a vITS: passthrough devices may use MSI/MSI-X"
        } else if want_its {
            " without ITS: passthrough devices use INTx"
        } else {
            " (--msi off: passthrough devices use INTx)"
        }
    );
    Ok(regions)
}

/// A vITS at its layout address, or `None` (logged) when KVM cannot give one.
fn create_its(vm: &VmFd) -> Option<DeviceFd> {
    let its = match create_kvm_device(vm, kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_ITS) {
        Ok(its) => its,
        Err(e) => {
            log::info!("KVM cannot create a vITS ({e}): MSI is off, devices use INTx");
            return None;
        }
    };
    let base = layout::GIC_ITS_START.0;
    match set_attr(
        &its,
        KVM_DEV_ARM_VGIC_GRP_ADDR,
        u64::from(KVM_VGIC_ITS_ADDR_TYPE),
        &base,
    ) {
        Ok(()) => Some(its),
        Err(e) => {
            log::info!(
                "KVM refused the vITS address {base:#x} ({e}): MSI is off, devices use INTx"
            );
            None
        }
    }
}

fn create_kvm_device(vm: &VmFd, type_: u32) -> Result<DeviceFd, kvm_ioctls::Error> {
    let mut device = kvm_create_device {
        type_,
        fd: 0,
        flags: 0,
    };
    vm.create_device(&mut device)
}

/// Sets device attribute `group`/`attr` to the value at `value` (KVM reads it through the
/// pointer during the call).
fn set_attr<T>(dev: &DeviceFd, group: u32, attr: u64, value: &T) -> Result<(), kvm_ioctls::Error> {
    dev.set_device_attr(&kvm_device_attr {
        flags: 0,
        group,
        attr,
        addr: value as *const T as u64,
    })
}

fn init_device(dev: &DeviceFd) -> Result<(), kvm_ioctls::Error> {
    dev.set_device_attr(&kvm_device_attr {
        flags: 0,
        group: KVM_DEV_ARM_VGIC_GRP_CTRL,
        attr: u64::from(KVM_DEV_ARM_VGIC_CTRL_INIT),
        addr: 0,
    })
}

/// The platform devices on MMIO: the 16550 UART (its SPI through an irqfd, edge-triggered as
/// the device tree says), the PL031 RTC and the test-exit register.
pub fn create_devices(
    vm: &VmFd,
    io: &IoBuses,
    _config: &VmConfig,
    requests: &GuestRequests,
    console: super::ConsoleOut,
) -> Result<Arc<Mutex<SerialDevice>>, BuildError> {
    let irq = irq_line(vm, layout::SERIAL_SPI, "the serial port interrupt")?;
    let serial = Arc::new(Mutex::new(SerialDevice::new(irq, console)));
    io.mmio
        .insert(serial.clone(), layout::SERIAL_START.0, layout::SERIAL_SIZE)
        .map_err(bus_error("the serial port"))?;

    let rtc: SharedDevice = Arc::new(Mutex::new(Pl031Device::new()));
    io.mmio
        .insert(rtc, layout::RTC_START.0, layout::RTC_SIZE)
        .map_err(bus_error("the PL031 RTC"))?;

    let exit: SharedDevice = Arc::new(Mutex::new(TestExitDevice::new(requests.clone())));
    io.mmio
        .insert(exit, layout::TEST_EXIT_START.0, layout::TEST_EXIT_SIZE)
        .map_err(bus_error("the test-exit register"))?;
    Ok(serial)
}

/// How long a press holds the power button's line high, as QEMU's `gpio-key` does: longer
/// than the guest's `gpio-keys` debounce (5 ms by default), so the guest reads it pressed.
const POWER_BUTTON_HOLD: Duration = Duration::from_millis(100);

/// The devices the VMM itself watches: the boot-timer register and the PL061 GPIO controller
/// (its SPI through an irqfd, edge-triggered as the device tree says) whose line
/// [`layout::GPIO_POWER_BUTTON_PIN`] is the power button.
pub fn create_control_devices(
    vm: &VmFd,
    io: &IoBuses,
    started: std::time::Instant,
) -> Result<ControlDevices, BuildError> {
    let boot_mark = BootMark::new(started);
    let timer: SharedDevice = Arc::new(Mutex::new(BootTimerDevice::new(boot_mark.clone())));
    io.mmio
        .insert(timer, layout::BOOT_TIMER_START.0, layout::BOOT_TIMER_SIZE)
        .map_err(bus_error("the boot-timer register"))?;

    let irq = irq_line(vm, layout::GPIO_SPI, "the GPIO controller interrupt")?;
    let gpio = Arc::new(Mutex::new(Pl061Device::new(irq)));
    io.mmio
        .insert(gpio.clone(), layout::GPIO_START.0, layout::GPIO_SIZE)
        .map_err(bus_error("the PL061 GPIO controller"))?;
    Ok(ControlDevices {
        boot_mark,
        power_button: Some(Box::new(GpioPowerButton {
            gpio,
            pin: layout::GPIO_POWER_BUTTON_PIN,
            hold: POWER_BUTTON_HOLD,
        })),
    })
}

/// The power button as a GPIO line: a press drives the line high, and a short-lived thread
/// lets it go after `hold`, so the guest's `gpio-keys` sees KEY_POWER pressed, then released.
/// A press while the line is still held changes nothing.
struct GpioPowerButton {
    gpio: Arc<Mutex<Pl061Device>>,
    pin: u8,
    hold: Duration,
}

impl GpioPowerButton {
    fn drive(gpio: &Mutex<Pl061Device>, pin: u8, high: bool) -> Result<(), String> {
        gpio.lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_input(pin, high)
            .map_err(|e| format!("cannot drive GPIO line {pin} of the power button: {e}"))
    }
}

impl PowerButton for GpioPowerButton {
    fn press(&self) -> Result<(), String> {
        Self::drive(&self.gpio, self.pin, true)?;
        let (gpio, pin, hold) = (self.gpio.clone(), self.pin, self.hold);
        let release = std::thread::Builder::new()
            .name("ovmm-power-button".into())
            .spawn(move || {
                std::thread::sleep(hold);
                if let Err(e) = Self::drive(&gpio, pin, false) {
                    log::warn!("{e}");
                }
            });
        if let Err(e) = release {
            // The press stands (the guest sees it); only the release is lost.
            log::warn!(
                "cannot start the power button's release timer ({e}): the button stays pressed"
            );
        }
        Ok(())
    }
}

/// PCI I/O space as the CPU sees it on arm64: a MMIO window whose offset is the port number.
/// Accesses are passed to the port I/O bus, where I/O BARs are trapped as on x86.
///
/// It holds the buses weakly: it lives on one of them.
struct PciIoWindow {
    io: Weak<IoBuses>,
}

impl BusDevice for PciIoWindow {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let done = self
            .io
            .upgrade()
            .is_some_and(|io| io.pio.read(offset, data));
        if !done {
            data.fill(0xff);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let Some(io) = self.io.upgrade() {
            io.pio.write(offset, data);
        }
    }
}

/// INTA of slot `s` raises SPI `intx_spi(s, A)`: the irqfd GSI is the SPI number.
fn intx_gsi(slot: u8) -> u32 {
    intx_spi(slot, IntxPin::A)
}

/// The PCI root complex (ECAM, the I/O window) and the `--vfio` devices on it. The 64-bit
/// window goes above RAM, bounded by the VM's IPA space. MSI needs the vITS.
pub fn create_pci(
    kvm: &Kvm,
    vm: &Arc<VmFd>,
    io: &Arc<IoBuses>,
    mem: &GuestMemory,
    config: &VmConfig,
    first_slot: u32,
    irqchip: &Irqchip,
) -> Result<PciSegment, BuildError> {
    let window: SharedDevice = Arc::new(Mutex::new(PciIoWindow {
        io: Arc::downgrade(io),
    }));
    io.mmio
        .insert(window, layout::PCI_IO_START.0, layout::PCI_IO_SIZE)
        .map_err(bus_error("the PCI I/O window"))?;
    let platform = pci_platform(config, ipa_bits(kvm), irqchip.has_its());
    if config.msi && !irqchip.has_its() && !config.vfio.is_empty() {
        log::info!("no vITS in this VM: every passthrough device uses INTx (as with --msi off)");
    }
    super::pci::create(vm, io, mem, config, first_slot, &platform)
}

/// Where the PCI segment's pieces go for `config` in an `ipa_bits` IPA space: I/O BARs from
/// port 0x1000, the 64-bit window above RAM and below 2^`ipa_bits`, INTx on the swizzled SPIs,
/// MSI only with `--msi on` and a vITS, with the requester ID in every route.
fn pci_platform(config: &VmConfig, ipa_bits: u8, has_its: bool) -> PciPlatform {
    PciPlatform {
        ecam: (layout::PCI_ECAM_START.0, layout::PCI_ECAM_SIZE),
        config_io_port: None,
        io: Window {
            name: "I/O window",
            start: FIRST_PCI_IO_PORT,
            size: layout::PCI_IO_SIZE - FIRST_PCI_IO_PORT,
        },
        mmio32: Window {
            name: "32-bit MMIO window",
            start: layout::PCI_MMIO32_START.0,
            size: layout::PCI_MMIO32_SIZE,
        },
        mmio64_floor: layout::RAM_START.0 + config.memory,
        addr_limit: 1u64 << ipa_bits,
        intx_gsi,
        msi: config.msi && has_its,
        msi_requester_ids: true,
    }
}

/// Loads the Image and the initrd where `arch::aarch64::boot` places them, then builds the
/// device tree for this VM and writes it after the kernel.
pub fn load_boot_description(
    mem: &GuestMemory,
    config: &VmConfig,
    pci: &PciSegment,
    irqchip: &Irqchip,
) -> Result<Boot, BuildError> {
    let ram = GuestRange::new(layout::RAM_START, config.memory);
    let (mut kernel, header, kernel_len) = open_kernel(&config.kernel)?;
    let initrd = match &config.initrd {
        Some(path) => Some(open_initrd(path)?),
        None => None,
    };
    let plan =
        boot::plan_boot(ram, &header, kernel_len, initrd.as_ref().map(|i| i.1)).map_err(|e| {
            BuildError::Load(format!(
                "cannot place kernel '{}' in {} MiB of guest RAM: {e}",
                config.kernel.display(),
                config.memory >> 20
            ))
        })?;
    copy_into(
        mem,
        plan.kernel.start,
        &mut kernel,
        kernel_len,
        &config.kernel,
    )?;
    if let (Some((mut file, size, path)), Some(range)) = (initrd, plan.initrd) {
        copy_into(mem, range.start, &mut file, size, &path)?;
    }
    let description = describe(
        config,
        &irqchip.mpidrs,
        irqchip.gic,
        pci.windows.mmio64,
        plan.initrd,
    )?;
    let blob = device_tree(&description)?;
    mem.write_slice(&blob, plan.fdt.start)
        .map_err(|e| BuildError::Platform(format!("cannot write the device tree: {e}")))?;
    log::info!(
        "kernel at {:#x}, device tree ({} bytes) at {:#x}{}",
        plan.kernel.start.0,
        blob.len(),
        plan.fdt.start.0,
        plan.initrd
            .map(|r| format!(", initrd at {:#x}", r.start.0))
            .unwrap_or_default()
    );
    Ok(Boot {
        entry: plan.entry(),
        device_tree: Some((plan.fdt.start, blob)),
    })
}

/// What the device tree describes for this VM: its vCPUs' MPIDRs, RAM, the vGIC (with the
/// ITS only if the VM has one), the platform devices, the PCI windows (the 64-bit one only if
/// a BAR needed it) and the initrd.
fn describe(
    config: &VmConfig,
    mpidrs: &[u64],
    gic: GicRegions,
    mmio64: Option<Window>,
    initrd: Option<GuestRange>,
) -> Result<Arm64Platform, BuildError> {
    let mut p = Arm64Platform::standard(
        mpidrs.to_vec(),
        config.memory,
        &config.cmdline,
        gic.its.is_some(),
    )
    .map_err(|e| BuildError::Platform(e.to_string()))?;
    p.gic = gic;
    p.initrd = initrd;
    if let Some(host) = p.pci.as_mut() {
        host.mmio64 = mmio64.map(|w| GuestRange::new(GuestAddress(w.start), w.size));
    }
    Ok(p)
}

/// The DTB of `description`; a command line the tree cannot hold is bad input.
fn device_tree(description: &Arm64Platform) -> Result<Vec<u8>, BuildError> {
    fdt::create_fdt(description).map_err(|e| match e {
        FdtError::CmdlineTooLong { .. } => BuildError::Load(format!("invalid --cmdline: {e}")),
        other => BuildError::Platform(other.to_string()),
    })
}

type OpenedKernel = (File, boot::ImageHeader, u64);

fn open_kernel(path: &Path) -> Result<OpenedKernel, BuildError> {
    let bad = |e: &dyn std::fmt::Display| {
        BuildError::Load(format!("cannot load kernel '{}': {e}", path.display()))
    };
    let mut file = File::open(path).map_err(|e| bad(&e))?;
    let len = file.metadata().map_err(|e| bad(&e))?.len();
    let mut head = Vec::with_capacity(boot::IMAGE_HEADER_SIZE);
    (&mut file)
        .take(boot::IMAGE_HEADER_SIZE as u64)
        .read_to_end(&mut head)
        .map_err(|e| bad(&e))?;
    let header = boot::parse_image_header(&head).map_err(|e| bad(&e))?;
    let file = File::open(path).map_err(|e| bad(&e))?;
    Ok((file, header, len))
}

fn open_initrd(path: &Path) -> Result<(File, u64, std::path::PathBuf), BuildError> {
    let bad = |e: &dyn std::fmt::Display| {
        BuildError::Load(format!("cannot load initrd '{}': {e}", path.display()))
    };
    let file = File::open(path).map_err(|e| bad(&e))?;
    let size = file.metadata().map_err(|e| bad(&e))?.len();
    Ok((file, size, path.to_path_buf()))
}

fn copy_into(
    mem: &GuestMemory,
    at: GuestAddress,
    file: &mut File,
    size: u64,
    path: &Path,
) -> Result<(), BuildError> {
    mem.read_exact_volatile_from(at, file, size as usize)
        .map_err(|e| {
            BuildError::Load(format!(
                "cannot read '{}' into guest RAM: {e}",
                path.display()
            ))
        })
}

/// Sets the boot vCPU's registers (`pc` at the Image, `x0` the device tree); the other vCPUs
/// stay powered off until the guest starts them with PSCI CPU_ON.
pub fn create_vcpus(
    _kvm: &Kvm,
    _vm: &VmFd,
    _mem: &GuestMemory,
    _count: u8,
    boot: &Boot,
    irqchip: Irqchip,
) -> Result<Vec<VcpuFd>, BuildError> {
    let fdt = boot
        .device_tree
        .as_ref()
        .map(|(addr, _)| addr.0)
        .ok_or_else(|| BuildError::Platform("no device tree was written".to_string()))?;
    if let Some(vcpu) = irqchip.vcpus.first() {
        for (reg, value) in regs::boot_regs(boot.entry.0, fdt) {
            vcpu.set_one_reg(reg, &value.to_le_bytes())
                .map_err(|source| BuildError::Vcpu {
                    id: 0,
                    what: "set a boot register",
                    source,
                })?;
        }
    }
    Ok(irqchip.vcpus)
}

#[cfg(test)]
mod tests;
