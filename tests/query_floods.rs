//! Connection floods and slow clients on CarbonLink (7002) and the HTTP API: one thread per open connection, at
//! most their cap of them however many connections arrive, the rest closed at once and counted exactly, and a
//! client holding a slot is answered while the flood is held. (The socket receivers: `tests/floods.rs`; idle
//! timeouts and 413s: `tests/http_api.rs`.)

mod common;
mod query_support;

use common::{closed_by_server, connect, exchange11, threads_named};
use std::io::{BufReader, Write};
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
