//! What a lab run found: the L1 console's `LAB-*` marker lines parsed into per-scenario outcomes
//! and per-boot facts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A scenario's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The scenario ran and all its checks held.
    Pass,
    /// The scenario ran and failed, with the reason it gave (or why it did not finish).
    Fail(String),
    /// The scenario never started, and why.
    NotRun(String),
}

/// One scenario's outcome in a lab run.
#[derive(Debug, Clone)]
pub struct ScenarioOutcome {
    /// Scenario name.
    pub name: String,
    /// Pass, fail or not run.
    pub verdict: Verdict,
    /// Seconds the scenario took inside L1, when it finished.
    pub secs: Option<f64>,
    /// The scenario's own log and its VMM output, as L1 printed them (only for failures, or
    /// for every scenario in verbose runs).
    pub log: Vec<String>,
    /// The full serial log of the L1 boot that ran (or should have run) the scenario.
    pub l1_log: PathBuf,
}

impl ScenarioOutcome {
    /// `Ok` when the scenario passed; otherwise a message with the reason, the scenario's log and
    /// where the full L1 log is.
    pub fn check(&self) -> Result<(), String> {
        let reason = match &self.verdict {
            Verdict::Pass => return Ok(()),
            Verdict::Fail(reason) => format!("scenario {} FAILED: {reason}", self.name),
            Verdict::NotRun(reason) => format!("scenario {} did not run: {reason}", self.name),
        };
        let mut msg = reason;
        if !self.log.is_empty() {
            msg.push_str("\n--- scenario log (from L1) ---\n");
            msg.push_str(&self.log.join("\n"));
        }
        if !self.l1_log.as_os_str().is_empty() {
            msg.push_str(&format!(
                "\n--- full L1 serial log: {} ---",
                self.l1_log.display()
            ));
        }
        Err(msg)
    }
}

/// How an L1 boot ended.
#[derive(Debug, Clone, PartialEq)]
pub enum BootEnd {
    /// L1 printed `LAB-DONE` and QEMU exited.
    Done,
    /// QEMU exited before `LAB-DONE`, with this status.
    QemuExited(String),
    /// The hang guard stopped QEMU after this many seconds.
    Hang(u64),
}

impl fmt::Display for BootEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootEnd::Done => write!(f, "finished"),
            BootEnd::QemuExited(status) => write!(f, "QEMU exited early ({status})"),
            BootEnd::Hang(secs) => write!(f, "hang guard stopped L1 after {secs} s"),
        }
    }
}

/// Facts about one L1 boot.
#[derive(Debug, Clone)]
pub struct L1Boot {
    /// Extra QEMU arguments this boot had.
    pub l1_args: Vec<String>,
    /// L1's CPU model.
    pub l1_cpu: String,
    /// Serial log file.
    pub log: PathBuf,
    /// Wall-clock seconds from starting QEMU to its exit.
    pub wall_secs: f64,
    /// L1 uptime when its /init started (`LAB-L1-INIT`).
    pub init_uptime: Option<f64>,
    /// L1 uptime once KVM and the modules were loaded (`LAB-L1-READY`).
    pub ready_uptime: Option<f64>,
    /// A fatal problem L1 reported (`LAB-FATAL`), e.g. no /dev/kvm.
    pub fatal: Option<String>,
    /// How the boot ended.
    pub end: BootEnd,
}

/// Everything one lab run found.
#[derive(Debug, Clone, Default)]
pub struct LabReport {
    /// Outcome per scenario name.
    pub outcomes: BTreeMap<String, ScenarioOutcome>,
    /// The L1 boots, in order.
    pub boots: Vec<L1Boot>,
    /// Wall-clock seconds for the whole run, asset preparation included.
    pub wall_secs: f64,
}

