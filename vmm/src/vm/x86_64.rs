//! The x86_64 parts of the build recipe: in-kernel irqchip and PIT, the legacy platform
//! devices on port I/O, the Linux boot description (kernel, initrd, command line, ACPI tables,
//! boot params) and the vCPUs' boot state.

use std::fs::File;
use std::sync::{Arc, Mutex};

use arch::x86_64::layout::{
    ACPI_PM_BASE, ACPI_PM_LEN, BOOT_TIMER_PORT, BOOT_TIMER_PORT_LEN, COM1_PORT, COM_PORT_LEN,
    GED_IRQ, GED_PORT, GED_PORT_LEN, I8042_DATA_PORT, RTC_PORT, RTC_PORT_LEN, TEST_EXIT_PORT,
    TEST_EXIT_PORT_LEN,
};
use arch::x86_64::{acpi, boot, cpuid, layout, regs};
use devices::bus::SharedDevice;
use devices::legacy::{
    AcpiPmDevice, BootMark, BootTimerDevice, Cmos, GedDevice, I8042Device, SerialDevice,
    TestExitDevice,
};
use devices::lifecycle::GuestRequests;
use kvm_bindings::{kvm_pit_config, Msrs, KVM_MAX_CPUID_ENTRIES, KVM_PIT_SPEAKER_DUMMY};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use linux_loader::cmdline::Cmdline;
use linux_loader::loader::{self, BzImage, Elf, KernelLoader};
use vm_memory::{Address, Bytes, GuestAddress};

use super::pci::{PciPlatform, PciSegment};
use super::{bus_error, irq_line, Boot, BuildError, ControlDevices, PowerButton};
use crate::config::VmConfig;
use crate::memory::GuestMemory;
use crate::vcpu::IoBuses;

/// Where KVM keeps its TSS pages (three pages just below the identity map page, above the
/// BIOS area: never RAM in ovmm's map).
const KVM_TSS_ADDRESS: usize = 0xfffb_d000;
/// KVM's identity-map page for real-mode emulation on older Intel hosts.
const KVM_IDENTITY_MAP_ADDRESS: u64 = 0xfffb_c000;

/// Guest RAM regions for `size` bytes of memory.
pub fn ram_regions(size: u64) -> Vec<(GuestAddress, u64)> {
    layout::ram_regions(size)
}

/// The VM (the default VM type).
pub fn create_vm(kvm: &Kvm, _config: &VmConfig) -> Result<VmFd, BuildError> {
    kvm.create_vm().map_err(|source| BuildError::KvmCall {
        what: "create the VM",
        source,
    })
}

/// What the irqchip step hands on (nothing on x86: the irqchip lives in the VM).
pub struct Irqchip;

/// The full in-kernel irqchip (PIC, IOAPIC, LAPICs) and the PIT. A split irqchip cannot
/// resample level interrupts, which VFIO INTx needs.
pub fn create_irqchip(_kvm: &Kvm, vm: &VmFd, _config: &VmConfig) -> Result<Irqchip, BuildError> {
    let call = |what, r: Result<(), kvm_ioctls::Error>| {
        r.map_err(|source| BuildError::KvmCall { what, source })
    };
    call(
        "set the KVM TSS address",
        vm.set_tss_address(KVM_TSS_ADDRESS),
    )?;
    call(
        "set the KVM identity map address",
        vm.set_identity_map_address(KVM_IDENTITY_MAP_ADDRESS),
    )?;
    call("create the in-kernel irqchip", vm.create_irq_chip())?;
    let pit = kvm_pit_config {
        flags: KVM_PIT_SPEAKER_DUMMY,
        ..Default::default()
    };
    call("create the in-kernel PIT", vm.create_pit2(pit))?;
    Ok(Irqchip)
}

/// The legacy devices: COM1 (interrupt through an irqfd), i8042, CMOS RTC, the ACPI sleep
/// and reset registers and the test-exit port.
pub fn create_devices(
    vm: &VmFd,
    io: &IoBuses,
    config: &VmConfig,
    requests: &GuestRequests,
    console: super::ConsoleOut,
) -> Result<Arc<Mutex<SerialDevice>>, BuildError> {
    let irq = irq_line(vm, layout::SERIAL_IRQ, "the serial port interrupt")?;
    let serial = Arc::new(Mutex::new(SerialDevice::new(irq, console)));
    io.pio
        .insert(serial.clone(), COM1_PORT.into(), COM_PORT_LEN.into())
        .map_err(bus_error("the serial port"))?;

    let (below, above) = split_memory(config.memory);
    let cmos: SharedDevice = Arc::new(Mutex::new(Cmos::new(below, above)));
    io.pio
        .insert(cmos, RTC_PORT.into(), RTC_PORT_LEN.into())
        .map_err(bus_error("the CMOS RTC"))?;

    let i8042: SharedDevice = Arc::new(Mutex::new(I8042Device::new(requests.clone())));
    io.pio
        .insert(i8042, I8042_DATA_PORT.into(), I8042Device::LEN)
        .map_err(bus_error("the i8042 controller"))?;

    let pm: SharedDevice = Arc::new(Mutex::new(AcpiPmDevice::new(requests.clone())));
    io.pio
        .insert(pm, ACPI_PM_BASE.into(), ACPI_PM_LEN.into())
        .map_err(bus_error("the ACPI power registers"))?;

    let exit: SharedDevice = Arc::new(Mutex::new(TestExitDevice::new(requests.clone())));
    io.pio
        .insert(exit, TEST_EXIT_PORT.into(), TEST_EXIT_PORT_LEN.into())
        .map_err(bus_error("the test-exit port"))?;
    Ok(serial)
}

