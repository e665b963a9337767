//! The VM lifecycle: build, run, wait for the ending, restart on reboot, report how it ended.
//!
//! The main thread owns one event loop per boot (event-manager). It watches the guest's
//! lifecycle requests, vCPU failures, the stop signals, the `--timeout` timer, the control
//! API's requests (`--api-socket`, answered by [`crate::api_server`]) and, with a serial
//! console on stdio, ovmm's stdin, which it forwards to the guest's UART at the pace the
//! UART's receive FIFO drains. State that must outlive a reboot (the terminal mode, the
//! signalfd, the deadline, the console file, the API socket) lives here, outside the VM.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::ApiRequests;
use vmm_sys_util::eventfd::EventFd;

use devices::legacy::SerialDevice;
use devices::lifecycle::{GuestRequest, GuestRequests};
use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::timerfd::TimerFd;

use crate::config::{SerialConfig, VmConfig};
use crate::signals::StopSignals;
use crate::terminal::RawTerminal;
use crate::vcpu::{VcpuError, VcpuFailures};
use crate::vm::{BuildContext, BuildError, ConsoleOut, RunningVm, Vm};

/// How a run of ovmm ended (other than by an error).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guest powered off.
    PowerOff,
    /// The guest rebooted and `--no-reboot` was given.
    Rebooted,
    /// The guest chose an exit status through the test-exit device.
    Exit(u8),
    /// `--timeout` expired.
    Timeout(Duration),
    /// A stop signal arrived.
    Signal(i32),
    /// The user typed the console escape (Ctrl-A x).
    Quit,
}

impl Outcome {
    /// The process exit status for this outcome (documented in the README and `--help`).
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::PowerOff | Outcome::Rebooted => 0,
            Outcome::Exit(n) => i32::from(*n),
            Outcome::Timeout(_) => 124,
            Outcome::Signal(s) => 128 + s,
            Outcome::Quit => 130,
        }
    }
}

/// Errors that end a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Building the VM failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A vCPU failed while the guest ran.
    #[error(transparent)]
    Vcpu(#[from] VcpuError),
    /// `managed=on` devices could not be bound to vfio-pci (bad input: exit status 2).
    #[error("cannot bind the managed=on devices to vfio-pci: {0}")]
    Managed(#[source] crate::host::HostError),
    /// The API socket cannot be served (bad input unless the host failed).
    #[error(transparent)]
    Api(#[from] api::ServerError),
    /// The host refused something the run loop needs.
    #[error("{what}: {source}")]
    Host {
        /// What ovmm was doing.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn host(what: &'static str) -> impl Fn(std::io::Error) -> RunError {
    move |source| RunError::Host { what, source }
}

fn host_errno(what: &'static str) -> impl Fn(vmm_sys_util::errno::Error) -> RunError {
    move |e| RunError::Host {
        what,
        source: e.into(),
    }
}

/// What a run needs besides the VM's configuration.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Serve the control API on this Unix socket.
    pub api_socket: Option<PathBuf>,
    /// When ovmm started: the first boot's boot timer and uptime count from here.
    pub started: Instant,
    /// The options ovmm was started with, by long name (for `GET /vm`).
    pub options: BTreeMap<String, serde_json::Value>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            api_socket: None,
            started: Instant::now(),
            options: BTreeMap::new(),
        }
    }
}

/// Runs the VM described by `config` until it ends (no API; see [`run_with`]).
pub fn run(config: &VmConfig) -> Result<Outcome, RunError> {
    run_with(config, &RunOptions::default())
}

/// Runs the VM described by `config` until it ends. `managed=on` devices are bound to
/// vfio-pci first and given back afterwards, however the run ends (an error, a signal, the
/// guest); after a `kill -9`, `ovmm host restore` gives them back from the journal. The API
/// socket, when asked for, exists from before the first boot until ovmm returns.
pub fn run_with(config: &VmConfig, opts: &RunOptions) -> Result<Outcome, RunError> {
    // Before any thread exists (the API's included), so every thread inherits the blocked mask.
    let signals = Arc::new(StopSignals::new().map_err(host("cannot set up signal handling"))?);
    let api = match &opts.api_socket {
        Some(path) => Some(api::ApiServer::start(path)?),
        None => None,
    };
    let managed = bind_managed(config)?;
    let result = run_bound(config, opts, signals, api.as_ref().map(|(_, r)| r));
    if let Some(m) = managed {
        match m.release() {
            Ok(out) => {
                for a in &out.actions {
                    log::info!("managed=on: {a}");
                }
            }
            Err(e) => log::error!(
                "managed=on: cannot give the devices back: {e}; run `ovmm host restore`"
            ),
        }
    }
    drop(api);
    result
}

