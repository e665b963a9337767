//! The arm64 device tree: [`create_fdt`] turns a plain [`Arm64Platform`] description (no KVM
//! types) into the DTB the kernel gets in `x0`.
//!
//! The tree describes: RAM; the vCPUs (MPIDRs from KVM) started through PSCI 0.2 over `hvc`;
//! the vGICv3 and, only when KVM gave a vITS, its ITS child; the architected timer; the
//! `ns16550a` UART (ovmm's 16550 model, byte-wide registers: `earlycon` with no argument, or
//! `earlycon=uart,mmio,0x09000000`, and `console=ttyS0`); the PL031 RTC with the fixed
//! 24 MHz `apb_pclk` AMBA devices need; the test-exit register; the PL061 GPIO controller with
//! a `gpio-keys` power key on one of its lines ([`gpio`]); and the PCI host bridge.
//!
//! The PCI host is `pci-host-ecam-generic` with three windows in `ranges` (I/O, 32-bit and
//! 64-bit, both non-prefetchable), an `interrupt-map` that swizzles INTx onto four
//! level-high SPIs ([`intx_spi`] is the one place that mapping is defined; the VMM wires INTx
//! with it too), and `msi-map` only when an ITS exists: without an MSI controller, guests see
//! no MSI domain and drivers fall back to INTx. `/chosen` carries `linux,pci-probe-only = <1>`
//! so the guest keeps the BAR addresses ovmm assigned.
//!
//! Why the 64-bit window is not marked prefetchable: Linux refuses to claim a
//! non-prefetchable BAR inside a prefetchable window (and with `linux,pci-probe-only` it keeps
//! ovmm's addresses rather than moving the BAR), while prefetchable BARs are fine in a
//! non-prefetchable window. Devices with large non-prefetchable 64-bit BARs (NVMe, Wi-Fi
//! cards, GPU register BARs) then work wherever ovmm places them.
//!
//! The test-exit node (`ovmm,test-exit`) binds no driver; it tells a guest where the register
//! is (`/proc/device-tree/test-exit@9020000/reg`).

use std::collections::HashMap;

use thiserror::Error;
use vm_fdt::FdtWriter;
use vm_memory::GuestAddress;

mod gpio;

pub use gpio::{GpioController, KEY_POWER};

use super::layout::{
    self, ByteSize, GicRegions, GuestRange, LayoutError, FDT_MAX_SIZE, GIC_NR_IRQS,
    GIC_REDIST_SIZE_PER_VCPU, GIC_SPI_INTID_BASE, PCI_ECAM_BUS_SIZE, PCI_INTX_SPI_BASE,
    PCI_INTX_SPI_COUNT,
};

/// Phandle of the GICv3 node.
pub const GIC_PHANDLE: u32 = 1;
/// Phandle of the ITS node (present only with an ITS).
pub const ITS_PHANDLE: u32 = 2;
/// Phandle of the fixed `apb_pclk` clock.
pub const CLOCK_PHANDLE: u32 = 3;
/// Longest kernel command line arm64 Linux keeps (`COMMAND_LINE_SIZE` 2048, NUL included).
pub const CMDLINE_MAX_LEN: usize = 2047;
/// Input clock of the 16550 (the classic 1.8432 MHz crystal: divisor 1 is 115200 baud).
pub const SERIAL_CLOCK_HZ: u32 = 1_843_200;
/// Phandle of the PL061 GPIO controller.
pub const GPIO_PHANDLE: u32 = 4;
/// Rate of the fixed AMBA `apb_pclk`, as on QEMU's `virt`.
pub const APB_PCLK_HZ: u32 = 24_000_000;

