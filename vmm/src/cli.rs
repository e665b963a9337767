//! The `ovmm` command line.
//!
//! The bare form `ovmm --kernel ...` runs a VM; subcommands (`ovmm host ...`) sit beside it, and
//! clap keeps the two apart (`args_conflicts_with_subcommands`). The VM options become a
//! [`VmRequest`], which [`crate::config::VmConfig::validate`] checks.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::config::VmRequest;

/// ovmm: a microVM monitor that boots a Linux guest and hands it real PCI devices through VFIO.
#[derive(Debug, Parser)]
#[command(name = "ovmm", version)]
#[command(after_help = EXIT_STATUS_HELP)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(args_override_self = true)]
pub struct Cli {
    /// A subcommand; without one, ovmm runs a VM from the options below.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// VM options.
    #[command(flatten)]
    pub run: RunArgs,
    /// More log output on stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// ovmm's subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Prepare and diagnose the host for passthrough: list, check, bind, restore.
    Host {
        /// What to do.
        #[command(subcommand)]
        cmd: crate::host::HostCommand,
    },
    /// Send one request to a running ovmm's control API (--api-socket) and print the answer.
    Api(crate::api_client::ApiArgs),
}

/// Options of the bare `ovmm` form, which boots a VM.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Guest kernel (x86_64: bzImage or ELF vmlinux; arm64: the uncompressed Image).
    #[arg(long, value_name = "PATH", required = true)]
    pub kernel: Option<PathBuf>,
    /// Initramfs to load for the guest.
    #[arg(long, value_name = "PATH")]
    pub initrd: Option<PathBuf>,
    /// Kernel command line [default: "console=ttyS0 reboot=k panic=1"].
    #[arg(long, value_name = "STR", allow_hyphen_values = true)]
    pub cmdline: Option<String>,
    /// Guest memory, with an optional K/M/G/T suffix [default: 512M].
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Number of vCPUs [default: 1].
    #[arg(long, value_name = "N")]
    pub cpus: Option<u32>,
    /// Guest serial console: stdio, file=PATH or none [default: stdio].
    #[arg(long, value_name = "WHERE")]
    pub serial: Option<String>,
    /// When the guest reboots, exit with status 0 instead of restarting it.
    #[arg(long)]
    pub no_reboot: bool,
    /// Stop the guest after SECS seconds and exit with status 124.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Pass a host PCI function through (0000:01:00.0, 01:00.0 or a sysfs path), or every
    /// function of a slot as one multi-function device (0000:01:00). Options: intx=on,
    /// managed=on, rombar=off, romfile=PATH, addr=SLOT[.FN], vendor-id=, device-id=,
    /// sub-vendor-id=, sub-device-id=, class-code= (hex). Repeat for more devices.
    #[arg(long, value_name = "DEVICE[,OPT=VAL...]")]
    pub vfio: Vec<String>,
    /// MSI/MSI-X for passed-through devices: on, or off to make every device use INTx
    /// (arm64 also turns it off when KVM cannot give the VM an ITS) [default: on].
    #[arg(long, value_name = "on|off")]
    pub msi: Option<String>,
    /// arm64: write the guest's device tree blob to FILE and exit (decompile it with
    /// `dtc -I dtb -O dts FILE`); the VM is built (KVM, devices) but never started.
    #[arg(long, value_name = "FILE")]
    pub dump_dtb: Option<PathBuf>,
    /// Make the 64-bit PCI window at least SIZE (whole GiB, e.g. 64G), for room beyond the
    /// devices' BARs [default: just what the devices need].
    #[arg(long, value_name = "SIZE")]
    pub pci_mmio64_size: Option<String>,
    /// Add an ACPI table (a compiled .aml, e.g. an SSDT) to the guest's XSDT. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub acpi_table: Vec<PathBuf>,
    /// Serve the control API (HTTP/1.1, JSON) on this Unix socket while the VM runs.
    #[arg(long, value_name = "PATH")]
    pub api_socket: Option<PathBuf>,
    /// Read options from a TOML file (keys are the long option names); the command line
    /// overrides it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// x86: write every generated ACPI table to DIR (dsdt.dat, apic.dat, ... as `acpidump -b`
    /// names them) and exit without booting.
    #[arg(long, value_name = "DIR")]
    pub dump_acpi: Option<PathBuf>,
    /// A virtio-blk disk on a raw image file; readonly=on refuses writes, id=NAME sets the
    /// serial the guest sees (default: the file name). Repeat for more disks.
    #[arg(long, value_name = "PATH[,readonly=on][,id=NAME]")]
    pub disk: Vec<String>,
    /// A virtio-net NIC on an existing TAP device; mac=MAC sets its address (default: derived
    /// from the TAP's name). Repeat for more NICs.
    #[arg(long, value_name = "tap=IFNAME[,mac=MAC]")]
    pub net: Vec<String>,
}

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0        the guest powered off (or rebooted, with --no-reboot)
  N        the guest wrote N to the test-exit device (x86: I/O port 0xf4,
           arm64: MMIO 0x09020000)
  1        ovmm failed (the message says why)
  2        bad usage or configuration (bad option, missing or corrupt kernel or initrd)
  124      --timeout expired
  128+SIG  ovmm was stopped by signal SIG (130: SIGINT, 143: SIGTERM)";

