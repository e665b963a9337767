//! `--vfio` parsing, slot expansion from a fake sysfs tree, romfile checks and guest addresses.

use std::path::PathBuf;

use super::*;

#[test]
fn vfio_values() {
    let c = VfioConfig::parse("01:00.0").unwrap();
    assert_eq!(c.label, "0000:01:00.0");
    assert_eq!(c.sysfs, PathBuf::from("/sys/bus/pci/devices/0000:01:00.0"));
    assert!(!c.intx_only);
    let c = VfioConfig::parse("0001:02:1f.7,intx=on").unwrap();
    assert_eq!((c.label.as_str(), c.intx_only), ("0001:02:1f.7", true));
    assert!(!c.managed);
    assert!(
        VfioConfig::parse("01:00.0,managed=on,intx=off")
            .unwrap()
            .managed
    );
    let c = VfioConfig::parse(
        "01:00.0,vendor-id=0x1af4,device-id=10d3,sub-vendor-id=0x8086,sub-device-id=0,class-code=0x030000,rombar=off",
    )
    .unwrap();
    assert_eq!(c.ids.vendor_id, Some(0x1af4));
    assert_eq!(c.ids.device_id, Some(0x10d3));
    assert_eq!(c.ids.subsystem_vendor_id, Some(0x8086));
    assert_eq!(c.ids.subsystem_id, Some(0));
    assert_eq!(c.ids.class_code, Some(0x03_0000));
    assert!(!c.rombar);
    assert!(VfioConfig::parse("01:00.0").unwrap().rombar);
    let c = VfioConfig::parse("/sys/devices/pci0000:00/0000:00:03.0,intx=off").unwrap();
    assert_eq!(c.label, "0000:00:03.0");
    assert_eq!(
        c.sysfs,
        PathBuf::from("/sys/devices/pci0000:00/0000:00:03.0")
    );
    for (bad, needle) in [
        ("zz:00", "not a PCI address"),
        ("zz:00.0", "not a PCI address"),
        ("01:00.0,intx=maybe", "use on or off"),
        ("01:00.0,rombar", "not key=value"),
        ("01:00.0,speed=9", "unknown option 'speed'"),
        ("01:00.0,addr=20", "the slot must be hex 0 to 1f"),
        ("01:00.0,addr=3.8", "the function must be hex 0 to 7"),
        ("01:00.0,romfile=", "romfile= needs a path"),
        ("01:00.0,romfile=/x,rombar=off", "contradict"),
        ("01:00", "a whole slot is expanded"),
        ("01:00.0,vendor-id=0x12345", "hex number up to 0xffff"),
        ("01:00.0,class-code=xyz", "hex number up to 0xffffff"),
        ("01:00.0,rombar=maybe", "use on or off"),
        ("/tmp/nothing", "does not end in a PCI address"),
    ] {
        let e = VfioConfig::parse(bad).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains(bad), "{bad}: {e}");
    }
}

#[test]
fn addr_and_romfile_options() {
    let c = VfioConfig::parse("01:00.1,addr=05.3,romfile=/tmp/gpu.rom").unwrap();
    assert_eq!(c.addr, Some(PciAddress::new(0, 5, 3).unwrap()));
    assert_eq!(c.romfile, Some(PathBuf::from("/tmp/gpu.rom")));
    assert_eq!(
        VfioConfig::parse("01:00.1,addr=0x1f").unwrap().addr,
        Some(PciAddress::new(0, 0x1f, 0).unwrap())
    );
    assert_eq!(VfioConfig::parse("01:00.1").unwrap().addr, None);
}

