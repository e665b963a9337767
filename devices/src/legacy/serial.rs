//! The 16550A UART (COM1 on x86, an `ns16550a` MMIO node on arm64): a thin adapter over
//! [`vm_superio::Serial`], which owns the registers, the 64-byte receive FIFO and the interrupt
//! logic.
//!
//! This file adds three things around it:
//! - the interrupt line: an [`EventFd`] the VMM registers as a KVM irqfd ([`EventFdTrigger`]);
//! - input flow control: [`SerialDevice::enqueue_input`] takes what fits in the FIFO and, when
//!   it had to refuse bytes, the optional room eventfd fires once the guest has drained the
//!   FIFO, so the VMM can stop reading stdin while the guest is not reading;
//! - cheap console output. vm-superio flushes its writer after every byte, which would be one
//!   `write(2)` per character. [`ConsoleOut`] keeps the bytes and passes them on at a newline,
//!   when 1 KiB has piled up, and whenever the guest's register accesses show that it stopped
//!   sending: any access other than a THR write or the first LSR read after one. Linux ends
//!   every console write and every interrupt-driven burst with an IER write, and a polling
//!   guest reads LSR twice in a row once it has nothing left to send, so a shell prompt without
//!   a newline appears at once. [`SerialDevice::flush_output`] (and dropping the device) pushes
//!   out whatever is left.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use vm_superio::serial::{Error as SerialError, SerialEvents};
use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

use crate::bus::BusDevice;

/// Number of registers (offsets 0..=7).
pub const SERIAL_REGISTERS: u64 = 8;
/// Size of the receive FIFO (vm-superio's).
pub const RX_FIFO_SIZE: usize = 64;

/// Register offsets the adapter looks at (the rest is vm-superio's business).
const THR: u8 = 0;
const LCR: u8 = 3;
const LSR: u8 = 5;
const LCR_DLAB: u8 = 0x80;

/// Buffered output is passed on once it reaches this many bytes.
const OUTPUT_LIMIT: usize = 1024;

/// An interrupt line backed by an eventfd (registered as a KVM irqfd by the VMM).
#[derive(Debug)]
pub struct EventFdTrigger(EventFd);

impl EventFdTrigger {
    /// Wraps `evt`.
    pub fn new(evt: EventFd) -> Self {
        EventFdTrigger(evt)
    }

    /// The eventfd behind the line.
    pub fn eventfd(&self) -> &EventFd {
        &self.0
    }
}

impl Trigger for EventFdTrigger {
    type E = io::Error;

    fn trigger(&self) -> io::Result<()> {
        self.0.write(1)
    }
}

/// Tells the VMM when the guest has drained the receive FIFO after input was refused.
#[derive(Debug)]
pub struct InputRoom {
    evt: Option<EventFd>,
    /// Set when `enqueue_input` could not take everything; cleared when `evt` is signalled.
    waiting: AtomicBool,
}

impl SerialEvents for InputRoom {
    fn buffer_read(&self) {}
    fn out_byte(&self) {}
    fn tx_lost_byte(&self) {}

    fn in_buffer_empty(&self) {
        if !self.waiting.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Some(evt) = &self.evt {
            if let Err(e) = evt.write(1) {
                log::warn!("serial: cannot signal that the receive FIFO has room: {e}");
            }
        }
    }
}

/// The console writer handed to vm-superio: keeps bytes until a newline, until
/// 1 KiB has piled up, or until the adapter calls [`ConsoleOut::push`].
pub struct ConsoleOut {
    inner: Box<dyn Write + Send>,
    pending: Vec<u8>,
    /// Set after a failed write so a closed console is reported once, not per byte.
    broken: bool,
}

impl ConsoleOut {
    fn new(inner: Box<dyn Write + Send>) -> Self {
        ConsoleOut {
            inner,
            pending: Vec::with_capacity(OUTPUT_LIMIT),
            broken: false,
        }
    }

