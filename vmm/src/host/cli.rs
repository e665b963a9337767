//! The `ovmm host` subcommands: clap arguments and [`run`], which returns the exit status.

use std::path::PathBuf;

use super::bdf::Bdf;
use super::bind::{bind, restore, BindOptions, RestoreOptions};
use super::check::{check, CheckOptions, DEFAULT_MEMORY};
use super::error::HostError;
use super::journal::Journal;
use super::kernel::SysfsKernel;
use super::list::list;
use super::report::{check_text, list_text};
use super::sysroot::SysRoot;

const CHECK_EXIT_HELP: &str = "\
Exit status:
  0  ready: the devices can be passed through now
  1  not ready (each finding says what to do)
  2  bad usage";

const CHANGE_EXIT_HELP: &str = "\
Exit status:
  0  done (or nothing to do)
  1  something could not be done (the message says what)
  2  bad usage";

/// Host preparation: list, check, bind and restore passthrough devices.
#[derive(Debug, clap::Subcommand)]
pub enum HostCommand {
    /// List every IOMMU group with its devices and whether it can be passed through as it stands.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sys: SysArgs,
    },
    /// Check devices for passthrough and say what to do about each problem.
    #[command(after_help = CHECK_EXIT_HELP)]
    Check {
        /// PCI addresses (0000:01:00.0 or 01:00.0).
        #[arg(required = true, value_name = "DEVICE")]
        devices: Vec<Bdf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Guest memory of the planned VM (locked-memory and PCI window checks) [default: 512M].
        #[arg(long, value_name = "SIZE")]
        memory: Option<String>,
        /// Treat devices the host needs (default-route NIC, mounted disk, console GPU) as warnings.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        sys: SysArgs,
    },
    /// Bind devices and the rest of their IOMMU groups (bridges excepted) to vfio-pci.
    #[command(after_help = CHANGE_EXIT_HELP)]
    Bind {
        /// PCI addresses (0000:01:00.0 or 01:00.0).
        #[arg(required = true, value_name = "DEVICE")]
        devices: Vec<Bdf>,
        /// Take devices the host needs (default-route NIC, mounted disk, console GPU).
        #[arg(long)]
        force: bool,
        /// Journal of original drivers [default: /run/ovmm/host-journal.json].
        #[arg(long, value_name = "PATH")]
        journal: Option<PathBuf>,
        #[command(flatten)]
        sys: SysArgs,
    },
    /// Give devices back to the drivers they had (all journalled devices when none are named).
    #[command(after_help = CHANGE_EXIT_HELP)]
    Restore {
        /// PCI addresses; each brings the journalled members of its IOMMU group along.
        #[arg(value_name = "DEVICE")]
        devices: Vec<Bdf>,
        /// Also restore devices a running ovmm (managed=on) still holds.
        #[arg(long)]
        force: bool,
        /// Journal of original drivers [default: /run/ovmm/host-journal.json].
        #[arg(long, value_name = "PATH")]
        journal: Option<PathBuf>,
        #[command(flatten)]
        sys: SysArgs,
    },
}

/// Where the host is.
#[derive(Debug, Clone, clap::Args)]
pub struct SysArgs {
    /// Read and write the host through this root instead of / (tests, captured trees).
    #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
    pub sysroot: PathBuf,
}

impl SysArgs {
    fn root(&self) -> SysRoot {
        SysRoot::new(&self.sysroot)
    }
}

fn journal(root: &SysRoot, path: &Option<PathBuf>) -> Journal {
    match path {
        Some(p) => Journal::new(p),
        None => Journal::default_for(root),
    }
}

/// Reports an error on stderr (with a hint when root is needed); returns exit status 1.
fn fail(e: &HostError) -> i32 {
    if e.is_permission() {
        eprintln!("ovmm: {e} (changing drivers needs root)");
    } else {
        eprintln!("ovmm: {e}");
    }
    1
}

/// Writes to stdout, ignoring a closed pipe (`ovmm host list | head`).
fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn print_json<T: serde::Serialize>(value: &T) -> bool {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            out(&format!("{s}\n"));
            true
        }
        Err(e) => {
            eprintln!("ovmm: cannot format JSON: {e}");
            false
        }
    }
}

