//! `ovmm host check`: every check a user does by hand before passthrough, each as a
//! [`Finding`] with a stable code, what was read, and what to do.
//!
//! Host-wide checks (IOMMU, interrupt remapping, modules, locked memory) live here; per-device
//! checks in [`device`]; the BAR-against-window plan in [`bars`].

mod bars;
mod device;

use serde::Serialize;

use super::bdf::Bdf;
use super::inuse::{host_uses, HostUses};
use super::pci::PciDevice;
use super::sysroot::SysRoot;

pub use bars::{guest_windows, Windows};

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Checked and fine.
    Ok,
    /// Worth knowing, changes nothing.
    Info,
    /// Works, with a risk or cost the user should know.
    Warn,
    /// Not ready yet, and `ovmm host bind` (or `managed=on`) does the step.
    Todo,
    /// Not ready, and only the user can fix it.
    Error,
}

impl Severity {
    /// Lowercase name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Todo => "todo",
            Severity::Error => "error",
        }
    }
}

/// One check result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `OVMM-IOMMU-OFF`.
    pub code: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// What it is about: `host`, `vm` (the whole set of devices) or a device address.
    pub subject: String,
    /// What was found, in plain words.
    pub message: String,
    /// What was read to find it (files and values).
    pub read: String,
    /// What to do, when something should be done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn new(code: &'static str, severity: Severity, subject: impl Into<String>) -> Finding {
        Finding {
            code,
            severity,
            subject: subject.into(),
            message: String::new(),
            read: String::new(),
            fix: None,
        }
    }

    fn msg(mut self, message: impl Into<String>) -> Finding {
        self.message = message.into();
        self
    }

    fn read(mut self, read: impl Into<String>) -> Finding {
        self.read = read.into();
        self
    }

    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// The guest architecture (the host's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86_64 hosts.
    X86_64,
    /// arm64 hosts.
    Aarch64,
}

impl Arch {
    /// The architecture ovmm was built for.
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }
}

/// Guest memory assumed when `--memory` is not given: ovmm's default.
pub const DEFAULT_MEMORY: u64 = 512 << 20;

/// What to check against.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Guest memory size in bytes (locked-memory and window checks).
    pub memory: u64,
    /// Whether the user gave the memory size (or the default was assumed).
    pub memory_given: bool,
    /// Devices the host needs are warnings instead of errors.
    pub force: bool,
    /// Guest architecture.
    pub arch: Arch,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            memory: DEFAULT_MEMORY,
            memory_given: false,
            force: false,
            arch: Arch::host(),
        }
    }
}

/// A device as the report names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceSummary {
    /// Address.
    pub bdf: Bdf,
    /// `vendor:device`.
    pub ids: String,
    /// Class in words.
    pub class: &'static str,
    /// Current driver.
    pub driver: Option<String>,
    /// IOMMU group.
    pub group: Option<u32>,
}

/// The result of `ovmm host check`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// JSON schema name.
    pub schema: &'static str,
    /// Whether the devices can be passed through now (no `todo` or `error` findings).
    pub ready: bool,
    /// The devices checked (those that exist).
    pub devices: Vec<DeviceSummary>,
    /// Every finding, host-wide first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Findings that keep the devices from being ready.
    pub fn blocking(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity >= Severity::Todo)
    }
}

/// Who is running ovmm, from `/proc/self/status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Whether CAP_IPC_LOCK is effective (locked-memory limits do not apply).
    pub cap_ipc_lock: bool,
}

