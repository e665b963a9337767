//! The PL061 GPIO controller of the arm64 platform (`arm,pl061` in the device tree): eight
//! GPIO lines with edge or level interrupt detection. ovmm wires one input line to a
//! `gpio-keys` power key, so a press from the VMM reaches the guest as KEY_POWER.
//!
//! Registers (all 8 bits wide, one per 32-bit word, as in the PL061 TRM):
//! - `GPIODATA` at 0x000..=0x3fc: address bits 9..2 mask the access. A read returns the pin
//!   levels under the mask (0 elsewhere); a write changes the output latch under the mask only.
//!   A pin shows the latch when `GPIODIR` makes it an output, the level the VMM drives on it
//!   ([`Pl061Device::set_input`]) when it is an input.
//! - `GPIODIR` 0x400 (1 = output), `GPIOIS` 0x404 (1 = level, 0 = edge sensitive), `GPIOIBE`
//!   0x408 (both edges), `GPIOIEV` 0x40c (1 = rising edge or high level), `GPIOIE` 0x410
//!   (interrupt enable), `GPIORIS` 0x414 (raw status, read-only), `GPIOMIS` 0x418 (masked
//!   status, read-only), `GPIOIC` 0x41c (write 1s to clear latched edges; write-only),
//!   `GPIOAFSEL` 0x420 (kept, no effect).
//! - PrimeCell IDs at 0xfe0..=0xffc (peripheral 0x00041061, cell 0xb105f00d), which Linux's
//!   AMBA bus reads to bind `gpio-pl061`.
//!
//! The interrupt: the hardware's GPIOINTR is the OR of `GPIOMIS`. ovmm signals it through an
//! irqfd, which pulses the SPI, so the device tree describes it edge-triggered and the model
//! pulses whenever a bit of `GPIOMIS` goes from 0 to 1 (a new event, an interrupt enabled over a
//! pending one, a level that starts to match). A bit that stays set raises nothing more: the
//! guest's handler reads `GPIOMIS` and clears what it handled, and anything that becomes pending
//! after that pulses again.
//!
//! Accesses: the registers sit in the low byte of each word. A read at a word's first byte
//! returns the register in the first byte and 0 in the others; other offsets read 0. A write at
//! a word's first byte takes its first byte; other writes, and anything past the 4 KiB frame,
//! are ignored.

use std::io;

use vmm_sys_util::eventfd::EventFd;

use crate::bus::BusDevice;

/// Size of the PL061's register frame.
pub const PL061_SIZE: u64 = 0x1000;
/// Number of GPIO lines.
pub const PL061_PINS: u8 = 8;

