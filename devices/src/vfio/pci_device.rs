//! [`VfioPciDevice`]: a host PCI function passed through to the guest, as a [`PciDevice`].
//!
//! Construction reads the device's config space once and builds the shadow the guest sees:
//! IDs (with overrides), BARs sized from VFIO's regions and placed by the VMM, the ROM BAR,
//! the capability lists with MSI / MSI-X hidden in INTx mode and SR-IOV / ARI / Resizable BAR
//! hidden, and emulated MSI and MSI-X capabilities. Everything else is read from and written
//! to the device. BAR decoding changes are returned as effects; interrupt changes go to the
//! [`MsiInterrupts`] router and to VFIO (see [`IrqMode`] for the states).

use std::os::fd::BorrowedFd;

use super::backend::{
    IrqInfo, VfioBackend, VfioBackendError, CONFIG_REGION, INTX_IRQ, MSIX_IRQ, MSI_IRQ,
};
use super::bars::{self, BarMmapPlan, RomPolicy};
use super::caps::{self, EXT_CAP_ARI, EXT_CAP_REBAR, EXT_CAP_SRIOV};
use super::interrupts::{Interrupts, IrqMode};
use super::shadow::ShadowConfig;
use crate::pci::bar::{BarError, BarInfo, BarKind, ByteSize, ROM_BAR};
use crate::pci::config_space::{
    ConfigEffect, PciConfigSpace, BAR0, CAPABILITIES_POINTER, CARDBUS_CIS, CLASS_CODE, COMMAND,
    COMMAND_IO_SPACE, COMMAND_MEMORY_SPACE, CONFIG_SPACE_SIZE, DEVICE_ID, HEADER_TYPE,
    HEADER_TYPE_MULTI_FUNCTION, INTERRUPT_LINE, INTERRUPT_PIN, LEGACY_CONFIG_SIZE, REVISION_ID,
    ROM_ADDRESS, SUBSYSTEM_ID, SUBSYSTEM_VENDOR_ID, VENDOR_ID,
};
use crate::pci::device::PciDevice;
use crate::pci::interrupt::{IntxLine, MsiInterrupts};
use crate::pci::msi::{MsiCap, MSI_CAP_ID};
use crate::pci::msix::{read_pba, MsixCap, MsixTable, MSIX_CAP_ID, MSIX_CAP_LEN};

/// Extended capabilities hidden unless the options say otherwise: a guest on a flat bus
/// cannot use SR-IOV or ARI, and ovmm does not resize BARs.
pub const DEFAULT_HIDDEN_EXT_CAPS: [u16; 3] = [EXT_CAP_SRIOV, EXT_CAP_ARI, EXT_CAP_REBAR];

/// IDs shown to the guest instead of the device's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PciIdOverrides {
    /// Vendor ID.
    pub vendor_id: Option<u16>,
    /// Device ID.
    pub device_id: Option<u16>,
    /// Subsystem vendor ID.
    pub subsystem_vendor_id: Option<u16>,
    /// Subsystem ID.
    pub subsystem_id: Option<u16>,
    /// 24-bit class code.
    pub class_code: Option<u32>,
}

/// How the device is shown to the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VfioPciOptions {
    /// Hide MSI and MSI-X so the guest driver uses INTx (`intx=on`).
    pub intx_only: bool,
    /// ID overrides.
    pub ids: PciIdOverrides,
    /// The expansion ROM.
    pub rom: RomPolicy,
    /// Extended capability IDs to hide.
    pub hidden_ext_caps: Vec<u16>,
    /// Host page size: mmap areas are whole pages, smaller BARs trap.
    pub page_size: u64,
    /// Reset the device (if it supports it) before reading its config space.
    pub reset: bool,
}

impl Default for VfioPciOptions {
    fn default() -> Self {
        VfioPciOptions {
            intx_only: false,
            ids: PciIdOverrides::default(),
            rom: RomPolicy::FromDevice,
            hidden_ext_caps: DEFAULT_HIDDEN_EXT_CAPS.to_vec(),
            page_size: 4096,
            reset: true,
        }
    }
}

/// What [`VfioPciDevice::new`] needs.
pub struct VfioPciArgs {
    /// Name for logs and errors: the host address, e.g. `0000:01:00.0`.
    pub label: String,
    /// The VFIO device.
    pub backend: Box<dyn VfioBackend>,
    /// Presentation options.
    pub options: VfioPciOptions,
    /// The vectors reserved for MSI / MSI-X; `None` when MSI cannot be delivered (MSI and
    /// MSI-X are then hidden).
    pub msi: Option<Box<dyn MsiInterrupts>>,
    /// The INTx line; `None` when the VMM has none for this slot.
    pub intx: Option<IntxLine>,
}

