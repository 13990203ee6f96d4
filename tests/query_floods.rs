//! Connection floods and slow clients on CarbonLink (7002) and the HTTP API: one thread per open connection, at
//! most their cap of them however many connections arrive, the rest closed at once and counted exactly, and a
//! client holding a slot is answered while the flood is held. (The socket receivers: `tests/floods.rs`; idle
//! timeouts and 413s: `tests/http_api.rs`.)

mod common;
mod query_support;

use common::{closed_by_server, connect};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

const FLOOD: usize = 300;

/// How many of this process's threads are named `name` (as the kernel keeps it: at most 15 bytes). Each test below
/// runs only its own query server, so the names are its own.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|n| n.trim_end() == name)
        .count()
}

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

#[test]
fn a_carbonlink_flood_holds_at_most_its_cap_of_threads_and_a_client_in_a_slot_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let e = query_engine(dir.path(), true);
    let server = e.query.carbonlink.as_ref().unwrap();
    let addr = server.local_addr();
    let frame = query_support::python_frames(&["{'type': 'cache-query', 'metric': 'flood.x'}"], 2).remove(0);
    let mut good = connect(addr);
    let first = query_support::exchange(&mut good, &frame).expect("answered before the flood");
    // Slow clients hold the other slots: idle, half a length header, a header promising 100 bytes then 3.
    let mut slow = Vec::new();
    for i in 0..CAP - 1 {
        let mut c = connect(addr);
        match i % 3 {
            0 => {}
            1 => c.write_all(&[0, 0]).unwrap(),
            _ => c.write_all(&[0, 0, 0, 100, 0x80, 2, b'}']).unwrap(),
        }
        slow.push(c);
    }
    assert!(common::wait_until(10, || server.open_connections() == CAP));
    // Control for the measure: one thread per open connection.
    assert!(common::wait_until(10, || threads_named("carbonlink-conn") == CAP), "{}", threads_named("carbonlink-conn"));

    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        let mut c = connect(addr);
        assert!(closed_by_server(&mut c), "a connection over the cap is closed");
        flood.push(c); // held open on our side
    }
    let refused = || e.stats.carbonlink_connections_refused.load(Ordering::Relaxed);
    // The count is taken before the close the client saw; the wait only guards the memory ordering.
    assert!(common::wait_until(10, || refused() >= FLOOD as u64));
    assert_eq!(refused(), FLOOD as u64);
    assert_eq!(threads_named("carbonlink-conn"), CAP, "no thread for a refused connection");
    assert_eq!(server.open_connections(), CAP);
    // The client in a slot is answered during the flood, the same answer as before.
    assert_eq!(query_support::exchange(&mut good, &frame).expect("answered during the flood"), first);

    // The slow clients go: their slots and threads are freed, and a new client is served.
    drop(slow);
    assert!(common::wait_until(10, || server.open_connections() == 1 && threads_named("carbonlink-conn") == 1));
    let mut late = connect(addr);
    assert_eq!(query_support::exchange(&mut late, &frame).expect("a new client once slots are free"), first);
    assert_eq!(refused(), FLOOD as u64, "nothing refused once slots were free");
    drop(flood);
    e.stop().unwrap();
}

