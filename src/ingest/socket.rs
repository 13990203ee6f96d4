//! The classic socket inputs: plaintext over TCP and UDP (port 2003) and pickle over TCP (port 2004), all served
//! by one mio event-loop thread that is one producer with one ring, like an AMQP worker.
//!
//! Plaintext: each read's complete lines become one [`Batch`] whose body is those bytes (parsed with the same
//! [`parse_body`] as AMQP in name-in-body mode, so the same rejections). A line longer than [`MAX_LINE`] bytes is
//! dropped and counted, and the connection carries on from the next `\n`. A final line without `\n` is parsed
//! when the client closes. UDP datagrams carry whole lines; the datagrams of one wake-up share a batch.
//!
//! Pickle: frames of a 4-byte big-endian length and a pickled list of `(metric, (timestamp, value))`, decoded by
//! [`crate::pickle`]. A frame longer than the configured cap, or one that fails to decode, closes that
//! connection only (counted, logged at a limited rate); good frames already read are kept.
//!
//! Bounds: a plaintext connection holds at most [`MAX_LINE`] bytes of unfinished line plus one read; a pickle
//! connection at most one frame plus one read; `max_connections` caps the connections. Flow control: while the
//! writer's cache is over its cap the loop reads nothing (accepts still happen), so TCP pushes back on clients
//! and nothing is dropped; UDP datagrams then wait in (or overflow) the kernel's buffer, as UDP does.
//!
//! Owns: the listening sockets and every connection. Never touches: files, the cache.

mod framing;

pub use framing::blank_long_lines;
use framing::{pickle_close_reason, pickle_timestamp, split_complete_lines};

use super::parse::{parse_body, BadInput};
use crate::config::settings::ReceiverSettings;
use crate::lifecycle::{unix_now, Shutdown};
use crate::metric;
use crate::pickle::{self, Decoder, Limits};
use crate::pipe::batch::{Batch, BatchPoint, NameRef};
use crate::pipe::ring::Producer;
use crate::stats::{BadInputLog, Stats};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest plaintext line accepted, in bytes, not counting the `\n` (as the Go relays: carbon-relay-ng, go-carbon).
/// Longer lines are dropped and counted in `Stats::lines_too_long`.
pub const MAX_LINE: usize = 4096;

/// Bytes asked of the kernel per read (and the most one UDP datagram can carry).
pub const READ_CHUNK: usize = 64 * 1024;

/// Reads served per connection before the loop turns to the others (fairness between busy clients).
const READS_PER_TURN: usize = 4;

/// Datagrams gathered into one batch at most.
const DATAGRAMS_PER_BATCH: usize = 64;

const LINE_LISTENER: Token = Token(0);
const PICKLE_LISTENER: Token = Token(1);
const UDP: Token = Token(2);
const FIRST_CONN: usize = 3;

