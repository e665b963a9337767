//! A fake host for tests: a temporary sys/proc/dev tree shaped like the kernel's, and a
//! [`FakeKernel`] that reacts to unbind/probe/bind by moving `driver` links the way the kernel
//! does (honouring `driver_override`, creating `/dev/vfio/N`).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::bdf::Bdf;
use super::kernel::Kernel;
use super::pci::{self, VFIO_PCI};
use super::sysroot::SysRoot;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A temporary host tree, removed on drop.
pub struct FakeHost {
    pub root: SysRoot,
    dir: PathBuf,
    real: Mutex<HashMap<Bdf, String>>,
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// One fake PCI function.
#[derive(Clone, Debug)]
pub struct Dev {
    pub bdf: Bdf,
    pub ids: (u16, u16),
    pub class: u32,
    pub driver: Option<String>,
    pub group: Option<u32>,
    pub parent: Option<Bdf>,
    /// PCIe port type; `Some(4)` root port, `Some(6)` downstream port; `None` plain endpoint.
    pub port: Option<u8>,
    /// Slot Capabilities power (value, scale) for ports.
    pub slot_power: Option<(u8, u8)>,
    pub resource: String,
    pub reset_method: Option<String>,
    pub power_state: String,
}

impl Dev {
    pub fn new(bdf: &str) -> Dev {
        Dev {
            bdf: bdf.parse().unwrap(),
            ids: (0x8086, 0x10d3),
            class: 0x020000,
            driver: None,
            group: None,
            parent: None,
            port: None,
            slot_power: None,
            resource: String::new(),
            reset_method: Some("flr bus".into()),
            power_state: "D0".into(),
        }
    }
    pub fn ids(mut self, vendor: u16, device: u16) -> Dev {
        self.ids = (vendor, device);
        self
    }
    pub fn class(mut self, class: u32) -> Dev {
        self.class = class;
        self
    }
    pub fn driver(mut self, d: &str) -> Dev {
        self.driver = Some(d.into());
        self
    }
    pub fn group(mut self, g: u32) -> Dev {
        self.group = Some(g);
        self
    }
    pub fn parent(mut self, p: &str) -> Dev {
        self.parent = Some(p.parse().unwrap());
        self
    }
    /// A PCIe port (bridge header) of the given type, on pcieport.
    pub fn port(mut self, port_type: u8) -> Dev {
        self.port = Some(port_type);
        self.class = 0x060400;
        self.driver = Some("pcieport".into());
        self.reset_method = None;
        self
    }
    pub fn slot_power(mut self, value: u8, scale: u8) -> Dev {
        self.slot_power = Some((value, scale));
        self
    }
    pub fn resource(mut self, text: &str) -> Dev {
        self.resource = text.into();
        self
    }
    pub fn reset(mut self, methods: Option<&str>) -> Dev {
        self.reset_method = methods.map(str::to_string);
        self
    }
    pub fn power(mut self, state: &str) -> Dev {
        self.power_state = state.into();
        self
    }

