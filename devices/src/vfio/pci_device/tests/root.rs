//! A passed-through function on the root bus, driven through ECAM and a BAR trap as a guest
//! would drive it.

use std::sync::{Arc, Mutex};

use super::*;
use crate::bus::BusDevice;
use crate::pci::device::BarTrap;
use crate::pci::root::{EffectQueue, PciConfigMmio, PciRoot};

fn ecam_read(ecam: &mut PciConfigMmio, offset: u64) -> u32 {
    let mut data = [0u8; 4];
    ecam.read(offset, &mut data);
    u32::from_le_bytes(data)
}

#[test]
fn guest_view_through_ecam_and_traps() {
    let Rig {
        mut dev, fake, msi, ..
    } = rig(e1000e());
    for (bar, address) in [
        (0, 0xc000_0000),
        (1, 0xc002_0000),
        (2, 0xc000),
        (3, 0xc004_0000),
        (ROM_BAR, 0xc008_0000),
    ] {
        assert!(dev.set_bar_address(bar, address).unwrap().is_empty());
    }
    let dev = Arc::new(Mutex::new(dev));
    let queue = Arc::new(EffectQueue::new());
    let root = Arc::new(PciRoot::new(queue.clone()));
    let address = root.add_device(dev.clone()).unwrap();
    assert_eq!(address.to_string(), "0000:00:01.0");
    let mut ecam = PciConfigMmio::new(root);
    let base = u64::from(address.device()) << 15;

    assert_eq!(ecam_read(&mut ecam, base), 0x10d3_8086);
    assert_eq!(ecam_read(&mut ecam, base + 0x1c), 0xc004_0000);
    assert_eq!(ecam_read(&mut ecam, base + 0x100), 0x140 << 20 | 0x2_0001);

    // Memory decoding and bus mastering on: the three memory BARs map, nothing else.
    fake.take_calls();
    ecam.write(base + 4, &0x0006u16.to_le_bytes());
    let mapped: Vec<(u8, Option<u64>)> = queue
        .drain()
        .into_iter()
        .map(|(at, ConfigEffect::Bar(remap))| {
            assert_eq!(at, address);
            (remap.bar, remap.new)
        })
        .collect();
    assert_eq!(
        mapped,
        vec![
            (0, Some(0xc000_0000)),
            (1, Some(0xc002_0000)),
            (3, Some(0xc004_0000))
        ]
    );

    // MSI-X on through config space, vector 0 programmed and unmasked through the trap the
    // VMM puts over the table page.
    ecam.write(base + 0xa2, &0x8000u16.to_le_bytes());
    let mut trap = BarTrap::new(dev.clone(), 3, 0);
    trap.write(0, &0xfee0_0000u64.to_le_bytes());
    trap.write(8, &0x0000_0031u32.to_le_bytes());
    trap.write(12, &0u32.to_le_bytes());
    assert_eq!(
        msi.take_batches(),
        vec![vec![update(0, message(0xfee0_0000, 0x31), false)]]
    );
    assert_eq!(
        fake.take_irq_calls(),
        vec![
            FakeCall::DisableIrq { index: INTX_IRQ },
            FakeCall::EnableIrq {
                index: MSIX_IRQ,
                fds: msi.raw_fds(1)
            },
        ]
    );
    let mut data = [0u8; 4];
    trap.read(8, &mut data);
    assert_eq!(u32::from_le_bytes(data), 0x31);
}
