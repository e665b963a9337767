//! BAR sizes against the guest PCI windows ovmm builds (see design.md, "Guest address maps"):
//! a 512 MiB 32-bit window on both architectures, and a 64-bit window above guest RAM bounded
//! by the guest physical address width. Every endpoint of every group involved counts, since
//! the whole group goes to the VM.

use serde::Serialize;

use super::{human, Arch, Ctx, Finding, Severity};
use crate::host::bdf::Bdf;
use crate::host::group::Group;
use crate::host::pci::{self, Bar, PciDevice, Space};
use crate::host::sysroot::SysRoot;

const GIB: u64 = 1 << 30;
/// Size of ovmm's 32-bit PCI MMIO window (x86: 0xC000_0000, arm64: 0x1000_0000).
pub const MMIO32_SIZE: u64 = 512 << 20;
/// KVM's default arm64 IPA size when the VM type asks for nothing larger.
const ARM64_DEFAULT_IPA_BITS: u8 = 40;

/// The guest windows for a memory size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Windows {
    /// Size of the 32-bit window.
    pub mmio32_size: u64,
    /// Lowest address of the 64-bit window (above guest RAM, 1 GiB aligned).
    pub mmio64_start: u64,
    /// Guest physical address bits: the 64-bit window ends below `1 << phys_bits`.
    pub phys_bits: u8,
    /// Where `phys_bits` came from.
    pub phys_bits_source: String,
}

/// The windows ovmm would build for `memory` bytes of guest RAM.
pub fn guest_windows(root: &SysRoot, arch: Arch, memory: u64) -> Windows {
    let (ram_end, phys_bits, source) = match arch {
        Arch::X86_64 => {
            // RAM 0-3 GiB, then the rest above 4 GiB.
            let ram_end = 4 * GIB + memory.saturating_sub(3 * GIB);
            let (bits, src) = match cpu_phys_bits(root) {
                Some(b) => (b, "/proc/cpuinfo address sizes".to_string()),
                None => (
                    36,
                    "assumed (no address sizes in /proc/cpuinfo)".to_string(),
                ),
            };
            (ram_end, bits, src)
        }
        Arch::Aarch64 => (
            GIB + memory,
            ARM64_DEFAULT_IPA_BITS,
            "KVM's default arm64 IPA size".to_string(),
        ),
    };
    Windows {
        mmio32_size: MMIO32_SIZE,
        mmio64_start: ram_end.next_multiple_of(GIB),
        phys_bits,
        phys_bits_source: source,
    }
}

fn cpu_phys_bits(root: &SysRoot) -> Option<u8> {
    let info = root.read_opt("proc/cpuinfo")?;
    let line = info.lines().find(|l| l.starts_with("address sizes"))?;
    let value = line.split(':').nth(1)?;
    value.split_whitespace().next()?.parse().ok()
}

/// Bytes needed to place BARs of these sizes at natural alignment, largest first (sizes are
/// powers of two, so this packs with no holes), and the largest one.
fn packed(sizes: &mut [u64]) -> (u64, u64) {
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    (sizes.iter().sum(), sizes.first().copied().unwrap_or(0))
}

fn bar_name(b: &Bar) -> String {
    if b.index == 6 {
        "ROM".into()
    } else {
        format!("BAR {}", b.index)
    }
}

/// The endpoints the VM would get for the requested devices: their groups' endpoints, or the
/// device alone when it has no group.
fn vm_endpoints(ctx: &Ctx) -> Vec<PciDevice> {
    let mut out: Vec<PciDevice> = Vec::new();
    for &bdf in ctx.requested {
        let Ok(dev) = PciDevice::read(ctx.root, bdf) else {
            continue;
        };
        if dev.kind.is_bridge() {
            continue;
        }
        let devs = match dev.group.map(|id| Group::read(ctx.root, id)) {
            Some(Ok(g)) => g.endpoints().cloned().collect(),
            _ => vec![dev],
        };
        for d in devs {
            if !out.iter().any(|o| o.bdf == d.bdf) {
                out.push(d);
            }
        }
    }
    out
}

