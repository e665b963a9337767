//! Every check code against fake host trees: shared helpers and host-wide checks here,
//! per-device and BAR checks in [`device`].

mod device;

use super::*;
use crate::host::fake::{Dev, FakeHost};
use crate::host::report::check_text;

const GIB: u64 = 1 << 30;

fn bdf(s: &str) -> Bdf {
    s.parse().unwrap()
}

fn run(host: &FakeHost, devs: &[&str], opts: &CheckOptions) -> Report {
    let devs: Vec<Bdf> = devs.iter().map(|d| bdf(d)).collect();
    check(&host.root, &devs, opts)
}

fn x86() -> CheckOptions {
    CheckOptions {
        arch: Arch::X86_64,
        ..CheckOptions::default()
    }
}

/// The finding with `code`, or a panic listing what there is.
fn get<'a>(r: &'a Report, code: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| {
            let all: Vec<_> = r.findings.iter().map(|f| (f.code, f.severity)).collect();
            panic!("no {code} in {all:?}")
        })
}

fn has(r: &Report, code: &str) -> bool {
    r.findings.iter().any(|f| f.code == code)
}

fn fix(f: &Finding) -> &str {
    f.fix.as_deref().unwrap_or("")
}

/// A small endpoint already on vfio-pci in group 1: everything should pass.
fn ready_host() -> FakeHost {
    let h = FakeHost::new();
    h.add(
        Dev::new("0000:01:00.0")
            .driver("vfio-pci")
            .group(1)
            .resource("0x00000000f0000000 0x00000000f001ffff 0x0000000000040200\n"),
    );
    h
}

#[test]
fn a_device_on_vfio_pci_on_a_good_host_is_ready() {
    let h = ready_host();
    let r = run(&h, &["01:00.0"], &x86());
    for code in [
        "OVMM-IOMMU-ON",
        "OVMM-IRQ-REMAP",
        "OVMM-VFIO-LOADED",
        "OVMM-MEMLOCK-OK",
        "OVMM-GROUP-VIABLE",
        "OVMM-DRIVER-VFIO",
        "OVMM-RESET-OK",
        "OVMM-VFIO-NODE-OK",
        "OVMM-BARS-FIT",
    ] {
        assert_eq!(get(&r, code).severity, Severity::Ok, "{code}");
    }
    assert!(r.ready, "{}", check_text(&r));
    assert!(get(&r, "OVMM-IOMMU-ON").message.contains("iommu=pt"));
    assert!(get(&r, "OVMM-BARS-FIT")
        .message
        .contains("32-bit 128 KiB of 512 MiB"));
    assert_eq!(r.devices[0].ids, "8086:10d3");
    assert_eq!(r.devices[0].class, "Ethernet controller");
}

#[test]
fn iommu_off_says_how_to_turn_it_on() {
    let h = FakeHost::new();
    h.remove("sys/class/iommu/dmar0");
    h.write(
        "proc/cmdline",
        "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n",
    );
    h.add(Dev::new("0000:01:00.0").driver("e1000e"));
    let r = run(&h, &["01:00.0"], &x86());
    let f = get(&r, "OVMM-IOMMU-OFF");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.read.contains("0 groups") && f.read.contains("no IOMMU options"),
        "{}",
        f.read
    );
    assert!(f.read.contains("ACPI tables: DMAR"), "{}", f.read);
    assert!(
        fix(f).contains("intel_iommu=on") && fix(f).contains("DMAR table"),
        "{}",
        fix(f)
    );
    assert_eq!(get(&r, "OVMM-IRQ-UNKNOWN").severity, Severity::Info);
    assert!(
        !has(&r, "OVMM-IRQ-NO-REMAP"),
        "no second error while the IOMMU is off"
    );
    let g = get(&r, "OVMM-NO-GROUP");
    assert_eq!(g.severity, Severity::Error);
    assert!(fix(g).contains("OVMM-IOMMU-OFF"));
    assert!(!r.ready);

    // No DMAR table: VT-d is off in the firmware.
    h.remove("sys/firmware/acpi/tables/DMAR");
    let f = get(&run(&h, &["01:00.0"], &x86()), "OVMM-IOMMU-OFF").clone();
    assert!(
        fix(&f).contains("enable VT-d") && fix(&f).contains("intel_iommu=on iommu=pt"),
        "{}",
        fix(&f)
    );
    // Turned off on the command line.
    h.write("proc/cmdline", "root=/dev/sda1 intel_iommu=off\n");
    let f = get(&run(&h, &["01:00.0"], &x86()), "OVMM-IOMMU-OFF").clone();
    assert_eq!(
        fix(&f),
        "remove intel_iommu=off from the kernel command line and reboot"
    );
    // AMD without IVRS, and arm64.
    h.write("proc/cmdline", "root=/dev/sda1\n");
    h.write("proc/cpuinfo", "vendor_id\t: AuthenticAMD\n");
    let f = get(&run(&h, &["01:00.0"], &x86()), "OVMM-IOMMU-OFF").clone();
    assert!(fix(&f).contains("AMD-Vi"), "{}", fix(&f));
    let arm = CheckOptions {
        arch: Arch::Aarch64,
        ..CheckOptions::default()
    };
    let f = get(&run(&h, &["01:00.0"], &arm), "OVMM-IOMMU-OFF").clone();
    assert!(fix(&f).contains("SMMU"), "{}", fix(&f));
}