/// Why the receivers could not start.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// An address in `[receivers]` that does not resolve.
    #[error("receivers.{which}: invalid address '{addr}': {reason}")]
    Address { which: &'static str, addr: String, reason: String },
    /// A socket that could not be bound (port in use, no permission …).
    #[error("cannot bind the {which} receiver on {addr}: {source}")]
    Bind { which: &'static str, addr: SocketAddr, source: std::io::Error },
    /// The event loop could not be created or a socket registered.
    #[error("socket event loop: {0}")]
    Io(#[from] std::io::Error),
}

/// What to listen on. `None` = that receiver is off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Plaintext over TCP.
    pub line_tcp: Option<SocketAddr>,
    /// Plaintext over UDP (whole lines per datagram).
    pub line_udp: Option<SocketAddr>,
    /// Pickle over TCP (length-prefixed frames).
    pub pickle: Option<SocketAddr>,
    /// Most TCP connections at once over both TCP receivers; 0 = unlimited.
    pub max_connections: usize,
    /// Largest pickle frame accepted, in bytes.
    pub max_pickle_frame: usize,
}

impl ReceiverConfig {
    /// Resolve the addresses of `s` (the first address each name resolves to). `None`, `""` and
    /// `enabled = false` turn receivers off.
    pub fn from_settings(s: &ReceiverSettings) -> Result<ReceiverConfig, SocketError> {
        let resolve = |which: &'static str, a: &Option<String>| -> Result<Option<SocketAddr>, SocketError> {
            let Some(a) = a.as_deref().filter(|a| s.enabled && !a.trim().is_empty()) else { return Ok(None) };
            let err = |reason: String| SocketError::Address { which, addr: a.to_string(), reason };
            let mut addrs = a.trim().to_socket_addrs().map_err(|e| err(e.to_string()))?;
            addrs.next().map(Some).ok_or_else(|| err("resolves to no address".into()))
        };
        Ok(ReceiverConfig {
            line_tcp: resolve("line_tcp", &s.line_tcp)?,
            line_udp: resolve("line_udp", &s.line_udp)?,
            pickle: resolve("pickle", &s.pickle)?,
            max_connections: s.max_connections,
            max_pickle_frame: s.max_pickle_frame.max(1),
        })
    }

    /// True when no receiver is configured.
    pub fn is_empty(&self) -> bool {
        self.line_tcp.is_none() && self.line_udp.is_none() && self.pickle.is_none()
    }
}

/// The addresses actually bound (port 0 resolved to the ephemeral port). `None` = that receiver is off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoundAddrs {
    /// Plaintext TCP listener.
    pub line_tcp: Option<SocketAddr>,
    /// Plaintext UDP socket.
    pub line_udp: Option<SocketAddr>,
    /// Pickle TCP listener.
    pub pickle: Option<SocketAddr>,
}

/// Bound, not yet running receivers. Binding happens in [`Receivers::bind`] so that a port in use fails the
/// start, not a thread later.
pub struct Receivers {
    poll: Poll,
    line: Option<TcpListener>,
    pickle: Option<TcpListener>,
    udp: Option<UdpSocket>,
    bound: BoundAddrs,
    max_connections: usize,
    limits: Limits,
    filter: crate::filter::live::FilterView,
}

/// Bind a TCP listener on `addr` (if configured), register it under `token` and record its bound address.
fn bind_tcp(
    poll: &Poll,
    addr: Option<SocketAddr>,
    which: &'static str,
    token: Token,
    bound: &mut Option<SocketAddr>,
) -> Result<Option<TcpListener>, SocketError> {
    let Some(addr) = addr else { return Ok(None) };
    let mut l = TcpListener::bind(addr).map_err(|source| SocketError::Bind { which, addr, source })?;
    poll.registry().register(&mut l, token, Interest::READABLE)?;
    *bound = Some(l.local_addr()?);
    Ok(Some(l))
}

impl Receivers {
    /// Bind every configured socket and register it with a new event loop; logs the bound addresses.
    pub fn bind(cfg: &ReceiverConfig) -> Result<Receivers, SocketError> {
        let poll = Poll::new()?;
        let mut bound = BoundAddrs::default();
        let line = bind_tcp(&poll, cfg.line_tcp, "line_tcp", LINE_LISTENER, &mut bound.line_tcp)?;
        let pickle = bind_tcp(&poll, cfg.pickle, "pickle", PICKLE_LISTENER, &mut bound.pickle)?;
        let udp = match cfg.line_udp {
            Some(addr) => {
                let mut u =
                    UdpSocket::bind(addr).map_err(|source| SocketError::Bind { which: "line_udp", addr, source })?;
                poll.registry().register(&mut u, UDP, Interest::READABLE)?;
                bound.line_udp = Some(u.local_addr()?);
                Some(u)
            }
            None => None,
        };
        tracing::info!(
            line_tcp = ?bound.line_tcp,
            line_udp = ?bound.line_udp,
            pickle = ?bound.pickle,
            max_connections = cfg.max_connections,
            "socket receivers bound"
        );
        let limits = Limits { max_frame_len: cfg.max_pickle_frame, ..Limits::default() };
        Ok(Receivers {
            poll,
            line,
            pickle,
            udp,
            bound,
            max_connections: cfg.max_connections,
            limits,
            filter: Default::default(),
        })
    }