const GPIODATA_END: u64 = 0x400;
const GPIODIR: u64 = 0x400;
const GPIOIS: u64 = 0x404;
const GPIOIBE: u64 = 0x408;
const GPIOIEV: u64 = 0x40c;
const GPIOIE: u64 = 0x410;
const GPIORIS: u64 = 0x414;
const GPIOMIS: u64 = 0x418;
const GPIOIC: u64 = 0x41c;
const GPIOAFSEL: u64 = 0x420;
const ID_START: u64 = 0xfe0;
/// GPIOPeriphID0..3 then GPIOPCellID0..3, one byte per word.
const IDS: [u8; 8] = [0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// The PL061 as a bus device.
pub struct Pl061Device {
    /// Output latch (`GPIODATA` as written).
    latch: u8,
    /// Levels the VMM drives on the lines (seen on input pins).
    inputs: u8,
    dir: u8,
    is: u8,
    ibe: u8,
    iev: u8,
    ie: u8,
    afsel: u8,
    /// Edge events latched and not yet cleared.
    edges: u8,
    /// `GPIOMIS` after the last change: the bits that already raised the interrupt.
    signalled: u8,
    irq: EventFd,
    pulses: u64,
}

impl Pl061Device {
    /// A controller in its reset state (every pin an input at level 0, every interrupt off)
    /// whose interrupt pulses `irq` (an irqfd on an edge-triggered SPI).
    pub fn new(irq: EventFd) -> Self {
        Pl061Device {
            latch: 0,
            inputs: 0,
            dir: 0,
            is: 0,
            ibe: 0,
            iev: 0,
            ie: 0,
            afsel: 0,
            edges: 0,
            signalled: 0,
            irq,
            pulses: 0,
        }
    }

    /// Drives input line `pin` (0..=7) high or low, as a button or sensor outside the guest
    /// would. The pin sees it while it is an input; an edge the guest enabled raises the
    /// interrupt. Fails for a pin the controller does not have, or if the interrupt cannot be
    /// signalled.
    pub fn set_input(&mut self, pin: u8, high: bool) -> io::Result<()> {
        if pin >= PL061_PINS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the PL061 has GPIO lines 0 to 7, not {pin}"),
            ));
        }
        let before = self.levels();
        let bit = 1u8 << pin;
        self.inputs = if high {
            self.inputs | bit
        } else {
            self.inputs & !bit
        };
        self.changed(before)
    }

    /// The level of each pin (bit n = pin n).
    pub fn levels(&self) -> u8 {
        (self.latch & self.dir) | (self.inputs & !self.dir)
    }

    /// How many times the interrupt was raised.
    pub fn pulses(&self) -> u64 {
        self.pulses
    }

    /// `GPIORIS`: latched edges of edge-sensitive pins, matching levels of level-sensitive ones.
    fn raw_status(&self) -> u8 {
        let level_match = !(self.levels() ^ self.iev);
        (self.edges & !self.is) | (level_match & self.is)
    }

    /// `GPIOMIS`.
    fn masked_status(&self) -> u8 {
        self.raw_status() & self.ie
    }

    /// Latches the edges between `before` and the pins' levels now, then raises the interrupt
    /// for new `GPIOMIS` bits.
    fn changed(&mut self, before: u8) -> io::Result<()> {
        let now = self.levels();
        let changed = before ^ now;
        let rising = changed & now;
        let falling = changed & before;
        let wanted = (changed & self.ibe)
            | (rising & self.iev & !self.ibe)
            | (falling & !self.iev & !self.ibe);
        self.edges |= wanted & !self.is;
        self.update_interrupt()
    }

    /// Pulses the interrupt when `GPIOMIS` gained a bit since the last check.
    fn update_interrupt(&mut self) -> io::Result<()> {
        let mis = self.masked_status();
        let new = mis & !self.signalled;
        self.signalled = mis;
        if new != 0 {
            self.pulses += 1;
            self.irq.write(1)?;
        }
        Ok(())
    }

    fn read_register(&self, offset: u64) -> u8 {
        match offset {
            0..GPIODATA_END => self.levels() & ((offset >> 2) as u8),
            GPIODIR => self.dir,
            GPIOIS => self.is,
            GPIOIBE => self.ibe,
            GPIOIEV => self.iev,
            GPIOIE => self.ie,
            GPIORIS => self.raw_status(),
            GPIOMIS => self.masked_status(),
            GPIOAFSEL => self.afsel,
            ID_START..PL061_SIZE => IDS[((offset - ID_START) >> 2) as usize],
            _ => 0,
        }
    }

    fn write_register(&mut self, offset: u64, value: u8) -> io::Result<()> {
        let before = self.levels();
        match offset {
            0..GPIODATA_END => {
                let mask = (offset >> 2) as u8;
                self.latch = (self.latch & !mask) | (value & mask);
            }
            GPIODIR => self.dir = value,
            GPIOIS => self.is = value,
            GPIOIBE => self.ibe = value,
            GPIOIEV => self.iev = value,
            GPIOIE => self.ie = value,
            GPIOIC => self.edges &= !value,
            GPIOAFSEL => self.afsel = value,
            _ => {
                log::debug!("pl061: ignored a write of {value:#x} to read-only or missing offset {offset:#x}");
                return Ok(());
            }
        }
        self.changed(before)
    }
}

impl BusDevice for Pl061Device {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if offset & 3 == 0 && offset < PL061_SIZE {
            if let Some(first) = data.first_mut() {
                *first = self.read_register(offset);
            }
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let Some(&value) = data.first() else { return };
        if offset & 3 != 0 || offset >= PL061_SIZE {
            log::debug!("pl061: ignored a write at unaligned or outside offset {offset:#x}");
            return;
        }
        if let Err(e) = self.write_register(offset, value) {
            log::warn!("pl061: cannot raise the GPIO interrupt: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
