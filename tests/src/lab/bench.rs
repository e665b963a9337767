//! The benchmark's arithmetic: parses the `LAB-BENCH-*` and `LAB-SMAPS` lines L1 prints, takes
//! medians, separates guest RAM from a VMM's own resident memory, and prints the table.

use std::collections::BTreeMap;

use super::report::field;

/// Writable anonymous mappings at least this large are taken as guest RAM (the benchmark gives
/// each guest 512 MiB; a VMM's own heaps and stacks are far smaller).
pub const GUEST_RAM_MIN_KB: u64 = 64 * 1024;

/// One timed boot: L1 uptime stamps.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSample {
    /// `ovmm` or `qemu`.
    pub vmm: String,
    /// Run number.
    pub run: u32,
    /// Seconds from the VMM's start to the guest's init marker, if it appeared.
    pub to_marker: Option<f64>,
    /// Seconds from the VMM's start to its exit.
    pub to_exit: f64,
    /// Seconds from ovmm's start to the guest init's write to the boot-timer register, as
    /// ovmm measured it (`boot_timer_ms=`; ovmm only).
    pub boot_timer: Option<f64>,
    /// The VMM's exit status.
    pub rc: i32,
}

/// One mapping from `/proc/PID/smaps`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// Mapping size in KiB.
    pub size_kb: u64,
    /// Resident KiB.
    pub rss_kb: u64,
    /// Permissions as smaps shows them, e.g. `rw-p`.
    pub perms: String,
    /// The mapped file, or `[anon]`, `[heap]`, `[stack]`, ...
    pub path: String,
}

impl Mapping {
    /// True for the mapping(s) that hold guest RAM: large writable anonymous or memfd mappings
    /// (not address-space reservations such as malloc arenas' `---p` areas).
    pub fn is_guest_ram(&self) -> bool {
        let anonymous = self.path == "[anon]"
            || self.path.starts_with("[anon:")
            || self.path.starts_with("/memfd:");
        anonymous && self.perms.contains('w') && self.size_kb >= GUEST_RAM_MIN_KB
    }
}

/// A VMM's memory while its guest sits at init.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoryUse {
    /// Resident KiB over all mappings.
    pub total_rss_kb: u64,
    /// Size (KiB) of the mappings taken as guest RAM.
    pub guest_ram_size_kb: u64,
    /// Resident KiB inside them.
    pub guest_ram_rss_kb: u64,
    /// Number of guest-RAM mappings.
    pub guest_ram_maps: usize,
    /// Number of mappings.
    pub maps: usize,
}

impl MemoryUse {
    /// Resident memory that is not guest RAM: the VMM's own overhead.
    pub fn overhead_kb(&self) -> u64 {
        self.total_rss_kb - self.guest_ram_rss_kb
    }

    /// Sums `maps`.
    pub fn from_maps(maps: &[Mapping]) -> MemoryUse {
        let mut m = MemoryUse {
            maps: maps.len(),
            ..MemoryUse::default()
        };
        for map in maps {
            m.total_rss_kb += map.rss_kb;
            if map.is_guest_ram() {
                m.guest_ram_maps += 1;
                m.guest_ram_size_kb += map.size_kb;
                m.guest_ram_rss_kb += map.rss_kb;
            }
        }
        m
    }
}

/// What the benchmark measured.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    /// Timed boots, both VMMs.
    pub times: Vec<TimeSample>,
    /// Mappings per VMM.
    pub maps: BTreeMap<String, Vec<Mapping>>,
    /// Lines L1 printed about runs that went wrong.
    pub problems: Vec<String>,
    /// `LAB-BENCH-BEGIN` details (QEMU version, runs).
    pub header: String,
    /// Size in bytes of the stripped static ovmm.
    pub ovmm_size: Option<u64>,
    /// What the reference VMM is, for the table ("QEMU microvm", "QEMU virt").
    pub qemu_label: String,
    /// Wall-clock seconds of the whole benchmark.
    pub wall_secs: f64,
}