impl RunArgs {
    /// The request these arguments make.
    pub fn to_request(&self) -> VmRequest {
        VmRequest {
            kernel: self.kernel.clone().unwrap_or_default(),
            initrd: self.initrd.clone(),
            cmdline: self.cmdline.clone(),
            memory: self.memory.clone(),
            cpus: self.cpus,
            serial: self.serial.clone(),
            no_reboot: self.no_reboot,
            timeout: self.timeout,
            vfio: self.vfio.clone(),
            msi: self.msi.clone(),
            dump_dtb: self.dump_dtb.clone(),
            pci_mmio64_size: self.pci_mmio64_size.clone(),
            acpi_tables: self.acpi_table.clone(),
            disks: self.disk.clone(),
            nets: self.net.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_bare_form() {
        let cli = Cli::try_parse_from([
            "ovmm",
            "--kernel",
            "/k",
            "--memory",
            "2G",
            "--cpus",
            "2",
            "--cmdline",
            "-- console=ttyS0",
            "-vv",
            "--no-reboot",
            "--timeout",
            "30",
            "--serial",
            "none",
            "--msi",
            "off",
            "--dump-dtb",
            "/tmp/vm.dtb",
            "--pci-mmio64-size",
            "64G",
            "--acpi-table",
            "/a.aml",
            "--acpi-table",
            "/b.aml",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.verbose, 2);
        let r = cli.run.to_request();
        assert_eq!(r.kernel, PathBuf::from("/k"));
        assert_eq!(r.memory.as_deref(), Some("2G"));
        assert_eq!(r.cpus, Some(2));
        assert_eq!(r.cmdline.as_deref(), Some("-- console=ttyS0"));
        assert!(r.no_reboot);
        assert_eq!(r.timeout, Some(30));
        assert_eq!(r.serial.as_deref(), Some("none"));
        assert_eq!(r.msi.as_deref(), Some("off"));
        assert_eq!(r.dump_dtb, Some(PathBuf::from("/tmp/vm.dtb")));
        assert_eq!(r.pci_mmio64_size.as_deref(), Some("64G"));
        assert_eq!(
            r.acpi_tables,
            vec![PathBuf::from("/a.aml"), PathBuf::from("/b.aml")]
        );
    }

    #[test]
    fn kernel_is_required_and_unknown_options_fail() {
        assert!(Cli::try_parse_from(["ovmm"]).is_err());
        assert!(Cli::try_parse_from(["ovmm", "--memory", "1G"]).is_err());
        assert!(Cli::try_parse_from(["ovmm", "--kernel", "/k", "--bogus"]).is_err());
        assert!(Cli::try_parse_from(["ovmm", "--kernel", "/k", "--cpus", "x"]).is_err());
    }

    #[test]
    fn host_subcommand_needs_no_kernel() {
        let cli = Cli::try_parse_from(["ovmm", "host", "list"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Host { .. })));
        assert!(Cli::try_parse_from(["ovmm", "--kernel", "/k", "host", "list"]).is_err());
    }
}