    /// Writes out everything pending. Output that cannot be written is dropped (the guest
    /// must never block on the console) and the first failure is logged.
    pub fn push(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let result = self
            .inner
            .write_all(&self.pending)
            .and_then(|()| self.inner.flush());
        match result {
            Ok(()) => self.broken = false,
            Err(e) if !self.broken => {
                log::warn!(
                    "serial: dropped {} bytes of guest console output: {e}",
                    self.pending.len()
                );
                self.broken = true;
            }
            Err(_) => {}
        }
        self.pending.clear();
    }

    /// Bytes written by the guest and not yet passed on.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

impl Write for ConsoleOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// Called by vm-superio after every byte: passes the output on only at a line end or
    /// when enough has piled up.
    fn flush(&mut self) -> io::Result<()> {
        if self.pending.last() == Some(&b'\n') || self.pending.len() >= OUTPUT_LIMIT {
            self.push();
        }
        Ok(())
    }
}

impl Drop for ConsoleOut {
    fn drop(&mut self) {
        self.push();
    }
}

/// The UART as a bus device.
pub struct SerialDevice {
    serial: Serial<EventFdTrigger, InputRoom, ConsoleOut>,
    /// The guest read LSR since its last THR write (a second read means it stopped sending).
    lsr_polled: bool,
}

impl SerialDevice {
    /// A UART that raises `interrupt` and writes the guest's output to `out`.
    pub fn new(interrupt: EventFd, out: Box<dyn Write + Send>) -> Self {
        Self::build(interrupt, out, None)
    }

    /// Like [`SerialDevice::new`], and signals `room` when the guest has emptied the receive
    /// FIFO after [`SerialDevice::enqueue_input`] had to refuse bytes.
    pub fn with_room_event(interrupt: EventFd, out: Box<dyn Write + Send>, room: EventFd) -> Self {
        Self::build(interrupt, out, Some(room))
    }

    fn build(interrupt: EventFd, out: Box<dyn Write + Send>, room: Option<EventFd>) -> Self {
        let events = InputRoom {
            evt: room,
            waiting: AtomicBool::new(false),
        };
        SerialDevice {
            serial: Serial::with_events(
                EventFdTrigger::new(interrupt),
                events,
                ConsoleOut::new(out),
            ),
            lsr_polled: false,
        }
    }

    /// Queues as many of `bytes` as the receive FIFO has room for, raises the receive interrupt
    /// if the guest enabled it, and returns how many bytes were taken. The caller keeps the
    /// rest and tries again later (after the room eventfd fires, or by polling
    /// [`SerialDevice::input_room`]). In loopback mode the UART takes no input.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        let take = self.input_room().min(bytes.len());
        if take < bytes.len() {
            self.serial.events().waiting.store(true, Ordering::Relaxed);
        }
        if take == 0 {
            return 0;
        }
        match self.serial.enqueue_raw_bytes(&bytes[..take]) {
            Ok(n) => n,
            // The bytes are in the FIFO; only the interrupt was lost.
            Err(SerialError::Trigger(e)) => {
                log::warn!("serial: cannot raise the receive interrupt: {e}");
                take
            }
            Err(e) => {
                log::warn!("serial: receive FIFO refused {take} bytes: {e}");
                0
            }
        }
    }

    /// Free space in the receive FIFO, in bytes.
    pub fn input_room(&self) -> usize {
        self.serial.fifo_capacity()
    }

    /// Passes on console output that is still buffered (call before the VMM exits).
    pub fn flush_output(&mut self) {
        self.serial.writer_mut().push();
    }

    fn dlab(&mut self) -> bool {
        self.serial.read(LCR) & LCR_DLAB != 0
    }

    fn read_register(&mut self, reg: u8) -> u8 {
        if reg == LSR {
            if self.lsr_polled {
                self.flush_output();
            }
            self.lsr_polled = true;
        } else {
            self.flush_output();
        }
        self.serial.read(reg)
    }

    fn write_register(&mut self, reg: u8, value: u8) {
        if reg == THR && !self.dlab() {
            self.lsr_polled = false;
        } else {
            self.flush_output();
        }
        match self.serial.write(reg, value) {
            Ok(()) => {}
            Err(SerialError::Trigger(e)) => log::warn!("serial: cannot raise the interrupt: {e}"),
            // ConsoleOut never fails a write; anything else is logged and dropped.
            Err(e) => log::warn!("serial: write of {value:#04x} to register {reg} failed: {e}"),
        }
    }
}

