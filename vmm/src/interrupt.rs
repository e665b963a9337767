//! Interrupt routing for passed-through devices: the KVM GSI routing table, one irqfd per
//! MSI/MSI-X vector, and level-triggered INTx lines with KVM's resample fd.
//!
//! [`GsiRouter`] owns the whole routing table. KVM replaces the table on every update, so the
//! router always writes the in-kernel irqchip's default routes together with the MSI routes of
//! every vector: on x86 legacy IRQs 0-15 on the PIC and the IOAPIC and 16-23 on the IOAPIC; on
//! arm64 GSI `n` to SPI `n` for every SPI of the vGIC (what KVM's vGIC sets up itself).
//! [`KvmMsiVectors`] is the device-facing half: the device model asks it to re-route or mask
//! vectors, without knowing KVM.
//!
//! On arm64 MSIs go to the vITS, which needs to know which device sent them: routes of a
//! device built [`KvmMsiVectors::with_requester_id`] carry `KVM_MSI_VALID_DEVID` and the
//! device's PCI requester ID, the same number the device tree's `msi-map` gives the guest.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use devices::pci::interrupt::{IntxLine, MsiInterrupts, VectorUpdate};
use kvm_bindings::{
    kvm_irq_routing_entry, KvmIrqRouting, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI,
    KVM_MSI_VALID_DEVID,
};
use kvm_ioctls::VmFd;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// First GSI handed out for MSI vectors (0-23 are the IOAPIC pins).
#[cfg(target_arch = "x86_64")]
pub const FIRST_MSI_GSI: u32 = 24;
/// First GSI handed out for MSI vectors (the ones below are the vGIC's SPIs).
#[cfg(target_arch = "aarch64")]
pub const FIRST_MSI_GSI: u32 =
    arch::aarch64::layout::GIC_NR_IRQS - arch::aarch64::layout::GIC_SPI_INTID_BASE;
/// KVM's routing table size limit (KVM_MAX_IRQ_ROUTES).
pub const MAX_GSI: u32 = 4095;

/// Errors from routing interrupts.
#[derive(Debug, thiserror::Error)]
pub enum InterruptError {
    /// All GSIs are in use.
    #[error("out of interrupt routes: {wanted} more vectors do not fit in KVM's {MAX_GSI} GSIs")]
    OutOfGsis {
        /// How many were asked for.
        wanted: u32,
    },
    /// KVM refused a call.
    #[error("cannot {what}: {source}")]
    Kvm {
        /// What ovmm was doing.
        what: &'static str,
        /// KVM's error.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// An eventfd could not be created.
    #[error("cannot create an interrupt eventfd: {0}")]
    EventFd(#[source] io::Error),
}

/// An MSI route: the message and, for the vITS, the sender's device ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MsiRoute {
    address: u64,
    data: u32,
    devid: Option<u32>,
}

struct RouterState {
    msi: BTreeMap<u32, MsiRoute>,
    next_gsi: u32,
}

/// The VM's GSI routing table.
pub struct GsiRouter {
    vm: Arc<VmFd>,
    state: Mutex<RouterState>,
}

impl GsiRouter {
    /// A router for `vm` with only the default irqchip routes.
    pub fn new(vm: Arc<VmFd>) -> Self {
        GsiRouter {
            vm,
            state: Mutex::new(RouterState {
                msi: BTreeMap::new(),
                next_gsi: FIRST_MSI_GSI,
            }),
        }
    }

    /// Reserves `count` consecutive GSIs for MSI vectors.
    pub fn allocate(&self, count: u32) -> Result<std::ops::Range<u32>, InterruptError> {
        let mut s = lock(&self.state);
        let start = s.next_gsi;
        let end = start
            .checked_add(count)
            .filter(|&e| e <= MAX_GSI)
            .ok_or(InterruptError::OutOfGsis { wanted: count })?;
        s.next_gsi = end;
        Ok(start..end)
    }

    /// Sets (`Some`) or removes (`None`) the MSI route of `gsi`; call [`Self::commit`] after.
    fn set_msi(&self, gsi: u32, message: Option<MsiRoute>) {
        let mut s = lock(&self.state);
        match message {
            Some(m) => s.msi.insert(gsi, m),
            None => s.msi.remove(&gsi),
        };
    }

