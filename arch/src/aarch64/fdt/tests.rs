use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use super::*;
use crate::aarch64::layout::{PCI_IO_START, PCI_MMIO32_START, RAM_START};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// MPIDRs as KVM reports them (bit 31 is RES1), one with Aff1 set.
const MPIDRS: [u64; 3] = [0x8000_0000, 0x8000_0001, 0x8000_0100];

fn platform(with_its: bool) -> Arm64Platform {
    let mut p = Arm64Platform::standard(MPIDRS.to_vec(), 512 * MIB, "console=ttyS0", with_its)
        .expect("standard platform");
    p.initrd = Some(GuestRange::new(GuestAddress(0x4820_0000), 0x12_3400));
    if let Some(pci) = p.pci.as_mut() {
        pci.mmio64 = Some(GuestRange::new(GuestAddress(32 * GIB), 16 * GIB));
    }
    p
}

/// Decodes a DTB with Debian's `dtc`, failing on any error or warning it prints.
fn dtc_decode(blob: &[u8]) -> String {
    let mut child = match Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts", "-o", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot run dtc ({e}): these tests need the device tree compiler; \
             install it with `apt-get install device-tree-compiler`"
        ),
    };
    child
        .stdin
        .take()
        .expect("dtc stdin")
        .write_all(blob)
        .expect("write the DTB to dtc");
    let out = child.wait_with_output().expect("wait for dtc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dtc failed: {stderr}");
    assert!(stderr.trim().is_empty(), "dtc complained:\n{stderr}");
    String::from_utf8(out.stdout).expect("dtc prints UTF-8")
}

/// The properties of the node at `path` ("/" for the root, "/a/b" below it) in dtc's output,
/// name -> value text ("" for empty properties). Panics when the node is missing.
fn node(dts: &str, path: &str) -> HashMap<String, String> {
    nodes(dts)
        .remove(path)
        .unwrap_or_else(|| panic!("no node {path} in:\n{dts}"))
}

/// Every node of dtc's output by path.
fn nodes(dts: &str) -> HashMap<String, HashMap<String, String>> {
    let mut all: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut stack: Vec<String> = Vec::new();
    for line in dts.lines().map(str::trim) {
        if let Some(name) = line.strip_suffix(" {") {
            stack.push(if name == "/" {
                String::new()
            } else {
                name.to_string()
            });
            all.entry(path_of(&stack)).or_default();
        } else if line == "};" {
            stack.pop();
        } else if let Some(prop) = line.strip_suffix(';') {
            let (name, value) = prop.split_once(" = ").unwrap_or((prop, ""));
            all.entry(path_of(&stack))
                .or_default()
                .insert(name.to_string(), value.to_string());
        }
    }
    all
}

fn path_of(stack: &[String]) -> String {
    match stack.len() {
        0 | 1 => "/".to_string(),
        _ => stack.join("/"),
    }
}

/// The cells of a `<...>` value.
fn cells(value: &str) -> Vec<u32> {
    value
        .split(|c: char| c == '<' || c == '>' || c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            let hex = t.strip_prefix("0x").unwrap_or_else(|| panic!("cell {t:?}"));
            u32::from_str_radix(hex, 16).expect("hex cell")
        })
        .collect()
}

fn prop_cells(dts: &str, path: &str, prop: &str) -> Vec<u32> {
    let props = node(dts, path);
    let value = props
        .get(prop)
        .unwrap_or_else(|| panic!("{path} has no {prop}: {props:?}"));
    cells(value)
}

fn be32(blob: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([blob[at], blob[at + 1], blob[at + 2], blob[at + 3]])
}

#[test]
fn header_is_a_valid_version_17_fdt() {
    let blob = create_fdt(&platform(true)).unwrap();
    assert_eq!(be32(&blob, 0), 0xd00d_feed, "magic");
    assert_eq!(be32(&blob, 4) as usize, blob.len(), "totalsize");
    assert_eq!(be32(&blob, 20), 17, "version");
    assert_eq!(be32(&blob, 24), 16, "last compatible version");
    assert_eq!(be32(&blob, 28), 0, "boot_cpuid_phys is cpu@0's reg");
    let (off_struct, off_strings) = (be32(&blob, 8) as usize, be32(&blob, 12) as usize);
    let (size_strings, size_struct) = (be32(&blob, 32) as usize, be32(&blob, 36) as usize);
    assert_eq!(off_strings + size_strings, blob.len());
    assert_eq!(off_struct + size_struct, off_strings);
    assert!(blob.len() as u64 <= FDT_MAX_SIZE);
}

