//! Test doubles: [`FakeVfio`], an in-memory VFIO PCI device, and [`FakeMsiRouter`], an
//! [`MsiInterrupts`] that records route updates.
//!
//! A [`FakeVfio`] is built with [`FakeVfioBuilder`]: IDs, BARs (32-bit, 64-bit, I/O, ROM,
//! sparse mmap areas), capabilities (MSI, MSI-X, any other standard or extended one) and INTx.
//! Its config space and regions are plain memory; it records every interrupt set-up, reset
//! and region write as a [`FakeCall`], and fails the next operation of a kind on request
//! ([`FakeFailure`]). Clones share state, so a test keeps one clone to inspect the device it
//! handed to the model. Public so that the VMM's tests can use it too.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};

use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::backend::{
    IrqInfo, RegionInfo, SparseArea, VfioBackend, VfioBackendError, CONFIG_REGION, INTX_IRQ,
    IRQ_NORESIZE, MSIX_IRQ, MSI_IRQ, REGION_MMAP, REGION_READ, REGION_WRITE, ROM_REGION,
};
use crate::pci::bar::BarKind;
use crate::pci::config_space::{
    CAPABILITIES_POINTER, CLASS_CODE, DEVICE_ID, HEADER_TYPE, INTERRUPT_PIN, REVISION_ID, STATUS,
    STATUS_CAPABILITIES_LIST, SUBSYSTEM_ID, SUBSYSTEM_VENDOR_ID, VENDOR_ID,
};
use crate::pci::interrupt::{MsiInterrupts, VectorUpdate};
use crate::pci::msi::MSI_CAP_ID;
use crate::pci::msix::MSIX_CAP_ID;

const IRQ_EVENTFD: u32 = 0x1;
const IRQ_MASKABLE: u32 = 0x2;
const IRQ_AUTOMASKED: u32 = 0x4;
const REGIONS: usize = 9;
const IRQ_INDEXES: usize = 5;

/// One recorded operation on a [`FakeVfio`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeCall {
    /// `enable_irq(index, fds)`, with the raw fds passed.
    EnableIrq {
        /// IRQ index.
        index: u32,
        /// The eventfds, in vector order.
        fds: Vec<RawFd>,
    },
    /// `disable_irq(index)`.
    DisableIrq {
        /// IRQ index.
        index: u32,
    },
    /// `set_intx_unmask_fd(fd)`.
    SetIntxUnmaskFd {
        /// The resample eventfd.
        fd: RawFd,
    },
    /// `unmask_intx()`.
    UnmaskIntx,
    /// `reset()` on a device that supports it.
    Reset,
    /// `region_write(index, offset, data)`.
    RegionWrite {
        /// Region index.
        index: u32,
        /// Offset within the region.
        offset: u64,
        /// Bytes written.
        data: Vec<u8>,
    },
}

impl FakeCall {
    /// Whether this is an interrupt set-up call (not a reset or region write).
    pub fn is_irq(&self) -> bool {
        matches!(
            self,
            FakeCall::EnableIrq { .. }
                | FakeCall::DisableIrq { .. }
                | FakeCall::SetIntxUnmaskFd { .. }
                | FakeCall::UnmaskIntx
        )
    }
}

/// An operation the fake fails once when asked to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeFailure {
    /// The next read of this region.
    RegionRead(u32),
    /// The next write of this region.
    RegionWrite(u32),
    /// The next enable of this IRQ index.
    EnableIrq(u32),
    /// The next disable of this IRQ index.
    DisableIrq(u32),
    /// The next reset.
    Reset,
}

/// A BAR of a fake device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeBar {
    kind: BarKind,
    size: u64,
    prefetchable: bool,
    mmap: bool,
    sparse: Option<Vec<SparseArea>>,
    msix_mappable: bool,
}

impl FakeBar {
    fn new(kind: BarKind, size: u64) -> Self {
        FakeBar {
            kind,
            size,
            prefetchable: false,
            mmap: kind != BarKind::Io,
            sparse: None,
            msix_mappable: false,
        }
    }