impl Caller {
    /// Reads the caller from `proc/self/status`.
    pub fn read(root: &SysRoot) -> Caller {
        let status = root.read_opt("proc/self/status").unwrap_or_default();
        let field = |name: &str| -> Vec<u32> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| {
                    v.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let cap_eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        Caller {
            uid: field("Uid:").get(1).copied().unwrap_or(0),
            gid: field("Gid:").get(1).copied().unwrap_or(0),
            groups: field("Groups:"),
            cap_ipc_lock: cap_eff & (1 << 14) != 0,
        }
    }
}

/// The board, from the device tree's `compatible` (empty on ACPI hosts).
#[derive(Clone, Debug, Default)]
pub struct Board {
    /// The compatible strings, most specific first.
    pub compatible: Vec<String>,
}

impl Board {
    /// Reads `/proc/device-tree/compatible`.
    pub fn read(root: &SysRoot) -> Board {
        let raw = root
            .read_bytes("proc/device-tree/compatible")
            .or_else(|| root.read_bytes("sys/firmware/devicetree/base/compatible"))
            .unwrap_or_default();
        let compatible = raw
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        Board { compatible }
    }

    fn any(&self, needles: &[&str]) -> bool {
        self.compatible
            .iter()
            .any(|c| needles.iter().any(|n| c.contains(n)))
    }

    /// NVIDIA Jetson AGX Orin (Tegra234).
    pub fn is_jetson_orin(&self) -> bool {
        self.any(&["tegra234", "nvidia,p3701", "nvidia,p3737"])
    }

    /// Traverse Ten64 / NXP LS1088A.
    pub fn is_ten64(&self) -> bool {
        self.any(&["fsl,ls1088a", "traverse,ten64"])
    }
}

/// Everything the checks share.
pub(super) struct Ctx<'a> {
    root: &'a SysRoot,
    opts: &'a CheckOptions,
    uses: HostUses,
    board: Board,
    caller: Caller,
    requested: &'a [Bdf],
}

/// Runs every check for `devices`.
pub fn check(root: &SysRoot, devices: &[Bdf], opts: &CheckOptions) -> Report {
    let ctx = Ctx {
        root,
        opts,
        uses: host_uses(root),
        board: Board::read(root),
        caller: Caller::read(root),
        requested: devices,
    };
    let mut findings = Vec::new();
    findings.extend(iommu(&ctx));
    findings.extend(interrupts(&ctx));
    findings.push(modules(&ctx));
    findings.push(memlock(&ctx));
    let mut summaries = Vec::new();
    for &bdf in devices {
        let (dev, found) = device::check_device(&ctx, bdf);
        findings.extend(found);
        if let Some(d) = dev {
            summaries.push(summary(&d));
        }
    }
    findings.extend(bars::check_bars(&ctx));
    Report {
        schema: "ovmm.host-check/1",
        ready: !findings.iter().any(|f| f.severity >= Severity::Todo),
        devices: summaries,
        findings,
    }
}

fn summary(d: &PciDevice) -> DeviceSummary {
    DeviceSummary {
        bdf: d.bdf,
        ids: d.ids(),
        class: d.class_name(),
        driver: d.driver.clone(),
        group: d.group,
    }
}

/// Words of `/proc/cmdline` that configure the IOMMU or interrupt remapping.
fn iommu_args(cmdline: &str) -> Vec<&str> {
    const KEYS: [&str; 6] = [
        "intel_iommu=",
        "amd_iommu=",
        "iommu=",
        "iommu.",
        "intremap=",
        "arm-smmu",
    ];
    cmdline
        .split_whitespace()
        .filter(|w| KEYS.iter().any(|k| w.starts_with(k)) || *w == "nointremap")
        .collect()
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(" ")
    }
}