/// First interrupt cell of a GIC specifier: shared peripheral interrupt.
const GIC_FDT_IRQ_TYPE_SPI: u32 = 0;
/// First interrupt cell of a GIC specifier: private peripheral interrupt.
const GIC_FDT_IRQ_TYPE_PPI: u32 = 1;
/// Architected timer PPIs: secure physical, non-secure physical, virtual, hypervisor.
const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];
/// MPIDR bits that identify a CPU (Aff3, Aff2, Aff1, Aff0), the `reg` of a cpu node.
const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;
/// `ranges` space codes of a PCI address's high cell.
const PCI_RANGE_IO: u32 = 0x0100_0000;
const PCI_RANGE_MMIO32: u32 = 0x0200_0000;
/// The 64-bit window is described non-prefetchable (as QEMU's `virt` does): Linux places
/// prefetchable BARs in a non-prefetchable window, but never the other way round.
const PCI_RANGE_MMIO64: u32 = 0x0300_0000;
/// Requester IDs the `msi-map` covers: all of bus 0..=255.
const MSI_MAP_RIDS: u32 = 0x1_0000;

/// A PCI interrupt pin (the config-space Interrupt Pin register's values 1..=4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntxPin {
    /// INTA#.
    A = 1,
    /// INTB#.
    B = 2,
    /// INTC#.
    C = 3,
    /// INTD#.
    D = 4,
}

impl IntxPin {
    /// The four pins in order.
    pub const ALL: [IntxPin; 4] = [IntxPin::A, IntxPin::B, IntxPin::C, IntxPin::D];

    /// The pin from an Interrupt Pin register value; `None` for 0 (no INTx) and invalid values.
    pub fn from_register(value: u8) -> Option<Self> {
        match value {
            1 => Some(IntxPin::A),
            2 => Some(IntxPin::B),
            3 => Some(IntxPin::C),
            4 => Some(IntxPin::D),
            _ => None,
        }
    }

    /// The register value: 1 for INTA# to 4 for INTD#.
    pub fn number(self) -> u32 {
        self as u32
    }
}

/// The SPI (and so the irqfd GSI) that INTx `pin` of device `slot` on bus 0 raises: the
/// standard swizzle, `PCI_INTX_SPI_BASE + (slot + pin - 1) % 4`, level-triggered, active high.
pub fn intx_spi(slot: u8, pin: IntxPin) -> u32 {
    PCI_INTX_SPI_BASE + (u32::from(slot) + pin.number() - 1) % PCI_INTX_SPI_COUNT
}

/// How an SPI is triggered, as the device tree tells the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqTrigger {
    /// Edge, rising: right for lines signalled through a plain irqfd (one pulse per event).
    EdgeRising,
    /// Level, active high: right for lines with a resample irqfd or `KVM_IRQ_LINE` levels.
    LevelHigh,
}

impl IrqTrigger {
    /// The Linux `IRQ_TYPE_*` flags cell.
    fn cell(self) -> u32 {
        match self {
            IrqTrigger::EdgeRising => 1,
            IrqTrigger::LevelHigh => 4,
        }
    }
}

/// A memory-mapped device with one SPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpiDevice {
    /// Its registers.
    pub range: GuestRange,
    /// Its SPI number (INTID - 32).
    pub spi: u32,
    /// How the SPI is triggered.
    pub trigger: IrqTrigger,
}

/// The PCI host bridge: ECAM and the windows BARs live in (CPU address = PCI address for
/// memory; I/O ports start at 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciHost {
    /// Configuration space, 1 MiB per bus from bus 0.
    pub ecam: GuestRange,
    /// Where the CPU sees I/O ports 0.. .
    pub io: GuestRange,
    /// The 32-bit non-prefetchable window.
    pub mmio32: GuestRange,
    /// The 64-bit window, when there is one.
    pub mmio64: Option<GuestRange>,
}

