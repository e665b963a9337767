//! The ovmm VMM library: turns a validated [`config::VmConfig`] into a running VM and reports
//! how it ended.
//!
//! Data flows one way: [`cli`] -> [`config::VmConfig`] -> [`vm::Vm::build`] (memory,
//! irqchip, devices, boot description, vCPUs) -> [`runner::run`] (vCPU threads, event loop,
//! reboots) -> [`runner::Outcome`], which the binary maps to its exit status.
//!
//! - [`cli`]: the command line.
//! - [`config`]: validation of what the user asked for.
//! - [`memory`]: guest RAM and its KVM slots.
//! - [`vm`]: the build recipe, per architecture.
//! - [`vcpu`]: vCPU threads, the KVM_RUN loop and exit dispatch.
//! - [`runner`]: the lifecycle and the main event loop.
//! - [`signals`], [`terminal`]: stop signals and the controlling terminal.
//! - [`api_server`]: answers control API requests against the running VM; [`api_client`]
//!   is `ovmm api`, a client for it.
//! - [`config_file`]: `--config FILE.toml`, turned into command-line options.
//! - [`dump_acpi`]: `--dump-acpi DIR`.
//! - [`virtio`]: `--disk` and `--net` as virtio-pci devices, and their event-loop side.

pub mod api_client;
pub mod api_server;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod dump_acpi;
pub mod host;
pub mod interrupt;
pub mod memory;
pub mod pci;
pub mod runner;
pub mod signals;
pub mod terminal;
pub mod vcpu;
pub mod vfio;
pub mod virtio;
pub mod vm;