fn bind_managed(config: &VmConfig) -> Result<Option<crate::host::ManagedBinding>, RunError> {
    let bdfs: Vec<crate::host::Bdf> = config
        .vfio
        .iter()
        .filter(|v| v.managed)
        .filter_map(|v| v.label.parse().ok())
        .collect();
    if bdfs.is_empty() {
        return Ok(None);
    }
    let binding = crate::host::ManagedBinding::acquire(&bdfs, false).map_err(RunError::Managed)?;
    for a in binding.actions() {
        log::info!("managed=on: {a}");
    }
    Ok(Some(binding))
}

fn run_bound(
    config: &VmConfig,
    opts: &RunOptions,
    signals: Arc<StopSignals>,
    api: Option<&ApiRequests>,
) -> Result<Outcome, RunError> {
    let requests = GuestRequests::new().map_err(host("cannot create an eventfd"))?;
    let failures = Arc::new(VcpuFailures::new().map_err(host("cannot create an eventfd"))?);
    let mut ctx = BuildContext {
        requests: requests.clone(),
        console: console_factory(&config.serial)?,
        started: opts.started,
    };
    let stdin_attached = config.serial == SerialConfig::Stdio;
    let _raw = stdin_attached
        .then(|| RawTerminal::enable(libc::STDIN_FILENO))
        .flatten();
    let is_tty = _raw.is_some();
    let deadline = config.timeout.map(|t| (Instant::now() + t, t));
    let mut input = stdin_attached.then(|| ConsoleInput::new(is_tty));
    let mut boot = 0u32;
    loop {
        boot += 1;
        log::info!("booting the guest (boot {boot})");
        let running = Vm::build(config, &ctx)?.start(failures.clone())?;
        let served = api.map(|api| Served {
            api,
            facts: crate::api_server::VmFacts {
                boot,
                config,
                options: &opts.options,
            },
        });
        let ending = wait(
            &running,
            &requests,
            &failures,
            &signals,
            deadline,
            &mut input,
            served.as_ref(),
        )?;
        running.stop();
        match ending {
            Ending::Guest(GuestRequest::Reset) if !config.no_reboot => {
                log::info!("the guest rebooted; starting it again");
                ctx.started = Instant::now();
                continue;
            }
            Ending::Guest(GuestRequest::Reset) => return Ok(Outcome::Rebooted),
            Ending::Guest(GuestRequest::PowerOff) => return Ok(Outcome::PowerOff),
            Ending::Guest(GuestRequest::Exit(n)) => return Ok(Outcome::Exit(n)),
            Ending::Timeout(t) => return Ok(Outcome::Timeout(t)),
            Ending::Signal(s) => return Ok(Outcome::Signal(s)),
            Ending::Quit => return Ok(Outcome::Quit),
            Ending::VcpuFailed(e) => return Err(e.into()),
        }
    }
}

fn console_factory(
    serial: &SerialConfig,
) -> Result<Box<dyn Fn() -> std::io::Result<ConsoleOut>>, RunError> {
    Ok(match serial {
        SerialConfig::Stdio => Box::new(|| Ok(Box::new(std::io::stdout()) as ConsoleOut)),
        SerialConfig::None => Box::new(|| Ok(Box::new(std::io::sink()) as ConsoleOut)),
        SerialConfig::File(path) => {
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(path)
                .map_err(|source| RunError::Host {
                    what: "cannot open the --serial file",
                    source,
                })?;
            Box::new(move || Ok(Box::new(file.try_clone()?) as ConsoleOut))
        }
    })
}

/// Why the event loop stopped the current boot.
enum Ending {
    Guest(GuestRequest),
    VcpuFailed(VcpuError),
    Signal(i32),
    Timeout(Duration),
    Quit,
}

type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// The API's requests and what `GET /vm` reports about this boot.
struct Served<'a> {
    api: &'a ApiRequests,
    facts: crate::api_server::VmFacts<'a>,
}