    /// Apply carbon's filter/rewrite stage to every point read (`None`: no rules).
    pub fn with_filter(self, filter: Option<Arc<crate::filter::Filter>>) -> Receivers {
        self.with_live_filter(&crate::filter::live::LiveFilter::new(filter))
    }

    /// Apply the filter current in `filter` (replaceable while running: SIGHUP).
    pub fn with_live_filter(mut self, filter: &crate::filter::live::LiveFilter) -> Receivers {
        self.filter = filter.view();
        self
    }

    /// The bound addresses (ephemeral ports resolved).
    pub fn local_addrs(&self) -> BoundAddrs {
        self.bound
    }

    /// Serve until `shutdown.stop`, pushing batches (`ack: None`) through `producer`; then finish the producer.
    /// Unfinished lines and frames still buffered at shutdown are dropped, as carbon drops them.
    pub fn run(self, producer: Producer, stats: Arc<Stats>, shutdown: Arc<Shutdown>) {
        let mut el = EventLoop {
            r: self,
            producer,
            stats,
            shutdown,
            conns: Vec::new(),
            free: Vec::new(),
            ready: VecDeque::new(),
            udp_ready: false,
            active: 0,
            scratch: vec![0; READ_CHUNK],
            points: Vec::new(),
            log: BadInputLog::new("socket receiver"),
            refused_logged_at: None,
        };
        el.run();
        el.producer.finish();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Line,
    Pickle,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    proto: Proto,
    /// Plaintext: the unfinished line (≤ MAX_LINE). Pickle: unconsumed bytes (≤ one frame + one read).
    buf: Vec<u8>,
    /// Plaintext: inside a too-long line, skipping to the next `\n`.
    discarding: bool,
    /// In the ready queue.
    queued: bool,
    decoder: Option<Decoder>,
}

/// What serving a connection left to do.
enum Turn {
    /// Read until the kernel had nothing more.
    Drained,
    /// Still readable: serve again on the next turn.
    More,
    /// Close it (EOF, error, or refused input).
    Close,
}

struct EventLoop {
    r: Receivers,
    producer: Producer,
    stats: Arc<Stats>,
    shutdown: Arc<Shutdown>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    ready: VecDeque<usize>,
    udp_ready: bool,
    active: usize,
    scratch: Vec<u8>,
    points: Vec<BatchPoint>,
    log: BadInputLog,
    refused_logged_at: Option<Instant>,
}

impl EventLoop {
    fn stopping(&self) -> bool {
        self.shutdown.stop.load(Ordering::Acquire)
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        while !self.stopping() {
            let work_waiting = !self.ready.is_empty() || self.udp_ready;
            let timeout = match (work_waiting, self.producer.paused()) {
                (true, false) => Duration::ZERO,
                (true, true) => Duration::from_millis(5),
                (false, _) => Duration::from_millis(100),
            };
            if let Err(e) = self.r.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != ErrorKind::Interrupted {
                    tracing::error!(error = %e, "socket event loop: poll failed");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            for ev in events.iter() {
                match ev.token() {
                    LINE_LISTENER => self.accept(Proto::Line),
                    PICKLE_LISTENER => self.accept(Proto::Pickle),
                    UDP => self.udp_ready = true,
                    Token(t) => self.mark_ready(t - FIRST_CONN),
                }
            }
            // Flow control: read nothing while the cache is over its cap; readiness is remembered.
            if self.producer.paused() {
                continue;
            }
            if self.udp_ready {
                self.udp_ready = self.serve_udp();
            }
            for _ in 0..self.ready.len() {
                if self.producer.paused() || self.stopping() {
                    break;
                }
                let Some(slot) = self.ready.pop_front() else { break };
                match self.serve(slot) {
                    Turn::Drained => {
                        if let Some(c) = self.conns[slot].as_mut() {
                            c.queued = false;
                        }
                    }
                    Turn::More => self.ready.push_back(slot),
                    Turn::Close => self.close(slot),
                }
            }
        }
    }

    fn mark_ready(&mut self, slot: usize) {
        if let Some(Some(c)) = self.conns.get_mut(slot) {
            if !c.queued {
                c.queued = true;
                self.ready.push_back(slot);
            }
        }
    }

    fn accept(&mut self, proto: Proto) {
        loop {
            let listener = match proto {
                Proto::Line => self.r.line.as_ref(),
                Proto::Pickle => self.r.pickle.as_ref(),
            };
            let Some(listener) = listener else { return };
            let (mut stream, peer) = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: leave the backlog for the next wake-up rather than spin.
                    tracing::warn!(error = %e, "socket receiver: accept failed");
                    return;
                }
            };
            if self.r.max_connections > 0 && self.active >= self.r.max_connections {
                Stats::add(&self.stats.connections_refused, 1);
                let now = Instant::now();
                if self.refused_logged_at.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10)) {
                    self.refused_logged_at = Some(now);
                    tracing::warn!(%peer, max = self.r.max_connections, "too many receiver connections: refusing");
                }
                drop(stream);
                continue;
            }
            let slot = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            if let Err(e) = self.r.poll.registry().register(&mut stream, Token(FIRST_CONN + slot), Interest::READABLE) {
                tracing::warn!(%peer, error = %e, "socket receiver: cannot register a connection");
                self.free.push(slot);
                continue;
            }
            let decoder = (proto == Proto::Pickle).then(Decoder::new);
            self.conns[slot] =
                Some(Conn { stream, peer, proto, buf: Vec::new(), discarding: false, queued: false, decoder });
            self.active += 1;
            Stats::add(&self.stats.connections_accepted, 1);
            self.stats.active_connections.store(self.active as u64, Ordering::Relaxed);
            // Data may have arrived with the handshake; a read that finds nothing costs one syscall.
            self.mark_ready(slot);
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut c) = self.conns[slot].take() {
            let _ = self.r.poll.registry().deregister(&mut c.stream);
            self.free.push(slot);
            self.active -= 1;
            self.stats.active_connections.store(self.active as u64, Ordering::Relaxed);
        }
    }

    /// Read from one connection up to [`READS_PER_TURN`] times, pushing a batch per read that completed input.
    fn serve(&mut self, slot: usize) -> Turn {
        for _ in 0..READS_PER_TURN {
            // Invariant: only live slots are queued, and a slot is closed only by this loop after `serve` returns.
            let Some(conn) = self.conns[slot].as_mut() else { return Turn::Close };
            let n = match conn.stream.read(&mut self.scratch) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Turn::Drained,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(peer = %conn.peer, error = %e, "receiver connection error");
                    return Turn::Close;
                }
            };
            let keep = match conn.proto {
                Proto::Line => self.line_input(slot, n),
                Proto::Pickle => self.pickle_input(slot, n),
            };
            if n == 0 || !keep {
                return Turn::Close;
            }
        }
        Turn::More
    }

    /// Plaintext bytes `scratch[..n]` arrived on `slot` (`n == 0`: EOF, parse the unfinished line).
    fn line_input(&mut self, slot: usize, n: usize) -> bool {
        // Invariant: called by `serve` for a live slot.
        let Some(conn) = self.conns[slot].as_mut() else { return false };
        let (lines, too_long) = split_complete_lines(conn, &self.scratch[..n], n == 0);
        Stats::add(&self.stats.lines_too_long, too_long);
        if let Some(body) = lines {
            self.push_lines(body);
        }
        true
    }

    /// Parse `body` (complete plaintext lines) into one batch and hand it to the writer.
    fn push_lines(&mut self, mut body: Vec<u8>) {
        let too_long = blank_long_lines(&mut body);
        Stats::add(&self.stats.lines_too_long, too_long as u64);
        let log = &mut self.log;
        self.points.clear();
        let mut renamed = Vec::new();
        let counts = parse_body(b"", &body, true, unix_now(), &mut self.points, &mut renamed, |b| match b {
            BadInput::Line { error, line } => log.report(error.reason(), line),
            BadInput::Name { error, name } => log.report(&error.to_string(), name),
        });
        body.extend_from_slice(&renamed);
        let s = &self.stats;
        Stats::add(&s.points_received, counts.points as u64);
        Stats::add(&s.bad_lines, counts.bad_lines as u64);
        Stats::add(&s.nan_dropped, counts.nan_dropped as u64);
        Stats::add(&s.rejected_names, counts.rejected_names as u64);
        self.push_points(body);
    }

    fn push_points(&mut self, body: Vec<u8>) {
        if self.points.is_empty() {
            return;
        }
        let cap = self.points.len();
        let points = std::mem::replace(&mut self.points, Vec::with_capacity(cap));
        let mut batch =
            Batch { ack: None, key: String::new(), body, points, parts: Vec::new(), received: Instant::now() };
        if let Some(f) = self.r.filter.current() {
            f.apply(&mut batch, &self.stats);
            if batch.points.is_empty() {
                return;
            }
        }
        let shutdown = &self.shutdown;
        // Err only when shutdown was requested while the ring was full: the batch is dropped with the process.
        let _ = self.producer.push(batch, || shutdown.stop.load(Ordering::Acquire));
    }

    /// Pickle bytes `scratch[..n]` arrived on `slot`. Returns false when the connection must close.
    fn pickle_input(&mut self, slot: usize, n: usize) -> bool {
        // Invariant: called by `serve` for a live slot.
        let Some(conn) = self.conns[slot].as_mut() else { return false };
        conn.buf.extend_from_slice(&self.scratch[..n]);
        let mut body = Vec::new();
        self.points.clear();
        let mut pos = 0;
        let mut keep = true;
        let now = unix_now();
        let mut bad_entries = 0u64;
        let mut first_bad: Option<&'static str> = None;
        while conn.buf.len() - pos >= 4 {
            let hdr = [conn.buf[pos], conn.buf[pos + 1], conn.buf[pos + 2], conn.buf[pos + 3]];
            let len = match pickle::check_frame_len(pickle::read_frame_len(hdr), &self.r.limits) {
                Ok(len) => len,
                Err(e) => {
                    Stats::add(&self.stats.pickle_frames_too_large, 1);
                    self.log.report(&format!("pickle connection from {} closed: {e}", conn.peer), b"");
                    keep = false;
                    break;
                }
            };
            if conn.buf.len() - pos - 4 < len {
                break;
            }
            let frame = &conn.buf[pos + 4..pos + 4 + len];
            pos += 4 + len;
            let mark = (body.len(), self.points.len());
            let (stats, log, points) = (&self.stats, &mut self.log, &mut self.points);
            let mut sink = |name: &[u8], ts: f64, value: f64| {
                let Some(timestamp) = pickle_timestamp(ts, now) else {
                    Stats::add(&stats.bad_lines, 1);
                    log.report("pickle timestamp out of range (0..=4294967295 or -1)", name);
                    return;
                };
                if value.is_nan() {
                    Stats::add(&stats.nan_dropped, 1);
                    return;
                }
                if value.is_infinite() {
                    Stats::add(&stats.bad_lines, 1);
                    log.report("pickle value is infinite", name);
                    return;
                }
                let name = match metric::validate(name) {
                    Ok(normal) => normal,
                    Err(e) => {
                        Stats::add(&stats.rejected_names, 1);
                        log.report(&e.to_string(), name);
                        return;
                    }
                };
                let start = body.len() as u32;
                body.extend_from_slice(name.as_bytes());
                points.push(BatchPoint { name: NameRef::Body { start, len: name.len() as u32 }, timestamp, value });
                Stats::add(&stats.points_received, 1);
            };
            let mut on_bad = |_index: usize, reason: &'static str| {
                bad_entries += 1;
                first_bad.get_or_insert(reason);
            };
            // Invariant: only pickle connections carry a decoder.
            let decoder = conn.decoder.get_or_insert_with(Decoder::new);
            if let Err(e) = decoder.decode_points(frame, &self.r.limits, &mut sink, &mut on_bad) {
                // A frame-level error yields no points of that frame: undo any the sink kept, close.
                body.truncate(mark.0);
                self.points.truncate(mark.1);
                Stats::add(&self.stats.pickle_errors, 1);
                self.log.report(&pickle_close_reason(conn.peer, &e), b"");
                keep = false;
                break;
            }
        }
        if bad_entries > 0 {
            Stats::add(&self.stats.bad_lines, bad_entries);
            self.log.report(first_bad.unwrap_or("bad pickle entry"), b"");
        }
        if keep {
            conn.buf.drain(..pos);
            if n == 0 && !conn.buf.is_empty() {
                Stats::add(&self.stats.pickle_errors, 1);
                self.log.report(&format!("pickle connection from {} closed mid-frame", conn.peer), b"");
            }
        }
        self.push_points(body);
        keep
    }

    /// Read datagrams until the socket is empty or a batch is full. Returns true if more may be waiting.
    fn serve_udp(&mut self) -> bool {
        let Some(udp) = self.r.udp.as_ref() else { return false };
        let mut body = Vec::new();
        let mut more = true;
        for _ in 0..DATAGRAMS_PER_BATCH {
            match udp.recv_from(&mut self.scratch) {
                Ok((n, _peer)) => {
                    Stats::add(&self.stats.udp_datagrams, 1);
                    body.extend_from_slice(&self.scratch[..n]);
                    if body.last().is_some_and(|&b| b != b'\n') {
                        body.push(b'\n');
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    more = false;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "udp receiver: recv failed");
                    more = false;
                    break;
                }
            }
        }
        if !body.is_empty() {
            self.push_lines(body);
        }
        more
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_longer_than_max_line_are_blanked_and_counted() {
        let long = vec![b'x'; MAX_LINE + 1];
        let ok = vec![b'y'; MAX_LINE];
        let mut body = Vec::new();
        for part in [&b"a.b 1 2"[..], &long, &ok, b"c.d 3 4"] {
            body.extend_from_slice(part);
            body.push(b'\n');
        }
        assert_eq!(blank_long_lines(&mut body), 1);
        let mut out = Vec::new();
        let c = parse_body(b"", &body, true, 0, &mut out, &mut Vec::new(), |_| {});
        assert_eq!((c.points, c.bad_lines), (2, 1), "the MAX_LINE-byte line is kept (and is a bad line)");
    }

    #[test]
    fn pickle_timestamps_follow_carbon_and_refuse_what_whisper_cannot_store() {
        assert_eq!(pickle_timestamp(-1.0, 77), Some(77));
        assert_eq!(pickle_timestamp(1_700_000_000.9, 0), Some(1_700_000_000));
        assert_eq!(pickle_timestamp(-2.0, 0), None);
        assert_eq!(pickle_timestamp(f64::NAN, 0), None);
        assert_eq!(pickle_timestamp(5e9, 0), None);
    }

    #[test]
    fn receivers_resolve_addresses_and_empty_means_off() {
        let s = ReceiverSettings {
            line_tcp: Some("127.0.0.1:0".into()),
            line_udp: Some("".into()),
            pickle: None,
            ..ReceiverSettings::default()
        };
        let c = ReceiverConfig::from_settings(&s).unwrap();
        assert_eq!(c.line_tcp, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!((c.line_udp, c.pickle), (None, None));
        let bad = ReceiverSettings { line_tcp: Some("nonsense".into()), ..s };
        let e = ReceiverConfig::from_settings(&bad).unwrap_err().to_string();
        assert!(e.contains("receivers.line_tcp") && e.contains("nonsense"), "{e}");
    }
}
