//! The validated VM configuration.
//!
//! The command line (and later a config file and the API) produce a [`VmConfig`] through
//! [`VmConfig::validate`]; after that it is never changed. Everything the build discovers
//! (addresses, GSIs, file handles) lives in the built VM, not here. Validation catches bad
//! input before anything is created on the host, so a usage error never leaves state behind.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Smallest guest memory ovmm accepts.
pub const MIN_MEMORY: u64 = 32 << 20;
/// Most vCPUs ovmm will create (x86 xAPIC IDs are 8 bits and 0xFF is broadcast).
pub const MAX_VCPUS: u8 = 254;
/// Default guest memory.
pub const DEFAULT_MEMORY: u64 = 512 << 20;
/// Kernel command line used when the user gives none.
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 reboot=k panic=1";

/// Input that cannot describe a VM. Each message names the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A size string such as `512M` did not parse.
    #[error(
        "invalid size '{0}': use a number with an optional K, M, G or T suffix, e.g. 512M or 2G"
    )]
    BadSize(String),
    /// Guest memory is too small or not page aligned.
    #[error("guest memory {0} bytes is too small: at least {min} MiB is needed", min = MIN_MEMORY >> 20)]
    MemoryTooSmall(u64),
    /// Guest memory is not a multiple of 4 KiB.
    #[error("guest memory {0} bytes is not a multiple of 4 KiB")]
    MemoryNotAligned(u64),
    /// vCPU count out of range.
    #[error("--cpus {0} is out of range: use 1 to {MAX_VCPUS}")]
    BadCpuCount(u32),
    /// A file the VM needs cannot be opened.
    #[error("cannot open {what} '{}': {source}", path.display())]
    Open {
        /// "kernel", "initrd", ...
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The kernel file is not a format ovmm can boot.
    #[error("'{}' is not a bootable kernel image: {reason}", path.display())]
    BadKernel {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `--serial` value not understood.
    #[error("invalid --serial '{0}': use stdio, none or file=PATH")]
    BadSerial(String),
    /// A timeout of zero seconds.
    #[error("--timeout must be at least 1 second")]
    ZeroTimeout,
    /// A `--vfio` value that does not parse.
    #[error("invalid --vfio '{value}': {reason}")]
    BadVfio {
        /// The whole value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The same host device named twice.
    #[error("--vfio {0} is given twice")]
    DuplicateVfio(String),
    /// A `--disk` value that does not parse, or an image that cannot be used as asked.
    #[error("invalid --disk '{value}': {reason}")]
    BadDisk {
        /// The whole value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--net` value that does not parse.
    #[error("invalid --net '{value}': {reason}")]
    BadNet {
        /// The whole value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where the guest's serial console goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerialConfig {
    /// ovmm's stdout, with ovmm's stdin as the guest's input.
    Stdio,
    /// Appended to a file; no input.
    File(PathBuf),
    /// Discarded.
    None,
}

impl SerialConfig {
    /// Parses `stdio`, `none` or `file=PATH`.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s {
            "stdio" => Ok(SerialConfig::Stdio),
            "none" | "off" => Ok(SerialConfig::None),
            _ => match s.strip_prefix("file=") {
                Some(p) if !p.is_empty() => Ok(SerialConfig::File(PathBuf::from(p))),
                _ => Err(ConfigError::BadSerial(s.to_string())),
            },
        }
    }
}

/// One host PCI function to pass through (`--vfio DEVICE[,opt=val...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VfioConfig {
    /// Its sysfs directory (`/sys/bus/pci/devices/0000:01:00.0`).
    pub sysfs: PathBuf,
    /// Its host address, for messages (`0000:01:00.0`).
    pub label: String,
    /// `intx=on`: hide MSI and MSI-X so the guest driver uses INTx.
    pub intx_only: bool,
    /// `managed=on`: bind the device's IOMMU group to vfio-pci before the VM starts and give
    /// it back to its drivers when the VM ends.
    pub managed: bool,
    /// `vendor-id=`, `device-id=`, `sub-vendor-id=`, `sub-device-id=`, `class-code=` (hex): the
    /// IDs the guest sees instead of the device's own.
    pub ids: devices::vfio::PciIdOverrides,
    /// `rombar=off` hides the device's expansion ROM from the guest.
    pub rombar: bool,
}

impl VfioConfig {
    /// Parses `DEVICE[,opt=val...]`; DEVICE is `0000:01:00.0`, `01:00.0` or a sysfs path.
    /// Options: `intx`, `managed`, `rombar` (on/off) and the ID overrides (hex).
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::BadVfio {
            value: value.to_string(),
            reason,
        };
        let mut parts = value.split(',');
        let device = parts.next().unwrap_or_default();
        let (sysfs, bdf) = if device.contains('/') {
            let path = PathBuf::from(device);
            let bdf = crate::host::bdf::last_in_path(&path).ok_or_else(|| {
                bad(format!(
                    "'{device}' does not end in a PCI address such as 0000:01:00.0"
                ))
            })?;
            (path, bdf)
        } else {
            let bdf: crate::host::Bdf = device.parse().map_err(|e| bad(format!("{e}")))?;
            (Path::new("/").join(bdf.sysfs_dir()), bdf)
        };
        let mut cfg = VfioConfig {
            sysfs,
            label: bdf.to_string(),
            intx_only: false,
            managed: false,
            ids: Default::default(),
            rombar: true,
        };
        for opt in parts {
            let (key, val) = opt
                .split_once('=')
                .ok_or_else(|| bad(format!("option '{opt}' is not key=value")))?;
            match key {
                "intx" => {
                    cfg.intx_only = parse_switch(val)
                        .ok_or_else(|| bad(format!("intx={val}: use on or off")))?
                }
                "managed" => {
                    cfg.managed = parse_switch(val)
                        .ok_or_else(|| bad(format!("managed={val}: use on or off")))?
                }
                "rombar" => {
                    cfg.rombar = parse_switch(val)
                        .ok_or_else(|| bad(format!("rombar={val}: use on or off")))?
                }
                "vendor-id" => cfg.ids.vendor_id = Some(parse_id(key, val, 0xffff).map_err(bad)? as u16),
                "device-id" => cfg.ids.device_id = Some(parse_id(key, val, 0xffff).map_err(bad)? as u16),
                "sub-vendor-id" => {
                    cfg.ids.subsystem_vendor_id = Some(parse_id(key, val, 0xffff).map_err(bad)? as u16)
                }
                "sub-device-id" => {
                    cfg.ids.subsystem_id = Some(parse_id(key, val, 0xffff).map_err(bad)? as u16)
                }
                "class-code" => cfg.ids.class_code = Some(parse_id(key, val, 0xff_ffff).map_err(bad)?),
                _ => {
                    return Err(bad(format!(
                        "unknown option '{key}' (known: intx, managed, rombar, vendor-id, device-id, sub-vendor-id, sub-device-id, class-code)"
                    )))
                }
            }
        }
        Ok(cfg)
    }
}