/// Errors from building a [`VfioPciDevice`].
#[derive(Debug, thiserror::Error)]
pub enum VfioPciError {
    /// The config region has an unexpected size.
    #[error("config space of {device} is {size:#x} bytes; expected 0x100 or 0x1000")]
    ConfigSize {
        /// The device.
        device: String,
        /// The region size VFIO reported.
        size: u64,
    },
    /// Reading the config space failed.
    #[error("cannot read the config space of {device}")]
    ConfigRead {
        /// The device.
        device: String,
        /// The VFIO error.
        #[source]
        source: VfioBackendError,
    },
    /// The function is a bridge or CardBus bridge.
    #[error("{device} has header type {header:#04x}: only type-0 (endpoint) functions can be passed through")]
    NotEndpoint {
        /// The device.
        device: String,
        /// Its header type.
        header: u8,
    },
    /// A BAR cannot be represented.
    #[error("BAR layout of {device} rejected")]
    Bar {
        /// The device.
        device: String,
        /// What is wrong with the BAR.
        #[source]
        source: BarError,
    },
    /// The MSI-X table or PBA is not inside a memory BAR.
    #[error("MSI-X {what} of {device} ({len:#x} bytes at {offset:#x} of BAR {bar}) is outside its memory BAR ({bar_size})")]
    MsixPlacement {
        /// The device.
        device: String,
        /// "table" or "PBA".
        what: &'static str,
        /// The BAR it names.
        bar: u8,
        /// Offset in that BAR.
        offset: u64,
        /// Its length.
        len: u64,
        /// The BAR's size (0 when absent or I/O).
        bar_size: ByteSize,
    },
    /// Setting up INTx failed.
    #[error("cannot set up INTx of {device}")]
    Intx {
        /// The device.
        device: String,
        /// The VFIO error.
        #[source]
        source: VfioBackendError,
    },
}

/// A host PCI function passed through with VFIO.
pub struct VfioPciDevice {
    label: String,
    backend: Box<dyn VfioBackend>,
    shadow: ShadowConfig,
    msi: Option<MsiCap>,
    msix: Option<(MsixCap, MsixTable)>,
    irqs: Interrupts,
    mmap_plan: Vec<BarMmapPlan>,
    rom: RomPolicy,
}

/// How many MSI / MSI-X vectors the VMM should reserve for this device (one eventfd and GSI
/// each): the larger of VFIO's MSI and MSI-X counts.
pub fn vectors_needed(backend: &dyn VfioBackend) -> u16 {
    let count = |index| backend.irq_info(index).map_or(0, |i| i.count);
    count(MSI_IRQ).max(count(MSIX_IRQ)).min(u32::from(u16::MAX)) as u16
}

impl VfioPciDevice {
    /// Reads the device and builds the guest's view of it; sets INTx up when the device has
    /// a line and `args.intx` is given.
    pub fn new(args: VfioPciArgs) -> Result<Self, VfioPciError> {
        let VfioPciArgs {
            label,
            backend,
            options,
            msi,
            intx,
        } = args;
        let probe = Probe::open(&label, &*backend, options.reset)?;
        let bars = bars::discover_bars(&*backend, &probe.config, &options.rom);
        let mut shadow = probe.shadow(&options.ids, &bars)?;
        let shown = probe.shown_caps(&bars, msi.is_some() && !options.intx_only)?;
        probe.rewrite_caps(&mut shadow, &shown, &options.hidden_ext_caps);

        let intx = intx.filter(|_| probe.has_intx());
        shadow.space.set_u8(INTERRUPT_PIN, u8::from(intx.is_some()));
        let router = msi.filter(|_| shown.msi.is_some() || shown.msix.is_some());
        if router.is_none() && intx.is_none() {
            log::warn!("{label}: no usable interrupt (no MSI/MSI-X shown and no INTx line)");
        }
        let mut irqs = Interrupts::new(
            router,
            intx,
            probe.irq_info(MSI_IRQ).unwrap_or_default(),
            probe.irq_info(MSIX_IRQ).unwrap_or_default(),
        );
        irqs.start(&*backend).map_err(|source| VfioPciError::Intx {
            device: label.clone(),
            source,
        })?;
        let mmap_plan = bars::mmap_plan(
            &bars,
            |index| backend.region_info(index),
            shown.msix.as_ref(),
            options.page_size,
        );
        Ok(VfioPciDevice {
            label,
            backend,
            shadow,
            msi: shown.msi,
            msix: shown.msix.map(|cap| (cap, MsixTable::new(cap.table_size))),
            irqs,
            mmap_plan,
            rom: options.rom,
        })
    }