impl LabReport {
    /// The outcome of scenario `name`, as a check: `Err` (with the log) unless it passed.
    pub fn check(&self, name: &str) -> Result<(), String> {
        match self.outcomes.get(name) {
            Some(outcome) => outcome.check(),
            None => Err(format!(
                "scenario {name} was not part of this lab run (ran: {})",
                self.outcomes.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// A few lines: each boot, then each scenario with its verdict and time.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for boot in &self.boots {
            s.push_str(&format!(
                "L1 boot [-cpu {} {}]: {:.1} s wall, /init at {}, ready at {}, {}; log {}\n",
                boot.l1_cpu,
                if boot.l1_args.is_empty() {
                    "base".to_string()
                } else {
                    boot.l1_args.join(" ")
                },
                boot.wall_secs,
                uptime_text(boot.init_uptime),
                uptime_text(boot.ready_uptime),
                boot.end,
                boot.log.display()
            ));
            if let Some(fatal) = &boot.fatal {
                s.push_str(&format!("  L1 FATAL: {fatal}\n"));
            }
        }
        for o in self.outcomes.values() {
            let secs = o
                .secs
                .map(|t| format!("{t:6.1} s"))
                .unwrap_or_else(|| "     - ".into());
            let verdict = match &o.verdict {
                Verdict::Pass => "PASS".to_string(),
                Verdict::Fail(r) => format!("FAIL  {r}"),
                Verdict::NotRun(r) => format!("NOT RUN  {r}"),
            };
            s.push_str(&format!("  {:<22} {secs}  {verdict}\n", o.name));
        }
        s.push_str(&format!("whole lab run: {:.1} s\n", self.wall_secs));
        s
    }

    /// True when every scenario passed.
    pub fn all_passed(&self) -> bool {
        self.outcomes.values().all(|o| o.verdict == Verdict::Pass)
    }
}

fn uptime_text(t: Option<f64>) -> String {
    t.map(|t| format!("{t:.1} s")).unwrap_or_else(|| "-".into())
}

/// Collects the marker lines of one L1 console as they arrive.
#[derive(Debug, Default)]
pub struct ConsoleParser {
    /// `LAB-L1-INIT uptime=`.
    pub init_uptime: Option<f64>,
    /// `LAB-L1-READY uptime=`.
    pub ready_uptime: Option<f64>,
    /// `LAB-FATAL ...`.
    pub fatal: Option<String>,
    /// `LAB-DONE` seen.
    pub done: bool,
    /// Scenarios that printed `LAB-SCENARIO-BEGIN`, in order.
    pub begun: Vec<String>,
    /// Finished scenarios: verdict and seconds.
    pub ended: BTreeMap<String, (Verdict, Option<f64>)>,
    /// `LAB-LOG NAME | text` lines per scenario.
    pub logs: BTreeMap<String, Vec<String>>,
}

impl ConsoleParser {
    /// Takes one console line (without its newline).
    pub fn feed(&mut self, raw: &str) {
        let line = raw.trim_matches('\r');
        let Some((tag, rest)) = line.split_once(' ') else {
            if line == "LAB-DONE" {
                self.done = true;
            }
            return;
        };
        match tag {
            "LAB-L1-INIT" => self.init_uptime = field(rest, "uptime").and_then(|v| v.parse().ok()),
            "LAB-L1-READY" => {
                self.ready_uptime = field(rest, "uptime").and_then(|v| v.parse().ok())
            }
            "LAB-FATAL" => self.fatal = Some(rest.to_string()),
            "LAB-DONE" => self.done = true,
            "LAB-SCENARIO-BEGIN" => {
                if let Some(name) = rest.split_whitespace().next() {
                    self.begun.push(name.to_string());
                }
            }
            "LAB-SCENARIO-END" => self.scenario_end(rest),
            "LAB-LOG" => {
                if let Some((name, text)) = rest.split_once(" | ") {
                    self.logs
                        .entry(name.to_string())
                        .or_default()
                        .push(text.to_string());
                } else if let Some(name) = rest.strip_suffix(" |") {
                    self.logs
                        .entry(name.to_string())
                        .or_default()
                        .push(String::new());
                }
            }
            _ => {}
        }
    }

    // "NAME PASS secs=9.59" or "NAME FAIL secs=9.59 reason words"
    fn scenario_end(&mut self, rest: &str) {
        let mut words = rest.splitn(4, ' ');
        let (Some(name), Some(result)) = (words.next(), words.next()) else {
            return;
        };
        let secs = words
            .next()
            .and_then(|w| w.strip_prefix("secs="))
            .and_then(|v| v.parse().ok());
        let reason = words.next().unwrap_or("").trim().to_string();
        let verdict = match result {
            "PASS" => Verdict::Pass,
            _ if reason.is_empty() => Verdict::Fail("no reason given".into()),
            _ => Verdict::Fail(reason),
        };
        self.ended.insert(name.to_string(), (verdict, secs));
    }
}

/// The value of `key=value` among space-separated words.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> ConsoleParser {
        let mut p = ConsoleParser::default();
        for l in lines {
            p.feed(l);
        }
        p
    }

