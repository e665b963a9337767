//! The modern virtio-pci transport (virtio 1.x, no legacy I/O BAR): a PCI function whose
//! vendor-specific capabilities point into one 32 KiB memory BAR.
//!
//! BAR 0 layout:
//!
//! | offset   | what                                             |
//! | -------- | ------------------------------------------------ |
//! | `0x0000` | common configuration ([`super::common`])         |
//! | `0x1000` | ISR status (read to clear)                       |
//! | `0x2000` | device-specific configuration                    |
//! | `0x3000` | queue notifications, 4 bytes per queue           |
//! | `0x4000` | MSI-X table (one vector per queue, one for config)|
//! | `0x6000` | MSI-X pending-bit array                          |
//!
//! A queue notification should never reach userspace: while the BAR decodes, each queue's
//! notify address is bound to that queue's eventfd by a [`NotifyRegistrar`] (KVM's
//! ioeventfd), re-bound when the guest moves the BAR and released when it stops decoding or
//! the function goes away. A notification that does reach [`PciDevice::bar_write`] (no
//! registrar, or registration failed) signals the same eventfd and is counted.

use std::io;
use std::sync::Arc;

use virtio_bindings::virtio_config::{VIRTIO_CONFIG_S_NEEDS_RESET, VIRTIO_F_VERSION_1};
use virtio_bindings::virtio_ring::{VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC};
use virtio_queue::{Queue, QueueT};
use vmm_sys_util::eventfd::EventFd;

use super::common::{CommonConfig, CommonWrite, COMMON_CFG_LEN};
use super::interrupt::{VirtioInterrupt, VIRTIO_MSI_NO_VECTOR};
use super::{
    lock_device, ActivateError, Activation, GuestMemory, SharedVirtioDevice,
    VIRTIO_PCI_DEVICE_ID_BASE, VIRTIO_PCI_VENDOR_ID,
};
use crate::pci::bar::{BarError, BarInfo, BarKind};
use crate::pci::config_space::{
    ConfigEffect, PciConfigSpace, CAPABILITIES_POINTER, CLASS_CODE, COMMAND, COMMAND_BUS_MASTER,
    COMMAND_INTX_DISABLE, COMMAND_MEMORY_SPACE, DEVICE_ID, INTERRUPT_LINE, INTERRUPT_PIN,
    REVISION_ID, STATUS, STATUS_CAPABILITIES_LIST, STATUS_W1C_BITS, SUBSYSTEM_ID,
    SUBSYSTEM_VENDOR_ID, VENDOR_ID,
};
use crate::pci::device::PciDevice;
use crate::pci::interrupt::{MsiInterrupts, MsiMessage, VectorUpdate};
use crate::pci::msix::{read_pba, MsixCap, MsixTable, MSIX_CAP_ID};

/// Size of BAR 0.
pub const BAR_SIZE: u64 = 0x8000;
/// Common configuration, in BAR 0.
pub const COMMON_OFFSET: u64 = 0x0000;
/// ISR status, in BAR 0.
pub const ISR_OFFSET: u64 = 0x1000;
/// Device-specific configuration, in BAR 0.
pub const DEVICE_CFG_OFFSET: u64 = 0x2000;
/// Device-specific configuration window length.
pub const DEVICE_CFG_LEN: u64 = 0x1000;
/// Queue notification area, in BAR 0.
pub const NOTIFY_OFFSET: u64 = 0x3000;
/// Bytes between two queues' notify addresses.
pub const NOTIFY_MULTIPLIER: u32 = 4;
/// MSI-X table, in BAR 0.
pub const MSIX_TABLE_OFFSET: u64 = 0x4000;
/// MSI-X pending-bit array, in BAR 0.
pub const MSIX_PBA_OFFSET: u64 = 0x6000;
/// Most MSI-X vectors the table area holds.
pub const MAX_VECTORS: u16 = 512;

const VENDOR_CAP_ID: u8 = 0x09;
const CAP_COMMON: u8 = 1;
const CAP_NOTIFY: u8 = 2;
const CAP_ISR: u8 = 3;
const CAP_DEVICE: u8 = 4;
const CAP_PCI_CFG: u8 = 5;
const COMMON_CAP: u16 = 0x40;
const NOTIFY_CAP: u16 = 0x50;
const ISR_CAP: u16 = 0x64;
const DEVICE_CAP: u16 = 0x74;
const PCI_CFG_CAP: u16 = 0x84;
const MSIX_CAP: u16 = 0x98;
/// `virtio_pci_cfg_cap`: bar at +4, offset at +8, length at +12, data at +16.
const PCI_CFG_DATA: u16 = PCI_CFG_CAP + 16;

