//! ovmm's end-to-end test harness: builds the lab assets, boots the emulated host (QEMU TCG
//! with nested virtualization and an emulated IOMMU) and runs scenarios inside it.
//! See `resources/lab/` for the scripts and scenarios, and [`lab`] for the API.

pub mod lab;