impl BenchReport {
    /// Takes one L1 console line.
    pub fn feed(&mut self, raw: &str) {
        let line = raw.trim_matches('\r');
        if let Some(rest) = line.strip_prefix("LAB-BENCH-TIME ") {
            if let Some(sample) = parse_time(rest) {
                self.times.push(sample);
            } else {
                self.problems.push(format!("unreadable line: {line}"));
            }
        } else if let Some(rest) = line.strip_prefix("LAB-SMAPS ") {
            if let Some((vmm, map)) = parse_smaps(rest) {
                self.maps.entry(vmm).or_default().push(map);
            }
        } else if let Some(rest) = line.strip_prefix("LAB-BENCH-LOG ") {
            self.problems.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("LAB-BENCH-BEGIN ") {
            self.header = rest.to_string();
        }
    }

    /// Median seconds to the guest's init marker and to the VMM's exit, over the successful runs
    /// of `vmm`, with how many runs that was.
    pub fn medians(&self, vmm: &str) -> Option<(f64, f64, usize)> {
        let ok: Vec<&TimeSample> = self
            .times
            .iter()
            .filter(|t| t.vmm == vmm && t.rc == 0 && t.to_marker.is_some())
            .collect();
        let to_marker = median(ok.iter().filter_map(|t| t.to_marker).collect())?;
        let to_exit = median(ok.iter().map(|t| t.to_exit).collect())?;
        Some((to_marker, to_exit, ok.len()))
    }

    /// Median of ovmm's own boot-timer measurement over the successful runs of `vmm`.
    pub fn boot_timer_median(&self, vmm: &str) -> Option<f64> {
        median(
            self.times
                .iter()
                .filter(|t| t.vmm == vmm && t.rc == 0)
                .filter_map(|t| t.boot_timer)
                .collect(),
        )
    }

    /// Memory use of `vmm`, if its smaps were sampled.
    pub fn memory(&self, vmm: &str) -> Option<MemoryUse> {
        self.maps.get(vmm).map(|maps| MemoryUse::from_maps(maps))
    }

    /// The result table: medians, overhead, binary size, and ovmm/QEMU ratios.
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("benchmark in L1: {}\n", self.header));
        s.push_str("both VMMs boot the lab guest (same kernel, initramfs, command line), 1 vCPU, 512 MiB\n");
        if self.header.contains("ovmm-qemu") {
            s.push_str(
                "NOTE: stand-in run: the ovmm column is ovmm-qemu (QEMU behind a shell script)\n",
            );
        }
        s.push('\n');
        let label = if self.qemu_label.is_empty() {
            "QEMU"
        } else {
            self.qemu_label.as_str()
        };
        s.push_str(&format!(
            "{:<34} {:>12} {:>14} {:>10}\n",
            "", "ovmm", label, "ovmm/QEMU"
        ));
        let (o, q) = (self.medians("ovmm"), self.medians("qemu"));
        let row = |s: &mut String, label: &str, a: Option<f64>, b: Option<f64>, unit: &str| {
            let cell = |v: Option<f64>| {
                v.map(|v| format!("{v:.2} {unit}"))
                    .unwrap_or_else(|| "-".into())
            };
            let ratio = match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "-".into(),
            };
            s.push_str(&format!(
                "{label:<34} {:>12} {:>14} {ratio:>10}\n",
                cell(a),
                cell(b)
            ));
        };
        let runs = |m: Option<(f64, f64, usize)>| m.map(|m| m.2).unwrap_or(0);
        row(
            &mut s,
            "start -> guest init, median",
            o.map(|m| m.0),
            q.map(|m| m.0),
            "s",
        );
        row(
            &mut s,
            "start -> guest init, boot timer",
            self.boot_timer_median("ovmm"),
            None,
            "s",
        );
        row(
            &mut s,
            "start -> VMM exit, median",
            o.map(|m| m.1),
            q.map(|m| m.1),
            "s",
        );
        s.push_str(&format!(
            "{:<34} {:>12} {:>14}\n",
            "successful runs",
            runs(o),
            runs(q)
        ));
        let (mo, mq) = (self.memory("ovmm"), self.memory("qemu"));
        let mib = |m: &Option<MemoryUse>, f: fn(&MemoryUse) -> u64| {
            m.as_ref().map(|m| f(m) as f64 / 1024.0)
        };
        row(
            &mut s,
            "resident, not guest RAM",
            mib(&mo, MemoryUse::overhead_kb),
            mib(&mq, MemoryUse::overhead_kb),
            "MiB",
        );
        row(
            &mut s,
            "resident, all",
            mib(&mo, |m| m.total_rss_kb),
            mib(&mq, |m| m.total_rss_kb),
            "MiB",
        );
        row(
            &mut s,
            "guest RAM mapping size",
            mib(&mo, |m| m.guest_ram_size_kb),
            mib(&mq, |m| m.guest_ram_size_kb),
            "MiB",
        );
        let size = self
            .ovmm_size
            .map(|b| format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0)));
        s.push_str(&format!(
            "{:<34} {:>12}\n",
            "ovmm binary (static, stripped)",
            size.unwrap_or_else(|| "-".into())
        ));
        for (vmm, m) in [("ovmm", &mo), ("qemu", &mq)] {
            if let Some(m) = m {
                s.push_str(&format!(
                    "  {vmm}: {} mappings, {} taken as guest RAM (writable, anonymous, >= {} MiB)\n",
                    m.maps,
                    m.guest_ram_maps,
                    GUEST_RAM_MIN_KB / 1024
                ));
            }
        }
        s.push_str("\nruns (seconds from VMM start: to guest init / to exit, status):\n");
        for t in &self.times {
            let marker = t
                .to_marker
                .map(|m| format!("{m:.2}"))
                .unwrap_or_else(|| "none".into());
            let timer = t
                .boot_timer
                .map(|b| format!("  boot timer {b:.2}"))
                .unwrap_or_default();
            s.push_str(&format!(
                "  {:<5} #{:<2} {marker:>6} / {:.2}  rc={}{timer}\n",
                t.vmm, t.run, t.to_exit, t.rc
            ));
        }
        for p in &self.problems {
            s.push_str(&format!("  problem: {p}\n"));
        }
        s.push_str(&format!("whole benchmark: {:.1} s wall\n", self.wall_secs));
        s
    }
}

