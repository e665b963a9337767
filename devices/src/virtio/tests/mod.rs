//! Tests of the virtio transport and devices against guest memory built in the test, with a
//! driver-side helper that lays out the rings and descriptor chains.

mod block;
mod driver;
mod net;
mod transport;
