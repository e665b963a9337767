//! `GET /vm/devices`: every function on the guest's PCI root bus, read through the device
//! models' config space, the BAR mapper's state and, for passed-through devices, the host's
//! sysfs (BAR host addresses) and the VFIO interrupt mode.

use std::path::Path;

use api::types::hex;
use api::{BarInfo, DeviceList, PciDeviceInfo};
use devices::pci::bar::BarKind;
use devices::pci::device::{lock_device, PciDevice};
use devices::vfio::IrqMode;

use crate::vm::pci::PciSegment;

/// Lists the segment's devices in address order.
pub fn device_list(pci: &PciSegment) -> DeviceList {
    let mut devices: Vec<PciDeviceInfo> = pci
        .root
        .devices()
        .into_iter()
        .map(|(address, shared)| {
            let pass = pci.passthrough().iter().find(|p| p.address == address);
            // A passed-through device's model is the same mutex as `shared`: read its
            // interrupt mode before locking it as a `dyn PciDevice`.
            let vfio_irq = pass.map(|p| {
                irq_mode(
                    p.device
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .irq_mode(),
                )
            });
            let dev = lock_device(&shared);
            let id = dev.config_read(0);
            let class = dev.config_read(8) >> 8;
            let (kind, mode, vectors) = match vfio_irq {
                Some((mode, vectors)) => ("passthrough".to_string(), mode.to_string(), vectors),
                None if class >> 8 == 0x0600 => (
                    "host-bridge".to_string(),
                    interrupt_mode_from_config(&*dev).to_string(),
                    None,
                ),
                None => (
                    dev.debug_label().to_string(),
                    interrupt_mode_from_config(&*dev).to_string(),
                    None,
                ),
            };
            let bars = dev
                .bars()
                .iter()
                .map(|bar| {
                    let live = pci.mapper().bar_state(address, bar.index);
                    BarInfo {
                        index: bar.index,
                        kind: bar_kind(bar.kind).to_string(),
                        size: bar.size,
                        guest_address: hex(live.map_or(bar.address, |l| l.0)),
                        decoding: live.is_some(),
                        mapped_bytes: live.map_or(0, |l| l.1),
                        host_address: pass
                            .and_then(|p| host_bar_address(&p.sysfs, bar.index))
                            .map(hex),
                    }
                })
                .collect();
            PciDeviceInfo {
                guest_address: address.to_string(),
                kind,
                host_device: pass.map(|p| p.host.clone()),
                vendor_id: format!("{:#06x}", id & 0xffff),
                device_id: format!("{:#06x}", id >> 16),
                class_code: format!("{class:#08x}"),
                interrupt_mode: mode,
                interrupt_vectors: vectors,
                interrupt_count: None,
                bars,
            }
        })
        .collect();
    devices.sort_by(|a, b| a.guest_address.cmp(&b.guest_address));
    DeviceList { devices }
}

fn bar_kind(kind: BarKind) -> &'static str {
    match kind {
        BarKind::Io => "io",
        BarKind::Memory32 => "mem32",
        BarKind::Memory64 => "mem64",
        BarKind::Rom => "rom",
    }
}

fn irq_mode(mode: IrqMode) -> (&'static str, Option<u32>) {
    match mode {
        IrqMode::Off => ("none", None),
        IrqMode::Intx => ("intx", None),
        IrqMode::Msi { vectors } => ("msi", Some(vectors)),
        IrqMode::Msix { vectors } => ("msix", Some(vectors)),
    }
}

/// The BAR's start address on the host, from line `index` of the device's sysfs `resource`
/// file (line 6 is the ROM). `None` when unreadable or unassigned.
fn host_bar_address(sysfs: &Path, index: u8) -> Option<u64> {
    let text = std::fs::read_to_string(sysfs.join("resource")).ok()?;
    let line = text.lines().nth(usize::from(index))?;
    let start = line.split_whitespace().next()?;
    let v = u64::from_str_radix(start.trim_start_matches("0x"), 16).ok()?;
    (v != 0).then_some(v)
}

const STATUS_CAP_LIST: u32 = 1 << 4;
const COMMAND_INTX_DISABLE: u32 = 1 << 10;
const CAP_MSI: u32 = 0x05;
const CAP_MSIX: u32 = 0x11;