fn iommu(ctx: &Ctx) -> Vec<Finding> {
    let root = ctx.root;
    let units = root.list("sys/class/iommu");
    let groups = root.list("sys/kernel/iommu_groups");
    let cmdline = root.read_opt("proc/cmdline").unwrap_or_default();
    let args = iommu_args(&cmdline);
    let args_shown = if args.is_empty() {
        "no IOMMU options".to_string()
    } else {
        args.join(" ")
    };
    let read = format!(
        "/sys/kernel/iommu_groups: {} groups; /sys/class/iommu: {}; /proc/cmdline: {args_shown}",
        groups.len(),
        list_or_none(&units)
    );
    if !groups.is_empty() {
        let mut msg = format!("IOMMU on ({} groups)", groups.len());
        if args.contains(&"iommu=pt") {
            msg.push_str("; iommu=pt only affects host DMA and is fine for VFIO");
        }
        return vec![Finding::new("OVMM-IOMMU-ON", Severity::Ok, "host")
            .msg(msg)
            .read(read)];
    }
    let off = args
        .iter()
        .find(|a| matches!(**a, "intel_iommu=off" | "amd_iommu=off" | "iommu=off"));
    let fix = match (off, ctx.opts.arch) {
        (Some(a), _) => format!("remove {a} from the kernel command line and reboot"),
        (None, Arch::Aarch64) => {
            "the kernel found no SMMU: the device tree (or ACPI IORT) must describe \
            the SMMU and the PCIe controller's iommu-map, and the kernel needs CONFIG_ARM_SMMU / \
            CONFIG_ARM_SMMU_V3; on Jetson use an L4T kernel with the SMMU enabled"
                .into()
        }
        (None, Arch::X86_64) => x86_iommu_fix(root),
    };
    let read = format!("{read}; {}", acpi_tables(root));
    vec![Finding::new("OVMM-IOMMU-OFF", Severity::Error, "host")
        .msg("the IOMMU is off: no IOMMU groups, so no device can be passed through")
        .read(read)
        .fix(fix)]
}

fn acpi_tables(root: &SysRoot) -> String {
    let has = |t: &str| root.exists(&format!("sys/firmware/acpi/tables/{t}"));
    let found: Vec<&str> = ["DMAR", "IVRS", "IORT"]
        .into_iter()
        .filter(|t| has(t))
        .collect();
    if found.is_empty() {
        "ACPI tables: no DMAR/IVRS/IORT".into()
    } else {
        format!("ACPI tables: {}", found.join(" "))
    }
}

fn x86_iommu_fix(root: &SysRoot) -> String {
    let cpuinfo = root.read_opt("proc/cpuinfo").unwrap_or_default();
    let amd = cpuinfo.contains("AuthenticAMD");
    let table = if amd { "IVRS" } else { "DMAR" };
    let in_fw = root.exists(&format!("sys/firmware/acpi/tables/{table}"));
    let grub = "(GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot";
    match (amd, in_fw) {
        (false, true) => format!(
            "the firmware describes VT-d ({table} table) but Linux did not enable it: add \
             intel_iommu=on (and iommu=pt to keep host DMA fast) to the kernel command line {grub}"
        ),
        (false, false) => format!(
            "enable VT-d (\"Intel Virtualization Technology for Directed I/O\") in the firmware \
             setup, then add intel_iommu=on iommu=pt to the kernel command line {grub}"
        ),
        (true, true) => "the firmware describes AMD-Vi (IVRS table) but Linux did not enable it: \
             check the kernel has CONFIG_AMD_IOMMU and that amd_iommu=off is not set, then reboot"
            .into(),
        (true, false) => {
            "enable the IOMMU (\"AMD-Vi\" or \"IOMMU\", sometimes next to SVM) in the \
             firmware setup and reboot; add iommu=pt to keep host DMA fast"
                .into()
        }
    }
}

fn param(root: &SysRoot, module: &str, name: &str) -> Option<bool> {
    let v = root.read_opt(&format!("sys/module/{module}/parameters/{name}"))?;
    Some(matches!(v.as_str(), "Y" | "1" | "y"))
}

