//! `lab`: run the x86 lab by hand: scenarios, the benchmark, or the demo.
//!
//! ```text
//! lab run [--qemu] [--smp N] [--verbose] [SCENARIO...]   all scenarios when none is named
//! lab list
//! lab bench [--runs N] [--qemu] [--smp N]
//! lab bench-blk [--runs N] [--smp N]                    virtio-blk read throughput, ovmm vs QEMU
//! lab demo [--qemu] [--smp N]
//! ```
//! `--qemu` drives QEMU microvm (ovmm-qemu) instead of ovmm inside L1, to check the lab itself.

use std::io;
use std::process::ExitCode;

use ovmm_tests::lab::{self, Lab, LabError, Vmm};

const USAGE: &str = "usage: lab run [--qemu] [--smp N] [--verbose] [SCENARIO...] | lab list | \
                     lab bench [--runs N] [--qemu] [--smp N] | lab bench-blk [--runs N] [--smp N] | \
                     lab demo [--qemu] [--smp N]";

struct Options {
    lab: Lab,
    runs: u32,
    names: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        lab: lab::x86(),
        runs: 5,
        names: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = |what: &str| -> Result<u32, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{what} needs a positive number"))
        };
        match arg.as_str() {
            "--qemu" => opts.lab = opts.lab.with_vmm(Vmm::QemuStandIn),
            "--verbose" => opts.lab = opts.lab.with_verbose(true),
            "--smp" => opts.lab = opts.lab.with_smp(number("--smp")?),
            "--runs" => opts.runs = number("--runs")?,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            name => opts.names.push(name.to_string()),
        }
    }
    Ok(opts)
}

fn run(command: &str, opts: Options) -> Result<ExitCode, LabError> {
    match command {
        "list" => {
            for s in opts.lab.scenarios()? {
                let args = if s.l1_args.is_empty() {
                    String::new()
                } else {
                    format!("  [L1: {}]", s.l1_args.join(" "))
                };
                println!("{:<22} {}{args}", s.name, s.summary);
            }
            Ok(ExitCode::SUCCESS)
        }
        "run" => {
            let all = opts.lab.scenarios()?;
            let names: Vec<&str> = if opts.names.is_empty() {
                all.iter().map(|s| s.name.as_str()).collect()
            } else {
                opts.names.iter().map(String::as_str).collect()
            };
            let report = opts.lab.run(&names)?;
            for o in report.outcomes.values() {
                if let Err(msg) = o.check() {
                    println!("{msg}\n");
                }
            }
            print!("{}", report.summary());
            Ok(if report.all_passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        "bench" => {
            let report = opts.lab.bench(opts.runs)?;
            print!("{}", report.table());
            Ok(ExitCode::SUCCESS)
        }
        "bench-blk" => {
            let report = opts.lab.bench_blk(opts.runs)?;
            print!("{}", report.table());
            Ok(ExitCode::SUCCESS)
        }
        "demo" => {
            println!("ovmm demo: a QEMU machine (the emulated host) starts; inside it, ovmm boots a guest.");
            let rc = opts.lab.demo(&mut io::stdout())?;
            let meaning = match rc {
                0 => "the guest powered off cleanly",
                124 => "the --timeout expired",
                _ => "see ovmm's exit codes in the README",
            };
            println!("ovmm exited with status {rc}: {meaning}.");
            Ok(if rc == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        _ => {
            eprintln!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let opts = match parse(&args[1..]) {
        Ok(opts) => opts,
        Err(msg) => {
            eprintln!("lab: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(command, opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lab: {e}");
            ExitCode::FAILURE
        }
    }
}
