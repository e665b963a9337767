//! The control socket and its threads.
//!
//! [`ApiServer::start`] binds the Unix socket (replacing a stale socket file nobody listens
//! on, refusing one in use or a path that is not a socket), makes it owner-only (0600) and
//! starts the accept thread. Each connection gets a short-lived thread (at most
//! [`MAX_CONNECTIONS`] at once) that reads one request within [`READ_TIMEOUT`], routes it,
//! hands it to the VMM as a [`Pending`] on a channel, wakes the VMM's event loop through an
//! eventfd, waits for the answer (at most [`VMM_TIMEOUT`]) and writes it. Bad input is
//! answered on the connection's own thread and never reaches the VMM.
//!
//! Dropping the [`ApiServer`] stops the accept thread and removes the socket file (only if it
//! is still the one this server created); a panic hook removes it too, since release builds
//! abort on panic without unwinding.

use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::Duration;

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::http;
use crate::routes::{check_body, route, Action};
use crate::types::{ApiError, Reply};

/// How long a client may take to send its whole request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection waits for the VMM's answer.
pub const VMM_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at the same time; more are answered 503 at once.
pub const MAX_CONNECTIONS: usize = 16;

/// Why the API server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another process accepts connections on the path.
    #[error("the API socket {} is in use: another process accepts connections on it; choose another --api-socket path or stop that process", .0.display())]
    InUse(PathBuf),
    /// Something other than a socket is at the path.
    #[error("{} exists and is not a socket; ovmm will not replace it: choose another --api-socket path or remove that file", .0.display())]
    NotASocket(PathBuf),
    /// The socket cannot be created there.
    #[error("cannot create the API socket {}: {source}", path.display())]
    Bind {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A thread, eventfd or epoll could not be created.
    #[error("cannot start the API server: {0}")]
    Setup(#[source] std::io::Error),
}

impl ServerError {
    /// True when the path the user gave is the problem (exit status 2), not the host.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ServerError::Setup(_))
    }
}

/// A request waiting for the VMM's answer.
pub struct Pending {
    /// What the client asks for.
    pub action: Action,
    reply: Sender<Reply>,
}

impl Pending {
    /// Sends the answer to the waiting connection (which may have given up already).
    pub fn answer(self, reply: Reply) {
        let _ = self.reply.send(reply);
    }
}

fn stopped() -> Reply {
    Reply::Error(ApiError::new(503, "the VM has stopped; ovmm is exiting"))
}

/// The VMM's end: requests arrive here, and [`ApiRequests::eventfd`] becomes readable when
/// one does. Requests still queued when this is dropped are answered 503 (the VM stopped).
pub struct ApiRequests {
    rx: Receiver<Pending>,
    wake: Arc<EventFd>,
}

impl ApiRequests {
    /// Readable when requests are queued. The VMM reads it to clear it, then calls
    /// [`ApiRequests::next`] until it returns `None`.
    pub fn eventfd(&self) -> &EventFd {
        &self.wake
    }

    /// The next queued request, without waiting.
    pub fn next(&self) -> Option<Pending> {
        self.rx.try_recv().ok()
    }
}

impl Drop for ApiRequests {
    fn drop(&mut self) {
        while let Some(p) = self.next() {
            p.answer(stopped());
        }
    }
}