#[test]
fn dtc_accepts_every_variant_silently() {
    for with_its in [false, true] {
        for with_mmio64 in [false, true] {
            let mut p = platform(with_its);
            if !with_mmio64 {
                p.pci.as_mut().unwrap().mmio64 = None;
            }
            dtc_decode(&create_fdt(&p).unwrap());
        }
    }
    let mut bare = platform(false);
    (bare.serial, bare.rtc, bare.test_exit, bare.pci, bare.initrd) = (None, None, None, None, None);
    bare.gpio = None;
    let dts = dtc_decode(&create_fdt(&bare).unwrap());
    let all = nodes(&dts);
    for gone in [
        "/serial@9000000",
        "/rtc@9010000",
        "/apb-pclk",
        "/pl061@9040000",
        "/gpio-keys",
        "/pci@30000000",
    ] {
        assert!(!all.contains_key(gone), "{gone} without its device");
    }
    assert!(!node(&dts, "/chosen").contains_key("stdout-path"));
    assert!(!node(&dts, "/chosen").contains_key("linux,pci-probe-only"));
}

#[test]
fn root_memory_and_cpus() {
    let dts = dtc_decode(&create_fdt(&platform(false)).unwrap());
    let root = node(&dts, "/");
    assert_eq!(root["compatible"], "\"linux,dummy-virt\"");
    assert_eq!(cells(&root["#address-cells"]), [2]);
    assert_eq!(cells(&root["interrupt-parent"]), [GIC_PHANDLE]);
    let memory = node(&dts, "/memory@40000000");
    assert_eq!(memory["device_type"], "\"memory\"");
    assert_eq!(cells(&memory["reg"]), [0, 0x4000_0000, 0, 0x2000_0000]);
    for (name, reg) in [
        ("cpu@0", [0, 0]),
        ("cpu@1", [0, 1]),
        ("cpu@100", [0, 0x100]),
    ] {
        let cpu = node(&dts, &format!("/cpus/{name}"));
        assert_eq!(cpu["device_type"], "\"cpu\"", "{name}");
        assert_eq!(cpu["enable-method"], "\"psci\"", "{name}");
        assert_eq!(cells(&cpu["reg"]), reg, "{name}");
    }
    assert_eq!(
        nodes(&dts)
            .keys()
            .filter(|k| k.starts_with("/cpus/"))
            .count(),
        3
    );
    let psci = node(&dts, "/psci");
    assert_eq!(psci["compatible"], "\"arm,psci-0.2\"");
    assert_eq!(psci["method"], "\"hvc\"");
}

#[test]
fn cpus_with_aff3_get_two_cell_regs() {
    let mut p = platform(false);
    p.vcpu_mpidrs = vec![0x8000_0000, 0x01_8000_0203];
    let dts = dtc_decode(&create_fdt(&p).unwrap());
    assert_eq!(prop_cells(&dts, "/cpus/cpu@100000203", "reg"), [1, 0x203]);
}

#[test]
fn chosen_carries_cmdline_initrd_console_and_probe_only() {
    let mut p = platform(false);
    p.cmdline = "console=ttyS0 earlycon=uart,mmio,0x09000000 quiet".into();
    let dts = dtc_decode(&create_fdt(&p).unwrap());
    let chosen = node(&dts, "/chosen");
    assert_eq!(
        chosen["bootargs"],
        "\"console=ttyS0 earlycon=uart,mmio,0x09000000 quiet\""
    );
    assert_eq!(chosen["stdout-path"], "\"/serial@9000000\"");
    assert_eq!(cells(&chosen["linux,initrd-start"]), [0, 0x4820_0000]);
    assert_eq!(cells(&chosen["linux,initrd-end"]), [0, 0x4832_3400]);
    assert_eq!(cells(&chosen["linux,pci-probe-only"]), [1]);
    assert_eq!(node(&dts, "/aliases")["serial0"], "\"/serial@9000000\"");

    p.initrd = None;
    let dts = dtc_decode(&create_fdt(&p).unwrap());
    let chosen = node(&dts, "/chosen");
    assert!(!chosen.contains_key("linux,initrd-start"));
    assert!(!chosen.contains_key("linux,initrd-end"));
}