    #[test]
    fn markers_become_outcomes() {
        let p = parse(&[
            "qemu-system-x86_64: warning: TCG doesn't support requested feature",
            "LAB-L1-INIT uptime=2.61 kernel=6.1.0-56-amd64 cpus=1\r",
            "LAB-L1-READY uptime=3.09 kvm=ok nested=1",
            "LAB-SCENARIO-BEGIN poweroff uptime=3.12 limit=240",
            "LAB-SCENARIO-END poweroff PASS secs=9.59 ",
            "LAB-SCENARIO-BEGIN exit-code uptime=12.77 limit=240",
            "LAB-LOG exit-code | [12.79] run 1: /bin/ovmm --kernel k",
            "LAB-LOG exit-code |",
            "LAB-LOG exit-code | OVMM-GUEST-INIT cpus=1",
            "LAB-SCENARIO-END exit-code FAIL secs=9.50 ovmm exited with status 0, expected 7",
            "LAB-SCENARIO-BEGIN timeout uptime=22.3 limit=240",
            "LAB-DONE uptime=22.55",
        ]);
        assert_eq!(p.init_uptime, Some(2.61));
        assert_eq!(p.ready_uptime, Some(3.09));
        assert!(p.done);
        assert_eq!(p.begun, ["poweroff", "exit-code", "timeout"]);
        assert_eq!(p.ended["poweroff"], (Verdict::Pass, Some(9.59)));
        assert_eq!(
            p.ended["exit-code"],
            (
                Verdict::Fail("ovmm exited with status 0, expected 7".into()),
                Some(9.5)
            )
        );
        assert!(!p.ended.contains_key("timeout"));
        assert_eq!(
            p.logs["exit-code"],
            [
                "[12.79] run 1: /bin/ovmm --kernel k",
                "",
                "OVMM-GUEST-INIT cpus=1"
            ]
        );
    }

    #[test]
    fn fatal_and_bare_done() {
        let p = parse(&[
            "LAB-FATAL no /dev/kvm in L1 after modprobe kvm_amd",
            "LAB-DONE",
        ]);
        assert_eq!(
            p.fatal.as_deref(),
            Some("no /dev/kvm in L1 after modprobe kvm_amd")
        );
        assert!(p.done);
    }

    #[test]
    fn field_lookup() {
        assert_eq!(field("a=1 bb=22 b=3", "b"), Some("3"));
        assert_eq!(field("a=1", "c"), None);
    }

    #[test]
    fn check_explains_failures() {
        let o = ScenarioOutcome {
            name: "timeout".into(),
            verdict: Verdict::Fail("ovmm exited with status 0, expected 124".into()),
            secs: Some(3.0),
            log: vec!["line one".into()],
            l1_log: PathBuf::from("/t/l1.log"),
        };
        let e = o.check().unwrap_err();
        assert!(e.starts_with("scenario timeout FAILED: ovmm exited with status 0, expected 124"));
        assert!(e.contains("line one"));
        assert!(e.contains("/t/l1.log"));
        let pass = ScenarioOutcome {
            verdict: Verdict::Pass,
            ..o
        };
        assert_eq!(pass.check(), Ok(()));
        let report = LabReport::default();
        assert!(report
            .check("nope")
            .unwrap_err()
            .contains("not part of this lab run"));
    }
}