/// Everything the device tree describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arm64Platform {
    /// MPIDR_EL1 of each vCPU, boot vCPU first (as KVM reports them).
    pub vcpu_mpidrs: Vec<u64>,
    /// Guest RAM regions.
    pub memory: Vec<(GuestAddress, u64)>,
    /// Kernel command line.
    pub cmdline: String,
    /// Where the initrd was loaded, if there is one.
    pub initrd: Option<GuestRange>,
    /// The GICv3 frames; `its` decides whether MSI is described at all.
    pub gic: GicRegions,
    /// The 16550 UART, also the console (`stdout-path`).
    pub serial: Option<SpiDevice>,
    /// The PL031 RTC.
    pub rtc: Option<SpiDevice>,
    /// The test-exit register.
    pub test_exit: Option<GuestRange>,
    /// The PL061 GPIO controller and the power button on it.
    pub gpio: Option<GpioController>,
    /// The PCI host bridge.
    pub pci: Option<PciHost>,
}

impl Arm64Platform {
    /// ovmm's standard platform from [`layout`]: `mem_size` bytes of RAM, the UART (edge
    /// SPI, as its irqfd pulses), the RTC, the test-exit register, the GPIO controller with
    /// the power button (edge SPI, irqfd too) and a PCI host without a 64-bit window; no
    /// initrd. Callers adjust the fields they need.
    pub fn standard(
        vcpu_mpidrs: Vec<u64>,
        mem_size: u64,
        cmdline: &str,
        with_its: bool,
    ) -> Result<Self, LayoutError> {
        let vcpus = u32::try_from(vcpu_mpidrs.len()).unwrap_or(u32::MAX);
        Ok(Arm64Platform {
            gic: GicRegions::for_vcpus(vcpus, with_its)?,
            vcpu_mpidrs,
            memory: layout::ram_regions(mem_size),
            cmdline: cmdline.to_string(),
            initrd: None,
            serial: Some(SpiDevice {
                range: GuestRange::new(layout::SERIAL_START, layout::SERIAL_SIZE),
                spi: layout::SERIAL_SPI,
                trigger: IrqTrigger::EdgeRising,
            }),
            rtc: Some(SpiDevice {
                range: GuestRange::new(layout::RTC_START, layout::RTC_SIZE),
                spi: layout::RTC_SPI,
                trigger: IrqTrigger::LevelHigh,
            }),
            test_exit: Some(GuestRange::new(
                layout::TEST_EXIT_START,
                layout::TEST_EXIT_SIZE,
            )),
            gpio: Some(GpioController {
                device: SpiDevice {
                    range: GuestRange::new(layout::GPIO_START, layout::GPIO_SIZE),
                    spi: layout::GPIO_SPI,
                    trigger: IrqTrigger::EdgeRising,
                },
                power_button: Some(layout::GPIO_POWER_BUTTON_PIN),
            }),
            pci: Some(PciHost {
                ecam: GuestRange::new(layout::PCI_ECAM_START, layout::PCI_ECAM_SIZE),
                io: GuestRange::new(layout::PCI_IO_START, layout::PCI_IO_SIZE),
                mmio32: GuestRange::new(layout::PCI_MMIO32_START, layout::PCI_MMIO32_SIZE),
                mmio64: None,
            }),
        })
    }
}