#[test]
fn gic_with_its_describes_msi() {
    let dts = dtc_decode(&create_fdt(&platform(true)).unwrap());
    let gic = node(&dts, "/intc@8000000");
    assert_eq!(gic["compatible"], "\"arm,gic-v3\"");
    assert_eq!(cells(&gic["#interrupt-cells"]), [3]);
    assert!(gic.contains_key("interrupt-controller"));
    // Distributor, then redistributors for 3 vCPUs (3 x 128 KiB).
    assert_eq!(
        cells(&gic["reg"]),
        [0, 0x0800_0000, 0, 0x1_0000, 0, 0x080a_0000, 0, 0x6_0000]
    );
    assert_eq!(cells(&gic["phandle"]), [GIC_PHANDLE]);
    let its = node(&dts, "/intc@8000000/msi-controller@8080000");
    assert_eq!(its["compatible"], "\"arm,gic-v3-its\"");
    assert!(its.contains_key("msi-controller"));
    assert_eq!(cells(&its["#msi-cells"]), [1]);
    assert_eq!(cells(&its["reg"]), [0, 0x0808_0000, 0, 0x2_0000]);
    assert_eq!(cells(&its["phandle"]), [ITS_PHANDLE]);
    assert_eq!(
        prop_cells(&dts, "/pci@30000000", "msi-map"),
        [0, ITS_PHANDLE, 0, 0x1_0000]
    );
}

#[test]
fn gic_without_its_leaves_msi_out() {
    let dts = dtc_decode(&create_fdt(&platform(false)).unwrap());
    let gic = node(&dts, "/intc@8000000");
    assert_eq!(gic["compatible"], "\"arm,gic-v3\"");
    assert!(!nodes(&dts).keys().any(|k| k.contains("msi-controller")));
    let pci = node(&dts, "/pci@30000000");
    assert!(!pci.contains_key("msi-map"));
    assert!(!pci.contains_key("msi-parent"));
    assert!(!dts.contains("msi"), "MSI mentioned without an ITS:\n{dts}");
}

#[test]
fn pci_host_has_ecam_and_three_windows() {
    let dts = dtc_decode(&create_fdt(&platform(true)).unwrap());
    let pci = node(&dts, "/pci@30000000");
    assert_eq!(pci["compatible"], "\"pci-host-ecam-generic\"");
    assert_eq!(pci["device_type"], "\"pci\"");
    assert_eq!(cells(&pci["#address-cells"]), [3]);
    assert_eq!(cells(&pci["#size-cells"]), [2]);
    assert_eq!(cells(&pci["bus-range"]), [0, 255]);
    assert_eq!(cells(&pci["reg"]), [0, 0x3000_0000, 0, 0x1000_0000]);
    assert_eq!(cells(&pci["linux,pci-domain"]), [0]);
    assert!(pci.contains_key("dma-coherent"));
    let ranges = cells(&pci["ranges"]);
    let windows: Vec<&[u32]> = ranges.chunks(7).collect();
    assert_eq!(
        windows,
        [
            // I/O ports 0..64 KiB at 0x0fff_0000.
            &[0x0100_0000, 0, 0, 0, PCI_IO_START.0 as u32, 0, 0x1_0000][..],
            // 32-bit non-prefetchable, identity-mapped.
            &[
                0x0200_0000,
                0,
                0x1000_0000,
                0,
                PCI_MMIO32_START.0 as u32,
                0,
                0x2000_0000
            ][..],
            // 64-bit non-prefetchable (holds both kinds of BAR), 16 GiB at 32 GiB.
            &[0x0300_0000, 8, 0, 8, 0, 4, 0][..],
        ]
    );

    let mut p = platform(true);
    p.pci.as_mut().unwrap().mmio64 = None;
    let dts = dtc_decode(&create_fdt(&p).unwrap());
    assert_eq!(prop_cells(&dts, "/pci@30000000", "ranges").len(), 14);
}

