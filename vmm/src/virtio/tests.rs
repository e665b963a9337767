use super::*;
use crate::pci::Window;

#[test]
fn virtio_bars_go_after_the_passthrough_bars() {
    let window = Window {
        name: "32-bit MMIO window",
        start: 0xc000_0000,
        size: 0x2000_0000,
    };
    // Nothing placed yet: from the start of the window.
    assert_eq!(
        allocator_after(window, std::iter::empty()).allocate(0x8000),
        Some(0xc000_0000)
    );
    // A 1 MiB BAR and a 4 KiB BAR in the window, a 64-bit BAR elsewhere (ignored).
    let used = [
        (0xc000_0000, 0x10_0000),
        (0xc010_0000, 0x1000),
        (0x40_0000_0000, 1 << 30),
    ];
    let mut a = allocator_after(window, used.into_iter());
    assert_eq!(a.allocate(0x8000), Some(0xc010_8000));
    assert_eq!(a.allocate(0x8000), Some(0xc011_0000));
    // A full window leaves nothing.
    let mut full = allocator_after(window, [(0xc000_0000, 0x2000_0000)].into_iter());
    assert_eq!(full.allocate(0x8000), None);
}

#[test]
fn errors_from_the_user_are_bad_input() {
    let disk = VirtioError::Disk {
        path: "/a.img".into(),
        reason: "the image is in use by another process".into(),
    };
    assert!(disk.is_bad_input());
    assert!(VirtioError::Tap(TapError::NotFound { name: "t".into() }).is_bad_input());
    let host = VirtioError::Host {
        what: "x".into(),
        reason: "y".into(),
    };
    assert!(!host.is_bad_input());
    assert_eq!(
        disk.to_string(),
        "--disk /a.img: the image is in use by another process"
    );
}

#[test]
fn an_image_is_locked_for_one_writer() {
    let path = std::env::temp_dir().join(format!("ovmm-lock-{}.img", std::process::id()));
    std::fs::write(&path, [0u8; 512]).unwrap();
    let disk = config::DiskConfig::parse(&path.display().to_string()).unwrap();
    let first = open_disk(&disk).unwrap();
    let e = open_disk(&disk).err().unwrap().to_string();
    assert!(e.contains("in use by another process"), "{e}");
    drop(first);
    let again = open_disk(&disk);
    assert!(again.is_ok(), "the lock goes with the device");
    drop(again);
    // Read-only disks share the image.
    let ro = config::DiskConfig::parse(&format!("{},readonly=on", path.display())).unwrap();
    let a = open_disk(&ro).unwrap();
    let b = open_disk(&ro);
    assert!(b.is_ok());
    drop((a, b));
    std::fs::remove_file(path).unwrap();
}
