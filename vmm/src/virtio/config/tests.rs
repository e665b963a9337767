use std::path::PathBuf;

use super::*;

fn temp_image(name: &str, size: usize) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ovmm-disk-{}-{name}", std::process::id()));
    std::fs::write(&p, vec![0u8; size]).unwrap();
    p
}

#[test]
fn disk_values() {
    let d = DiskConfig::parse("/images/root.img").unwrap();
    assert_eq!(
        d,
        DiskConfig {
            path: "/images/root.img".into(),
            read_only: false,
            serial: "root.img".into()
        }
    );
    let d = DiskConfig::parse("/images/data.raw,readonly=on,id=data-1").unwrap();
    assert!(d.read_only);
    assert_eq!(d.serial, "data-1");
    let long = DiskConfig::parse("/x/a-very-long-image-file-name.img").unwrap();
    assert_eq!(long.serial, "a-very-long-image-fi");
    for (bad, needle) in [
        ("", "the image path is missing"),
        (",readonly=on", "the image path is missing"),
        ("/a.img,readonly", "not key=value"),
        ("/a.img,readonly=maybe", "use on or off"),
        ("/a.img,id=", "printable ASCII"),
        ("/a.img,id=twenty-one-characters", "1 to 20"),
        ("/a.img,id=has space", "printable ASCII"),
        ("/a.img,cache=none", "unknown option 'cache'"),
    ] {
        let e = DiskConfig::parse(bad).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("--disk"), "{bad}: {e}");
    }
}

#[test]
fn disk_images_are_checked() {
    let good = temp_image("good", 4096);
    let odd = temp_image("odd", 1000);
    let empty = temp_image("empty", 0);
    let ok = VirtioConfig::validate(&[good.display().to_string()], &[]).unwrap();
    assert_eq!(ok.disks.len(), 1);
    let e = VirtioConfig::validate(&[odd.display().to_string()], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("is 1000 bytes, not a multiple of 512"), "{e}");
    let e = VirtioConfig::validate(&[empty.display().to_string()], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("is empty"), "{e}");
    let e = VirtioConfig::validate(&["/nonexistent/disk.img".into()], &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot open '/nonexistent/disk.img' for reading and writing")
            && e.contains("No such file"),
        "{e}"
    );
    let e = VirtioConfig::validate(&["/tmp".into()], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("/tmp"), "{e}");
    // The same image twice, and two disks with one id.
    let g = good.display().to_string();
    let e = VirtioConfig::validate(&[g.clone(), format!("{g},readonly=on")], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("already given to another --disk"), "{e}");
    let other = temp_image("other", 512);
    let o = other.display().to_string();
    let e = VirtioConfig::validate(&[format!("{g},id=x"), format!("{o},id=x")], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("id=x is already taken"), "{e}");
    for p in [good, odd, empty, other] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn net_values() {
    let n = NetConfig::parse("tap=tap0").unwrap();
    assert_eq!(
        n,
        NetConfig {
            tap: "tap0".into(),
            mac: None
        }
    );
    let n = NetConfig::parse("tap=vm1,mac=02:AB:cd:00:00:01").unwrap();
    assert_eq!(n.mac, Some([0x02, 0xab, 0xcd, 0, 0, 1]));
    for (bad, needle) in [
        ("", "not key=value"),
        ("mac=02:00:00:00:00:01", "tap=IFNAME is missing"),
        ("tap=", "needs an interface name"),
        ("tap=t0,mac=01:00:00:00:00:01", "multicast"),
        ("tap=t0,mac=02:00:00:00:00", "six hex bytes"),
        ("tap=t0,mac=02:00:00:00:00:01:02", "six hex bytes"),
        ("tap=t0,mac=02:00:00:00:00:zz", "six hex bytes"),
        ("tap=t0,queues=2", "unknown option 'queues'"),
    ] {
        let e = NetConfig::parse(bad).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("--net"), "{bad}: {e}");
    }
    let e = VirtioConfig::validate(
        &[],
        &["tap=t0".into(), "tap=t0,mac=02:00:00:00:00:01".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("TAP 't0' is already given"), "{e}");
}

#[test]
fn command_line_options_are_repeatable() {
    use clap::Parser;
    let cli = crate::cli::Cli::try_parse_from([
        "ovmm",
        "--kernel",
        "/k",
        "--disk",
        "/a.img",
        "--net",
        "tap=t0",
        "--disk",
        "/b.img,readonly=on",
    ])
    .unwrap();
    let r = cli.run.to_request();
    assert_eq!(r.disks, ["/a.img", "/b.img,readonly=on"]);
    assert_eq!(r.nets, ["tap=t0"]);
}
