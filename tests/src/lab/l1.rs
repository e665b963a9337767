//! Booting the emulated host (L1): QEMU TCG with nested virtualization and an emulated IOMMU
//! (x86: q35, nested SVM, Intel IOMMU; arm64: virt with EL2, GICv3 and an SMMUv3). Its serial
//! console streams into a log file and to a line callback; a hang guard stops QEMU.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::arch::Arch;
use super::report::BootEnd;
use super::LabError;

/// One L1 boot's settings.
#[derive(Debug, Clone)]
pub struct L1Config {
    /// The emulated host's architecture.
    pub arch: Arch,
    /// Kernel for L1.
    pub kernel: PathBuf,
    /// L1 initramfs (built by `build-l1-initrd.sh`).
    pub initrd: PathBuf,
    /// L1's CPU model (QEMU `-cpu`).
    pub cpu: String,
    /// L1 vCPUs (QEMU runs one host thread per vCPU).
    pub smp: u32,
    /// L1 memory in MiB.
    pub memory_mib: u32,
    /// Extra QEMU arguments (devices for scenarios).
    pub extra_args: Vec<String>,
    /// Serial log file to write.
    pub log: PathBuf,
    /// Hang guard: QEMU is killed after this long.
    pub hang_secs: u64,
}

/// The QEMU command line for `cfg` (without the program name).
pub fn qemu_args(cfg: &L1Config) -> Vec<String> {
    let mut args: Vec<String> = cfg
        .arch
        .machine_args()
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend([
        "-cpu".to_string(),
        cfg.cpu.clone(),
        "-smp".to_string(),
        cfg.smp.to_string(),
        "-m".to_string(),
        cfg.memory_mib.to_string(),
        "-nodefaults".to_string(),
        "-display".to_string(),
        "none".to_string(),
        "-serial".to_string(),
        "stdio".to_string(),
        "-no-reboot".to_string(),
    ]);
    args.extend(cfg.extra_args.iter().cloned());
    args.extend([
        "-kernel".to_string(),
        cfg.kernel.display().to_string(),
        "-initrd".to_string(),
        cfg.initrd.display().to_string(),
        "-append".to_string(),
        cfg.arch.kernel_append().to_string(),
    ]);
    args
}

/// Checks extra L1 arguments: user-mode networks must say `restrict=on`, so that test traffic
/// never leaves QEMU.
pub fn check_extra_args(args: &[String]) -> Result<(), LabError> {
    for pair in args.windows(2) {
        let (opt, value) = (pair[0].as_str(), pair[1].as_str());
        let user_net = (opt == "-netdev" && value.starts_with("user"))
            || (opt == "-nic" && value.starts_with("user"));
        if user_net && !value.split(',').any(|p| p == "restrict=on") {
            return Err(LabError::Scenario(format!(
                "L1 argument '{opt} {value}' needs restrict=on: lab traffic must stay inside QEMU"
            )));
        }
    }
    Ok(())
}

/// How one boot went.
#[derive(Debug)]
pub struct BootResult {
    /// Wall-clock seconds from QEMU's start to its exit.
    pub wall_secs: f64,
    /// Why it ended.
    pub end: BootEnd,
}

enum Event {
    Line(String),
    Closed,
}

/// Boots L1 and feeds every console line (QEMU's stderr too, prefixed `qemu: `) to `on_line`,
/// which returns `true` once the run is complete (after that QEMU gets a few seconds to power
/// off by itself). Returns when QEMU exits or the hang guard fires.
pub fn boot(cfg: &L1Config, on_line: &mut dyn FnMut(&str) -> bool) -> Result<BootResult, LabError> {
    let mut log = File::create(&cfg.log).map_err(|source| LabError::Io {
        what: format!("creating the L1 log {}", cfg.log.display()),
        source,
    })?;
    let args = qemu_args(cfg);
    let qemu = cfg.arch.qemu().0;
    // Best effort: the command line heads the log.
    let _ = writeln!(log, "# {qemu} {}", args.join(" "));
    let mut cmd = Command::new(qemu);
    cmd.args(&args);
    run_console(cmd, &mut log, cfg.hang_secs, on_line)
}

