//! Guest PCI addresses on bus 0: which slots and functions are taken, by whom, and the next
//! free slot.
//!
//! Slot 0 belongs to the host bridge. A device either asks for an address (`addr=` on the
//! command line, or a host slot passed whole) and [`PciSlots::claim`]s it, or takes function 0
//! of [`PciSlots::next_free_slot`]. Claims come first so that automatic placement never takes
//! an address a user asked for. [`PciSlots::check`] then makes sure every slot in use has a
//! function 0, the only function a guest scans first.

use std::collections::BTreeMap;

use devices::pci::{PciAddress, SLOTS_PER_BUS};

/// Why a device cannot have a guest address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// The address is already taken.
    #[error("{wanted_by} asks for guest PCI address {address}, which {held_by} already has; choose another with addr=SLOT.FUNCTION")]
    Taken {
        /// The address.
        address: PciAddress,
        /// Who has it.
        held_by: String,
        /// Who asked for it.
        wanted_by: String,
    },
    /// Slot 0 is the host bridge's.
    #[error("{wanted_by} asks for guest slot 00, which is the host bridge's; use slot 01 to 1f")]
    HostBridge {
        /// Who asked for it.
        wanted_by: String,
    },
    /// A slot has functions but no function 0, so the guest would not see any of them.
    #[error("guest slot {slot:02x} has {} but no function 0, and a guest only looks at a slot whose function 0 exists: pass function 0 too, or move the device with addr={slot:02x}.0", functions.join(", "))]
    NoFunctionZero {
        /// The slot.
        slot: u8,
        /// "function 1 (0000:01:00.1)" for each function present.
        functions: Vec<String>,
    },
    /// Every slot of bus 0 is taken.
    #[error("no free PCI slot left for {wanted_by}: bus 0 has 31 device slots and all are in use")]
    Full {
        /// Who needed one.
        wanted_by: String,
    },
}

/// The addresses of bus 0 in use, with the name of what holds each.
#[derive(Clone, Debug)]
pub struct PciSlots {
    taken: BTreeMap<PciAddress, String>,
}

impl Default for PciSlots {
    fn default() -> Self {
        Self::new()
    }
}

impl PciSlots {
    /// Bus 0 with only the host bridge (00.0).
    pub fn new() -> Self {
        let mut taken = BTreeMap::new();
        taken.insert(address(0, 0), "the host bridge".to_string());
        PciSlots { taken }
    }

    /// Takes `at` for `owner` (a name for messages, e.g. the host device `0000:01:00.0`).
    pub fn claim(&mut self, at: PciAddress, owner: &str) -> Result<(), SlotError> {
        if at.device() == 0 {
            return Err(SlotError::HostBridge {
                wanted_by: owner.to_string(),
            });
        }
        if let Some(held_by) = self.taken.get(&at) {
            return Err(SlotError::Taken {
                address: at,
                held_by: held_by.clone(),
                wanted_by: owner.to_string(),
            });
        }
        self.taken.insert(at, owner.to_string());
        Ok(())
    }

    /// The lowest slot with no function in use. It is not taken until a function of it is
    /// claimed: callers claim right after.
    pub fn next_free_slot(&self, owner: &str) -> Result<u8, SlotError> {
        (1..SLOTS_PER_BUS)
            .find(|&slot| self.functions(slot).next().is_none())
            .ok_or_else(|| SlotError::Full {
                wanted_by: owner.to_string(),
            })
    }

    /// Takes function 0 of the next free slot for `owner` and returns its address.
    pub fn claim_next(&mut self, owner: &str) -> Result<PciAddress, SlotError> {
        let at = address(self.next_free_slot(owner)?, 0);
        self.claim(at, owner)?;
        Ok(at)
    }

    /// Checks that every slot in use has a function 0.
    pub fn check(&self) -> Result<(), SlotError> {
        for slot in 1..SLOTS_PER_BUS {
            let functions: Vec<_> = self.functions(slot).collect();
            if !functions.is_empty() && functions[0].0 != 0 {
                return Err(SlotError::NoFunctionZero {
                    slot,
                    functions: functions
                        .iter()
                        .map(|(f, owner)| format!("function {f} ({owner})"))
                        .collect(),
                });
            }
        }
        Ok(())
    }