    /// Which parts of each BAR the VMM mmaps from [`Self::device_fd`] and which trap.
    pub fn mmap_plan(&self) -> &[BarMmapPlan] {
        &self.mmap_plan
    }

    /// The fd to mmap BAR areas from.
    pub fn device_fd(&self) -> Option<BorrowedFd<'_>> {
        self.backend.device_fd()
    }

    /// The interrupt the device uses now.
    pub fn irq_mode(&self) -> IrqMode {
        self.irqs.mode()
    }

    fn msi_pending_bits(&self, cap: &MsiCap) -> u32 {
        (0..cap.max_vectors())
            .filter(|&v| self.irqs.pending(v as u16))
            .fold(0, |bits, v| bits | 1 << v)
    }
}

/// The MSI and MSI-X capabilities shown to the guest.
struct ShownCaps {
    msi: Option<MsiCap>,
    msix: Option<MsixCap>,
}

/// The device as found at open: its name, its backend and its own config space.
struct Probe<'a> {
    label: &'a str,
    backend: &'a dyn VfioBackend,
    config: PciConfigSpace,
    size: usize,
}

impl<'a> Probe<'a> {
    /// Resets the device if asked and possible, reads its config space (256 bytes or 4 KiB)
    /// and checks that it is an endpoint.
    fn open(
        label: &'a str,
        backend: &'a dyn VfioBackend,
        reset: bool,
    ) -> Result<Self, VfioPciError> {
        if reset {
            match backend.reset() {
                Ok(true) => log::info!("{label}: reset"),
                Ok(false) => log::info!("{label}: no reset method; using it as found"),
                Err(e) => log::warn!("{label}: reset failed, using it as found: {e}"),
            }
        }
        let region = backend.region_info(CONFIG_REGION).size;
        let size = match region {
            256 => LEGACY_CONFIG_SIZE,
            _ if region >= CONFIG_SPACE_SIZE as u64 => CONFIG_SPACE_SIZE,
            _ => {
                return Err(VfioPciError::ConfigSize {
                    device: label.to_string(),
                    size: region,
                })
            }
        };
        let mut bytes = vec![0u8; size];
        backend
            .region_read(CONFIG_REGION, 0, &mut bytes)
            .map_err(|source| VfioPciError::ConfigRead {
                device: label.to_string(),
                source,
            })?;
        let config = PciConfigSpace::from_bytes(&bytes);
        let header = config.header_type();
        if header & !HEADER_TYPE_MULTI_FUNCTION != 0 {
            return Err(VfioPciError::NotEndpoint {
                device: label.to_string(),
                header,
            });
        }
        Ok(Probe {
            label,
            backend,
            config,
            size,
        })
    }

    /// VFIO's information on IRQ `index`, if it has vectors.
    fn irq_info(&self, index: u32) -> Option<IrqInfo> {
        self.backend.irq_info(index).filter(|i| i.count > 0)
    }

    /// Whether the device has an INTx pin VFIO can signal.
    fn has_intx(&self) -> bool {
        self.config.read_u8(INTERRUPT_PIN) != 0 && self.irq_info(INTX_IRQ).is_some()
    }

    /// The shadow with the header emulated and the BARs declared.
    fn shadow(&self, ids: &PciIdOverrides, bars: &[BarInfo]) -> Result<ShadowConfig, VfioPciError> {
        let mut bytes = vec![0u8; self.size];
        self.config.read(0, &mut bytes);
        let mut shadow = ShadowConfig::new(&bytes);
        emulate_header(&mut shadow, ids);
        for bar in bars {
            shadow
                .space
                .add_bar(*bar)
                .map_err(|source| VfioPciError::Bar {
                    device: self.label.to_string(),
                    source,
                })?;
        }
        Ok(shadow)
    }

