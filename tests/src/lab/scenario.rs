//! Lab scenarios: one shell file each under `resources/lab/scenarios/<arch>/NAME.sh`, with a
//! header that declares the scenario's hang guard, the extra L1 QEMU arguments it needs and,
//! optionally, L1's CPU model.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::LabError;

/// Hang guard for a scenario that does not declare `# lab-timeout:`.
pub const DEFAULT_TIMEOUT_SECS: u32 = 240;

/// One scenario file and what its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// File name without `.sh`; what the L1 runner and the reports call it.
    pub name: String,
    /// The scenario file.
    pub path: PathBuf,
    /// The first comment line: what the scenario checks.
    pub summary: String,
    /// Seconds the L1 runner gives the scenario before it stops it (`# lab-timeout: SECS`).
    pub timeout_secs: u32,
    /// Extra QEMU arguments for L1 (`# lab-l1-args: ...`), one word each.
    pub l1_args: Vec<String>,
    /// L1's CPU model (`# lab-l1-cpu: MODEL`), when not the architecture's default.
    pub l1_cpu: Option<String>,
}

impl Scenario {
    /// The L1 this scenario needs; scenarios that need the same one share an L1 boot.
    pub fn l1_setup(&self) -> L1Setup {
        L1Setup {
            cpu: self.l1_cpu.clone(),
            args: self.l1_args.clone(),
        }
    }
}

/// What an L1 boot must have for a group of scenarios: a CPU model and extra QEMU arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct L1Setup {
    /// CPU model (`None`: the architecture's default).
    pub cpu: Option<String>,
    /// Extra QEMU arguments, one word each.
    pub args: Vec<String>,
}

impl Scenario {
    /// Reads and parses the scenario file at `path`.
    pub fn load(path: &Path) -> Result<Scenario, LabError> {
        let text = fs::read_to_string(path).map_err(|source| LabError::Io {
            what: format!("reading scenario {}", path.display()),
            source,
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| LabError::Scenario(format!("{}: no usable file name", path.display())))?
            .to_string();
        Scenario::parse(&name, path, &text)
    }

    /// Parses a scenario's header from its text.
    pub fn parse(name: &str, path: &Path, text: &str) -> Result<Scenario, LabError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(LabError::Scenario(format!(
                "{}: scenario name '{name}' must be letters, digits, '-' or '_'",
                path.display()
            )));
        }
        let mut summary = String::new();
        let mut timeout_secs = DEFAULT_TIMEOUT_SECS;
        let mut l1_args = Vec::new();
        let mut l1_cpu = None;
        for line in text.lines().take_while(|l| l.starts_with('#')) {
            let body = line.trim_start_matches('#').trim();
            if let Some(value) = body.strip_prefix("lab-timeout:") {
                timeout_secs = value.trim().parse().map_err(|_| {
                    LabError::Scenario(format!(
                        "{}: lab-timeout '{}' is not a number of seconds",
                        path.display(),
                        value.trim()
                    ))
                })?;
            } else if let Some(value) = body.strip_prefix("lab-l1-args:") {
                l1_args.extend(value.split_whitespace().map(str::to_string));
            } else if let Some(value) = body.strip_prefix("lab-l1-cpu:") {
                let model = value.trim();
                if model.is_empty() || model.contains(char::is_whitespace) {
                    return Err(LabError::Scenario(format!(
                        "{}: lab-l1-cpu '{model}' must be one QEMU CPU model (e.g. cortex-a53)",
                        path.display()
                    )));
                }
                l1_cpu = Some(model.to_string());
            } else if summary.is_empty() {
                summary = body.to_string();
            }
        }
        if timeout_secs == 0 {
            return Err(LabError::Scenario(format!(
                "{}: lab-timeout must be above 0",
                path.display()
            )));
        }
        Ok(Scenario {
            name: name.to_string(),
            path: path.to_path_buf(),
            summary,
            timeout_secs,
            l1_args,
            l1_cpu,
        })
    }
}

/// All scenarios in `dir` (every `*.sh`), sorted by name.
pub fn discover(dir: &Path) -> Result<Vec<Scenario>, LabError> {
    let entries = fs::read_dir(dir).map_err(|source| LabError::Io {
        what: format!("listing scenarios in {}", dir.display()),
        source,
    })?;
    let mut scenarios = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| LabError::Io {
                what: format!("listing scenarios in {}", dir.display()),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "sh") {
            scenarios.push(Scenario::load(&path)?);
        }
    }
    scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scenarios)
}

/// Picks the scenarios called `names` (in the order given) out of `all`; an unknown name is an
/// error that lists the known ones.
pub fn select(all: &[Scenario], names: &[&str]) -> Result<Vec<Scenario>, LabError> {
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|s| s.name == *name)
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                    LabError::Scenario(format!(
                        "no scenario '{name}' (known: {})",
                        known.join(", ")
                    ))
                })
        })
        .collect()
}

