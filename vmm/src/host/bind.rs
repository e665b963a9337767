//! Binding devices to vfio-pci and giving them back.
//!
//! Bind takes the whole IOMMU group of each device (bridges excepted) through
//! `driver_override` + unbind + `drivers_probe`, never `new_id`, verifies the result and waits
//! for `/dev/vfio/N`. The journal records each device's original state before the first
//! write. Restore clears the override (or puts back the original one), reprobes, and checks the
//! original driver is back. Both are idempotent and say so.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::bdf::Bdf;
use super::error::HostError;
use super::group::Group;
use super::inuse::host_uses;
use super::journal::{pid_alive, Entry, Journal};
use super::kernel::Kernel;
use super::pci::{self, PciDevice, VFIO_PCI};
use super::sysroot::SysRoot;

pub use super::managed::ManagedBinding;

/// How to bind.
#[derive(Clone, Debug)]
pub struct BindOptions {
    /// Take devices the host needs (default-route NIC, mounted disk, console GPU).
    pub force: bool,
    /// How long to wait for `/dev/vfio/N` after binding.
    pub node_timeout: Duration,
    /// How long to wait for another ovmm holding the journal.
    pub lock_wait: Duration,
    /// The process that owns the binding for one VM run (`managed=on`), or `None`.
    pub owner_pid: Option<u32>,
}

impl Default for BindOptions {
    fn default() -> BindOptions {
        BindOptions {
            force: false,
            node_timeout: Duration::from_secs(5),
            lock_wait: Duration::from_secs(10),
            owner_pid: None,
        }
    }
}

/// One thing bind or restore did (or found already done).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Moved to vfio-pci.
    Bound {
        /// The device.
        bdf: Bdf,
        /// The driver it had.
        from: Option<String>,
    },
    /// Already on a VFIO driver.
    AlreadyBound {
        /// The device.
        bdf: Bdf,
        /// Its VFIO driver.
        driver: String,
    },
    /// A bridge in the group, left with the host.
    BridgeLeft {
        /// The bridge.
        bdf: Bdf,
        /// Its driver.
        driver: Option<String>,
    },
    /// The group's VFIO node exists.
    GroupReady {
        /// The group.
        group: u32,
    },
    /// Given back to its original driver.
    Restored {
        /// The device.
        bdf: Bdf,
        /// The driver it was on.
        from: Option<String>,
        /// The original driver it is on now (`None`: left unbound, as it was).
        to: Option<String>,
    },
    /// Already in its original state; its journal entry was dropped.
    AlreadyRestored {
        /// The device.
        bdf: Bdf,
        /// Its driver.
        driver: Option<String>,
    },
    /// Nothing recorded for this device.
    NotInJournal {
        /// The device.
        bdf: Bdf,
    },
    /// Left bound: a running ovmm uses it.
    Held {
        /// The device.
        bdf: Bdf,
        /// The ovmm process.
        pid: u32,
    },
}

fn or_none(d: &Option<String>) -> &str {
    d.as_deref().unwrap_or("no driver")
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Bound { bdf, from } => write!(f, "{bdf}: {} -> {VFIO_PCI}", or_none(from)),
            Action::AlreadyBound { bdf, driver } => {
                write!(f, "{bdf}: already on {driver}, nothing to do")
            }
            Action::BridgeLeft { bdf, driver } => {
                write!(f, "{bdf}: bridge, stays with the host ({})", or_none(driver))
            }
            Action::GroupReady { group } => write!(f, "group {group}: ready, /dev/vfio/{group}"),
            Action::Restored { bdf, from, to } => {
                write!(f, "{bdf}: {} -> {}", or_none(from), or_none(to))
            }
            Action::AlreadyRestored { bdf, driver } => write!(
                f,
                "{bdf}: already on its original driver ({}), nothing to do",
                or_none(driver)
            ),
            Action::NotInJournal { bdf } => write!(
                f,
                "{bdf}: nothing recorded (already restored, or not bound by ovmm), nothing to do"
            ),
            Action::Held { bdf, pid } => write!(
                f,
                "{bdf}: left on vfio-pci, running ovmm process {pid} uses it (stop it first, or --force)"
            ),
        }
    }
}

