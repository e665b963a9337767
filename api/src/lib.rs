//! ovmm's control API: the request and response types a client exchanges with a running VM,
//! and (later) the HTTP-over-Unix-socket server that carries them. Nothing here touches KVM;
//! the VMM receives requests through a channel and answers them.
