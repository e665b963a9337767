//! Tests of the server on real Unix sockets, with a stand-in VMM thread that answers from the
//! channel: routing, bad input that never reaches the VMM, stale and busy sockets, removal.

use super::*;
use crate::client::{self, exchange_raw, request};
use crate::types::{ActionResult, VmState};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ovmm-api-test-{}-{name}.sock", std::process::id()))
}

/// A stand-in VMM: answers every request with a fixed action result naming the action, and
/// counts what it saw.
struct FakeVmm {
    seen: Arc<Mutex<Vec<Action>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeVmm {
    fn start(requests: ApiRequests) -> FakeVmm {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Acquire) {
                let _ = requests.eventfd().read();
                while let Some(p) = requests.next() {
                    s.lock().unwrap().push(p.action);
                    let message = format!("{:?}", p.action);
                    p.answer(Reply::Action {
                        status: 200,
                        result: ActionResult {
                            state: VmState::Running,
                            message,
                        },
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        FakeVmm {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Action> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeVmm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

#[test]
fn serves_requests_and_removes_the_socket() {
    let path = socket_path("serve");
    let (server, requests) = ApiServer::start(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let vmm = FakeVmm::start(requests);

    let r = request(&path, "GET", "/vm", None).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap()["message"], "GetVm");
    let r = request(&path, "PUT", "/vm/pause", Some("{}")).unwrap();
    assert_eq!(
        (r.status, r.json().unwrap()["message"].as_str()),
        (200, Some("Pause"))
    );

    // Bad input is answered by the server and never reaches the VMM.
    let r = request(&path, "DELETE", "/vm", None).unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.json().unwrap()["error"], "/vm takes GET, not DELETE");
    assert_eq!(request(&path, "GET", "/nope", None).unwrap().status, 404);
    assert_eq!(
        request(&path, "PUT", "/vm/reset", Some("{oops"))
            .unwrap()
            .status,
        400
    );
    assert_eq!(vmm.seen(), vec![Action::GetVm, Action::Pause]);

    drop(vmm);
    drop(server);
    assert!(!path.exists(), "the socket file is left behind");
}

#[test]
fn garbage_and_limits_are_answered_without_the_vmm() {
    let path = socket_path("garbage");
    let (_server, requests) = ApiServer::start(&path).unwrap();
    let vmm = FakeVmm::start(requests);
    let status = |bytes: &[u8]| {
        client::parse_response(&exchange_raw(&path, bytes, true).unwrap())
            .unwrap()
            .status
    };
    assert_eq!(
        status(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
        400
    );
    assert_eq!(status(b"GET /vm HTTP/1.1\r\nbroken header\r\n\r\n"), 400);
    assert_eq!(
        status(b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
        413
    );
    let mut big = b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 70000\r\n\r\n".to_vec();
    big.resize(big.len() + 70000, b'x');
    assert_eq!(status(&big), 413);
    assert_eq!(
        status(b"PUT /vm/pause HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        411
    );
    // Half a request, then the client closes: no answer, no harm.
    assert!(exchange_raw(&path, b"GET /vm HT", true).unwrap().is_empty());
    assert!(exchange_raw(&path, b"", true).unwrap().is_empty());
    // Still serving, and the VMM saw none of it.
    assert_eq!(
        request(&path, "GET", "/vm/devices", None).unwrap().status,
        200
    );
    assert_eq!(vmm.seen(), vec![Action::GetDevices]);
}

#[test]
fn a_half_request_times_out_with_408_and_does_not_block_others() {
    let path = socket_path("half");
    let (_server, requests) = ApiServer::start(&path).unwrap();
    let vmm = FakeVmm::start(requests);
    let p = path.clone();
    let started = Instant::now();
    // The client sends half a head and keeps the connection open.
    let slow = std::thread::spawn(move || exchange_raw(&p, b"GET /vm HTTP/1.1\r\nHost:", false));
    std::thread::sleep(Duration::from_millis(200));
    // Meanwhile other clients are served.
    assert_eq!(request(&path, "GET", "/vm", None).unwrap().status, 200);
    let answer = client::parse_response(&slow.join().unwrap().unwrap()).unwrap();
    assert_eq!(answer.status, 408);
    assert!(started.elapsed() >= READ_TIMEOUT);
    assert_eq!(vmm.seen(), vec![Action::GetVm]);
}

#[test]
fn vmm_gone_is_503() {
    let path = socket_path("gone");
    let (_server, requests) = ApiServer::start(&path).unwrap();
    drop(requests);
    let r = request(&path, "PUT", "/vm/pause", None).unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json().unwrap()["error"],
        "the VM has stopped; ovmm is exiting"
    );
}

#[test]
fn stale_socket_is_replaced_busy_one_refused() {
    let path = socket_path("stale");
    // A socket file nobody listens on (a listener bound and dropped leaves its file).
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let (server, _requests) = ApiServer::start(&path).unwrap();
    // A second server on the same path: in use.
    match ApiServer::start(&path) {
        Err(e @ ServerError::InUse(_)) => {
            assert!(e.is_bad_input());
            assert!(e.to_string().contains("is in use"), "{e}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a second server started on a busy socket"),
    }
    assert!(path.exists(), "the busy socket was removed");
    drop(server);
    assert!(!path.exists());
}

#[test]
fn never_replaces_a_file_that_is_not_a_socket() {
    let path = socket_path("regular");
    std::fs::write(&path, b"precious").unwrap();
    let e = ApiServer::start(&path).err().expect("must refuse");
    assert!(matches!(e, ServerError::NotASocket(_)), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_file(&path).unwrap();
    let e = ApiServer::start(Path::new("/nonexistent-dir/ovmm.sock"))
        .err()
        .expect("must fail");
    assert!(matches!(e, ServerError::Bind { .. }), "{e}");
    assert!(e.is_bad_input());
}

#[test]
fn many_connections_at_once() {
    let path = socket_path("many");
    let (_server, requests) = ApiServer::start(&path).unwrap();
    let _vmm = FakeVmm::start(requests);
    let threads: Vec<_> = (0..40)
        .map(|_| {
            let p = path.clone();
            std::thread::spawn(move || request(&p, "GET", "/vm", None).unwrap().status)
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // Each is answered: 200, or 503 when over the connection limit.
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200));
    assert_eq!(request(&path, "GET", "/vm", None).unwrap().status, 200);
}