    /// A 32-bit memory BAR, mmappable.
    pub fn mem32(size: u64) -> Self {
        Self::new(BarKind::Memory32, size)
    }

    /// A 64-bit memory BAR (taking two indexes), mmappable.
    pub fn mem64(size: u64) -> Self {
        Self::new(BarKind::Memory64, size)
    }

    /// An I/O BAR (never mmappable).
    pub fn io(size: u64) -> Self {
        Self::new(BarKind::Io, size)
    }

    /// Marks the BAR prefetchable.
    pub fn prefetchable(mut self) -> Self {
        self.prefetchable = true;
        self
    }

    /// Clears the region's mmap flag.
    pub fn no_mmap(mut self) -> Self {
        self.mmap = false;
        self
    }

    /// Restricts mmap to these areas (VFIO's sparse mmap capability).
    pub fn sparse(mut self, areas: &[(u64, u64)]) -> Self {
        self.sparse = Some(
            areas
                .iter()
                .map(|&(offset, size)| SparseArea { offset, size })
                .collect(),
        );
        self
    }

    /// Sets VFIO's MSIX_MAPPABLE capability on the region.
    pub fn msix_mappable(mut self) -> Self {
        self.msix_mappable = true;
        self
    }
}

#[derive(Default)]
struct FakeState {
    regions: Vec<RegionInfo>,
    contents: Vec<BTreeMap<u64, u8>>,
    irqs: Vec<Option<IrqInfo>>,
    reset_supported: bool,
    calls: Vec<FakeCall>,
    failures: Vec<FakeFailure>,
}

impl FakeState {
    fn take_failure(&mut self, failure: FakeFailure) -> bool {
        match self.failures.iter().position(|f| *f == failure) {
            Some(at) => {
                self.failures.remove(at);
                true
            }
            None => false,
        }
    }
}

fn injected() -> io::Error {
    io::Error::other("injected failure")
}

/// An in-memory VFIO PCI device. Clones share the device.
#[derive(Clone)]
pub struct FakeVfio {
    state: Arc<Mutex<FakeState>>,
}

impl FakeVfio {
    /// Starts describing a device with these IDs.
    pub fn builder(vendor: u16, device: u16) -> FakeVfioBuilder {
        FakeVfioBuilder::new(vendor, device)
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every recorded call so far.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.state().calls.clone()
    }

    /// Takes the recorded interrupt set-up calls (dropping the other records).
    pub fn take_irq_calls(&self) -> Vec<FakeCall> {
        let calls = std::mem::take(&mut self.state().calls);
        calls.into_iter().filter(FakeCall::is_irq).collect()
    }

    /// Takes every recorded call.
    pub fn take_calls(&self) -> Vec<FakeCall> {
        std::mem::take(&mut self.state().calls)
    }

    /// Makes the next operation of this kind fail.
    pub fn fail_next(&self, failure: FakeFailure) {
        self.state().failures.push(failure);
    }

    /// Reads region bytes directly, as the device holds them (unwritten bytes are 0).
    pub fn peek(&self, index: u32, offset: u64, len: usize) -> Vec<u8> {
        let state = self.state();
        (0..len as u64)
            .map(|i| {
                state
                    .contents
                    .get(index as usize)
                    .and_then(|c| c.get(&(offset + i)).copied())
                    .unwrap_or(0)
            })
            .collect()
    }

    /// The device's own config dword at `offset`.
    pub fn config_u32(&self, offset: u64) -> u32 {
        let bytes = self.peek(CONFIG_REGION, offset, 4);
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    /// Changes region bytes directly, as the device itself would.
    pub fn poke(&self, index: u32, offset: u64, data: &[u8]) {
        let mut state = self.state();
        if let Some(contents) = state.contents.get_mut(index as usize) {
            for (i, &byte) in data.iter().enumerate() {
                contents.insert(offset + i as u64, byte);
            }
        }
    }

    fn check(
        state: &FakeState,
        op: &'static str,
        index: u32,
        offset: u64,
        len: usize,
        flag: u32,
    ) -> Result<(), VfioBackendError> {
        let info = state
            .regions
            .get(index as usize)
            .cloned()
            .unwrap_or_default();
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|end| end > info.size) || info.flags & flag == 0 {
            return Err(VfioBackendError::OutOfRange {
                op,
                index,
                offset,
                len,
            });
        }
        Ok(())
    }
}

