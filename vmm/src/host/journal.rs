//! The bind journal: before ovmm changes a device it records the device's original driver and
//! `driver_override` here, so `ovmm host restore` can put things back even after a crash or
//! `kill -9`. The file is small JSON, replaced atomically (write a temporary file, then
//! rename), and guarded by a lock file so two ovmm processes do not lose each other's entries.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::bdf::Bdf;
use super::error::HostError;
use super::sysroot::SysRoot;

/// Where the journal lives unless `--journal` says otherwise (relative to the system root).
pub const DEFAULT_JOURNAL: &str = "run/ovmm/host-journal.json";

const SCHEMA: &str = "ovmm.host-journal/1";

/// The original state of one device, recorded before ovmm touched it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The device.
    pub bdf: Bdf,
    /// Its IOMMU group when it was bound.
    pub group: u32,
    /// The driver it had (`None`: it was unbound).
    pub driver: Option<String>,
    /// The `driver_override` it had.
    pub driver_override: Option<String>,
    /// The ovmm process that bound it for one VM run (`managed=on`); `None` for
    /// `ovmm host bind`, which leaves the device bound until `ovmm host restore`.
    pub owner_pid: Option<u32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    schema: String,
    devices: Vec<Entry>,
}

/// The journal file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// The journal at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Journal {
        Journal { path: path.into() }
    }

    /// The default journal of a system root.
    pub fn default_for(root: &SysRoot) -> Journal {
        Journal::new(root.path(DEFAULT_JOURNAL))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded entries; none when the file does not exist.
    pub fn load(&self) -> Result<Vec<Entry>, HostError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(HostError::io("read", &self.path, e)),
        };
        let file: File = serde_json::from_str(&text).map_err(|e| HostError::Journal {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if file.schema != SCHEMA {
            return Err(HostError::Journal {
                path: self.path.clone(),
                reason: format!("schema {:?}, expected {SCHEMA:?}", file.schema),
            });
        }
        Ok(file.devices)
    }

    /// Replaces the journal with `entries` atomically; removes the file when empty.
    pub fn store(&self, entries: &[Entry]) -> Result<(), HostError> {
        if entries.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    Err(HostError::io("remove", &self.path, e))
                }
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(|e| HostError::io("create", dir, e))?;
        }
        let file = File {
            schema: SCHEMA.to_string(),
            devices: entries.to_vec(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| HostError::Journal {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = self.sibling(&format!("tmp.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        };
        write().map_err(|e| HostError::io("write", &tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| HostError::io("rename into", &self.path, e))
    }

    /// Takes the journal lock, waiting up to `wait` for another ovmm to finish. A lock left by
    /// a dead process is taken over.
    pub fn lock(&self, root: &SysRoot, wait: Duration) -> Result<Lock, HostError> {
        let path = self.sibling("lock");
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| HostError::io("create", dir, e))?;
        }
        let start = Instant::now();
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let pid = std::process::id().to_string();
                    f.write_all(pid.as_bytes())
                        .map_err(|e| HostError::io("write", &path, e))?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(HostError::io("create", &path, e)),
            }
            let holder = fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim().to_string();
            let alive = holder.parse::<u32>().is_ok_and(|pid| pid_alive(root, pid));
            if !alive && !holder.is_empty() {
                log::warn!(
                    "taking over journal lock {} from dead process {holder}",
                    path.display()
                );
                let _ = fs::remove_file(&path);
                continue;
            }
            if start.elapsed() >= wait {
                return Err(HostError::Locked { path, pid: holder });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".");
        name.push(suffix);
        self.path.with_file_name(name)
    }
}

/// Whether process `pid` exists (reads `/proc/<pid>` under the root).
pub fn pid_alive(root: &SysRoot, pid: u32) -> bool {
    root.exists(&format!("proc/{pid}"))
}

/// The held journal lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.path) {
            log::warn!("cannot remove journal lock {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ovmm-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn stores_atomically_and_removes_when_empty() {
        let dir = temp("store");
        let j = Journal::new(dir.join("run/ovmm/host-journal.json"));
        assert_eq!(j.load().unwrap(), vec![]);
        let e = Entry {
            bdf: Bdf::new(0, 1, 0, 0),
            group: 5,
            driver: Some("e1000e".into()),
            driver_override: None,
            owner_pid: Some(42),
        };
        j.store(std::slice::from_ref(&e)).unwrap();
        assert_eq!(j.load().unwrap(), vec![e]);
        let text = fs::read_to_string(j.path()).unwrap();
        assert!(text.contains("\"bdf\": \"0000:01:00.0\""), "{text}");
        assert!(text.contains(SCHEMA));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.join("run/ovmm")).unwrap().count(), 1);
        j.store(&[]).unwrap();
        assert!(!j.path().exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_garbage_and_foreign_schemas() {
        let dir = temp("bad");
        let j = Journal::new(dir.join("j.json"));
        fs::write(j.path(), "{not json").unwrap();
        let e = j.load().unwrap_err().to_string();
        assert!(e.contains("j.json") && e.contains("unreadable"), "{e}");
        fs::write(j.path(), r#"{"schema":"other/9","devices":[]}"#).unwrap();
        let e = j.load().unwrap_err().to_string();
        assert!(e.contains("other/9"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_waits_then_names_the_holder_and_takes_over_dead_ones() {
        let dir = temp("lock");
        let root = SysRoot::new(&dir);
        fs::create_dir_all(root.path("proc/777")).unwrap();
        let j = Journal::new(dir.join("j.json"));
        let held = j.lock(&root, Duration::ZERO).unwrap();
        // Our own pid is not under the fake proc, so plant a live holder instead.
        drop(held);
        fs::write(dir.join("j.json.lock"), "777").unwrap();
        let e = j.lock(&root, Duration::from_millis(50)).unwrap_err();
        assert!(
            matches!(e, HostError::Locked { ref pid, .. } if pid == "777"),
            "{e}"
        );
        // Process 778 does not exist: its lock is stale and taken over.
        fs::write(dir.join("j.json.lock"), "778").unwrap();
        let lock = j.lock(&root, Duration::ZERO).unwrap();
        let holder = fs::read_to_string(dir.join("j.json.lock")).unwrap();
        assert_eq!(holder, std::process::id().to_string());
        drop(lock);
        assert!(!dir.join("j.json.lock").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