fn interrupts(ctx: &Ctx) -> Vec<Finding> {
    let root = ctx.root;
    let type1 = param(root, "vfio_iommu_type1", "allow_unsafe_interrupts");
    let iommufd = param(root, "iommufd", "allow_unsafe_interrupts");
    let unsafe_on = type1 == Some(true) || iommufd == Some(true);
    let irqs = root.read_opt("proc/interrupts").unwrap_or_default();
    let cmdline = root.read_opt("proc/cmdline").unwrap_or_default();
    let forced_off = cmdline
        .split_whitespace()
        .any(|w| w == "intremap=off" || w == "nointremap");
    let (remapped, marker, msi_seen) = match ctx.opts.arch {
        Arch::X86_64 => (
            irqs.contains("IR-PCI-MSI") || irqs.contains("IR-IO-APIC"),
            "IR-",
            irqs.contains("PCI-MSI"),
        ),
        Arch::Aarch64 => (irqs.contains("ITS-"), "ITS-", irqs.contains("MSI")),
    };
    let shown = |v: Option<bool>| match v {
        Some(true) => "Y",
        Some(false) => "N",
        None => "(not loaded)",
    };
    let read = format!(
        "/proc/interrupts: {} {marker} chips; vfio_iommu_type1 allow_unsafe_interrupts = {}; iommufd allow_unsafe_interrupts = {}{}",
        if remapped { "has" } else { "no" },
        shown(type1),
        shown(iommufd),
        if forced_off { "; /proc/cmdline turns interrupt remapping off" } else { "" }
    );
    let mut out = Vec::new();
    if root.list("sys/kernel/iommu_groups").is_empty() {
        out.push(
            Finding::new("OVMM-IRQ-UNKNOWN", Severity::Info, "host")
                .msg("interrupt remapping cannot be checked while the IOMMU is off")
                .read(read.clone()),
        );
    } else if remapped && !forced_off {
        out.push(
            Finding::new("OVMM-IRQ-REMAP", Severity::Ok, "host")
                .msg("interrupt remapping / MSI isolation is on")
                .read(read.clone()),
        );
    } else if msi_seen || forced_off {
        let fix = match ctx.opts.arch {
            Arch::X86_64 => {
                "enable interrupt remapping (part of VT-d / AMD-Vi in the firmware setup) and drop \
                intremap=off / nointremap; only if the platform cannot do it, accept the risk with \
                `options vfio_iommu_type1 allow_unsafe_interrupts=1` in /etc/modprobe.d/vfio.conf"
            }
            Arch::Aarch64 => {
                "MSIs do not go through a GICv3 ITS, so they are not isolated; if you accept the \
                risk, set vfio_iommu_type1.allow_unsafe_interrupts=1 on the kernel command line \
                (Ghaf does this on Jetson Orin)"
            }
        };
        let sev = if unsafe_on {
            Severity::Warn
        } else {
            Severity::Error
        };
        out.push(
            Finding::new("OVMM-IRQ-NO-REMAP", sev, "host")
                .msg("no interrupt remapping: VFIO refuses to attach a group (\"No interrupt remapping support\") unless allow_unsafe_interrupts is on")
                .read(read.clone())
                .fix(fix),
        );
    } else {
        out.push(
            Finding::new("OVMM-IRQ-UNKNOWN", Severity::Warn, "host")
                .msg("cannot tell whether interrupts are remapped: no MSI interrupts in use")
                .read(read.clone())
                .fix("if the VM fails with \"No interrupt remapping support\" in dmesg, see OVMM-IRQ-NO-REMAP"),
        );
    }
    if unsafe_on {
        out.push(
            Finding::new("OVMM-UNSAFE-INTERRUPTS", Severity::Warn, "host")
                .msg("allow_unsafe_interrupts is on: a guest can send forged MSIs that reach host interrupt vectors, which weakens isolation")
                .read(read)
                .fix("keep it only where the platform cannot isolate MSIs (Jetson Orin, some arm64 boards); otherwise set it back to N"),
        );
    }
    out
}