    /// MSI and MSI-X are shown when the device has them, VFIO can signal them and the guest
    /// may use them (`msi_usable`); a shown MSI-X table and PBA must lie in memory BARs.
    fn shown_caps(&self, bars: &[BarInfo], msi_usable: bool) -> Result<ShownCaps, VfioPciError> {
        let caps = caps::standard_caps(&self.config);
        let find = |id: u8| caps.iter().find(|c| c.id == id).map(|c| c.offset);
        let msi = find(MSI_CAP_ID)
            .filter(|_| msi_usable && self.irq_info(MSI_IRQ).is_some())
            .map(|offset| MsiCap::parse(&self.config, offset));
        let msix = find(MSIX_CAP_ID)
            .filter(|_| msi_usable && self.irq_info(MSIX_IRQ).is_some())
            .map(|offset| MsixCap::parse(&self.config, offset));
        if let Some(cap) = &msix {
            check_msix(cap, bars, self.label)?;
        }
        Ok(ShownCaps { msi, msix })
    }

    /// Rewrites both capability lists in the shadow and installs the shown MSI / MSI-X.
    fn rewrite_caps(&self, shadow: &mut ShadowConfig, shown: &ShownCaps, hidden_ext: &[u16]) {
        let caps = caps::standard_caps(&self.config);
        caps::rewrite_standard(shadow, &caps, |cap| match cap.id {
            MSI_CAP_ID if shown.msi.is_none() => {
                Some(MsiCap::parse(&self.config, cap.offset).size())
            }
            MSIX_CAP_ID if shown.msix.is_none() => Some(MSIX_CAP_LEN),
            _ => None,
        });
        if let Some(cap) = &shown.msi {
            cap.install(&mut shadow.space);
            shadow.emulate(cap.offset(), cap.size());
        }
        if let Some(cap) = &shown.msix {
            cap.install(&mut shadow.space);
            shadow.emulate(cap.offset, MSIX_CAP_LEN);
        }
        if self.size > LEGACY_CONFIG_SIZE {
            let ext = caps::extended_caps(&self.config, self.size);
            caps::rewrite_extended(shadow, &ext, hidden_ext);
        }
    }
}

/// Makes the header registers the guest must not reach on the device come from the shadow:
/// IDs (with overrides), class, header type (multi-function cleared), BARs, CardBus pointer,
/// ROM BAR, capabilities pointer, interrupt line and pin; and the decode bits of the command
/// register, which start cleared.
fn emulate_header(shadow: &mut ShadowConfig, ids: &PciIdOverrides) {
    let space = &mut shadow.space;
    if let Some(vendor) = ids.vendor_id {
        space.set_u16(VENDOR_ID, vendor);
    }
    if let Some(device) = ids.device_id {
        space.set_u16(DEVICE_ID, device);
    }
    if let Some(vendor) = ids.subsystem_vendor_id {
        space.set_u16(SUBSYSTEM_VENDOR_ID, vendor);
    }
    if let Some(id) = ids.subsystem_id {
        space.set_u16(SUBSYSTEM_ID, id);
    }
    if let Some(class) = ids.class_code {
        space.set(CLASS_CODE, &class.to_le_bytes()[..3]);
    }
    let header = space.header_type() & !HEADER_TYPE_MULTI_FUNCTION;
    space.set_u8(HEADER_TYPE, header);
    space.set(BAR0, &[0; 24]);
    space.set_u32(ROM_ADDRESS, 0);
    space.set(CAPABILITIES_POINTER + 1, &[0; 7]);
    let decode = COMMAND_IO_SPACE | COMMAND_MEMORY_SPACE;
    let command = space.command() & !decode;
    space.set_u16(COMMAND, command);
    space.set_writable_u16(COMMAND, decode);
    space.set_writable_u8(INTERRUPT_LINE, 0xff);

    shadow.emulate(VENDOR_ID, 4);
    shadow.emulate(REVISION_ID, 4);
    shadow.emulate(HEADER_TYPE, 1);
    shadow.emulate(BAR0, 24);
    shadow.emulate(CARDBUS_CIS, 4);
    shadow.emulate(SUBSYSTEM_VENDOR_ID, 4);
    shadow.emulate(ROM_ADDRESS, 4);
    shadow.emulate(CAPABILITIES_POINTER + 1, 7);
    shadow.emulate(INTERRUPT_LINE, 4);
    shadow.shadow_bits(COMMAND, u32::from(decode));
}

/// Checks that the MSI-X table and PBA lie inside memory BARs.
fn check_msix(cap: &MsixCap, bars: &[BarInfo], label: &str) -> Result<(), VfioPciError> {
    let parts = [
        ("table", cap.table_bar, cap.table_offset, cap.table_len()),
        ("PBA", cap.pba_bar, cap.pba_offset, cap.pba_len()),
    ];
    for (what, bar, offset, len) in parts {
        let bar_size = bars
            .iter()
            .find(|b| b.index == bar && matches!(b.kind, BarKind::Memory32 | BarKind::Memory64))
            .map_or(0, |b| b.size);
        if offset.saturating_add(len) > bar_size {
            return Err(VfioPciError::MsixPlacement {
                device: label.to_string(),
                what,
                bar,
                offset,
                len,
                bar_size: ByteSize(bar_size),
            });
        }
    }
    Ok(())
}