/// Groups scenarios that need the same L1 (CPU model and extra arguments), so each group shares
/// one L1 boot. Groups come in the order of their first scenario; scenarios keep their order
/// inside a group.
pub fn group_by_l1(scenarios: &[Scenario]) -> Vec<(L1Setup, Vec<Scenario>)> {
    let mut order: Vec<L1Setup> = Vec::new();
    let mut groups: BTreeMap<L1Setup, Vec<Scenario>> = BTreeMap::new();
    for s in scenarios {
        let setup = s.l1_setup();
        if !groups.contains_key(&setup) {
            order.push(setup.clone());
        }
        groups.entry(setup).or_default().push(s.clone());
    }
    order
        .into_iter()
        .map(|setup| {
            let members = groups.remove(&setup).unwrap_or_default();
            (setup, members)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> Result<Scenario, LabError> {
        Scenario::parse(name, Path::new("/x/y.sh"), text)
    }

    #[test]
    fn header_sets_timeout_args_and_summary() {
        let s = parse(
            "edu-dma",
            "# DMA through a passed-through edu device.\n# lab-timeout: 90\n# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff\n# lab-l1-args: -device e1000e,netdev=n0\nrun_ovmm poweroff\n# lab-timeout: 5\n",
        )
        .unwrap();
        assert_eq!(s.summary, "DMA through a passed-through edu device.");
        assert_eq!(s.timeout_secs, 90);
        assert_eq!(
            s.l1_args,
            [
                "-device",
                "edu,dma_mask=0xffffffffffffffff",
                "-device",
                "e1000e,netdev=n0"
            ]
        );
    }

    #[test]
    fn defaults_without_header() {
        let s = parse("plain", "run_ovmm poweroff\n").unwrap();
        assert_eq!(s.timeout_secs, DEFAULT_TIMEOUT_SECS);
        assert!(s.l1_args.is_empty());
        assert_eq!(s.summary, "");
    }

    #[test]
    fn bad_timeout_and_bad_name_are_errors() {
        let e = parse("t", "# lab-timeout: soon\n").unwrap_err().to_string();
        assert!(e.contains("lab-timeout 'soon'"), "{e}");
        assert!(parse("t", "# lab-timeout: 0\n").is_err());
        let e = parse("a b", "").unwrap_err().to_string();
        assert!(e.contains("'a b'"), "{e}");
    }

    fn named(name: &str, args: &[&str]) -> Scenario {
        Scenario {
            name: name.into(),
            path: PathBuf::from(format!("{name}.sh")),
            summary: String::new(),
            timeout_secs: 10,
            l1_args: args.iter().map(|a| a.to_string()).collect(),
            l1_cpu: None,
        }
    }

    #[test]
    fn cpu_header_and_grouping_by_cpu() {
        let s = parse("nvhe", "# KVM in nVHE mode.\n# lab-l1-cpu: cortex-a53\n").unwrap();
        assert_eq!(s.l1_cpu.as_deref(), Some("cortex-a53"));
        let e = parse("t", "# lab-l1-cpu: a b\n").unwrap_err().to_string();
        assert!(e.contains("lab-l1-cpu 'a b'"), "{e}");
        assert!(parse("t", "# lab-l1-cpu:\n").is_err());
        let mut a53 = named("b", &["-device", "edu"]);
        a53.l1_cpu = Some("cortex-a53".into());
        let all = [
            named("a", &["-device", "edu"]),
            a53,
            named("c", &["-device", "edu"]),
        ];
        let groups = group_by_l1(&all);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0.cpu, None);
        assert_eq!(
            groups[0]
                .1
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!(groups[1].0.cpu.as_deref(), Some("cortex-a53"));
        assert_eq!(groups[1].0.args, ["-device", "edu"]);
    }

    #[test]
    fn grouping_keeps_first_seen_order() {
        let all = [
            named("a", &[]),
            named("b", &["-device", "edu"]),
            named("c", &[]),
            named("d", &["-device", "edu"]),
            named("e", &["-device", "e1000e"]),
        ];
        let groups = group_by_l1(&all);
        let shape: Vec<(Vec<String>, Vec<&str>)> = groups
            .iter()
            .map(|(setup, members)| {
                (
                    setup.args.clone(),
                    members.iter().map(|s| s.name.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (vec![], vec!["a", "c"]),
                (
                    vec!["-device".to_string(), "edu".to_string()],
                    vec!["b", "d"]
                ),
                (vec!["-device".to_string(), "e1000e".to_string()], vec!["e"]),
            ]
        );
    }

    #[test]
    fn select_reports_unknown_names() {
        let all = [named("a", &[]), named("b", &[])];
        let picked = select(&all, &["b", "a"]).unwrap();
        assert_eq!(picked[0].name, "b");
        let e = select(&all, &["zz"]).unwrap_err().to_string();
        assert!(e.contains("no scenario 'zz' (known: a, b)"), "{e}");
    }

    #[test]
    fn the_shipped_scenarios_parse() {
        for (arch, at_least) in [("x86", 12), ("arm64", 12)] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../resources/lab/scenarios")
                .join(arch);
            let all = discover(&dir).unwrap();
            assert!(
                all.len() >= at_least,
                "{arch}: found {} scenarios",
                all.len()
            );
            for s in &all {
                assert!(
                    !s.summary.is_empty(),
                    "{arch}/{} has no summary line",
                    s.name
                );
            }
        }
    }
}
