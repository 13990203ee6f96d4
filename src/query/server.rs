//! A small blocking TCP server for the query side: one acceptor thread and one thread per connection, with a cap on
//! open connections and a stop that closes every connection. Reads are rare next to ingest, so plain threads keep
//! this simple; nothing here is on the ingest path.
//!
//! Owns: accepting, the connection threads, shutting them down. Never touches: what is said on a connection.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Refused connections are logged at most once per this interval (each is counted).
pub const REFUSED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Events counted one by one and summarised in at most one log line per [`REFUSED_LOG_INTERVAL`].
#[derive(Default)]
pub struct EveryInterval {
    since_log: u64,
    last_log: Option<Instant>,
}

impl EveryInterval {
    /// One more event: returns the number to log (this one and those not logged since) when a line is due.
    pub fn note(&mut self) -> Option<u64> {
        self.since_log += 1;
        if self.last_log.is_some_and(|t| t.elapsed() < REFUSED_LOG_INTERVAL) {
            return None;
        }
        self.last_log = Some(Instant::now());
        Some(std::mem::take(&mut self.since_log))
    }
}

type Registry = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// A connection's place in the registry, given back when its thread ends.
struct Slot(Registry, u64);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.1);
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Registry,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Bind `addr` and serve each accepted connection with `handle` on a thread named `<name>-conn`. At most
    /// `max_connections` are served at once (so at most that many connection threads, plus the acceptor);
    /// further ones are closed at once, each reported to `refused` (a counter) and logged at most once per
    /// [`REFUSED_LOG_INTERVAL`] with the number refused since. Errors: binding.
    pub fn start<F, R>(
        addr: SocketAddr,
        name: &str,
        max_connections: usize,
        refused: R,
        handle: F,
    ) -> io::Result<Server>
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
        R: Fn() + Send + 'static,
    {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Registry = Arc::default();
        let handle = Arc::new(handle);
        let (stop2, conns2, conn_name, server) =
            (stop.clone(), conns.clone(), format!("{name}-conn"), name.to_string());
        let acceptor = std::thread::Builder::new().name(format!("{name}-accept")).spawn(move || {
            let next = AtomicU64::new(0);
            let mut refused_log = EveryInterval::default();
            for stream in listener.incoming() {
                if stop2.load(Ordering::Acquire) {
                    break;
                }
                let Ok(stream) = stream else {
                    // Out of descriptors (EMFILE) or a connection reset before it was taken: do not spin.
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let id = next.fetch_add(1, Ordering::Relaxed);
                {
                    let mut map = conns2.lock().unwrap_or_else(|p| p.into_inner());
                    if map.len() >= max_connections {
                        drop(map);
                        // Counted before the close, so a client that sees its connection closed also sees it
                        // counted.
                        refused();
                        drop(stream);
                        if let Some(refused) = refused_log.note() {
                            tracing::warn!(
                                server = %server,
                                max_connections,
                                refused,
                                "connections refused: too many open (logged at most every 10 s)"
                            );
                        }
                        continue;
                    }
                    match stream.try_clone() {
                        Ok(s) => map.insert(id, s),
                        Err(_) => continue,
                    };
                }
                let (handle, conns) = (handle.clone(), conns2.clone());
                let spawned = std::thread::Builder::new().name(conn_name.clone()).spawn(move || {
                    // The slot is freed even if `handle` panics: a leaked slot would be one connection fewer for
                    // good.
                    let _slot = Slot(conns, id);
                    handle(stream);
                });
                if spawned.is_err() {
                    conns2.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                }
            }
        })?;
        Ok(Server { addr, stop, conns, acceptor: Some(acceptor) })
    }

    /// The bound address (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections being served now.
    pub fn open_connections(&self) -> usize {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Stop accepting, close every open connection, wait for the acceptor.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
        }
        let _ = TcpStream::connect_timeout(&wake, std::time::Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for (_, s) in self.conns.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.acceptor.is_some() {
            self.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_panicking_handler_gives_its_slot_back() {
        let refused = Arc::new(AtomicUsize::new(0));
        let r = refused.clone();
        let served = Arc::new(AtomicUsize::new(0));
        let s2 = served.clone();
        let server = Server::start(
            "127.0.0.1:0".parse().unwrap(),
            "paniccheck",
            1,
            move || {
                r.fetch_add(1, Ordering::Relaxed);
            },
            move |mut stream: TcpStream| {
                let mut b = [0u8; 1];
                let _ = stream.read(&mut b);
                s2.fetch_add(1, Ordering::Relaxed);
                panic!("handler bug (expected by this test)");
            },
        )
        .unwrap();
        for i in 1..=3 {
            let mut c = TcpStream::connect(server.local_addr()).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            std::io::Write::write_all(&mut c, b"x").unwrap();
            // The handler panicked and the connection closed: the slot is free again (the cap is 1).
            let mut rest = Vec::new();
            let _ = c.read_to_end(&mut rest);
            let deadline = Instant::now() + Duration::from_secs(10);
            while server.open_connections() != 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(server.open_connections(), 0, "slot {i} given back");
            assert_eq!(served.load(Ordering::Relaxed), i, "connection {i} served, not refused");
        }
        assert_eq!(refused.load(Ordering::Relaxed), 0);
        server.stop();
    }
}
