//! IOMMU groups: their members and whether VFIO will accept the group as it stands.
//!
//! VFIO's rule: a group is viable when every member is unbound, on a VFIO driver, or on a
//! driver that does no DMA (`pcieport`, `pci-stub`). Bridges never block a group and cannot be
//! bound to vfio-pci, so they are left alone.

use serde::Serialize;

use super::bdf::Bdf;
use super::error::HostError;
use super::pci::{self, PciDevice};
use super::sysroot::SysRoot;

/// Drivers that do no DMA and so never block a group (besides bridges on `pcieport`).
const NO_DMA_DRIVERS: [&str; 2] = ["pci-stub", "pcieport"];

/// One IOMMU group.
#[derive(Clone, Debug)]
pub struct Group {
    /// Group number (`/dev/vfio/N`).
    pub id: u32,
    /// The PCI functions in it, sorted.
    pub devices: Vec<PciDevice>,
    /// Members on other buses (platform devices on arm64 boards), with their drivers.
    pub others: Vec<OtherMember>,
}

/// A non-PCI group member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OtherMember {
    /// Its sysfs name, e.g. `3100000.serial`.
    pub name: String,
    /// Its driver.
    pub driver: Option<String>,
}

/// How a member affects the group's viability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A bridge: stays with the host, never blocks.
    Bridge,
    /// On vfio-pci or a VFIO variant driver.
    Vfio,
    /// No driver: does not block, but ovmm binds it so the guest can use it.
    Unbound,
    /// On a no-DMA driver such as `pci-stub`.
    NoDma(String),
    /// On a host driver: blocks the group until it is moved to vfio-pci.
    Host(String),
}

/// The role of a PCI member.
pub fn role(dev: &PciDevice) -> Role {
    if dev.kind.is_bridge() {
        return Role::Bridge;
    }
    match dev.driver.as_deref() {
        None => Role::Unbound,
        Some(d) if pci::is_vfio_driver(d) => Role::Vfio,
        Some(d) if NO_DMA_DRIVERS.contains(&d) => Role::NoDma(d.to_string()),
        Some(d) => Role::Host(d.to_string()),
    }
}

impl Group {
    /// Reads group `id` from `/sys/kernel/iommu_groups/<id>/devices`.
    pub fn read(root: &SysRoot, id: u32) -> Result<Group, HostError> {
        let dir = format!("sys/kernel/iommu_groups/{id}/devices");
        let mut devices = Vec::new();
        let mut others = Vec::new();
        for name in root.list(&dir) {
            match name.parse::<Bdf>() {
                Ok(bdf) => devices.push(PciDevice::read(root, bdf)?),
                Err(_) => others.push(OtherMember {
                    driver: root.link_name(&format!("{dir}/{name}/driver")),
                    name,
                }),
            }
        }
        devices.sort_by_key(|d| d.bdf);
        Ok(Group {
            id,
            devices,
            others,
        })
    }

    /// The group of `bdf`.
    pub fn of(root: &SysRoot, bdf: Bdf) -> Result<Group, HostError> {
        let dev = PciDevice::read(root, bdf)?;
        let id = dev.group.ok_or(HostError::NoGroup(bdf))?;
        Group::read(root, id)
    }

    /// Members that keep VFIO from accepting the group: `(name, driver)`.
    pub fn blockers(&self) -> Vec<(String, String)> {
        let pci = self.devices.iter().filter_map(|d| match role(d) {
            Role::Host(drv) => Some((d.bdf.to_string(), drv)),
            _ => None,
        });
        let others = self
            .others
            .iter()
            .filter_map(|o| Some((o.name.clone(), o.driver.clone()?)))
            .filter(|(_, drv)| !drv.starts_with("vfio"));
        pci.chain(others).collect()
    }

    /// Whether VFIO accepts the group now.
    pub fn viable(&self) -> bool {
        self.blockers().is_empty()
    }

    /// The members a guest gets: everything but bridges.
    pub fn endpoints(&self) -> impl Iterator<Item = &PciDevice> {
        self.devices.iter().filter(|d| !d.kind.is_bridge())
    }

    /// The bridges in the group.
    pub fn bridges(&self) -> impl Iterator<Item = &PciDevice> {
        self.devices.iter().filter(|d| d.kind.is_bridge())
    }
}

/// Every IOMMU group, by number.
pub fn all_groups(root: &SysRoot) -> Result<Vec<Group>, HostError> {
    let mut ids: Vec<u32> = root
        .list("sys/kernel/iommu_groups")
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    ids.sort_unstable();
    ids.into_iter().map(|id| Group::read(root, id)).collect()
}