impl VfioBackend for FakeVfio {
    fn region_info(&self, index: u32) -> RegionInfo {
        self.state()
            .regions
            .get(index as usize)
            .cloned()
            .unwrap_or_default()
    }

    fn region_read(
        &self,
        index: u32,
        offset: u64,
        data: &mut [u8],
    ) -> Result<(), VfioBackendError> {
        let mut state = self.state();
        Self::check(&state, "read", index, offset, data.len(), REGION_READ)?;
        if state.take_failure(FakeFailure::RegionRead(index)) {
            return Err(VfioBackendError::Access {
                op: "read",
                index,
                offset,
                len: data.len(),
                source: injected(),
            });
        }
        let contents = &state.contents[index as usize];
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = contents.get(&(offset + i as u64)).copied().unwrap_or(0);
        }
        Ok(())
    }

    fn region_write(&self, index: u32, offset: u64, data: &[u8]) -> Result<(), VfioBackendError> {
        let mut state = self.state();
        Self::check(&state, "write", index, offset, data.len(), REGION_WRITE)?;
        state.calls.push(FakeCall::RegionWrite {
            index,
            offset,
            data: data.to_vec(),
        });
        if state.take_failure(FakeFailure::RegionWrite(index)) {
            return Err(VfioBackendError::Access {
                op: "write",
                index,
                offset,
                len: data.len(),
                source: injected(),
            });
        }
        let contents = &mut state.contents[index as usize];
        for (i, &byte) in data.iter().enumerate() {
            contents.insert(offset + i as u64, byte);
        }
        Ok(())
    }

    fn irq_info(&self, index: u32) -> Option<IrqInfo> {
        self.state().irqs.get(index as usize).copied().flatten()
    }

    fn enable_irq(&self, index: u32, fds: &[&EventFd]) -> Result<(), VfioBackendError> {
        let mut state = self.state();
        let count = fds.len();
        state.calls.push(FakeCall::EnableIrq {
            index,
            fds: fds.iter().map(|fd| fd.as_raw_fd()).collect(),
        });
        let info = state.irqs.get(index as usize).copied().flatten();
        let fits = info.is_some_and(|info| count >= 1 && count as u32 <= info.count);
        if !fits || state.take_failure(FakeFailure::EnableIrq(index)) {
            return Err(VfioBackendError::Irq {
                op: "enable",
                index,
                count,
                source: injected(),
            });
        }
        Ok(())
    }

    fn disable_irq(&self, index: u32) -> Result<(), VfioBackendError> {
        let mut state = self.state();
        state.calls.push(FakeCall::DisableIrq { index });
        if state.take_failure(FakeFailure::DisableIrq(index)) {
            return Err(VfioBackendError::Irq {
                op: "disable",
                index,
                count: 0,
                source: injected(),
            });
        }
        Ok(())
    }

    fn set_intx_unmask_fd(&self, fd: &EventFd) -> Result<(), VfioBackendError> {
        self.state()
            .calls
            .push(FakeCall::SetIntxUnmaskFd { fd: fd.as_raw_fd() });
        Ok(())
    }

    fn unmask_intx(&self) -> Result<(), VfioBackendError> {
        self.state().calls.push(FakeCall::UnmaskIntx);
        Ok(())
    }

    fn reset(&self) -> Result<bool, VfioBackendError> {
        let mut state = self.state();
        if state.take_failure(FakeFailure::Reset) {
            return Err(VfioBackendError::Reset(injected()));
        }
        if !state.reset_supported {
            return Ok(false);
        }
        state.calls.push(FakeCall::Reset);
        Ok(true)
    }

    fn device_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// Describes a [`FakeVfio`].
