//! Pausing vCPU threads: [`PauseGate`] parks every vCPU thread outside KVM_RUN until it is
//! released (the API's `PUT /vm/pause` and `PUT /vm/resume`).
//!
//! The VMM sets the request, then kicks the threads out of KVM_RUN (the same kick that stops
//! them); each thread checks the gate at the top of its loop, counts itself parked and waits.
//! [`PauseGate::pause`] returns once all of them are parked, so when it returns no guest code
//! runs. Stopping the VM releases parked threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct GateState {
    paused: bool,
    parked: usize,
}

/// Where vCPU threads park while the VM is paused.
#[derive(Default)]
pub struct PauseGate {
    requested: AtomicBool,
    state: Mutex<GateState>,
    changed: Condvar,
}

impl PauseGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while a pause is requested (cheap; checked on every loop iteration).
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Called by a vCPU thread: waits while the VM is paused and `stop` is not set.
    pub fn park(&self, stop: &AtomicBool) {
        let mut state = self.lock();
        if !state.paused {
            return;
        }
        state.parked += 1;
        self.changed.notify_all();
        while state.paused && !stop.load(Ordering::Acquire) {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.parked -= 1;
        self.changed.notify_all();
    }

    /// Requests a pause; the caller then kicks the threads out of KVM_RUN and calls
    /// [`PauseGate::wait_parked`].
    pub fn request(&self) {
        self.lock().paused = true;
        self.requested.store(true, Ordering::Release);
    }

    /// Waits until `threads` threads are parked, at most `timeout`. False on timeout.
    pub fn wait_parked(&self, threads: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.parked < threads {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Lets parked threads run again.
    pub fn release(&self) {
        self.requested.store(false, Ordering::Release);
        self.lock().paused = false;
        self.changed.notify_all();
    }

    /// Wakes parked threads so they see a stop flag that was just set.
    pub fn wake(&self) {
        let _guard = self.lock();
        self.changed.notify_all();
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    /// Threads that count loop iterations and park at the gate like vCPU threads do.
    fn spinners(
        gate: &Arc<PauseGate>,
        stop: &Arc<AtomicBool>,
        n: usize,
    ) -> (Vec<std::thread::JoinHandle<()>>, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        let threads = (0..n)
            .map(|_| {
                let (gate, stop, count) = (gate.clone(), stop.clone(), count.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        if gate.requested() {
                            gate.park(&stop);
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        (threads, count)
    }

    #[test]
    fn pause_parks_every_thread_and_release_resumes_them() {
        let gate = Arc::new(PauseGate::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (threads, count) = spinners(&gate, &stop, 3);
        std::thread::sleep(Duration::from_millis(20));
        gate.request();
        assert!(gate.wait_parked(3, Duration::from_secs(10)));
        assert!(gate.is_paused());
        let frozen = count.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            count.load(Ordering::Relaxed),
            frozen,
            "a thread ran while paused"
        );
        gate.release();
        assert!(!gate.is_paused());
        let t0 = Instant::now();
        while count.load(Ordering::Relaxed) == frozen {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "threads did not resume"
            );
            std::thread::yield_now();
        }
        // Stopping while paused releases the parked threads.
        gate.request();
        assert!(gate.wait_parked(3, Duration::from_secs(10)));
        stop.store(true, Ordering::Release);
        gate.wake();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn wait_parked_times_out_when_a_thread_never_parks() {
        let gate = PauseGate::default();
        gate.request();
        assert!(!gate.wait_parked(1, Duration::from_millis(30)));
        gate.release();
        assert!(gate.wait_parked(0, Duration::from_millis(1)));
    }
}
