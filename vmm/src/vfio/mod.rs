//! Host side of passthrough: the preflight checks, the VFIO container shared by all devices
//! (every guest RAM region DMA-mapped at IOVA = guest physical address, groups registered with
//! the KVM-VFIO device), and opening each function.
//!
//! Every device is reset once all are open ([`reset`]: function reset, or a bus hot reset
//! when the VM holds every device it touches), and again when the VM ends.
//!
//! Teardown is drop order: the device models (and their fds) go first, which makes vfio-pci
//! disable the device's interrupts; then the container, which drops the DMA mappings and
//! releases the groups. The device is then ready for the next run.

pub mod preflight;
pub mod reset;
pub mod shared_group;

use std::path::Path;
use std::sync::Arc;

use devices::vfio::ioctls::VfioIoctlsBackend;
use kvm_bindings::{kvm_create_device, kvm_device_type_KVM_DEV_TYPE_VFIO};
use kvm_ioctls::VmFd;
use vfio_ioctls::{VfioContainer, VfioDevice, VfioDeviceFd, VfioOps};

use crate::config::VfioConfig;
use crate::memory::GuestMemory;
pub use preflight::PreflightError;

/// Errors while opening passthrough devices.
#[derive(Debug, thiserror::Error)]
pub enum VfioError {
    /// A check failed before anything was opened (bad input: exit status 2).
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// The KVM-VFIO pseudo device could not be created.
    #[error("cannot create the KVM-VFIO device: {0}")]
    KvmVfio(#[source] kvm_ioctls::Error),
    /// The VFIO container could not be opened.
    #[error("cannot open the VFIO container: {0}")]
    Container(#[source] vfio_ioctls::VfioError),
    /// A device could not be opened.
    #[error("cannot open {label} through VFIO: {source}")]
    Device {
        /// The device.
        label: String,
        /// The VFIO error.
        #[source]
        source: vfio_ioctls::VfioError,
    },
    /// The backend could not be created.
    #[error("cannot use {label}: {source}")]
    Backend {
        /// The device.
        label: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Guest memory could not be mapped for DMA.
    #[error("cannot map guest memory for device DMA: {0}")]
    Dma(#[source] vfio_ioctls::VfioError),
    /// A device's fd could not be duplicated for its reset.
    #[error("cannot keep a reset handle of the passthrough devices: {0}")]
    ResetHandle(#[source] std::io::Error),
}

/// The open container and, for each `--vfio`, its opened device.
pub struct OpenedDevices {
    /// Devices in command-line order, with their configuration.
    pub devices: Vec<(VfioConfig, VfioIoctlsBackend)>,
    /// The container: keep it alive as long as the devices (drop it after them).
    pub container: Arc<VfioContainer>,
    /// The devices' reset handles (reset once already, at start); drop them before the
    /// container.
    pub resets: reset::Resets,
    /// The fds to close before the devices drop, for groups holding several of them.
    pub shared: shared_group::SharedGroupFds,
}

/// Checks, then opens every device in one container and maps all of `mem` for DMA.
pub fn open(
    vm: &VmFd,
    mem: &GuestMemory,
    configs: &[VfioConfig],
    memory_size: u64,
) -> Result<Option<OpenedDevices>, VfioError> {
    if configs.is_empty() {
        return Ok(None);
    }
    preflight::check(Path::new("/"), configs, memory_size)?;
    let mut kvm_dev = kvm_create_device {
        type_: kvm_device_type_KVM_DEV_TYPE_VFIO,
        fd: 0,
        flags: 0,
    };
    let kvm_vfio = vm.create_device(&mut kvm_dev).map_err(VfioError::KvmVfio)?;
    let container = Arc::new(
        VfioContainer::new(Some(Arc::new(VfioDeviceFd::new_from_kvm(kvm_vfio))))
            .map_err(VfioError::Container)?,
    );
    let mut devices = Vec::with_capacity(configs.len());
    for cfg in configs {
        let ops: Arc<dyn VfioOps> = container.clone();
        let dev = VfioDevice::new(&cfg.sysfs, ops, false).map_err(|source| VfioError::Device {
            label: cfg.label.clone(),
            source,
        })?;
        let backend = VfioIoctlsBackend::new(dev).map_err(|source| VfioError::Backend {
            label: cfg.label.clone(),
            source,
        })?;
        log::info!("opened {} through VFIO", cfg.label);
        devices.push((cfg.clone(), backend));
    }
    let resets = reset::Resets::new(
        devices
            .iter()
            .map(|(cfg, backend)| (cfg.label.as_str(), cfg.sysfs.as_path(), backend)),
    )
    .map_err(VfioError::ResetHandle)?;
    resets.reset_all("at start");
    let shared = shared_group::SharedGroupFds::new(&devices);
    // SAFETY: every region of `mem` stays mapped for as long as the container lives: the VM
    // owns both and drops the container (with its DMA mappings) before the memory.
    unsafe { container.vfio_map_guest_memory(mem) }.map_err(VfioError::Dma)?;
    Ok(Some(OpenedDevices {
        devices,
        container,
        resets,
        shared,
    }))
}
