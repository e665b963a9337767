//! Per-device checks (groups, board hints, host-needed devices, reset, power, slot power,
//! VFIO node access) and BARs against the guest windows.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::super::*;
use super::{fix, get, has, ready_host, run, x86, GIB};
use crate::host::fake::{Dev, FakeHost};
use crate::host::report::check_text;

fn bdf(s: &str) -> Bdf {
    s.parse().unwrap()
}

#[test]
fn a_group_mate_on_a_host_driver_blocks_the_group() {
    let h = FakeHost::new();
    h.add(
        Dev::new("0000:01:00.0")
            .class(0x030000)
            .ids(0x10de, 0x1c8d)
            .driver("nouveau")
            .group(1),
    );
    h.add(
        Dev::new("0000:01:00.1")
            .class(0x040300)
            .ids(0x10de, 0x0fb9)
            .driver("snd_hda_intel")
            .group(1),
    );
    let r = run(&h, &["01:00.0"], &x86());
    let f = get(&r, "OVMM-GROUP-NOT-VIABLE");
    assert_eq!(f.severity, Severity::Todo);
    assert_eq!(
        f.message,
        "IOMMU group 1 is not viable: 0000:01:00.1 is on snd_hda_intel"
    );
    assert!(fix(f).contains("ovmm host bind 0000:01:00.0"));
    let d = get(&r, "OVMM-DRIVER-HOST");
    assert_eq!(
        d.message,
        "0000:01:00.0 is on nouveau; ovmm needs it on vfio-pci"
    );
    let s = get(&r, "OVMM-GROUP-SHARED");
    assert_eq!(
        fix(s),
        "pass all of them: --vfio 0000:01:00.0 --vfio 0000:01:00.1"
    );
    assert!(
        s.message
            .contains("0000:01:00.1 (Audio device, snd_hda_intel)"),
        "{}",
        s.message
    );
    assert!(!r.ready);
    assert!(check_text(&r).contains("not ready: 2 steps that `ovmm host bind 0000:01:00.0` does"));
}

#[test]
fn a_bridge_in_the_group_does_not_block_it() {
    let h = FakeHost::new();
    // A switch downstream port (not a root port) on pcieport, and the endpoint behind it.
    h.add(Dev::new("0000:00:06.0").port(6).group(2));
    h.add(
        Dev::new("0000:01:00.0")
            .parent("0000:00:06.0")
            .driver("vfio-pci")
            .group(2),
    );
    let r = run(&h, &["01:00.0"], &x86());
    let f = get(&r, "OVMM-GROUP-VIABLE");
    assert_eq!(f.severity, Severity::Ok);
    assert!(
        f.message.contains(
            "bridges stay with the host, which is fine: 0000:00:06.0 (PCI bridge, pcieport)"
        ),
        "{}",
        f.message
    );
    assert!(!has(&r, "OVMM-GROUP-SHARED"));
    assert!(!has(&r, "OVMM-GROUP-ROOT-PORT"));
    assert!(r.ready, "{}", check_text(&r));
}

/// Jetson AGX Orin: the C5 root port (x8 slot) shares group 3 with the card behind it, and
/// advertises a 40 W slot.
fn jetson() -> FakeHost {
    let h = FakeHost::new();
    h.remove("sys/class/iommu/dmar0");
    h.mkdir("sys/class/iommu/smmu.0x0000000012000000");
    h.write(
        "proc/device-tree/compatible",
        "nvidia,p3737-0000+p3701-0000\0nvidia,p3701-0000\0nvidia,tegra234\0",
    );
    h.add(
        Dev::new("0005:00:00.0")
            .ids(0x10de, 0x229a)
            .port(4)
            .slot_power(40, 0)
            .group(3),
    );
    h.add(
        Dev::new("0005:01:00.0")
            .ids(0x10de, 0x1cb1)
            .class(0x030000)
            .parent("0005:00:00.0")
            .driver("vfio-pci")
            .group(3),
    );
    h
}