#[test]
fn intx_swizzle_values() {
    assert_eq!(intx_spi(0, IntxPin::A), 3);
    assert_eq!(intx_spi(0, IntxPin::D), 6);
    assert_eq!(intx_spi(1, IntxPin::A), 4);
    assert_eq!(intx_spi(2, IntxPin::C), 3);
    assert_eq!(intx_spi(3, IntxPin::D), 5);
    assert_eq!(intx_spi(31, IntxPin::B), 3);
    assert_eq!(intx_spi(255, IntxPin::D), 5);
    assert_eq!(IntxPin::from_register(2), Some(IntxPin::B));
    assert_eq!(IntxPin::from_register(0), None);
    assert_eq!(IntxPin::from_register(5), None);
}

/// Resolves every device and pin through `interrupt-map` the way Linux's `of_irq_parse_raw`
/// does (masked compare of child address and pin) and checks the result against `intx_spi`.
#[test]
fn interrupt_map_resolves_every_slot_and_pin_like_linux() {
    let dts = dtc_decode(&create_fdt(&platform(false)).unwrap());
    let mask = prop_cells(&dts, "/pci@30000000", "interrupt-map-mask");
    assert_eq!(mask, [0x1800, 0, 0, 7]);
    let map = prop_cells(&dts, "/pci@30000000", "interrupt-map");
    // child address (3) + pin (1) + GIC phandle (1) + GIC address (2) + SPI specifier (3)
    assert_eq!(map.len(), 16 * 10);
    let entries: Vec<&[u32]> = map.chunks(10).collect();
    for slot in 0..32u8 {
        for function in [0u32, 7] {
            for pin in IntxPin::ALL {
                let query = [
                    (u32::from(slot) << 11) | (function << 8),
                    0,
                    0,
                    pin.number(),
                ];
                let hit = entries
                    .iter()
                    .find(|e| (0..4).all(|i| (e[i] ^ query[i]) & mask[i] == 0))
                    .unwrap_or_else(|| panic!("slot {slot} pin {pin:?}: no interrupt-map entry"));
                assert_eq!(hit[4], GIC_PHANDLE);
                assert_eq!(&hit[5..7], [0, 0], "GIC unit address");
                assert_eq!(hit[7], 0, "SPI type");
                assert_eq!(hit[8], intx_spi(slot, pin), "slot {slot} pin {pin:?}");
                assert_eq!(hit[9], 4, "level high");
            }
        }
    }
}

#[test]
fn timer_serial_rtc_and_test_exit() {
    let dts = dtc_decode(&create_fdt(&platform(false)).unwrap());
    let timer = node(&dts, "/timer");
    assert_eq!(timer["compatible"], "\"arm,armv8-timer\"");
    assert_eq!(
        cells(&timer["interrupts"]),
        [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]
    );
    let serial = node(&dts, "/serial@9000000");
    assert_eq!(serial["compatible"], "\"ns16550a\"");
    assert_eq!(cells(&serial["reg"]), [0, 0x0900_0000, 0, 0x1000]);
    assert_eq!(cells(&serial["reg-shift"]), [0]);
    assert_eq!(cells(&serial["reg-io-width"]), [1]);
    assert_eq!(cells(&serial["clock-frequency"]), [1_843_200]);
    assert_eq!(
        cells(&serial["interrupts"]),
        [0, 1, 1],
        "SPI 1, edge rising"
    );
    let rtc = node(&dts, "/rtc@9010000");
    assert_eq!(rtc["compatible"], "\"arm,pl031\\0arm,primecell\"");
    assert_eq!(cells(&rtc["interrupts"]), [0, 2, 4]);
    assert_eq!(cells(&rtc["clocks"]), [CLOCK_PHANDLE]);
    assert_eq!(rtc["clock-names"], "\"apb_pclk\"");
    let clock = node(&dts, "/apb-pclk");
    assert_eq!(clock["compatible"], "\"fixed-clock\"");
    assert_eq!(cells(&clock["clock-frequency"]), [24_000_000]);
    assert_eq!(cells(&clock["phandle"]), [CLOCK_PHANDLE]);
    let exit = node(&dts, "/test-exit@9020000");
    assert_eq!(cells(&exit["reg"]), [0, 0x0902_0000, 0, 0x1000]);
}