// "vmm=ovmm run=1 start=3.12 marker=8.20 exit=8.31 rc=0 boot_timer_ms=4980"
fn parse_time(rest: &str) -> Option<TimeSample> {
    let num = |key: &str| field(rest, key).and_then(|v| v.parse::<f64>().ok());
    let start = num("start")?;
    Some(TimeSample {
        vmm: field(rest, "vmm")?.to_string(),
        run: field(rest, "run")?.parse().ok()?,
        to_marker: num("marker").map(|m| m - start),
        to_exit: num("exit")? - start,
        rc: field(rest, "rc")?.parse().ok()?,
        boot_timer: num("boot_timer_ms").map(|ms| ms / 1000.0),
    })
}

// "vmm=qemu 7f00-7f10 rw-p 512 12 /usr/lib/x.so"
fn parse_smaps(rest: &str) -> Option<(String, Mapping)> {
    let mut w = rest.split_whitespace();
    let vmm = w.next()?.strip_prefix("vmm=")?.to_string();
    let _range = w.next()?;
    let perms = w.next()?.to_string();
    let size_kb = w.next()?.parse().ok()?;
    let rss_kb = w.next()?.parse().ok()?;
    let path = w.next().unwrap_or("[anon]").to_string();
    Some((
        vmm,
        Mapping {
            size_kb,
            rss_kb,
            perms,
            path,
        },
    ))
}