#[test]
fn memlock_below_guest_memory_says_how_much_is_needed() {
    let h = ready_host();
    h.caller(1000, 1000, &[1000], false);
    h.memlock("8388608", "8388608");
    let opts = CheckOptions {
        memory: 2 * GIB,
        memory_given: true,
        ..x86()
    };
    let r = run(&h, &["01:00.0"], &opts);
    let f = get(&r, "OVMM-MEMLOCK-LOW");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.message,
        "locked-memory limit is 8 MiB but VFIO pins all guest memory: ovmm needs at least 2 GiB (2147483648 bytes) locked"
    );
    assert!(
        !fix(f).contains("ulimit"),
        "the hard limit is too low for ulimit: {}",
        fix(f)
    );
    assert!(fix(f).contains("LimitMEMLOCK=2147483648") && fix(f).contains("memlock 2097152"));
    // With room under the hard limit, ulimit -l is offered; enough limit or CAP_IPC_LOCK pass.
    h.memlock("8388608", "unlimited");
    let f = get(&run(&h, &["01:00.0"], &opts), "OVMM-MEMLOCK-LOW").clone();
    assert!(fix(&f).contains("`ulimit -l 2097152`"), "{}", fix(&f));
    h.memlock("4294967296", "unlimited");
    assert!(has(&run(&h, &["01:00.0"], &opts), "OVMM-MEMLOCK-OK"));
    h.memlock("65536", "65536");
    h.caller(1000, 1000, &[], true);
    let f = get(&run(&h, &["01:00.0"], &opts), "OVMM-MEMLOCK-OK").clone();
    assert!(f.message.contains("CAP_IPC_LOCK"));
    // Without --memory the default is used and the evidence says so.
    h.caller(1000, 1000, &[], false);
    h.memlock("65536", "65536");
    let f = get(&run(&h, &["01:00.0"], &x86()), "OVMM-MEMLOCK-LOW").clone();
    assert!(
        f.message.contains("512 MiB") && f.read.contains("ovmm's default"),
        "{f:?}"
    );
}