/// Binds every device in `devices` and the rest of its IOMMU group to vfio-pci.
///
/// Nothing is changed when a check fails (a bridge was named, no IOMMU group, the host needs
/// a member, a PF with VFs). When a later step fails, the devices this call changed are given
/// back before the error is returned.
pub fn bind(
    root: &SysRoot,
    kernel: &dyn Kernel,
    journal: &Journal,
    devices: &[Bdf],
    opts: &BindOptions,
) -> Result<Vec<Action>, HostError> {
    let groups = plan(root, devices, opts.force)?;
    ensure_vfio_pci(root, kernel)?;
    let _lock = journal.lock(root, opts.lock_wait)?;
    let mut entries = journal.load()?;
    let mut run = Run::default();
    for group in &groups {
        if let Err(e) = bind_group(root, kernel, journal, &mut entries, group, opts, &mut run) {
            rollback(root, kernel, journal, &mut entries, &run.touched);
            return Err(e);
        }
    }
    Ok(run.actions)
}

/// The groups to bind, after refusing what must not be taken.
fn plan(root: &SysRoot, devices: &[Bdf], force: bool) -> Result<Vec<Group>, HostError> {
    let mut groups: Vec<Group> = Vec::new();
    for &bdf in devices {
        let dev = PciDevice::read(root, bdf)?;
        if dev.kind.is_bridge() {
            return Err(HostError::IsBridge(bdf));
        }
        let id = dev.group.ok_or(HostError::NoGroup(bdf))?;
        if !groups.iter().any(|g| g.id == id) {
            groups.push(Group::read(root, id)?);
        }
    }
    let uses = host_uses(root);
    for group in &groups {
        for dev in group.endpoints().filter(|d| !d.on_vfio()) {
            if let Some(why) = uses.get(&dev.bdf).filter(|_| !force) {
                let why = why.iter().map(|u| u.to_string()).collect::<Vec<_>>();
                return Err(HostError::HostNeeds {
                    bdf: dev.bdf,
                    group: group.id,
                    why: why.join("; "),
                });
            }
            let vfs = root.read_opt(&dev.bdf.sysfs("sriov_numvfs"));
            if let Some(vfs) = vfs.and_then(|v| v.parse::<u64>().ok()).filter(|&n| n > 0) {
                return Err(HostError::SriovPf { bdf: dev.bdf, vfs });
            }
        }
    }
    Ok(groups)
}

fn ensure_vfio_pci(root: &SysRoot, kernel: &dyn Kernel) -> Result<(), HostError> {
    let dir = format!("sys/bus/pci/drivers/{VFIO_PCI}");
    if root.exists(&dir) {
        return Ok(());
    }
    log::info!("loading kernel module vfio-pci");
    kernel
        .load_module(root, "vfio-pci")
        .map_err(|reason| HostError::Module {
            module: "vfio-pci".into(),
            reason,
        })?;
    if root.exists(&dir) {
        Ok(())
    } else {
        Err(HostError::Module {
            module: "vfio-pci".into(),
            reason: format!("{} is still missing after loading it", root.shown(&dir)),
        })
    }
}

/// What one bind call has done so far.
#[derive(Default)]
struct Run {
    actions: Vec<Action>,
    /// Devices whose state this call started to change, in order.
    touched: Vec<Bdf>,
}

fn bind_group(
    root: &SysRoot,
    kernel: &dyn Kernel,
    journal: &Journal,
    entries: &mut Vec<Entry>,
    group: &Group,
    opts: &BindOptions,
    run: &mut Run,
) -> Result<(), HostError> {
    let actions = &mut run.actions;
    for dev in &group.devices {
        if dev.kind.is_bridge() {
            actions.push(Action::BridgeLeft {
                bdf: dev.bdf,
                driver: dev.driver.clone(),
            });
            continue;
        }
        if let Some(driver) = dev.driver.clone().filter(|d| pci::is_vfio_driver(d)) {
            actions.push(Action::AlreadyBound {
                bdf: dev.bdf,
                driver,
            });
            continue;
        }
        // Record first: a crash from here on is repaired by `ovmm host restore`.
        match entries.iter_mut().find(|e| e.bdf == dev.bdf) {
            Some(e) => e.owner_pid = opts.owner_pid,
            None => entries.push(Entry {
                bdf: dev.bdf,
                group: group.id,
                driver: dev.driver.clone(),
                driver_override: dev.driver_override.clone(),
                owner_pid: opts.owner_pid,
            }),
        }
        journal.store(entries)?;
        run.touched.push(dev.bdf);
        bind_one(root, kernel, dev)?;
        log::info!("{}: {} -> {VFIO_PCI}", dev.bdf, or_none(&dev.driver));
        actions.push(Action::Bound {
            bdf: dev.bdf,
            from: dev.driver.clone(),
        });
    }
    wait_for_node(root, group.id, opts.node_timeout)?;
    actions.push(Action::GroupReady { group: group.id });
    Ok(())
}