/// The median of `v` (the mean of the middle two for an even count); `None` when empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn time_lines_and_medians_skip_failed_runs() {
        let mut r = BenchReport::default();
        for l in [
            "LAB-BENCH-TIME vmm=ovmm run=1 start=10.00 marker=12.50 exit=12.75 rc=0",
            "LAB-BENCH-TIME vmm=ovmm run=2 start=20.00 marker=22.00 exit=22.25 rc=0",
            "LAB-BENCH-TIME vmm=ovmm run=3 start=30.00 marker=none exit=31.00 rc=1",
            "LAB-BENCH-TIME vmm=ovmm run=4 start=40.00 marker=43.00 exit=43.25 rc=0",
            "LAB-BENCH-TIME vmm=qemu run=1 start=50.00 marker=55.00 exit=56.00 rc=0\r",
            "LAB-BENCH-TIME vmm=qemu run=2 garbage",
        ] {
            r.feed(l);
        }
        assert_eq!(r.times.len(), 5);
        assert_eq!(r.times[2].to_marker, None);
        assert_eq!(r.medians("ovmm"), Some((2.5, 2.75, 3)));
        assert_eq!(r.medians("qemu"), Some((5.0, 6.0, 1)));
        assert_eq!(r.medians("other"), None);
        assert_eq!(r.problems.len(), 1);
        let table = r.table();
        assert!(table.contains("start -> guest init, median"), "{table}");
        assert!(table.contains("0.50"), "ratio 2.5/5.0 missing:\n{table}");
    }

    #[test]
    fn boot_timer_field() {
        let mut r = BenchReport::default();
        for l in [
            "LAB-BENCH-TIME vmm=ovmm run=1 start=1.0 marker=3.5 exit=4.0 rc=0 boot_timer_ms=2400",
            "LAB-BENCH-TIME vmm=ovmm run=2 start=1.0 marker=3.7 exit=4.0 rc=0 boot_timer_ms=2600",
            "LAB-BENCH-TIME vmm=ovmm run=3 start=1.0 marker=none exit=4.0 rc=1 boot_timer_ms=9000",
            "LAB-BENCH-TIME vmm=qemu run=1 start=1.0 marker=3.5 exit=4.0 rc=0 boot_timer_ms=none",
        ] {
            r.feed(l);
        }
        assert_eq!(r.times[0].boot_timer, Some(2.4));
        assert_eq!(r.times[3].boot_timer, None);
        assert_eq!(r.boot_timer_median("ovmm"), Some(2.5));
        assert_eq!(r.boot_timer_median("qemu"), None);
        let table = r.table();
        assert!(table.contains("start -> guest init, boot timer"), "{table}");
        assert!(table.contains("2.50 s"), "{table}");
        assert!(table.contains("boot timer 2.40"), "{table}");
    }

    #[test]
    fn guest_ram_is_excluded_from_overhead() {
        let mut r = BenchReport::default();
        for l in [
            "LAB-SMAPS vmm=ovmm 400000-500000 r-xp 1024 900 /bin/ovmm",
            "LAB-SMAPS vmm=ovmm 7f0000000000-7f0020000000 rw-p 524288 40000 [anon]",
            "LAB-SMAPS vmm=ovmm 7f1000000000-7f1000800000 rw-p 8192 64 [anon]",
            "LAB-SMAPS vmm=ovmm 7f2868021000-7f2870000000 ---p 131004 0 [anon]",
            "LAB-SMAPS vmm=ovmm 7ffd00000000-7ffd00021000 rw-p 132 20 [stack]",
            "LAB-SMAPS vmm=qemu 7f0000000000-7f0020200000 rw-p 526336 50000 /memfd:pc.ram",
            "LAB-SMAPS vmm=qemu 7f3000000000-7f3000100000 r--p 1024 1000 /usr/lib/x86_64-linux-gnu/libglib-2.0.so.0",
        ] {
            r.feed(l);
        }
        let o = r.memory("ovmm").unwrap();
        assert_eq!(o.maps, 5);
        assert_eq!(o.guest_ram_maps, 1);
        assert_eq!(o.guest_ram_size_kb, 524288);
        assert_eq!(o.total_rss_kb, 900 + 40000 + 64 + 20);
        assert_eq!(o.overhead_kb(), 984);
        let q = r.memory("qemu").unwrap();
        assert_eq!(q.overhead_kb(), 1000);
        assert!(r.memory("none").is_none());
    }

    #[test]
    fn large_file_mappings_are_not_guest_ram() {
        let m = Mapping {
            size_kb: 1 << 20,
            rss_kb: 10,
            perms: "rw-p".into(),
            path: "/lab/guest/vmlinuz".into(),
        };
        assert!(!m.is_guest_ram());
    }
}
