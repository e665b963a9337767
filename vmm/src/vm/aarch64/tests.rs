//! Tests of the arm64 build steps that need no KVM: the PCI platform, the device tree this
//! VM describes (decompiled with `dtc`, as `--dump-dtb` users do), the PCI I/O window, the
//! power button's GPIO line.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::*;
use crate::config::SerialConfig;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

fn config(memory: u64, msi: bool) -> VmConfig {
    VmConfig {
        kernel: PathBuf::from("/Image"),
        initrd: None,
        cmdline: "console=ttyS0 panic=1 ovmm.test=poweroff".into(),
        memory,
        cpus: 2,
        serial: SerialConfig::None,
        no_reboot: false,
        timeout: Some(Duration::from_secs(5)),
        vfio: Vec::new(),
        msi,
        dump_dtb: None,
        pci_mmio64_size: None,
        acpi_tables: Vec::new(),
        virtio: Default::default(),
    }
}

/// KVM's reset MPIDRs for vCPUs 0 and 1 (bit 31 is RES1).
const MPIDRS: [u64; 2] = [0x8000_0000, 0x8000_0001];

fn dtc(args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("dtc")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run dtc ({e}): install it with `apt-get install device-tree-compiler`")
        });
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dtc failed: {stderr}");
    assert!(stderr.trim().is_empty(), "dtc complained:\n{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// The text of node `name` (up to its closing brace) in a dts.
fn node<'a>(dts: &'a str, name: &str) -> &'a str {
    let start = dts
        .find(&format!("{name} {{"))
        .unwrap_or_else(|| panic!("no node {name} in\n{dts}"));
    let end = dts[start..].find("};").map_or(dts.len(), |e| start + e);
    &dts[start..end]
}

#[test]
fn pci_platform_with_and_without_its() {
    let c = config(1 << 30, true);
    let p = pci_platform(&c, 40, true);
    assert_eq!(p.ecam, (0x3000_0000, 0x1000_0000));
    assert_eq!(p.config_io_port, None);
    assert_eq!((p.io.start, p.io.size), (0x1000, 0xf000));
    assert_eq!((p.mmio32.start, p.mmio32.size), (0x1000_0000, 0x2000_0000));
    assert_eq!(p.mmio64_floor, 0x8000_0000);
    assert_eq!(p.addr_limit, 1 << 40);
    assert!(p.msi && p.msi_requester_ids);
    // INTA of slot 1 is SPI 4 (INTID 36), slot 4 wraps to SPI 3.
    assert_eq!((p.intx_gsi)(1), 4);
    assert_eq!((p.intx_gsi)(4), 3);
    // No vITS, or --msi off: every device uses INTx.
    assert!(!pci_platform(&c, 40, false).msi);
    assert!(!pci_platform(&config(1 << 30, false), 48, true).msi);
    assert_eq!(pci_platform(&c, 48, true).addr_limit, 1 << 48);
}

