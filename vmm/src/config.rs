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

mod platform;
mod vfio;
use platform::{parse_mmio64_size, read_acpi_tables};
pub use platform::{AcpiTableFile, MAX_ACPI_TABLE_BYTES};
pub(crate) use vfio::parse_switch;
pub use vfio::{resolve as resolve_vfio, VfioConfig, MAX_ROM_FILE};

/// Smallest guest memory ovmm accepts.
pub const MIN_MEMORY: u64 = 32 << 20;
/// Most vCPUs ovmm will create (x86 xAPIC IDs are 8 bits and 0xFF is broadcast).
#[cfg(not(target_arch = "aarch64"))]
pub const MAX_VCPUS: u8 = 254;
/// Most vCPUs ovmm will create (as many GICv3 redistributors as the arm64 map has room for).
#[cfg(target_arch = "aarch64")]
pub const MAX_VCPUS: u8 = arch::aarch64::layout::MAX_VCPUS as u8;
/// Default guest memory.
pub const DEFAULT_MEMORY: u64 = 512 << 20;
/// Kernel command line used when the user gives none.
#[cfg(not(target_arch = "aarch64"))]
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 reboot=k panic=1";
/// Kernel command line used when the user gives none (the UART is an `ns16550a`: ttyS0).
#[cfg(target_arch = "aarch64")]
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 panic=1";

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
    /// `--msi` value not understood.
    #[error("invalid --msi '{0}': use on or off")]
    BadMsi(String),
    /// `--dump-dtb` on a platform without a device tree.
    #[error(
        "--dump-dtb: this ovmm builds x86_64 guests, which get ACPI tables, not a device tree"
    )]
    NoDeviceTree,
    /// A `romfile=` that cannot serve as a ROM.
    #[error("romfile '{}' for {device} {problem}", path.display())]
    RomFile {
        /// The device it was given for.
        device: String,
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A `--vfio` slot in which the host has no function.
    #[error("--vfio {value}: the host has no PCI function in slot {slot} (`ovmm host list` shows the devices)")]
    NoSuchSlot {
        /// The whole value given.
        value: String,
        /// The slot, `0000:01:00`.
        slot: String,
    },
    /// Guest PCI addresses that cannot be given as asked.
    #[error(transparent)]
    PciSlot(#[from] crate::pci::SlotError),
    /// `--pci-mmio64-size` is not a usable size.
    #[error("--pci-mmio64-size {value}: {problem}")]
    BadMmio64Size {
        /// The value given.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An `--acpi-table` file that cannot be added.
    #[error("--acpi-table '{}': {problem}", path.display())]
    AcpiTable {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
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
    /// Whether passed-through devices may use MSI/MSI-X (`--msi off` hides them from every
    /// device, as `intx=on` does for one).
    pub msi: bool,
    /// Write the guest's device tree here and exit instead of running (arm64).
    pub dump_dtb: Option<PathBuf>,
    /// `--pci-mmio64-size`: the least size of the 64-bit PCI window (room for later hotplug).
    pub pci_mmio64_size: Option<u64>,
    /// `--acpi-table`: user ACPI tables added to the XSDT, checked.
    pub acpi_tables: Vec<AcpiTableFile>,
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
    /// `--msi`, unparsed
    pub msi: Option<String>,
    /// `--dump-dtb`
    pub dump_dtb: Option<PathBuf>,
    /// `--pci-mmio64-size`, unparsed
    pub pci_mmio64_size: Option<String>,
    /// `--acpi-table`, in order
    pub acpi_tables: Vec<PathBuf>,
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
        let vfio = resolve_vfio(&req.vfio, Path::new("/"))?;
        let msi = match req.msi.as_deref() {
            None => true,
            Some(v) => parse_switch(v).ok_or_else(|| ConfigError::BadMsi(v.to_string()))?,
        };
        if req.dump_dtb.is_some() && !cfg!(target_arch = "aarch64") {
            return Err(ConfigError::NoDeviceTree);
        }
        let pci_mmio64_size = req
            .pci_mmio64_size
            .as_deref()
            .map(parse_mmio64_size)
            .transpose()?;
        let acpi_tables = read_acpi_tables(&req.acpi_tables)?;
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
            msi,
            dump_dtb: req.dump_dtb.clone(),
            pci_mmio64_size,
            acpi_tables,
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
        if is_bzimage {
            return Err("it is an x86 bzImage; this ovmm boots arm64 Image files");
        }
        if is_elf {
            return Err("it is an ELF file (vmlinux?); this ovmm boots the arm64 Image (arch/arm64/boot/Image)");
        }
        arm64_image_problem(head)?;
        Ok(KernelFormat::Arm64Image)
    }
}

/// Why the arm64 Image header in `head` cannot be booted, in the words of the header check.
fn arm64_image_problem(head: &[u8]) -> Result<(), &'static str> {
    use arch::aarch64::boot::{parse_image_header, BootError};
    match parse_image_header(head) {
        Ok(_) => Ok(()),
        Err(BootError::Gzip) => Err("it is gzip-compressed (Image.gz): gunzip it and pass the Image"),
        Err(BootError::Zboot(_)) => Err("it is an EFI zboot image (vmlinuz.efi), which needs EFI firmware to unpack: pass the uncompressed arm64 Image"),
        Err(BootError::BadMagic { .. }) | Err(BootError::TooShort { .. }) => {
            Err("not an arm64 Image (no 'ARM\\x64' magic at offset 56)")
        }
        Err(BootError::BigEndian) => Err("it is a big-endian arm64 Image; ovmm boots little-endian kernels"),
        Err(BootError::NoImageSize) => Err("its arm64 Image header has image_size 0 (a kernel older than 3.17), which ovmm does not boot"),
        Err(BootError::TextOffset(_)) => Err("its arm64 Image header has an invalid text_offset"),
        Err(_) => Err("its arm64 Image header cannot be used"),
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

    #[cfg(target_arch = "x86_64")]
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

    /// The first bytes of an arm64 Image: text_offset 0, image_size 32 MiB, 4 KiB pages.
    #[cfg(target_arch = "aarch64")]
    fn fake_image() -> Vec<u8> {
        let mut k = vec![0u8; 4096];
        k[16..24].copy_from_slice(&(32u64 << 20).to_le_bytes());
        k[24..32].copy_from_slice(&2u64.to_le_bytes());
        k[56..60].copy_from_slice(b"ARM\x64");
        k
    }

    #[test]
    #[cfg(target_arch = "aarch64")]
    fn arm64_kernel_formats() {
        assert_eq!(kernel_format(&fake_image()), Ok(KernelFormat::Arm64Image));
        let mut gz = fake_image();
        gz[..2].copy_from_slice(&[0x1f, 0x8b]);
        gz[56..60].copy_from_slice(&[0; 4]);
        assert!(kernel_format(&gz).unwrap_err().contains("gunzip"));
        let mut bz = vec![0u8; 0x400];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        assert!(kernel_format(&bz).unwrap_err().contains("x86 bzImage"));
        let mut be = fake_image();
        be[24] = 1;
        assert!(kernel_format(&be).unwrap_err().contains("big-endian"));
        assert!(kernel_format(&[0x55; 128])
            .unwrap_err()
            .contains("not an arm64 Image"));
    }

    #[test]
    #[cfg(target_arch = "aarch64")]
    fn arm64_validate_defaults_and_options() {
        let kernel = temp_file("Image", &fake_image());
        let mut req = VmRequest {
            kernel: kernel.clone(),
            ..Default::default()
        };
        let c = VmConfig::validate(&req).unwrap();
        assert_eq!(c.cmdline, "console=ttyS0 panic=1");
        assert!(c.msi);
        assert_eq!(c.dump_dtb, None);
        req.msi = Some("off".into());
        req.dump_dtb = Some("/tmp/x.dtb".into());
        let c = VmConfig::validate(&req).unwrap();
        assert!(!c.msi);
        assert_eq!(c.dump_dtb, Some(PathBuf::from("/tmp/x.dtb")));
        req.cpus = Some(124);
        let e = VmConfig::validate(&req).unwrap_err().to_string();
        assert!(e.contains("use 1 to 123"), "{e}");
        std::fs::remove_file(kernel).unwrap();
    }

    #[test]
    fn msi_switch_and_dump_dtb() {
        let kernel_bytes = if cfg!(target_arch = "aarch64") {
            let mut k = vec![0u8; 4096];
            k[16..24].copy_from_slice(&(32u64 << 20).to_le_bytes());
            k[56..60].copy_from_slice(b"ARM\x64");
            k
        } else {
            let mut k = vec![0u8; 0x400];
            k[0x202..0x206].copy_from_slice(b"HdrS");
            k
        };
        let kernel = temp_file("msi", &kernel_bytes);
        let mut req = VmRequest {
            kernel: kernel.clone(),
            msi: Some("maybe".into()),
            ..Default::default()
        };
        let e = VmConfig::validate(&req).unwrap_err().to_string();
        assert_eq!(e, "invalid --msi 'maybe': use on or off");
        req.msi = Some("on".into());
        assert!(VmConfig::validate(&req).unwrap().msi);
        req.dump_dtb = Some("/tmp/vm.dtb".into());
        let dumped = VmConfig::validate(&req);
        if cfg!(target_arch = "aarch64") {
            assert!(dumped.is_ok());
        } else {
            assert!(dumped.unwrap_err().to_string().contains("ACPI tables"));
        }
        std::fs::remove_file(kernel).unwrap();
    }
}
