//! vCPU threads: the KVM_RUN loop and exit dispatch.
//!
//! Each vCPU runs on its own thread. [`handle_exit`] is the only place where a KVM exit is
//! turned into a device access: the buses are the only registry of what exists, the loop has
//! no port lists of its own. A vCPU is stopped by [`VcpuSet::stop`], which sets a flag and
//! kicks each thread with a real-time signal; the signal handler sets the vCPU's
//! `immediate_exit`, so a kick that lands between the flag check and KVM_RUN is not lost.
//! [`VcpuSet::pause`] uses the same kick to park the threads at a [`PauseGate`].

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;

use devices::bus::Bus;
use devices::lifecycle::{GuestRequest, GuestRequests};
use kvm_bindings::kvm_run;
use kvm_ioctls::{VcpuExit, VcpuFd};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

mod pause;
pub use pause::PauseGate;

/// How long [`VcpuSet::pause`] waits for every vCPU to park.
pub const PAUSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The two address spaces a vCPU can touch outside guest RAM.
#[derive(Default)]
pub struct IoBuses {
    /// x86 port I/O (empty on arm64).
    pub pio: Bus,
    /// Memory-mapped I/O.
    pub mmio: Bus,
}

/// Why a vCPU stopped unexpectedly.
#[derive(Debug, thiserror::Error)]
pub enum VcpuError {
    /// KVM_RUN itself failed.
    #[error("KVM_RUN failed on vCPU {id}: {source}")]
    Run {
        /// vCPU index.
        id: u8,
        /// The error from KVM.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// The guest did something KVM could not handle.
    #[error("vCPU {id} stopped: {reason}")]
    GuestFault {
        /// vCPU index.
        id: u8,
        /// What KVM reported.
        reason: String,
    },
    /// A vCPU thread could not be started.
    #[error("cannot start the thread of vCPU {id}: {source}")]
    Spawn {
        /// vCPU index.
        id: u8,
        /// The error from the OS.
        #[source]
        source: std::io::Error,
    },
    /// The kick signal handler could not be installed.
    #[error("cannot install the vCPU kick signal handler: {0}")]
    SignalHandler(#[source] vmm_sys_util::errno::Error),
}

/// What the run loop does after an exit.
#[derive(Debug, PartialEq, Eq)]
pub enum ExitAction {
    /// Enter the guest again.
    Continue,
    /// This vCPU is done (the VM is ending).
    Stop,
}

/// Counts the exits that reached userspace, per port and per MMIO page, and remembers which
/// unmapped addresses were already reported, so each is logged once. The counts are logged
/// (`-v`) when the vCPU stops: they show which device accesses cost a trip to the VMM.
#[derive(Default)]
pub struct ExitStats {
    seen: HashSet<(bool, u64)>,
    pio: BTreeMap<u64, u64>,
    mmio: BTreeMap<u64, u64>,
}

impl ExitStats {
    fn count(&mut self, is_pio: bool, addr: u64) {
        let (map, key) = if is_pio {
            (&mut self.pio, addr)
        } else {
            (&mut self.mmio, addr & !0xfff)
        };
        *map.entry(key).or_default() += 1;
    }

    /// Total exits counted.
    pub fn total(&self) -> u64 {
        self.pio.values().chain(self.mmio.values()).sum()
    }

    /// A one-line summary: totals, then the busiest ports and MMIO pages.
    pub fn summary(&self) -> String {
        let top = |m: &BTreeMap<u64, u64>| {
            let mut v: Vec<(u64, u64)> = m.iter().map(|(&a, &n)| (a, n)).collect();
            v.sort_by_key(|&(a, n)| (std::cmp::Reverse(n), a));
            v.iter()
                .take(8)
                .map(|(a, n)| format!("{a:#x}:{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "{} exits to userspace: port I/O {} [{}], MMIO {} [{}]",
            self.total(),
            self.pio.values().sum::<u64>(),
            top(&self.pio),
            self.mmio.values().sum::<u64>(),
            top(&self.mmio)
        )
    }

    fn note(&mut self, is_pio: bool, addr: u64, write: bool) {
        if self.seen.insert((is_pio, addr)) {
            let space = if is_pio { "port" } else { "MMIO address" };
            let op = if write { "write to" } else { "read from" };
            log::debug!("guest {op} unmapped {space} {addr:#x} (reported once)");
        }
    }
}

/// Turns one KVM exit into device accesses or a lifecycle request.
///
/// Reads of unmapped ports return all-ones (as on a real ISA bus), reads of unmapped MMIO
/// return zeros; writes to them are dropped.
pub fn handle_exit(
    id: u8,
    exit: VcpuExit,
    io: &IoBuses,
    requests: &GuestRequests,
    unmapped: &mut ExitStats,
) -> Result<ExitAction, VcpuError> {
    match exit {
        VcpuExit::IoIn(port, data) => {
            unmapped.count(true, u64::from(port));
            if !io.pio.read(u64::from(port), data) {
                data.fill(0xff);
                unmapped.note(true, u64::from(port), false);
            }
        }
        VcpuExit::IoOut(port, data) => {
            unmapped.count(true, u64::from(port));
            if !io.pio.write(u64::from(port), data) {
                unmapped.note(true, u64::from(port), true);
            }
        }
        VcpuExit::MmioRead(addr, data) => {
            unmapped.count(false, addr);
            if !io.mmio.read(addr, data) {
                data.fill(0);
                unmapped.note(false, addr, false);
            }
        }
        VcpuExit::MmioWrite(addr, data) => {
            unmapped.count(false, addr);
            if !io.mmio.write(addr, data) {
                unmapped.note(false, addr, true);
            }
        }
        // Only seen without an in-kernel irqchip (the KVM smoke tests): nothing can wake the
        // vCPU again, so a halt ends the VM.
        VcpuExit::Hlt => {
            log::info!("vCPU {id} halted with no interrupt controller to wake it");
            requests.send(GuestRequest::PowerOff);
            return Ok(ExitAction::Stop);
        }
        // A triple fault: real hardware resets.
        VcpuExit::Shutdown => {
            log::info!("vCPU {id}: triple fault, resetting the VM");
            requests.send(GuestRequest::Reset);
            return Ok(ExitAction::Stop);
        }
        VcpuExit::SystemEvent(kind, _) => {
            return system_event(id, kind, requests);
        }
        VcpuExit::FailEntry(reason, cpu) => {
            return Err(VcpuError::GuestFault {
                id,
                reason: format!(
                    "KVM could not enter the guest (hardware reason {reason:#x}, host cpu {cpu})"
                ),
            });
        }
        VcpuExit::InternalError => {
            return Err(VcpuError::GuestFault {
                id,
                reason: "KVM internal error (the guest executed something KVM cannot emulate)"
                    .to_string(),
            });
        }
        VcpuExit::Intr | VcpuExit::IrqWindowOpen => {}
        other => {
            return Err(VcpuError::GuestFault {
                id,
                reason: format!("unexpected KVM exit {other:?}"),
            });
        }
    }
    Ok(ExitAction::Continue)
}

fn system_event(id: u8, kind: u32, requests: &GuestRequests) -> Result<ExitAction, VcpuError> {
    match kind {
        kvm_bindings::KVM_SYSTEM_EVENT_SHUTDOWN => requests.send(GuestRequest::PowerOff),
        kvm_bindings::KVM_SYSTEM_EVENT_RESET => requests.send(GuestRequest::Reset),
        other => {
            return Err(VcpuError::GuestFault {
                id,
                reason: format!("unexpected system event {other}"),
            })
        }
    }
    Ok(ExitAction::Stop)
}

/// `KVM_EXIT_ARM_NISV` (arm64, with `KVM_CAP_ARM_NISV_TO_USER`): the guest touched emulated
/// MMIO with an instruction whose syndrome KVM cannot decode.
const KVM_EXIT_ARM_NISV: u32 = 28;

fn is_mmio_without_syndrome(exit: &VcpuExit) -> bool {
    cfg!(target_arch = "aarch64") && matches!(exit, VcpuExit::Unsupported(KVM_EXIT_ARM_NISV))
}

/// The error for a `KVM_EXIT_ARM_NISV` exit, naming the address the guest touched.
#[cfg(target_arch = "aarch64")]
fn mmio_without_syndrome(id: u8, vcpu: &mut VcpuFd) -> VcpuError {
    let run = vcpu.get_kvm_run();
    // SAFETY: after a KVM_EXIT_ARM_NISV exit KVM filled the `arm_nisv` member of the exit
    // union; the fields are plain integers, valid for any bit pattern.
    let address = unsafe { run.__bindgen_anon_1.arm_nisv.fault_ipa };
    nisv_error(id, address)
}

#[cfg(not(target_arch = "aarch64"))]
fn mmio_without_syndrome(id: u8, _vcpu: &mut VcpuFd) -> VcpuError {
    nisv_error(id, 0)
}

fn nisv_error(id: u8, address: u64) -> VcpuError {
    VcpuError::GuestFault {
        id,
        reason: format!(
            "the guest accessed emulated MMIO at {address:#x} with an instruction KVM cannot \
             emulate (no syndrome: a load/store pair, or an access with write-back); the guest \
             driver must use single loads and stores (readl/writel) on that region"
        ),
    }
}

thread_local! {
    /// The `kvm_run` area of the vCPU that runs on this thread, for the kick handler.
    static KVM_RUN: Cell<*mut kvm_run> = const { Cell::new(std::ptr::null_mut()) };
}

extern "C" fn kick_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let run = KVM_RUN.with(|r| r.get());
    if !run.is_null() {
        // SAFETY: the pointer is this thread's mapped kvm_run area, set before the loop starts
        // and cleared before the VcpuFd (and its mapping) is dropped. A volatile write of one
        // byte through a raw pointer creates no reference that could alias the run loop's.
        unsafe { std::ptr::addr_of_mut!((*run).immediate_exit).write_volatile(1) };
    }
}

/// The signal used to kick vCPU threads out of KVM_RUN.
pub fn kick_signal() -> libc::c_int {
    vmm_sys_util::signal::SIGRTMIN()
}

fn install_kick_handler() -> Result<(), VcpuError> {
    static ONCE: Once = Once::new();
    static RESULT: Mutex<Option<vmm_sys_util::errno::Error>> = Mutex::new(None);
    ONCE.call_once(|| {
        if let Err(e) = vmm_sys_util::signal::register_signal_handler(kick_signal(), kick_handler) {
            *RESULT.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
        }
    });
    match *RESULT.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(VcpuError::SignalHandler(e)),
        None => Ok(()),
    }
}

/// Where vCPU threads report that they stopped on an error.
pub struct VcpuFailures {
    evt: EventFd,
    first: Mutex<Option<VcpuError>>,
}

impl VcpuFailures {
    /// A new, empty report channel.
    pub fn new() -> std::io::Result<Self> {
        Ok(VcpuFailures {
            evt: EventFd::new(EFD_NONBLOCK)?,
            first: Mutex::new(None),
        })
    }

    fn report(&self, e: VcpuError) {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(e);
        }
        drop(first);
        let _ = self.evt.write(1);
    }

    /// The first error reported, if any.
    pub fn take(&self) -> Option<VcpuError> {
        let _ = self.evt.read();
        self.first.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Readable when a vCPU failed.
    pub fn eventfd(&self) -> &EventFd {
        &self.evt
    }
}

/// Runs one vCPU until the VM stops or the vCPU fails.
pub fn run_loop(
    id: u8,
    vcpu: VcpuFd,
    io: &IoBuses,
    requests: &GuestRequests,
    stop: &AtomicBool,
) -> Result<(), VcpuError> {
    run_gated(id, vcpu, io, requests, stop, &PauseGate::default())
}

fn run_gated(
    id: u8,
    mut vcpu: VcpuFd,
    io: &IoBuses,
    requests: &GuestRequests,
    stop: &AtomicBool,
    gate: &PauseGate,
) -> Result<(), VcpuError> {
    KVM_RUN.with(|r| r.set(vcpu.get_kvm_run() as *mut kvm_run));
    let result = run_until_stopped(id, &mut vcpu, io, requests, stop, gate);
    KVM_RUN.with(|r| r.set(std::ptr::null_mut()));
    result
}

fn run_until_stopped(
    id: u8,
    vcpu: &mut VcpuFd,
    io: &IoBuses,
    requests: &GuestRequests,
    stop: &AtomicBool,
    gate: &PauseGate,
) -> Result<(), VcpuError> {
    let mut stats = ExitStats::default();
    let result = loop {
        if gate.requested() {
            gate.park(stop);
        }
        if stop.load(Ordering::Acquire) {
            break Ok(());
        }
        match vcpu.run() {
            Ok(exit) => {
                let no_syndrome = is_mmio_without_syndrome(&exit);
                match handle_exit(id, exit, io, requests, &mut stats) {
                    Ok(ExitAction::Continue) => {}
                    Ok(ExitAction::Stop) => break Ok(()),
                    Err(_) if no_syndrome => break Err(mmio_without_syndrome(id, vcpu)),
                    Err(e) => break Err(e),
                }
            }
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                vcpu.set_kvm_immediate_exit(0);
            }
            Err(source) => break Err(VcpuError::Run { id, source }),
        }
    };
    log::info!("vCPU {id}: {}", stats.summary());
    result
}

/// The running vCPU threads of one VM.
pub struct VcpuSet {
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    gate: Arc<PauseGate>,
}

impl VcpuSet {
    /// Starts one thread per vCPU. vCPU errors are reported to `failures`.
    pub fn start(
        vcpus: Vec<VcpuFd>,
        io: Arc<IoBuses>,
        requests: GuestRequests,
        failures: Arc<VcpuFailures>,
    ) -> Result<VcpuSet, VcpuError> {
        install_kick_handler()?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut set = VcpuSet {
            threads: Vec::with_capacity(vcpus.len()),
            stop: stop.clone(),
            gate: Arc::new(PauseGate::default()),
        };
        for (id, vcpu) in vcpus.into_iter().enumerate() {
            let id = id as u8;
            let (io, requests, failures, stop, gate) = (
                io.clone(),
                requests.clone(),
                failures.clone(),
                stop.clone(),
                set.gate.clone(),
            );
            let thread = std::thread::Builder::new()
                .name(format!("vcpu{id}"))
                .spawn(move || {
                    if let Err(e) = run_gated(id, vcpu, &io, &requests, &stop, &gate) {
                        failures.report(e);
                    }
                });
            match thread {
                Ok(t) => set.threads.push(t),
                Err(source) => {
                    set.stop();
                    return Err(VcpuError::Spawn { id, source });
                }
            }
        }
        Ok(set)
    }