#[test]
fn device_tree_of_a_vm_with_its_and_a_64bit_window() {
    let c = config(1 << 30, true);
    let gic = GicRegions::for_vcpus(2, true).unwrap();
    let mmio64 = Window {
        name: "64-bit MMIO window",
        start: 32 << 30,
        size: 32 << 30,
    };
    let initrd = GuestRange::new(GuestAddress(0x4300_0000), 0x40_0000);
    let p = describe(&c, &MPIDRS, gic, Some(mmio64), Some(initrd)).unwrap();
    let blob = device_tree(&p).unwrap();

    // Written to a file and decompiled as the README tells --dump-dtb users to.
    let path = std::env::temp_dir().join(format!("ovmm-dump-{}.dtb", std::process::id()));
    std::fs::write(&path, &blob).unwrap();
    let dts = dtc(&["-I", "dtb", "-O", "dts", path.to_str().unwrap()], &[]);
    std::fs::remove_file(&path).unwrap();

    let chosen = node(&dts, "chosen");
    assert!(chosen.contains("bootargs = \"console=ttyS0 panic=1 ovmm.test=poweroff\";"));
    assert!(chosen.contains("linux,initrd-start = <0x00 0x43000000>;"));
    assert!(chosen.contains("linux,initrd-end = <0x00 0x43400000>;"));
    assert!(chosen.contains("stdout-path = \"/serial@9000000\";"));
    assert!(chosen.contains("linux,pci-probe-only = <0x01>;"));
    assert!(node(&dts, "memory@40000000").contains("reg = <0x00 0x40000000 0x00 0x40000000>;"));
    assert!(node(&dts, "cpu@0").contains("enable-method = \"psci\";"));
    assert!(node(&dts, "cpu@1").contains("reg = <0x00 0x01>;"));
    assert!(node(&dts, "psci").contains("compatible = \"arm,psci-0.2\";"));
    // Distributor and two redistributors (2 x 128 KiB), and the ITS as MSI controller.
    assert!(node(&dts, "intc@8000000")
        .contains("reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x40000>;"));
    assert!(node(&dts, "msi-controller@8080000").contains("compatible = \"arm,gic-v3-its\";"));
    let pci = node(&dts, "pci@30000000");
    assert!(pci.contains("compatible = \"pci-host-ecam-generic\";"));
    assert!(pci.contains("msi-map = <0x00 0x02 0x00 0x10000>;"), "{pci}");
    // I/O, 32-bit and the 64-bit window (32 GiB at 32 GiB).
    assert!(
        pci.contains(
            "ranges = <0x1000000 0x00 0x00 0x00 0xfff0000 0x00 0x10000 \
             0x2000000 0x00 0x10000000 0x00 0x10000000 0x00 0x20000000 \
             0x3000000 0x08 0x00 0x08 0x00 0x08 0x00>;"
        ),
        "{pci}"
    );
    // Slot 1 INTA -> SPI 4, level high.
    assert!(
        pci.contains("0x800 0x00 0x00 0x01 0x01 0x00 0x00 0x00 0x04 0x04"),
        "{pci}"
    );
    assert!(node(&dts, "rtc@9010000").contains("compatible = \"arm,pl031\\0arm,primecell\";"));
    assert!(node(&dts, "test-exit@9020000").contains("reg = <0x00 0x9020000 0x00 0x1000>;"));
    // The power button: PL061 at 0x0904_0000 on SPI 7 (edge), gpio-keys KEY_POWER on line 3.
    let gpio = node(&dts, "pl061@9040000");
    assert!(
        gpio.contains("compatible = \"arm,pl061\\0arm,primecell\";"),
        "{gpio}"
    );
    assert!(gpio.contains("interrupts = <0x00 0x07 0x01>;"), "{gpio}");
    assert!(gpio.contains("phandle = <0x04>;"), "{gpio}");
    let key = node(&dts, "poweroff");
    assert!(key.contains("linux,code = <0x74>;"), "{key}");
    assert!(key.contains("gpios = <0x04 0x03 0x00>;"), "{key}");
}