/// The interrupt a function's guest driver enabled, read from its config space: `msix` or
/// `msi` when the capability's enable bit is set, `intx` when it has an interrupt pin and
/// INTx is not disabled, `none` otherwise.
pub fn interrupt_mode_from_config(dev: &dyn PciDevice) -> &'static str {
    let command_status = dev.config_read(0x04);
    if command_status >> 16 & STATUS_CAP_LIST != 0 {
        let mut ptr = dev.config_read(0x34) & 0xfc;
        // At most 48 capabilities fit in the 192 bytes after the header.
        for _ in 0..48 {
            if ptr < 0x40 {
                break;
            }
            let header = dev.config_read(ptr as u16);
            let control = header >> 16;
            match header & 0xff {
                CAP_MSIX if control & 0x8000 != 0 => return "msix",
                CAP_MSI if control & 1 != 0 => return "msi",
                _ => {}
            }
            ptr = (header >> 8) & 0xfc;
        }
    }
    let pin = (dev.config_read(0x3c) >> 8) & 0xff;
    if pin != 0 && command_status & COMMAND_INTX_DISABLE == 0 {
        "intx"
    } else {
        "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::pci::config_space::ConfigEffect;

    /// A function whose config space is a plain array.
    struct Regs([u32; 64]);
    impl PciDevice for Regs {
        fn debug_label(&self) -> &str {
            "regs"
        }
        fn config_read(&self, offset: u16) -> u32 {
            self.0[usize::from(offset / 4)]
        }
        fn config_write(&mut self, _: u16, _: &[u8]) -> Vec<ConfigEffect> {
            Vec::new()
        }
        fn bars(&self) -> &[devices::pci::bar::BarInfo] {
            &[]
        }
        fn set_bar_address(
            &mut self,
            _: u8,
            _: u64,
        ) -> Result<Vec<ConfigEffect>, devices::pci::bar::BarError> {
            Ok(Vec::new())
        }
        fn bar_read(&mut self, _: u8, _: u64, _: &mut [u8]) {}
        fn bar_write(&mut self, _: u8, _: u64, _: &[u8]) {}
    }

    /// Caps: MSI at 0x40 -> MSI-X at 0x50 -> end; interrupt pin A.
    fn regs(msi_on: bool, msix_on: bool, intx_off: bool) -> Regs {
        let mut r = [0u32; 64];
        r[1] = (STATUS_CAP_LIST << 16) | if intx_off { COMMAND_INTX_DISABLE } else { 0 };
        r[0x34 / 4] = 0x40;
        r[0x3c / 4] = 1 << 8;
        r[0x40 / 4] = CAP_MSI | (0x50 << 8) | (u32::from(msi_on) << 16);
        r[0x50 / 4] = CAP_MSIX | (if msix_on { 0x8000 << 16 } else { 0 });
        Regs(r)
    }

    #[test]
    fn interrupt_mode_follows_the_enable_bits() {
        assert_eq!(interrupt_mode_from_config(&regs(false, true, true)), "msix");
        assert_eq!(interrupt_mode_from_config(&regs(true, false, true)), "msi");
        assert_eq!(
            interrupt_mode_from_config(&regs(false, false, false)),
            "intx"
        );
        assert_eq!(
            interrupt_mode_from_config(&regs(false, false, true)),
            "none"
        );
        // A capability list that loops forever ends.
        let mut r = regs(false, false, true);
        r.0[0x50 / 4] = CAP_MSIX | (0x40 << 8);
        assert_eq!(interrupt_mode_from_config(&r), "none");
    }

    #[test]
    fn host_bar_addresses_come_from_sysfs_resource() {
        let dir = std::env::temp_dir().join(format!("ovmm-devview-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("resource"),
            "0x00000000fea00000 0x00000000feafffff 0x0000000000040200\n\
             0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
             0x000000000000c000 0x000000000000c01f 0x0000000000040101\n",
        )
        .unwrap();
        assert_eq!(host_bar_address(&dir, 0), Some(0xfea0_0000));
        assert_eq!(host_bar_address(&dir, 1), None);
        assert_eq!(host_bar_address(&dir, 2), Some(0xc000));
        assert_eq!(host_bar_address(&dir, 6), None);
        assert_eq!(host_bar_address(Path::new("/nonexistent"), 0), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn irq_modes() {
        assert_eq!(irq_mode(IrqMode::Msix { vectors: 3 }), ("msix", Some(3)));
        assert_eq!(irq_mode(IrqMode::Msi { vectors: 1 }), ("msi", Some(1)));
        assert_eq!(irq_mode(IrqMode::Intx), ("intx", None));
        assert_eq!(irq_mode(IrqMode::Off), ("none", None));
        assert_eq!(bar_kind(BarKind::Memory64), "mem64");
    }
}