/// Runs `cmd` with stdin closed, passing its stdout and stderr lines (stderr prefixed `qemu: `)
/// to `log` and `on_line`, under the hang guard; see [`boot`].
pub fn run_console(
    mut cmd: Command,
    log: &mut File,
    hang_secs: u64,
    on_line: &mut dyn FnMut(&str) -> bool,
) -> Result<BootResult, LabError> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Io {
            what: format!("starting {}", cmd.get_program().to_string_lossy()),
            source,
        })?;
    let (tx, rx) = mpsc::channel();
    let readers = [
        child.stdout.take().map(|s| spawn_reader(s, "", tx.clone())),
        child
            .stderr
            .take()
            .map(|s| spawn_reader(s, "qemu: ", tx.clone())),
    ];
    drop(tx);
    let open_readers = readers.iter().filter(|r| r.is_some()).count();
    let end = pump(
        &mut child,
        &rx,
        open_readers,
        start,
        hang_secs,
        log,
        on_line,
    );
    for reader in readers.into_iter().flatten() {
        let _ = reader.join();
    }
    Ok(BootResult {
        wall_secs: start.elapsed().as_secs_f64(),
        end,
    })
}

fn spawn_reader<R: Read + Send + 'static>(
    stream: R,
    prefix: &'static str,
    tx: mpsc::Sender<Event>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf);
                    let line = text.trim_end_matches(['\n', '\r']);
                    if tx.send(Event::Line(format!("{prefix}{line}"))).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(Event::Closed);
    })
}

