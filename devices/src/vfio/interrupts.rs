//! Interrupt plumbing of a passed-through function: which VFIO IRQ index is live (INTx, MSI
//! or MSI-X), and the vector routes the VMM's router holds.
//!
//! - INTx is set up at start and whenever MSI / MSI-X is turned off again: VFIO signals the
//!   line's trigger eventfd and unmasks when its resample eventfd fires.
//! - MSI: when the guest enables it, every enabled vector is routed and VFIO is enabled with
//!   that many eventfds at once (a handful at most).
//! - MSI-X: vectors are enabled in VFIO lazily, when the guest first unmasks them: VFIO is
//!   (re-)enabled with the eventfds of vectors `0..=highest unmasked`, as QEMU does, never
//!   with the whole table up front. On an index flagged NORESIZE it is disabled first.
//!
//! A route is updated only when a vector's effective state changes: unmasked with a new
//! message, or masked. Failures cannot be reported to the guest; they are logged with the
//! device's name and the state stays as it was, so the next guest write retries.

use vmm_sys_util::eventfd::EventFd;

use super::backend::{IrqInfo, VfioBackend, VfioBackendError, INTX_IRQ, MSIX_IRQ, MSI_IRQ};
use crate::pci::interrupt::{IntxLine, MsiInterrupts, MsiMessage, MsiVector, VectorUpdate};
use crate::pci::msix::MsixControl;

/// Which interrupt the function uses now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqMode {
    /// None is set up (no INTx line and MSI / MSI-X off).
    Off,
    /// INTx through the [`IntxLine`].
    Intx,
    /// MSI with this many vectors.
    Msi {
        /// Vectors enabled in VFIO.
        vectors: u32,
    },
    /// MSI-X with this many vectors enabled in VFIO so far (0 until the first unmask).
    Msix {
        /// Vectors enabled in VFIO.
        vectors: u32,
    },
}

pub(super) struct Interrupts {
    router: Option<Box<dyn MsiInterrupts>>,
    intx: Option<IntxLine>,
    msi_info: IrqInfo,
    msix_info: IrqInfo,
    mode: IrqMode,
    /// Per vector, the message it is routed with while unmasked; `None` while masked.
    routed: Vec<Option<MsiMessage>>,
}

impl Interrupts {
    pub(super) fn new(
        router: Option<Box<dyn MsiInterrupts>>,
        intx: Option<IntxLine>,
        msi_info: IrqInfo,
        msix_info: IrqInfo,
    ) -> Self {
        let vectors = router.as_ref().map_or(0, |r| r.vector_count());
        Interrupts {
            router,
            intx,
            msi_info,
            msix_info,
            mode: IrqMode::Off,
            routed: vec![None; usize::from(vectors)],
        }
    }

    pub(super) fn mode(&self) -> IrqMode {
        self.mode
    }

    /// Sets up INTx, if the function has a line.
    pub(super) fn start(&mut self, backend: &dyn VfioBackend) -> Result<(), VfioBackendError> {
        let Some(line) = &self.intx else {
            return Ok(());
        };
        backend.enable_irq(INTX_IRQ, &[&line.trigger])?;
        backend.set_intx_unmask_fd(&line.resample)?;
        self.mode = IrqMode::Intx;
        Ok(())
    }

    /// Whether `vector` fired while masked (for the PBA and MSI pending bits).
    pub(super) fn pending(&self, vector: u16) -> bool {
        self.router.as_ref().is_some_and(|r| r.pending(vector))
    }

    /// Follows the MSI capability: `enabled` and its vectors (2^MME of them).
    pub(super) fn update_msi(
        &mut self,
        backend: &dyn VfioBackend,
        label: &str,
        enabled: bool,
        vectors: &[MsiVector],
    ) {
        if self.router.is_none() {
            return;
        }
        if !enabled {
            if matches!(self.mode, IrqMode::Msi { .. }) {
                self.leave(backend, label);
                self.resume_intx(backend, label);
            }
            return;
        }
        let count = vectors
            .len()
            .min(self.msi_info.count as usize)
            .min(self.routed.len());
        if count < vectors.len() {
            log::warn!(
                "{label}: guest enabled {} MSI vectors, only {count} can be delivered",
                vectors.len()
            );
        }
        let numbered: Vec<(u16, MsiVector)> =
            (0u16..).zip(vectors[..count].iter().copied()).collect();
        if self.mode
            == (IrqMode::Msi {
                vectors: count as u32,
            })
        {
            self.route(label, &numbered);
            return;
        }
        self.leave(backend, label);
        self.route(label, &numbered);
        match backend.enable_irq(MSI_IRQ, &self.eventfds(count)) {
            Ok(()) => {
                self.mode = IrqMode::Msi {
                    vectors: count as u32,
                }
            }
            Err(e) => {
                log::error!("{label}: cannot enable {count} MSI vectors: {e}");
                self.mask_all(label);
                self.resume_intx(backend, label);
            }
        }
    }

