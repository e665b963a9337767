//! Per-device checks: existence, group viability and neighbours (root ports, switches), the
//! current driver, devices the host needs, SR-IOV, reset method, power state, slot power, and
//! access to `/dev/vfio/N`.

use std::os::unix::fs::MetadataExt;

use super::{Caller, Ctx, Finding, Severity};
use crate::host::bdf::Bdf;
use crate::host::error::HostError;
use crate::host::group::{role, Group, Role};
use crate::host::pci::{self, Kind, PciDevice};

/// Checks one device; returns it (when it exists) and the findings.
pub(super) fn check_device(ctx: &Ctx, bdf: Bdf) -> (Option<PciDevice>, Vec<Finding>) {
    let root = ctx.root;
    let dev = match PciDevice::read(root, bdf) {
        Ok(d) => d,
        Err(e) => {
            let f = Finding::new("OVMM-DEV-MISSING", Severity::Error, bdf.to_string())
                .msg(e.to_string())
                .read(format!("{}: missing", root.shown(&bdf.sysfs_dir())))
                .fix("check the address with `ovmm host list` (lspci shows it too)");
            return (None, vec![f]);
        }
    };
    let subject = bdf.to_string();
    let read_drv = format!(
        "{}: {}; driver_override: {}",
        root.shown(&bdf.sysfs("driver")),
        dev.driver.as_deref().unwrap_or("(none)"),
        dev.driver_override.as_deref().unwrap_or("(null)")
    );
    if dev.kind.is_bridge() {
        let f = Finding::new("OVMM-DEV-BRIDGE", Severity::Error, subject)
            .msg(HostError::IsBridge(bdf).to_string())
            .read(format!(
                "{}: {} (config header type)",
                dev.class_name(),
                dev.ids()
            ))
            .fix("pass the endpoints behind it instead; `ovmm host list` shows them");
        return (Some(dev), vec![f]);
    }
    let mut out = Vec::new();
    match dev.group {
        None => {
            out.push(no_group(ctx, &dev));
            out.extend(host_needs(ctx, &dev, None));
        }
        Some(id) => match Group::read(root, id) {
            Ok(g) => {
                out.extend(group_findings(ctx, &dev, &g));
                out.extend(host_needs(ctx, &dev, Some(&g)));
            }
            Err(e) => out.push(
                Finding::new("OVMM-NO-GROUP", Severity::Error, subject.clone())
                    .msg(format!("cannot read IOMMU group {id}: {e}"))
                    .read(format!("/sys/kernel/iommu_groups/{id}/devices")),
            ),
        },
    }
    out.push(driver_finding(&dev, read_drv));
    out.extend(sriov(ctx, &dev));
    out.push(reset(ctx, &dev));
    out.extend(power(ctx, &dev));
    out.extend(slot_power(ctx, &dev));
    out.extend(vfio_node(ctx, &dev));
    (Some(dev), out)
}

fn no_group(ctx: &Ctx, dev: &PciDevice) -> Finding {
    let iommu_on = !ctx.root.list("sys/kernel/iommu_groups").is_empty();
    let fix = if iommu_on {
        "the IOMMU is on but does not cover this device: on device-tree boards the PCIe \
         controller node needs `iommu-map`/`iommus`; on x86 check the firmware's DMAR/IVRS scope"
    } else {
        "see OVMM-IOMMU-OFF: enable the IOMMU first"
    };
    Finding::new("OVMM-NO-GROUP", Severity::Error, dev.bdf.to_string())
        .msg(HostError::NoGroup(dev.bdf).to_string())
        .read(format!(
            "{}: missing",
            ctx.root.shown(&dev.bdf.sysfs("iommu_group"))
        ))
        .fix(fix)
}

fn describe(d: &PciDevice) -> String {
    format!(
        "{} ({}, {})",
        d.bdf,
        d.class_name(),
        d.driver.as_deref().unwrap_or("no driver")
    )
}

