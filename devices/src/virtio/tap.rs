//! A TAP device the user created, opened through `/dev/net/tun` for virtio-net: frames carry a
//! 12-byte `virtio_net_hdr_v1` in front (`IFF_VNET_HDR`), so they pass between the ring and
//! the TAP unchanged.
//!
//! ovmm never creates the interface: `TUNSETIFF` would create a missing one for a caller with
//! `CAP_NET_ADMIN`, so the name is checked in sysfs first, and errors say how to create it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Size of `struct virtio_net_hdr_v1`, the header of every frame.
pub const VNET_HDR_LEN: usize = 12;
/// Longest interface name (IFNAMSIZ without the NUL).
const MAX_NAME: usize = 15;

/// Why a TAP cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The name cannot be an interface name.
    #[error("'{name}' is not a valid interface name (1 to {MAX_NAME} characters, no '/', spaces or ':')")]
    BadName {
        /// The name given.
        name: String,
    },
    /// No interface of that name.
    #[error("TAP device '{name}' does not exist; create it first: `ip tuntap add dev {name} mode tap user $(id -un) && ip link set {name} up`")]
    NotFound {
        /// The name given.
        name: String,
    },
    /// The interface exists but is not a TAP.
    #[error("network interface '{name}' is not a TAP device ({what}); give ovmm a TAP made with `ip tuntap add dev NAME mode tap`")]
    NotTap {
        /// The name given.
        name: String,
        /// What it is.
        what: &'static str,
    },
    /// /dev/net/tun cannot be opened.
    #[error("cannot open /dev/net/tun for TAP device '{name}': {source}; load the tun module (`modprobe tun`) and check the device node's permissions")]
    OpenTun {
        /// The TAP.
        name: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused to attach.
    #[error("permission denied attaching to TAP device '{name}': create it for your user (`ip tuntap add dev {name} mode tap user $(id -un)`) or run ovmm with CAP_NET_ADMIN")]
    Permission {
        /// The TAP.
        name: String,
    },
    /// Another ioctl failed.
    #[error("cannot set up TAP device '{name}' ({what}): {source}")]
    Ioctl {
        /// The TAP.
        name: String,
        /// Which step.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl TapError {
    /// True for errors in what the user gave (a missing or wrong interface, no permission),
    /// as opposed to a host failure.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, TapError::Ioctl { .. })
    }
}

/// An open TAP queue in non-blocking mode.
#[derive(Debug)]
pub struct Tap {
    name: String,
    file: File,
}

impl Tap {
    /// Attaches to the existing TAP device `name` with a virtio-net v1 header on every frame.
    pub fn open(name: &str) -> Result<Tap, TapError> {
        Self::open_in(Path::new("/sys/class/net"), name)
    }

    /// [`Tap::open`] with the sysfs network folder given (tests use a fake one).
    pub fn open_in(sys_net: &Path, name: &str) -> Result<Tap, TapError> {
        check_name(name)?;
        check_sysfs(sys_net, name)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|source| TapError::OpenTun {
                name: name.to_string(),
                source,
            })?;
        // SAFETY: an all-zero ifreq is a valid value (empty name, zero flags).
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
            *dst = src as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags =
            (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
        // SAFETY: TUNSETIFF reads (and may write back) one ifreq, which lives for the call.
        let ret = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut ifr) };
        if ret < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => TapError::Permission {
                    name: name.to_string(),
                },
                _ => TapError::Ioctl {
                    name: name.to_string(),
                    what: "TUNSETIFF",
                    source: e,
                },
            });
        }
        let size: libc::c_int = VNET_HDR_LEN as libc::c_int;
        // SAFETY: TUNSETVNETHDRSZ reads one int, which lives for the call.
        let ret = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size) };
        if ret < 0 {
            return Err(TapError::Ioctl {
                name: name.to_string(),
                what: "TUNSETVNETHDRSZ",
                source: io::Error::last_os_error(),
            });
        }
        Ok(Tap {
            name: name.to_string(),
            file,
        })
    }

    /// A TAP stand-in over any packet-preserving descriptor (a socketpair in tests). It must be
    /// non-blocking.
    pub fn from_fd(name: &str, fd: OwnedFd) -> Tap {
        Tap {
            name: name.to_string(),
            file: File::from(fd),
        }
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one frame (header included); `WouldBlock` when none is queued.
    pub fn read_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }

    /// Writes one frame (header included).
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        self.file.write(frame)
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

fn check_name(name: &str) -> Result<(), TapError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if ok {
        Ok(())
    } else {
        Err(TapError::BadName {
            name: name.to_string(),
        })
    }
}

/// `IFF_TUN` in `tun_flags`: a layer-3 TUN, not a TAP.
const IFF_TUN: u32 = 0x0001;

fn check_sysfs(sys_net: &Path, name: &str) -> Result<(), TapError> {
    let dir = sys_net.join(name);
    if !dir.exists() {
        return Err(TapError::NotFound {
            name: name.to_string(),
        });
    }
    let flags = std::fs::read_to_string(dir.join("tun_flags")).map_err(|_| TapError::NotTap {
        name: name.to_string(),
        what: "it is not a TUN/TAP interface",
    })?;
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
    if flags & IFF_TUN != 0 {
        return Err(TapError::NotTap {
            name: name.to_string(),
            what: "it is a TUN (layer 3) interface",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sysfs_checks() {
        for bad in ["", "a/b", "has space", "sixteen-chars-xx", "x:1"] {
            assert!(
                matches!(check_name(bad), Err(TapError::BadName { .. })),
                "{bad}"
            );
        }
        assert!(check_name("tap0").is_ok());
        let dir = std::env::temp_dir().join(format!("ovmm-tap-sysfs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tap0")).unwrap();
        std::fs::write(dir.join("tap0/tun_flags"), "0x1002\n").unwrap();
        std::fs::create_dir_all(dir.join("tun0")).unwrap();
        std::fs::write(dir.join("tun0/tun_flags"), "0x1001\n").unwrap();
        std::fs::create_dir_all(dir.join("eth0")).unwrap();
        assert!(check_sysfs(&dir, "tap0").is_ok());
        let e = check_sysfs(&dir, "tap9").unwrap_err();
        assert!(
            e.to_string().contains("'tap9' does not exist")
                && e.to_string().contains("ip tuntap add dev tap9 mode tap"),
            "{e}"
        );
        assert!(e.is_bad_input());
        let e = check_sysfs(&dir, "tun0").unwrap_err().to_string();
        assert!(e.contains("TUN (layer 3)"), "{e}");
        let e = Tap::open_in(&dir, "eth0").unwrap_err().to_string();
        assert!(e.contains("'eth0' is not a TAP device"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
