//! The virtio-blk benchmark: in L1, the guest reads a 256 MiB image with `dd iflag=direct`
//! from ovmm's virtio-blk and from QEMU's virtio-blk-pci (`resources/lab/x86/blk-bench.sh`);
//! this module boots L1 for it, parses the `LAB-BLK-BENCH` lines and prints medians and the
//! ovmm/QEMU throughput ratio.

use super::assets;
use super::bench::median;
use super::report::field;
use super::scenario::L1Setup;
use super::{Lab, LabError, L1_BOOT_ALLOWANCE_SECS};

/// One guest `dd` run.
#[derive(Debug, Clone, PartialEq)]
pub struct BlkSample {
    /// `ovmm` or `qemu`.
    pub vmm: String,
    /// Run number.
    pub run: u32,
    /// Bytes the guest read.
    pub bytes: u64,
    /// The guest's time for the read, if it reported one.
    pub secs: Option<f64>,
    /// The VMM's exit status.
    pub rc: i32,
}

impl BlkSample {
    /// MiB per second, for a run that completed.
    pub fn mib_per_sec(&self) -> Option<f64> {
        let secs = self.secs.filter(|s| *s > 0.0)?;
        (self.rc == 0 && self.bytes > 0).then(|| self.bytes as f64 / f64::from(1 << 20) / secs)
    }
}

/// The benchmark's results.
#[derive(Debug, Default, Clone)]
pub struct BlkBenchReport {
    /// Every run, in order.
    pub samples: Vec<BlkSample>,
    /// The `LAB-BLK-BENCH-BEGIN` line's fields.
    pub header: String,
    /// Lines L1 printed about failed runs.
    pub problems: Vec<String>,
    /// Wall time of the whole benchmark.
    pub wall_secs: f64,
}

impl BlkBenchReport {
    /// Takes one console line from L1.
    pub fn feed(&mut self, raw: &str) {
        let line = raw.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("LAB-BLK-BENCH ") {
            if let Some(sample) = parse_sample(rest) {
                self.samples.push(sample);
            }
        } else if let Some(rest) = line.strip_prefix("LAB-BLK-BENCH-BEGIN ") {
            self.header = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("LAB-BENCH-LOG ") {
            self.problems.push(rest.to_string());
        }
    }

    /// Median MiB/s of `vmm` over its completed runs, with how many runs that was.
    pub fn median_mib_per_sec(&self, vmm: &str) -> Option<(f64, usize)> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.vmm == vmm)
            .filter_map(BlkSample::mib_per_sec)
            .collect();
        let n = v.len();
        median(v).map(|m| (m, n))
    }

    /// Median over runs of ovmm's rate divided by QEMU's in the same run (the two alternate, so
    /// this follows the machine's load better than a ratio of medians), with the pair count.
    pub fn median_pair_ratio(&self) -> Option<(f64, usize)> {
        let rate = |vmm: &str, run: u32| {
            self.samples
                .iter()
                .find(|s| s.vmm == vmm && s.run == run)
                .and_then(BlkSample::mib_per_sec)
        };
        let ratios: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.vmm == "ovmm")
            .filter_map(|s| Some(rate("ovmm", s.run)? / rate("qemu", s.run)?))
            .collect();
        let n = ratios.len();
        median(ratios).map(|m| (m, n))
    }

    /// The result table.
    pub fn table(&self) -> String {
        let mut s = format!("virtio-blk benchmark in L1: {}\n", self.header);
        s.push_str("guest: dd if=/dev/vda of=/dev/null bs=1M iflag=direct over a 256 MiB raw image in L1's memory;\n");
        s.push_str("1 vCPU, 512 MiB; QEMU: -M microvm,pcie=on -device virtio-blk-pci (aio=threads, cache=writeback)\n\n");
        for sample in &self.samples {
            s.push_str(&format!(
                "  run {} {:<5} {}\n",
                sample.run,
                sample.vmm,
                match sample.mib_per_sec() {
                    Some(r) => format!("{r:.1} MiB/s ({:.2} s)", sample.secs.unwrap_or(0.0)),
                    None => format!("failed (exit status {})", sample.rc),
                }
            ));
        }
        let (o, q) = (
            self.median_mib_per_sec("ovmm"),
            self.median_mib_per_sec("qemu"),
        );
        let cell = |m: Option<(f64, usize)>| {
            m.map(|(v, n)| format!("{v:.1} MiB/s ({n} runs)"))
                .unwrap_or_else(|| "-".into())
        };
        s.push_str(&format!(
            "\nmedian sequential read: ovmm {}, QEMU {}",
            cell(o),
            cell(q)
        ));
        if let (Some((o, _)), Some((q, _))) = (o, q) {
            s.push_str(&format!(", ovmm/QEMU {:.2}", o / q));
        }
        if let Some((r, n)) = self.median_pair_ratio() {
            s.push_str(&format!("; median of per-run ratios {r:.2} ({n} pairs)"));
        }
        s.push('\n');
        for p in &self.problems {
            s.push_str(&format!("  L1: {p}\n"));
        }
        s.push_str(&format!("wall time: {:.0} s\n", self.wall_secs));
        s
    }
}

