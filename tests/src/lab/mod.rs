//! The labs (x86 and arm64): prepares the assets, boots the emulated host (L1) once per group of
//! scenarios that need the same L1 (CPU model and devices), and turns L1's console into a
//! [`LabReport`]. Also runs the benchmark and the demo in L1.
//!
//! ```no_run
//! let report = ovmm_tests::lab::x86().run(&["poweroff", "exit-code"]).unwrap();
//! report.check("poweroff").unwrap();
//! ```

pub mod arch;
pub mod assets;
pub mod bench;
pub mod blk_bench;
pub mod l1;
pub mod report;
pub mod scenario;

use std::env;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use arch::Arch;
use assets::{Paths, Prepared};
use bench::BenchReport;
use l1::L1Config;
use report::{ConsoleParser, L1Boot};
pub use report::{LabReport, ScenarioOutcome, Verdict};
use scenario::{L1Setup, Scenario};

/// Errors of the lab harness (not scenario failures: those are in the [`LabReport`]).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Something the lab needs is not installed.
    #[error("the lab needs {what}, which is missing; to install it, {how}")]
    Missing {
        /// What is missing.
        what: String,
        /// How to install it.
        how: String,
    },
    /// A preparation step failed.
    #[error("lab step `{step}` failed: {detail}")]
    Step {
        /// The step (script or command).
        step: String,
        /// Its status and output.
        detail: String,
    },
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A scenario file or selection is wrong.
    #[error("{0}")]
    Scenario(String),
    /// L1 did not produce the expected result (benchmark and demo).
    #[error("L1 run failed: {0}")]
    Run(String),
}

/// Which VMM the scenarios drive inside L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vmm {
    /// The static ovmm built from this workspace (or `$OVMM_BIN`).
    Ovmm,
    /// `ovmm-qemu`: ovmm's command line played by QEMU (x86 microvm, arm64 virt), to check the
    /// lab itself.
    QemuStandIn,
}

/// L1 vCPUs unless `OVMM_LAB_SMP` says otherwise (see the report for the measurement).
pub const DEFAULT_L1_SMP: u32 = 1;
/// L1 memory: room for a 2 GiB guest plus the initramfs.
pub const L1_MEMORY_MIB: u32 = 4096;
/// Hang-guard allowance for L1's own boot and module loading.
const L1_BOOT_ALLOWANCE_SECS: u64 = 180;

/// A lab configuration; see [`x86`] and [`arm64`].
#[derive(Debug, Clone)]
pub struct Lab {
    paths: Paths,
    vmm: Vmm,
    smp: u32,
    verbose: bool,
    only: Option<Vec<String>>,
    progress: bool,
}

/// The x86 lab, configured from the environment (see [`for_arch`]).
pub fn x86() -> Lab {
    for_arch(Arch::X86_64)
}

/// The arm64 lab, configured from the environment (see [`for_arch`]).
pub fn arm64() -> Lab {
    for_arch(Arch::Aarch64)
}

/// The lab of `arch`, configured from the environment:
/// `OVMM_LAB_VMM=qemu` (stand-in VMM), `OVMM_LAB_SMP=N` (L1 vCPUs), `OVMM_LAB_VERBOSE=1` (every
/// scenario's log in the report), `OVMM_LAB_ONLY=a,b` (run only these scenarios),
/// `OVMM_BIN=PATH` (a prebuilt static ovmm for that architecture).
pub fn for_arch(arch: Arch) -> Lab {
    let env_is = |k: &str, v: &str| env::var(k).is_ok_and(|x| x == v);
    Lab {
        paths: Paths::new(arch),
        vmm: if env_is("OVMM_LAB_VMM", "qemu") {
            Vmm::QemuStandIn
        } else {
            Vmm::Ovmm
        },
        smp: env::var("OVMM_LAB_SMP")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| (1..=8).contains(n))
            .unwrap_or(DEFAULT_L1_SMP),
        verbose: env_is("OVMM_LAB_VERBOSE", "1"),
        only: env::var("OVMM_LAB_ONLY").ok().map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        }),
        progress: true,
    }
}

impl Lab {
    /// Uses `vmm` inside L1.
    pub fn with_vmm(mut self, vmm: Vmm) -> Lab {
        self.vmm = vmm;
        self
    }

    /// Gives L1 `smp` vCPUs.
    pub fn with_smp(mut self, smp: u32) -> Lab {
        self.smp = smp;
        self
    }