impl BusDevice for SerialDevice {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        super::read_bytes(offset, data, SERIAL_REGISTERS, |reg| {
            self.read_register(reg)
        });
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        super::write_bytes(offset, data, SERIAL_REGISTERS, |reg, value| {
            self.write_register(reg, value)
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use vmm_sys_util::eventfd::EFD_NONBLOCK;

    use super::*;

    const RBR: u64 = 0;
    const IER_REG: u64 = 1;
    const IIR: u64 = 2;
    const LSR_REG: u64 = 5;
    const LSR_DR: u8 = 0x01;
    const LSR_THRE: u8 = 0x20;
    const IER_RDA: u8 = 0x01;

    /// A console that records what reaches it and how many `write` calls it took.
    #[derive(Clone, Default)]
    struct Console(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Console {
        fn text(&self) -> Vec<u8> {
            self.0.lock().unwrap().0.clone()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().1
        }
    }

    impl Write for Console {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut c = self.0.lock().unwrap();
            c.0.extend_from_slice(buf);
            c.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Rig {
        dev: SerialDevice,
        irq: EventFd,
        room: EventFd,
        console: Console,
    }

    fn rig() -> Rig {
        let irq = EventFd::new(EFD_NONBLOCK).unwrap();
        let room = EventFd::new(EFD_NONBLOCK).unwrap();
        let console = Console::default();
        let dev = SerialDevice::with_room_event(
            irq.try_clone().unwrap(),
            Box::new(console.clone()),
            room.try_clone().unwrap(),
        );
        Rig {
            dev,
            irq,
            room,
            console,
        }
    }

    fn read(dev: &mut SerialDevice, offset: u64) -> u8 {
        let mut b = [0xAA];
        dev.read(offset, &mut b);
        b[0]
    }

    /// Count of eventfd signals since the last call (0 when none).
    fn fired(evt: &EventFd) -> u64 {
        evt.read().unwrap_or(0)
    }

    #[test]
    fn output_reaches_the_writer_line_by_line() {
        let mut r = rig();
        for &b in b"hello\n" {
            assert_ne!(read(&mut r.dev, LSR_REG) & LSR_THRE, 0);
            r.dev.write(0, &[b]);
        }
        assert_eq!(r.console.text(), b"hello\n");
        // One write(2) for the whole line, not one per byte.
        assert_eq!(r.console.writes(), 1);
    }

    #[test]
    fn prompt_without_newline_appears_when_the_guest_stops_sending() {
        // Linux console path: LSR, THR per byte, then LSR (wait for empty), then IER restore.
        let mut r = rig();
        for &b in b"# " {
            read(&mut r.dev, LSR_REG);
            r.dev.write(0, &[b]);
        }
        read(&mut r.dev, LSR_REG);
        assert_eq!(r.dev.serial.writer().pending(), 2);
        assert!(r.console.text().is_empty());
        r.dev.write(IER_REG, &[0]);
        assert_eq!(r.console.text(), b"# ");

        // A polling guest: the second LSR read in a row pushes the output out.
        r.dev.write(0, b"$");
        read(&mut r.dev, LSR_REG);
        assert_eq!(r.console.text(), b"# ");
        read(&mut r.dev, LSR_REG);
        assert_eq!(r.console.text(), b"# $");
    }

    #[test]
    fn flush_output_and_drop_push_the_rest() {
        let mut r = rig();
        r.dev.write(0, b"a");
        assert!(r.console.text().is_empty());
        r.dev.flush_output();
        assert_eq!(r.console.text(), b"a");
        r.dev.write(0, b"b");
        drop(r.dev);
        assert_eq!(r.console.text(), b"ab");
    }

    #[test]
    fn long_output_is_passed_on_in_chunks() {
        let mut r = rig();
        for _ in 0..OUTPUT_LIMIT + 10 {
            r.dev.write(0, b"x");
        }
        assert_eq!(r.console.text().len(), OUTPUT_LIMIT);
        assert_eq!(r.console.writes(), 1);
    }

    #[test]
    fn failing_console_drops_output_without_growing() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let irq = EventFd::new(EFD_NONBLOCK).unwrap();
        let mut dev = SerialDevice::new(irq, Box::new(Closed));
        dev.write(0, b"line\n");
        assert_eq!(dev.serial.writer().pending(), 0);
        // The guest still sees an empty transmitter.
        assert_ne!(read(&mut dev, LSR_REG) & LSR_THRE, 0);
    }

    #[test]
    fn input_is_read_through_the_data_register() {
        let mut r = rig();
        assert_eq!(read(&mut r.dev, LSR_REG) & LSR_DR, 0);
        assert_eq!(r.dev.enqueue_input(b"ok"), 2);
        assert_eq!(r.dev.input_room(), RX_FIFO_SIZE - 2);
        assert_eq!(read(&mut r.dev, LSR_REG) & LSR_DR, LSR_DR);
        assert_eq!(read(&mut r.dev, RBR), b'o');
        assert_eq!(read(&mut r.dev, LSR_REG) & LSR_DR, LSR_DR);
        assert_eq!(read(&mut r.dev, RBR), b'k');
        assert_eq!(read(&mut r.dev, LSR_REG) & LSR_DR, 0);
        assert_eq!(r.dev.input_room(), RX_FIFO_SIZE);
    }

    #[test]
    fn rx_interrupt_fires_only_when_enabled() {
        let mut r = rig();
        assert_eq!(r.dev.enqueue_input(b"a"), 1);
        assert_eq!(fired(&r.irq), 0, "RX interrupt is disabled at reset");
        read(&mut r.dev, RBR);

        r.dev.write(IER_REG, &[IER_RDA]);
        assert_eq!(fired(&r.irq), 0, "nothing pending yet");
        assert_eq!(r.dev.enqueue_input(b"bc"), 2);
        assert_eq!(fired(&r.irq), 1);
        // More input while the first interrupt is unacknowledged does not fire again.
        assert_eq!(r.dev.enqueue_input(b"d"), 1);
        assert_eq!(fired(&r.irq), 0);
        // IIR says "received data available" (0x04) with the FIFO bits.
        assert_eq!(read(&mut r.dev, IIR), 0xC4);
    }

    #[test]
    fn full_fifo_takes_fewer_bytes_and_signals_room_once_drained() {
        let mut r = rig();
        let input: Vec<u8> = (0..100).collect();
        assert_eq!(r.dev.enqueue_input(&input), RX_FIFO_SIZE);
        assert_eq!(r.dev.input_room(), 0);
        assert_eq!(r.dev.enqueue_input(&input[RX_FIFO_SIZE..]), 0);
        assert_eq!(fired(&r.room), 0);
        for expected in 0..RX_FIFO_SIZE as u8 {
            assert_eq!(read(&mut r.dev, RBR), expected);
        }
        assert_eq!(fired(&r.room), 1);
        assert_eq!(r.dev.input_room(), RX_FIFO_SIZE);
        assert_eq!(r.dev.enqueue_input(&input[RX_FIFO_SIZE..]), 36);
        // Input that fitted does not arm the room event.
        for _ in 0..36 {
            read(&mut r.dev, RBR);
        }
        assert_eq!(fired(&r.room), 0);
    }

    #[test]
    fn wide_accesses_are_split_into_bytes() {
        let mut r = rig();
        r.dev.enqueue_input(b"z");
        let mut two = [0u8; 2];
        // LSR (offset 5) and MSR (offset 6) in one access.
        r.dev.read(LSR_REG, &mut two);
        assert_eq!(two[0] & (LSR_DR | LSR_THRE), LSR_DR | LSR_THRE);
        assert_eq!(two[1], 0xB0, "MSR: DCD, DSR, CTS");
        // Past the last register: zeros.
        let mut past = [0xFFu8; 4];
        r.dev.read(6, &mut past);
        assert_eq!(&past[2..], &[0, 0]);
        // The scratch register round-trips; writes past the end are ignored.
        r.dev.write(7, &[0x5A, 0x77]);
        assert_eq!(read(&mut r.dev, 7), 0x5A);
    }
}
