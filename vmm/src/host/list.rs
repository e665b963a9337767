//! `ovmm host list`: every IOMMU group, its devices, and whether the group can be passed
//! through as it stands.

use serde::Serialize;

use super::bdf::Bdf;
use super::error::HostError;
use super::group::{all_groups, role, Group, OtherMember, Role};
use super::inuse::{host_uses, HostUse, HostUses};
use super::pci::{Kind, PciDevice};
use super::sysroot::SysRoot;

/// Whether a group can go to a VM now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every endpoint is on a VFIO driver and VFIO accepts the group.
    Ready,
    /// Endpoints need moving to vfio-pci; `ovmm host bind` does it.
    NeedsBind,
    /// An endpoint is a device the host needs (needs `--force`).
    HostNeeds,
    /// A non-PCI member is on a host driver; ovmm cannot move it.
    Blocked,
    /// Only bridges: nothing to pass through.
    BridgesOnly,
}

impl Status {
    /// Words for the text listing.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::NeedsBind => "needs bind",
            Status::HostNeeds => "host needs it",
            Status::Blocked => "blocked",
            Status::BridgesOnly => "bridges only",
        }
    }
}

/// One device in the listing.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceEntry {
    /// Address.
    pub bdf: Bdf,
    /// `vendor:device`.
    pub ids: String,
    /// Class code, `0x020000`.
    pub class: String,
    /// Class in words.
    pub class_name: &'static str,
    /// Current driver.
    pub driver: Option<String>,
    /// Endpoint, bridge or root port.
    pub kind: Kind,
    /// Whether it is a bridge (stays with the host).
    pub bridge: bool,
    /// What the host uses it for.
    pub host_use: Vec<HostUse>,
}

/// One group in the listing.
#[derive(Clone, Debug, Serialize)]
pub struct GroupEntry {
    /// Group number.
    pub id: u32,
    /// Whether it can go to a VM now.
    pub status: Status,
    /// Whether VFIO itself accepts the group (no member on a DMA-capable host driver).
    pub viable: bool,
    /// Why, in words.
    pub reason: String,
    /// PCI members.
    pub devices: Vec<DeviceEntry>,
    /// Non-PCI members.
    pub others: Vec<OtherMember>,
}

/// The whole listing.
#[derive(Clone, Debug, Serialize)]
pub struct Listing {
    /// JSON schema name.
    pub schema: &'static str,
    /// Whether any IOMMU group exists.
    pub iommu: bool,
    /// Every group.
    pub groups: Vec<GroupEntry>,
}

/// Reads every group.
pub fn list(root: &SysRoot) -> Result<Listing, HostError> {
    let uses = host_uses(root);
    let groups: Vec<GroupEntry> = all_groups(root)?.iter().map(|g| entry(g, &uses)).collect();
    Ok(Listing {
        schema: "ovmm.host-list/1",
        iommu: !groups.is_empty(),
        groups,
    })
}

fn device_entry(d: &PciDevice, uses: &HostUses) -> DeviceEntry {
    DeviceEntry {
        bdf: d.bdf,
        ids: d.ids(),
        class: format!("{:#08x}", d.class),
        class_name: d.class_name(),
        driver: d.driver.clone(),
        kind: d.kind,
        bridge: d.kind.is_bridge(),
        host_use: uses.get(&d.bdf).cloned().unwrap_or_default(),
    }
}

fn entry(g: &Group, uses: &HostUses) -> GroupEntry {
    let (status, reason) = status(g, uses);
    GroupEntry {
        id: g.id,
        status,
        viable: g.viable(),
        reason,
        devices: g.devices.iter().map(|d| device_entry(d, uses)).collect(),
        others: g.others.clone(),
    }
}

fn status(g: &Group, uses: &HostUses) -> (Status, String) {
    let eps: Vec<&PciDevice> = g.endpoints().collect();
    if eps.is_empty() && g.others.is_empty() {
        return (Status::BridgesOnly, "nothing to pass through".into());
    }
    let platform: Vec<String> = g
        .others
        .iter()
        .filter_map(|o| Some(format!("{} on {}", o.name, o.driver.as_ref()?)))
        .filter(|s| !s.contains(" on vfio"))
        .collect();
    if !platform.is_empty() {
        return (
            Status::Blocked,
            format!("platform device {}", platform.join(", ")),
        );
    }
    let needed: Vec<String> = eps
        .iter()
        .filter(|d| !d.on_vfio())
        .flat_map(|d| {
            uses.get(&d.bdf)
                .into_iter()
                .flatten()
                .map(move |u| format!("{}: {u}", d.bdf))
        })
        .collect();
    if !needed.is_empty() {
        return (Status::HostNeeds, needed.join("; "));
    }
    let todo: Vec<String> = eps
        .iter()
        .filter_map(|d| match role(d) {
            Role::Host(drv) | Role::NoDma(drv) => Some(format!("{} on {drv}", d.bdf)),
            Role::Unbound => Some(format!("{} unbound", d.bdf)),
            _ => None,
        })
        .collect();
    if todo.is_empty() {
        (Status::Ready, "every endpoint is on vfio-pci".into())
    } else {
        (Status::NeedsBind, todo.join(", "))
    }
}