/// A hex ID (`0x1af4` or `1af4`) no larger than `max`.
fn parse_id(key: &str, val: &str, max: u32) -> Result<u32, String> {
    let digits = val
        .strip_prefix("0x")
        .or_else(|| val.strip_prefix("0X"))
        .unwrap_or(val);
    u32::from_str_radix(digits, 16)
        .ok()
        .filter(|&v| v <= max)
        .ok_or_else(|| format!("{key}={val}: use a hex number up to {max:#x}"))
}

pub(crate) fn parse_switch(v: &str) -> Option<bool> {
    match v {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Everything needed to build and run one VM, checked.
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// Kernel image (x86: bzImage or ELF vmlinux).
    pub kernel: PathBuf,
    /// Optional initramfs.
    pub initrd: Option<PathBuf>,
    /// Kernel command line.
    pub cmdline: String,
    /// Guest memory in bytes.
    pub memory: u64,
    /// Number of vCPUs.
    pub cpus: u8,
    /// Serial console destination.
    pub serial: SerialConfig,
    /// Exit instead of restarting when the guest reboots.
    pub no_reboot: bool,
    /// Stop the guest after this long (exit status 124).
    pub timeout: Option<Duration>,
    /// Host devices to pass through.
    pub vfio: Vec<VfioConfig>,
    /// `--disk` and `--net` devices.
    pub virtio: crate::virtio::config::VirtioConfig,
}

/// The user's request before validation (what the CLI or a config file produce).
#[derive(Clone, Debug, Default)]
pub struct VmRequest {
    /// `--kernel`
    pub kernel: PathBuf,
    /// `--initrd`
    pub initrd: Option<PathBuf>,
    /// `--cmdline`
    pub cmdline: Option<String>,
    /// `--memory`, unparsed
    pub memory: Option<String>,
    /// `--cpus`
    pub cpus: Option<u32>,
    /// `--serial`, unparsed
    pub serial: Option<String>,
    /// `--no-reboot`
    pub no_reboot: bool,
    /// `--timeout` in seconds
    pub timeout: Option<u64>,
    /// `--vfio`, unparsed, in order
    pub vfio: Vec<String>,
    /// `--disk`, unparsed, in order
    pub disks: Vec<String>,
    /// `--net`, unparsed, in order
    pub nets: Vec<String>,
}

impl VmConfig {
    /// Checks a request and turns it into a configuration.
    pub fn validate(req: &VmRequest) -> Result<VmConfig, ConfigError> {
        let memory = match &req.memory {
            Some(s) => parse_size(s)?,
            None => DEFAULT_MEMORY,
        };
        if memory < MIN_MEMORY {
            return Err(ConfigError::MemoryTooSmall(memory));
        }
        if memory % 4096 != 0 {
            return Err(ConfigError::MemoryNotAligned(memory));
        }
        let cpus = req.cpus.unwrap_or(1);
        if cpus == 0 || cpus > u32::from(MAX_VCPUS) {
            return Err(ConfigError::BadCpuCount(cpus));
        }
        check_kernel(&req.kernel)?;
        if let Some(initrd) = &req.initrd {
            open(initrd, "initrd")?;
        }
        let serial = match &req.serial {
            Some(s) => SerialConfig::parse(s)?,
            None => SerialConfig::Stdio,
        };
        if req.timeout == Some(0) {
            return Err(ConfigError::ZeroTimeout);
        }
        let mut vfio: Vec<VfioConfig> = Vec::new();
        for v in &req.vfio {
            let cfg = VfioConfig::parse(v)?;
            if vfio.iter().any(|o| o.label == cfg.label) {
                return Err(ConfigError::DuplicateVfio(cfg.label));
            }
            vfio.push(cfg);
        }
        let virtio = crate::virtio::config::VirtioConfig::validate(&req.disks, &req.nets)?;
        Ok(VmConfig {
            kernel: req.kernel.clone(),
            initrd: req.initrd.clone(),
            cmdline: req
                .cmdline
                .clone()
                .unwrap_or_else(|| DEFAULT_CMDLINE.to_string()),
            memory,
            cpus: cpus as u8,
            serial,
            no_reboot: req.no_reboot,
            timeout: req.timeout.map(Duration::from_secs),
            vfio,
            virtio,
        })
    }
}

/// Parses a size with an optional binary suffix: `4096`, `256M`, `2G`, `1T`, `512MiB`.
pub fn parse_size(s: &str) -> Result<u64, ConfigError> {
    let bad = || ConfigError::BadSize(s.to_string());
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last().ok_or_else(bad)? {
        'k' | 'K' => (&t[..t.len() - 1], 10),
        'm' | 'M' => (&t[..t.len() - 1], 20),
        'g' | 'G' => (&t[..t.len() - 1], 30),
        't' | 'T' => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

fn open(path: &Path, what: &'static str) -> Result<File, ConfigError> {
    let file = File::open(path).map_err(|source| ConfigError::Open {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    match file.metadata() {
        Ok(m) if m.is_dir() => Err(ConfigError::Open {
            what,
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a directory"),
        }),
        _ => Ok(file),
    }
}

/// Recognises the kernel formats this architecture boots, from the file's first bytes.
fn check_kernel(path: &Path) -> Result<(), ConfigError> {
    let mut head = Vec::with_capacity(0x240);
    open(path, "kernel")?
        .take(0x240)
        .read_to_end(&mut head)
        .map_err(|source| ConfigError::Open {
            what: "kernel",
            path: path.to_path_buf(),
            source,
        })?;
    kernel_format(&head)
        .map(|_| ())
        .map_err(|reason| ConfigError::BadKernel {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        })
}

/// Kernel image formats ovmm recognises.
#[derive(Debug, PartialEq, Eq)]
pub enum KernelFormat {
    /// x86 bzImage ("HdrS" setup header).
    BzImage,
    /// ELF executable (x86 vmlinux).
    Elf,
    /// arm64 `Image` ("ARM\x64" magic at offset 56).
    Arm64Image,
}

/// Classifies a kernel from its first bytes, or says why it cannot be booted here.
pub fn kernel_format(head: &[u8]) -> Result<KernelFormat, &'static str> {
    if head.len() < 64 {
        return Err("the file is too short to be a kernel");
    }
    let is_elf = head.starts_with(b"\x7fELF");
    let is_bzimage = head.len() >= 0x206 && &head[0x202..0x206] == b"HdrS";
    let is_arm64 = &head[56..60] == b"ARM\x64";
    if cfg!(target_arch = "x86_64") {
        if is_bzimage {
            return Ok(KernelFormat::BzImage);
        }
        if is_elf {
            return Ok(KernelFormat::Elf);
        }
        if is_arm64 {
            return Err(
                "it is an arm64 Image; this ovmm boots x86_64 kernels (bzImage or ELF vmlinux)",
            );
        }
        Err("neither a bzImage (no 'HdrS' setup header) nor an ELF vmlinux")
    } else {
        if is_arm64 {
            return Ok(KernelFormat::Arm64Image);
        }
        if is_bzimage {
            return Err("it is an x86 bzImage; this ovmm boots arm64 Image files");
        }
        Err("not an arm64 Image (no 'ARM\\x64' magic at offset 56)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1T").unwrap(), 1 << 40);
        assert_eq!(parse_size("64K").unwrap(), 64 << 10);
        for bad in ["", "M", "12Q", "-1G", "1.5G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad} should not parse");
        }
    }

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
            ("01:00", "not a PCI address"),
            ("zz:00.0", "not a PCI address"),
            ("01:00.0,intx=maybe", "use on or off"),
            ("01:00.0,rombar", "not key=value"),
            ("01:00.0,speed=9", "unknown option 'speed'"),
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
    fn serial() {
        assert_eq!(SerialConfig::parse("stdio").unwrap(), SerialConfig::Stdio);
        assert_eq!(SerialConfig::parse("none").unwrap(), SerialConfig::None);
        assert_eq!(
            SerialConfig::parse("file=/tmp/x").unwrap(),
            SerialConfig::File("/tmp/x".into())
        );
        assert!(SerialConfig::parse("file=").is_err());
        assert!(SerialConfig::parse("tcp:1").is_err());
    }

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("ovmm-config-{}-{name}", std::process::id()));
        File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    fn fake_bzimage() -> Vec<u8> {
        let mut k = vec![0u8; 0x400];
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn validate_defaults_and_errors() {
        let kernel = temp_file("bz", &fake_bzimage());
        let mut req = VmRequest {
            kernel: kernel.clone(),
            ..Default::default()
        };
        let c = VmConfig::validate(&req).unwrap();
        assert_eq!(c.memory, 512 << 20);
        assert_eq!(c.cpus, 1);
        assert_eq!(c.serial, SerialConfig::Stdio);
        assert_eq!(c.cmdline, DEFAULT_CMDLINE);

        req.memory = Some("16M".into());
        assert!(matches!(
            VmConfig::validate(&req),
            Err(ConfigError::MemoryTooSmall(_))
        ));
        req.memory = Some("2G".into());
        req.cpus = Some(0);
        assert!(matches!(
            VmConfig::validate(&req),
            Err(ConfigError::BadCpuCount(0))
        ));
        req.cpus = Some(2);
        req.initrd = Some("/nonexistent/initrd.img".into());
        let e = VmConfig::validate(&req).unwrap_err().to_string();
        assert!(
            e.contains("initrd") && e.contains("/nonexistent/initrd.img"),
            "{e}"
        );

        let corrupt = temp_file("corrupt", &[0x55; 4096]);
        req.initrd = None;
        req.kernel = corrupt.clone();
        let e = VmConfig::validate(&req).unwrap_err().to_string();
        assert!(e.contains("not a bootable kernel image"), "{e}");
        std::fs::remove_file(kernel).unwrap();
        std::fs::remove_file(corrupt).unwrap();
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn kernel_formats() {
        assert_eq!(kernel_format(&fake_bzimage()), Ok(KernelFormat::BzImage));
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        assert_eq!(kernel_format(&elf), Ok(KernelFormat::Elf));
        assert!(kernel_format(b"short").is_err());
        let mut arm = vec![0u8; 64];
        arm[56..60].copy_from_slice(b"ARM\x64");
        assert!(kernel_format(&arm).unwrap_err().contains("arm64"));
    }
}
