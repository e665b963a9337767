//! Tier-2 tests: ovmm on this machine's real /dev/kvm with tiny hand-assembled guests.
//!
//! The KVM here may emulate guest code slowly, so each payload is a handful of instructions.
//! Two paths are exercised:
//! - the raw run loop ([`vmm::vcpu::run_loop`] and its exit dispatch) with a real-mode payload
//!   doing port I/O and MMIO against recording devices;
//! - the whole build recipe ([`vmm::runner::run`]: memory, irqchip, legacy devices, ACPI, boot
//!   params, long mode, vCPU threads, event loop) booting tiny 64-bit ELF "kernels" that talk
//!   to the real serial port and test-exit device.
//!
//! Without a usable /dev/kvm these tests fail and say why: they never skip silently.
//!
//! The payloads are x86 machine code: the file is built for x86_64 only (arm64 builds are
//! unit-tested under qemu-user, which has no KVM, and booted in the arm64 lab).
#![cfg(target_arch = "x86_64")]

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devices::bus::BusDevice;
use devices::lifecycle::{GuestRequest, GuestRequests};
use kvm_ioctls::Kvm;
use vm_memory::{Bytes, GuestAddress};
use vmm::config::{SerialConfig, VmConfig};
use vmm::runner::{self, Outcome};
use vmm::vcpu::{run_loop, IoBuses};

fn kvm() -> Kvm {
    match vmm::vm::open_kvm() {
        Ok(k) => k,
        Err(e) => panic!(
            "the KVM smoke tests need a usable /dev/kvm and could not get one: {e}. \
             Run them on a host with KVM (CI machines have it)."
        ),
    }
}

#[derive(Default)]
struct Recorder {
    writes: Vec<(u64, Vec<u8>)>,
    read_value: u8,
}

impl BusDevice for Recorder {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(self.read_value);
    }
    fn write(&mut self, offset: u64, data: &[u8]) {
        self.writes.push((offset, data.to_vec()));
    }
}

/// Real mode, CS:IP = 0:0x1000. Port and MMIO accesses, then exit status 42 and hlt.
const REAL_MODE_PAYLOAD: &[u8] = &[
    0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xb0, b'O', // mov al, 'O'
    0xee, // out dx, al
    0xb0, b'K', // mov al, 'K'
    0xee, // out dx, al
    0xec, // in al, dx          (port device answers 0x5a)
    0xbb, 0x00, 0xd0, // mov bx, 0xd000
    0x8e, 0xdb, // mov ds, bx
    0xa2, 0x10, 0x00, // mov [0x10], al  (MMIO write of 0x5a at 0xd0010)
    0xa0, 0x20, 0x00, // mov al, [0x20]  (MMIO read at 0xd0020: device answers 0xa5)
    0xee, // out dx, al          (echo it to the port device)
    0xb0, 42, // mov al, 42
    0xe6, 0xf4, // out 0xf4, al (test-exit device)
    0xf4, // hlt
];

#[test]
fn real_mode_port_io_and_mmio_dispatch() {
    let kvm = kvm();
    let vm = kvm.create_vm().expect("create a VM");
    let mem = vmm::memory::create(&[(GuestAddress(0), 0x1_0000)]).expect("guest memory");
    vmm::memory::register(&vm, &mem, 0).expect("memory slot");
    mem.write_slice(REAL_MODE_PAYLOAD, GuestAddress(0x1000))
        .unwrap();

    let requests = GuestRequests::new().unwrap();
    let io = IoBuses::default();
    let port = Arc::new(Mutex::new(Recorder {
        read_value: 0x5a,
        ..Default::default()
    }));
    let mmio = Arc::new(Mutex::new(Recorder {
        read_value: 0xa5,
        ..Default::default()
    }));
    io.pio.insert(port.clone(), 0x3f8, 8).unwrap();
    io.mmio.insert(mmio.clone(), 0xd0000, 0x1000).unwrap();
    let exit = Arc::new(Mutex::new(devices::legacy::TestExitDevice::new(
        requests.clone(),
    )));
    io.pio.insert(exit, 0xf4, 1).unwrap();

    let mut vcpu = vm.create_vcpu(0).expect("create a vCPU");
    let mut sregs = vcpu.get_sregs().unwrap();
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    vcpu.set_sregs(&sregs).unwrap();
    let mut regs = vcpu.get_regs().unwrap();
    regs.rip = 0x1000;
    regs.rflags = 2;
    vcpu.set_regs(&regs).unwrap();
    vcpu.set_kvm_immediate_exit(0);

    run_loop(0, vcpu, &io, &requests, &AtomicBool::new(false)).expect("run loop");

    assert_eq!(requests.take(), Some(GuestRequest::Exit(42)));
    assert_eq!(
        port.lock().unwrap().writes,
        vec![(0, vec![b'O']), (0, vec![b'K']), (0, vec![0xa5])]
    );
    assert_eq!(mmio.lock().unwrap().writes, vec![(0x10, vec![0x5a])]);
}