pub(super) fn check_bars(ctx: &Ctx) -> Vec<Finding> {
    let devs = vm_endpoints(ctx);
    if devs.is_empty() {
        return Vec::new();
    }
    let w = guest_windows(ctx.root, ctx.opts.arch, ctx.opts.memory);
    let bars: Vec<(Bdf, Bar)> = devs
        .iter()
        .flat_map(|d| {
            pci::bars(ctx.root, d.bdf)
                .into_iter()
                .map(move |b| (d.bdf, b))
        })
        .collect();
    let listed: Vec<String> = bars
        .iter()
        .map(|(bdf, b)| format!("{bdf} {} {} {:?}", bar_name(b), human(b.size), b.space))
        .collect();
    let read = format!(
        "resource files: {}; guest memory {}; {}-bit guest addresses ({})",
        if listed.is_empty() {
            "no BARs".into()
        } else {
            listed.join(", ")
        },
        human(ctx.opts.memory),
        w.phys_bits,
        w.phys_bits_source
    );
    let mut out = Vec::new();
    let mut sizes32: Vec<u64> = bars
        .iter()
        .filter(|(_, b)| b.space == Space::Mem32)
        .map(|(_, b)| b.size)
        .collect();
    let mut sizes64: Vec<u64> = bars
        .iter()
        .filter(|(_, b)| b.space == Space::Mem64)
        .map(|(_, b)| b.size)
        .collect();
    let (sum32, _) = packed(&mut sizes32);
    let (sum64, largest64) = packed(&mut sizes64);

    for (bdf, b) in bars
        .iter()
        .filter(|(_, b)| b.space == Space::Mem32 && b.size > w.mmio32_size)
    {
        out.push(
            Finding::new("OVMM-BAR-32-FULL", Severity::Error, bdf.to_string())
                .msg(format!(
                    "{} of {bdf} ({}, 32-bit) does not fit ovmm's {} 32-bit window",
                    bar_name(b),
                    human(b.size),
                    human(w.mmio32_size)
                ))
                .read(read.clone())
                .fix(resize_hint(ctx.root, *bdf, b.index)),
        );
    }
    if out.is_empty() && sum32 > w.mmio32_size {
        out.push(
            Finding::new("OVMM-BAR-32-FULL", Severity::Error, "vm")
                .msg(format!(
                    "the 32-bit BARs add up to {}, more than ovmm's {} 32-bit window",
                    human(sum32),
                    human(w.mmio32_size)
                ))
                .read(read.clone())
                .fix("pass fewer devices to one VM"),
        );
    }
    let start = w.mmio64_start.next_multiple_of(largest64.max(GIB));
    let end = start.saturating_add(sum64);
    let limit = 1u64.checked_shl(u32::from(w.phys_bits)).unwrap_or(u64::MAX);
    if end > limit {
        let (bdf, b) = bars
            .iter()
            .filter(|(_, b)| b.space == Space::Mem64)
            .max_by_key(|(_, b)| b.size)
            .copied()
            .unwrap_or((
                devs[0].bdf,
                Bar {
                    index: 0,
                    size: 0,
                    space: Space::Mem64,
                    prefetch: false,
                },
            ));
        out.push(
            Finding::new("OVMM-BAR-64-FULL", Severity::Error, "vm")
                .msg(format!(
                    "the 64-bit BARs need a 64-bit window of {} (largest: {} of {bdf}, {}); placed above guest RAM at {start:#x} it would end at {end:#x}, beyond the {}-bit guest address space ({})",
                    human(sum64),
                    bar_name(&b),
                    human(b.size),
                    w.phys_bits,
                    human(limit)
                ))
                .read(read.clone())
                .fix(format!("give the guest less memory (--memory), or {}", resize_hint(ctx.root, bdf, b.index))),
        );
    }
    if out.is_empty() {
        out.push(
            Finding::new("OVMM-BARS-FIT", Severity::Ok, "vm")
                .msg(format!(
                    "BARs fit: 32-bit {} of {}; 64-bit {} from {start:#x} within the {}-bit guest address space",
                    human(sum32),
                    human(w.mmio32_size),
                    human(sum64),
                    w.phys_bits
                ))
                .read(read),
        );
    }
    out
}

fn resize_hint(root: &SysRoot, bdf: Bdf, index: u8) -> String {
    let file = bdf.sysfs(&format!("resource{index}_resize"));
    match root.read_opt(&file) {
        Some(bits) => format!(
            "the BAR is resizable (supported sizes bitmap {bits}, bit 0 = 1 MiB): write a smaller size index to {} while the device is unbound",
            root.shown(&file)
        ),
        None => "use a device with smaller BARs (this one cannot be resized)".into(),
    }
}
