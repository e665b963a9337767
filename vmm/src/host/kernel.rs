//! The few sysfs writes the kernel reacts to (unbind, probe, bind) and module loading, behind
//! a trait so bind/restore logic runs against a fake in tests. Plain attribute writes such as
//! `driver_override` go straight through [`SysRoot`].

use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use super::bdf::Bdf;
use super::sysroot::SysRoot;

/// Kernel operations that change which driver owns a device.
pub trait Kernel: Send + Sync {
    /// Detaches `bdf` from its driver (`<dev>/driver/unbind`).
    fn unbind(&self, root: &SysRoot, bdf: Bdf) -> io::Result<()>;
    /// Asks the kernel to pick a driver, honouring `driver_override`
    /// (`/sys/bus/pci/drivers_probe`).
    fn probe(&self, root: &SysRoot, bdf: Bdf) -> io::Result<()>;
    /// Binds `bdf` to one named driver (`/sys/bus/pci/drivers/<driver>/bind`).
    fn bind(&self, root: &SysRoot, bdf: Bdf, driver: &str) -> io::Result<()>;
    /// Loads a kernel module.
    fn load_module(&self, root: &SysRoot, module: &str) -> Result<(), String>;
}

/// The real kernel: writes sysfs files, runs `modprobe`.
///
/// A write to `unbind` can block for as long as a driver refuses to let go (a GPU still in
/// use, a VFIO device whose VM has not closed it). Each write runs on its own thread and is
/// given up after `timeout`, so ovmm reports the stuck device instead of hanging with it.
#[derive(Clone, Debug)]
pub struct SysfsKernel {
    /// How long one sysfs write may take.
    pub timeout: Duration,
}

impl Default for SysfsKernel {
    fn default() -> SysfsKernel {
        SysfsKernel {
            timeout: Duration::from_secs(10),
        }
    }
}

impl SysfsKernel {
    fn write(&self, path: PathBuf, data: String) -> io::Result<()> {
        let (tx, rx) = mpsc::channel();
        let shown = path.display().to_string();
        std::thread::Builder::new()
            .name("ovmm-sysfs-write".into())
            .spawn(move || {
                use std::io::Write;
                let res = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(data.as_bytes()));
                let _ = tx.send(res);
            })?;
        match rx.recv_timeout(self.timeout) {
            Ok(res) => res,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "writing {shown} did not finish within {} s (the driver may still be in use; \
                     check `dmesg`)",
                    self.timeout.as_secs()
                ),
            )),
        }
    }
}

impl Kernel for SysfsKernel {
    fn unbind(&self, root: &SysRoot, bdf: Bdf) -> io::Result<()> {
        self.write(root.path(&bdf.sysfs("driver/unbind")), bdf.to_string())
    }

    fn probe(&self, root: &SysRoot, bdf: Bdf) -> io::Result<()> {
        self.write(root.path("sys/bus/pci/drivers_probe"), bdf.to_string())
    }

    fn bind(&self, root: &SysRoot, bdf: Bdf, driver: &str) -> io::Result<()> {
        let path = root.path(&format!("sys/bus/pci/drivers/{driver}/bind"));
        self.write(path, bdf.to_string())
    }

    fn load_module(&self, _root: &SysRoot, module: &str) -> Result<(), String> {
        let out = Command::new("modprobe")
            .arg(module)
            .output()
            .map_err(|e| format!("cannot run modprobe: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Err(format!("modprobe {module} failed ({}): {msg}", out.status))
        }
    }
}