/// Whether an access at `offset` starts inside `[start, start + len)`.
fn starts_in(offset: u64, start: u64, len: u64) -> bool {
    offset >= start && offset - start < len
}

impl PciDevice for VfioPciDevice {
    fn debug_label(&self) -> &str {
        &self.label
    }

    fn config_read(&self, offset: u16) -> u32 {
        let offset = offset & !3;
        if let Some(cap) = &self.msi {
            if cap.pending_offset() == Some(offset) {
                return self.msi_pending_bits(cap);
            }
        }
        self.shadow
            .read(&*self.backend, offset)
            .unwrap_or_else(|e| {
                log::warn!("{}: config read at {offset:#x} failed: {e}", self.label);
                u32::MAX
            })
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) -> Vec<ConfigEffect> {
        let in_dword = matches!(data.len(), 1 | 2 | 4) && usize::from(offset % 4) + data.len() <= 4;
        if !in_dword || usize::from(offset) >= CONFIG_SPACE_SIZE {
            log::warn!(
                "{}: dropping a {}-byte config write at {offset:#x}",
                self.label,
                data.len()
            );
            return Vec::new();
        }
        let (effects, result) = self.shadow.write(&*self.backend, offset, data);
        if let Err(e) = result {
            log::warn!("{}: config write at {offset:#x} failed: {e}", self.label);
        }
        if let Some(cap) = self.msi.filter(|cap| cap.overlaps(offset, data.len())) {
            let space = &self.shadow.space;
            let vectors = cap.vectors(space);
            let enabled = cap.enabled(space);
            self.irqs
                .update_msi(&*self.backend, &self.label, enabled, &vectors);
        }
        if let Some((cap, table)) = &self.msix {
            if cap.overlaps(offset, data.len()) {
                let control = cap.control(&self.shadow.space);
                let vectors: Vec<_> = (0..cap.table_size)
                    .filter_map(|v| table.vector(v, control).map(|vector| (v, vector)))
                    .collect();
                self.irqs
                    .update_msix(&*self.backend, &self.label, control, &vectors);
            }
        }
        effects
    }

    fn bars(&self) -> &[BarInfo] {
        self.shadow.space.bars()
    }

    fn set_bar_address(&mut self, bar: u8, address: u64) -> Result<Vec<ConfigEffect>, BarError> {
        self.shadow.space.set_bar_address(bar, address)
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        if let Some((cap, table)) = &self.msix {
            if bar == cap.table_bar && starts_in(offset, cap.table_offset, cap.table_len()) {
                table.read(offset - cap.table_offset, data);
                return;
            }
            if bar == cap.pba_bar && starts_in(offset, cap.pba_offset, cap.pba_len()) {
                let irqs = &self.irqs;
                read_pba(offset - cap.pba_offset, data, cap.table_size, |v| {
                    irqs.pending(v)
                });
                return;
            }
        }
        if bar == ROM_BAR && self.rom.read_image(offset, data) {
            return;
        }
        if let Err(e) = self.backend.region_read(u32::from(bar), offset, data) {
            log::warn!("{}: BAR {bar} read at {offset:#x} failed: {e}", self.label);
            data.fill(0xff);
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        if let Some((cap, table)) = &mut self.msix {
            if bar == cap.table_bar && starts_in(offset, cap.table_offset, cap.table_len()) {
                let changed = table.write(offset - cap.table_offset, data);
                let control = cap.control(&self.shadow.space);
                let vectors: Vec<_> = changed
                    .into_iter()
                    .filter_map(|v| table.vector(v, control).map(|vector| (v, vector)))
                    .collect();
                self.irqs
                    .update_msix(&*self.backend, &self.label, control, &vectors);
                return;
            }
            if bar == cap.pba_bar && starts_in(offset, cap.pba_offset, cap.pba_len()) {
                return;
            }
        }
        if bar == ROM_BAR {
            return;
        }
        if let Err(e) = self.backend.region_write(u32::from(bar), offset, data) {
            log::warn!("{}: BAR {bar} write at {offset:#x} failed: {e}", self.label);
        }
    }
}

#[cfg(test)]
mod tests;