#[test]
fn jetson_root_port_in_the_group_gets_the_overlay_hint() {
    let h = jetson();
    let r = run(&h, &["0005:01:00.0"], &x86());
    let f = get(&r, "OVMM-GROUP-ROOT-PORT");
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message
            .contains("root port 0005:00:00.0 (PCI bridge, pcieport)"),
        "{}",
        f.message
    );
    assert!(
        fix(f).contains("`iommus`") && fix(f).contains("pcie_c5_rp"),
        "{}",
        fix(f)
    );
    assert!(get(&r, "OVMM-GROUP-VIABLE").severity == Severity::Ok);
    // Elsewhere the same shape gets the generic explanation.
    h.remove("proc/device-tree/compatible");
    let f = get(&run(&h, &["0005:01:00.0"], &x86()), "OVMM-GROUP-ROOT-PORT").clone();
    assert!(fix(&f).starts_with("nothing to do for ovmm"), "{}", fix(&f));
}

#[test]
fn slot_power_limit_of_40_w_is_a_warning() {
    let h = jetson();
    let r = run(&h, &["0005:01:00.0"], &x86());
    let f = get(&r, "OVMM-SLOT-POWER");
    assert_eq!(f.severity, Severity::Warn);
    assert_eq!(f.message, "the slot of 0005:01:00.0 supplies at most 40 W");
    assert_eq!(f.read, "Slot Capabilities of port 0005:00:00.0: 40 W");
    assert!(
        fix(f).contains("Jetson AGX Orin's x8 slot gives at most 40 W"),
        "{}",
        fix(f)
    );
    assert!(r.ready, "a warning does not block: {}", check_text(&r));

    // A 75 W slot (value 75, scale 1.0) is just information.
    let h = FakeHost::new();
    h.add(Dev::new("0000:00:01.0").port(4).slot_power(75, 0).group(1));
    h.add(
        Dev::new("0000:01:00.0")
            .parent("0000:00:01.0")
            .driver("vfio-pci")
            .group(1),
    );
    let f = get(&run(&h, &["01:00.0"], &x86()), "OVMM-SLOT-POWER").clone();
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.ends_with("75 W"));
}

#[test]
fn the_nic_with_the_default_route_is_refused_unless_forced() {
    let h = FakeHost::new();
    h.add(
        Dev::new("0000:03:00.0")
            .ids(0x8086, 0x15f3)
            .driver("igc")
            .group(4),
    );
    h.netdev("eth0", Some(bdf("03:00.0")));
    h.default_route("eth0");
    let r = run(&h, &["03:00.0"], &x86());
    let f = get(&r, "OVMM-HOST-NIC");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.message,
        "0000:03:00.0: network interface eth0 carries the default route; the host would lose it"
    );
    assert!(fix(f).contains("--force"));
    // Without an IOMMU group the device is still named as the host's.
    h.add(Dev::new("0000:06:00.0").driver("r8169"));
    h.netdev("eth1", Some(bdf("06:00.0")));
    h.write(
        "proc/net/ipv6_route",
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth1\n",
    );
    let f = get(&run(&h, &["06:00.0"], &x86()), "OVMM-HOST-NIC").clone();
    assert!(
        f.message.contains("eth1 carries the default route"),
        "{}",
        f.message
    );
    let forced = CheckOptions {
        force: true,
        ..x86()
    };
    let f = get(&run(&h, &["03:00.0"], &forced), "OVMM-HOST-NIC").clone();
    assert_eq!(f.severity, Severity::Warn);

    // The route on a bridge above the NIC counts too.
    h.default_route("br0");
    h.netdev("br0", None);
    h.link(
        "sys/class/net/eth0",
        "sys/devices/virtual/net/br0/lower_eth0",
    );
    let r = run(&h, &["03:00.0"], &x86());
    assert!(get(&r, "OVMM-HOST-NIC")
        .message
        .contains("br0 carries the default route"));
}