    /// Writes the whole table to KVM.
    pub fn commit(&self) -> Result<(), InterruptError> {
        let s = lock(&self.state);
        let mut entries = default_routes();
        entries.extend(s.msi.iter().map(|(&gsi, route)| msi_route(gsi, route)));
        let table =
            KvmIrqRouting::from_entries(&entries).map_err(|_| InterruptError::OutOfGsis {
                wanted: entries.len() as u32,
            })?;
        self.vm
            .set_gsi_routing(&table)
            .map_err(|source| InterruptError::Kvm {
                what: "update the interrupt routing table",
                source,
            })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn irqchip_route(gsi: u32, irqchip: u32, pin: u32) -> kvm_irq_routing_entry {
    let mut e = kvm_irq_routing_entry {
        gsi,
        type_: KVM_IRQ_ROUTING_IRQCHIP,
        ..Default::default()
    };
    e.u.irqchip.irqchip = irqchip;
    e.u.irqchip.pin = pin;
    e
}

fn msi_route(gsi: u32, route: &MsiRoute) -> kvm_irq_routing_entry {
    let mut e = kvm_irq_routing_entry {
        gsi,
        type_: KVM_IRQ_ROUTING_MSI,
        ..Default::default()
    };
    e.u.msi.address_lo = route.address as u32;
    e.u.msi.address_hi = (route.address >> 32) as u32;
    e.u.msi.data = route.data;
    if let Some(devid) = route.devid {
        e.flags = KVM_MSI_VALID_DEVID;
        e.u.msi.__bindgen_anon_1.devid = devid;
    }
    e
}

/// The routes KVM installs by itself with an in-kernel irqchip (Linux's `default_routing`).
#[cfg(target_arch = "x86_64")]
fn default_routes() -> Vec<kvm_irq_routing_entry> {
    use kvm_bindings::{KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE};
    let mut routes = Vec::with_capacity(40);
    for irq in 0..24 {
        routes.push(irqchip_route(irq, KVM_IRQCHIP_IOAPIC, irq));
        if irq < 8 {
            routes.push(irqchip_route(irq, KVM_IRQCHIP_PIC_MASTER, irq));
        } else if irq < 16 {
            routes.push(irqchip_route(irq, KVM_IRQCHIP_PIC_SLAVE, irq % 8));
        }
    }
    routes
}

/// The routes KVM's vGIC installs when it is initialised: GSI `n` to SPI `n` (irqchip 0,
/// pin `n`) for every SPI.
#[cfg(target_arch = "aarch64")]
fn default_routes() -> Vec<kvm_irq_routing_entry> {
    (0..FIRST_MSI_GSI)
        .map(|spi| irqchip_route(spi, 0, spi))
        .collect()
}

struct Vector {
    gsi: u32,
    evt: EventFd,
    registered: bool,
}

/// The MSI/MSI-X vectors of one device: an eventfd and a GSI each. A vector's irqfd is
/// registered only while the vector is unmasked, so an interrupt raised while masked stays
/// counted in its eventfd (the pending bit) and is injected when the guest unmasks it.
pub struct KvmMsiVectors {
    router: Arc<GsiRouter>,
    vm: Arc<VmFd>,
    vectors: Vec<Vector>,
    devid: Option<u32>,
}

impl KvmMsiVectors {
    /// Reserves `count` vectors.
    pub fn new(router: Arc<GsiRouter>, vm: Arc<VmFd>, count: u16) -> Result<Self, InterruptError> {
        let gsis = router.allocate(u32::from(count))?;
        let vectors = gsis
            .map(|gsi| {
                Ok(Vector {
                    gsi,
                    evt: EventFd::new(EFD_NONBLOCK).map_err(InterruptError::EventFd)?,
                    registered: false,
                })
            })
            .collect::<Result<_, InterruptError>>()?;
        Ok(KvmMsiVectors {
            router,
            vm,
            vectors,
            devid: None,
        })
    }

    /// Makes every route of these vectors carry the device's PCI requester ID
    /// (`bus << 8 | device << 3 | function`) as its device ID, which a vITS needs.
    pub fn with_requester_id(mut self, requester_id: u16) -> Self {
        self.devid = Some(u32::from(requester_id));
        self
    }
}

impl MsiInterrupts for KvmMsiVectors {
    fn vector_count(&self) -> u16 {
        self.vectors.len() as u16
    }

    fn eventfd(&self, vector: u16) -> Option<&EventFd> {
        self.vectors.get(usize::from(vector)).map(|v| &v.evt)
    }

    fn update(&mut self, updates: &[VectorUpdate]) -> io::Result<()> {
        for u in updates {
            if let Some(v) = self.vectors.get(usize::from(u.vector)) {
                let programmed = u.message.address != 0;
                self.router.set_msi(
                    v.gsi,
                    programmed.then_some(MsiRoute {
                        address: u.message.address,
                        data: u.message.data,
                        devid: self.devid,
                    }),
                );
            }
        }
        self.router.commit().map_err(io::Error::other)?;
        for u in updates {
            let Some(v) = self.vectors.get_mut(usize::from(u.vector)) else {
                continue;
            };
            let deliver = !u.masked && u.message.address != 0;
            if deliver && !v.registered {
                self.vm
                    .register_irqfd(&v.evt, v.gsi)
                    .map_err(io::Error::from)?;
                v.registered = true;
            } else if !deliver && v.registered {
                self.vm
                    .unregister_irqfd(&v.evt, v.gsi)
                    .map_err(io::Error::from)?;
                v.registered = false;
            }
        }
        Ok(())
    }

    fn pending(&self, vector: u16) -> bool {
        let Some(v) = self.vectors.get(usize::from(vector)) else {
            return false;
        };
        !v.registered && eventfd_has_count(&v.evt)
    }
}

impl Drop for KvmMsiVectors {
    fn drop(&mut self) {
        for v in self.vectors.iter().filter(|v| v.registered) {
            let _ = self.vm.unregister_irqfd(&v.evt, v.gsi);
        }
    }
}

fn eventfd_has_count(evt: &EventFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: evt.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one pollfd we own, with a zero timeout.
    unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
}

/// Connects an INTx line to `gsi` as a level-triggered irqfd with resample: VFIO signals the
/// trigger, the guest's EOI signals the resample fd, which VFIO uses to unmask the line, so
/// the whole cycle stays in the kernel. Returns the VMM's copies of the eventfds, which must
/// live as long as the registration.
pub fn connect_intx(vm: &VmFd, line: &IntxLine, gsi: u32) -> Result<IntxLine, InterruptError> {
    let ours = line.try_clone().map_err(InterruptError::EventFd)?;
    vm.register_irqfd_with_resample(&ours.trigger, &ours.resample, gsi)
        .map_err(|source| InterruptError::Kvm {
            what: "register a level-triggered INTx irqfd with resample",
            source,
        })?;
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn default_routes_match_kvm() {
        use kvm_bindings::{KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE};
        let r = default_routes();
        // 24 IOAPIC pins + 16 PIC pins.
        assert_eq!(r.len(), 40);
        // SAFETY: reading the irqchip variant of entries built as irqchip routes.
        let pins: Vec<(u32, u32, u32)> = r
            .iter()
            .map(|e| unsafe { (e.gsi, e.u.irqchip.irqchip, e.u.irqchip.pin) })
            .collect();
        assert!(pins.contains(&(4, KVM_IRQCHIP_IOAPIC, 4)));
        assert!(pins.contains(&(4, KVM_IRQCHIP_PIC_MASTER, 4)));
        assert!(pins.contains(&(12, KVM_IRQCHIP_PIC_SLAVE, 4)));
        assert!(pins.contains(&(20, KVM_IRQCHIP_IOAPIC, 20)));
        assert!(!pins.iter().any(|p| p.0 == 20 && p.1 != KVM_IRQCHIP_IOAPIC));
    }

    #[test]
    #[cfg(target_arch = "aarch64")]
    fn default_routes_match_the_vgic() {
        let r = default_routes();
        assert_eq!(r.len(), 224);
        // SAFETY: reading the irqchip variant of entries built as irqchip routes.
        let pins: Vec<(u32, u32, u32)> = r
            .iter()
            .map(|e| unsafe { (e.gsi, e.u.irqchip.irqchip, e.u.irqchip.pin) })
            .collect();
        assert_eq!(pins[1], (1, 0, 1));
        assert_eq!(pins[223], (223, 0, 223));
        assert!(r.iter().all(|e| e.type_ == KVM_IRQ_ROUTING_IRQCHIP));
        assert_eq!(FIRST_MSI_GSI, 224);
    }

    #[test]
    fn msi_route_splits_the_address() {
        let route = MsiRoute {
            address: 0x1_fee0_1000,
            data: 0x4041,
            devid: None,
        };
        let e = msi_route(30, &route);
        // SAFETY: reading the msi variant of an entry built as an MSI route.
        let (lo, hi, data) = unsafe { (e.u.msi.address_lo, e.u.msi.address_hi, e.u.msi.data) };
        assert_eq!(
            (e.gsi, e.type_, e.flags, lo, hi, data),
            (30, KVM_IRQ_ROUTING_MSI, 0, 0xfee0_1000, 1, 0x4041)
        );
    }

    #[test]
    fn msi_route_carries_the_device_id() {
        // edu in slot 1 of bus 0 writing the ITS doorbell (GITS_TRANSLATER).
        let route = MsiRoute {
            address: 0x0809_0040,
            data: 3,
            devid: Some(0x08),
        };
        let e = msi_route(230, &route);
        // SAFETY: reading the msi variant of an entry built as an MSI route.
        let (lo, hi, data, devid) = unsafe {
            (
                e.u.msi.address_lo,
                e.u.msi.address_hi,
                e.u.msi.data,
                e.u.msi.__bindgen_anon_1.devid,
            )
        };
        assert_eq!(
            (e.gsi, e.flags, lo, hi, data, devid),
            (230, KVM_MSI_VALID_DEVID, 0x0809_0040, 0, 3, 0x08)
        );
    }
}