pub struct FakeVfioBuilder {
    config: Vec<u8>,
    config_size: u64,
    regions: Vec<RegionInfo>,
    irqs: Vec<Option<IrqInfo>>,
    caps: Vec<u8>,
    ext_caps: Vec<u16>,
    reset_supported: bool,
}

impl FakeVfioBuilder {
    /// A conventional (256-byte config space) endpoint with these IDs, class 0xff0000, no
    /// BARs, no capabilities, no interrupts, resettable.
    pub fn new(vendor: u16, device: u16) -> Self {
        let mut builder = FakeVfioBuilder {
            config: vec![0; 4096],
            config_size: 256,
            regions: vec![RegionInfo::default(); REGIONS],
            irqs: vec![None; IRQ_INDEXES],
            caps: Vec::new(),
            ext_caps: Vec::new(),
            reset_supported: true,
        };
        builder.put(VENDOR_ID, &vendor.to_le_bytes());
        builder.put(DEVICE_ID, &device.to_le_bytes());
        builder.class(0xff_0000)
    }

    fn put(&mut self, offset: u16, data: &[u8]) {
        for (i, &byte) in data.iter().enumerate() {
            if let Some(slot) = self.config.get_mut(usize::from(offset) + i) {
                *slot = byte;
            }
        }
    }

    /// Sets the 24-bit class code.
    pub fn class(mut self, class: u32) -> Self {
        self.put(CLASS_CODE, &class.to_le_bytes()[..3]);
        self
    }

    /// Sets the revision ID.
    pub fn revision(mut self, revision: u8) -> Self {
        self.put(REVISION_ID, &[revision]);
        self
    }

    /// Sets the subsystem vendor and subsystem IDs.
    pub fn subsystem(mut self, vendor: u16, id: u16) -> Self {
        self.put(SUBSYSTEM_VENDOR_ID, &vendor.to_le_bytes());
        self.put(SUBSYSTEM_ID, &id.to_le_bytes());
        self
    }

    /// Sets the header type byte (bit 7: multi-function).
    pub fn header_type(mut self, header_type: u8) -> Self {
        self.put(HEADER_TYPE, &[header_type]);
        self
    }

    /// Sets a raw config byte range (for registers no other method covers).
    pub fn config_bytes(mut self, offset: u16, data: &[u8]) -> Self {
        self.put(offset, data);
        self
    }

    /// Declares BAR `index`. The BAR register shows the flags and a made-up host address, as
    /// vfio-pci's virtual BARs do.
    pub fn bar(mut self, index: u8, bar: FakeBar) -> Self {
        let register = 0x10 + 4 * u16::from(index);
        let prefetch = if bar.prefetchable { 0x8 } else { 0 };
        let (flags, host) = match bar.kind {
            BarKind::Io => (0x1, 0xe000u64),
            BarKind::Memory64 => (0x4 | prefetch, 0x38_0000_0000u64),
            _ => (prefetch, 0xfc00_0000u64),
        };
        let value = (host & !bar.size.wrapping_sub(1)) | flags;
        self.put(register, &(value as u32).to_le_bytes());
        if bar.kind == BarKind::Memory64 {
            self.put(register + 4, &((value >> 32) as u32).to_le_bytes());
        }
        let mmap = if bar.mmap { REGION_MMAP } else { 0 };
        self.regions[usize::from(index)] = RegionInfo {
            size: bar.size,
            flags: REGION_READ | REGION_WRITE | mmap,
            file_offset: u64::from(index) << 40,
            sparse_areas: bar.sparse,
            msix_mappable: bar.msix_mappable,
        };
        self
    }

    /// Gives the device an expansion ROM of `size` bytes (VFIO region 6).
    pub fn rom(mut self, size: u64) -> Self {
        self.regions[ROM_REGION as usize] = RegionInfo {
            size,
            flags: REGION_READ,
            file_offset: u64::from(ROM_REGION) << 40,
            sparse_areas: None,
            msix_mappable: false,
        };
        self
    }

