//! ovmm's control API: the request and response types a client exchanges with a running VM,
//! and the HTTP/1.1 server on a Unix socket that carries them. Nothing here touches KVM.
//!
//! - [`types`]: the JSON bodies (`GET /vm`, `GET /vm/devices`, action results, errors).
//! - [`routes`]: which method and path mean which [`Action`].
//! - [`http`]: reading one request within limits and writing one response (parsing by
//!   `httparse`).
//! - [`server`]: the socket (stale-socket handling, removal at exit), the accept thread and the
//!   per-connection threads. Requests reach the VMM as [`server::Pending`] items on a channel
//!   whose eventfd the VMM's event loop watches; the VMM answers each through its own reply
//!   channel.
//! - [`client`]: a small blocking client (used by `ovmm api`, the tests and the lab).

pub mod client;
pub mod http;
pub mod routes;
pub mod server;
pub mod types;

pub use routes::{route, Action};
pub use server::{ApiRequests, ApiServer, Pending, ServerError};
pub use types::{
    ActionResult, ApiError, BarInfo, DeviceList, PciDeviceInfo, Reply, VmInfo, VmState,
};
