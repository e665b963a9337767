//! Bind, restore, the journal, managed bindings and the listing, against a fake host whose
//! fake kernel moves driver links like the real one.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use super::bind::{bind, restore, Action, BindOptions, RestoreOptions};
use super::fake::{Dev, FakeHost, FakeKernel};
use super::journal::{Entry, Journal};
use super::list::{list, Status};
use super::managed::ManagedBinding;
use super::pci::{driver, driver_override};
use super::report::list_text;
use super::{Bdf, HostError};

fn bdf(s: &str) -> Bdf {
    s.parse().unwrap()
}

/// A GPU and its audio function behind a root port in group 1, and a NIC alone in group 2.
fn gpu_host() -> (FakeHost, FakeKernel, Journal) {
    let h = FakeHost::new();
    h.add(Dev::new("0000:00:01.0").port(4).group(1));
    h.add(
        Dev::new("0000:01:00.0")
            .ids(0x10de, 0x1c8d)
            .class(0x030000)
            .parent("0000:00:01.0")
            .driver("nouveau")
            .group(1),
    );
    h.add(
        Dev::new("0000:01:00.1")
            .ids(0x10de, 0x0fb9)
            .class(0x040300)
            .parent("0000:00:01.0")
            .driver("snd_hda_intel")
            .group(1),
    );
    h.add(Dev::new("0000:02:00.0").driver("e1000e").group(2));
    let k = FakeKernel::with_native(&[
        ("0000:01:00.0", "nouveau"),
        ("0000:01:00.1", "snd_hda_intel"),
        ("0000:02:00.0", "e1000e"),
    ]);
    let j = Journal::default_for(&h.root);
    (h, k, j)
}

fn opts() -> BindOptions {
    BindOptions {
        node_timeout: Duration::from_millis(50),
        ..BindOptions::default()
    }
}

fn drv(h: &FakeHost, b: &str) -> Option<String> {
    driver(&h.root, bdf(b))
}

#[test]
fn bind_moves_the_whole_group_and_leaves_the_bridge() {
    let (h, k, j) = gpu_host();
    let actions = bind(&h.root, &k, &j, &[bdf("01:00.0")], &opts()).unwrap();
    assert_eq!(
        actions,
        vec![
            Action::BridgeLeft {
                bdf: bdf("00:01.0"),
                driver: Some("pcieport".into())
            },
            Action::Bound {
                bdf: bdf("01:00.0"),
                from: Some("nouveau".into())
            },
            Action::Bound {
                bdf: bdf("01:00.1"),
                from: Some("snd_hda_intel".into())
            },
            Action::GroupReady { group: 1 },
        ]
    );
    assert_eq!(drv(&h, "01:00.0").as_deref(), Some("vfio-pci"));
    assert_eq!(drv(&h, "01:00.1").as_deref(), Some("vfio-pci"));
    assert_eq!(
        drv(&h, "00:01.0").as_deref(),
        Some("pcieport"),
        "bridge untouched"
    );
    assert_eq!(
        drv(&h, "02:00.0").as_deref(),
        Some("e1000e"),
        "other groups untouched"
    );
    assert_eq!(
        driver_override(&h.root, bdf("01:00.0")).as_deref(),
        Some("vfio-pci")
    );
    assert!(h.group_node(1));
    assert_eq!(
        k.ops(),
        [
            "unbind 0000:01:00.0",
            "probe 0000:01:00.0",
            "unbind 0000:01:00.1",
            "probe 0000:01:00.1"
        ]
    );
    let entries = j.load().unwrap();
    assert_eq!(
        entries,
        vec![
            Entry {
                bdf: bdf("01:00.0"),
                group: 1,
                driver: Some("nouveau".into()),
                driver_override: None,
                owner_pid: None
            },
            Entry {
                bdf: bdf("01:00.1"),
                group: 1,
                driver: Some("snd_hda_intel".into()),
                driver_override: None,
                owner_pid: None
            },
        ]
    );
    assert_eq!(actions[1].to_string(), "0000:01:00.0: nouveau -> vfio-pci");
    assert_eq!(
        actions[0].to_string(),
        "0000:00:01.0: bridge, stays with the host (pcieport)"
    );
}