    /// Gives the device INTx on `pin` (1 = INTA).
    pub fn intx(mut self, pin: u8) -> Self {
        self.put(INTERRUPT_PIN, &[pin]);
        self.irqs[INTX_IRQ as usize] = Some(IrqInfo {
            count: 1,
            flags: IRQ_EVENTFD | IRQ_MASKABLE | IRQ_AUTOMASKED,
        });
        self
    }

    /// Adds a standard capability with `id` at `offset`; `body` follows the ID and next
    /// pointer. Capabilities are chained in the order they are added.
    pub fn capability(mut self, offset: u8, id: u8, body: &[u8]) -> Self {
        self.put(u16::from(offset), &[id, 0]);
        self.put(u16::from(offset) + 2, body);
        self.caps.push(offset);
        self
    }

    /// Adds an MSI capability at `offset` for `vectors` vectors (a power of two up to 32).
    pub fn msi(self, offset: u8, vectors: u32, is_64bit: bool, per_vector_mask: bool) -> Self {
        let mmc = vectors.max(1).trailing_zeros().min(5) as u16;
        let control = mmc << 1 | u16::from(is_64bit) << 7 | u16::from(per_vector_mask) << 8;
        let mut builder = self.capability(offset, MSI_CAP_ID, &control.to_le_bytes());
        builder.irqs[MSI_IRQ as usize] = Some(IrqInfo {
            count: 1 << mmc,
            flags: IRQ_EVENTFD | IRQ_NORESIZE,
        });
        builder
    }

    /// Adds an MSI-X capability at `offset` with `table_size` entries, the table at
    /// (`table_bar`, `table_offset`) and the PBA at (`pba_bar`, `pba_offset`). VFIO can grow
    /// the vector set without a disable (see [`Self::msix_noresize`]).
    pub fn msix(
        self,
        offset: u8,
        table_size: u16,
        (table_bar, table_offset): (u8, u32),
        (pba_bar, pba_offset): (u8, u32),
    ) -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&table_size.saturating_sub(1).to_le_bytes());
        body.extend_from_slice(&(table_offset | u32::from(table_bar)).to_le_bytes());
        body.extend_from_slice(&(pba_offset | u32::from(pba_bar)).to_le_bytes());
        let mut builder = self.capability(offset, MSIX_CAP_ID, &body);
        builder.irqs[MSIX_IRQ as usize] = Some(IrqInfo {
            count: u32::from(table_size),
            flags: IRQ_EVENTFD,
        });
        builder
    }

    /// Makes the MSI-X IRQ index NORESIZE (older kernels): growing needs disable + enable.
    pub fn msix_noresize(mut self) -> Self {
        if let Some(info) = self.irqs[MSIX_IRQ as usize].as_mut() {
            info.flags |= IRQ_NORESIZE;
        }
        self
    }

    /// Makes config space 4 KiB (a PCIe function).
    pub fn pcie_config(mut self) -> Self {
        self.config_size = 4096;
        self
    }

    /// Adds an extended capability at `offset` (the first one belongs at 0x100); `body`
    /// follows the header. Makes config space 4 KiB.
    pub fn ext_capability(mut self, offset: u16, id: u16, version: u8, body: &[u8]) -> Self {
        self.config_size = 4096;
        let header = u32::from(id) | u32::from(version & 0xf) << 16;
        self.put(offset, &header.to_le_bytes());
        self.put(offset + 4, body);
        self.ext_caps.push(offset);
        self
    }

    /// Whether the device supports VFIO_DEVICE_RESET.
    pub fn reset_supported(mut self, supported: bool) -> Self {
        self.reset_supported = supported;
        self
    }

    /// Builds the device: links the capability lists and fills config space.
    pub fn build(mut self) -> FakeVfio {
        if let Some(&first) = self.caps.first() {
            self.put(CAPABILITIES_POINTER, &[first]);
            let status = u16::from_le_bytes([self.config[6], self.config[7]]);
            self.put(STATUS, &(status | STATUS_CAPABILITIES_LIST).to_le_bytes());
        }
        for pair in self.caps.clone().windows(2) {
            self.put(u16::from(pair[0]) + 1, &[pair[1]]);
        }
        for pair in self.ext_caps.clone().windows(2) {
            let at = usize::from(pair[0]) + 2;
            let word = u16::from_le_bytes([self.config[at], self.config[at + 1]]);
            let next = (word & 0x000f) | (pair[1] << 4);
            self.put(pair[0] + 2, &next.to_le_bytes());
        }
        self.regions[CONFIG_REGION as usize] = RegionInfo {
            size: self.config_size,
            flags: REGION_READ | REGION_WRITE,
            file_offset: u64::from(CONFIG_REGION) << 40,
            sparse_areas: None,
            msix_mappable: false,
        };
        let mut contents = vec![BTreeMap::new(); REGIONS];
        for (i, &byte) in self.config[..self.config_size as usize].iter().enumerate() {
            if byte != 0 {
                contents[CONFIG_REGION as usize].insert(i as u64, byte);
            }
        }
        FakeVfio {
            state: Arc::new(Mutex::new(FakeState {
                regions: self.regions,
                contents,
                irqs: self.irqs,
                reset_supported: self.reset_supported,
                calls: Vec::new(),
                failures: Vec::new(),
            })),
        }
    }
}

