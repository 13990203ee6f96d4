//! Connection floods and slow clients on CarbonLink (7002) and the HTTP API: one thread per open connection, at
//! most their cap of them however many connections arrive, the rest closed at once and counted exactly, and a
//! client holding a slot is answered while the flood is held. (The socket receivers: `tests/floods.rs`; idle
//! timeouts and 413s: `tests/http_api.rs`.)

mod common;
mod query_support;

use common::{closed_by_server, connect, exchange11, threads_named};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

const FLOOD: usize = 300;

/// An engine serving only CarbonLink (`carbonlink`) or only the HTTP API, each capped at `CAP` connections.
fn query_engine(dir: &std::path::Path, carbonlink: bool) -> Engine {
    let mut s = common::settings(dir, common::BROKER, "unused", "unused", &["#"]);
    s.amqp.enabled = false;
    s.stats.metric_interval_secs = 0;
    if carbonlink {
        s.query.http = Some(String::new());
    } else {
        s.query.carbonlink = Some(String::new());
    }
    s.query.max_connections = CAP;
    s.query.http_max_connections = CAP;
    s.query.http_threads = 2;
    s.query.http_idle_timeout_ms = 120_000; // the held connections must stay open through the test
    Engine::start(&s, Box::new(DefaultRules)).unwrap()
}

const CAP: usize = 16;

/// The tests count connection threads by name, which every CarbonLink server in this process shares: those that
/// run a CarbonLink server hold this, so they run one at a time.
static CARBONLINK_SERVERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One query protocol under a flood. Each test below runs only its own query server, so the connection threads
/// are its own.
struct Flooded<'a, C, A> {
    /// Name of the server's connection threads (one per open connection).
    conn_thread: &'static str,
    addr: SocketAddr,
    open_connections: &'a dyn Fn() -> usize,
    refused: &'a dyn Fn() -> u64,
    /// What the slow clients send, by turns, before they stall (an empty one: nothing at all).
    stalls: [&'a [u8]; 3],
    /// A client of the protocol on a new connection.
    open: fn(SocketAddr) -> C,
    /// One request on the client's kept-open connection; its answer (panics if none).
    ask: &'a dyn Fn(&mut C) -> A,
}

/// The flood, for either protocol: a client in a slot is answered; slow clients hold the other `CAP - 1` slots,
/// one thread each; `FLOOD` more connections are closed at once and counted exactly, with no thread; the client
/// in a slot gets the same answer during the flood; once the slow clients go, their slots and threads are freed
/// and a new client gets the same answer too.
fn flood<C, A: PartialEq + std::fmt::Debug>(p: Flooded<C, A>) {
    let threads = || threads_named(p.conn_thread).len();
    let mut good = (p.open)(p.addr);
    let first = (p.ask)(&mut good);
    let mut slow = Vec::new();
    for i in 0..CAP - 1 {
        let mut c = connect(p.addr);
        c.write_all(p.stalls[i % 3]).unwrap();
        slow.push(c);
    }
    assert!(common::wait_until(10, || (p.open_connections)() == CAP));
    // Control for the measure: one thread per open connection.
    assert!(common::wait_until(10, || threads() == CAP), "{}", threads());

    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        let mut c = connect(p.addr);
        assert!(closed_by_server(&mut c), "a connection over the cap is closed");
        flood.push(c); // held open on our side
    }
    // The count is taken before the close the client saw; the wait only guards the memory ordering.
    assert!(common::wait_until(10, || (p.refused)() >= FLOOD as u64));
    assert_eq!((p.refused)(), FLOOD as u64);
    assert_eq!(threads(), CAP, "no thread for a refused connection");
    assert_eq!((p.open_connections)(), CAP);
    assert_eq!((p.ask)(&mut good), first, "the client in a slot is answered during the flood");

    drop(slow);
    assert!(common::wait_until(10, || (p.open_connections)() == 1 && threads() == 1));
    let mut late = (p.open)(p.addr);
    assert_eq!((p.ask)(&mut late), first, "a new client once slots are free");
    assert_eq!((p.refused)(), FLOOD as u64, "nothing refused once slots were free");
}

#[test]
fn a_carbonlink_flood_holds_at_most_its_cap_of_threads_and_a_client_in_a_slot_is_answered() {
    let _serial = CARBONLINK_SERVERS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let e = query_engine(dir.path(), true);
    let server = e.query.carbonlink.as_ref().unwrap();
    let frame = query_support::python_frames(&["{'type': 'cache-query', 'metric': 'flood.x'}"], 2).remove(0);
    flood(Flooded {
        conn_thread: "carbonlink-conn",
        addr: server.local_addr(),
        open_connections: &|| server.open_connections(),
        refused: &|| e.stats.carbonlink_connections_refused.load(Ordering::Relaxed),
        // Idle, half a length header, a header promising 100 bytes then 3.
        stalls: [b"", &[0, 0], &[0, 0, 0, 100, 0x80, 2, b'}']],
        open: |addr| connect(addr),
        ask: &|c: &mut TcpStream| query_support::exchange(c, &frame).expect("answered"),
    });
    e.stop().unwrap();
}