#[test]
fn interrupt_remapping_findings() {
    let h = ready_host();
    h.write(
        "proc/interrupts",
        "           CPU0\n 24:  10  PCI-MSI-0000:00:1f.6  0-edge  eth0\n",
    );
    let r = run(&h, &["01:00.0"], &x86());
    let f = get(&r, "OVMM-IRQ-NO-REMAP");
    assert_eq!(f.severity, Severity::Error);
    assert!(fix(f).contains("allow_unsafe_interrupts=1"));
    assert!(!r.ready);
    // Accepting the risk turns it into warnings, and says what it costs.
    h.write(
        "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
        "Y\n",
    );
    let r = run(&h, &["01:00.0"], &x86());
    assert_eq!(get(&r, "OVMM-IRQ-NO-REMAP").severity, Severity::Warn);
    let u = get(&r, "OVMM-UNSAFE-INTERRUPTS");
    assert!(u.message.contains("forged MSIs"));
    assert!(u
        .read
        .contains("vfio_iommu_type1 allow_unsafe_interrupts = Y"));
    assert!(r.ready);
    // No MSI in use at all: cannot tell.
    h.write(
        "proc/interrupts",
        "           CPU0\n  1:  9  IO-APIC  1-edge  i8042\n",
    );
    h.write(
        "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
        "N\n",
    );
    assert_eq!(
        get(&run(&h, &["01:00.0"], &x86()), "OVMM-IRQ-UNKNOWN").severity,
        Severity::Warn
    );
    // arm64 with an ITS isolates MSIs.
    h.write(
        "proc/interrupts",
        "           CPU0\n 50:  3  ITS-PCI-MSI 524288 Edge  nvme0q0\n",
    );
    let arm = CheckOptions {
        arch: Arch::Aarch64,
        ..CheckOptions::default()
    };
    assert!(has(&run(&h, &["01:00.0"], &arm), "OVMM-IRQ-REMAP"));
    // intremap=off on the command line overrides what /proc/interrupts suggests.
    h.write(
        "proc/interrupts",
        "           CPU0\n 24:  10  IR-PCI-MSI-0000:00:1f.6  0-edge  eth0\n",
    );
    h.write(
        "proc/cmdline",
        "root=/dev/sda1 intel_iommu=on intremap=off\n",
    );
    assert!(has(&run(&h, &["01:00.0"], &x86()), "OVMM-IRQ-NO-REMAP"));
}

#[test]
fn vfio_pci_not_loaded_is_a_step_bind_does() {
    let h = ready_host();
    h.remove("sys/bus/pci/drivers/vfio-pci");
    let f = get(&run(&h, &["01:00.0"], &x86()), "OVMM-VFIO-NOT-LOADED").clone();
    assert_eq!(f.severity, Severity::Todo);
    assert!(f.read.contains("vfio-pci driver: missing"), "{}", f.read);
    assert!(fix(&f).contains("modules-load.d"));
}

#[test]
fn json_report_is_stable() {
    let h = FakeHost::new();
    h.add(Dev::new("0000:01:00.0").driver("e1000e").group(1));
    let r = run(&h, &["01:00.0"], &x86());
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["schema"], "ovmm.host-check/1");
    assert_eq!(v["ready"], false);
    assert_eq!(v["devices"][0]["bdf"], "0000:01:00.0");
    assert_eq!(v["devices"][0]["driver"], "e1000e");
    let drv = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "OVMM-DRIVER-HOST")
        .unwrap();
    assert_eq!(drv["severity"], "todo");
    assert_eq!(drv["subject"], "0000:01:00.0");
    assert!(drv["fix"].as_str().unwrap().contains("ovmm host bind"));
    let ok = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "OVMM-IOMMU-ON")
        .unwrap();
    assert!(
        ok.get("fix").is_none(),
        "no fix key when there is nothing to do"
    );
}

#[test]
fn text_report_puts_one_finding_per_line_with_its_code() {
    let h = FakeHost::new();
    h.add(Dev::new("0000:01:00.0").driver("e1000e").group(1));
    let text = check_text(&run(&h, &["01:00.0"], &x86()));
    assert!(
        text.starts_with(
            "0000:01:00.0  8086:10d3  Ethernet controller  driver e1000e  IOMMU group 1\n"
        ),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.contains("OVMM-DRIVER-HOST"))
        .unwrap();
    assert!(line.starts_with("0000:01:00.0  todo "), "{line}");
    assert!(
        line.ends_with("0000:01:00.0 is on e1000e; ovmm needs it on vfio-pci"),
        "{line}"
    );
    assert!(
        text.contains("fix:  `ovmm host bind 0000:01:00.0`"),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("not ready: 1 step that `ovmm host bind 0000:01:00.0` does"),
        "{text}"
    );
}