/// Asks the kernel to probe drivers for `bdf` (`drivers_probe`).
fn probe(root: &SysRoot, kernel: &dyn Kernel, bdf: Bdf) -> Result<(), HostError> {
    kernel.probe(root, bdf).map_err(|source| HostError::Kernel {
        op: "drivers_probe".into(),
        bdf,
        source,
    })
}

fn bind_one(root: &SysRoot, kernel: &dyn Kernel, dev: &PciDevice) -> Result<(), HostError> {
    let bdf = dev.bdf;
    let ov = bdf.sysfs("driver_override");
    root.write(&ov, VFIO_PCI)
        .map_err(|e| HostError::io("write", root.path(&ov), e))?;
    if let Some(drv) = &dev.driver {
        kernel
            .unbind(root, bdf)
            .map_err(|source| HostError::Kernel {
                op: format!("unbind from {drv}"),
                bdf,
                source,
            })?;
    }
    probe(root, kernel, bdf)?;
    match pci::driver(root, bdf) {
        Some(d) if pci::is_vfio_driver(&d) => Ok(()),
        got => Err(HostError::WrongDriver {
            bdf,
            wanted: VFIO_PCI.into(),
            got: or_none(&got).to_string(),
            step: "drivers_probe",
            hint: "`dmesg` says why vfio-pci did not take it".into(),
        }),
    }
}