#[test]
fn power_button_presses_then_releases_the_gpio_line() {
    let irq = EventFd::new(EFD_NONBLOCK).unwrap();
    let gpio = Arc::new(Mutex::new(Pl061Device::new(irq.try_clone().unwrap())));
    let io = IoBuses::default();
    io.mmio
        .insert(gpio.clone(), layout::GPIO_START.0, layout::GPIO_SIZE)
        .unwrap();
    // The guest's gpio-keys: line 3 an input, interrupts on both edges, enabled.
    let base = layout::GPIO_START.0;
    assert!(io.mmio.write(base + 0x408, &[0x08]));
    assert!(io.mmio.write(base + 0x410, &[0x08]));
    let button = GpioPowerButton {
        gpio: gpio.clone(),
        pin: layout::GPIO_POWER_BUTTON_PIN,
        hold: Duration::from_millis(500),
    };
    button.press().unwrap();
    let mut data = [0u8; 4];
    assert!(io.mmio.read(base + 0x418, &mut data));
    assert_eq!(data, [0x08, 0, 0, 0], "GPIOMIS shows line 3");
    assert_eq!(irq.read().unwrap(), 1, "the press raised the interrupt");
    assert!(io.mmio.write(base + 0x41c, &[0x08]));
    // Line 3 reads high through its data address (mask 0x08 at offset 0x20) until released.
    let mut level = [0u8];
    assert!(io.mmio.read(base + 0x20, &mut level));
    assert_eq!(level, [0x08]);
    let mut released = false;
    for _ in 0..500 {
        assert!(io.mmio.read(base + 0x20, &mut level));
        if level == [0] {
            released = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        released,
        "the line was not released within 5 s (hang guard)"
    );
    assert_eq!(irq.read().unwrap(), 1, "the release raised the interrupt");
    assert_eq!(gpio.lock().unwrap().pulses(), 2);
}

#[test]
fn device_tree_without_its_has_no_msi() {
    let c = config(512 << 20, false);
    let gic = GicRegions::for_vcpus(2, false).unwrap();
    let p = describe(&c, &MPIDRS, gic, None, None).unwrap();
    let dts = dtc(
        &["-I", "dtb", "-O", "dts", "-o", "-", "-"],
        &device_tree(&p).unwrap(),
    );
    assert!(!dts.contains("msi-controller"), "{dts}");
    let pci = node(&dts, "pci@30000000");
    assert!(!pci.contains("msi-map"), "{pci}");
    assert!(pci.contains("interrupt-map-mask = <0x1800 0x00 0x00 0x07>;"));
    // No 64-bit window: I/O and 32-bit only.
    assert!(pci.contains("0x2000000 0x00 0x10000000 0x00 0x10000000 0x00 0x20000000>;"));
    assert!(!node(&dts, "chosen").contains("initrd"));
}

#[test]
fn too_long_a_command_line_is_bad_input() {
    let mut c = config(512 << 20, true);
    c.cmdline = "x".repeat(3000);
    let gic = GicRegions::for_vcpus(2, true).unwrap();
    let p = describe(&c, &MPIDRS, gic, None, None).unwrap();
    let e = device_tree(&p).unwrap_err();
    assert!(e.is_bad_input());
    assert!(e.to_string().contains("3000 bytes"), "{e}");
}

#[test]
fn io_window_reaches_the_port_bus() {
    #[derive(Default)]
    struct Ports(Vec<(u64, Vec<u8>)>);
    impl BusDevice for Ports {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(0x10 + offset as u8);
        }
        fn write(&mut self, offset: u64, data: &[u8]) {
            self.0.push((offset, data.to_vec()));
        }
    }
    let io = Arc::new(IoBuses::default());
    let ports = Arc::new(Mutex::new(Ports::default()));
    io.pio.insert(ports.clone(), 0x1000, 0x20).unwrap();
    let window = Arc::new(Mutex::new(PciIoWindow {
        io: Arc::downgrade(&io),
    }));
    io.mmio
        .insert(window, layout::PCI_IO_START.0, layout::PCI_IO_SIZE)
        .unwrap();
    let base = layout::PCI_IO_START.0;
    assert!(io.mmio.write(base + 0x1004, &[1, 2]));
    let mut data = [0u8; 2];
    assert!(io.mmio.read(base + 0x1001, &mut data));
    assert_eq!(data, [0x11, 0x11]);
    // A port nobody decodes reads as all-ones, as on a PCI bus.
    assert!(io.mmio.read(base + 0x2000, &mut data));
    assert_eq!(data, [0xff, 0xff]);
    assert_eq!(ports.lock().unwrap().0, vec![(4, vec![1, 2])]);
}

#[test]
fn ipa_limits() {
    // RAM from 1 GiB: a 32-bit IPA space leaves 3 GiB, 40 bits 1023 GiB.
    assert_eq!(layout::max_ram_size(32).unwrap(), 3 << 30);
    assert_eq!(layout::max_ram_size(DEFAULT_IPA_BITS).unwrap(), 1023 << 30);
}