#[test]
fn mounted_disks_and_the_console_gpu_are_refused() {
    let h = FakeHost::new();
    h.add(
        Dev::new("0000:02:00.0")
            .class(0x010802)
            .driver("nvme")
            .group(5),
    );
    h.add(
        Dev::new("0000:00:02.0")
            .class(0x030000)
            .driver("i915")
            .group(6),
    );
    h.write("sys/bus/pci/devices/0000:00:02.0/boot_vga", "1\n");
    let nvme = h.real_dir(bdf("02:00.0"));
    let part = format!("{nvme}/nvme/nvme0/nvme0n1/nvme0n1p2");
    h.mkdir(&part);
    h.link(&part, "sys/class/block/nvme0n1p2");
    // /home on LVM over nvme0n1p3.
    let p3 = format!("{nvme}/nvme/nvme0/nvme0n1/nvme0n1p3");
    h.mkdir(&p3);
    h.link(&p3, "sys/class/block/nvme0n1p3");
    h.mkdir("sys/devices/virtual/block/dm-0/slaves");
    h.link("sys/devices/virtual/block/dm-0", "sys/class/block/dm-0");
    h.link(&p3, "sys/devices/virtual/block/dm-0/slaves/nvme0n1p3");
    h.write("dev/dm-0", "");
    h.link("dev/dm-0", "dev/mapper/vg-home");
    h.write("proc/mounts", "/dev/nvme0n1p2 / ext4 rw 0 0\n/dev/mapper/vg-home /home ext4 rw 0 0\nproc /proc proc rw 0 0\n");
    let r = run(&h, &["02:00.0", "00:02.0"], &x86());
    let disks: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.code == "OVMM-HOST-DISK")
        .collect();
    assert_eq!(disks.len(), 2, "{disks:?}");
    assert!(disks[0].message.contains("/dev/nvme0n1p2 is mounted on /"));
    assert!(disks[1]
        .message
        .contains("/dev/mapper/vg-home is mounted on /home"));
    let c = get(&r, "OVMM-HOST-CONSOLE");
    assert_eq!(c.severity, Severity::Error);
    assert!(c.message.contains("boot_vga = 1"), "{}", c.message);
}

#[test]
fn an_unwritable_vfio_node_is_an_error() {
    let h = ready_host();
    let node = h.root.path("dev/vfio/1");
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o600)).unwrap();
    let meta = std::fs::metadata(&node).unwrap();
    let (uid, gid) = (meta.uid() + 1, meta.gid() + 1);
    h.caller(uid, gid, &[gid], true);
    let r = run(&h, &["01:00.0"], &x86());
    let f = get(&r, "OVMM-VFIO-NODE-PERM");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.message,
        format!("/dev/vfio/1 is not readable and writable for uid {uid}")
    );
    assert!(f.read.contains("mode 0600"), "{}", f.read);
    assert!(
        fix(f).contains(&format!("chown {uid} /dev/vfio/1"))
            && fix(f).contains("SUBSYSTEM==\"vfio\"")
    );
    assert!(!r.ready);
    // Group access through the file's group.
    h.caller(uid, gid, &[meta.gid()], true);
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o660)).unwrap();
    assert!(has(&run(&h, &["01:00.0"], &x86()), "OVMM-VFIO-NODE-OK"));
}