/// One GET on a kept-open HTTP/1.1 connection: (status, body).
fn get11(c: &mut BufReader<TcpStream>, path: &str) -> (u16, Vec<u8>) {
    c.get_mut().write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    let mut line = String::new();
    c.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut len = 0;
    loop {
        line.clear();
        c.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        if k.eq_ignore_ascii_case("content-length") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    c.read_exact(&mut body).unwrap();
    (status, body)
}

#[test]
fn an_http_flood_holds_at_most_its_cap_of_threads_and_a_client_in_a_slot_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let e = query_engine(dir.path(), false);
    let server = e.query.http.as_ref().unwrap();
    let addr = server.local_addr();
    let mut good = BufReader::new(connect(addr));
    let first = get11(&mut good, "/metrics/find/?query=*&format=treejson");
    assert_eq!(first.0, 200, "{}", String::from_utf8_lossy(&first.1));
    // Slow clients hold the other slots: idle, a request head stalled half-way, a body stalled half-way.
    let mut slow = Vec::new();
    for i in 0..CAP - 1 {
        let mut c = connect(addr);
        match i % 3 {
            0 => {}
            1 => c.write_all(b"GET /render/?target=a HTTP/1.1\r\nHost: x\r\n").unwrap(),
            _ => c.write_all(b"POST /render/ HTTP/1.1\r\nContent-Length: 100\r\n\r\ntarget=").unwrap(),
        }
        slow.push(c);
    }
    assert!(common::wait_until(10, || server.open_connections() == CAP));
    // Control for the measure: one thread per open connection.
    assert!(common::wait_until(10, || threads_named("http-conn") == CAP), "{}", threads_named("http-conn"));

    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        let mut c = connect(addr);
        assert!(closed_by_server(&mut c), "a connection over the cap is closed");
        flood.push(c); // held open on our side
    }
    let refused = || e.stats.http_connections_refused.load(Ordering::Relaxed);
    // The count is taken before the close the client saw; the wait only guards the memory ordering.
    assert!(common::wait_until(10, || refused() >= FLOOD as u64));
    assert_eq!(refused(), FLOOD as u64);
    assert_eq!(threads_named("http-conn"), CAP, "no thread for a refused connection");
    assert_eq!(server.open_connections(), CAP);
    // The client in a slot is answered during the flood, on its kept-open connection.
    assert_eq!(get11(&mut good, "/metrics/find/?query=*&format=treejson"), first, "answered during the flood");

    drop(slow);
    assert!(common::wait_until(10, || server.open_connections() == 1 && threads_named("http-conn") == 1));
    let (status, body) = query_support::http_get(addr, "/version/").unwrap();
    assert_eq!(status, 200, "a new client once slots are free: {body}");
    assert_eq!(refused(), FLOOD as u64, "nothing refused once slots were free");
    drop(flood);
    e.stop().unwrap();
}

#[test]
fn a_stalled_carbonlink_client_is_closed_after_the_idle_timeout_and_its_slot_reused_but_a_talking_one_is_not() {
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
    // Control for the cap: while the stalled clients hold their slots, a newcomer is refused.
    let mut newcomer = connect(addr);
    assert!(closed_by_server(&mut newcomer), "no slot free while the stalled clients hold theirs");
    assert!(common::wait_until(10, || refused() == 1));
    assert_eq!(timeouts(), 0, "nothing timed out before the timeout");

    // The talker asks every tenth of the timeout until both stalled clients are closed and for two timeouts in all
    // (so the timeout is per silence, not a connection lifetime); each answer is the first one.
    let mut exchanges = 0;
    while timeouts() < 2 || stalled_at.elapsed() < std::time::Duration::from_millis(2 * IDLE_MS) {
        assert!(stalled_at.elapsed() < std::time::Duration::from_secs(20), "stalled clients still open");
        assert_eq!(query_support::exchange(&mut talker, &frame).as_ref(), Some(&first), "exchange {exchanges}");
        exchanges += 1;
        // The client's own pace (well within the timeout), not a wait for a condition.
        std::thread::sleep(std::time::Duration::from_millis(IDLE_MS / 10));
    }
    assert!(closed_by_server(&mut silent), "a client that sent nothing is closed");
    assert!(closed_by_server(&mut half), "a client stalled inside a request is closed");
    let waited = stalled_at.elapsed();
    assert!(waited >= std::time::Duration::from_millis(IDLE_MS), "closed after {waited:?}, not before the timeout");
    assert_eq!(timeouts(), 2, "the two stalled clients, and not the talker ({exchanges} exchanges)");

    // Their slots are free again: a new client is served, nothing more is refused, the talker still talks.
    assert!(common::wait_until(10, || server.open_connections() == 1));
    let mut late = connect(addr);
    assert_eq!(query_support::exchange(&mut late, &frame).as_ref(), Some(&first), "a new client in a freed slot");
    assert_eq!(query_support::exchange(&mut talker, &frame).as_ref(), Some(&first), "the talker still served");
    assert_eq!((refused(), timeouts()), (1, 2));
    e.stop().unwrap();
}