// The GED model and the DSDT's `_EVT` must agree on the power-button bit.
const _: () = assert!(devices::legacy::ged::EVENT_POWER_BUTTON == acpi::ged::EVENT_POWER_BUTTON);

/// The boot-timer port and the Generic Event Device (its event register on port I/O, its
/// interrupt through an irqfd), which carries the power button.
pub fn create_control_devices(
    vm: &VmFd,
    io: &IoBuses,
    started: std::time::Instant,
) -> Result<ControlDevices, BuildError> {
    let boot_mark = BootMark::new(started);
    let timer: SharedDevice = Arc::new(Mutex::new(BootTimerDevice::new(boot_mark.clone())));
    io.pio
        .insert(timer, BOOT_TIMER_PORT.into(), BOOT_TIMER_PORT_LEN.into())
        .map_err(bus_error("the boot-timer port"))?;

    let irq = irq_line(vm, GED_IRQ, "the GED interrupt")?;
    let ged = Arc::new(Mutex::new(GedDevice::new(irq)));
    io.pio
        .insert(ged.clone(), GED_PORT.into(), GED_PORT_LEN.into())
        .map_err(bus_error("the GED event register"))?;
    Ok(ControlDevices {
        boot_mark,
        power_button: Some(Box::new(GedPowerButton(ged))),
    })
}

/// The power button as a GED event.
struct GedPowerButton(Arc<Mutex<GedDevice>>);

impl PowerButton for GedPowerButton {
    fn press(&self) -> Result<(), String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .notify(devices::legacy::ged::EVENT_POWER_BUTTON)
            .map_err(|e| format!("cannot raise the GED interrupt: {e}"))
    }
}

fn split_memory(size: u64) -> (u64, u64) {
    ram_regions(size)
        .iter()
        .fold((0, 0), |(below, above), &(start, len)| {
            if start.raw_value() < layout::HIGH_RAM_START.raw_value() {
                (below + len, above)
            } else {
                (below, above + len)
            }
        })
}

/// The guest's physical address width, from KVM's CPUID leaf 0x8000_0008 (36 if absent).
fn guest_phys_bits(kvm: &Kvm) -> Result<u8, BuildError> {
    let cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(|source| BuildError::KvmCall {
            what: "read the supported CPUID",
            source,
        })?;
    Ok(cpuid
        .as_slice()
        .iter()
        .find(|e| e.function == 0x8000_0008)
        .map(|e| (e.eax & 0xff) as u8)
        .filter(|&b| b >= 32)
        .unwrap_or(36))
}

/// INTA of slot `s` goes to IOAPIC pin 16 + (s mod 8): level-triggered, active high, shared
/// by slots 8 apart (the ACPI `_PRT` describes exactly this).
fn intx_gsi(slot: u8) -> u32 {
    layout::PCI_INTX_GSI_BASE + u32::from(slot) % layout::PCI_INTX_GSI_COUNT
}

/// The PCI root complex (0xCF8 and ECAM) and the `--vfio` devices on it.
pub fn create_pci(
    kvm: &Kvm,
    vm: &Arc<VmFd>,
    io: &Arc<IoBuses>,
    mem: &GuestMemory,
    config: &VmConfig,
    first_slot: u32,
    _irqchip: &Irqchip,
) -> Result<PciSegment, BuildError> {
    let ram_end = ram_regions(config.memory)
        .iter()
        .map(|(a, s)| a.raw_value() + s)
        .max()
        .unwrap_or(0);
    let platform = PciPlatform {
        ecam: (layout::PCI_ECAM_START.raw_value(), layout::PCI_ECAM_SIZE),
        config_io_port: Some(layout::PCI_CONFIG_IO_PORT.into()),
        io: crate::pci::Window {
            name: "I/O window",
            start: layout::PCI_IO_START.into(),
            size: layout::PCI_IO_SIZE.into(),
        },
        mmio32: crate::pci::Window {
            name: "32-bit MMIO window",
            start: layout::PCI_MMIO32_START.raw_value(),
            size: layout::PCI_MMIO32_SIZE,
        },
        mmio64_floor: ram_end.max(layout::HIGH_RAM_START.raw_value()),
        addr_limit: 1u64 << guest_phys_bits(kvm)?,
        intx_gsi,
        msi: config.msi,
        msi_requester_ids: false,
    };
    super::pci::create(vm, io, mem, config, first_slot, &platform)
}

