//! Answers control API requests (see the `api` crate) against the running VM. The runner's
//! event loop calls [`serve`] on the main thread whenever the API's eventfd fires, so every
//! action happens where the VM's lifecycle is decided: pause and resume park and release the
//! vCPU threads, power-off presses the platform's power button, reset sends the same request
//! a guest reboot sends, and the reads look at the VM's devices through read-only accessors.

use std::collections::BTreeMap;
use std::time::Duration;

use api::{Action, ActionResult, ApiError, ApiRequests, Pending, Reply, VmInfo, VmState};
use devices::lifecycle::{GuestRequest, GuestRequests};

use crate::config::VmConfig;
use crate::vm::RunningVm;

mod devices_view;
pub use devices_view::{device_list, interrupt_mode_from_config};

/// What `GET /vm` reports besides the live state.
pub struct VmFacts<'a> {
    /// This boot's number (1 for the first).
    pub boot: u32,
    /// The validated configuration.
    pub config: &'a VmConfig,
    /// The options ovmm was started with, by long name.
    pub options: &'a BTreeMap<String, serde_json::Value>,
}

/// Answers every queued request.
pub fn serve(api: &ApiRequests, vm: &RunningVm, requests: &GuestRequests, facts: &VmFacts) {
    while let Some(p) = api.next() {
        answer(p, vm, requests, facts);
    }
}

fn answer(p: Pending, vm: &RunningVm, requests: &GuestRequests, facts: &VmFacts) {
    let action = p.action;
    let reply = match action {
        Action::GetVm => Reply::Vm(vm_info(vm, requests, facts)),
        Action::GetDevices => Reply::Devices(device_list(vm.pci())),
        Action::Pause => pause(vm, requests),
        Action::Resume => resume(vm),
        Action::PowerOff => power_off(vm, requests),
        Action::Reset => reset(requests),
    };
    match &reply {
        Reply::Error(e) => log::info!("API: {action:?} refused: {e}"),
        Reply::Action { result, .. } => log::info!("API: {action:?}: {}", result.message),
        _ => log::debug!("API: {action:?} answered"),
    }
    p.answer(reply);
}

fn state(vm: &RunningVm, requests: &GuestRequests) -> VmState {
    if requests.peek().is_some() {
        VmState::Stopped
    } else if vm.is_paused() {
        VmState::Paused
    } else {
        VmState::Running
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `GET /vm`.
pub fn vm_info(vm: &RunningVm, requests: &GuestRequests, facts: &VmFacts) -> VmInfo {
    let mark = vm.boot_mark();
    VmInfo {
        state: state(vm, requests),
        boots: facts.boot,
        uptime_ms: millis(mark.started().elapsed()),
        boot_time_ms: mark.boot_time().map(millis),
        cpus: facts.config.cpus,
        memory_bytes: facts.config.memory,
        config: facts.options.clone(),
    }
}

fn done(status: u16, state: VmState, message: impl Into<String>) -> Reply {
    Reply::Action {
        status,
        result: ActionResult {
            state,
            message: message.into(),
        },
    }
}

fn refuse(status: u16, message: impl Into<String>) -> Reply {
    Reply::Error(ApiError::new(status, message))
}

fn stopping(requests: &GuestRequests) -> Option<Reply> {
    requests.peek().map(|r| {
        refuse(
            409,
            format!("the VM is already stopping ({r:?} requested); nothing to do"),
        )
    })
}

fn pause(vm: &RunningVm, requests: &GuestRequests) -> Reply {
    if let Some(r) = stopping(requests) {
        return r;
    }
    if vm.is_paused() {
        return refuse(409, "the VM is already paused");
    }
    match vm.pause() {
        Ok(()) => done(
            200,
            VmState::Paused,
            "paused: the vCPUs are parked outside the guest",
        ),
        Err(e) => refuse(500, e),
    }
}

fn resume(vm: &RunningVm) -> Reply {
    if !vm.is_paused() {
        return refuse(409, "the VM is not paused");
    }
    vm.resume();
    done(200, VmState::Running, "resumed: the vCPUs run again")
}

fn power_off(vm: &RunningVm, requests: &GuestRequests) -> Reply {
    if let Some(r) = stopping(requests) {
        return r;
    }
    if vm.is_paused() {
        return refuse(
            409,
            "the VM is paused and cannot see its power button: PUT /vm/resume first",
        );
    }
    match vm.press_power_button() {
        Ok(()) => done(
            202,
            VmState::Running,
            "pressed the power button; the guest decides when to power off (ovmm then exits with status 0)",
        ),
        Err(e) => refuse(501, e),
    }
}

fn reset(requests: &GuestRequests) -> Reply {
    if let Some(r) = stopping(requests) {
        return r;
    }
    // The same request a guest reboot sends: the runner rebuilds the VM (or exits with
    // --no-reboot). Parked vCPUs are released by the stop that follows.
    requests.send(GuestRequest::Reset);
    done(
        202,
        VmState::Stopped,
        "resetting: ovmm stops the VM and boots it again (with --no-reboot it exits with status 0)",
    )
}