#[test]
fn gpio_controller_and_power_key() {
    let dts = dtc_decode(&create_fdt(&platform(false)).unwrap());
    let gpio = node(&dts, "/pl061@9040000");
    assert_eq!(gpio["compatible"], "\"arm,pl061\\0arm,primecell\"");
    assert_eq!(cells(&gpio["reg"]), [0, 0x0904_0000, 0, 0x1000]);
    assert_eq!(cells(&gpio["interrupts"]), [0, 7, 1], "SPI 7, edge rising");
    assert!(gpio.contains_key("gpio-controller"));
    assert_eq!(cells(&gpio["#gpio-cells"]), [2]);
    assert_eq!(cells(&gpio["clocks"]), [CLOCK_PHANDLE]);
    assert_eq!(gpio["clock-names"], "\"apb_pclk\"");
    assert_eq!(cells(&gpio["phandle"]), [GPIO_PHANDLE]);
    assert_eq!(node(&dts, "/gpio-keys")["compatible"], "\"gpio-keys\"");
    let key = node(&dts, "/gpio-keys/poweroff");
    assert_eq!(cells(&key["linux,code"]), [116], "KEY_POWER");
    assert_eq!(
        cells(&key["gpios"]),
        [GPIO_PHANDLE, 3, 0],
        "line 3, active high"
    );
    assert_eq!(key["label"], "\"GPIO Key Poweroff\"");

    // Without the RTC the controller still gets its clock; without a button, no gpio-keys.
    let mut p = platform(false);
    p.rtc = None;
    p.gpio.as_mut().unwrap().power_button = None;
    let dts = dtc_decode(&create_fdt(&p).unwrap());
    assert_eq!(cells(&node(&dts, "/apb-pclk")["phandle"]), [CLOCK_PHANDLE]);
    assert!(nodes(&dts).contains_key("/pl061@9040000"));
    assert!(!nodes(&dts).contains_key("/gpio-keys"));
    assert!(!nodes(&dts).contains_key("/gpio-keys/poweroff"));
}

#[test]
fn rejects_a_bad_gpio_line_spi_or_address() {
    let mut p = platform(false);
    p.gpio.as_mut().unwrap().power_button = Some(8);
    assert_eq!(
        create_fdt(&p).unwrap_err().to_string(),
        "the power button is on GPIO line 8; the PL061 has lines 0 to 7"
    );
    let mut p = platform(false);
    p.gpio.as_mut().unwrap().device.spi = layout::RTC_SPI;
    assert_eq!(
        create_fdt(&p).unwrap_err().to_string(),
        "RTC uses SPI 2, which is also used by GPIO controller"
    );
    let mut p = platform(false);
    p.gpio.as_mut().unwrap().device.range.start = layout::BOOT_TIMER_START;
    p.test_exit = Some(GuestRange::new(layout::BOOT_TIMER_START, 0x1000));
    let message = create_fdt(&p).unwrap_err().to_string();
    assert!(
        message.starts_with("test-exit register") && message.contains("GPIO controller"),
        "{message}"
    );
}

#[test]
fn standard_platform_uses_the_layout() {
    let p = Arm64Platform::standard(vec![0; 2], GIB, "", true).unwrap();
    assert_eq!(p.memory, vec![(RAM_START, GIB)]);
    assert_eq!(p.gic, GicRegions::for_vcpus(2, true).unwrap());
    assert_eq!(p.serial.unwrap().spi, layout::SERIAL_SPI);
    assert_eq!(p.rtc.unwrap().range.start, layout::RTC_START);
    let gpio = p.gpio.unwrap();
    assert_eq!(gpio.device.range.start, layout::GPIO_START);
    assert_eq!(gpio.device.spi, layout::GPIO_SPI);
    assert_eq!(gpio.power_button, Some(layout::GPIO_POWER_BUTTON_PIN));
    assert!(Arm64Platform::standard(vec![0; 124], GIB, "", true).is_err());
    assert!(Arm64Platform::standard(Vec::new(), GIB, "", true).is_err());
}

