//! The control API of a real `ovmm` process on this machine's /dev/kvm, driven with the
//! API's own client: `GET /vm`, the boot timer, pause and resume (the guest's console output
//! stops and starts again), reset, power-off through the GED event register, a burst of
//! malformed requests, stale and busy sockets, the socket's removal on every way out, `ovmm
//! api`, and `--dump-acpi` disassembled with `iasl -d`.
//!
//! The guest is a tiny 64-bit ELF "kernel": it writes the boot-timer port, then loops printing
//! a newline on COM1 and polling the GED event register; when the power-button bit is set it powers
//! off through the ACPI sleep register. (A real Linux guest's ACPI power button is tested in
//! the lab.) Without a usable /dev/kvm these tests fail and say why.

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api::client::{self, Response};
use serde_json::Value;

fn require_kvm() {
    if let Err(e) = vmm::vm::open_kvm() {
        panic!("the API tests need a usable /dev/kvm and could not get one: {e}");
    }
}

/// 64-bit: boot timer, then print newlines and poll the GED register until the power button.
const TICK_UNTIL_POWER_BUTTON: &[u8] = &[
    0xb0, 0x01, // mov al, 1
    0xe6, 0xf5, // out 0xf5, al            (boot timer)
    // top:
    0x66, 0xba, 0x10, 0x06, // mov dx, 0x610
    0xed, // in eax, dx              (GED events, read-to-clear)
    0xa8, 0x01, // test al, 1
    0x75, 0x12, // jnz off
    0xb9, 0x20, 0x4e, 0x00, 0x00, // mov ecx, 20000
    // delay:
    0xff, 0xc9, // dec ecx
    0x75, 0xfc, // jnz delay
    0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xb0, b'\n', // mov al, '\n' (a newline: the UART passes output on at once)
    0xee,  // out dx, al
    0xeb, 0xe5, // jmp top
    // off:
    0xb0, 0x34, // mov al, SLP_EN | S5 << 2
    0x66, 0xba, 0x00, 0x06, // mov dx, 0x600
    0xee, // out dx, al
    0xeb, 0xfe, // jmp $
];

/// 64-bit: exit with status 42 through the test-exit port.
const EXIT_42: &[u8] = &[0xb0, 42, 0xe6, 0xf4, 0xeb, 0xfe];

/// 64-bit: spin forever.
const SPIN: &[u8] = &[0xeb, 0xfe];

/// A scratch directory per test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ovmm-api-kvm-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Wraps 64-bit code in a minimal ELF executable loaded and entered at 16 MiB.
    fn kernel(&self, code: &[u8]) -> PathBuf {
        const LOAD: u64 = 0x100_0000;
        const CODE_OFFSET: usize = 0x1000;
        let mut elf = vec![0u8; CODE_OFFSET];
        elf[..16].copy_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        let mut put = |at: usize, bytes: &[u8]| elf[at..at + bytes.len()].copy_from_slice(bytes);
        put(16, &2u16.to_le_bytes()); // ET_EXEC
        put(18, &0x3eu16.to_le_bytes()); // EM_X86_64
        put(20, &1u32.to_le_bytes());
        put(24, &LOAD.to_le_bytes()); // e_entry
        put(32, &64u64.to_le_bytes()); // e_phoff
        put(52, &64u16.to_le_bytes()); // e_ehsize
        put(54, &56u16.to_le_bytes()); // e_phentsize
        put(56, &1u16.to_le_bytes()); // e_phnum
        put(58, &64u16.to_le_bytes()); // e_shentsize
        put(64, &1u32.to_le_bytes()); // PT_LOAD
        put(68, &5u32.to_le_bytes()); // R+X
        put(72, &(CODE_OFFSET as u64).to_le_bytes());
        put(80, &LOAD.to_le_bytes());
        put(88, &LOAD.to_le_bytes());
        put(96, &(code.len() as u64).to_le_bytes());
        put(104, &(code.len() as u64).to_le_bytes());
        put(112, &0x1000u64.to_le_bytes());
        elf.extend_from_slice(code);
        let path = self.path("kernel.elf");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&elf))
            .unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running ovmm with an API socket; killed on drop if still running.
struct Ovmm {
    child: Child,
    socket: PathBuf,
    console: PathBuf,
    stderr: PathBuf,
}

const HANG_GUARD: Duration = Duration::from_secs(120);