fn group_findings(ctx: &Ctx, dev: &PciDevice, g: &Group) -> Vec<Finding> {
    let subject = dev.bdf.to_string();
    let members: Vec<String> = g
        .devices
        .iter()
        .map(describe)
        .chain(g.others.iter().map(|o| {
            format!(
                "{} (platform, {})",
                o.name,
                o.driver.as_deref().unwrap_or("no driver")
            )
        }))
        .collect();
    let read = format!(
        "/sys/kernel/iommu_groups/{}/devices: {}",
        g.id,
        members.join(", ")
    );
    let mut out = Vec::new();

    // Viability, leaving the device's own driver to the driver finding.
    let pci_blockers: Vec<&PciDevice> = g
        .devices
        .iter()
        .filter(|d| d.bdf != dev.bdf && matches!(role(d), Role::Host(_)))
        .collect();
    let platform: Vec<String> = g
        .others
        .iter()
        .filter(|o| o.driver.as_deref().is_some_and(|d| !d.starts_with("vfio")))
        .map(|o| format!("{} on {}", o.name, o.driver.as_deref().unwrap_or_default()))
        .collect();
    if !platform.is_empty() {
        out.push(
            Finding::new("OVMM-GROUP-NOT-VIABLE", Severity::Error, subject.clone())
                .msg(format!(
                    "IOMMU group {} is not viable: platform device(s) {} stay on host drivers, and ovmm binds PCI devices only",
                    g.id,
                    platform.join(", ")
                ))
                .read(read.clone())
                .fix("unbind them by hand, or change the device tree so the PCIe controller has its own IOMMU group"),
        );
    } else if !pci_blockers.is_empty() {
        let names: Vec<String> = pci_blockers
            .iter()
            .map(|d| {
                format!(
                    "{} is on {}",
                    d.bdf,
                    d.driver.as_deref().unwrap_or_default()
                )
            })
            .collect();
        out.push(
            Finding::new("OVMM-GROUP-NOT-VIABLE", Severity::Todo, subject.clone())
                .msg(format!("IOMMU group {} is not viable: {}", g.id, names.join(", ")))
                .read(read.clone())
                .fix(format!(
                    "`ovmm host bind {}` moves every member of the group to vfio-pci (bridges stay)",
                    dev.bdf
                )),
        );
    } else {
        let bridges: Vec<String> = g.bridges().map(describe).collect();
        let mut msg = format!(
            "IOMMU group {} is viable as far as the other members go",
            g.id
        );
        if !bridges.is_empty() {
            msg.push_str(&format!(
                "; bridges stay with the host, which is fine: {}",
                bridges.join(", ")
            ));
        }
        out.push(
            Finding::new("OVMM-GROUP-VIABLE", Severity::Ok, subject.clone())
                .msg(msg)
                .read(read.clone()),
        );
    }

    // Everything the guest gets along with this device.
    let mates: Vec<&PciDevice> = g.endpoints().filter(|d| d.bdf != dev.bdf).collect();
    if !mates.is_empty() {
        let all: Vec<String> = g.endpoints().map(|d| format!("--vfio {}", d.bdf)).collect();
        let mut msg = format!(
            "IOMMU group {} also holds {}: they all go to the same VM",
            g.id,
            mates
                .iter()
                .map(|d| describe(d))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if ctx.board.is_ten64() && g.devices.iter().any(|d| d.kind == Kind::Bridge) {
            msg.push_str(
                "; on Ten64 / LS1088A the miniPCIe slots sit behind one PCIe switch that cannot \
                 isolate them, so both cards go to the same VM (the ACS override is not the fix)",
            );
        }
        out.push(
            Finding::new("OVMM-GROUP-SHARED", Severity::Info, subject.clone())
                .msg(msg)
                .read(read.clone())
                .fix(format!("pass all of them: {}", all.join(" "))),
        );
    }

    // Root ports in the group (arm64 device-tree boards, Jetson in particular).
    let ports: Vec<String> = g
        .devices
        .iter()
        .filter(|d| d.kind == Kind::RootPort)
        .map(describe)
        .collect();
    if !ports.is_empty() {
        let fix = if ctx.board.is_jetson_orin() {
            "on Jetson AGX Orin, a device-tree overlay that deletes the `iommus` property of the root \
             port node (pcie_c1_rp for the M.2 Key E slot, pcie_c5_rp for the x8 slot) leaves the \
             endpoint alone in its group"
        } else {
            "nothing to do for ovmm: the port stays on the host; the group is shared because the \
             port's ACS is not enabled (common on device-tree arm64 hosts)"
        };
        out.push(
            Finding::new("OVMM-GROUP-ROOT-PORT", Severity::Info, subject.clone())
                .msg(format!(
                    "IOMMU group {} holds root port {}: that is fine for VFIO, the port stays with the host",
                    g.id,
                    ports.join(", ")
                ))
                .read(read.clone())
                .fix(fix),
        );
    }

    out
}

/// Devices the host itself needs, anywhere in the group (or the device alone without one).
fn host_needs(ctx: &Ctx, dev: &PciDevice, group: Option<&Group>) -> Vec<Finding> {
    let subject = dev.bdf.to_string();
    let alone = [dev.clone()];
    let members: Vec<&PciDevice> = match group {
        Some(g) => g.endpoints().collect(),
        None => alone.iter().collect(),
    };
    let mut out = Vec::new();
    for d in members.into_iter().filter(|d| !d.on_vfio()) {
        for u in ctx.uses.get(&d.bdf).into_iter().flatten() {
            let sev = if ctx.opts.force {
                Severity::Warn
            } else {
                Severity::Error
            };
            let whose = match group {
                Some(g) if d.bdf != dev.bdf => {
                    format!(
                        "{} shares IOMMU group {} with {} and {u}",
                        d.bdf, g.id, dev.bdf
                    )
                }
                _ => format!("{}: {u}", d.bdf),
            };
            out.push(
                Finding::new(u.code(), sev, subject.clone())
                    .msg(format!("{whose}; the host would lose it"))
                    .read("/proc/net/route, /proc/mounts, /proc/swaps, boot_vga and /sys/class/{net,block,graphics}")
                    .fix(if ctx.opts.force {
                        "--force given: ovmm will take it".to_string()
                    } else {
                        "pick another device, or pass --force if the host can do without it"
                            .to_string()
                    }),
            );
        }
    }
    out
}

fn driver_finding(dev: &PciDevice, read: String) -> Finding {
    let s = dev.bdf.to_string();
    let bind_fix = format!(
        "`ovmm host bind {0}` (driver_override + drivers_probe, restorable), or `--vfio {0},managed=on` to bind only while the VM runs",
        dev.bdf
    );
    match role(dev) {
        Role::Vfio => Finding::new("OVMM-DRIVER-VFIO", Severity::Ok, s)
            .msg(format!(
                "{} is on {}",
                dev.bdf,
                dev.driver.as_deref().unwrap_or_default()
            ))
            .read(read),
        Role::Unbound => Finding::new("OVMM-DRIVER-NONE", Severity::Todo, s)
            .msg(format!(
                "{} has no driver; ovmm needs it on vfio-pci",
                dev.bdf
            ))
            .read(read)
            .fix(bind_fix),
        Role::NoDma(d) | Role::Host(d) => Finding::new("OVMM-DRIVER-HOST", Severity::Todo, s)
            .msg(format!("{} is on {d}; ovmm needs it on vfio-pci", dev.bdf))
            .read(read)
            .fix(bind_fix),
        Role::Bridge => Finding::new("OVMM-DEV-BRIDGE", Severity::Error, s)
            .msg(HostError::IsBridge(dev.bdf).to_string())
            .read(read),
    }
}

fn sriov(ctx: &Ctx, dev: &PciDevice) -> Option<Finding> {
    let path = dev.bdf.sysfs("sriov_numvfs");
    let vfs: u64 = ctx.root.read_opt(&path)?.parse().ok()?;
    if vfs == 0 || dev.on_vfio() {
        return None;
    }
    Some(
        Finding::new("OVMM-SRIOV-PF", Severity::Error, dev.bdf.to_string())
            .msg(HostError::SriovPf { bdf: dev.bdf, vfs }.to_string())
            .read(format!("{} = {vfs}", ctx.root.shown(&path)))
            .fix(format!(
                "pass a VF instead, or `echo 0 > {}`",
                ctx.root.shown(&path)
            )),
    )
}

fn reset(ctx: &Ctx, dev: &PciDevice) -> Finding {
    let root = ctx.root;
    let s = dev.bdf.to_string();
    let path = dev.bdf.sysfs("reset_method");
    let Some(methods) = root.read_opt(&path) else {
        if root.exists(&dev.bdf.sysfs("reset")) {
            return Finding::new("OVMM-RESET-UNKNOWN", Severity::Info, s)
                .msg("the kernel can reset the device but does not say how (no reset_method before Linux 5.15)")
                .read(format!("{}: missing; reset: present", root.shown(&path)));
        }
        return Finding::new("OVMM-RESET-NONE", Severity::Warn, s)
            .msg(format!("{} has no reset method: the next VM may see the state the last guest left", dev.bdf))
            .read(format!("{}: missing; reset: missing", root.shown(&path)))
            .fix("reboot the host (or power-cycle the device) between VM runs if the guest driver fails to start");
    };
    let read = format!(
        "{} = {}",
        root.shown(&path),
        if methods.is_empty() {
            "(empty)"
        } else {
            &methods
        }
    );
    let list: Vec<&str> = methods.split_whitespace().collect();
    let good = ["flr", "af_flr", "pm", "acpi", "device_specific", "cxl_bus"];
    if let Some(m) = list.iter().find(|m| good.contains(m)) {
        let msg = format!("{} can be reset on its own ({m})", dev.bdf);
        let f = Finding::new("OVMM-RESET-OK", Severity::Ok, s)
            .msg(msg)
            .read(read);
        return if *m == "device_specific" {
            f.fix("device_specific resets of some GPUs need the vendor-reset module")
        } else {
            f
        };
    }
    if list.contains(&"bus") {
        let siblings: Vec<String> = pci::all_devices(root)
            .into_iter()
            .filter(|b| b.domain == dev.bdf.domain && b.bus == dev.bdf.bus && *b != dev.bdf)
            .map(|b| b.to_string())
            .collect();
        let also = if siblings.is_empty() {
            "nothing else sits on that bus".to_string()
        } else {
            format!("it also resets {}", siblings.join(", "))
        };
        return Finding::new("OVMM-RESET-BUS", Severity::Warn, s)
            .msg(format!(
                "{} can only be reset through its bus: {also}",
                dev.bdf
            ))
            .read(read)
            .fix(
                "pass every device on that bus to the same VM, or accept that they reset together",
            );
    }
    Finding::new("OVMM-RESET-NONE", Severity::Warn, s)
        .msg(format!(
            "{} has no usable reset method: the next VM may see the state the last guest left",
            dev.bdf
        ))
        .read(read)
        .fix(format!(
            "`echo default > {}` restores the kernel's methods if someone cleared them",
            root.shown(&path)
        ))
}

fn power(ctx: &Ctx, dev: &PciDevice) -> Vec<Finding> {
    let root = ctx.root;
    let s = dev.bdf.to_string();
    let mut out = Vec::new();
    let state = root.read_opt(&dev.bdf.sysfs("power_state"));
    let idle_d3 = root.read_opt("sys/module/vfio_pci/parameters/disable_idle_d3");
    let read = format!(
        "{} = {}; vfio_pci disable_idle_d3 = {}",
        root.shown(&dev.bdf.sysfs("power_state")),
        state.as_deref().unwrap_or("(missing)"),
        idle_d3.as_deref().unwrap_or("(vfio_pci not loaded)")
    );
    let fix = "add vfio-pci.disable_idle_d3=1 to the kernel command line (or `options vfio-pci disable_idle_d3=1` in /etc/modprobe.d/vfio.conf)";
    if state.as_deref() == Some("D3cold") {
        out.push(
            Finding::new("OVMM-POWER-D3COLD", Severity::Warn, s.clone())
                .msg(format!("{} is powered off (D3cold); some devices never come back from it (\"Unable to change power state from D3cold to D0\")", dev.bdf))
                .read(read.clone())
                .fix(fix),
        );
    }
    let methods = root
        .read_opt(&dev.bdf.sysfs("reset_method"))
        .unwrap_or_default();
    let has_flr = methods
        .split_whitespace()
        .any(|m| m == "flr" || m == "af_flr");
    if idle_d3.as_deref() == Some("N") && !has_flr {
        out.push(
            Finding::new("OVMM-POWER-IDLE-D3", Severity::Info, s)
                .msg("vfio-pci puts idle devices into D3; devices without FLR sometimes fail to wake up for the VM")
                .read(read)
                .fix(fix),
        );
    }
    out
}

fn slot_power(ctx: &Ctx, dev: &PciDevice) -> Option<Finding> {
    let root = ctx.root;
    let port = pci::upstream(root, dev.bdf).pop();
    let from_port = port.and_then(|p| {
        let mw = pci::slot_cap_power(&pci::read_config(root, p))?;
        Some((mw, format!("Slot Capabilities of port {p}")))
    });
    let (mw, source) = from_port.or_else(|| {
        let mw = pci::captured_slot_power(&pci::read_config(root, dev.bdf))?;
        Some((
            mw,
            format!(
                "Device Capabilities of {} (captured slot power limit)",
                dev.bdf
            ),
        ))
    })?;
    let watts = f64::from(mw) / 1000.0;
    let f = Finding::new("OVMM-SLOT-POWER", Severity::Info, dev.bdf.to_string())
        .msg(format!(
            "the slot of {} supplies at most {watts} W",
            dev.bdf
        ))
        .read(format!("{source}: {watts} W"));
    if mw >= 75_000 {
        return Some(f);
    }
    let mut fix = format!(
        "check that the card draws at most {watts} W from the slot (GPUs and cards with fans often draw more): use its own power connector or a different card"
    );
    if ctx.board.is_jetson_orin() {
        fix.push_str("; Jetson AGX Orin's x8 slot gives at most 40 W");
    }
    Some(
        Finding {
            severity: Severity::Warn,
            ..f
        }
        .fix(fix),
    )
}

/// Whether `caller` may open a file with this owner and mode for reading and writing.
fn can_rw(caller: &Caller, uid: u32, gid: u32, mode: u32) -> bool {
    if caller.uid == 0 {
        return true;
    }
    let bits = if caller.uid == uid {
        mode >> 6
    } else if caller.gid == gid || caller.groups.contains(&gid) {
        mode >> 3
    } else {
        mode
    };
    bits & 0o6 == 0o6
}

fn vfio_node(ctx: &Ctx, dev: &PciDevice) -> Option<Finding> {
    let id = dev.group?;
    let s = dev.bdf.to_string();
    let node = format!("dev/vfio/{id}");
    let caller = &ctx.caller;
    let who = format!(
        "uid {} gid {} groups {:?}",
        caller.uid, caller.gid, caller.groups
    );
    let udev = format!(
        "run ovmm as root, or `chown {} /dev/vfio/{id}` (until reboot), or a udev rule \
         `SUBSYSTEM==\"vfio\", GROUP=\"kvm\", MODE=\"0660\"` with the user in group kvm",
        caller.uid
    );
    let Ok(meta) = ctx.root.metadata(&node) else {
        if dev.on_vfio() {
            return Some(
                Finding::new("OVMM-VFIO-NODE-MISSING", Severity::Error, s)
                    .msg(format!("{} is on vfio-pci but /dev/vfio/{id} does not exist", dev.bdf))
                    .read(format!("/dev/vfio/{id}: missing"))
                    .fix("check that devtmpfs is mounted on /dev and udev is running; `dmesg | grep vfio` says more"),
            );
        }
        if caller.uid == 0 {
            return None;
        }
        return Some(
            Finding::new("OVMM-VFIO-NODE-PERM", Severity::Warn, s)
                .msg(format!("/dev/vfio/{id} appears once the group is bound, owned by root with mode 0600 unless a udev rule says otherwise; you are not root"))
                .read(format!("/dev/vfio/{id}: missing; caller {who}"))
                .fix(udev),
        );
    };
    let (uid, gid, mode) = (meta.uid(), meta.gid(), meta.mode() & 0o777);
    let read = format!("/dev/vfio/{id}: uid {uid} gid {gid} mode {mode:04o}; caller {who}");
    if can_rw(caller, uid, gid, mode) {
        return Some(
            Finding::new("OVMM-VFIO-NODE-OK", Severity::Ok, s)
                .msg(format!("/dev/vfio/{id} can be opened by this user"))
                .read(read),
        );
    }
    Some(
        Finding::new("OVMM-VFIO-NODE-PERM", Severity::Error, s)
            .msg(format!(
                "/dev/vfio/{id} is not readable and writable for uid {}",
                caller.uid
            ))
            .read(read)
            .fix(udev),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_follows_owner_group_other() {
        let user = Caller {
            uid: 1000,
            gid: 1000,
            groups: vec![1000, 36],
            cap_ipc_lock: false,
        };
        assert!(!can_rw(&user, 0, 0, 0o600));
        assert!(can_rw(&user, 1000, 0, 0o600));
        assert!(can_rw(&user, 0, 36, 0o660), "kvm group member");
        assert!(!can_rw(&user, 0, 36, 0o640));
        assert!(can_rw(&user, 0, 0, 0o666));
        let root = Caller::default();
        assert!(can_rw(&root, 0, 0, 0o000));
    }
}