/// Loads the kernel, initrd and command line, writes the ACPI tables and the boot params.
/// Returns the 64-bit entry point.
pub fn load_boot_description(
    mem: &GuestMemory,
    config: &VmConfig,
    pci: &PciSegment,
    _irqchip: &Irqchip,
) -> Result<Boot, BuildError> {
    let kernel = load_kernel(mem, config)?;
    let cmdline = load_cmdline(mem, &config.cmdline)?;
    let initrd = match &config.initrd {
        Some(path) => Some(load_initrd(mem, config, path, &kernel)?),
        None => None,
    };
    let tables = acpi_tables(config, pci)?;
    let rsdp = acpi::write_tables(mem, &tables).map_err(|e| BuildError::Platform(e.to_string()))?;
    for t in &config.acpi_tables {
        log::info!(
            "ACPI: added {} from {} ({} bytes)",
            t.signature,
            t.path.display(),
            t.bytes.len()
        );
    }
    let params = boot::BootConfig {
        setup_header: kernel.setup_header,
        cmdline_addr: layout::CMDLINE_START,
        cmdline_size: cmdline,
        initrd,
        rsdp: Some(rsdp),
        ram_regions: ram_regions(config.memory),
    };
    boot::configure_system(mem, &params).map_err(|e| BuildError::Platform(e.to_string()))?;
    Ok(Boot {
        entry: kernel.entry,
        device_tree: None,
    })
}

/// The ACPI tables of a VM with `config` and the PCI segment `pci` (what the guest gets, and
/// what `--dump-acpi` writes).
pub fn acpi_tables(config: &VmConfig, pci: &PciSegment) -> Result<acpi::AcpiTables, BuildError> {
    acpi_tables_for(
        config.cpus,
        pci.windows.mmio64.map(|w| (w.start, w.size)),
        &pci.intx,
        config.acpi_tables.iter().map(|t| t.bytes.clone()).collect(),
    )
}

/// The ACPI tables for `cpus` vCPUs, a 64-bit PCI window (start, size) if any, and the INTx
/// routes of the slots in use, and the user's extra tables (`--acpi-table`).
pub fn acpi_tables_for(
    cpus: u8,
    mmio64: Option<(u64, u64)>,
    intx: &[super::pci::IntxRoute],
    extra_tables: Vec<Vec<u8>>,
) -> Result<acpi::AcpiTables, BuildError> {
    let mut platform = acpi::AcpiPlatform::new(cpus);
    // ovmm's i8042 is only the reset line, not a keyboard controller: leaving it out of the
    // tables keeps Linux from probing it (and waiting for a self-test answer at boot).
    platform.i8042 = None;
    platform.pci = Some(acpi::PciRootDescription::new(
        mmio64.map(|(start, size)| (GuestAddress(start), size)),
        intx.iter()
            .map(|r| acpi::PrtEntry {
                slot: r.slot,
                pin: 0,
                gsi: r.gsi,
            })
            .collect(),
    ));
    platform.ged = Some(acpi::GedDescription {
        port: GED_PORT,
        irq: GED_IRQ,
    });
    platform.extra_tables = extra_tables;
    acpi::build_tables(&platform, layout::ACPI_START)
        .map_err(|e| BuildError::Platform(e.to_string()))
}

type SetupHeader = linux_loader::loader::bootparam::setup_header;

/// Where the kernel landed.
struct LoadedKernel {
    entry: GuestAddress,
    end: GuestAddress,
    setup_header: Option<SetupHeader>,
}

fn load_kernel(mem: &GuestMemory, config: &VmConfig) -> Result<LoadedKernel, BuildError> {
    let path = &config.kernel;
    let bad = |e: &dyn std::fmt::Display| {
        BuildError::Load(format!("cannot load kernel '{}': {e}", path.display()))
    };
    let mut file = File::open(path).map_err(|e| bad(&e))?;
    match BzImage::load(mem, None, &mut file, Some(layout::HIMEM_START)) {
        // The 64-bit entry point of a bzImage is 0x200 past its protected-mode start.
        Ok(r) => Ok(LoadedKernel {
            entry: r.kernel_load.unchecked_add(0x200),
            end: GuestAddress(r.kernel_end),
            setup_header: r.setup_header,
        }),
        Err(loader::Error::Bzimage(loader::bzimage::Error::InvalidBzImage)) => {
            let r =
                Elf::load(mem, None, &mut file, Some(layout::HIMEM_START)).map_err(|e| bad(&e))?;
            Ok(LoadedKernel {
                entry: r.kernel_load,
                end: GuestAddress(r.kernel_end),
                setup_header: None,
            })
        }
        Err(e) => Err(bad(&e)),
    }
}