    /// Parks every vCPU thread outside KVM_RUN; returns once no guest code runs. Fails (and
    /// lets the threads run on) when a thread does not park within [`PAUSE_TIMEOUT`].
    pub fn pause(&self) -> Result<(), String> {
        self.gate.request();
        self.kick();
        if self.gate.wait_parked(self.threads.len(), PAUSE_TIMEOUT) {
            return Ok(());
        }
        self.gate.release();
        Err(format!(
            "the vCPU threads did not all stop within {} s; the VM keeps running",
            PAUSE_TIMEOUT.as_secs()
        ))
    }

    /// Lets parked vCPU threads run again.
    pub fn resume(&self) {
        self.gate.release();
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.gate.is_paused()
    }

    fn kick(&self) {
        for t in &self.threads {
            // SAFETY: pthread_kill with a thread id from a JoinHandle we still own (the thread
            // may have exited, which pthread_kill tolerates until the handle is joined).
            unsafe { libc::pthread_kill(t.as_pthread_t(), kick_signal()) };
        }
    }

    /// Stops every vCPU (parked ones too) and waits for its thread to end.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.gate.wake();
        self.kick();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                log::error!("a vCPU thread panicked");
            }
        }
    }
}

impl Drop for VcpuSet {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::bus::BusDevice;