fn wait_for_node(root: &SysRoot, group: u32, timeout: Duration) -> Result<(), HostError> {
    let node = format!("dev/vfio/{group}");
    let start = Instant::now();
    // udev creates the node after the probe returns; poll for it.
    while !root.exists(&node) {
        if start.elapsed() >= timeout {
            return Err(HostError::NoVfioNode {
                group,
                ms: timeout.as_millis(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Gives back the devices a failed bind touched; errors are logged, the journal keeps what
/// could not be undone.
fn rollback(
    root: &SysRoot,
    kernel: &dyn Kernel,
    journal: &Journal,
    entries: &mut Vec<Entry>,
    touched: &[Bdf],
) {
    for bdf in touched.iter().rev() {
        if let Err(e) = restore_entry(root, kernel, journal, entries, *bdf) {
            log::error!("rolling back {bdf} failed: {e}; run `ovmm host restore {bdf}`");
        }
    }
}

/// How to restore.
#[derive(Clone, Debug)]
pub struct RestoreOptions {
    /// Restore devices even when the ovmm process that bound them still runs.
    pub force: bool,
    /// How long to wait for another ovmm holding the journal.
    pub lock_wait: Duration,
}

impl Default for RestoreOptions {
    fn default() -> RestoreOptions {
        RestoreOptions {
            force: false,
            lock_wait: Duration::from_secs(10),
        }
    }
}

/// What restore did, and what it could not do.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Done or found done.
    pub actions: Vec<Action>,
    /// Devices that could not be restored; their journal entries are kept.
    pub failures: Vec<HostError>,
}

impl Outcome {
    /// Whether everything asked for is back (nothing failed, nothing held).
    pub fn complete(&self) -> bool {
        self.failures.is_empty()
            && !self
                .actions
                .iter()
                .any(|a| matches!(a, Action::Held { .. }))
    }
}

/// Gives devices back to their original drivers. With no devices, restores everything in the
/// journal; a named device brings the journalled members of its group with it.
pub fn restore(
    root: &SysRoot,
    kernel: &dyn Kernel,
    journal: &Journal,
    devices: &[Bdf],
    opts: &RestoreOptions,
) -> Result<Outcome, HostError> {
    let _lock = journal.lock(root, opts.lock_wait)?;
    let mut entries = journal.load()?;
    let mut out = Outcome::default();
    let mut groups = Vec::new();
    for &bdf in devices {
        match entries.iter().find(|e| e.bdf == bdf) {
            Some(e) => groups.push(e.group),
            None => out.actions.push(Action::NotInJournal { bdf }),
        }
    }
    let picked: Vec<Entry> = entries
        .iter()
        .filter(|e| devices.is_empty() || groups.contains(&e.group))
        .cloned()
        .collect();
    restore_picked(
        root,
        kernel,
        journal,
        &mut entries,
        &picked,
        opts.force,
        &mut out,
    );
    Ok(out)
}

/// Restores `picked` (reverse address order: a GPU's audio function before the GPU).
pub(super) fn restore_picked(
    root: &SysRoot,
    kernel: &dyn Kernel,
    journal: &Journal,
    entries: &mut Vec<Entry>,
    picked: &[Entry],
    force: bool,
    out: &mut Outcome,
) {
    let me = std::process::id();
    let mut picked = picked.to_vec();
    picked.sort_by_key(|e| std::cmp::Reverse(e.bdf));
    for e in picked {
        if let Some(pid) = e.owner_pid.filter(|&p| p != me && pid_alive(root, p)) {
            if !force {
                out.actions.push(Action::Held { bdf: e.bdf, pid });
                continue;
            }
        }
        match restore_entry(root, kernel, journal, entries, e.bdf) {
            Ok(a) => out.actions.push(a),
            Err(err) => out.failures.push(err),
        }
    }
}

/// Restores one journalled device and drops its entry.
fn restore_entry(
    root: &SysRoot,
    kernel: &dyn Kernel,
    journal: &Journal,
    entries: &mut Vec<Entry>,
    bdf: Bdf,
) -> Result<Action, HostError> {
    let Some(e) = entries.iter().find(|e| e.bdf == bdf).cloned() else {
        return Ok(Action::NotInJournal { bdf });
    };
    let action = if !root.exists(&bdf.sysfs_dir()) {
        // Removed or renumbered since: nothing left to give back.
        log::warn!(
            "{bdf} is gone from {}; dropping its journal entry",
            root.shown("sys/bus/pci/devices")
        );
        Action::NotInJournal { bdf }
    } else {
        restore_one(root, kernel, &e)?
    };
    entries.retain(|x| x.bdf != bdf);
    journal.store(entries)?;
    Ok(action)
}

fn restore_one(root: &SysRoot, kernel: &dyn Kernel, e: &Entry) -> Result<Action, HostError> {
    let bdf = e.bdf;
    let current = pci::driver(root, bdf);
    if current == e.driver && pci::driver_override(root, bdf) == e.driver_override {
        return Ok(Action::AlreadyRestored {
            bdf,
            driver: current,
        });
    }
    // Clear the override with "\n" (an empty write is rejected by some kernels), or put the
    // original one back.
    let ov = bdf.sysfs("driver_override");
    let value = e.driver_override.clone().unwrap_or_else(|| "\n".into());
    root.write(&ov, &value)
        .map_err(|err| HostError::io("write", root.path(&ov), err))?;
    if current.is_some() && current != e.driver {
        kernel
            .unbind(root, bdf)
            .map_err(|source| HostError::Kernel {
                op: format!("unbind from {}", or_none(&current)),
                bdf,
                source,
            })?;
    }
    if let Some(orig) = &e.driver {
        reattach(root, kernel, bdf, orig)?;
    }
    log::info!("{bdf}: {} -> {}", or_none(&current), or_none(&e.driver));
    Ok(Action::Restored {
        bdf,
        from: current,
        to: e.driver.clone(),
    })
}

/// Puts `bdf` back on `orig`: a probe first (the kernel's own choice), then an explicit bind
/// when the probe picked something else (e.g. the device had been bound to pci-stub by hand).
fn reattach(root: &SysRoot, kernel: &dyn Kernel, bdf: Bdf, orig: &str) -> Result<(), HostError> {
    if !root.exists(&format!("sys/bus/pci/drivers/{orig}")) {
        if let Err(e) = kernel.load_module(root, orig) {
            log::warn!("cannot load {orig} for {bdf}: {e}");
        }
    }
    if pci::driver(root, bdf).is_none() {
        probe(root, kernel, bdf)?;
    }
    let now = pci::driver(root, bdf);
    if now.as_deref() == Some(orig) {
        return Ok(());
    }
    if now.is_some() {
        kernel
            .unbind(root, bdf)
            .map_err(|source| HostError::Kernel {
                op: format!("unbind from {}", or_none(&now)),
                bdf,
                source,
            })?;
    }
    kernel
        .bind(root, bdf, orig)
        .map_err(|source| HostError::Kernel {
            op: format!("bind to {orig}"),
            bdf,
            source,
        })?;
    match pci::driver(root, bdf) {
        Some(d) if d == orig => Ok(()),
        got => Err(HostError::WrongDriver {
            bdf,
            wanted: orig.to_string(),
            got: or_none(&got).to_string(),
            step: "bind",
            hint: format!("is the {orig} module loaded? then run `ovmm host restore {bdf}` again"),
        }),
    }
}
