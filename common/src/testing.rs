//! Helpers for the workspace's own tests.

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked
/// it); a server started on it right away almost always gets it.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("a bound socket has an address").port()
}