/// Wraps 64-bit code in a minimal ELF executable loaded and entered at 16 MiB.
fn elf_kernel(name: &str, code: &[u8]) -> PathBuf {
    const LOAD: u64 = 0x100_0000;
    const CODE_OFFSET: u64 = 0x1000;
    let mut elf = vec![0u8; CODE_OFFSET as usize];
    elf[..16].copy_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    let put16 =
        |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put16(&mut elf, 16, 2); // ET_EXEC
    put16(&mut elf, 18, 0x3e); // EM_X86_64
    put32(&mut elf, 20, 1);
    put64(&mut elf, 24, LOAD); // e_entry
    put64(&mut elf, 32, 64); // e_phoff
    put16(&mut elf, 52, 64); // e_ehsize
    put16(&mut elf, 54, 56); // e_phentsize
    put16(&mut elf, 56, 1); // e_phnum
    put16(&mut elf, 58, 64); // e_shentsize
                             // Program header: one PT_LOAD segment.
    put32(&mut elf, 64, 1);
    put32(&mut elf, 68, 5); // R+X
    put64(&mut elf, 72, CODE_OFFSET);
    put64(&mut elf, 80, LOAD);
    put64(&mut elf, 88, LOAD);
    put64(&mut elf, 96, code.len() as u64);
    put64(&mut elf, 104, code.len() as u64);
    put64(&mut elf, 112, 0x1000);
    elf.extend_from_slice(code);
    let path = std::env::temp_dir().join(format!("ovmm-smoke-{}-{name}.elf", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&elf))
        .expect("write the test kernel");
    path
}

fn config(kernel: PathBuf, console: PathBuf, cpus: u8) -> VmConfig {
    VmConfig {
        kernel,
        initrd: None,
        cmdline: "console=ttyS0".into(),
        memory: 64 << 20,
        cpus,
        serial: SerialConfig::File(console),
        no_reboot: true,
        timeout: Some(Duration::from_secs(600)),
        vfio: Vec::new(),
        msi: true,
        dump_dtb: None,
        pci_mmio64_size: None,
        acpi_tables: Vec::new(),
        virtio: Default::default(),
    }
}

fn console_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ovmm-smoke-{}-{name}.console", std::process::id()))
}

/// 64-bit: print "ok\n" on COM1, then exit with status 42 through port 0xf4.
const LONG_MODE_SERIAL_AND_EXIT: &[u8] = &[
    0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xb0, b'o', 0xee, // mov al, 'o'; out dx, al
    0xb0, b'k', 0xee, // mov al, 'k'; out dx, al
    0xb0, b'\n', 0xee, // mov al, '\n'; out dx, al
    0xb0, 42, 0xe6, 0xf4, // mov al, 42; out 0xf4, al
    0xeb, 0xfe, // jmp $
];

#[test]
fn full_build_boots_a_64bit_elf_and_exits_with_its_status() {
    let _kvm = kvm();
    let kernel = elf_kernel("exit42", LONG_MODE_SERIAL_AND_EXIT);
    let console = console_path("exit42");
    let outcome = runner::run(&config(kernel.clone(), console.clone(), 2)).expect("run");
    assert_eq!(outcome, Outcome::Exit(42));
    assert_eq!(outcome.exit_code(), 42);
    assert_eq!(std::fs::read_to_string(&console).unwrap(), "ok\n");
    let _ = std::fs::remove_file(kernel);
    let _ = std::fs::remove_file(console);
}

/// 64-bit: checks the boot protocol state ovmm promises (RSI = zero page holding "HdrS" and a
/// command line pointer), then powers off through the ACPI sleep control register (S5).
const LONG_MODE_CHECK_AND_POWER_OFF: &[u8] = &[
    // cmp dword [rsi + 0x202], 'HdrS' ; jne fail
    0x81, 0xbe, 0x02, 0x02, 0x00, 0x00, b'H', b'd', b'r', b'S', //
    0x75, 0x0c, // jne +12 (to fail)
    // mov al, (5 << 2) | (1 << 5) = 0x34 ; mov dx, 0x600 ; out dx, al
    0xb0, 0x34, 0x66, 0xba, 0x00, 0x06, 0xee, //
    0xeb, 0xfe, // jmp $
    0x90, 0x90, 0x90, // padding so "fail" is 12 bytes past the jne
    // fail: mov al, 3 ; out 0xf4, al ; jmp $
    0xb0, 0x03, 0xe6, 0xf4, 0xeb, 0xfe,
];

#[test]
fn full_build_sets_up_boot_params_and_powers_off_through_acpi() {
    let _kvm = kvm();
    let kernel = elf_kernel("poweroff", LONG_MODE_CHECK_AND_POWER_OFF);
    let console = console_path("poweroff");
    let outcome = runner::run(&config(kernel.clone(), console.clone(), 1)).expect("run");
    assert_eq!(outcome, Outcome::PowerOff);
    let _ = std::fs::remove_file(kernel);
    let _ = std::fs::remove_file(console);
}

#[test]
fn timeout_stops_a_spinning_guest() {
    let _kvm = kvm();
    let kernel = elf_kernel("spin", &[0xeb, 0xfe]);
    let console = console_path("spin");
    let mut c = config(kernel.clone(), console.clone(), 1);
    c.timeout = Some(Duration::from_secs(1));
    let outcome = runner::run(&c).expect("run");
    assert_eq!(outcome, Outcome::Timeout(Duration::from_secs(1)));
    assert_eq!(outcome.exit_code(), 124);
    let _ = std::fs::remove_file(kernel);
    let _ = std::fs::remove_file(console);
}

/// i8042 reset (command 0xfe to port 0x64) with --no-reboot ends the run as "rebooted".
#[test]
fn i8042_reset_with_no_reboot_exits() {
    let _kvm = kvm();
    let code = [0xb0, 0xfe, 0xe6, 0x64, 0xeb, 0xfe]; // mov al, 0xfe; out 0x64, al; jmp $
    let kernel = elf_kernel("reset", &code);
    let console = console_path("reset");
    let outcome = runner::run(&config(kernel.clone(), console.clone(), 1)).expect("run");
    assert_eq!(outcome, Outcome::Rebooted);
    let _ = std::fs::remove_file(kernel);
    let _ = std::fs::remove_file(console);
}