fn modules(ctx: &Ctx) -> Finding {
    let root = ctx.root;
    let have = |p: &str| root.exists(p);
    let checks = [
        ("vfio-pci driver", "sys/bus/pci/drivers/vfio-pci"),
        ("vfio_iommu_type1 module", "sys/module/vfio_iommu_type1"),
        ("/dev/vfio/vfio", "dev/vfio/vfio"),
    ];
    let read = checks
        .iter()
        .map(|(name, p)| format!("{name}: {}", if have(p) { "present" } else { "missing" }))
        .collect::<Vec<_>>()
        .join("; ");
    if have("sys/bus/pci/drivers/vfio-pci") {
        return Finding::new("OVMM-VFIO-LOADED", Severity::Ok, "host")
            .msg("vfio-pci is loaded (the kernel loads vfio_iommu_type1 when ovmm opens /dev/vfio/vfio)")
            .read(read);
    }
    Finding::new("OVMM-VFIO-NOT-LOADED", Severity::Todo, "host")
        .msg("vfio-pci is not loaded")
        .read(read)
        .fix("`ovmm host bind` loads it; to load it at every boot: `echo vfio-pci > /etc/modules-load.d/vfio.conf`")
}

/// Bytes in binary units, as people write them: "512 MiB", "1.5 GiB".
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut v = bytes as f64;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if v.fract() == 0.0 {
        format!("{v} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Parses the "Max locked memory" soft and hard limits from `/proc/self/limits`
/// (`None` = unlimited).
fn memlock_limits(limits: &str) -> Option<(Option<u64>, Option<u64>)> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))?;
    let mut f = line["Max locked memory".len()..].split_whitespace();
    let parse = |s: Option<&str>| -> Option<Option<u64>> {
        match s? {
            "unlimited" => Some(None),
            n => n.parse().ok().map(Some),
        }
    };
    Some((parse(f.next())?, parse(f.next())?))
}

fn memlock(ctx: &Ctx) -> Finding {
    let need = ctx.opts.memory;
    let assumed = if ctx.opts.memory_given {
        ""
    } else {
        " (ovmm's default; pass --memory for your VM)"
    };
    let limits = ctx.root.read_opt("proc/self/limits").unwrap_or_default();
    let parsed = memlock_limits(&limits);
    let shown = |v: Option<u64>| v.map_or("unlimited".to_string(), human);
    let read = match parsed {
        Some((soft, hard)) => format!(
            "/proc/self/limits: Max locked memory {} (hard {}); CAP_IPC_LOCK: {}; guest memory {}{assumed}",
            shown(soft),
            shown(hard),
            if ctx.caller.cap_ipc_lock { "yes" } else { "no" },
            human(need)
        ),
        None => "/proc/self/limits: no \"Max locked memory\" line".into(),
    };
    let ok = Finding::new("OVMM-MEMLOCK-OK", Severity::Ok, "host");
    if ctx.caller.cap_ipc_lock {
        return ok
            .msg("CAP_IPC_LOCK is effective: VFIO may pin all guest memory")
            .read(read);
    }
    let Some((soft, hard)) = parsed else {
        return Finding::new("OVMM-MEMLOCK-LOW", Severity::Warn, "host")
            .msg("cannot read the locked-memory limit")
            .read(read);
    };
    if soft.is_none_or(|s| s >= need) {
        return ok
            .msg(format!(
                "locked-memory limit {} covers {} of guest memory",
                shown(soft),
                human(need)
            ))
            .read(read);
    }
    let kib = need.div_ceil(1024);
    let raise = if hard.is_none_or(|h| h >= need) {
        format!("`ulimit -l {kib}` in the shell that starts ovmm, ")
    } else {
        String::new()
    };
    Finding::new("OVMM-MEMLOCK-LOW", Severity::Error, "host")
        .msg(format!(
            "locked-memory limit is {} but VFIO pins all guest memory: ovmm needs at least {} ({need} bytes) locked",
            shown(soft),
            human(need)
        ))
        .read(read)
        .fix(format!(
            "raise it for the user running ovmm: {raise}`LimitMEMLOCK={need}` in its systemd unit, or \
             `<user> - memlock {kib}` in /etc/security/limits.conf (then log in again); or run ovmm as root"
        ))
}

#[cfg(test)]
mod tests;
