//! Config-space emulation of [`VfioPciDevice`] against [`FakeVfio`].

use std::os::fd::{AsRawFd, RawFd};

use super::*;
use crate::pci::bar::BarRemap;
use crate::pci::interrupt::{MsiMessage, VectorUpdate};
use crate::vfio::fake::{
    FakeBar, FakeCall, FakeFailure, FakeMsiLog, FakeMsiRouter, FakeVfio, FakeVfioBuilder,
};

mod bars;
mod caps;
mod config;
mod interrupts;
mod mmap;
mod root;

const LABEL: &str = "0000:01:00.0";

/// Roughly an Intel 82574L (e1000e): two 128 KiB memory BARs, 32 I/O ports, a 16 KiB BAR 3
/// holding the MSI-X table (5 vectors) at 0 and the PBA at 0x2000, a 256 KiB ROM, INTA, and
/// the capability chain PM (0xc8) -> MSI (0xd0, 64-bit) -> PCIe (0xe0) -> MSI-X (0xa0),
/// then AER (0x100) -> DSN (0x140) in extended space.
fn e1000e() -> FakeVfioBuilder {
    FakeVfio::builder(0x8086, 0x10d3)
        .class(0x02_0000)
        .revision(0x03)
        .subsystem(0x8086, 0xa01f)
        .bar(0, FakeBar::mem32(0x2_0000))
        .bar(1, FakeBar::mem32(0x2_0000))
        .bar(2, FakeBar::io(0x20))
        .bar(3, FakeBar::mem32(0x4000))
        .rom(0x4_0000)
        .intx(1)
        .capability(0xc8, 0x01, &[0x22, 0xc8, 0, 0, 0, 0])
        .msi(0xd0, 1, true, false)
        .capability(0xe0, 0x10, &[0x02, 0x00])
        .msix(0xa0, 5, (3, 0), (3, 0x2000))
        .ext_capability(0x100, 0x0001, 2, &[])
        .ext_capability(0x140, 0x0003, 1, &[])
}

struct Rig {
    dev: VfioPciDevice,
    fake: FakeVfio,
    msi: FakeMsiLog,
    /// Raw fds of the INTx trigger and resample eventfds, when a line was given.
    intx: Option<(RawFd, RawFd)>,
}

fn rig_with(builder: FakeVfioBuilder, options: VfioPciOptions, vectors: u16, intx: bool) -> Rig {
    let fake = builder.build();
    let (router, msi) = FakeMsiRouter::new(vectors).unwrap();
    let line = intx.then(|| IntxLine::new().unwrap());
    let fds = line
        .as_ref()
        .map(|l| (l.trigger.as_raw_fd(), l.resample.as_raw_fd()));
    let dev = VfioPciDevice::new(VfioPciArgs {
        label: LABEL.to_string(),
        backend: Box::new(fake.clone()),
        options,
        msi: Some(Box::new(router)),
        intx: line,
    })
    .unwrap();
    Rig {
        dev,
        fake,
        msi,
        intx: fds,
    }
}

fn rig(builder: FakeVfioBuilder) -> Rig {
    rig_with(builder, VfioPciOptions::default(), 8, true)
}

fn intx_only() -> VfioPciOptions {
    VfioPciOptions {
        intx_only: true,
        ..VfioPciOptions::default()
    }
}

fn build_err(builder: FakeVfioBuilder) -> VfioPciError {
    build_err_from(builder.build())
}

fn build_err_from(fake: FakeVfio) -> VfioPciError {
    let (router, _) = FakeMsiRouter::new(8).unwrap();
    let result = VfioPciDevice::new(VfioPciArgs {
        label: LABEL.to_string(),
        backend: Box::new(fake),
        options: VfioPciOptions::default(),
        msi: Some(Box::new(router)),
        intx: None,
    });
    match result {
        Ok(_) => panic!("the device was accepted"),
        Err(e) => e,
    }
}

fn read(dev: &VfioPciDevice, offset: u16) -> u32 {
    dev.config_read(offset)
}

fn write32(dev: &mut VfioPciDevice, offset: u16, value: u32) -> Vec<ConfigEffect> {
    dev.config_write(offset, &value.to_le_bytes())
}

fn write16(dev: &mut VfioPciDevice, offset: u16, value: u16) -> Vec<ConfigEffect> {
    dev.config_write(offset, &value.to_le_bytes())
}

fn write8(dev: &mut VfioPciDevice, offset: u16, value: u8) -> Vec<ConfigEffect> {
    dev.config_write(offset, &[value])
}

/// The config-space writes that reached the device, as (offset, bytes).
fn device_config_writes(fake: &FakeVfio) -> Vec<(u64, Vec<u8>)> {
    fake.take_calls()
        .into_iter()
        .filter_map(|call| match call {
            FakeCall::RegionWrite {
                index: CONFIG_REGION,
                offset,
                data,
            } => Some((offset, data)),
            _ => None,
        })
        .collect()
}

/// The standard capability chain as the guest walks it: (ID, offset).
fn chain(dev: &VfioPciDevice) -> Vec<(u8, u8)> {
    let mut caps = Vec::new();
    if read(dev, 0x04) >> 16 & 0x10 == 0 {
        return caps;
    }
    let mut offset = read(dev, 0x34) as u8;
    while offset != 0 && caps.len() < 48 {
        let header = read(dev, u16::from(offset));
        caps.push((header as u8, offset));
        offset = (header >> 8) as u8;
    }
    caps
}

/// The extended capability chain as the guest walks it: (ID, offset).
fn ext_chain(dev: &VfioPciDevice) -> Vec<(u16, u16)> {
    let mut caps = Vec::new();
    let mut offset = 0x100;
    while offset != 0 && caps.len() < 64 {
        let header = read(dev, offset);
        if header == 0 {
            break;
        }
        caps.push((header as u16, offset));
        offset = (header >> 20) as u16;
    }
    caps
}

fn remap(bar: u8, kind: BarKind, size: u64, old: Option<u64>, new: Option<u64>) -> ConfigEffect {
    ConfigEffect::Bar(BarRemap {
        bar,
        kind,
        size,
        old,
        new,
    })
}

fn message(address: u64, data: u32) -> MsiMessage {
    MsiMessage { address, data }
}

fn update(vector: u16, msg: MsiMessage, masked: bool) -> VectorUpdate {
    VectorUpdate {
        vector,
        message: msg,
        masked,
    }
}