// Moves lines from the readers to the log and `on_line` until both streams close, then reaps QEMU.
fn pump(
    child: &mut Child,
    rx: &mpsc::Receiver<Event>,
    mut open: usize,
    start: Instant,
    hang_secs: u64,
    log: &mut File,
    on_line: &mut dyn FnMut(&str) -> bool,
) -> BootEnd {
    let guard = Duration::from_secs(hang_secs);
    let mut complete_at: Option<Instant> = None;
    while open > 0 {
        let mut deadline = start + guard;
        if let Some(t) = complete_at {
            // L1 said it is done; give it a moment to power off, then stop it.
            deadline = deadline.min(t + Duration::from_secs(20));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Event::Line(line)) => {
                let _ = writeln!(log, "{line}");
                if on_line(&line) && complete_at.is_none() {
                    complete_at = Some(Instant::now());
                }
            }
            Ok(Event::Closed) => open -= 1,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                if complete_at.is_some() {
                    let _ = writeln!(log, "# L1 did not power off after LAB-DONE; QEMU stopped");
                    return BootEnd::Done;
                }
                let _ = writeln!(log, "# hang guard: QEMU stopped after {hang_secs} s");
                return BootEnd::Hang(hang_secs);
            }
        }
    }
    let _ = log.flush();
    match child.wait() {
        Ok(_) if complete_at.is_some() => BootEnd::Done,
        Ok(status) => BootEnd::QemuExited(status.to_string()),
        Err(e) => BootEnd::QemuExited(format!("wait failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env;
    use std::fs;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn command_line_has_nested_svm_iommu_and_extras() {
        let cfg = L1Config {
            arch: Arch::X86_64,
            kernel: "/k/vmlinuz".into(),
            initrd: "/k/l1.cpio".into(),
            cpu: Arch::X86_64.default_cpu().into(),
            smp: 2,
            memory_mib: 4096,
            extra_args: words("-device edu"),
            log: "/tmp/x.log".into(),
            hang_secs: 10,
        };
        let line = qemu_args(&cfg).join(" ");
        assert_eq!(
            line,
            "-accel tcg -M q35,kernel-irqchip=split \
             -device intel-iommu,intremap=on,caching-mode=on -cpu EPYC,+svm,+npt -smp 2 -m 4096 -nodefaults \
             -display none -serial stdio -no-reboot -device edu -kernel /k/vmlinuz \
             -initrd /k/l1.cpio -append console=ttyS0 loglevel=1 intel_iommu=on panic=-1"
        );
    }

    #[test]
    fn arm64_command_line_has_el2_smmu_and_the_chosen_cpu() {
        let cfg = L1Config {
            arch: Arch::Aarch64,
            kernel: "/k/vmlinuz".into(),
            initrd: "/k/l1.cpio".into(),
            cpu: "cortex-a53".into(),
            smp: 1,
            memory_mib: 4096,
            extra_args: words("-device edu"),
            log: "/tmp/x.log".into(),
            hang_secs: 10,
        };
        assert_eq!(
            qemu_args(&cfg).join(" "),
            "-accel tcg -M virt,virtualization=on,gic-version=3,iommu=smmuv3 -cpu cortex-a53 \
             -smp 1 -m 4096 -nodefaults -display none -serial stdio -no-reboot -device edu \
             -kernel /k/vmlinuz -initrd /k/l1.cpio -append console=ttyAMA0 loglevel=1 panic=-1"
        );
    }

    fn console(script: &str, hang_secs: u64) -> (BootResult, Vec<String>, String) {
        // Tests run in parallel: one log file each.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let log_path = env::temp_dir().join(format!("ovmm-l1-test-{}-{n}.log", std::process::id()));
        let mut log = File::create(&log_path).unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        let mut lines = Vec::new();
        let result = run_console(cmd, &mut log, hang_secs, &mut |l: &str| {
            lines.push(l.to_string());
            l == "LAB-DONE"
        })
        .unwrap();
        let text = fs::read_to_string(&log_path).unwrap();
        let _ = fs::remove_file(&log_path);
        (result, lines, text)
    }

    #[test]
    fn console_lines_reach_log_and_callback() {
        let (r, lines, log) = console("echo one; echo 'two\r'; echo oops >&2; echo LAB-DONE", 30);
        assert_eq!(r.end, BootEnd::Done);
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(sorted, ["LAB-DONE", "one", "qemu: oops", "two"]);
        // stdout and stderr have a reader thread each: only the order within a stream is fixed.
        let from_stdout: Vec<&str> = log
            .lines()
            .filter(|l| !l.starts_with("qemu: ") && !l.starts_with('#'))
            .collect();
        assert_eq!(from_stdout, ["one", "two", "LAB-DONE"], "{log}");
        assert!(log.contains("qemu: oops\n"), "{log}");
    }

    #[test]
    fn early_exit_is_reported_with_status() {
        let (r, lines, _) = console("echo half; exit 3", 30);
        assert_eq!(r.end, BootEnd::QemuExited("exit status: 3".into()));
        assert_eq!(lines, ["half"]);
    }

    #[test]
    fn hang_guard_stops_a_silent_run() {
        let (r, _, log) = console("echo started; exec sleep 30", 1);
        assert_eq!(r.end, BootEnd::Hang(1));
        assert!(r.wall_secs < 10.0, "took {} s", r.wall_secs);
        assert!(
            log.contains("# hang guard: QEMU stopped after 1 s"),
            "{log}"
        );
    }

    #[test]
    fn user_networks_must_be_restricted() {
        assert!(check_extra_args(&words(
            "-device e1000e,netdev=n0 -netdev user,id=n0,restrict=on"
        ))
        .is_ok());
        let e = check_extra_args(&words("-netdev user,id=n0"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'-netdev user,id=n0' needs restrict=on"), "{e}");
        assert!(check_extra_args(&words("-nic user,model=e1000")).is_err());
        assert!(check_extra_args(&words("-netdev socket,id=s,listen=:1234")).is_ok());
    }
}