#[test]
fn reset_and_power_findings() {
    let h = FakeHost::new();
    h.add(
        Dev::new("0000:01:00.0")
            .driver("vfio-pci")
            .group(1)
            .reset(Some("bus"))
            .power("D3cold"),
    );
    h.add(
        Dev::new("0000:01:00.1")
            .driver("vfio-pci")
            .group(1)
            .reset(Some("")),
    );
    h.add(
        Dev::new("0000:02:00.0")
            .driver("vfio-pci")
            .group(2)
            .reset(None),
    );
    h.write("sys/bus/pci/devices/0000:02:00.0/reset", "");
    h.add(
        Dev::new("0000:03:00.0")
            .driver("vfio-pci")
            .group(3)
            .reset(Some("device_specific bus")),
    );
    let r = run(&h, &["01:00.0"], &x86());
    let f = get(&r, "OVMM-RESET-BUS");
    assert_eq!(
        f.message,
        "0000:01:00.0 can only be reset through its bus: it also resets 0000:01:00.1"
    );
    let d3 = get(&r, "OVMM-POWER-D3COLD");
    assert_eq!(d3.severity, Severity::Warn);
    assert!(fix(d3).contains("vfio-pci.disable_idle_d3=1"));
    assert!(get(&r, "OVMM-POWER-IDLE-D3")
        .read
        .contains("disable_idle_d3 = N"));
    let f = get(&run(&h, &["01:00.1"], &x86()), "OVMM-RESET-NONE").clone();
    assert!(f.read.ends_with("reset_method = (empty)"), "{}", f.read);
    assert!(fix(&f).contains("echo default >"));
    assert!(has(&run(&h, &["02:00.0"], &x86()), "OVMM-RESET-UNKNOWN"));
    let f = get(&run(&h, &["03:00.0"], &x86()), "OVMM-RESET-OK").clone();
    assert!(fix(&f).contains("vendor-reset"));
    // With disable_idle_d3=Y and FLR, no D3 hint.
    h.write("sys/module/vfio_pci/parameters/disable_idle_d3", "Y\n");
    assert!(!has(&run(&h, &["01:00.0"], &x86()), "OVMM-POWER-IDLE-D3"));
}

#[test]
fn bars_are_checked_against_the_guest_windows() {
    let h = FakeHost::new();
    // 1 GiB 32-bit BAR: cannot fit the 512 MiB window.
    h.add(
        Dev::new("0000:01:00.0")
            .driver("vfio-pci")
            .group(1)
            .resource("0x00000000c0000000 0x00000000ffffffff 0x0000000000040200\n"),
    );
    // 512 GiB 64-bit BAR: beyond a 39-bit guest.
    h.add(
        Dev::new("0000:02:00.0")
            .driver("vfio-pci")
            .group(2)
            .resource(
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
         0x0000008000000000 0x000000ffffffffff 0x000000000014220c\n",
            ),
    );
    h.write(
        "sys/bus/pci/devices/0000:02:00.0/resource1_resize",
        "0000000000003ff0\n",
    );
    let r = run(&h, &["01:00.0"], &x86());
    let f = get(&r, "OVMM-BAR-32-FULL");
    assert_eq!(
        f.message,
        "BAR 0 of 0000:01:00.0 (1 GiB, 32-bit) does not fit ovmm's 512 MiB 32-bit window"
    );
    assert!(fix(f).contains("cannot be resized"));
    let r = run(&h, &["02:00.0"], &x86());
    let f = get(&r, "OVMM-BAR-64-FULL");
    assert!(f.message.starts_with("the 64-bit BARs need a 64-bit window of 512 GiB (largest: BAR 1 of 0000:02:00.0, 512 GiB)"), "{}", f.message);
    assert!(
        f.message
            .contains("beyond the 39-bit guest address space (512 GiB)"),
        "{}",
        f.message
    );
    assert!(fix(f).contains("resource1_resize") && fix(f).contains("3ff0"));
    assert!(f.read.contains("/proc/cpuinfo address sizes"));
    // A 46-bit host places it.
    h.write(
        "proc/cpuinfo",
        "address sizes\t: 46 bits physical, 48 bits virtual\n",
    );
    let f = get(&run(&h, &["02:00.0"], &x86()), "OVMM-BARS-FIT").clone();
    assert_eq!(f.message, "BARs fit: 32-bit 0 B of 512 MiB; 64-bit 512 GiB from 0x8000000000 within the 46-bit guest address space");
}

#[test]
fn guest_windows_follow_the_design_layout() {
    let h = FakeHost::new();
    let w = guest_windows(&h.root, Arch::X86_64, 512 << 20);
    assert_eq!(
        (w.mmio32_size, w.mmio64_start, w.phys_bits),
        (512 << 20, 4 * GIB, 39)
    );
    let w = guest_windows(&h.root, Arch::X86_64, 8 * GIB);
    assert_eq!(w.mmio64_start, 9 * GIB);
    let w = guest_windows(&h.root, Arch::Aarch64, 2 * GIB + 1);
    assert_eq!((w.mmio64_start, w.phys_bits), (4 * GIB, 40));
}