#[test]
fn binding_a_bound_group_is_a_no_op_that_says_so() {
    let (h, k, j) = gpu_host();
    bind(&h.root, &k, &j, &[bdf("01:00.0")], &opts()).unwrap();
    let before = j.load().unwrap();
    let ops = k.ops().len();
    let again = bind(&h.root, &k, &j, &[bdf("01:00.1")], &opts()).unwrap();
    assert_eq!(
        again[1],
        Action::AlreadyBound {
            bdf: bdf("01:00.0"),
            driver: "vfio-pci".into()
        }
    );
    assert_eq!(
        again[1].to_string(),
        "0000:01:00.0: already on vfio-pci, nothing to do"
    );
    assert_eq!(
        again[2],
        Action::AlreadyBound {
            bdf: bdf("01:00.1"),
            driver: "vfio-pci".into()
        }
    );
    assert_eq!(k.ops().len(), ops, "no kernel operation the second time");
    assert_eq!(
        j.load().unwrap(),
        before,
        "the original drivers are kept, not overwritten with vfio-pci"
    );
}

#[test]
fn restore_gives_devices_back_and_then_says_there_is_nothing_to_do() {
    let (h, k, j) = gpu_host();
    bind(&h.root, &k, &j, &[bdf("01:00.0")], &opts()).unwrap();
    let out = restore(&h.root, &k, &j, &[], &RestoreOptions::default()).unwrap();
    assert!(out.complete(), "{:?}", out.failures);
    assert_eq!(
        out.actions,
        vec![
            Action::Restored {
                bdf: bdf("01:00.1"),
                from: Some("vfio-pci".into()),
                to: Some("snd_hda_intel".into())
            },
            Action::Restored {
                bdf: bdf("01:00.0"),
                from: Some("vfio-pci".into()),
                to: Some("nouveau".into())
            },
        ]
    );
    assert_eq!(drv(&h, "01:00.0").as_deref(), Some("nouveau"));
    assert_eq!(drv(&h, "01:00.1").as_deref(), Some("snd_hda_intel"));
    assert_eq!(
        driver_override(&h.root, bdf("01:00.0")),
        None,
        "override cleared"
    );
    assert!(!h.group_node(1));
    assert!(!j.path().exists(), "journal removed when empty");
    // Again: nothing recorded.
    let out = restore(&h.root, &k, &j, &[], &RestoreOptions::default()).unwrap();
    assert!(out.actions.is_empty() && out.complete());
    let out = restore(
        &h.root,
        &k,
        &j,
        &[bdf("01:00.0")],
        &RestoreOptions::default(),
    )
    .unwrap();
    assert_eq!(
        out.actions,
        vec![Action::NotInJournal {
            bdf: bdf("01:00.0")
        }]
    );
    assert!(out.actions[0].to_string().contains("nothing recorded"));
}

#[test]
fn restore_of_a_device_already_back_drops_its_entry() {
    let (h, k, j) = gpu_host();
    bind(&h.root, &k, &j, &[bdf("01:00.0")], &opts()).unwrap();
    // The user puts the GPU back by hand.
    h.write("sys/bus/pci/devices/0000:01:00.0/driver_override", "\n");
    h.remove(&format!("{}/driver", h.real_dir(bdf("01:00.0"))));
    h.link(
        "sys/bus/pci/drivers/nouveau",
        &format!("{}/driver", h.real_dir(bdf("01:00.0"))),
    );
    let out = restore(
        &h.root,
        &k,
        &j,
        &[bdf("01:00.0")],
        &RestoreOptions::default(),
    )
    .unwrap();
    assert_eq!(
        out.actions[0],
        Action::Restored {
            bdf: bdf("01:00.1"),
            from: Some("vfio-pci".into()),
            to: Some("snd_hda_intel".into())
        }
    );
    assert_eq!(
        out.actions[1],
        Action::AlreadyRestored {
            bdf: bdf("01:00.0"),
            driver: Some("nouveau".into())
        }
    );
    assert!(out.actions[1]
        .to_string()
        .contains("already on its original driver (nouveau)"));
    assert!(j.load().unwrap().is_empty());
}