/// Binds a queue's notify address to its eventfd, so the guest's notification is delivered in
/// the kernel (KVM's ioeventfd) instead of as a vCPU exit.
pub trait NotifyRegistrar: Send {
    /// Signals `event` on any guest write to the MMIO address `address`.
    fn register(&mut self, address: u64, event: &EventFd) -> io::Result<()>;
    /// Undoes [`Self::register`].
    fn unregister(&mut self, address: u64, event: &EventFd) -> io::Result<()>;
}

/// What the transport is built from.
pub struct VirtioPciArgs {
    /// The device behind the transport.
    pub device: SharedVirtioDevice,
    /// Guest memory (the device accesses its queues there).
    pub mem: GuestMemory,
    /// MSI-X vectors (at least one per queue plus one), or `None` for INTx only.
    pub msi: Option<Box<dyn MsiInterrupts>>,
    /// The trigger eventfd of the function's INTx line, if it has one.
    pub intx: Option<EventFd>,
    /// Binds notify addresses to queue eventfds; `None` leaves notifications to `bar_write`.
    pub notify: Option<Box<dyn NotifyRegistrar>>,
    /// The PCI class code (24 bits) the guest sees.
    pub class_code: u32,
}

/// Errors building a transport.
#[derive(Debug, thiserror::Error)]
pub enum VirtioPciError {
    /// The device has more queues than the MSI-X table area holds.
    #[error("{label}: {queues} queues need {needed} MSI-X vectors, more than the {MAX_VECTORS} the transport holds")]
    TooManyQueues {
        /// The device.
        label: String,
        /// Its queues.
        queues: usize,
        /// Vectors needed.
        needed: usize,
    },
    /// An eventfd could not be duplicated.
    #[error("{label}: cannot duplicate an eventfd: {source}")]
    EventFd {
        /// The device.
        label: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A virtio device on the PCI root.
pub struct VirtioPciDevice {
    label: String,
    config: PciConfigSpace,
    common: CommonConfig,
    device: SharedVirtioDevice,
    mem: GuestMemory,
    interrupt: Arc<VirtioInterrupt>,
    msi: Option<(Box<dyn MsiInterrupts>, MsixCap, MsixTable)>,
    /// Per vector, the message routed while unmasked (`None`: masked or never routed).
    routed: Vec<Option<MsiMessage>>,
    queue_events: Vec<EventFd>,
    notify: Option<Box<dyn NotifyRegistrar>>,
    /// Where the notify area is bound now.
    notify_base: Option<u64>,
    userspace_notifications: u64,
}

impl VirtioPciDevice {
    /// Builds the transport around `args.device`. BAR 0 is not placed yet.
    pub fn new(args: VirtioPciArgs) -> Result<Self, VirtioPciError> {
        let dev = lock_device(&args.device);
        let label = dev.label().to_string();
        let sizes = dev.queue_max_sizes().to_vec();
        let offered = dev.features()
            | 1 << VIRTIO_F_VERSION_1
            | 1 << VIRTIO_RING_F_EVENT_IDX
            | 1 << VIRTIO_RING_F_INDIRECT_DESC;
        let device_type = dev.device_type();
        let queue_events = (0..sizes.len())
            .filter_map(|i| dev.queue_event(i))
            .map(EventFd::try_clone)
            .collect::<io::Result<Vec<_>>>()
            .map_err(|source| VirtioPciError::EventFd {
                label: label.clone(),
                source,
            })?;
        drop(dev);
        let needed = sizes.len() + 1;
        if needed > usize::from(MAX_VECTORS) {
            return Err(VirtioPciError::TooManyQueues {
                label,
                queues: sizes.len(),
                needed,
            });
        }
        let msi = args.msi.filter(|m| usize::from(m.vector_count()) >= needed);
        let vectors = match &msi {
            Some(m) => (0..needed as u16)
                .filter_map(|v| m.eventfd(v))
                .map(EventFd::try_clone)
                .collect::<io::Result<Vec<_>>>()
                .map_err(|source| VirtioPciError::EventFd {
                    label: label.clone(),
                    source,
                })?,
            None => Vec::new(),
        };
        let has_intx = args.intx.is_some();
        let interrupt = Arc::new(VirtioInterrupt::new(args.intx, vectors, sizes.len()));
        let msix_cap = MsixCap {
            offset: MSIX_CAP,
            table_size: needed as u16,
            table_bar: 0,
            table_offset: MSIX_TABLE_OFFSET,
            pba_bar: 0,
            pba_offset: MSIX_PBA_OFFSET,
        };
        let config = build_config(
            device_type,
            args.class_code,
            has_intx,
            msi.as_ref().map(|_| &msix_cap),
        );
        Ok(VirtioPciDevice {
            common: CommonConfig::new(offered, &sizes, interrupt.vector_count()),
            routed: vec![None; if msi.is_some() { needed } else { 0 }],
            msi: msi.map(|m| (m, msix_cap, MsixTable::new(needed as u16))),
            label,
            config,
            device: args.device,
            mem: args.mem,
            interrupt,
            queue_events,
            notify: args.notify,
            notify_base: None,
            userspace_notifications: 0,
        })
    }

    /// The interrupt state the device signals through (the VMM wires INTx resampling to it).
    pub fn interrupt(&self) -> Arc<VirtioInterrupt> {
        self.interrupt.clone()
    }

    /// Queue notifications that reached the transport as MMIO writes instead of through the
    /// ioeventfds.
    pub fn userspace_notifications(&self) -> u64 {
        self.userspace_notifications
    }

    /// Where queue `index`'s notifications are written, once BAR 0 decodes.
    pub fn notify_address(&self, index: u16) -> Option<u64> {
        self.config
            .bar_mapping(0)
            .map(|base| base + NOTIFY_OFFSET + u64::from(index) * u64::from(NOTIFY_MULTIPLIER))
    }

    fn apply_effects(&mut self, effects: &[ConfigEffect]) {
        for effect in effects {
            let ConfigEffect::Bar(remap) = effect;
            if remap.bar == 0 {
                self.bind_notify(remap.new);
            }
        }
    }

    /// Moves the ioeventfds of the notify area to `base` (`None`: not decoding).
    fn bind_notify(&mut self, base: Option<u64>) {
        let Some(registrar) = self.notify.as_mut() else {
            return;
        };
        let addr =
            |base: u64, i: usize| base + NOTIFY_OFFSET + i as u64 * u64::from(NOTIFY_MULTIPLIER);
        if let Some(old) = self.notify_base.take() {
            for (i, evt) in self.queue_events.iter().enumerate() {
                if let Err(e) = registrar.unregister(addr(old, i), evt) {
                    log::warn!(
                        "{}: cannot release the notify address {:#x}: {e}",
                        self.label,
                        addr(old, i)
                    );
                }
            }
        }
        if let Some(new) = base {
            for (i, evt) in self.queue_events.iter().enumerate() {
                if let Err(e) = registrar.register(addr(new, i), evt) {
                    log::warn!(
                        "{}: cannot bind queue {i}'s notify address {:#x} to an ioeventfd ({e}); its notifications go through ovmm",
                        self.label,
                        addr(new, i)
                    );
                }
            }
            log::debug!(
                "{}: queue notifications at {:#x} bound to ioeventfds",
                self.label,
                new + NOTIFY_OFFSET
            );
            self.notify_base = Some(new);
        }
    }

    fn read_bar(&self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        match offset {
            o if o < COMMON_CFG_LEN => self.common.read(o - COMMON_OFFSET, data),
            o if (ISR_OFFSET..ISR_OFFSET + 4).contains(&o) => {
                if o == ISR_OFFSET {
                    data[0] = self.interrupt.take_isr();
                }
            }
            o if (DEVICE_CFG_OFFSET..DEVICE_CFG_OFFSET + DEVICE_CFG_LEN).contains(&o) => {
                lock_device(&self.device).read_config(o - DEVICE_CFG_OFFSET, data)
            }
            o => {
                if let Some((msi, cap, table)) = &self.msi {
                    if (MSIX_TABLE_OFFSET..MSIX_TABLE_OFFSET + cap.table_len()).contains(&o) {
                        table.read(o - MSIX_TABLE_OFFSET, data);
                    } else if (MSIX_PBA_OFFSET..MSIX_PBA_OFFSET + cap.pba_len()).contains(&o) {
                        read_pba(o - MSIX_PBA_OFFSET, data, cap.table_size, |v| {
                            msi.pending(v)
                        });
                    }
                }
            }
        }
    }

    fn write_bar(&mut self, offset: u64, data: &[u8]) {
        match offset {
            o if o < COMMON_CFG_LEN => {
                let w = self.common.write(o - COMMON_OFFSET, data);
                self.after_common_write(w);
            }
            o if (DEVICE_CFG_OFFSET..DEVICE_CFG_OFFSET + DEVICE_CFG_LEN).contains(&o) => {
                lock_device(&self.device).write_config(o - DEVICE_CFG_OFFSET, data)
            }
            o if (NOTIFY_OFFSET..MSIX_TABLE_OFFSET).contains(&o) => {
                let queue = (o - NOTIFY_OFFSET) / u64::from(NOTIFY_MULTIPLIER);
                if let Some(evt) = self.queue_events.get(queue as usize) {
                    self.userspace_notifications += 1;
                    if let Err(e) = evt.write(1) {
                        log::warn!(
                            "{}: cannot pass on queue {queue}'s notification: {e}",
                            self.label
                        );
                    }
                }
            }
            o => {
                let changed = match &mut self.msi {
                    Some((_, cap, table))
                        if (MSIX_TABLE_OFFSET..MSIX_TABLE_OFFSET + cap.table_len())
                            .contains(&o) =>
                    {
                        table.write(o - MSIX_TABLE_OFFSET, data)
                    }
                    _ => Vec::new(),
                };
                self.route(&changed);
            }
        }
    }

    fn after_common_write(&mut self, w: CommonWrite) {
        if w.reset {
            self.reset();
        }
        if w.vectors_changed {
            self.set_vectors();
        }
        if w.driver_ok {
            if let Err(e) = self.activate() {
                log::error!("{}: the driver's setup was refused: {e}", self.label);
                self.common
                    .set_status_bits(VIRTIO_CONFIG_S_NEEDS_RESET as u8);
                self.common.bump_generation();
                self.interrupt.signal_config();
            }
        }
    }

    fn set_vectors(&self) {
        let some = |v: u16| (v != VIRTIO_MSI_NO_VECTOR).then_some(v);
        self.interrupt
            .set_config_vector(some(self.common.config_vector()));
        for (i, q) in self.common.queues().iter().enumerate() {
            self.interrupt.set_queue_vector(i, some(q.vector));
        }
    }

    fn reset(&mut self) {
        lock_device(&self.device).reset();
        self.common.reset();
        self.interrupt.reset();
        log::debug!("{}: reset by the driver", self.label);
    }

    fn activate(&mut self) -> Result<(), ActivateError> {
        let features = self.common.driver_features();
        let event_idx = features & (1 << VIRTIO_RING_F_EVENT_IDX) != 0;
        let mut queues = Vec::new();
        for (index, c) in self.common.queues().iter().enumerate() {
            let bad = |reason| ActivateError::BadQueue { index, reason };
            let mut q = Queue::new(c.max_size).map_err(|_| bad("its maximum size is invalid"))?;
            if c.enabled {
                q.try_set_size(c.size)
                    .map_err(|_| bad("its size is not a power of two up to the maximum"))?;
                q.set_desc_table_address(Some(c.desc as u32), Some((c.desc >> 32) as u32));
                q.set_avail_ring_address(Some(c.driver as u32), Some((c.driver >> 32) as u32));
                q.set_used_ring_address(Some(c.device as u32), Some((c.device >> 32) as u32));
                q.set_event_idx(event_idx);
                q.set_ready(true);
                if !q.is_valid(&self.mem) {
                    return Err(bad("its rings are misaligned or outside guest memory"));
                }
            }
            queues.push(q);
        }
        lock_device(&self.device).activate(Activation {
            mem: self.mem.clone(),
            queues,
            features,
            interrupt: self.interrupt.clone(),
        })?;
        log::info!(
            "{}: started by the driver (features {features:#x})",
            self.label
        );
        // Buffers made available before DRIVER_OK get looked at now.
        for evt in &self.queue_events {
            let _ = evt.write(1);
        }
        Ok(())
    }

    /// Re-routes the MSI-X vectors in `vectors` if their effective state changed.
    fn route(&mut self, vectors: &[u16]) {
        let Some((msi, cap, table)) = self.msi.as_mut() else {
            return;
        };
        let control = cap.control(&self.config);
        let updates: Vec<VectorUpdate> = vectors
            .iter()
            .filter_map(|&v| table.vector(v, control).map(|vector| (v, vector)))
            .filter(|(v, vector)| {
                let wanted = (!vector.masked).then_some(vector.message);
                self.routed
                    .get(usize::from(*v))
                    .is_some_and(|&r| r != wanted)
            })
            .map(|(v, vector)| VectorUpdate {
                vector: v,
                message: vector.message,
                masked: vector.masked,
            })
            .collect();
        if updates.is_empty() {
            return;
        }
        match msi.update(&updates) {
            Ok(()) => {
                for u in updates {
                    self.routed[usize::from(u.vector)] = (!u.masked).then_some(u.message);
                }
            }
            Err(e) => log::error!(
                "{}: cannot route {} MSI-X vector(s): {e}",
                self.label,
                updates.len()
            ),
        }
    }

    fn after_config_write(&mut self, offset: u16, len: usize) {
        if overlaps(offset, len, COMMAND, 2) {
            let command = self.config.command();
            self.interrupt
                .set_intx_disabled(command & COMMAND_INTX_DISABLE != 0);
        }
        if let Some((_, cap, _)) = &self.msi {
            if cap.overlaps(offset, len) {
                let control = cap.control(&self.config);
                self.interrupt.set_msix_enabled(control.enabled);
                let all: Vec<u16> = (0..cap.table_size).collect();
                self.route(&all);
            }
        }
    }

    /// The window of `virtio_pci_cfg_cap`: (BAR offset, length) when it points into BAR 0.
    fn pci_cfg_window(&self) -> Option<(u64, usize)> {
        let bar = self.config.read_u8(PCI_CFG_CAP + 4);
        let offset = u64::from(self.config.read_u32(PCI_CFG_CAP + 8));
        let len = self.config.read_u32(PCI_CFG_CAP + 12) as usize;
        (bar == 0 && matches!(len, 1 | 2 | 4) && offset + len as u64 <= BAR_SIZE)
            .then_some((offset, len))
    }
}

fn overlaps(offset: u16, len: usize, at: u16, size: u16) -> bool {
    let end = usize::from(offset) + len;
    usize::from(offset) < usize::from(at + size) && usize::from(at) < end
}

/// Config space of a virtio function: IDs, BAR 0, the capability chain.
fn build_config(
    device_type: u32,
    class_code: u32,
    intx: bool,
    msix: Option<&MsixCap>,
) -> PciConfigSpace {
    let mut c = PciConfigSpace::new();
    c.set_u16(VENDOR_ID, VIRTIO_PCI_VENDOR_ID);
    c.set_u16(DEVICE_ID, VIRTIO_PCI_DEVICE_ID_BASE + device_type as u16);
    // Revision 1: a modern-only device.
    c.set_u32(REVISION_ID, (class_code << 8) | 1);
    debug_assert_eq!(CLASS_CODE, REVISION_ID + 1);
    c.set_u16(SUBSYSTEM_VENDOR_ID, VIRTIO_PCI_VENDOR_ID);
    c.set_u16(SUBSYSTEM_ID, device_type as u16);
    c.set_u16(STATUS, STATUS_CAPABILITIES_LIST);
    c.set_w1c_u16(STATUS, STATUS_W1C_BITS);
    c.set_writable_u16(
        COMMAND,
        COMMAND_MEMORY_SPACE | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE,
    );
    c.set_writable_u8(INTERRUPT_LINE, 0xff);
    c.set_u8(INTERRUPT_PIN, u8::from(intx));
    c.set_u8(CAPABILITIES_POINTER, COMMON_CAP as u8);
    let vendor_cap = |c: &mut PciConfigSpace,
                      at: u16,
                      next: u16,
                      len: u8,
                      kind: u8,
                      offset: u64,
                      length: u32| {
        c.set(at, &[VENDOR_CAP_ID, next as u8, len, kind, 0, 0, 0, 0]);
        c.set_u32(at + 8, offset as u32);
        c.set_u32(at + 12, length);
    };
    vendor_cap(
        &mut c,
        COMMON_CAP,
        NOTIFY_CAP,
        16,
        CAP_COMMON,
        COMMON_OFFSET,
        COMMON_CFG_LEN as u32,
    );
    vendor_cap(
        &mut c,
        NOTIFY_CAP,
        ISR_CAP,
        20,
        CAP_NOTIFY,
        NOTIFY_OFFSET,
        (MSIX_TABLE_OFFSET - NOTIFY_OFFSET) as u32,
    );
    c.set_u32(NOTIFY_CAP + 16, NOTIFY_MULTIPLIER);
    vendor_cap(&mut c, ISR_CAP, DEVICE_CAP, 16, CAP_ISR, ISR_OFFSET, 4);
    vendor_cap(
        &mut c,
        DEVICE_CAP,
        PCI_CFG_CAP,
        16,
        CAP_DEVICE,
        DEVICE_CFG_OFFSET,
        DEVICE_CFG_LEN as u32,
    );
    let after_cfg = if msix.is_some() { MSIX_CAP } else { 0 };
    vendor_cap(&mut c, PCI_CFG_CAP, after_cfg, 20, CAP_PCI_CFG, 0, 0);
    c.set_writable_u8(PCI_CFG_CAP + 4, 0xff);
    c.set_writable_u32(PCI_CFG_CAP + 8, u32::MAX);
    c.set_writable_u32(PCI_CFG_CAP + 12, u32::MAX);
    c.set_writable_u32(PCI_CFG_DATA, u32::MAX);
    if let Some(cap) = msix {
        c.set(MSIX_CAP, &[MSIX_CAP_ID, 0]);
        c.set_u16(MSIX_CAP + 2, cap.table_size - 1);
        c.set_u32(
            MSIX_CAP + 4,
            cap.table_offset as u32 | u32::from(cap.table_bar),
        );
        c.set_u32(MSIX_CAP + 8, cap.pba_offset as u32 | u32::from(cap.pba_bar));
        cap.install(&mut c);
    }
    // A BAR of a fixed valid size at index 0 cannot fail.
    if let Err(e) = c.add_bar(BarInfo::new(0, BarKind::Memory32, BAR_SIZE, false)) {
        log::error!("virtio BAR 0: {e}");
    }
    c
}

impl PciDevice for VirtioPciDevice {
    fn debug_label(&self) -> &str {
        &self.label
    }

    fn config_read(&self, offset: u16) -> u32 {
        if offset == PCI_CFG_DATA {
            if let Some((at, len)) = self.pci_cfg_window() {
                let mut data = [0u8; 4];
                self.read_bar(at, &mut data[..len]);
                return u32::from_le_bytes(data);
            }
        }
        self.config.read_u32(offset)
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) -> Vec<ConfigEffect> {
        let effects = self.config.write(offset, data);
        self.after_config_write(offset, data.len());
        if overlaps(offset, data.len(), PCI_CFG_DATA, 4) {
            if let Some((at, len)) = self.pci_cfg_window() {
                let mut value = [0u8; 4];
                value[..len]
                    .copy_from_slice(&self.config.read_u32(PCI_CFG_DATA).to_le_bytes()[..len]);
                self.write_bar(at, &value[..len]);
            }
        }
        self.apply_effects(&effects);
        effects
    }

    fn bars(&self) -> &[BarInfo] {
        self.config.bars()
    }

    fn set_bar_address(&mut self, bar: u8, address: u64) -> Result<Vec<ConfigEffect>, BarError> {
        let effects = self.config.set_bar_address(bar, address)?;
        self.apply_effects(&effects);
        Ok(effects)
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        if bar == 0 {
            self.read_bar(offset, data);
        } else {
            data.fill(0);
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        if bar == 0 {
            self.write_bar(offset, data);
        }
    }
}

impl Drop for VirtioPciDevice {
    fn drop(&mut self) {
        self.bind_notify(None);
        if self.userspace_notifications > 0 {
            log::info!(
                "{}: {} queue notifications reached ovmm as MMIO writes instead of ioeventfds",
                self.label,
                self.userspace_notifications
            );
        } else if self.notify.is_some() {
            log::info!(
                "{}: every queue notification went through ioeventfds",
                self.label
            );
        }
    }
}
