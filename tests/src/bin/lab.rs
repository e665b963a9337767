//! `lab`: run a lab (x86 or arm64) by hand: scenarios, the benchmark, or the demo.
//!
//! ```text
//! lab run [--arch A] [--qemu] [--smp N] [--verbose] [SCENARIO...]   all when none is named
//! lab list [--arch A]
//! lab bench [--arch A] [--runs N] [--qemu] [--smp N]
//! lab bench-blk [--runs N] [--smp N]                  virtio-blk read throughput, ovmm vs QEMU (x86)
//! lab demo [--arch A] [--qemu] [--smp N]
//! ```
//! `--arch` is `x86` (the default) or `arm64`. `--qemu` drives QEMU (ovmm-qemu: microvm on x86,
//! virt on arm64) instead of ovmm inside L1, to check the lab itself.

use std::io;
use std::process::ExitCode;

use ovmm_tests::lab::{self, Arch, Lab, LabError, Vmm};

const USAGE: &str =
    "usage: lab run [--arch x86|arm64] [--qemu] [--smp N] [--verbose] [SCENARIO...] \
                     | lab list [--arch A] | lab bench [--arch A] [--runs N] [--qemu] [--smp N] \
                     | lab bench-blk [--runs N] [--smp N] | lab demo [--arch A] [--qemu] [--smp N]";

struct Options {
    lab: Lab,
    runs: u32,
    names: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut arch = Arch::X86_64;
    let (mut qemu, mut verbose, mut smp) = (false, false, None);
    let mut runs = 5;
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = |what: &str| -> Result<u32, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{what} needs a positive number"))
        };
        match arg.as_str() {
            "--qemu" => qemu = true,
            "--verbose" => verbose = true,
            "--smp" => smp = Some(number("--smp")?),
            "--runs" => runs = number("--runs")?,
            "--arch" => {
                let value = it.next().map(String::as_str).unwrap_or("");
                arch = Arch::from_name(value)
                    .ok_or_else(|| format!("--arch takes x86 or arm64, not '{value}'"))?;
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            name => names.push(name.to_string()),
        }
    }
    let mut lab = lab::for_arch(arch);
    if qemu {
        lab = lab.with_vmm(Vmm::QemuStandIn);
    }
    if verbose {
        lab = lab.with_verbose(true);
    }
    if let Some(n) = smp {
        lab = lab.with_smp(n);
    }
    Ok(Options { lab, runs, names })
}

fn run(command: &str, opts: Options) -> Result<ExitCode, LabError> {
    match command {
        "list" => {
            for s in opts.lab.scenarios()? {
                let mut args = String::new();
                if let Some(cpu) = &s.l1_cpu {
                    args.push_str(&format!("  [L1 cpu: {cpu}]"));
                }
                if !s.l1_args.is_empty() {
                    args.push_str(&format!("  [L1: {}]", s.l1_args.join(" ")));
                }
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