/// A fake system root with PCI functions (only their directories).
struct Root(PathBuf);

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn root(name: &str, functions: &[&str]) -> Root {
    let r = std::env::temp_dir().join(format!("ovmm-vfio-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&r);
    for f in functions {
        std::fs::create_dir_all(r.join("sys/bus/pci/devices").join(f)).unwrap();
    }
    Root(r)
}

fn values(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// (host device, guest address) of each resolved function.
fn placed(r: &Root, v: &[&str]) -> Vec<(String, String)> {
    resolve(&values(v), &r.0)
        .unwrap()
        .into_iter()
        .map(|c| (c.label, c.addr.map(|a| a.to_string()).unwrap_or_default()))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_whole_slot_becomes_one_multi_function_guest_slot() {
    let r = root(
        "slot",
        &[
            "0000:01:00.0",
            "0000:01:00.1",
            "0000:01:00.3",
            "0000:02:00.0",
        ],
    );
    assert_eq!(
        placed(&r, &["01:00,managed=on", "02:00.0"]),
        pairs(&[
            ("0000:01:00.0", "0000:00:01.0"),
            ("0000:01:00.1", "0000:00:01.1"),
            ("0000:01:00.3", "0000:00:01.3"),
            ("0000:02:00.0", "0000:00:02.0"),
        ])
    );
    let all = resolve(&values(&["01:00,managed=on,intx=on"]), &r.0).unwrap();
    assert!(all.iter().all(|c| c.managed && c.intx_only));
    assert_eq!(
        all[2].sysfs,
        PathBuf::from("/sys/bus/pci/devices/0000:01:00.3")
    );
    // addr= moves the whole slot, function numbers kept.
    assert_eq!(
        placed(&r, &["02:00.0", "01:00,addr=0x10"]),
        pairs(&[
            ("0000:02:00.0", "0000:00:01.0"),
            ("0000:01:00.0", "0000:00:10.0"),
            ("0000:01:00.1", "0000:00:10.1"),
            ("0000:01:00.3", "0000:00:10.3"),
        ])
    );
}

#[test]
fn single_functions_and_explicit_addresses() {
    let r = root("single", &["0000:01:00.0", "0000:01:00.1", "0000:03:00.0"]);
    // The audio function alone becomes function 0 of its own slot.
    assert_eq!(
        placed(&r, &["01:00.1"]),
        pairs(&[("0000:01:00.1", "0000:00:01.0")])
    );
    // Explicit addresses are served first; automatic ones skip them.
    assert_eq!(
        placed(&r, &["03:00.0", "01:00.0,addr=1.0", "01:00.1,addr=1.1"]),
        pairs(&[
            ("0000:03:00.0", "0000:00:02.0"),
            ("0000:01:00.0", "0000:00:01.0"),
            ("0000:01:00.1", "0000:00:01.1"),
        ])
    );
}

#[test]
fn address_and_slot_errors_are_named() {
    let r = root("errors", &["0000:01:00.0", "0000:01:00.1", "0000:03:00.0"]);
    let err = |v: &[&str]| resolve(&values(v), &r.0).unwrap_err().to_string();
    assert_eq!(
        err(&["01:00.0,addr=4", "03:00.0,addr=4.0"]),
        "0000:03:00.0 asks for guest PCI address 0000:00:04.0, which 0000:01:00.0 already has; choose another with addr=SLOT.FUNCTION"
    );
    assert!(err(&["01:00.1,addr=6.2"])
        .starts_with("guest slot 06 has function 2 (0000:01:00.1) but no function 0"));
    assert!(err(&["01:00,addr=0"]).contains("host bridge"));
    assert_eq!(
        err(&["05:00"]),
        "--vfio 05:00: the host has no PCI function in slot 0000:05:00 (`ovmm host list` shows the devices)"
    );
    assert_eq!(
        err(&["01:00", "01:00.1"]),
        "--vfio 0000:01:00.1 is given twice"
    );
    assert!(err(&["01:00,addr=3.1"]).contains("give addr=SLOT, not a function (1)"));
    let e = err(&["01:00,romfile=/x.rom"]);
    assert!(
        e.contains("romfile= applies to one function, not a whole slot")
            && e.contains("--vfio 0000:01:00.0,addr=SLOT.0"),
        "{e}"
    );
    assert!(err(&["01:00,vendor-id=1234"]).contains("vendor-id= applies to one function"));
}

#[test]
fn romfiles_are_checked() {
    let r = root("rom", &["0000:01:00.0"]);
    let good = r.0.join("good.rom");
    std::fs::write(&good, [0x55, 0xaa, 0, 0]).unwrap();
    let empty = r.0.join("empty.rom");
    std::fs::write(&empty, []).unwrap();
    let huge = r.0.join("huge.rom");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(MAX_ROM_FILE + 1)
        .unwrap();
    let with = |p: &std::path::Path| resolve(&[format!("01:00.0,romfile={}", p.display())], &r.0);
    assert_eq!(
        with(&good).unwrap()[0].romfile.as_deref(),
        Some(good.as_path())
    );
    let e = with(&empty).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "romfile '{}' for 0000:01:00.0 is empty; a ROM image starts with 0x55 0xaa",
            empty.display()
        )
    );
    let e = with(&huge).unwrap_err().to_string();
    assert!(e.contains("is 16777217 bytes, more than the 16 MiB"), "{e}");
    let e = with(&r.0.join("missing.rom")).unwrap_err().to_string();
    assert!(
        e.contains("missing.rom' for 0000:01:00.0 cannot read it:"),
        "{e}"
    );
    let e = with(&r.0).unwrap_err().to_string();
    assert!(e.contains("is not a regular file"), "{e}");
}