    /// Shows every scenario's log, not only the failures'.
    pub fn with_verbose(mut self, verbose: bool) -> Lab {
        self.verbose = verbose;
        self
    }

    /// Prints progress lines to stderr (default on).
    pub fn with_progress(mut self, progress: bool) -> Lab {
        self.progress = progress;
        self
    }

    /// Where the lab keeps its files.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Every scenario of this architecture.
    pub fn scenarios(&self) -> Result<Vec<Scenario>, LabError> {
        scenario::discover(&self.paths.scenarios)
    }

    fn say(&self, msg: &str) {
        if self.progress {
            eprintln!("lab: {msg}");
        }
    }

    fn vmm_path(&self) -> &'static str {
        match self.vmm {
            Vmm::Ovmm => "/bin/ovmm",
            Vmm::QemuStandIn => "/bin/ovmm-qemu",
        }
    }

    /// Runs the scenarios called `names` (restricted further by `OVMM_LAB_ONLY`); scenarios with
    /// the same L1 arguments share one L1 boot. A scenario that could not run is in the report
    /// as [`Verdict::NotRun`]; `Err` means the lab could not start at all.
    pub fn run(&self, names: &[&str]) -> Result<LabReport, LabError> {
        let t0 = Instant::now();
        let all = self.scenarios()?;
        let mut chosen = scenario::select(&all, names)?;
        let mut report = LabReport::default();
        if let Some(only) = &self.only {
            for s in chosen.iter().filter(|s| !only.contains(&s.name)) {
                report.outcomes.insert(
                    s.name.clone(),
                    ScenarioOutcome {
                        name: s.name.clone(),
                        verdict: Verdict::NotRun(format!(
                            "left out by OVMM_LAB_ONLY={}",
                            only.join(",")
                        )),
                        secs: None,
                        log: Vec::new(),
                        l1_log: PathBuf::new(),
                    },
                );
            }
            chosen.retain(|s| only.contains(&s.name));
        }
        let groups = scenario::group_by_l1(&chosen);
        for (setup, _) in &groups {
            l1::check_extra_args(&setup.args)?;
        }
        let prepared = assets::prepare(
            &self.paths,
            self.vmm == Vmm::Ovmm,
            self.vmm == Vmm::QemuStandIn,
        )?;
        for (index, (setup, members)) in groups.iter().enumerate() {
            self.say(&format!(
                "{} L1 boot {}/{} (cpu {}) for {} scenario(s): {}",
                self.paths.arch.name(),
                index + 1,
                groups.len(),
                self.cpu(setup),
                members.len(),
                members
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            let (boot, outcomes) = self.run_group(&prepared, index, setup, members)?;
            report.boots.push(boot);
            for o in outcomes {
                report.outcomes.insert(o.name.clone(), o);
            }
        }
        report.wall_secs = t0.elapsed().as_secs_f64();
        Ok(report)
    }

    fn run_group(
        &self,
        prepared: &Prepared,
        index: usize,
        setup: &L1Setup,
        members: &[Scenario],
    ) -> Result<(L1Boot, Vec<ScenarioOutcome>), LabError> {
        let mut plan = self.plan_header("scenarios");
        for s in members {
            plan.push_str(&format!("scenario {} {}\n", s.name, s.timeout_secs));
        }
        let hang_secs = L1_BOOT_ALLOWANCE_SECS
            + members
                .iter()
                .map(|s| u64::from(s.timeout_secs) + 10)
                .sum::<u64>();
        let tag = format!("scenarios-{}", index + 1);
        let mut parser = ConsoleParser::default();
        let progress = self.progress;
        let (cfg, result) = self.boot_with_plan(
            prepared,
            &tag,
            &plan,
            setup,
            hang_secs,
            &mut |line: &str| {
                parser.feed(line);
                if progress && line.starts_with("LAB-SCENARIO-END") {
                    eprintln!("lab: {}", line.trim_end());
                }
                parser.done
            },
        )?;
        let why_not_run = match (&parser.fatal, &result.end) {
            (Some(fatal), _) => format!("L1 failed: {fatal}"),
            (None, end) => format!("L1 ended before the scenario ran: {end}"),
        };
        let outcomes = members
            .iter()
            .map(|s| {
                let (verdict, secs) = match parser.ended.get(&s.name) {
                    Some((verdict, secs)) => (verdict.clone(), *secs),
                    None if parser.begun.contains(&s.name) => (
                        Verdict::Fail(format!("did not finish: L1 {}", result.end)),
                        None,
                    ),
                    None => (Verdict::NotRun(why_not_run.clone()), None),
                };
                ScenarioOutcome {
                    name: s.name.clone(),
                    verdict,
                    secs,
                    log: parser.logs.remove(&s.name).unwrap_or_default(),
                    l1_log: cfg.log.clone(),
                }
            })
            .collect();
        let boot = L1Boot {
            l1_args: setup.args.clone(),
            l1_cpu: cfg.cpu.clone(),
            log: cfg.log,
            wall_secs: result.wall_secs,
            init_uptime: parser.init_uptime,
            ready_uptime: parser.ready_uptime,
            fatal: parser.fatal,
            end: result.end,
        };
        Ok((boot, outcomes))
    }

    // L1's CPU model for `setup`.
    fn cpu(&self, setup: &L1Setup) -> String {
        setup
            .cpu
            .clone()
            .unwrap_or_else(|| self.paths.arch.default_cpu().to_string())
    }

    fn plan_header(&self, mode: &str) -> String {
        format!(
            "mode {mode}\nvmm {}\nverbose {}\n",
            self.vmm_path(),
            u8::from(self.verbose)
        )
    }

    // Writes the plan, builds the L1 initramfs around it and boots L1.
    fn boot_with_plan(
        &self,
        prepared: &Prepared,
        tag: &str,
        plan: &str,
        setup: &L1Setup,
        hang_secs: u64,
        on_line: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(L1Config, l1::BootResult), LabError> {
        let work = &self.paths.work;
        // Per-process names: two lab runs may share target/lab.
        let plan_path = work.join(format!("plan-{tag}-{}", std::process::id()));
        write_file(&plan_path, plan.as_bytes())?;
        let initrd = work.join(format!("l1-{tag}-{}.cpio", std::process::id()));
        let none = PathBuf::new();
        let ovmm = prepared.ovmm.as_ref().unwrap_or(&none);
        let payload = prepared.qemu_payload.as_ref().unwrap_or(&none);
        assets::run_script(
            &self.paths,
            "build-l1-initrd.sh",
            &[work, &plan_path, &initrd, ovmm, payload],
        )?;
        fs::create_dir_all(&self.paths.logs).map_err(|source| LabError::Io {
            what: format!("creating {}", self.paths.logs.display()),
            source,
        })?;
        let cfg = L1Config {
            arch: self.paths.arch,
            kernel: prepared.kernel.clone(),
            initrd,
            cpu: self.cpu(setup),
            smp: self.smp,
            memory_mib: L1_MEMORY_MIB,
            extra_args: setup.args.clone(),
            log: self.paths.logs.join(format!(
                "{}-{}-{tag}.log",
                self.paths.arch.name(),
                timestamp()
            )),
            hang_secs,
        };
        self.say(&format!(
            "booting L1 (kernel {}, -cpu {}, -smp {}, hang guard {hang_secs} s); serial log: {}",
            prepared.kernel_release,
            cfg.cpu,
            cfg.smp,
            cfg.log.display()
        ));
        let result = l1::boot(&cfg, on_line);
        // Both are rebuilt for every boot; the plan is also in the log's run.
        let _ = fs::remove_file(&cfg.initrd);
        let _ = fs::remove_file(&plan_path);
        let result = result?;
        self.say(&format!(
            "L1 {} after {:.1} s",
            result.end, result.wall_secs
        ));
        Ok((cfg, result))
    }

    /// The benchmark: ovmm against QEMU (x86 microvm, arm64 virt) in L1, `runs` timed boots each, plus one memory
    /// sample each, and the size of the stripped static ovmm.
    pub fn bench(&self, runs: u32) -> Result<BenchReport, LabError> {
        let t0 = Instant::now();
        let prepared = assets::prepare(&self.paths, self.vmm == Vmm::Ovmm, true)?;
        let mut report = BenchReport {
            qemu_label: self.paths.arch.bench_qemu_label().to_string(),
            ..BenchReport::default()
        };
        if let Some(ovmm) = &prepared.ovmm {
            report.ovmm_size = Some(stripped_size(
                self.paths.arch.strip(),
                ovmm,
                &self.paths.work,
            )?);
        }
        let plan = format!("{}bench-runs {runs}\n", self.plan_header("bench"));
        let hang_secs = L1_BOOT_ALLOWANCE_SECS + u64::from(runs) * 2 * 180 + 2 * 180;
        let mut done = false;
        let progress = self.progress;
        let (cfg, result) = self.boot_with_plan(
            &prepared,
            "bench",
            &plan,
            &L1Setup::default(),
            hang_secs,
            &mut |line: &str| {
                report.feed(line);
                if progress && (line.starts_with("LAB-BENCH-TIME") || line.starts_with("LAB-FATAL"))
                {
                    eprintln!("lab: {}", line.trim_end());
                }
                done |= line.starts_with("LAB-DONE");
                done
            },
        )?;
        report.wall_secs = t0.elapsed().as_secs_f64();
        if report.times.is_empty() {
            return Err(LabError::Run(format!(
                "the benchmark produced no timings (L1 {}); see {}",
                result.end,
                cfg.log.display()
            )));
        }
        Ok(report)
    }

    /// The demo: ovmm boots the guest in L1; the guest's console and ovmm's exit status are
    /// written to `out` as they come. Returns ovmm's exit status.
    pub fn demo(&self, out: &mut dyn Write) -> Result<i32, LabError> {
        self.say("preparing the lab (the first run downloads a Debian kernel and builds ovmm)");
        let prepared = assets::prepare(
            &self.paths,
            self.vmm == Vmm::Ovmm,
            self.vmm == Vmm::QemuStandIn,
        )?;
        // demo.sh has a scenario-style header: its L1 devices and its hang guard.
        let spec = Scenario::load(&self.paths.scripts.join("demo.sh"))?;
        l1::check_extra_args(&spec.l1_args)?;
        let hang_secs = L1_BOOT_ALLOWANCE_SECS + u64::from(spec.timeout_secs);
        let plan = self.plan_header("demo");
        let mut showing = false;
        let mut rc: Option<i32> = None;
        let mut fatal: Option<String> = None;
        let mut write_err: Option<std::io::Error> = None;
        let (cfg, result) = self.boot_with_plan(
            &prepared,
            "demo",
            &plan,
            &spec.l1_setup(),
            hang_secs,
            &mut |raw: &str| {
                let line = raw.trim_end_matches('\r');
                if let Some(rest) = line.strip_prefix("LAB-DEMO-RESULT ") {
                    showing = false;
                    rc = report::field(rest, "rc").and_then(|v| v.parse().ok());
                } else if let Some(rest) = line.strip_prefix("LAB-FATAL ") {
                    fatal = Some(rest.to_string());
                } else if line == "LAB-DEMO-BEGIN" {
                    showing = true;
                } else if showing {
                    if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
                        write_err.get_or_insert(e);
                    }
                }
                line.starts_with("LAB-DONE")
            },
        )?;
        if let Some(e) = write_err {
            return Err(LabError::Io {
                what: "writing the demo output".into(),
                source: e,
            });
        }
        match (rc, fatal) {
            (Some(rc), _) => Ok(rc),
            (None, Some(fatal)) => Err(LabError::Run(format!(
                "L1 failed: {fatal}; see {}",
                cfg.log.display()
            ))),
            (None, None) => Err(LabError::Run(format!(
                "the demo did not finish (L1 {}); see {}",
                result.end,
                cfg.log.display()
            ))),
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LabError> {
    fs::write(path, bytes).map_err(|source| LabError::Io {
        what: format!("writing {}", path.display()),
        source,
    })
}

// Size of a copy of `bin` stripped by `strip` (the release profile strips already; this makes
// sure).
fn stripped_size(strip: &str, bin: &Path, work: &Path) -> Result<u64, LabError> {
    let copy = work.join("ovmm.stripped");
    let status = Command::new(strip)
        .arg("-o")
        .arg(&copy)
        .arg(bin)
        .status()
        .map_err(|source| LabError::Io {
            what: format!("running {strip} (binutils)"),
            source,
        })?;
    if !status.success() {
        return Err(LabError::Step {
            step: format!("{strip} -o {} {}", copy.display(), bin.display()),
            detail: status.to_string(),
        });
    }
    fs::metadata(&copy)
        .map(|m| m.len())
        .map_err(|source| LabError::Io {
            what: format!("reading the size of {}", copy.display()),
            source,
        })
}

// Seconds since the epoch, for log names.
fn timestamp() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
