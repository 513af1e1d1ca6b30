//! A TCP proxy that adds latency, for measuring round trips.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{IoContext, Result};

const CHUNK: usize = 64 * 1024;

#[derive(Debug)]
struct Shared {
    delay_nanos: AtomicU64,
    accepted: AtomicU64,
    stopping: AtomicBool,
    open: Mutex<HashMap<u64, [TcpStream; 2]>>,
}

/// An in-process TCP proxy on 127.0.0.1 in front of `target` that delays each direction by a
/// fixed duration: a chunk read at time *t* is written at *t + delay*, in order, while later
/// chunks keep being read (the delay is latency, not a throughput limit). A request/response
/// round trip through it therefore takes at least `2 × delay` longer. Dropping it closes the
/// listener and every proxied connection.
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    target: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Listens on a free 127.0.0.1 port and forwards each accepted connection to `target`,
    /// delaying each direction by `delay`.
    pub fn start(target: SocketAddr, delay: Duration) -> Result<DelayProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .ctx(|| "bind the delay proxy on 127.0.0.1")?;
        let addr = listener.local_addr().ctx(|| "delay proxy address")?;
        let shared = Arc::new(Shared {
            delay_nanos: AtomicU64::new(nanos(delay)),
            accepted: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = std::thread::Builder::new()
            .name(format!("delay-proxy-{}", addr.port()))
            .spawn(move || accept_loop(listener, target, accept_shared))
            .ctx(|| "spawn the delay proxy thread")?;
        Ok(DelayProxy {
            addr,
            target,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address to connect to instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Where connections are forwarded.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The current one-way delay.
    pub fn delay(&self) -> Duration {
        Duration::from_nanos(self.shared.delay_nanos.load(Ordering::Relaxed))
    }

    /// Changes the one-way delay for chunks read from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.shared
            .delay_nanos
            .store(nanos(delay), Ordering::Relaxed);
    }

    /// How many connections have been accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// How many proxied connections are open now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.open).len()
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
        for [a, b] in lock(&self.shared.open).values() {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accept_loop(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    for incoming in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = incoming else {
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        next_id += 1;
        let id = next_id;
        let shared = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name(format!("delay-proxy-conn-{id}"))
            .spawn(move || {
                let _ = proxy_connection(id, client, target, &shared);
            });
    }
}

fn proxy_connection(
    id: u64,
    client: TcpStream,
    target: SocketAddr,
    shared: &Arc<Shared>,
) -> std::io::Result<()> {
    let upstream = match TcpStream::connect_timeout(&target, Duration::from_secs(10)) {
        Ok(s) => s,
        Err(e) => {
            let _ = client.shutdown(Shutdown::Both);
            return Err(e);
        }
    };
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    {
        let mut open = lock(&shared.open);
        if shared.stopping.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
            return Ok(());
        }
        open.insert(id, [client.try_clone()?, upstream.try_clone()?]);
    }
    let remaining = Arc::new(AtomicUsize::new(2));
    pump(
        id,
        client.try_clone()?,
        upstream.try_clone()?,
        shared,
        &remaining,
    )?;
    pump(id, upstream, client, shared, &remaining)?;
    Ok(())
}

/// Copies `from` → `to` with the delay: a reader thread stamps each chunk with its due time, a
/// writer thread writes it then.
fn pump(
    id: u64,
    mut from: TcpStream,
    mut to: TcpStream,
    shared: &Arc<Shared>,
    remaining: &Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    let reader_shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name(format!("delay-proxy-read-{id}"))
        .spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => 0,
                };
                let delay = Duration::from_nanos(reader_shared.delay_nanos.load(Ordering::Relaxed));
                let due = Instant::now() + delay;
                let chunk = (n > 0).then(|| buf[..n].to_vec());
                let eof = chunk.is_none();
                if tx.send((due, chunk)).is_err() || eof {
                    break;
                }
            }
        })?;
    let writer_shared = Arc::clone(shared);
    let remaining = Arc::clone(remaining);
    std::thread::Builder::new()
        .name(format!("delay-proxy-write-{id}"))
        .spawn(move || {
            for (due, chunk) in rx {
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                match chunk {
                    Some(bytes) => {
                        if to.write_all(&bytes).is_err() {
                            // The peer is gone: close both ways so the other pump ends too.
                            let _ = to.shutdown(Shutdown::Both);
                            if let Some([a, b]) = lock(&writer_shared.open).get(&id) {
                                let _ = a.shutdown(Shutdown::Both);
                                let _ = b.shutdown(Shutdown::Both);
                            }
                            break;
                        }
                    }
                    None => {
                        let _ = to.shutdown(Shutdown::Write);
                        break;
                    }
                }
            }
            if remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                lock(&writer_shared.open).remove(&id);
            }
        })?;
    Ok(())
}