/// Runs a host subcommand; returns the process exit status.
pub fn run(cmd: &HostCommand) -> i32 {
    match cmd {
        HostCommand::List { json, sys } => match list(&sys.root()) {
            Ok(l) if *json => i32::from(!print_json(&l)),
            Ok(l) => {
                out(&list_text(&l));
                0
            }
            Err(e) => {
                eprintln!("ovmm: {e}");
                1
            }
        },
        HostCommand::Check {
            devices,
            json,
            memory,
            force,
            sys,
        } => {
            let (memory, memory_given) = match memory.as_deref().map(crate::config::parse_size) {
                None => (DEFAULT_MEMORY, false),
                Some(Ok(m)) => (m, true),
                Some(Err(e)) => {
                    eprintln!("ovmm: --memory: {e}");
                    return 2;
                }
            };
            let opts = CheckOptions {
                memory,
                memory_given,
                force: *force,
                ..CheckOptions::default()
            };
            let mut devices = devices.clone();
            devices.sort();
            devices.dedup();
            let report = check(&sys.root(), &devices, &opts);
            if *json {
                if !print_json(&report) {
                    return 1;
                }
            } else {
                out(&check_text(&report));
            }
            i32::from(!report.ready)
        }
        HostCommand::Bind {
            devices,
            force,
            journal: path,
            sys,
        } => {
            let root = sys.root();
            let opts = BindOptions {
                force: *force,
                ..BindOptions::default()
            };
            match bind(
                &root,
                &SysfsKernel::default(),
                &journal(&root, path),
                devices,
                &opts,
            ) {
                Ok(actions) => {
                    actions.iter().for_each(|a| out(&format!("{a}\n")));
                    0
                }
                Err(e) => fail(&e),
            }
        }
        HostCommand::Restore {
            devices,
            force,
            journal: path,
            sys,
        } => {
            let root = sys.root();
            let j = journal(&root, path);
            let opts = RestoreOptions {
                force: *force,
                ..RestoreOptions::default()
            };
            match restore(&root, &SysfsKernel::default(), &j, devices, &opts) {
                Ok(done) => {
                    if done.actions.is_empty() && done.failures.is_empty() {
                        out(&format!(
                            "nothing to restore: {} is empty\n",
                            j.path().display()
                        ));
                    }
                    done.actions.iter().for_each(|a| out(&format!("{a}\n")));
                    done.failures.iter().for_each(|e| {
                        fail(e);
                    });
                    i32::from(!done.complete())
                }
                Err(e) => fail(&e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Top {
        #[command(subcommand)]
        cmd: HostCommand,
    }

    #[test]
    fn parses_the_subcommands() {
        let t = Top::try_parse_from([
            "host",
            "check",
            "01:00.0",
            "0001:03:00.0",
            "--memory",
            "2G",
            "--json",
        ])
        .unwrap();
        let HostCommand::Check {
            devices,
            json,
            memory,
            force,
            sys,
        } = t.cmd
        else {
            panic!("not check")
        };
        assert_eq!(devices, vec![Bdf::new(0, 1, 0, 0), Bdf::new(1, 3, 0, 0)]);
        assert!(json && !force);
        assert_eq!(memory.as_deref(), Some("2G"));
        assert_eq!(sys.sysroot, PathBuf::from("/"));
        let t = Top::try_parse_from(["host", "restore"]).unwrap();
        assert!(matches!(t.cmd, HostCommand::Restore { ref devices, .. } if devices.is_empty()));
        let t = Top::try_parse_from(["host", "bind", "--journal", "/tmp/j", "01:00.0"]).unwrap();
        assert!(matches!(
            t.cmd,
            HostCommand::Bind {
                journal: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn run_returns_the_documented_exit_status() {
        use crate::host::fake::{Dev, FakeHost};
        let h = FakeHost::new();
        h.add(Dev::new("0000:01:00.0").driver("vfio-pci").group(1));
        h.add(Dev::new("0000:02:00.0").driver("e1000e").group(2));
        let sys = || SysArgs {
            sysroot: h.root.path(""),
        };
        let check = |dev: &str, memory: Option<&str>| HostCommand::Check {
            devices: vec![dev.parse().unwrap()],
            json: false,
            memory: memory.map(str::to_string),
            force: false,
            sys: sys(),
        };
        assert_eq!(run(&check("01:00.0", Some("1G"))), 0, "ready");
        assert_eq!(run(&check("02:00.0", None)), 1, "not ready");
        assert_eq!(run(&check("01:00.0", Some("lots"))), 2, "bad --memory");
        let list = HostCommand::List {
            json: true,
            sys: sys(),
        };
        assert_eq!(run(&list), 0);
        let restore = HostCommand::Restore {
            devices: vec![],
            force: false,
            journal: None,
            sys: sys(),
        };
        assert_eq!(run(&restore), 0, "nothing to restore is success");
    }

    #[test]
    fn usage_errors_name_the_bad_address() {
        let e = Top::try_parse_from(["host", "check", "01:00"]).unwrap_err();
        assert!(
            e.to_string().contains("\"01:00\" is not a PCI address"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);
        assert!(
            Top::try_parse_from(["host", "bind"]).is_err(),
            "bind needs a device"
        );
        assert!(
            Top::try_parse_from(["host", "check"]).is_err(),
            "check needs a device"
        );
    }
}
