//! The JSON bodies of the control API. Addresses are hex strings (`"0xc0000000"`, as lspci
//! and sysfs show them); sizes and times are plain numbers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where the VM is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmState {
    /// The vCPUs run.
    Running,
    /// The vCPUs are parked outside KVM_RUN (`PUT /vm/pause`).
    Paused,
    /// The VM has ended (or is between a reset and the next boot).
    Stopped,
}

/// `GET /vm`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmInfo {
    /// Running, paused or stopped.
    pub state: VmState,
    /// Boots so far: 1, plus one per guest reboot or `PUT /vm/reset`.
    pub boots: u32,
    /// Milliseconds since this boot started (the first boot starts with ovmm).
    pub uptime_ms: u64,
    /// Milliseconds from the start of this boot to the guest's first write to the boot-timer
    /// register; `null` until the guest writes it.
    pub boot_time_ms: Option<u64>,
    /// vCPUs.
    pub cpus: u8,
    /// Guest RAM in bytes.
    pub memory_bytes: u64,
    /// The options ovmm was started with (command line and `--config` file merged), by long
    /// option name: strings, `true` for flags, lists for repeatable options.
    pub config: BTreeMap<String, serde_json::Value>,
}

/// One BAR of a PCI device, as `GET /vm/devices` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BarInfo {
    /// 0..=5, or 6 for the expansion ROM.
    pub index: u8,
    /// `io`, `mem32`, `mem64` or `rom`.
    pub kind: String,
    /// Size in bytes.
    pub size: u64,
    /// The guest physical address programmed in the BAR (the guest may move it).
    pub guest_address: String,
    /// True while the guest decodes the BAR there (its command register enables the space).
    pub decoding: bool,
    /// Bytes of the BAR mapped straight into the guest (KVM memory slots); the rest traps to
    /// ovmm. 0 while not decoding.
    pub mapped_bytes: u64,
    /// The host physical address of the BAR (passed-through devices; from the host's sysfs).
    pub host_address: Option<String>,
}

/// One PCI function of the guest, as `GET /vm/devices` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDeviceInfo {
    /// The guest's address, `0000:00:01.0`.
    pub guest_address: String,
    /// What it is: `passthrough`, `host-bridge`, or the device model's name.
    pub kind: String,
    /// The host device behind it (passed-through devices), `0000:01:00.0`.
    pub host_device: Option<String>,
    /// Vendor ID the guest sees, `0x8086`.
    pub vendor_id: String,
    /// Device ID the guest sees.
    pub device_id: String,
    /// Class code the guest sees, `0x020000`.
    pub class_code: String,
    /// The interrupt the guest enabled: `msix`, `msi`, `intx` or `none`.
    pub interrupt_mode: String,
    /// MSI or MSI-X vectors ovmm set up for the device (passed-through devices), if known.
    pub interrupt_vectors: Option<u32>,
    /// Interrupts delivered, when ovmm sees them. Passed-through devices signal KVM directly
    /// through eventfds (irqfd), so ovmm does not count them: `null`.
    pub interrupt_count: Option<u64>,
    /// The BARs, in index order.
    pub bars: Vec<BarInfo>,
}

/// `GET /vm/devices`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// Every function on the guest's PCI root bus, by address.
    pub devices: Vec<PciDeviceInfo>,
}

/// The answer to a `PUT` action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The state after the action (for power-off and reset: still running until the guest or
    /// the VMM acts).
    pub state: VmState,
    /// What happened, in one sentence.
    pub message: String,
}

/// An error answer: an HTTP status and a one-sentence message, sent as `{"error": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::json!({ "error": self.message }).to_string()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

/// What the VMM answers to a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `GET /vm` (200).
    Vm(VmInfo),
    /// `GET /vm/devices` (200).
    Devices(DeviceList),
    /// A `PUT` action: 200 when done, 202 when the guest or the VMM still has to act.
    Action {
        /// 200 or 202.
        status: u16,
        /// The result body.
        result: ActionResult,
    },
    /// An error.
    Error(ApiError),
}

impl Reply {
    /// The HTTP status and JSON body of this reply.
    pub fn to_http(&self) -> (u16, String) {
        let json = |v: Result<String, serde_json::Error>| {
            v.unwrap_or_else(|e| format!("{{\"error\":\"cannot encode the answer: {e}\"}}"))
        };
        match self {
            Reply::Vm(v) => (200, json(serde_json::to_string(v))),
            Reply::Devices(d) => (200, json(serde_json::to_string(d))),
            Reply::Action { status, result } => (*status, json(serde_json::to_string(result))),
            Reply::Error(e) => (e.status, e.body()),
        }
    }
}

/// `0x` and lower-case hex digits.
pub fn hex(v: u64) -> String {
    format!("{v:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_info_json_shape() {
        let info = VmInfo {
            state: VmState::Paused,
            boots: 2,
            uptime_ms: 1500,
            boot_time_ms: None,
            cpus: 1,
            memory_bytes: 512 << 20,
            config: BTreeMap::from([("kernel".to_string(), serde_json::json!("/k"))]),
        };
        let (status, body) = Reply::Vm(info.clone()).to_http();
        assert_eq!(status, 200);
        assert_eq!(
            body,
            r#"{"state":"paused","boots":2,"uptime_ms":1500,"boot_time_ms":null,"cpus":1,"memory_bytes":536870912,"config":{"kernel":"/k"}}"#
        );
        let back: VmInfo = serde_json::from_str(&body).unwrap();
        assert_eq!(back, info);
    }

    #[test]
    fn errors_and_actions() {
        let (s, b) = Reply::Error(ApiError::new(409, "the VM is already paused")).to_http();
        assert_eq!(
            (s, b.as_str()),
            (409, r#"{"error":"the VM is already paused"}"#)
        );
        let (s, b) = Reply::Action {
            status: 202,
            result: ActionResult {
                state: VmState::Running,
                message: "pressed".into(),
            },
        }
        .to_http();
        assert_eq!(
            (s, b.as_str()),
            (202, r#"{"state":"running","message":"pressed"}"#)
        );
        assert_eq!(hex(0xc000_0000), "0xc0000000");
    }
}