#[test]
fn an_http_flood_holds_at_most_its_cap_of_threads_and_a_client_in_a_slot_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let e = query_engine(dir.path(), false);
    let server = e.query.http.as_ref().unwrap();
    flood(Flooded {
        conn_thread: "http-conn",
        addr: server.local_addr(),
        open_connections: &|| server.open_connections(),
        refused: &|| e.stats.http_connections_refused.load(Ordering::Relaxed),
        // Idle, a request head stalled half-way, a body stalled half-way.
        stalls: [
            b"",
            b"GET /render/?target=a HTTP/1.1\r\nHost: x\r\n",
            b"POST /render/ HTTP/1.1\r\nContent-Length: 100\r\n\r\ntarget=",
        ],
        open: |addr| BufReader::new(connect(addr)),
        ask: &|c: &mut BufReader<TcpStream>| {
            let answer = exchange11(c, "GET", "/metrics/find/?query=*&format=treejson", None);
            assert_eq!(answer.0, 200, "{}", String::from_utf8_lossy(&answer.2));
            answer
        },
    });
    e.stop().unwrap();
}

/// True if the server has not closed `s` (nothing to read, no end of stream), without waiting.
fn still_open(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let r = s.read(&mut [0u8; 16]);
    s.set_nonblocking(false).unwrap();
    matches!(r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[test]
fn a_stalled_carbonlink_client_is_closed_after_the_timeout_and_an_idle_one_gives_its_slot_only_when_needed() {
    let _serial = CARBONLINK_SERVERS.lock().unwrap_or_else(|p| p.into_inner());
    const IDLE_MS: u64 = 1000;
    const SLOTS: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let mut s = common::settings(dir.path(), common::BROKER, "unused", "unused", &["#"]);
    s.amqp.enabled = false;
    s.stats.metric_interval_secs = 0;
    s.query.http = Some(String::new());
    s.query.max_connections = SLOTS;
    s.query.carbonlink_idle_timeout_ms = IDLE_MS;
    let e = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let server = e.query.carbonlink.as_ref().unwrap();
    let addr = server.local_addr();
    let timeouts = || e.stats.carbonlink_idle_timeouts.load(Ordering::Relaxed);
    let refused = || e.stats.carbonlink_connections_refused.load(Ordering::Relaxed);
    let frame = query_support::python_frames(&["{'type': 'cache-query', 'metric': 'idle.x'}"], 2).remove(0);

    // Every slot taken: a client that keeps talking, one that sent nothing, one stalled inside a length header.
    let mut talker = connect(addr);
    let first = query_support::exchange(&mut talker, &frame).expect("answered");
    let mut silent = connect(addr);
    let mut half = connect(addr);
    half.write_all(&[0, 0]).unwrap();
    let stalled_at = std::time::Instant::now();
    assert!(common::wait_until(10, || server.open_connections() == SLOTS));
    // Control for the cap: nobody has been idle for the timeout yet, so a newcomer is refused.
    let mut newcomer = connect(addr);
    assert!(closed_by_server(&mut newcomer), "no slot free while the others are young");
    assert!(common::wait_until(10, || refused() == 1));
    assert_eq!(timeouts(), 0, "nothing timed out before the timeout");

    // The talker asks every tenth of the timeout until the stalled client is closed and for two timeouts in all
    // (so the timeout is per silence, not a connection lifetime); each answer is the first one.
    let mut exchanges = 0;
    while timeouts() < 1 || stalled_at.elapsed() < std::time::Duration::from_millis(2 * IDLE_MS) {
        assert!(stalled_at.elapsed() < std::time::Duration::from_secs(20), "stalled client still open");
        assert_eq!(query_support::exchange(&mut talker, &frame).as_ref(), Some(&first), "exchange {exchanges}");
        exchanges += 1;
        // The client's own pace (well within the timeout), not a wait for a condition.
        std::thread::sleep(std::time::Duration::from_millis(IDLE_MS / 10));
    }
    assert!(closed_by_server(&mut half), "a client stalled inside a request is closed");
    let waited = stalled_at.elapsed();
    assert!(waited >= std::time::Duration::from_millis(IDLE_MS), "closed after {waited:?}, not before the timeout");
    // Idle between requests for twice the timeout, and nobody needed its slot: still open (graphite-web's pool).
    assert!(still_open(&mut silent), "an idle client keeps its connection while there is room");
    assert_eq!(timeouts(), 1, "the stalled client only, not the talker ({exchanges} exchanges) nor the idle one");

    // The stalled client's slot is free: a new client is served in it. Then every slot is taken again, and the
    // next newcomer takes the slot of the client idle longest (silent), not the talker's nor the new one's.
    assert!(common::wait_until(10, || server.open_connections() == 2));
    let mut late = connect(addr);
    assert_eq!(query_support::exchange(&mut late, &frame).as_ref(), Some(&first), "a new client in a freed slot");
    let mut later = connect(addr);
    assert_eq!(query_support::exchange(&mut later, &frame).as_ref(), Some(&first), "a newcomer takes an idle slot");
    assert!(closed_by_server(&mut silent), "the client idle longest gave its slot");
    assert_eq!(query_support::exchange(&mut talker, &frame).as_ref(), Some(&first), "the talker still served");
    assert_eq!(query_support::exchange(&mut late, &frame).as_ref(), Some(&first), "the young one still served");
    assert_eq!((refused(), timeouts()), (1, 2));
    e.stop().unwrap();
}