/// The running server. Dropping it stops accepting and removes the socket file.
pub struct ApiServer {
    path: PathBuf,
    inode: (u64, u64),
    stop: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Binds `path` and starts serving. Threads started here inherit the caller's signal mask,
    /// so a VMM that blocks its stop signals must do so first.
    pub fn start(path: &Path) -> Result<(ApiServer, ApiRequests), ServerError> {
        let listener = bind(path)?;
        let meta = std::fs::metadata(path).map_err(|source| ServerError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        let inode = (meta.dev(), meta.ino());
        register_for_panic_cleanup(path, inode);
        let server = ApiServer {
            path: path.to_path_buf(),
            inode,
            stop: Arc::new(EventFd::new(EFD_NONBLOCK).map_err(ServerError::Setup)?),
            thread: None,
        };
        // From here on, dropping `server` removes the socket on every error path.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(ServerError::Setup)?;
        listener.set_nonblocking(true).map_err(ServerError::Setup)?;
        let wake = Arc::new(EventFd::new(EFD_NONBLOCK).map_err(ServerError::Setup)?);
        let (tx, rx) = mpsc::channel();
        let acceptor = Acceptor {
            listener,
            stop: server.stop.clone(),
            tx,
            wake: wake.clone(),
            active: Arc::new(AtomicUsize::new(0)),
        };
        let mut server = server;
        server.thread = Some(
            std::thread::Builder::new()
                .name("api".into())
                .spawn(move || acceptor.run())
                .map_err(ServerError::Setup)?,
        );
        log::info!("API: listening on {}", path.display());
        Ok((server, ApiRequests { rx, wake }))
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.stop.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        remove_if_ours(&self.path, self.inode);
        unregister_for_panic_cleanup(&self.path);
    }
}

/// Binds `path`, replacing a stale socket file (one nobody accepts connections on).
fn bind(path: &Path) -> Result<UnixListener, ServerError> {
    let bind_error = |source| ServerError::Bind {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => {
            return Err(ServerError::NotASocket(path.to_path_buf()))
        }
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => return Err(ServerError::InUse(path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                log::info!(
                    "API: {} is a stale socket (nothing listens on it); replacing it",
                    path.display()
                );
                std::fs::remove_file(path).map_err(bind_error)?;
            }
            Err(e) => return Err(bind_error(e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(bind_error(e)),
    }
    UnixListener::bind(path).map_err(bind_error)
}

fn remove_if_ours(path: &Path, inode: (u64, u64)) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if (m.dev(), m.ino()) == inode => {
            if let Err(e) = std::fs::remove_file(path) {
                log::warn!("API: cannot remove {}: {e}", path.display());
            }
        }
        Ok(_) => log::warn!(
            "API: {} was replaced by another file; leaving it",
            path.display()
        ),
        Err(_) => {}
    }
}

static SOCKETS: Mutex<Vec<(PathBuf, (u64, u64))>> = Mutex::new(Vec::new());

fn sockets() -> std::sync::MutexGuard<'static, Vec<(PathBuf, (u64, u64))>> {
    SOCKETS.lock().unwrap_or_else(|e| e.into_inner())
}

/// With `panic = "abort"` (ovmm's release builds) nothing unwinds and no `Drop` runs, so a
/// panic hook removes the sockets. Unwinding builds drop the server as usual (and a hook would
/// remove the sockets of every other thread's server when one test thread panics).
fn register_for_panic_cleanup(path: &Path, inode: (u64, u64)) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        if cfg!(not(panic = "abort")) {
            return;
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(list) = SOCKETS.try_lock() {
                for (path, inode) in list.iter() {
                    remove_if_ours(path, *inode);
                }
            }
            previous(info);
        }));
    });
    sockets().push((path.to_path_buf(), inode));
}

fn unregister_for_panic_cleanup(path: &Path) {
    sockets().retain(|(p, _)| p != path);
}

/// The accept thread's state.
struct Acceptor {
    listener: UnixListener,
    stop: Arc<EventFd>,
    tx: Sender<Pending>,
    wake: Arc<EventFd>,
    active: Arc<AtomicUsize>,
}

const LISTENER: u64 = 1;
const STOP: u64 = 2;

