//! Walking a device's capability lists and rewriting them in the shadow so that hidden
//! capabilities drop out of the chain: standard ones (MSI and MSI-X in INTx mode) and
//! extended ones (SR-IOV, ARI, Resizable BAR by default).

use super::shadow::ShadowConfig;
use crate::pci::config_space::{
    PciConfigSpace, CAPABILITIES_POINTER, EXTENDED_CAPS_START, STATUS, STATUS_CAPABILITIES_LIST,
};

/// Extended capability ID of Alternative Routing-ID Interpretation.
pub const EXT_CAP_ARI: u16 = 0x000e;
/// Extended capability ID of SR-IOV.
pub const EXT_CAP_SRIOV: u16 = 0x0010;
/// Extended capability ID of Resizable BAR.
pub const EXT_CAP_REBAR: u16 = 0x0015;

/// More capabilities than can fit in config space: the list loops.
const MAX_CAPS: usize = 1024;

/// A standard capability: its ID and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Capability {
    pub(super) id: u8,
    pub(super) offset: u16,
}

/// An extended capability: its ID, version and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ExtCapability {
    pub(super) id: u16,
    pub(super) version: u8,
    pub(super) offset: u16,
}

/// The standard capability list, in chain order. Stops at a pointer outside 0x40..0x100 or
/// at a loop.
pub(super) fn standard_caps(space: &PciConfigSpace) -> Vec<Capability> {
    let mut caps: Vec<Capability> = Vec::new();
    if space.status() & STATUS_CAPABILITIES_LIST == 0 {
        return caps;
    }
    let mut offset = u16::from(space.capabilities_pointer() & !3);
    while (0x40..0x100).contains(&offset)
        && caps.len() < MAX_CAPS
        && !caps.iter().any(|c| c.offset == offset)
    {
        caps.push(Capability {
            id: space.read_u8(offset),
            offset,
        });
        offset = u16::from(space.read_u8(offset + 1) & !3);
    }
    caps
}

/// The extended capability list of a config space of `size` bytes, in chain order.
pub(super) fn extended_caps(space: &PciConfigSpace, size: usize) -> Vec<ExtCapability> {
    let mut caps: Vec<ExtCapability> = Vec::new();
    let mut offset = EXTENDED_CAPS_START;
    while usize::from(offset) + 4 <= size
        && offset >= EXTENDED_CAPS_START
        && caps.len() < MAX_CAPS
        && !caps.iter().any(|c| c.offset == offset)
    {
        let header = space.read_u32(offset);
        if header == 0 || header == u32::MAX {
            break;
        }
        caps.push(ExtCapability {
            id: header as u16,
            version: ((header >> 16) & 0xf) as u8,
            offset,
        });
        offset = ((header >> 20) & 0xffc) as u16;
    }
    caps
}

/// Rewrites the standard chain without the capabilities for which `hidden` returns a
/// length: the capabilities pointer, every visible next pointer and the status bit become
/// emulated; a hidden capability reads as that many zero bytes.
pub(super) fn rewrite_standard(
    shadow: &mut ShadowConfig,
    caps: &[Capability],
    hidden: impl Fn(&Capability) -> Option<u16>,
) {
    let visible: Vec<u16> = caps
        .iter()
        .filter(|c| hidden(c).is_none())
        .map(|c| c.offset)
        .collect();
    shadow.space.set_u8(
        CAPABILITIES_POINTER,
        visible.first().map_or(0, |&o| o as u8),
    );
    shadow.emulate(CAPABILITIES_POINTER, 1);
    for (i, &offset) in visible.iter().enumerate() {
        let next = visible.get(i + 1).map_or(0, |&o| o as u8);
        shadow.space.set_u8(offset + 1, next);
        shadow.emulate(offset + 1, 1);
    }
    for cap in caps {
        if let Some(len) = hidden(cap) {
            shadow.space.set(cap.offset, &vec![0; usize::from(len)]);
            shadow.emulate(cap.offset, len);
        }
    }
    let status = shadow.space.status() & !STATUS_CAPABILITIES_LIST;
    let list = if visible.is_empty() {
        0
    } else {
        STATUS_CAPABILITIES_LIST
    };
    shadow.space.set_u16(STATUS, status | list);
    shadow.shadow_bits(STATUS & !3, u32::from(STATUS_CAPABILITIES_LIST) << 16);
}

/// Rewrites the extended chain without the capabilities whose ID is in `hidden_ids`. Every
/// header in the chain becomes emulated. A hidden first capability (at 0x100, where the chain
/// must start) becomes a null capability (ID 0) pointing at the first visible one.
pub(super) fn rewrite_extended(
    shadow: &mut ShadowConfig,
    caps: &[ExtCapability],
    hidden_ids: &[u16],
) {
    let visible: Vec<&ExtCapability> = caps
        .iter()
        .filter(|c| !hidden_ids.contains(&c.id))
        .collect();
    for cap in caps {
        shadow.space.set_u32(cap.offset, 0);
        shadow.emulate(cap.offset, 4);
    }
    for (i, cap) in visible.iter().enumerate() {
        let next = visible.get(i + 1).map_or(0, |c| c.offset);
        let header = u32::from(cap.id) | u32::from(cap.version) << 16 | u32::from(next) << 20;
        shadow.space.set_u32(cap.offset, header);
    }
    let head_hidden = caps
        .first()
        .is_some_and(|c| hidden_ids.contains(&c.id) && c.offset == EXTENDED_CAPS_START);
    if head_hidden {
        let next = visible.first().map_or(0, |c| c.offset);
        shadow
            .space
            .set_u32(EXTENDED_CAPS_START, u32::from(next) << 20);
    }
}