/// Why a device tree cannot be built.
#[derive(Debug, Error)]
pub enum FdtError {
    /// vm-fdt refused a node or property.
    #[error("device tree writer: {0}")]
    Writer(#[from] vm_fdt::Error),
    /// No vCPU was given.
    #[error("the platform has no vCPUs")]
    NoVcpus,
    /// Two vCPUs have the same MPIDR affinity.
    #[error("vCPUs {first} and {second} have the same MPIDR affinity {mpidr:#x}")]
    DuplicateMpidr {
        /// Index of the first vCPU.
        first: usize,
        /// Index of the second vCPU.
        second: usize,
        /// The shared affinity value.
        mpidr: u64,
    },
    /// The redistributor region is too small for the vCPUs.
    #[error(
        "{count} vCPUs need {} of GIC redistributors, the region {region} is smaller",
        ByteSize(u64::from(*.count) * GIC_REDIST_SIZE_PER_VCPU)
    )]
    Redistributors {
        /// Number of vCPUs.
        count: u32,
        /// The redistributor region.
        region: GuestRange,
    },
    /// There is no RAM.
    #[error("the platform has no RAM")]
    NoMemory,
    /// The command line is too long for the kernel.
    #[error("kernel command line is {len} bytes; arm64 Linux keeps at most {max}")]
    CmdlineTooLong {
        /// Its length.
        len: usize,
        /// [`CMDLINE_MAX_LEN`].
        max: usize,
    },
    /// The initrd is not inside one RAM region.
    #[error("initrd {range} is not inside guest RAM")]
    InitrdOutsideRam {
        /// The initrd.
        range: GuestRange,
    },
    /// Two parts of the platform share addresses.
    #[error("{first} {first_range} overlaps {second} {second_range}")]
    Overlap {
        /// Name of the first part.
        first: String,
        /// Its range.
        first_range: GuestRange,
        /// Name of the second part.
        second: String,
        /// Its range.
        second_range: GuestRange,
    },
    /// The ECAM range is not a whole number of buses.
    #[error("ECAM {range} is not 1 to 256 whole buses of 1 MiB")]
    Ecam {
        /// The ECAM range.
        range: GuestRange,
    },
    /// An SPI is outside the vGIC or used twice.
    #[error("{device} uses SPI {spi}, which is {problem}")]
    Spi {
        /// The device.
        device: String,
        /// The SPI number.
        spi: u32,
        /// What is wrong with it.
        problem: String,
    },
    /// The power button's GPIO line is not one the controller has.
    #[error("the power button is on GPIO line {pin}; the PL061 has lines 0 to {}", gpio::PL061_LINES - 1)]
    PowerButtonLine {
        /// The line asked for.
        pin: u8,
    },
    /// The blob is bigger than the boot protocol allows.
    #[error(
        "the device tree is {} ({size} bytes); the arm64 boot protocol allows at most {}",
        ByteSize(*.size),
        ByteSize(FDT_MAX_SIZE)
    )]
    TooLarge {
        /// Size of the blob.
        size: u64,
    },
}

/// Builds the DTB for `p` (at most [`FDT_MAX_SIZE`] bytes).
pub fn create_fdt(p: &Arm64Platform) -> Result<Vec<u8>, FdtError> {
    validate(p)?;
    let mut fdt = FdtWriter::new()?;
    if let Ok(boot_cpu) = u32::try_from(p.vcpu_mpidrs[0] & MPIDR_AFFINITY_MASK) {
        fdt.set_boot_cpuid_phys(boot_cpu);
    }
    let root = fdt.begin_node("")?;
    fdt.property_string("compatible", "linux,dummy-virt")?;
    fdt.property_string("model", "ovmm")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_u32("interrupt-parent", GIC_PHANDLE)?;
    write_chosen(&mut fdt, p)?;
    write_memory(&mut fdt, &p.memory)?;
    write_cpus(&mut fdt, &p.vcpu_mpidrs)?;
    write_psci(&mut fdt)?;
    write_gic(&mut fdt, &p.gic)?;
    write_timer(&mut fdt)?;
    if let Some(serial) = &p.serial {
        write_serial(&mut fdt, serial)?;
    }
    if p.rtc.is_some() || p.gpio.is_some() {
        write_apb_clock(&mut fdt)?;
    }
    if let Some(rtc) = &p.rtc {
        write_rtc(&mut fdt, rtc)?;
    }
    if let Some(gpio) = &p.gpio {
        gpio::write(&mut fdt, gpio)?;
    }
    if let Some(range) = &p.test_exit {
        write_test_exit(&mut fdt, range)?;
    }
    if let Some(pci) = &p.pci {
        write_pci(&mut fdt, pci, p.gic.its.is_some())?;
    }
    fdt.end_node(root)?;
    let blob = fdt.finish()?;
    let size = blob.len() as u64;
    if size > FDT_MAX_SIZE {
        return Err(FdtError::TooLarge { size });
    }
    log::debug!(
        "arm64 device tree: {size} bytes, {} vCPUs",
        p.vcpu_mpidrs.len()
    );
    Ok(blob)
}

