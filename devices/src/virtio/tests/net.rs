//! virtio-net behind the transport, with a SOCK_SEQPACKET socketpair standing in for the TAP
//! (it keeps frame boundaries as a TAP does).

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};

use vm_memory::{Bytes, GuestAddress};

use super::driver::{enable_msix, fired, memory, rig, Buffers, DriverQueue, Rig};
use crate::virtio::net::{default_mac, Net, NetOptions, NetStats};
use crate::virtio::tap::Tap;
use crate::virtio::{lock_device, SharedVirtioDevice};

const VERSION_1: u64 = 1 << 32;
const F_MAC: u64 = 1 << 5;

/// A connected pair of non-blocking SOCK_SEQPACKET sockets.
fn seqpacket_pair() -> (OwnedFd, UnixDatagram) {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into the array, which we then own.
    let ret = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(ret, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe {
        (
            OwnedFd::from_raw_fd(fds[0]),
            UnixDatagram::from_raw_fd(fds[1]),
        )
    }
}

struct Nic {
    rig: Rig,
    rx: DriverQueue,
    tx: DriverQueue,
    bufs: Buffers,
    peer: UnixDatagram,
    device: Arc<Mutex<Net>>,
}

fn nic() -> Nic {
    let (ours, peer) = seqpacket_pair();
    let net = Net::new(NetOptions {
        label: "virtio-net test".into(),
        tap: Tap::from_fd("test0", ours),
        mac: [0x02, 0, 0, 0, 0, 0x42],
    })
    .unwrap();
    let device = Arc::new(Mutex::new(net));
    let shared: SharedVirtioDevice = device.clone();
    let mut rig = rig(shared, 3, memory());
    enable_msix(&mut rig, 3);
    let mem = rig.mem.clone();
    let rx = DriverQueue::new(&mem, 0x1000, 8);
    let tx = DriverQueue::new(&mem, 0x2000, 8);
    assert_eq!(rig.handshake(VERSION_1 | F_MAC, &[&rx, &tx], true), 15);
    rig.run_io();
    Nic {
        rig,
        rx,
        tx,
        bufs: Buffers::new(),
        peer,
        device,
    }
}

impl Nic {
    fn stats(&self) -> NetStats {
        self.device.lock().unwrap().stats()
    }

    /// Posts a receive buffer of `len` bytes; returns its address.
    fn post_rx(&mut self, len: u32) -> u64 {
        let at = self.bufs.alloc(len);
        self.rx.add(&self.rig.mem.clone(), &[(at, len, true)]);
        at
    }

    fn kick(&mut self, queue: u16) {
        self.rig.write16(0x3000 + 4 * u64::from(queue), queue);
        self.rig.run_io();
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(payload);
    f
}

#[test]
fn config_space_has_the_mac_and_link_up() {
    let mut n = nic();
    assert_eq!(n.rig.device_features() & F_MAC, F_MAC);
    let mac: Vec<u8> = (0..6).map(|i| n.rig.read8(0x2000 + i)).collect();
    assert_eq!(mac, [0x02, 0, 0, 0, 0, 0x42]);
    assert_eq!(n.rig.read16(0x2006), 1, "VIRTIO_NET_S_LINK_UP");
    assert_eq!(n.rig.read16(0x12), 2, "receive and transmit queues");
}

#[test]
fn transmit_sends_each_frame_to_the_tap() {
    let mut n = nic();
    let mem = n.rig.mem.clone();
    let f = frame(b"\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x42\x08\x06hello");
    let hdr = n.bufs.alloc(12);
    let body = n.bufs.alloc((f.len() - 12) as u32);
    mem.write_slice(&f[..12], GuestAddress(hdr)).unwrap();
    mem.write_slice(&f[12..], GuestAddress(body)).unwrap();
    n.tx.add(
        &mem,
        &[(hdr, 12, false), (body, (f.len() - 12) as u32, false)],
    );
    n.kick(1);
    let mut got = vec![0u8; 2048];
    let len = n.peer.recv(&mut got).unwrap();
    assert_eq!(&got[..len], &f[..]);
    assert_eq!(n.tx.take_used(&mem), vec![(0, 0)]);
    assert!(fired(&n.rig.vectors[2]), "transmit queue on vector 2");
    assert_eq!(n.stats().tx_frames, 1);
}

#[test]
fn receive_waits_for_buffers() {
    let mut n = nic();
    let mem = n.rig.mem.clone();
    let first = frame(b"first frame");
    let second = frame(&[0x5a; 1500]);
    n.peer.send(&first).unwrap();
    n.peer.send(&second).unwrap();
    // No receive buffer yet: the TAP event reads the first frame and keeps it.
    let tap_fd = lock_device(&n.rig.device).event_sources()[2].fd;
    lock_device(&n.rig.device).handle_event(tap_fd);
    assert!(n.rx.take_used(&mem).is_empty());
    assert!(!fired(&n.rig.vectors[1]));
    // One buffer: the first frame goes in; the second waits.
    let a = n.post_rx(2048);
    n.kick(0);
    assert_eq!(n.rx.take_used(&mem), vec![(0, first.len() as u32)]);
    let mut got = vec![0u8; first.len()];
    mem.read_slice(&mut got, GuestAddress(a)).unwrap();
    assert_eq!(got, first);
    assert!(fired(&n.rig.vectors[1]), "receive queue on vector 1");
    let b = n.post_rx(2048);
    n.kick(0);
    assert_eq!(n.rx.take_used(&mem), vec![(1, second.len() as u32)]);
    let mut got = vec![0u8; second.len()];
    mem.read_slice(&mut got, GuestAddress(b)).unwrap();
    assert_eq!(got, second);
    assert_eq!(n.stats().rx_frames, 2);
}

#[test]
fn a_frame_too_big_for_the_buffer_is_dropped() {
    let mut n = nic();
    let mem = n.rig.mem.clone();
    n.post_rx(64);
    n.peer.send(&frame(&[1; 100])).unwrap();
    let tap_fd = lock_device(&n.rig.device).event_sources()[2].fd;
    lock_device(&n.rig.device).handle_event(tap_fd);
    assert_eq!(n.rx.take_used(&mem), vec![(0, 0)]);
    assert_eq!(n.stats().rx_dropped, 1);
}

#[test]
fn default_mac_is_stable_and_local() {
    let a = default_mac("tap0");
    assert_eq!(a, default_mac("tap0"));
    assert_ne!(a, default_mac("tap1"));
    assert_eq!(a[0] & 0x03, 0x02, "locally administered, unicast");
    for name in ["x", "labtap0", "a-very-long-tap"] {
        assert_eq!(default_mac(name)[0] & 0x03, 0x02);
    }
}
