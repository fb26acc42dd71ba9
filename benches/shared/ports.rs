//! Loopback ports for the servers the tests and benchmarks start (`registry.rs`,
//! `buildgrid.rs`: a crate that includes those includes this as `crate::ports`).

use std::time::{Duration, Instant};

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until `what` listens on the loopback `port`, at most `seconds`.
pub fn wait_for(port: u16, what: &str, seconds: u64) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(seconds),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