fn wait(
    running: &RunningVm,
    requests: &GuestRequests,
    failures: &Arc<VcpuFailures>,
    signals: &Arc<StopSignals>,
    deadline: Option<(Instant, Duration)>,
    input: &mut Option<ConsoleInput>,
    served: Option<&Served>,
) -> Result<Ending, RunError> {
    let timer = match deadline {
        Some((at, total)) => {
            let mut t = TimerFd::new().map_err(host_errno("cannot create a timer"))?;
            let left = at.saturating_duration_since(Instant::now());
            t.reset(left.max(Duration::from_millis(1)), None)
                .map_err(host_errno("cannot arm the --timeout timer"))?;
            Some((t, total))
        }
        None => None,
    };
    let control = Arc::new(Mutex::new(Control {
        requests: requests.clone(),
        failures: failures.clone(),
        signals: signals.clone(),
        timer,
        input: input.take().map(|i| i.attach(running.serial().clone())),
        api: served
            .map(|s| s.api.eventfd().try_clone())
            .transpose()
            .map_err(host("cannot watch the API's eventfd"))?,
        ending: None,
    }));
    let mut em: EventManager<Subscriber> = EventManager::new().map_err(|e| RunError::Host {
        what: "cannot create the event loop",
        source: std::io::Error::other(e.to_string()),
    })?;
    em.add_subscriber(control.clone());
    for device in crate::virtio::subscribers(running.virtio()) {
        em.add_subscriber(device);
    }
    loop {
        let ending = lock(&control).ending.take();
        if let Some(ending) = ending {
            *input = lock(&control).input.take().map(AttachedInput::detach);
            return Ok(ending);
        }
        if let Some(s) = served {
            crate::api_server::serve(s.api, running, requests, &s.facts);
        }
        em.run().map_err(|e| RunError::Host {
            what: "the event loop failed",
            source: std::io::Error::other(e.to_string()),
        })?;
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The event subscriber that decides when a boot ends and pumps console input.
struct Control {
    requests: GuestRequests,
    failures: Arc<VcpuFailures>,
    signals: Arc<StopSignals>,
    timer: Option<(TimerFd, Duration)>,
    input: Option<AttachedInput>,
    /// Readable when API requests are queued; the loop answers them after `run` returns.
    api: Option<EventFd>,
    ending: Option<Ending>,
}

impl MutEventSubscriber for Control {
    fn init(&mut self, ops: &mut EventOps) {
        let mut add = |e: Events| {
            if let Err(err) = ops.add(e) {
                log::error!("cannot watch an event source: {err}");
            }
        };
        add(Events::new(self.requests.eventfd(), EventSet::IN));
        add(Events::new(self.failures.eventfd(), EventSet::IN));
        add(Events::new(&*self.signals, EventSet::IN));
        if let Some((t, _)) = &self.timer {
            add(Events::new(t, EventSet::IN));
        }
        if let Some(api) = &self.api {
            add(Events::new(api, EventSet::IN));
        }
        if let Some(input) = &mut self.input {
            input.init(ops);
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if fd == self.requests.as_raw_fd() {
            if let Some(r) = self.requests.take() {
                self.ending.get_or_insert(Ending::Guest(r));
            }
        } else if fd == self.failures.eventfd().as_raw_fd() {
            if let Some(e) = self.failures.take() {
                self.ending.get_or_insert(Ending::VcpuFailed(e));
            }
        } else if fd == self.signals.as_raw_fd() {
            if let Some(s) = self.signals.read() {
                self.ending.get_or_insert(Ending::Signal(s));
            }
        } else if let Some(api) = self.api.as_ref().filter(|a| a.as_raw_fd() == fd) {
            let _ = api.read();
        } else if let Some((t, total)) = self.timer.as_mut().filter(|(t, _)| t.as_raw_fd() == fd) {
            let _ = t.wait();
            let total = *total;
            self.ending.get_or_insert(Ending::Timeout(total));
        } else if let Some(input) = &mut self.input {
            if input.process(fd, ops) == InputEvent::Quit {
                self.ending.get_or_insert(Ending::Quit);
            }
        }
    }
}

/// Console input that survives reboots (pending bytes, end of input, escape state).
pub struct ConsoleInput {
    pending: Vec<u8>,
    eof: bool,
    tty: bool,
    escape: bool,
}

#[derive(PartialEq, Eq)]
enum InputEvent {
    None,
    Quit,
}

/// The Ctrl-A prefix of the console escape (Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A).
const ESCAPE: u8 = 0x01;

impl ConsoleInput {
    fn new(tty: bool) -> Self {
        ConsoleInput {
            pending: Vec::new(),
            eof: false,
            tty,
            escape: false,
        }
    }

    fn attach(self, serial: Arc<Mutex<SerialDevice>>) -> AttachedInput {
        AttachedInput {
            state: self,
            serial,
            retry: None,
        }
    }

    /// Applies the console escape to bytes typed on a terminal. Returns true on Ctrl-A x.
    fn filter(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if !self.tty {
                self.pending.push(b);
            } else if self.escape {
                self.escape = false;
                match b {
                    b'x' | b'X' => return true,
                    ESCAPE => self.pending.push(ESCAPE),
                    other => self.pending.extend_from_slice(&[ESCAPE, other]),
                }
            } else if b == ESCAPE {
                self.escape = true;
            } else {
                self.pending.push(b);
            }
        }
        false
    }
}

/// Console input bound to the current boot's UART.
struct AttachedInput {
    state: ConsoleInput,
    serial: Arc<Mutex<SerialDevice>>,
    /// While the UART's FIFO is full, stdin is not watched and this timer polls for room.
    retry: Option<TimerFd>,
}

const STDIN: i32 = libc::STDIN_FILENO;

struct StdinFd;
impl AsRawFd for StdinFd {
    fn as_raw_fd(&self) -> i32 {
        STDIN
    }
}

impl AttachedInput {
    fn detach(self) -> ConsoleInput {
        self.state
    }

    fn init(&mut self, ops: &mut EventOps) {
        if !self.state.eof {
            self.watch_stdin(ops);
        }
    }

    fn watch_stdin(&mut self, ops: &mut EventOps) {
        match ops.add(Events::new(&StdinFd, EventSet::IN)) {
            Ok(()) => {}
            // epoll refuses regular files and /dev/null: they are always readable, so read
            // them to the end now and feed the guest at the UART's pace.
            Err(event_manager::Error::Epoll(e)) if e.errno() == libc::EPERM => {
                self.read_unpollable_stdin();
                self.deliver();
                self.throttle_or_watch(ops);
            }
            Err(e) => {
                log::warn!("cannot watch stdin, guest console input is off: {e}");
                self.state.eof = true;
            }
        }
    }

    fn read_unpollable_stdin(&mut self) {
        let mut buf = Vec::new();
        let mut stdin = std::io::stdin().lock();
        if let Err(e) = std::io::Read::read_to_end(&mut stdin, &mut buf) {
            log::warn!("cannot read stdin: {e}");
        }
        self.state.eof = true;
        if self.state.filter(&buf) {
            log::warn!("console escape in a non-terminal stdin ignored");
        }
    }

    fn process(&mut self, fd: i32, ops: &mut EventOps) -> InputEvent {
        if fd == STDIN {
            return self.read_stdin(ops);
        }
        if self.retry.as_ref().is_some_and(|t| t.as_raw_fd() == fd) {
            if let Some(mut t) = self.retry.take() {
                let _ = t.wait();
                let _ = ops.remove(Events::new(&t, EventSet::IN));
            }
            self.deliver();
            self.throttle_or_watch(ops);
        }
        InputEvent::None
    }

    fn read_stdin(&mut self, ops: &mut EventOps) -> InputEvent {
        let mut buf = [0u8; 256];
        // SAFETY: read() writes at most buf.len() bytes into our buffer; epoll said stdin is
        // readable, so this does not block.
        let n = unsafe { libc::read(STDIN, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            let err = std::io::Error::last_os_error();
            if n == 0 || err.kind() != std::io::ErrorKind::Interrupted {
                log::debug!(
                    "console input ended ({})",
                    if n == 0 {
                        "end of file".to_string()
                    } else {
                        err.to_string()
                    }
                );
                self.state.eof = true;
                let _ = ops.remove(Events::new(&StdinFd, EventSet::IN));
            }
            return InputEvent::None;
        }
        if self.state.filter(&buf[..n as usize]) {
            return InputEvent::Quit;
        }
        self.deliver();
        if !self.state.pending.is_empty() {
            let _ = ops.remove(Events::new(&StdinFd, EventSet::IN));
            self.throttle_or_watch(ops);
        }
        InputEvent::None
    }

    /// Moves as many pending bytes into the UART as its FIFO takes.
    fn deliver(&mut self) {
        if self.state.pending.is_empty() {
            return;
        }
        let taken = lock(&self.serial).enqueue_input(&self.state.pending);
        self.state.pending.drain(..taken);
    }

    /// With bytes still pending, polls for FIFO room; otherwise watches stdin again.
    fn throttle_or_watch(&mut self, ops: &mut EventOps) {
        if self.state.pending.is_empty() {
            if !self.state.eof {
                self.watch_stdin(ops);
            }
            return;
        }
        let armed = TimerFd::new().and_then(|mut t| {
            t.reset(Duration::from_millis(5), None)?;
            Ok(t)
        });
        match armed {
            Ok(t) => {
                if ops.add(Events::new(&t, EventSet::IN)).is_ok() {
                    self.retry = Some(t);
                }
            }
            Err(e) => log::warn!("cannot poll the guest UART for room: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Outcome::PowerOff.exit_code(), 0);
        assert_eq!(Outcome::Rebooted.exit_code(), 0);
        assert_eq!(Outcome::Exit(7).exit_code(), 7);
        assert_eq!(Outcome::Timeout(Duration::from_secs(3)).exit_code(), 124);
        assert_eq!(Outcome::Signal(libc::SIGTERM).exit_code(), 143);
        assert_eq!(Outcome::Signal(libc::SIGINT).exit_code(), 130);
    }

    #[test]
    fn console_escape_on_a_terminal() {
        let mut tty = ConsoleInput::new(true);
        assert!(!tty.filter(b"ls\r\x01\x01a\x01b"));
        assert_eq!(tty.pending, b"ls\r\x01a\x01b");
        assert!(tty.filter(b"\x01x"));
        let mut pipe = ConsoleInput::new(false);
        assert!(!pipe.filter(b"\x01x"));
        assert_eq!(pipe.pending, b"\x01x");
    }
}