#[test]
fn missing_devices_bridges_and_sriov_pfs() {
    let h = FakeHost::new();
    h.add(Dev::new("0000:00:1c.0").port(4).group(1));
    h.add(Dev::new("0000:05:00.0").driver("ixgbe").group(7));
    h.write("sys/bus/pci/devices/0000:05:00.0/sriov_numvfs", "4\n");
    let r = run(&h, &["07:00.0", "00:1c.0", "05:00.0"], &x86());
    let m = get(&r, "OVMM-DEV-MISSING");
    assert!(m.message.starts_with("no PCI device 0000:07:00.0"));
    assert_eq!(get(&r, "OVMM-DEV-BRIDGE").subject, "0000:00:1c.0");
    let s = get(&r, "OVMM-SRIOV-PF");
    assert!(s.message.contains("4 SR-IOV virtual functions"));
    assert_eq!(r.devices.len(), 2, "the missing device has no summary");
}

#[test]
fn ten64_switch_group_says_both_cards_go_together() {
    let h = FakeHost::new();
    h.write(
        "proc/device-tree/compatible",
        "traverse,ten64\0fsl,ls1088a\0",
    );
    h.add(
        Dev::new("0001:01:00.0")
            .ids(0x12d8, 0xb304)
            .port(5)
            .group(2),
    );
    h.add(
        Dev::new("0001:02:01.0")
            .ids(0x12d8, 0xb304)
            .port(6)
            .parent("0001:01:00.0")
            .group(2),
    );
    h.add(
        Dev::new("0001:02:02.0")
            .ids(0x12d8, 0xb304)
            .port(6)
            .parent("0001:01:00.0")
            .group(2),
    );
    h.add(
        Dev::new("0001:03:00.0")
            .ids(0x168c, 0x003e)
            .class(0x028000)
            .parent("0001:02:01.0")
            .driver("ath10k_pci")
            .group(2),
    );
    h.add(
        Dev::new("0001:04:00.0")
            .ids(0x1ac1, 0x089a)
            .class(0x088000)
            .parent("0001:02:02.0")
            .group(2),
    );
    let r = run(&h, &["0001:03:00.0"], &x86());
    let f = get(&r, "OVMM-GROUP-SHARED");
    assert!(
        f.message
            .contains("0001:04:00.0 (System peripheral, no driver)"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("Ten64 / LS1088A") && f.message.contains("both cards go to the same VM")
    );
    assert_eq!(
        fix(f),
        "pass all of them: --vfio 0001:03:00.0 --vfio 0001:04:00.0"
    );
    assert!(
        has(&r, "OVMM-GROUP-VIABLE"),
        "an unbound mate does not block"
    );
    assert_eq!(
        get(&r, "OVMM-DRIVER-HOST").message,
        "0001:03:00.0 is on ath10k_pci; ovmm needs it on vfio-pci"
    );
}

#[test]
fn unbound_devices_and_missing_vfio_nodes() {
    let h = FakeHost::new();
    h.add(Dev::new("0000:01:00.0").group(1));
    h.add(Dev::new("0000:02:00.0").driver("vfio-pci").group(2));
    h.remove("dev/vfio/2");
    let r = run(&h, &["01:00.0", "02:00.0"], &x86());
    let f = get(&r, "OVMM-DRIVER-NONE");
    assert_eq!(
        (f.severity, f.subject.as_str()),
        (Severity::Todo, "0000:01:00.0")
    );
    let n = get(&r, "OVMM-VFIO-NODE-MISSING");
    assert_eq!(n.severity, Severity::Error);
    assert_eq!(
        n.message,
        "0000:02:00.0 is on vfio-pci but /dev/vfio/2 does not exist"
    );
    // A non-root caller is told the node will be root-only once it appears.
    h.caller(1000, 1000, &[], true);
    let r = run(&h, &["01:00.0"], &x86());
    let p = get(&r, "OVMM-VFIO-NODE-PERM");
    assert_eq!(p.severity, Severity::Warn);
    assert!(
        p.message.contains("owned by root with mode 0600"),
        "{}",
        p.message
    );
}