#[test]
fn rejects_inconsistent_platforms_with_named_values() {
    let mut p = platform(false);
    p.vcpu_mpidrs.clear();
    assert!(matches!(create_fdt(&p), Err(FdtError::NoVcpus)));

    let mut p = platform(false);
    p.vcpu_mpidrs.push(0x8000_0004);
    let message = create_fdt(&p).unwrap_err().to_string();
    assert!(message.contains("4 vCPUs need 512 KiB"), "{message}");

    let mut p = platform(false);
    p.vcpu_mpidrs[2] = 0x1;
    let err = create_fdt(&p).unwrap_err();
    assert!(
        matches!(
            err,
            FdtError::DuplicateMpidr {
                first: 1,
                second: 2,
                mpidr: 1
            }
        ),
        "{err}"
    );

    let mut p = platform(false);
    p.memory = vec![(RAM_START, 0)];
    assert!(matches!(create_fdt(&p), Err(FdtError::NoMemory)));

    let mut p = platform(false);
    p.cmdline = "x".repeat(2048);
    assert_eq!(
        create_fdt(&p).unwrap_err().to_string(),
        "kernel command line is 2048 bytes; arm64 Linux keeps at most 2047"
    );

    let mut p = platform(false);
    p.initrd = Some(GuestRange::new(
        GuestAddress(RAM_START.0 + 512 * MIB - 4096),
        8192,
    ));
    assert!(matches!(
        create_fdt(&p),
        Err(FdtError::InitrdOutsideRam { .. })
    ));
}

#[test]
fn rejects_overlaps_naming_both_parts() {
    let mut p = platform(false);
    p.pci.as_mut().unwrap().mmio64 =
        Some(GuestRange::new(GuestAddress(RAM_START.0 + 256 * MIB), GIB));
    assert_eq!(
        create_fdt(&p).unwrap_err().to_string(),
        "RAM region 0 [0x40000000..0x60000000) (512 MiB) overlaps PCI 64-bit window \
         [0x50000000..0x90000000) (1 GiB)"
    );
    let mut p = platform(true);
    p.serial.as_mut().unwrap().range.start = GuestAddress(0x0808_1000);
    let message = create_fdt(&p).unwrap_err().to_string();
    assert!(
        message.starts_with("GIC ITS") && message.contains("UART"),
        "{message}"
    );
}

#[test]
fn rejects_bad_ecam_and_spis() {
    let mut p = platform(false);
    p.pci.as_mut().unwrap().ecam.size = 512 * MIB;
    assert!(matches!(create_fdt(&p), Err(FdtError::Ecam { .. })));
    let mut p = platform(false);
    p.pci.as_mut().unwrap().ecam.size = 16 * MIB;
    let dts = dtc_decode(&create_fdt(&p).unwrap());
    assert_eq!(prop_cells(&dts, "/pci@30000000", "bus-range"), [0, 15]);

    let mut p = platform(false);
    p.serial.as_mut().unwrap().spi = intx_spi(1, IntxPin::B);
    assert_eq!(
        create_fdt(&p).unwrap_err().to_string(),
        "UART uses SPI 5, which is also used by PCI INTC"
    );
    let mut p = platform(false);
    p.rtc.as_mut().unwrap().spi = 224;
    assert_eq!(
        create_fdt(&p).unwrap_err().to_string(),
        "RTC uses SPI 224, which is beyond the vGIC's 224 SPIs"
    );
}

#[test]
fn refuses_a_tree_beyond_2mib() {
    // 30,000 cpu nodes (~100 bytes each) with redistributor room placed above 4 GiB.
    let count = 30_000u32;
    let mut p = platform(false);
    p.vcpu_mpidrs = (0..u64::from(count))
        .map(|i| ((i / 16) << 8) | (i % 16))
        .collect();
    p.gic.redistributors = GuestRange::new(
        GuestAddress(4 * GIB),
        u64::from(count) * layout::GIC_REDIST_SIZE_PER_VCPU,
    );
    let err = create_fdt(&p).unwrap_err();
    assert!(
        matches!(err, FdtError::TooLarge { size } if size > FDT_MAX_SIZE),
        "{err}"
    );
    assert!(err.to_string().contains("at most 2 MiB"), "{err}");
}