#[test]
fn restore_after_a_crash_mid_bind_uses_the_journal() {
    let (h, _, j) = gpu_host();
    let crashing = FakeKernel {
        crash_on_probe: Some(bdf("01:00.1")),
        ..FakeKernel::with_native(&[
            ("0000:01:00.0", "nouveau"),
            ("0000:01:00.1", "snd_hda_intel"),
        ])
    };
    let res = catch_unwind(AssertUnwindSafe(|| {
        bind(&h.root, &crashing, &j, &[bdf("01:00.0")], &opts())
    }));
    assert!(res.is_err(), "the fake kernel panics like a killed process");
    // What the crash left: the GPU on vfio-pci, the audio function unbound with an override,
    // both recorded; and, as after kill -9, a lock file of a dead process.
    assert_eq!(drv(&h, "01:00.0").as_deref(), Some("vfio-pci"));
    assert_eq!(drv(&h, "01:00.1"), None);
    assert_eq!(j.load().unwrap().len(), 2);
    h.write("run/ovmm/host-journal.json.lock", "999999");
    let k = FakeKernel::with_native(&[
        ("0000:01:00.0", "nouveau"),
        ("0000:01:00.1", "snd_hda_intel"),
    ]);
    let out = restore(&h.root, &k, &j, &[], &RestoreOptions::default()).unwrap();
    assert!(out.complete(), "{:?}", out.failures);
    assert_eq!(
        out.actions[0],
        Action::Restored {
            bdf: bdf("01:00.1"),
            from: None,
            to: Some("snd_hda_intel".into())
        }
    );
    assert_eq!(drv(&h, "01:00.0").as_deref(), Some("nouveau"));
    assert_eq!(drv(&h, "01:00.1").as_deref(), Some("snd_hda_intel"));
    assert_eq!(driver_override(&h.root, bdf("01:00.1")), None);
    assert!(!j.path().exists());
}