impl Acceptor {
    fn run(self) {
        let epoll = match self.epoll() {
            Ok(e) => e,
            Err(e) => {
                log::error!("API: cannot watch the socket, the API is off: {e}");
                return;
            }
        };
        let mut events = vec![EpollEvent::default(); 2];
        loop {
            let n = match epoll.wait(-1, &mut events) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!("API: waiting for connections failed, the API is off: {e}");
                    return;
                }
            };
            if events[..n].iter().any(|e| e.data() == STOP) {
                return;
            }
            self.accept_all();
        }
    }

    fn epoll(&self) -> std::io::Result<Epoll> {
        let epoll = Epoll::new()?;
        epoll.ctl(
            ControlOperation::Add,
            self.listener.as_raw_fd(),
            EpollEvent::new(EventSet::IN, LISTENER),
        )?;
        epoll.ctl(
            ControlOperation::Add,
            self.stop.as_raw_fd(),
            EpollEvent::new(EventSet::IN, STOP),
        )?;
        Ok(epoll)
    }

    fn accept_all(&self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.serve(stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of file descriptors and the like: drop this round, keep serving.
                    log::warn!("API: cannot accept a connection: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    return;
                }
            }
        }
    }

    fn serve(&self, mut stream: UnixStream) {
        let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
        if self.active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            self.active.fetch_sub(1, Ordering::AcqRel);
            let e = ApiError::new(
                503,
                format!("too many API connections at once (limit {MAX_CONNECTIONS}); try again"),
            );
            let _ = http::write_response(&mut stream, e.status, &e.body());
            linger(&mut stream, Duration::ZERO);
            return;
        }
        let (tx, wake, active) = (self.tx.clone(), self.wake.clone(), self.active.clone());
        let spawned = std::thread::Builder::new()
            .name("api-conn".into())
            .spawn(move || {
                serve_connection(stream, &tx, &wake);
                active.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            self.active.fetch_sub(1, Ordering::AcqRel);
            log::warn!("API: cannot start a connection thread: {e}");
        }
    }
}

/// Reads one request, answers it and closes the connection.
fn serve_connection(mut stream: UnixStream, tx: &Sender<Pending>, wake: &EventFd) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let (what, reply) = match http::read_request(&mut stream) {
        Ok(req) => {
            let what = format!(
                "{} {}",
                crate::routes::printable(&req.method),
                crate::routes::printable(&req.target)
            );
            (what, answer(&req, tx, wake))
        }
        Err(e) => match e.status() {
            Some(status) => (
                "a bad request".to_string(),
                Reply::Error(ApiError::new(status, e.to_string())),
            ),
            None => {
                log::debug!("API: {e}");
                return;
            }
        },
    };
    let (status, body) = reply.to_http();
    log::debug!("API: {what} -> {status}");
    if let Err(e) = http::write_response(&mut stream, status, &body) {
        log::debug!("API: cannot send the answer to {what}: {e}");
    }
    linger(&mut stream, LINGER);
}

/// How long a connection reads and discards what the client still sends after the answer.
const LINGER: Duration = Duration::from_millis(200);

/// Closes our side for writing, then reads and drops what the client still sends (a body
/// that was refused, a request that was not read), for at most `time`: closing a Unix socket
/// with unread data makes the client's read fail with ECONNRESET before it sees the answer.
fn linger(stream: &mut UnixStream, time: Duration) {
    use std::io::Read;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if time.is_zero() {
        let _ = stream.set_nonblocking(true);
    } else {
        let _ = stream.set_read_timeout(Some(time));
    }
    let mut sink = [0u8; 4096];
    let mut left = 2 * (http::MAX_HEAD + http::MAX_BODY as usize);
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn answer(req: &http::Request, tx: &Sender<Pending>, wake: &EventFd) -> Reply {
    let action = match route(&req.method, &req.target) {
        Ok(a) => a,
        Err(e) => return Reply::Error(e),
    };
    if let Err(e) = check_body(action, &req.body) {
        return Reply::Error(e);
    }
    let (reply, answer) = mpsc::channel();
    if tx.send(Pending { action, reply }).is_err() {
        return stopped();
    }
    let _ = wake.write(1);
    match answer.recv_timeout(VMM_TIMEOUT) {
        Ok(r) => r,
        Err(RecvTimeoutError::Timeout) => Reply::Error(ApiError::new(
            503,
            format!(
                "ovmm did not answer within {} s; it may be busy stopping or rebuilding the VM",
                VMM_TIMEOUT.as_secs()
            ),
        )),
        Err(RecvTimeoutError::Disconnected) => stopped(),
    }
}

#[cfg(test)]
mod tests;
