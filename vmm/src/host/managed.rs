//! `--vfio DEVICE,managed=on`: bind before the VM starts, give back when it ends.
//!
//! [`ManagedBinding::acquire`] binds the devices' groups with this process as the journal
//! owner; [`ManagedBinding::release`] (or dropping the binding: normal exit, an error path, a
//! stop signal handled by the main loop) restores exactly the devices it changed. After a
//! `kill -9` the journal still names them and `ovmm host restore` finishes the job, since their
//! owner is gone.

use super::bdf::Bdf;
use super::bind::{bind, restore_picked, Action, BindOptions, Outcome};
use super::error::HostError;
use super::journal::Journal;
use super::kernel::{Kernel, SysfsKernel};
use super::sysroot::SysRoot;

/// Devices bound to vfio-pci for the life of one VM run.
pub struct ManagedBinding {
    root: SysRoot,
    journal: Journal,
    kernel: Box<dyn Kernel>,
    actions: Vec<Action>,
    released: bool,
}

impl std::fmt::Debug for ManagedBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedBinding")
            .field("journal", &self.journal)
            .field("actions", &self.actions)
            .field("released", &self.released)
            .finish()
    }
}

impl ManagedBinding {
    /// Binds `devices` (and their groups) on the real host, journalled in the default journal.
    pub fn acquire(devices: &[Bdf], force: bool) -> Result<ManagedBinding, HostError> {
        let root = SysRoot::host();
        let journal = Journal::default_for(&root);
        let opts = BindOptions {
            force,
            ..BindOptions::default()
        };
        ManagedBinding::acquire_with(
            root,
            journal,
            Box::new(SysfsKernel::default()),
            devices,
            opts,
        )
    }

    /// Binds `devices` through the given root, journal and kernel; `opts.owner_pid` is set to
    /// this process.
    pub fn acquire_with(
        root: SysRoot,
        journal: Journal,
        kernel: Box<dyn Kernel>,
        devices: &[Bdf],
        mut opts: BindOptions,
    ) -> Result<ManagedBinding, HostError> {
        opts.owner_pid = Some(std::process::id());
        let actions = bind(&root, kernel.as_ref(), &journal, devices, &opts)?;
        Ok(ManagedBinding {
            root,
            journal,
            kernel,
            actions,
            released: false,
        })
    }

    /// What acquiring did, for the log.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// The IOMMU groups now on vfio-pci (`/dev/vfio/N`), in order.
    pub fn groups(&self) -> Vec<u32> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::GroupReady { group } => Some(*group),
                _ => None,
            })
            .collect()
    }

    /// The devices this binding moved to vfio-pci (and will give back).
    pub fn changed(&self) -> Vec<Bdf> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Bound { bdf, .. } => Some(*bdf),
                _ => None,
            })
            .collect()
    }

    /// Gives the changed devices back to their original drivers.
    pub fn release(mut self) -> Result<Outcome, HostError> {
        self.released = true;
        self.restore()
    }

    fn restore(&self) -> Result<Outcome, HostError> {
        let changed = self.changed();
        let me = Some(std::process::id());
        let _lock = self
            .journal
            .lock(&self.root, BindOptions::default().lock_wait)?;
        let mut entries = self.journal.load()?;
        let picked: Vec<_> = entries
            .iter()
            .filter(|e| e.owner_pid == me && changed.contains(&e.bdf))
            .cloned()
            .collect();
        let mut out = Outcome::default();
        restore_picked(
            &self.root,
            self.kernel.as_ref(),
            &self.journal,
            &mut entries,
            &picked,
            true,
            &mut out,
        );
        Ok(out)
    }
}

impl Drop for ManagedBinding {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        match self.restore() {
            Ok(out) => {
                for a in &out.actions {
                    log::info!("{a}");
                }
                for e in &out.failures {
                    log::error!("{e}; `ovmm host restore` retries from the journal");
                }
            }
            Err(e) => log::error!("{e}; `ovmm host restore` retries from the journal"),
        }
    }
}