    struct Echo(Vec<(u64, Vec<u8>)>);
    impl BusDevice for Echo {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(0x40 + offset as u8);
        }
        fn write(&mut self, offset: u64, data: &[u8]) {
            self.0.push((offset, data.to_vec()));
        }
    }

    #[test]
    fn dispatches_port_and_mmio_exits() {
        let io = IoBuses::default();
        let dev = Arc::new(Mutex::new(Echo(Vec::new())));
        io.pio.insert(dev.clone(), 0x3f8, 8).unwrap();
        io.mmio.insert(dev.clone(), 0xd000_0000, 0x1000).unwrap();
        let req = GuestRequests::new().unwrap();
        let mut log = ExitStats::default();

        let mut data = [0u8; 1];
        let a = handle_exit(0, VcpuExit::IoIn(0x3fa, &mut data), &io, &req, &mut log).unwrap();
        assert_eq!((a, data), (ExitAction::Continue, [0x42]));
        handle_exit(0, VcpuExit::IoOut(0x3f9, &[7]), &io, &req, &mut log).unwrap();
        handle_exit(
            0,
            VcpuExit::MmioWrite(0xd000_0010, &[1, 2, 3, 4]),
            &io,
            &req,
            &mut log,
        )
        .unwrap();
        let mut wide = [0u8; 4];
        handle_exit(
            0,
            VcpuExit::MmioRead(0xd000_0001, &mut wide),
            &io,
            &req,
            &mut log,
        )
        .unwrap();
        assert_eq!(wide, [0x41; 4]);
        assert_eq!(
            dev.lock().unwrap().0,
            vec![(1, vec![7]), (0x10, vec![1, 2, 3, 4])]
        );

        // Unmapped: ports read as all-ones, MMIO as zeros.
        handle_exit(0, VcpuExit::IoIn(0x80, &mut data), &io, &req, &mut log).unwrap();
        assert_eq!(data, [0xff]);
        wide = [9; 4];
        handle_exit(
            0,
            VcpuExit::MmioRead(0x1000, &mut wide),
            &io,
            &req,
            &mut log,
        )
        .unwrap();
        assert_eq!(wide, [0; 4]);
        assert_eq!(req.take(), None);
        assert_eq!(log.total(), 6);
        assert_eq!(
            log.summary(),
            "6 exits to userspace: port I/O 3 [0x80:1 0x3f9:1 0x3fa:1], MMIO 3 [0xd0000000:2 0x1000:1]"
        );
    }

    #[test]
    fn lifecycle_exits() {
        let io = IoBuses::default();
        let req = GuestRequests::new().unwrap();
        let mut log = ExitStats::default();
        assert_eq!(
            handle_exit(1, VcpuExit::Shutdown, &io, &req, &mut log).unwrap(),
            ExitAction::Stop
        );
        assert_eq!(req.take(), Some(GuestRequest::Reset));
        handle_exit(0, VcpuExit::Hlt, &io, &req, &mut log).unwrap();
        assert_eq!(req.take(), Some(GuestRequest::PowerOff));
        let data = [0u64];
        handle_exit(
            0,
            VcpuExit::SystemEvent(kvm_bindings::KVM_SYSTEM_EVENT_RESET, &data),
            &io,
            &req,
            &mut log,
        )
        .unwrap();
        assert_eq!(req.take(), Some(GuestRequest::Reset));
        let e = handle_exit(0, VcpuExit::InternalError, &io, &req, &mut log).unwrap_err();
        assert!(e.to_string().contains("vCPU 0"));
        handle_exit(
            0,
            VcpuExit::SystemEvent(kvm_bindings::KVM_SYSTEM_EVENT_SHUTDOWN, &data),
            &io,
            &req,
            &mut log,
        )
        .unwrap();
        assert_eq!(req.take(), Some(GuestRequest::PowerOff));
        assert_eq!(
            is_mmio_without_syndrome(&VcpuExit::Unsupported(KVM_EXIT_ARM_NISV)),
            cfg!(target_arch = "aarch64")
        );
        assert!(!is_mmio_without_syndrome(&VcpuExit::Unsupported(27)));
        let e = nisv_error(1, 0x1000_0010).to_string();
        assert!(e.contains("vCPU 1") && e.contains("0x10000010"), "{e}");
    }
}