    /// Follows MSI-X: the control bits and the vectors whose programming may have changed
    /// (the whole table after a control write, one entry after a table write).
    pub(super) fn update_msix(
        &mut self,
        backend: &dyn VfioBackend,
        label: &str,
        control: MsixControl,
        vectors: &[(u16, MsiVector)],
    ) {
        if self.router.is_none() {
            return;
        }
        let active = matches!(self.mode, IrqMode::Msix { .. });
        if !control.enabled {
            if active {
                self.leave(backend, label);
                self.resume_intx(backend, label);
            }
            return;
        }
        if !active {
            self.leave(backend, label);
            self.mode = IrqMode::Msix { vectors: 0 };
        }
        let usable = (self.msix_info.count as usize).min(self.routed.len());
        let (routable, unroutable): (Vec<_>, Vec<_>) = vectors
            .iter()
            .partition(|(vector, _)| usize::from(*vector) < usable);
        if let Some((vector, _)) = unroutable.iter().find(|(_, v)| !v.masked) {
            log::warn!(
                "{label}: MSI-X vector {vector} has no route ({usable} reserved); it cannot fire"
            );
        }
        self.route(label, &routable);
        let wanted = routable
            .iter()
            .filter(|(_, v)| !v.masked)
            .map(|(vector, _)| u32::from(*vector) + 1)
            .max()
            .unwrap_or(0);
        self.grow_msix(backend, label, wanted);
    }

    fn grow_msix(&mut self, backend: &dyn VfioBackend, label: &str, wanted: u32) {
        let IrqMode::Msix { vectors: live } = self.mode else {
            return;
        };
        if wanted <= live {
            return;
        }
        if live > 0 && self.msix_info.noresize() {
            if let Err(e) = backend.disable_irq(MSIX_IRQ) {
                log::error!("{label}: cannot disable MSI-X to grow it to {wanted} vectors: {e}");
                return;
            }
            self.mode = IrqMode::Msix { vectors: 0 };
        }
        match backend.enable_irq(MSIX_IRQ, &self.eventfds(wanted as usize)) {
            Ok(()) => self.mode = IrqMode::Msix { vectors: wanted },
            Err(e) => log::error!("{label}: cannot enable MSI-X vectors 0..{wanted}: {e}"),
        }
    }

    /// Turns off whichever VFIO index is live and masks every routed vector.
    fn leave(&mut self, backend: &dyn VfioBackend, label: &str) {
        let index = match self.mode {
            IrqMode::Intx => Some(INTX_IRQ),
            IrqMode::Msi { .. } => Some(MSI_IRQ),
            IrqMode::Msix { vectors } if vectors > 0 => Some(MSIX_IRQ),
            _ => None,
        };
        if let Some(index) = index {
            if let Err(e) = backend.disable_irq(index) {
                log::error!("{label}: cannot disable IRQ index {index}: {e}");
            }
        }
        self.mask_all(label);
        self.mode = IrqMode::Off;
    }

    fn resume_intx(&mut self, backend: &dyn VfioBackend, label: &str) {
        if let Err(e) = self.start(backend) {
            log::error!("{label}: cannot set INTx up again: {e}");
        }
    }

    /// Sends the vectors whose effective state differs from their route, in one batch.
    fn route(&mut self, label: &str, vectors: &[(u16, MsiVector)]) {
        let Some(router) = self.router.as_mut() else {
            return;
        };
        let updates: Vec<VectorUpdate> = vectors
            .iter()
            .filter(|(vector, v)| {
                let wanted = (!v.masked).then_some(v.message);
                self.routed
                    .get(usize::from(*vector))
                    .is_some_and(|&routed| routed != wanted)
            })
            .map(|&(vector, v)| VectorUpdate {
                vector,
                message: v.message,
                masked: v.masked,
            })
            .collect();
        if updates.is_empty() {
            return;
        }
        match router.update(&updates) {
            Ok(()) => {
                for update in updates {
                    self.routed[usize::from(update.vector)] =
                        (!update.masked).then_some(update.message);
                }
            }
            Err(e) => log::error!(
                "{label}: cannot update the routes of {} vector(s): {e}",
                updates.len()
            ),
        }
    }

    /// Masks every vector that is routed unmasked.
    fn mask_all(&mut self, label: &str) {
        let vectors: Vec<(u16, MsiVector)> = (0u16..)
            .zip(self.routed.iter())
            .filter_map(|(vector, routed)| {
                routed.map(|message| {
                    (
                        vector,
                        MsiVector {
                            message,
                            masked: true,
                        },
                    )
                })
            })
            .collect();
        self.route(label, &vectors);
    }

    fn eventfds(&self, count: usize) -> Vec<&EventFd> {
        let Some(router) = self.router.as_ref() else {
            return Vec::new();
        };
        (0..count)
            .filter_map(|vector| router.eventfd(vector as u16))
            .collect()
    }
}