fn load_cmdline(mem: &GuestMemory, text: &str) -> Result<usize, BuildError> {
    let bad =
        |e: &dyn std::fmt::Display| BuildError::Load(format!("invalid kernel command line: {e}"));
    let mut cmdline = Cmdline::new(layout::CMDLINE_MAX_SIZE as usize).map_err(|e| bad(&e))?;
    cmdline.insert_str(text).map_err(|e| bad(&e))?;
    loader::load_cmdline(mem, layout::CMDLINE_START, &cmdline).map_err(|e| bad(&e))?;
    // boot_params.cmdline_size counts the terminating NUL.
    Ok(text.len() + 1)
}

fn load_initrd(
    mem: &GuestMemory,
    config: &VmConfig,
    path: &std::path::Path,
    kernel: &LoadedKernel,
) -> Result<(GuestAddress, u64), BuildError> {
    let bad = |e: &dyn std::fmt::Display| {
        BuildError::Load(format!("cannot load initrd '{}': {e}", path.display()))
    };
    let mut file = File::open(path).map_err(|e| bad(&e))?;
    let size = file.metadata().map_err(|e| bad(&e))?.len();
    let max = kernel.setup_header.map(|h| h.initrd_addr_max);
    let addr = boot::initrd_address(&ram_regions(config.memory), kernel.end, size, max)
        .map_err(|e| bad(&e))?;
    mem.read_exact_volatile_from(addr, &mut file, size as usize)
        .map_err(|e| bad(&e))?;
    Ok((addr, size))
}

/// Creates and configures the vCPUs: CPUID with a consistent topology, MSRs, and for the
/// boot CPU the 64-bit boot registers; application processors wait for INIT/SIPI in KVM.
pub fn create_vcpus(
    kvm: &Kvm,
    vm: &VmFd,
    mem: &GuestMemory,
    count: u8,
    boot: &Boot,
    _irqchip: Irqchip,
) -> Result<Vec<VcpuFd>, BuildError> {
    let entry = boot.entry;
    let supported = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(|source| BuildError::KvmCall {
            what: "read the supported CPUID",
            source,
        })?;
    (0..count)
        .map(|id| {
            let vcpu = vm
                .create_vcpu(u64::from(id))
                .map_err(|source| BuildError::Vcpu {
                    id,
                    what: "create",
                    source,
                })?;
            configure_vcpu(&vcpu, id, count, &supported, mem, entry)?;
            Ok(vcpu)
        })
        .collect()
}

fn configure_vcpu(
    vcpu: &VcpuFd,
    id: u8,
    count: u8,
    supported: &kvm_bindings::CpuId,
    mem: &GuestMemory,
    entry: GuestAddress,
) -> Result<(), BuildError> {
    let err = |what: &'static str| move |source| BuildError::Vcpu { id, what, source };
    let mut cpuid = supported.clone();
    cpuid::configure_cpuid(&mut cpuid, id, count);
    vcpu.set_cpuid2(&cpuid).map_err(err("set CPUID"))?;

    let msrs = Msrs::from_entries(&regs::boot_msrs())
        .map_err(|_| BuildError::Platform("too many boot MSRs".to_string()))?;
    let written = vcpu.set_msrs(&msrs).map_err(err("set MSRs"))?;
    if written != msrs.as_slice().len() {
        log::warn!(
            "vCPU {id}: KVM accepted {written} of {} boot MSRs",
            msrs.as_slice().len()
        );
    }

    let mut lapic = vcpu.get_lapic().map_err(err("read the local APIC"))?;
    regs::set_lint(&mut lapic);
    vcpu.set_lapic(&lapic).map_err(err("set the local APIC"))?;

    if id == 0 {
        vcpu.set_regs(&regs::boot_regs(entry))
            .map_err(err("set registers"))?;
        let mut sregs = vcpu.get_sregs().map_err(err("read special registers"))?;
        regs::setup_long_mode(mem, &mut sregs).map_err(|e| BuildError::Platform(e.to_string()))?;
        vcpu.set_sregs(&sregs)
            .map_err(err("set special registers"))?;
        vcpu.set_fpu(&regs::boot_fpu())
            .map_err(err("set FPU state"))?;
    }
    Ok(())
}