fn parse_sample(rest: &str) -> Option<BlkSample> {
    Some(BlkSample {
        vmm: field(rest, "vmm")?.to_string(),
        run: field(rest, "run")?.parse().ok()?,
        bytes: field(rest, "bytes")?.parse().ok()?,
        secs: field(rest, "secs").and_then(|s| s.parse().ok()),
        rc: field(rest, "rc")?.parse().ok()?,
    })
}

impl Lab {
    /// The virtio-blk benchmark: `runs` guest reads through each VMM.
    pub fn bench_blk(&self, runs: u32) -> Result<BlkBenchReport, LabError> {
        let t0 = std::time::Instant::now();
        let prepared = assets::prepare(&self.paths, true, true)?;
        let plan = format!("{}bench-runs {runs}\n", self.plan_header("blk-bench"));
        let hang_secs = L1_BOOT_ALLOWANCE_SECS + 60 + u64::from(runs) * 2 * 300;
        let mut report = BlkBenchReport::default();
        let mut done = false;
        let progress = self.progress;
        let (cfg, result) = self.boot_with_plan(
            &prepared,
            "blk-bench",
            &plan,
            &L1Setup::default(),
            hang_secs,
            &mut |line: &str| {
                report.feed(line);
                if progress && (line.starts_with("LAB-BLK-BENCH ") || line.starts_with("LAB-FATAL"))
                {
                    eprintln!("lab: {}", line.trim_end());
                }
                done |= line.starts_with("LAB-DONE");
                done
            },
        )?;
        report.wall_secs = t0.elapsed().as_secs_f64();
        if report.samples.is_empty() {
            return Err(LabError::Run(format!(
                "the virtio-blk benchmark produced no runs (L1 {}); see {}",
                result.end,
                cfg.log.display()
            )));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runs_and_takes_medians() {
        let mut r = BlkBenchReport::default();
        for line in [
            "LAB-BLK-BENCH-BEGIN runs=3 image_bytes=268435456 ovmm=/bin/ovmm qemu=QEMU 7.2",
            "LAB-BLK-BENCH vmm=ovmm run=1 bytes=268435456 secs=4.00 rc=0\r",
            "LAB-BLK-BENCH vmm=qemu run=1 bytes=268435456 secs=8.00 rc=0",
            "LAB-BLK-BENCH vmm=ovmm run=2 bytes=268435456 secs=2.00 rc=0",
            "LAB-BLK-BENCH vmm=qemu run=2 bytes=0 secs=none rc=1",
            "LAB-BENCH-LOG qemu | something failed",
            "LAB-BLK-BENCH vmm=ovmm run=3 bytes=268435456 secs=3.20 rc=0",
            "LAB-BLK-BENCH vmm=qemu run=3 bytes=268435456 secs=6.40 rc=0",
        ] {
            r.feed(line);
        }
        assert_eq!(r.samples.len(), 6);
        assert_eq!(r.samples[3].secs, None);
        assert_eq!(r.samples[3].mib_per_sec(), None);
        // ovmm: 64, 128, 80 MiB/s -> 80; QEMU: 32, 40 -> 36 (the failed run is left out).
        assert_eq!(r.median_mib_per_sec("ovmm"), Some((80.0, 3)));
        assert_eq!(r.median_mib_per_sec("qemu"), Some((36.0, 2)));
        let t = r.table();
        assert!(t.contains("median sequential read: ovmm 80.0 MiB/s (3 runs), QEMU 36.0 MiB/s (2 runs), ovmm/QEMU 2.22"), "{t}");
        assert!(t.contains("run 2 qemu  failed (exit status 1)"), "{t}");
        // Pairs: run 1 64/32 = 2.0, run 3 80/40 = 2.0 (run 2 has no QEMU rate).
        assert_eq!(r.median_pair_ratio(), Some((2.0, 2)));
        assert!(t.contains("median of per-run ratios 2.00 (2 pairs)"), "{t}");
        assert!(t.contains("L1: qemu | something failed"), "{t}");
    }
}