    fn config(&self) -> Vec<u8> {
        let mut c = vec![0u8; 256];
        c[0..2].copy_from_slice(&self.ids.0.to_le_bytes());
        c[2..4].copy_from_slice(&self.ids.1.to_le_bytes());
        c[0x09..0x0c].copy_from_slice(&self.class.to_le_bytes()[..3]);
        c[0x0e] = u8::from(self.port.is_some());
        c[0x06] = 0x10;
        c[0x34] = 0x40;
        c[0x40] = 0x10;
        let port_type = u16::from(self.port.unwrap_or(0));
        let slot = if self.slot_power.is_some() { 0x100 } else { 0 };
        c[0x42..0x44].copy_from_slice(&(2 | (port_type << 4) | slot).to_le_bytes());
        if let Some((value, scale)) = self.slot_power {
            let slot_cap = (u32::from(value) << 7) | (u32::from(scale) << 15);
            c[0x54..0x58].copy_from_slice(&slot_cap.to_le_bytes());
        }
        c
    }
}

impl FakeHost {
    /// A healthy Intel host: IOMMU and interrupt remapping on, vfio-pci loaded, running as
    /// root with no memlock limit problems, nothing routed or mounted.
    pub fn new() -> FakeHost {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ovmm-fakehost-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let host = FakeHost {
            root: SysRoot::new(&dir),
            dir,
            real: Mutex::new(HashMap::new()),
        };
        for d in [
            "sys/bus/pci/devices",
            "sys/kernel/iommu_groups",
            "sys/class/iommu/dmar0",
            "sys/class/net",
            "sys/class/block",
            "sys/firmware/acpi/tables",
            "sys/module/vfio_iommu_type1/parameters",
            "sys/module/vfio_pci/parameters",
            "dev/vfio",
            "proc/self",
            "proc/net",
            "proc/1",
        ] {
            host.mkdir(d);
        }
        host.driver(VFIO_PCI);
        host.write("sys/bus/pci/drivers_probe", "");
        host.write("sys/firmware/acpi/tables/DMAR", "");
        host.write(
            "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
            "N\n",
        );
        host.write("sys/module/vfio_pci/parameters/disable_idle_d3", "N\n");
        host.write("dev/vfio/vfio", "");
        host.write(
            "proc/cmdline",
            "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro intel_iommu=on iommu=pt\n",
        );
        // Remapped MSIs as both architectures' kernels name them ("IR-" on x86, "ITS-" on
        // arm64), so checks for either architecture see a good host.
        host.write(
            "proc/interrupts",
            "           CPU0\n 24:  10  IR-PCI-MSI-0000:00:1f.6  0-edge  eth0\n \
             25:  3  ITS-PCI-MSI 524288 Edge  eth1\n",
        );
        host.write(
            "proc/cpuinfo",
            "vendor_id\t: GenuineIntel\naddress sizes\t: 39 bits physical, 48 bits virtual\n",
        );
        host.caller(0, 0, &[0], true);
        host.memlock("65536", "65536");
        host.write(
            "proc/net/route",
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n",
        );
        host.write("proc/mounts", "proc /proc proc rw 0 0\n");
        host.write("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
        host
    }

    pub fn mkdir(&self, rel: &str) {
        fs::create_dir_all(self.root.path(rel)).unwrap();
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.root.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    pub fn remove(&self, rel: &str) {
        let p = self.root.path(rel);
        if p.is_dir() {
            fs::remove_dir_all(p).unwrap();
        } else {
            fs::remove_file(p).unwrap();
        }
    }

    /// `link` -> `target`, both relative to the root (the link holds the absolute path).
    pub fn link(&self, target: &str, link: &str) {
        let l = self.root.path(link);
        fs::create_dir_all(l.parent().unwrap()).unwrap();
        let _ = fs::remove_file(&l);
        symlink(self.root.path(target), l).unwrap();
    }

    pub fn driver(&self, name: &str) {
        self.mkdir(&format!("sys/bus/pci/drivers/{name}"));
    }

    /// The caller in `/proc/self/status`.
    pub fn caller(&self, uid: u32, gid: u32, groups: &[u32], cap_ipc_lock: bool) {
        let groups: Vec<String> = groups.iter().map(u32::to_string).collect();
        let cap = if cap_ipc_lock {
            "000001ffffffffff"
        } else {
            "0000000000000000"
        };
        self.write(
            "proc/self/status",
            &format!(
                "Name:\tovmm\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\nGroups:\t{}\nCapEff:\t{cap}\n",
                groups.join(" ")
            ),
        );
    }

    /// The memlock line of `/proc/self/limits`.
    pub fn memlock(&self, soft: &str, hard: &str) {
        self.write(
            "proc/self/limits",
            &format!(
                "Limit                     Soft Limit           Hard Limit           Units\n\
                 Max open files            1024                 4096                 files\n\
                 Max locked memory         {soft:<20} {hard:<20} bytes\n"
            ),
        );
    }

    /// The device's real directory under `sys/devices`.
    pub fn real_dir(&self, bdf: Bdf) -> String {
        self.real.lock().unwrap()[&bdf].clone()
    }

    pub fn add(&self, d: Dev) -> &FakeHost {
        let dir = match d.parent {
            Some(p) => format!("{}/{}", self.real_dir(p), d.bdf),
            None => format!(
                "sys/devices/pci{:04x}:{:02x}/{}",
                d.bdf.domain, d.bdf.bus, d.bdf
            ),
        };
        self.mkdir(&dir);
        self.real.lock().unwrap().insert(d.bdf, dir.clone());
        let f = |name: &str| format!("{dir}/{name}");
        self.write(&f("vendor"), &format!("0x{:04x}\n", d.ids.0));
        self.write(&f("device"), &format!("0x{:04x}\n", d.ids.1));
        self.write(&f("class"), &format!("0x{:06x}\n", d.class));
        self.write(&f("driver_override"), "(null)\n");
        self.write(&f("resource"), &d.resource);
        self.write(&f("power_state"), &format!("{}\n", d.power_state));
        fs::write(self.root.path(&f("config")), d.config()).unwrap();
        if let Some(m) = &d.reset_method {
            self.write(&f("reset_method"), &format!("{m}\n"));
        }
        if d.port.is_some() {
            self.mkdir(&f("pci_bus"));
        }
        self.link(&dir, &d.bdf.sysfs_dir());
        if let Some(g) = d.group {
            let gdir = format!("sys/kernel/iommu_groups/{g}");
            self.mkdir(&format!("{gdir}/devices"));
            self.link(&gdir, &f("iommu_group"));
            self.link(&dir, &format!("{gdir}/devices/{}", d.bdf));
        }
        if let Some(drv) = &d.driver {
            self.driver(drv);
            self.link(&format!("sys/bus/pci/drivers/{drv}"), &f("driver"));
            if pci::is_vfio_driver(drv) {
                if let Some(g) = d.group {
                    self.write(&format!("dev/vfio/{g}"), "");
                }
            }
        }
        self
    }

    /// A network interface on `bdf` (or virtual, when `None`).
    pub fn netdev(&self, iface: &str, bdf: Option<Bdf>) {
        let dir = match bdf {
            Some(b) => format!("{}/net/{iface}", self.real_dir(b)),
            None => format!("sys/devices/virtual/net/{iface}"),
        };
        self.mkdir(&dir);
        self.link(&dir, &format!("sys/class/net/{iface}"));
        if let Some(b) = bdf {
            self.link(&self.real_dir(b), &format!("{dir}/device"));
        }
    }

    /// A default route through `iface`.
    pub fn default_route(&self, iface: &str) {
        self.write(
            "proc/net/route",
            &format!(
                "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                 {iface}\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\n\
                 {iface}\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\n"
            ),
        );
    }

    pub fn group_node(&self, g: u32) -> bool {
        self.root.exists(&format!("dev/vfio/{g}"))
    }
}

/// A kernel that moves `driver` links like the real one.
#[derive(Default)]
pub struct FakeKernel {
    /// The driver `drivers_probe` picks when no override is set.
    pub native: HashMap<Bdf, String>,
    /// Devices vfio-pci refuses: probing them with the vfio-pci override binds nothing.
    pub refuse: Vec<Bdf>,
    /// Panic in `probe` of this device, after the override and unbind: a crash mid-bind.
    pub crash_on_probe: Option<Bdf>,
    /// Do not create `/dev/vfio/N` (udev lagging forever).
    pub no_node: bool,
    /// Every operation, in order.
    pub log: Mutex<Vec<String>>,
}

impl FakeKernel {
    pub fn with_native(pairs: &[(&str, &str)]) -> FakeKernel {
        FakeKernel {
            native: pairs
                .iter()
                .map(|(b, d)| (b.parse().unwrap(), d.to_string()))
                .collect(),
            ..FakeKernel::default()
        }
    }

    pub fn ops(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn attach(&self, root: &SysRoot, bdf: Bdf, drv: &str) -> io::Result<()> {
        if !root.exists(&format!("sys/bus/pci/drivers/{drv}")) {
            return Err(io::Error::from_raw_os_error(libc_enodev()));
        }
        let dev_dir = std::fs::canonicalize(root.path(&bdf.sysfs_dir()))?;
        symlink(
            root.path(&format!("sys/bus/pci/drivers/{drv}")),
            dev_dir.join("driver"),
        )?;
        if pci::is_vfio_driver(drv) && !self.no_node {
            if let Some(g) = root.link_name(&bdf.sysfs("iommu_group")) {
                fs::write(root.path(&format!("dev/vfio/{g}")), "")?;
            }
        }
        Ok(())
    }
}

fn libc_enodev() -> i32 {
    19
}

impl Kernel for FakeKernel {
    fn unbind(&self, root: &SysRoot, bdf: Bdf) -> io::Result<()> {
        self.log.lock().unwrap().push(format!("unbind {bdf}"));
        let was_vfio = pci::driver(root, bdf).is_some_and(|d| pci::is_vfio_driver(&d));
        fs::remove_file(root.path(&bdf.sysfs("driver")))?;
        // The group node goes away when no member is on vfio-pci any more.
        if let Some(g) = root
            .link_name(&bdf.sysfs("iommu_group"))
            .filter(|_| was_vfio)
        {
            let members = root.list(&format!("sys/kernel/iommu_groups/{g}/devices"));
            let any_vfio = members
                .iter()
                .filter_map(|m| m.parse::<Bdf>().ok())
                .any(|m| pci::driver(root, m).is_some_and(|d| pci::is_vfio_driver(&d)));
            if !any_vfio {
                let _ = fs::remove_file(root.path(&format!("dev/vfio/{g}")));
            }
        }
        Ok(())
    }

    fn probe(&self, root: &SysRoot, bdf: Bdf) -> io::Result<()> {
        self.log.lock().unwrap().push(format!("probe {bdf}"));
        if self.crash_on_probe == Some(bdf) {
            panic!("simulated crash while probing {bdf}");
        }
        if pci::driver(root, bdf).is_some() {
            return Ok(());
        }
        // Like the kernel: with an override only that driver may bind; success either way.
        let wanted = pci::driver_override(root, bdf).or_else(|| self.native.get(&bdf).cloned());
        let refused = self.refuse.contains(&bdf) && wanted.as_deref() == Some(VFIO_PCI);
        if let Some(drv) = wanted.filter(|_| !refused) {
            let _ = self.attach(root, bdf, &drv);
        }
        Ok(())
    }

    fn bind(&self, root: &SysRoot, bdf: Bdf, driver: &str) -> io::Result<()> {
        self.log
            .lock()
            .unwrap()
            .push(format!("bind {bdf} {driver}"));
        if pci::driver_override(root, bdf).is_some_and(|o| o != driver) {
            return Err(io::Error::from_raw_os_error(libc_enodev()));
        }
        self.attach(root, bdf, driver)
    }

    fn load_module(&self, root: &SysRoot, module: &str) -> Result<(), String> {
        self.log.lock().unwrap().push(format!("modprobe {module}"));
        fs::create_dir_all(root.path(&format!("sys/bus/pci/drivers/{module}")))
            .map_err(|e| e.to_string())
    }
}