// ---- checks -------------------------------------------------------------------------------

fn validate(p: &Arm64Platform) -> Result<(), FdtError> {
    check_vcpus(p)?;
    if p.memory.iter().all(|&(_, size)| size == 0) {
        return Err(FdtError::NoMemory);
    }
    if p.cmdline.len() > CMDLINE_MAX_LEN {
        return Err(FdtError::CmdlineTooLong {
            len: p.cmdline.len(),
            max: CMDLINE_MAX_LEN,
        });
    }
    if let Some(initrd) = p.initrd {
        let in_ram = p
            .memory
            .iter()
            .any(|&(start, size)| GuestRange::new(start, size).contains(&initrd));
        if !in_ram {
            return Err(FdtError::InitrdOutsideRam { range: initrd });
        }
    }
    if let Some(pci) = &p.pci {
        ecam_buses(&pci.ecam)?;
    }
    if let Some(gpio) = &p.gpio {
        gpio.validate()?;
    }
    check_overlaps(&named_ranges(p))?;
    check_spis(p)
}

fn check_vcpus(p: &Arm64Platform) -> Result<(), FdtError> {
    if p.vcpu_mpidrs.is_empty() {
        return Err(FdtError::NoVcpus);
    }
    let count = u32::try_from(p.vcpu_mpidrs.len()).unwrap_or(u32::MAX);
    if p.gic.redistributors.size / GIC_REDIST_SIZE_PER_VCPU < u64::from(count) {
        return Err(FdtError::Redistributors {
            count,
            region: p.gic.redistributors,
        });
    }
    let mut seen = HashMap::new();
    for (index, mpidr) in p.vcpu_mpidrs.iter().enumerate() {
        let affinity = mpidr & MPIDR_AFFINITY_MASK;
        if let Some(first) = seen.insert(affinity, index) {
            return Err(FdtError::DuplicateMpidr {
                first,
                second: index,
                mpidr: affinity,
            });
        }
    }
    Ok(())
}

/// Every address range the platform uses, named for error messages.
fn named_ranges(p: &Arm64Platform) -> Vec<(String, GuestRange)> {
    let mut ranges: Vec<(String, GuestRange)> = p
        .memory
        .iter()
        .enumerate()
        .map(|(i, &(start, size))| (format!("RAM region {i}"), GuestRange::new(start, size)))
        .collect();
    ranges.push(("GIC distributor".into(), p.gic.distributor));
    ranges.push(("GIC redistributors".into(), p.gic.redistributors));
    let devices = [
        ("GIC ITS", p.gic.its),
        ("UART", p.serial.map(|d| d.range)),
        ("RTC", p.rtc.map(|d| d.range)),
        ("test-exit register", p.test_exit),
        ("GPIO controller", p.gpio.map(|g| g.device.range)),
        ("PCI ECAM", p.pci.map(|h| h.ecam)),
        ("PCI I/O window", p.pci.map(|h| h.io)),
        ("PCI 32-bit window", p.pci.map(|h| h.mmio32)),
        ("PCI 64-bit window", p.pci.and_then(|h| h.mmio64)),
    ];
    for (name, range) in devices {
        if let Some(range) = range {
            ranges.push((name.into(), range));
        }
    }
    ranges
}

fn check_overlaps(ranges: &[(String, GuestRange)]) -> Result<(), FdtError> {
    for (i, (first, a)) in ranges.iter().enumerate() {
        if let Some((second, b)) = ranges[i + 1..].iter().find(|(_, b)| a.overlaps(b)) {
            return Err(FdtError::Overlap {
                first: first.clone(),
                first_range: *a,
                second: second.clone(),
                second_range: *b,
            });
        }
    }
    Ok(())
}

