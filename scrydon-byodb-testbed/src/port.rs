//! Picking free TCP ports on the loopback interface.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, IoContext, Result};

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A TCP port that is free on 127.0.0.1 right now (the kernel picks it: bind port 0, read it,
/// release it). Never returns the same port twice in one process. Another process can still
/// take it before it is used; the test bed retries server starts on a collision.
pub fn free_port() -> Result<u16> {
    free_port_on(false)
}

/// Like [`free_port`]; with `ipv6` the port is also free on `::1`.
pub(crate) fn free_port_on(ipv6: bool) -> Result<u16> {
    for _ in 0..64 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .ctx(|| "bind 127.0.0.1:0 for a free port")?;
        let port = listener
            .local_addr()
            .ctx(|| "local address of a bound socket")?
            .port();
        if ipv6 && TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_err() {
            continue;
        }
        let mut seen = handed_out()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.insert(port) {
            return Ok(port);
        }
    }
    Err(Error::State(
        "could not find a free TCP port on 127.0.0.1".into(),
    ))
}
