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

/// Who may connect: the cap on open connections, and whether an idle connection gives its slot to a newcomer.
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    /// Most connections served at once.
    pub max_connections: usize,
    /// With every slot taken, a newcomer takes the slot of the connection idle longest (between requests, see
    /// [`Idle`]) if it has been idle at least this long; that connection is closed and reported to `reclaimed`.
    /// `None`: the newcomer is refused.
    pub reclaim_idle_after: Option<Duration>,
}

/// A connection's state as its handler tells the server: busy inside a request (the start), or idle between
/// requests since some instant (then the server may close it to make room, see [`Admission`]).
pub struct Idle {
    epoch: Instant,
    /// 0: busy; [`RECLAIMED`]: closed by the server; else milliseconds since `epoch` when it became idle, plus 1.
    since: AtomicU64,
}

const RECLAIMED: u64 = u64::MAX;

impl Idle {
    fn new(epoch: Instant) -> Idle {
        Idle { epoch, since: AtomicU64::new(0) }
    }

    /// Between requests from now on.
    pub fn idle(&self) {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let _ = self.since.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| (s != RECLAIMED).then_some(now));
    }

    /// Inside a request from now on. False if the server already took this connection's slot (it is being
    /// closed: give up on the request).
    pub fn busy(&self) -> bool {
        self.since.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| (s != RECLAIMED).then_some(0)).is_ok()
    }

    /// The raw state and how long the connection has been idle, if it is.
    fn idle_for(&self) -> Option<(u64, Duration)> {
        let s = self.since.load(Ordering::Acquire);
        (s != 0 && s != RECLAIMED).then(|| (s, self.epoch.elapsed().saturating_sub(Duration::from_millis(s - 1))))
    }

    /// Mark reclaimed, unless it changed since `seen` (it became busy, or idle again).
    fn reclaim(&self, seen: u64) -> bool {
        self.since.compare_exchange(seen, RECLAIMED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

type Registry = Arc<Mutex<HashMap<u64, (TcpStream, Arc<Idle>)>>>;

/// Close the connection idle longest, if it has been idle at least `after`, and free its slot. Returns whether one
/// was closed.
fn reclaim_idle(map: &mut HashMap<u64, (TcpStream, Arc<Idle>)>, after: Duration) -> bool {
    let oldest = map
        .iter()
        .filter_map(|(&id, (_, idle))| idle.idle_for().map(|(seen, d)| (id, seen, d)))
        .filter(|&(_, _, d)| d >= after)
        .max_by_key(|&(_, _, d)| d);
    let Some((id, seen, _)) = oldest else { return false };
    if !map[&id].1.reclaim(seen) {
        return false;
    }
    if let Some((stream, _)) = map.remove(&id) {
        let _ = stream.shutdown(Shutdown::Both);
    }
    true
}

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
    /// `admission.max_connections` are served at once (so at most that many connection threads, plus the
    /// acceptor); a further one takes an idle connection's slot when `admission` allows it (that one is closed
    /// and reported to `reclaimed`), else it is closed at once, reported to `refused` (a counter) and logged at
    /// most once per [`REFUSED_LOG_INTERVAL`] with the number refused since. Errors: binding.
    pub fn start<F, R, C>(
        addr: SocketAddr,
        name: &str,
        admission: Admission,
        refused: R,
        reclaimed: C,
        handle: F,
    ) -> io::Result<Server>
    where
        F: Fn(TcpStream, &Idle) + Send + Sync + 'static,
        R: Fn() + Send + 'static,
        C: Fn() + Send + 'static,
    {
        let max_connections = admission.max_connections;
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Registry = Arc::default();
        let handle = Arc::new(handle);
        let (stop2, conns2, conn_name, server) =
            (stop.clone(), conns.clone(), format!("{name}-conn"), name.to_string());
        let acceptor = std::thread::Builder::new().name(format!("{name}-accept")).spawn(move || {
            let next = AtomicU64::new(0);
            let epoch = Instant::now();
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
                let idle = {
                    let mut map = conns2.lock().unwrap_or_else(|p| p.into_inner());
                    if map.len() >= max_connections
                        && admission.reclaim_idle_after.is_some_and(|after| reclaim_idle(&mut map, after))
                    {
                        reclaimed();
                    }
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
                    let idle = Arc::new(Idle::new(epoch));
                    match stream.try_clone() {
                        Ok(s) => map.insert(id, (s, idle.clone())),
                        Err(_) => continue,
                    };
                    idle
                };
                let (handle, conns) = (handle.clone(), conns2.clone());
                let spawned = std::thread::Builder::new().name(conn_name.clone()).spawn(move || {
                    // The slot is freed even if `handle` panics: a leaked slot would be one connection fewer for
                    // good.
                    let _slot = Slot(conns, id);
                    handle(stream, &idle);
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
        for (_, (s, _)) in self.conns.lock().unwrap_or_else(|p| p.into_inner()).drain() {
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
            Admission { max_connections: 1, reclaim_idle_after: None },
            move || {
                r.fetch_add(1, Ordering::Relaxed);
            },
            || {},
            move |mut stream: TcpStream, _: &Idle| {
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

    /// Cap 1. The handler echoes each byte; a connection is busy until its first echo, idle between echoes, and
    /// busy for good after a `b`.
    fn echo_server(reclaim_idle_after: Option<Duration>) -> (Server, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (refused, reclaimed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, c) = (refused.clone(), reclaimed.clone());
        let server = Server::start(
            "127.0.0.1:0".parse().unwrap(),
            "reclaimcheck",
            Admission { max_connections: 1, reclaim_idle_after },
            move || {
                r.fetch_add(1, Ordering::Relaxed);
            },
            move || {
                c.fetch_add(1, Ordering::Relaxed);
            },
            |mut stream: TcpStream, idle: &Idle| loop {
                let mut b = [0u8; 1];
                if !matches!(stream.read(&mut b), Ok(1)) || !idle.busy() {
                    return;
                }
                // Idle before the echo, so a client that has its echo knows the server sees it idle.
                if b[0] != b'b' {
                    idle.idle();
                }
                if std::io::Write::write_all(&mut stream, &b).is_err() {
                    return;
                }
                if b[0] == b'b' {
                    let _ = stream.read(&mut [0u8; 1]);
                    return;
                }
            },
        )
        .unwrap();
        (server, refused, reclaimed)
    }

    fn echo(c: &mut TcpStream, byte: u8) -> Option<u8> {
        std::io::Write::write_all(c, &[byte]).ok()?;
        let mut b = [0u8; 1];
        matches!(c.read(&mut b), Ok(1)).then_some(b[0])
    }

    fn connect(server: &Server) -> TcpStream {
        let c = TcpStream::connect(server.local_addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    }

    #[test]
    fn a_newcomer_takes_the_slot_of_a_connection_idle_long_enough_and_never_of_a_busy_one() {
        let (server, refused, reclaimed) = echo_server(Some(Duration::ZERO));
        let mut first = connect(&server);
        assert_eq!(echo(&mut first, b'x'), Some(b'x'));
        // First is idle between requests: the newcomer takes its slot, first is closed.
        let mut second = connect(&server);
        assert_eq!(echo(&mut second, b'y'), Some(b'y'), "the newcomer is served");
        assert_eq!(echo(&mut first, b'x'), None, "the idle connection was closed");
        assert_eq!((refused.load(Ordering::Relaxed), reclaimed.load(Ordering::Relaxed)), (0, 1));
        // Second is busy for good: a newcomer is refused and second keeps its slot.
        assert_eq!(echo(&mut second, b'b'), Some(b'b'));
        let mut third = connect(&server);
        assert_eq!(echo(&mut third, b'z'), None, "no idle slot to take: refused");
        assert_eq!((refused.load(Ordering::Relaxed), reclaimed.load(Ordering::Relaxed)), (1, 1));
        assert_eq!(server.open_connections(), 1);
        server.stop();
    }

    #[test]
    fn without_reclaiming_or_before_the_idle_time_a_newcomer_is_refused() {
        for after in [None, Some(Duration::from_secs(3600))] {
            let (server, refused, reclaimed) = echo_server(after);
            let mut first = connect(&server);
            assert_eq!(echo(&mut first, b'x'), Some(b'x'));
            let mut second = connect(&server);
            assert_eq!(echo(&mut second, b'y'), None, "{after:?}: refused");
            assert_eq!(echo(&mut first, b'x'), Some(b'x'), "{after:?}: the idle connection kept its slot");
            assert_eq!((refused.load(Ordering::Relaxed), reclaimed.load(Ordering::Relaxed)), (1, 0));
            server.stop();
        }
    }
}