fn check_spis(p: &Arm64Platform) -> Result<(), FdtError> {
    let mut users: Vec<(String, u32)> = Vec::new();
    if let Some(serial) = &p.serial {
        users.push(("UART".into(), serial.spi));
    }
    if let Some(rtc) = &p.rtc {
        users.push(("RTC".into(), rtc.spi));
    }
    if let Some(gpio) = &p.gpio {
        users.push(("GPIO controller".into(), gpio.device.spi));
    }
    if p.pci.is_some() {
        for pin in IntxPin::ALL {
            users.push((format!("PCI INT{pin:?}"), intx_spi(0, pin)));
        }
    }
    let spi_count = GIC_NR_IRQS - GIC_SPI_INTID_BASE;
    for (i, (device, spi)) in users.iter().enumerate() {
        let problem = if *spi >= spi_count {
            Some(format!("beyond the vGIC's {spi_count} SPIs"))
        } else {
            users[i + 1..]
                .iter()
                .find(|(_, other)| other == spi)
                .map(|(other, _)| format!("also used by {other}"))
        };
        if let Some(problem) = problem {
            return Err(FdtError::Spi {
                device: device.clone(),
                spi: *spi,
                problem,
            });
        }
    }
    Ok(())
}

/// Number of buses an ECAM range covers.
fn ecam_buses(ecam: &GuestRange) -> Result<u32, FdtError> {
    let buses = ecam.size / PCI_ECAM_BUS_SIZE;
    if ecam.size % PCI_ECAM_BUS_SIZE != 0 || !(1..=256).contains(&buses) {
        return Err(FdtError::Ecam { range: *ecam });
    }
    Ok(buses as u32)
}

// ---- nodes --------------------------------------------------------------------------------

/// `reg` cells of one range with two address and two size cells.
fn reg(range: &GuestRange) -> [u64; 2] {
    [range.start.0, range.size]
}

/// A GIC interrupt specifier for an SPI.
fn spi_cells(spi: u32, trigger: IrqTrigger) -> [u32; 3] {
    [GIC_FDT_IRQ_TYPE_SPI, spi, trigger.cell()]
}

fn write_chosen(fdt: &mut FdtWriter, p: &Arm64Platform) -> Result<(), FdtError> {
    let chosen = fdt.begin_node("chosen")?;
    fdt.property_string("bootargs", &p.cmdline)?;
    if let Some(serial) = &p.serial {
        fdt.property_string("stdout-path", &serial_path(serial))?;
    }
    if let Some(initrd) = &p.initrd {
        fdt.property_u64("linux,initrd-start", initrd.start.0)?;
        fdt.property_u64("linux,initrd-end", initrd.end())?;
    }
    if p.pci.is_some() {
        // Linux reads a u32 here; an empty property is ignored with a warning.
        fdt.property_u32("linux,pci-probe-only", 1)?;
    }
    fdt.end_node(chosen)?;
    if let Some(serial) = &p.serial {
        let aliases = fdt.begin_node("aliases")?;
        fdt.property_string("serial0", &serial_path(serial))?;
        fdt.end_node(aliases)?;
    }
    Ok(())
}

fn serial_path(serial: &SpiDevice) -> String {
    format!("/serial@{:x}", serial.range.start.0)
}

fn write_memory(fdt: &mut FdtWriter, memory: &[(GuestAddress, u64)]) -> Result<(), FdtError> {
    for &(start, size) in memory.iter().filter(|(_, size)| *size > 0) {
        let node = fdt.begin_node(&format!("memory@{:x}", start.0))?;
        fdt.property_string("device_type", "memory")?;
        fdt.property_array_u64("reg", &[start.0, size])?;
        fdt.end_node(node)?;
    }
    Ok(())
}