    /// The functions of `slot` in use, lowest first, with their owners.
    pub fn functions(&self, slot: u8) -> impl Iterator<Item = (u8, &str)> {
        self.taken
            .iter()
            .filter(move |(a, _)| a.device() == slot)
            .map(|(a, owner)| (a.function(), owner.as_str()))
    }
}

/// `00:slot.function` for a slot below 32 and a function below 8 (the ranges this module
/// iterates over); anything else is clamped into range.
fn address(slot: u8, function: u8) -> PciAddress {
    PciAddress::new(0, slot.min(SLOTS_PER_BUS - 1), function.min(7))
        .unwrap_or_else(|_| unreachable!("clamped into range"))
}

/// Parses QEMU's `addr=` syntax: `SLOT` or `SLOT.FUNCTION`, hex, with an optional `0x`
/// (`5`, `05.1`, `0x1f.0x7`).
pub fn parse_guest_address(text: &str) -> Result<(u8, Option<u8>), String> {
    let hex = |s: &str, what: &str, max: u8| {
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        u8::from_str_radix(digits, 16)
            .ok()
            .filter(|&v| v <= max && !digits.is_empty() && digits.len() <= 2)
            .ok_or_else(|| format!("addr={text}: the {what} must be hex 0 to {max:x} (addr=SLOT or addr=SLOT.FUNCTION, e.g. addr=05.1)"))
    };
    let (slot, function) = match text.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (text, None),
    };
    let slot = hex(slot, "slot", SLOTS_PER_BUS - 1)?;
    let function = function.map(|f| hex(f, "function", 7)).transpose()?;
    Ok((slot, function))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_then_next_free_slots() {
        let mut s = PciSlots::new();
        s.claim(address(2, 0), "a").unwrap();
        s.claim(address(2, 1), "a1").unwrap();
        assert_eq!(s.claim_next("b").unwrap(), address(1, 0));
        assert_eq!(s.claim_next("c").unwrap(), address(3, 0));
        assert_eq!(s.next_free_slot("d").unwrap(), 4);
        assert_eq!(
            s.functions(2).collect::<Vec<_>>(),
            vec![(0, "a"), (1, "a1")]
        );
        s.check().unwrap();
    }

    #[test]
    fn clashes_and_the_host_bridge_are_refused() {
        let mut s = PciSlots::new();
        s.claim(address(5, 1), "0000:01:00.1").unwrap();
        let e = s.claim(address(5, 1), "0000:02:00.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "0000:02:00.0 asks for guest PCI address 0000:00:05.1, which 0000:01:00.1 already has; choose another with addr=SLOT.FUNCTION"
        );
        let e = s.claim(address(0, 3), "x").unwrap_err();
        assert_eq!(
            e,
            SlotError::HostBridge {
                wanted_by: "x".into()
            }
        );
        // A slot with a function taken is not free, even without its function 0.
        assert_eq!(s.next_free_slot("y").unwrap(), 1);
        for slot in 1..32 {
            if slot != 5 {
                s.claim(address(slot, 0), "filler").unwrap();
            }
        }
        assert_eq!(
            s.claim_next("z").unwrap_err(),
            SlotError::Full {
                wanted_by: "z".into()
            }
        );
    }

    #[test]
    fn a_slot_needs_function_zero() {
        let mut s = PciSlots::new();
        s.claim(address(5, 1), "0000:01:00.1").unwrap();
        s.claim(address(5, 3), "0000:01:00.3").unwrap();
        assert_eq!(
            s.check().unwrap_err().to_string(),
            "guest slot 05 has function 1 (0000:01:00.1), function 3 (0000:01:00.3) but no function 0, and a guest only looks at a slot whose function 0 exists: pass function 0 too, or move the device with addr=05.0"
        );
        s.claim(address(5, 0), "0000:01:00.0").unwrap();
        s.check().unwrap();
    }

    #[test]
    fn guest_address_syntax() {
        assert_eq!(parse_guest_address("5"), Ok((5, None)));
        assert_eq!(parse_guest_address("05.1"), Ok((5, Some(1))));
        assert_eq!(parse_guest_address("0x1f.0x7"), Ok((0x1f, Some(7))));
        assert_eq!(parse_guest_address("a.0"), Ok((10, Some(0))));
        for bad in ["", "20", "5.8", "5.", ".1", "x", "5.1.2", "0x", "123"] {
            let e = parse_guest_address(bad).unwrap_err();
            assert!(e.contains(&format!("addr={bad}:")), "{bad}: {e}");
        }
    }
}