#[test]
fn bind_refuses_the_hosts_nic_unless_forced() {
    let (h, k, j) = gpu_host();
    h.netdev("eth0", Some(bdf("02:00.0")));
    h.default_route("eth0");
    let e = bind(&h.root, &k, &j, &[bdf("02:00.0")], &opts()).unwrap_err();
    assert!(matches!(e, HostError::HostNeeds { group: 2, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "refusing to take 0000:02:00.0 (IOMMU group 2): the host needs it (network interface eth0 carries the default route); pass --force to take it anyway"
    );
    assert!(k.ops().is_empty() && !j.path().exists(), "nothing changed");
    let forced = BindOptions {
        force: true,
        ..opts()
    };
    bind(&h.root, &k, &j, &[bdf("02:00.0")], &forced).unwrap();
    assert_eq!(drv(&h, "02:00.0").as_deref(), Some("vfio-pci"));
}

#[test]
fn bind_refuses_bridges_missing_devices_and_groupless_devices() {
    let (h, k, j) = gpu_host();
    h.add(Dev::new("0000:03:00.0").driver("xhci_hcd"));
    let err = |b: &str| bind(&h.root, &k, &j, &[bdf(b)], &opts()).unwrap_err();
    assert!(matches!(err("00:01.0"), HostError::IsBridge(_)));
    assert!(matches!(err("09:00.0"), HostError::NoDevice(_)));
    let e = err("03:00.0");
    assert!(matches!(e, HostError::NoGroup(_)));
    assert!(
        e.to_string().contains("ovmm host check 0000:03:00.0"),
        "{e}"
    );
    assert!(k.ops().is_empty());
}

#[test]
fn a_failed_bind_is_rolled_back() {
    let (h, _, j) = gpu_host();
    let k = FakeKernel {
        refuse: vec![bdf("01:00.1")],
        ..FakeKernel::with_native(&[
            ("0000:01:00.0", "nouveau"),
            ("0000:01:00.1", "snd_hda_intel"),
        ])
    };
    let e = bind(&h.root, &k, &j, &[bdf("01:00.0")], &opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "0000:01:00.1 ended up on no driver instead of vfio-pci after drivers_probe; `dmesg` says why vfio-pci did not take it"
    );
    assert_eq!(drv(&h, "01:00.0").as_deref(), Some("nouveau"));
    assert_eq!(drv(&h, "01:00.1").as_deref(), Some("snd_hda_intel"));
    assert_eq!(driver_override(&h.root, bdf("01:00.0")), None);
    assert!(j.load().unwrap().is_empty());
}

#[test]
fn a_missing_vfio_node_fails_and_rolls_back() {
    let (h, _, j) = gpu_host();
    let k = FakeKernel {
        no_node: true,
        ..FakeKernel::with_native(&[("0000:02:00.0", "e1000e")])
    };
    let e = bind(&h.root, &k, &j, &[bdf("02:00.0")], &opts()).unwrap_err();
    assert!(
        matches!(e, HostError::NoVfioNode { group: 2, ms: 50 }),
        "{e}"
    );
    assert_eq!(drv(&h, "02:00.0").as_deref(), Some("e1000e"));
}

#[test]
fn bind_loads_vfio_pci_when_missing() {
    let (h, k, j) = gpu_host();
    h.remove("sys/bus/pci/drivers/vfio-pci");
    bind(&h.root, &k, &j, &[bdf("02:00.0")], &opts()).unwrap();
    assert_eq!(k.ops()[0], "modprobe vfio-pci");
}

#[test]
fn an_original_override_is_put_back() {
    let (h, k, j) = gpu_host();
    // The user had steered the audio function to pci-stub.
    h.write(
        "sys/bus/pci/devices/0000:01:00.1/driver_override",
        "pci-stub\n",
    );
    h.remove(&format!("{}/driver", h.real_dir(bdf("01:00.1"))));
    h.driver("pci-stub");
    h.link(
        "sys/bus/pci/drivers/pci-stub",
        &format!("{}/driver", h.real_dir(bdf("01:00.1"))),
    );
    bind(&h.root, &k, &j, &[bdf("01:00.0")], &opts()).unwrap();
    assert_eq!(
        j.load().unwrap()[1].driver_override.as_deref(),
        Some("pci-stub")
    );
    restore(
        &h.root,
        &k,
        &j,
        &[bdf("01:00.1")],
        &RestoreOptions::default(),
    )
    .unwrap();
    assert_eq!(drv(&h, "01:00.1").as_deref(), Some("pci-stub"));
    assert_eq!(
        driver_override(&h.root, bdf("01:00.1")).as_deref(),
        Some("pci-stub")
    );
    assert_eq!(
        drv(&h, "01:00.0").as_deref(),
        Some("nouveau"),
        "the group came back together"
    );
}

#[test]
fn managed_binding_restores_what_it_changed_on_drop() {
    let (h, k, j) = gpu_host();
    let m = ManagedBinding::acquire_with(
        h.root.clone(),
        j.clone(),
        Box::new(k),
        &[bdf("01:00.1")],
        opts(),
    )
    .unwrap();
    assert_eq!(m.groups(), vec![1]);
    assert_eq!(m.changed(), vec![bdf("01:00.0"), bdf("01:00.1")]);
    let me = Some(std::process::id());
    assert!(j.load().unwrap().iter().all(|e| e.owner_pid == me));
    assert_eq!(drv(&h, "01:00.1").as_deref(), Some("vfio-pci"));
    drop(m);
    assert_eq!(drv(&h, "01:00.0").as_deref(), Some("nouveau"));
    assert_eq!(drv(&h, "01:00.1").as_deref(), Some("snd_hda_intel"));
    assert!(!j.path().exists());
}

#[test]
fn managed_binding_leaves_devices_it_did_not_bind() {
    let (h, k, j) = gpu_host();
    bind(&h.root, &k, &j, &[bdf("01:00.0")], &opts()).unwrap();
    let k2 = FakeKernel::default();
    let m = ManagedBinding::acquire_with(
        h.root.clone(),
        j.clone(),
        Box::new(k2),
        &[bdf("01:00.0")],
        opts(),
    )
    .unwrap();
    assert!(m.changed().is_empty());
    assert_eq!(m.groups(), vec![1]);
    let out = m.release().unwrap();
    assert!(out.actions.is_empty());
    assert_eq!(drv(&h, "01:00.0").as_deref(), Some("vfio-pci"));
    assert_eq!(j.load().unwrap().len(), 2, "the CLI binding's entries stay");
}

#[test]
fn restore_skips_devices_a_running_ovmm_holds() {
    let (h, k, j) = gpu_host();
    bind(&h.root, &k, &j, &[bdf("02:00.0")], &opts()).unwrap();
    let mut entries = j.load().unwrap();
    entries[0].owner_pid = Some(1); // proc/1 exists in the fake tree
    j.store(&entries).unwrap();
    let out = restore(&h.root, &k, &j, &[], &RestoreOptions::default()).unwrap();
    assert_eq!(
        out.actions,
        vec![Action::Held {
            bdf: bdf("02:00.0"),
            pid: 1
        }]
    );
    assert!(!out.complete());
    assert_eq!(drv(&h, "02:00.0").as_deref(), Some("vfio-pci"));
    // Its owner is gone (or --force): restored.
    entries[0].owner_pid = Some(999_999);
    j.store(&entries).unwrap();
    let out = restore(&h.root, &k, &j, &[], &RestoreOptions::default()).unwrap();
    assert!(out.complete());
    assert_eq!(drv(&h, "02:00.0").as_deref(), Some("e1000e"));
}

#[test]
fn list_shows_each_group_and_whether_it_can_go_now() {
    let (h, _, _) = gpu_host();
    h.netdev("eth0", Some(bdf("02:00.0")));
    h.default_route("eth0");
    h.add(
        Dev::new("0000:04:00.0")
            .class(0x010802)
            .driver("vfio-pci")
            .group(4),
    );
    h.add(Dev::new("0000:00:1c.0").port(4).group(3));
    h.add(
        Dev::new("0000:00:00.0")
            .ids(0x8086, 0x29c0)
            .class(0x060000)
            .group(3),
    );
    let l = list(&h.root).unwrap();
    let st: Vec<(u32, Status)> = l.groups.iter().map(|g| (g.id, g.status)).collect();
    assert_eq!(
        st,
        vec![
            (1, Status::NeedsBind),
            (2, Status::HostNeeds),
            (3, Status::BridgesOnly),
            (4, Status::Ready)
        ]
    );
    assert_eq!(
        l.groups[0].reason,
        "0000:01:00.0 on nouveau, 0000:01:00.1 on snd_hda_intel"
    );
    assert!(!l.groups[0].viable);
    assert!(l.groups[2].viable && l.groups[3].viable);
    let v = serde_json::to_value(&l).unwrap();
    assert_eq!(v["schema"], "ovmm.host-list/1");
    assert_eq!(v["groups"][0]["devices"][0]["bridge"], true);
    assert_eq!(v["groups"][0]["devices"][0]["kind"], "root-port");
    assert_eq!(v["groups"][0]["devices"][1]["class"], "0x030000");
    assert_eq!(
        v["groups"][1]["devices"][0]["host_use"][0]["use"],
        "default-route"
    );
    assert_eq!(v["groups"][1]["status"], "host-needs");
    assert_eq!(v["groups"][2]["devices"][0]["kind"], "host-bridge");
    assert_eq!(v["groups"][2]["devices"][1]["kind"], "root-port");
    let text = list_text(&l);
    assert!(
        text.contains(
            "IOMMU group 1: needs bind (0000:01:00.0 on nouveau, 0000:01:00.1 on snd_hda_intel)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "  0000:00:01.0  8086:10d3  PCI bridge                      pcieport       root port\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  0000:01:00.1  10de:0fb9  Audio device                    snd_hda_intel\n"),
        "{text}"
    );
    assert!(
        text.contains("host: network interface eth0 carries the default route"),
        "{text}"
    );
}

#[test]
fn list_without_an_iommu_says_so() {
    let h = FakeHost::new();
    h.add(Dev::new("0000:01:00.0").driver("e1000e"));
    let l = list(&h.root).unwrap();
    assert!(!l.iommu && l.groups.is_empty());
    assert!(list_text(&l).starts_with("No IOMMU groups: the IOMMU is off"));
}