fn write_cpus(fdt: &mut FdtWriter, mpidrs: &[u64]) -> Result<(), FdtError> {
    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 0)?;
    for mpidr in mpidrs {
        let affinity = mpidr & MPIDR_AFFINITY_MASK;
        let cpu = fdt.begin_node(&format!("cpu@{affinity:x}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_string("compatible", "arm,armv8")?;
        fdt.property_u64("reg", affinity)?;
        fdt.property_string("enable-method", "psci")?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;
    Ok(())
}

fn write_psci(fdt: &mut FdtWriter) -> Result<(), FdtError> {
    let psci = fdt.begin_node("psci")?;
    fdt.property_string("compatible", "arm,psci-0.2")?;
    fdt.property_string("method", "hvc")?;
    fdt.end_node(psci)?;
    Ok(())
}

fn write_gic(fdt: &mut FdtWriter, gic: &GicRegions) -> Result<(), FdtError> {
    let node = fdt.begin_node(&format!("intc@{:x}", gic.distributor.start.0))?;
    fdt.property_string("compatible", "arm,gic-v3")?;
    fdt.property_u32("#interrupt-cells", 3)?;
    fdt.property_null("interrupt-controller")?;
    // Two address cells: for the ITS child, and as the parent unit address in interrupt-map.
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_null("ranges")?;
    let mut regs = reg(&gic.distributor).to_vec();
    regs.extend(reg(&gic.redistributors));
    fdt.property_array_u64("reg", &regs)?;
    fdt.property_phandle(GIC_PHANDLE)?;
    if let Some(its) = &gic.its {
        let child = fdt.begin_node(&format!("msi-controller@{:x}", its.start.0))?;
        fdt.property_string("compatible", "arm,gic-v3-its")?;
        fdt.property_null("msi-controller")?;
        fdt.property_u32("#msi-cells", 1)?;
        fdt.property_array_u64("reg", &reg(its))?;
        fdt.property_phandle(ITS_PHANDLE)?;
        fdt.end_node(child)?;
    }
    fdt.end_node(node)?;
    Ok(())
}

fn write_timer(fdt: &mut FdtWriter) -> Result<(), FdtError> {
    let timer = fdt.begin_node("timer")?;
    fdt.property_string("compatible", "arm,armv8-timer")?;
    let cells: Vec<u32> = TIMER_PPIS
        .iter()
        .flat_map(|&ppi| [GIC_FDT_IRQ_TYPE_PPI, ppi, IrqTrigger::LevelHigh.cell()])
        .collect();
    fdt.property_array_u32("interrupts", &cells)?;
    fdt.property_null("always-on")?;
    fdt.end_node(timer)?;
    Ok(())
}

fn write_serial(fdt: &mut FdtWriter, serial: &SpiDevice) -> Result<(), FdtError> {
    let node = fdt.begin_node(&format!("serial@{:x}", serial.range.start.0))?;
    fdt.property_string("compatible", "ns16550a")?;
    fdt.property_array_u64("reg", &reg(&serial.range))?;
    fdt.property_u32("reg-shift", 0)?;
    fdt.property_u32("reg-io-width", 1)?;
    fdt.property_u32("clock-frequency", SERIAL_CLOCK_HZ)?;
    fdt.property_array_u32("interrupts", &spi_cells(serial.spi, serial.trigger))?;
    fdt.end_node(node)?;
    Ok(())
}

fn write_apb_clock(fdt: &mut FdtWriter) -> Result<(), FdtError> {
    let clock = fdt.begin_node("apb-pclk")?;
    fdt.property_string("compatible", "fixed-clock")?;
    fdt.property_u32("#clock-cells", 0)?;
    fdt.property_u32("clock-frequency", APB_PCLK_HZ)?;
    fdt.property_string("clock-output-names", "clk24mhz")?;
    fdt.property_phandle(CLOCK_PHANDLE)?;
    fdt.end_node(clock)?;
    Ok(())
}

fn write_rtc(fdt: &mut FdtWriter, rtc: &SpiDevice) -> Result<(), FdtError> {
    let node = fdt.begin_node(&format!("rtc@{:x}", rtc.range.start.0))?;
    fdt.property_string_list(
        "compatible",
        vec!["arm,pl031".to_string(), "arm,primecell".to_string()],
    )?;
    fdt.property_array_u64("reg", &reg(&rtc.range))?;
    fdt.property_array_u32("interrupts", &spi_cells(rtc.spi, rtc.trigger))?;
    fdt.property_u32("clocks", CLOCK_PHANDLE)?;
    fdt.property_string("clock-names", "apb_pclk")?;
    fdt.end_node(node)?;
    Ok(())
}

fn write_test_exit(fdt: &mut FdtWriter, range: &GuestRange) -> Result<(), FdtError> {
    let node = fdt.begin_node(&format!("test-exit@{:x}", range.start.0))?;
    fdt.property_string("compatible", "ovmm,test-exit")?;
    fdt.property_array_u64("reg", &reg(range))?;
    fdt.end_node(node)?;
    Ok(())
}

fn write_pci(fdt: &mut FdtWriter, pci: &PciHost, with_its: bool) -> Result<(), FdtError> {
    let buses = ecam_buses(&pci.ecam)?;
    let node = fdt.begin_node(&format!("pci@{:x}", pci.ecam.start.0))?;
    fdt.property_string("compatible", "pci-host-ecam-generic")?;
    fdt.property_string("device_type", "pci")?;
    fdt.property_u32("#address-cells", 3)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_u32("#interrupt-cells", 1)?;
    fdt.property_array_u32("bus-range", &[0, buses - 1])?;
    fdt.property_array_u64("reg", &reg(&pci.ecam))?;
    fdt.property_array_u32("ranges", &pci_ranges(pci))?;
    fdt.property_null("dma-coherent")?;
    fdt.property_u32("linux,pci-domain", 0)?;
    fdt.property_array_u32("interrupt-map-mask", &INTERRUPT_MAP_MASK)?;
    fdt.property_array_u32("interrupt-map", &interrupt_map())?;
    if with_its {
        fdt.property_array_u32("msi-map", &[0, ITS_PHANDLE, 0, MSI_MAP_RIDS])?;
    }
    fdt.end_node(node)?;
    Ok(())
}

/// `ranges` of the host bridge: (PCI address: 3 cells, CPU address: 2, size: 2) per window.
fn pci_ranges(pci: &PciHost) -> Vec<u32> {
    let mut cells = Vec::with_capacity(21);
    let mut push = |space: u32, pci_addr: u64, window: &GuestRange| {
        for value in [
            space,
            high(pci_addr),
            low(pci_addr),
            high(window.start.0),
            low(window.start.0),
            high(window.size),
            low(window.size),
        ] {
            cells.push(value);
        }
    };
    push(PCI_RANGE_IO, 0, &pci.io);
    push(PCI_RANGE_MMIO32, pci.mmio32.start.0, &pci.mmio32);
    if let Some(mmio64) = &pci.mmio64 {
        push(PCI_RANGE_MMIO64, mmio64.start.0, mmio64);
    }
    cells
}

/// Masks a child unit address down to the slot's two low bits (phys.hi bits 11-12) and the
/// pin: the swizzle repeats every four slots, so 4 slots x 4 pins describe all 32 slots.
const INTERRUPT_MAP_MASK: [u32; 4] = [0x1800, 0, 0, 7];

/// `interrupt-map`: for slots 0..=3 and pins A..=D, (child address: 3 cells, pin: 1) ->
/// (GIC phandle, GIC unit address: 2 cells, SPI specifier: 3 cells).
fn interrupt_map() -> Vec<u32> {
    let mut cells = Vec::with_capacity(16 * 10);
    for slot in 0..PCI_INTX_SPI_COUNT as u8 {
        for pin in IntxPin::ALL {
            cells.extend([u32::from(slot) << 11, 0, 0, pin.number(), GIC_PHANDLE, 0, 0]);
            cells.extend(spi_cells(intx_spi(slot, pin), IrqTrigger::LevelHigh));
        }
    }
    cells
}

fn high(value: u64) -> u32 {
    (value >> 32) as u32
}

fn low(value: u64) -> u32 {
    value as u32
}

#[cfg(test)]
mod tests;