impl Ovmm {
    fn start(s: &Scratch, code: &[u8], extra: &[&str]) -> Ovmm {
        let socket = s.path("api.sock");
        let console = s.path("console");
        let stderr = s.path("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_ovmm"))
            .arg("--kernel")
            .arg(s.kernel(code))
            .args(["--memory", "64M", "--timeout", "300", "-v"])
            .arg(format!("--serial=file={}", console.display()))
            .arg("--api-socket")
            .arg(&socket)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start ovmm");
        let mut vm = Ovmm {
            child,
            socket,
            console,
            stderr,
        };
        vm.wait_for_socket();
        vm
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn wait_for_socket(&mut self) {
        let t0 = Instant::now();
        while client::request(&self.socket, "GET", "/vm", None).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "ovmm exited ({status}) before serving its API:\n{}",
                    self.stderr()
                );
            }
            assert!(
                t0.elapsed() < HANG_GUARD,
                "no API socket:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn call(&self, method: &str, path: &str) -> (u16, Value) {
        let r: Response = client::request(&self.socket, method, path, None)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.stderr()));
        let json = r
            .json()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}: {}", r.body));
        (r.status, json)
    }

    fn console_len(&self) -> usize {
        std::fs::read(&self.console).map_or(0, |b| b.len())
    }

    /// Waits until the guest printed more than `than` bytes.
    fn wait_output_beyond(&self, than: usize) -> usize {
        let t0 = Instant::now();
        loop {
            let n = self.console_len();
            if n > than {
                return n;
            }
            assert!(
                t0.elapsed() < HANG_GUARD,
                "the guest printed nothing more than {than} bytes:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `GET /vm` until `check` accepts it.
    fn wait_vm(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let t0 = Instant::now();
        loop {
            let (status, vm) = self.call("GET", "/vm");
            assert_eq!(status, 200);
            if check(&vm) {
                return vm;
            }
            assert!(
                t0.elapsed() < HANG_GUARD,
                "never {what}: {vm}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_exit(&mut self) -> i32 {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status
                    .code()
                    .unwrap_or_else(|| panic!("ovmm died by a signal: {status}"));
            }
            if t0.elapsed() > HANG_GUARD {
                let _ = self.child.kill();
                panic!("ovmm did not exit:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill() on the pid of our own child process.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }
}

impl Drop for Ovmm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn get_vm_boot_timer_pause_resume_and_power_off() {
    require_kvm();
    let s = Scratch::new("lifecycle");
    let mut vm = Ovmm::start(&s, TICK_UNTIL_POWER_BUTTON, &["--cpus", "2"]);

    let info = vm.wait_vm("reached userspace", |v| !v["boot_time_ms"].is_null());
    assert_eq!(info["state"], "running");
    assert_eq!(info["boots"], 1);
    assert_eq!(info["cpus"], 2);
    assert_eq!(info["memory_bytes"], 64 << 20);
    assert_eq!(info["config"]["memory"], "64M");
    assert_eq!(info["config"]["api-socket"], vm.socket.to_str().unwrap());
    let boot_ms = info["boot_time_ms"].as_u64().unwrap();
    assert!(boot_ms <= info["uptime_ms"].as_u64().unwrap(), "{info}");
    assert!(
        vm.stderr()
            .contains("boot timer: the guest reached userspace"),
        "{}",
        vm.stderr()
    );

    let (status, devices) = vm.call("GET", "/vm/devices");
    assert_eq!(status, 200);
    let list = devices["devices"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{devices}");
    assert_eq!(list[0]["guest_address"], "0000:00:00.0");
    assert_eq!(list[0]["kind"], "host-bridge");
    assert_eq!(list[0]["class_code"], "0x060000");

    // Pause: once answered, no guest code runs, so the console stops growing.
    let before = vm.wait_output_beyond(0);
    let (status, r) = vm.call("PUT", "/vm/pause");
    assert_eq!((status, r["state"].as_str()), (200, Some("paused")), "{r}");
    let frozen = vm.console_len();
    assert!(frozen >= before);
    assert_eq!(vm.call("GET", "/vm").1["state"], "paused");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(vm.console_len(), frozen, "the guest ran while paused");
    let (status, r) = vm.call("PUT", "/vm/pause");
    assert_eq!(
        (status, r["error"].as_str()),
        (409, Some("the VM is already paused"))
    );
    let (status, _) = vm.call("PUT", "/vm/power-off");
    assert_eq!(status, 409, "a paused guest cannot see its power button");

    // `ovmm api` is a client too.
    let out = Command::new(env!("CARGO_BIN_EXE_ovmm"))
        .arg("api")
        .arg(&vm.socket)
        .args(["PUT", "/vm/resume"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["state"], "running");
    vm.wait_output_beyond(frozen);
    assert_eq!(vm.call("GET", "/vm").1["state"], "running");
    let out = Command::new(env!("CARGO_BIN_EXE_ovmm"))
        .arg("api")
        .arg(&vm.socket)
        .args(["PUT", "/vm/resume"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("the VM is not paused"));

    // Power-off: the guest sees the power-button event and powers off; ovmm exits 0.
    let (status, r) = vm.call("PUT", "/vm/power-off");
    assert_eq!(status, 202, "{r}");
    assert_eq!(vm.wait_exit(), 0, "{}", vm.stderr());
    assert!(!vm.socket.exists(), "the socket outlived ovmm");
}

#[test]
fn reset_reboots_the_vm() {
    require_kvm();
    let s = Scratch::new("reset");
    let mut vm = Ovmm::start(&s, TICK_UNTIL_POWER_BUTTON, &[]);
    vm.wait_vm("reached userspace", |v| !v["boot_time_ms"].is_null());
    let (status, r) = vm.call("PUT", "/vm/reset");
    assert_eq!(status, 202, "{r}");
    let info = vm.wait_vm("rebooted and reached userspace", |v| {
        v["boots"] == 2 && !v["boot_time_ms"].is_null()
    });
    assert_eq!(info["state"], "running");
    assert!(vm.stderr().contains("booting the guest (boot 2)"));
    assert_eq!(vm.call("PUT", "/vm/power-off").0, 202);
    assert_eq!(vm.wait_exit(), 0, "{}", vm.stderr());

    // With --no-reboot, a reset ends the run like a guest reboot: status 0.
    let mut vm = Ovmm::start(&s, TICK_UNTIL_POWER_BUTTON, &["--no-reboot"]);
    assert_eq!(vm.call("PUT", "/vm/reset").0, 202);
    assert_eq!(vm.wait_exit(), 0, "{}", vm.stderr());
    assert!(!vm.socket.exists());
}

/// Malformed requests of every kind, many at once.
fn malformed() -> Vec<Vec<u8>> {
    let mut huge_head = b"GET /vm HTTP/1.1\r\n".to_vec();
    huge_head.extend(std::iter::repeat_n(b'X', 20_000));
    let mut big_body = b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 100000\r\n\r\n".to_vec();
    big_body.extend(std::iter::repeat_n(b'{', 100_000));
    vec![
        b"\x00\x01\x02\x03\xff\xfe\xfd garbage \r\n\r\n".to_vec(),
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec(),
        b"DELETE /vm HTTP/1.1\r\n\r\n".to_vec(),
        b"GET /vm/nothing-here HTTP/1.1\r\n\r\n".to_vec(),
        b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 9\r\n\r\n{not json".to_vec(),
        b"PUT /vm/reset HTTP/1.1\r\nContent-Length: 14\r\n\r\n{\"force\":true}".to_vec(),
        b"PUT /vm/power-off HTTP/1.1\r\nContent-Length: 3\r\n\r\n[1]".to_vec(),
        b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n".to_vec(),
        b"PUT /vm/pause HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        b"GET /vm HTTP/3.0\r\n\r\n".to_vec(),
        b"GET /vm HT".to_vec(),
        b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 10\r\n\r\n{".to_vec(),
        Vec::new(),
        huge_head,
        big_body,
    ]
}

#[test]
fn a_burst_of_malformed_requests_leaves_the_vm_running() {
    require_kvm();
    let s = Scratch::new("burst");
    let mut vm = Ovmm::start(&s, TICK_UNTIL_POWER_BUTTON, &[]);
    // Two clients that send half a request and hold the connection open.
    let holders: Vec<_> = (0..2)
        .map(|_| {
            let socket = vm.socket.clone();
            std::thread::spawn(move || {
                client::exchange_raw(&socket, b"GET /vm HTTP/1.1\r\n", false)
            })
        })
        .collect();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let socket = vm.socket.clone();
            std::thread::spawn(move || {
                let mut answered = 0;
                for bytes in malformed() {
                    let answer = client::exchange_raw(&socket, &bytes, true).unwrap();
                    if let Ok(r) = client::parse_response(&answer) {
                        assert!((400..=505).contains(&r.status), "{r:?}");
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    // Meanwhile the API still answers promptly.
    let t0 = Instant::now();
    assert_eq!(vm.call("GET", "/vm").0, 200);
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "GET /vm waited behind bad clients"
    );
    for t in threads {
        // Everything but the three requests cut short (closed halfway or empty) is answered.
        assert_eq!(t.join().unwrap(), malformed().len() - 3);
    }
    for h in holders {
        let r = client::parse_response(&h.join().unwrap().unwrap()).unwrap();
        assert_eq!(r.status, 408);
    }
    // The VM runs on, untouched: running, still printing, and it powers off on request.
    let info = vm.call("GET", "/vm").1;
    assert_eq!(
        (info["state"].as_str(), info["boots"].as_u64()),
        (Some("running"), Some(1))
    );
    let n = vm.console_len();
    vm.wait_output_beyond(n);
    assert_eq!(vm.call("PUT", "/vm/power-off").0, 202);
    assert_eq!(vm.wait_exit(), 0, "{}", vm.stderr());
}

#[test]
fn stale_socket_replaced_busy_socket_refused_removed_on_signal() {
    require_kvm();
    let s = Scratch::new("stale");
    drop(UnixListener::bind(s.path("api.sock")).unwrap());
    let mut vm = Ovmm::start(&s, TICK_UNTIL_POWER_BUTTON, &[]);
    assert!(vm.stderr().contains("is a stale socket"), "{}", vm.stderr());

    // A second ovmm on the same socket: usage error, and the first keeps its socket.
    let out = Command::new(env!("CARGO_BIN_EXE_ovmm"))
        .arg("--kernel")
        .arg(s.path("kernel.elf"))
        .arg("--api-socket")
        .arg(&vm.socket)
        .args(["--serial", "none"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use"), "{err}");
    assert_eq!(vm.call("GET", "/vm").0, 200);

    // A file that is not a socket is never replaced.
    let regular = s.path("regular");
    std::fs::write(&regular, "keep").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ovmm"))
        .arg("--kernel")
        .arg(s.path("kernel.elf"))
        .arg("--api-socket")
        .arg(&regular)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a socket"));
    assert_eq!(std::fs::read_to_string(&regular).unwrap(), "keep");

    vm.signal(libc::SIGTERM);
    assert_eq!(vm.wait_exit(), 143);
    assert!(!vm.socket.exists(), "SIGTERM left the socket behind");
}

#[test]
fn socket_is_removed_on_every_way_out() {
    require_kvm();
    let s = Scratch::new("exits");
    // The guest picks an exit status.
    let mut vm = Ovmm::start_unchecked(&s, EXIT_42, &[]);
    assert_eq!(vm.wait_exit(), 42);
    assert!(!vm.socket.exists());
    // --timeout.
    let mut vm = Ovmm::start(&s, SPIN, &["--timeout", "2"]);
    assert_eq!(vm.wait_exit(), 124);
    assert!(!vm.socket.exists());
    // SIGINT while paused.
    let mut vm = Ovmm::start(&s, SPIN, &[]);
    assert_eq!(vm.call("PUT", "/vm/pause").0, 200);
    vm.signal(libc::SIGINT);
    assert_eq!(vm.wait_exit(), 130);
    assert!(!vm.socket.exists());
}

impl Ovmm {
    /// Starts ovmm without waiting for its socket (for guests that end at once).
    fn start_unchecked(s: &Scratch, code: &[u8], extra: &[&str]) -> Ovmm {
        let socket = s.path("api.sock");
        let console = s.path("console");
        let stderr = s.path("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_ovmm"))
            .arg("--kernel")
            .arg(s.kernel(code))
            .args(["--memory", "64M", "--serial", "none"])
            .arg("--api-socket")
            .arg(&socket)
            .args(extra)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Ovmm {
            child,
            socket,
            console,
            stderr,
        }
    }
}

/// Runs `iasl -d FILE` in `dir`; fails (never skips) without iasl.
fn iasl_d(dir: &Path, file: &str) -> String {
    let out = Command::new("iasl")
        .arg("-d")
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run iasl ({e}): install acpica-tools"));
    assert!(out.status.success(), "iasl -d {file}: {out:?}");
    std::fs::read_to_string(dir.join(file.replace(".dat", ".dsl"))).unwrap()
}

#[test]
fn dump_acpi_writes_the_tables_and_exits_without_booting() {
    require_kvm();
    let s = Scratch::new("dump");
    let dir = s.path("tables");
    // The guest would exit 42 if it ran.
    let out = Command::new(env!("CARGO_BIN_EXE_ovmm"))
        .arg("--kernel")
        .arg(s.kernel(EXIT_42))
        .args(["--cpus", "3", "--dump-acpi"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    for name in ["rsdp", "dsdt", "facp", "apic", "mcfg", "xsdt"] {
        let path = dir.join(format!("{name}.dat"));
        assert!(listed.contains(path.to_str().unwrap()), "{listed}");
        assert!(path.metadata().unwrap().len() >= 36, "{name}");
    }
    let apic = iasl_d(&dir, "apic.dat");
    assert_eq!(apic.matches("[Processor Local APIC]").count(), 3, "{apic}");
    let dsdt = iasl_d(&dir, "dsdt.dat");
    for needle in [
        "0xC0000000,         // Range Minimum",
        "Name (_PRT, Package (0x00)",
        "ACPI0013",
        "PNP0C0C",
    ] {
        assert!(dsdt.contains(needle), "no '{needle}' in:\n{dsdt}");
    }
    let facp = iasl_d(&dir, "facp.dat");
    assert!(facp.contains("Hardware Reduced (V5) : 1"), "{facp}");
}