#[derive(Default)]
struct RouterState {
    batches: Vec<Vec<VectorUpdate>>,
    pending: BTreeSet<u16>,
    fail_next: bool,
    raw_fds: Vec<RawFd>,
}

/// An [`MsiInterrupts`] with real eventfds that records every batch of updates.
pub struct FakeMsiRouter {
    eventfds: Vec<EventFd>,
    state: Arc<Mutex<RouterState>>,
}

/// A handle on a [`FakeMsiRouter`]'s records, kept by the test.
#[derive(Clone)]
pub struct FakeMsiLog {
    state: Arc<Mutex<RouterState>>,
}

impl FakeMsiRouter {
    /// A router with `count` vectors and the handle to inspect it.
    pub fn new(count: u16) -> io::Result<(Self, FakeMsiLog)> {
        let eventfds = (0..count)
            .map(|_| EventFd::new(EFD_NONBLOCK))
            .collect::<io::Result<Vec<_>>>()?;
        let state = Arc::new(Mutex::new(RouterState {
            raw_fds: eventfds.iter().map(|e| e.as_raw_fd()).collect(),
            ..Default::default()
        }));
        let log = FakeMsiLog {
            state: state.clone(),
        };
        Ok((FakeMsiRouter { eventfds, state }, log))
    }

    fn state(&self) -> MutexGuard<'_, RouterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MsiInterrupts for FakeMsiRouter {
    fn vector_count(&self) -> u16 {
        self.eventfds.len() as u16
    }

    fn eventfd(&self, vector: u16) -> Option<&EventFd> {
        self.eventfds.get(usize::from(vector))
    }

    fn update(&mut self, updates: &[VectorUpdate]) -> io::Result<()> {
        let mut state = self.state();
        if std::mem::take(&mut state.fail_next) {
            return Err(injected());
        }
        state.batches.push(updates.to_vec());
        Ok(())
    }

    fn pending(&self, vector: u16) -> bool {
        self.state().pending.contains(&vector)
    }
}

impl FakeMsiLog {
    fn state(&self) -> MutexGuard<'_, RouterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the batches of updates applied so far.
    pub fn take_batches(&self) -> Vec<Vec<VectorUpdate>> {
        std::mem::take(&mut self.state().batches)
    }

    /// The raw fds of vectors `0..count`, to compare with [`FakeCall::EnableIrq`].
    pub fn raw_fds(&self, count: usize) -> Vec<RawFd> {
        self.state().raw_fds.iter().take(count).copied().collect()
    }

    /// Marks `vector` pending (or not), as the VMM would after it fired while masked.
    pub fn set_pending(&self, vector: u16, pending: bool) {
        let mut state = self.state();
        if pending {
            state.pending.insert(vector);
        } else {
            state.pending.remove(&vector);
        }
    }

    /// Makes the next update fail.
    pub fn fail_next_update(&self) {
        self.state().fail_next = true;
    }
}
