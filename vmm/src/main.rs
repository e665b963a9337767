//! The `ovmm` command: parses the command line (and its `--config` file), runs the VM, and
//! turns how it ended into one clear message and a documented exit status (see `ovmm --help`
//! and the README).

use std::process::ExitCode;
use std::time::Instant;

use clap::{CommandFactory, FromArgMatches};
use vmm::cli::{Cli, Command};
use vmm::config::VmConfig;
use vmm::runner::{self, Outcome, RunError, RunOptions};

/// Exit status for usage and configuration errors.
const EXIT_USAGE: u8 = 2;
/// Exit status for VMM failures.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let started = Instant::now();
    let cmd = Cli::command();
    let args = match vmm::config_file::expand(&cmd, std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ovmm: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let matches = cmd.clone().get_matches_from(args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    init_logging(cli.verbose);
    match &cli.command {
        Some(Command::Host { cmd }) => {
            return ExitCode::from(vmm::host::run(cmd).clamp(0, 255) as u8)
        }
        Some(Command::Api(args)) => {
            return ExitCode::from(vmm::api_client::run(args).clamp(0, 255) as u8)
        }
        None => {}
    }
    let config = match VmConfig::validate(&cli.run.to_request()) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_USAGE, &e),
    };
    if let Some(path) = &config.dump_dtb {
        return dump_dtb(&config, path);
    }
    if let Some(dir) = &cli.run.dump_acpi {
        return dump_acpi(&config, dir);
    }
    let opts = RunOptions {
        api_socket: cli.run.api_socket.clone(),
        started,
        options: vmm::config_file::options_view(&cmd, &matches),
    };
    match runner::run_with(&config, &opts) {
        Ok(outcome) => {
            vmm::terminal::restore();
            report(&outcome, &config);
            ExitCode::from(outcome.exit_code() as u8)
        }
        Err(e) => {
            vmm::terminal::restore();
            let code = match &e {
                RunError::Build(b) if b.is_bad_input() => EXIT_USAGE,
                RunError::Managed(_) => EXIT_USAGE,
                RunError::Api(a) if a.is_bad_input() => EXIT_USAGE,
                _ => EXIT_FAILURE,
            };
            fail(code, &e)
        }
    }
}

/// `--dump-dtb FILE`: builds the VM without running it and writes its device tree.
fn dump_dtb(config: &VmConfig, path: &std::path::Path) -> ExitCode {
    let blob = match vmm::vm::device_tree_of(config) {
        Ok(Some(blob)) => blob,
        Ok(None) => {
            eprintln!("ovmm: --dump-dtb: this platform builds no device tree");
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            let code = if e.is_bad_input() {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            };
            return fail(code, &e);
        }
    };
    match std::fs::write(path, &blob) {
        Ok(()) => {
            log::info!(
                "wrote the guest's device tree ({} bytes) to {}",
                blob.len(),
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "ovmm: cannot write the device tree to '{}': {e}",
                path.display()
            );
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// `--dump-acpi DIR`: builds the ACPI tables without running the VM and writes them.
fn dump_acpi(config: &VmConfig, dir: &std::path::Path) -> ExitCode {
    match vmm::dump_acpi::dump(config, dir) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = match &e {
                vmm::dump_acpi::DumpError::Build(b) if !b.is_bad_input() => EXIT_FAILURE,
                _ => EXIT_USAGE,
            };
            fail(code, &e)
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    // vfio-ioctls warns about optional IRQ indexes a device lacks (e.g. the error IRQ of
    // edu and e1000): noise unless the user asks for debugging.
    let vfio_ioctls = if verbose >= 2 {
        level
    } else {
        log::LevelFilter::Error
    };
    env_logger::Builder::new()
        .filter_level(level)
        .filter_module("vfio_ioctls", vfio_ioctls)
        .format_target(false)
        .parse_env("OVMM_LOG")
        .init();
}

fn report(outcome: &Outcome, config: &VmConfig) {
    match outcome {
        Outcome::PowerOff => log::info!("the guest powered off"),
        Outcome::Rebooted => log::info!("the guest rebooted; exiting as --no-reboot asks"),
        Outcome::Exit(n) => log::info!("the guest asked for exit status {n}"),
        Outcome::Timeout(t) => eprintln!(
            "ovmm: the guest was still running after --timeout {} s; stopped it",
            t.as_secs()
        ),
        Outcome::Signal(s) => eprintln!("ovmm: stopped by {}", vmm::signals::name(*s)),
        Outcome::Quit => eprintln!("ovmm: console escape (Ctrl-A x): stopped the guest"),
    }
    let _ = config;
}

/// Prints the error and its causes as one sentence and returns `code`.
fn fail(code: u8, error: &dyn std::error::Error) -> ExitCode {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    eprintln!("ovmm: {message}");
    ExitCode::from(code)
}
