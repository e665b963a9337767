//! The controlling terminal: raw mode while a guest console is attached to it, and a
//! guaranteed restore on every way out (normal exit, error, signal, panic).
//!
//! The original settings are kept in a process-wide slot so a panic hook can restore them
//! even though release builds abort on panic without unwinding.

use std::sync::Mutex;

static SAVED: Mutex<Option<(i32, libc::termios)>> = Mutex::new(None);

/// Puts a terminal in raw mode for as long as it lives.
pub struct RawTerminal {
    _private: (),
}

impl RawTerminal {
    /// Switches `fd` to raw mode if it is a terminal; returns `None` when it is not one.
    pub fn enable(fd: i32) -> Option<RawTerminal> {
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(fd) } != 1 {
            return None;
        }
        // SAFETY: an all-zero termios is a valid value for tcgetattr to overwrite.
        let mut original: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr writes into the termios we own.
        if unsafe { libc::tcgetattr(fd, &mut original) } != 0 {
            return None;
        }
        let mut raw = original;
        // SAFETY: cfmakeraw only edits the struct we pass.
        unsafe { libc::cfmakeraw(&mut raw) };
        // Keep output post-processing so the host terminal still turns "\n" into "\r\n" for
        // VMM messages; the guest's console writes "\r\n" itself.
        raw.c_oflag = original.c_oflag;
        // SAFETY: tcsetattr reads the struct we pass.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some((fd, original));
        install_panic_restore();
        Some(RawTerminal { _private: () })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        restore();
    }
}

/// Restores the terminal settings saved by [`RawTerminal::enable`], if any.
pub fn restore() {
    let saved = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((fd, original)) = saved {
        // SAFETY: tcsetattr reads the termios saved earlier for this descriptor.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &original) };
    }
}

fn install_panic_restore() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
