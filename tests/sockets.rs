//! The classic socket inputs (plaintext TCP/UDP, pickle) and self-metrics. No broker needed: AMQP is off, every
//! receiver listens on port 0 of 127.0.0.1, every test has its own data directory.
//!
//! Two levels: receiver tests drive [`Receivers`] alone and read the batches off its ring (what exactly reaches
//! the writer); engine tests run the whole engine and read the points back from whisper, with warren's reader
//! and with python3-whisper.

mod common;

use common::receivers::{receiver_config, Harness};
use common::{closed_by_server, connect, OneArchive};

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use warren::config::settings::Settings;
use warren::engine::Engine;
use warren::ingest::socket::{ReceiverConfig, MAX_LINE};

/// A framed pickle of `points` at `protocol`, made by Python's own pickle module.
fn python_pickle(points_expr: &str, protocol: u8) -> Vec<u8> {
    let script = format!(
        "import pickle, struct, sys\n\
         p = pickle.dumps({points_expr}, protocol={protocol})\n\
         sys.stdout.buffer.write(struct.pack('!L', len(p)) + p)"
    );
    let out = Command::new("/usr/bin/python3").arg("-c").arg(&script).output().expect("/usr/bin/python3 runs");
    assert!(out.status.success(), "python pickle: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

#[test]
fn plaintext_tcp_lines_become_points_and_a_final_unterminated_line_counts() {
    let mut h = Harness::start(receiver_config());
    let mut c = connect(h.addrs.line_tcp);
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!("tcp.a {i} {}\n", 1_700_000_000 + i));
    }
    text.push_str("tcp.b 1.5 1700000000");
    // Dribble it in small writes so lines straddle reads.
    for chunk in text.as_bytes().chunks(777) {
        c.write_all(chunk).unwrap();
    }
    drop(c);
    assert!(h.wait_for("tcp.a", 1000) && h.wait_for("tcp.b", 1), "got {} points", h.got.len());
    let a: Vec<_> = h.got.iter().filter(|p| p.0 == "tcp.a").collect();
    assert!(a.iter().enumerate().all(|(i, p)| p.1 == 1_700_000_000 + i as u32 && p.2 == i as f64));
    assert_eq!(h.stat(|s| &s.points_received), 1001);
}

#[test]
fn plaintext_udp_datagrams_become_points() {
    let mut h = Harness::start(receiver_config());
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20 {
        u.send_to(format!("udp.a {i} 1700000000\nudp.b {i} 1700000060").as_bytes(), h.addrs.line_udp.unwrap()).unwrap();
    }
    assert!(h.wait_for("udp.a", 20) && h.wait_for("udp.b", 20), "got {:?}", h.got);
    assert_eq!(h.stat(|s| &s.udp_datagrams), 20);
}

#[test]
fn a_line_longer_than_max_line_is_dropped_and_counted_and_the_connection_carries_on() {
    let mut h = Harness::start(receiver_config());
    let mut c = connect(h.addrs.line_tcp);
    let long_name = "x".repeat(MAX_LINE * 3);
    c.write_all(b"before 1 1700000000\n").unwrap();
    // One long line split over writes, then good lines on the same connection.
    c.write_all(format!("{long_name} 1 1700000000").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"\nafter 2 1700000000\n").unwrap();
    let just_long = format!("{} 3 1700000000\nafter 4 1700000000\n", "y".repeat(MAX_LINE));
    c.write_all(just_long.as_bytes()).unwrap();
    assert!(h.wait_for("after", 2), "got {:?}", h.got);
    assert_eq!(h.count("before"), 1);
    assert_eq!(h.stat(|s| &s.lines_too_long), 2);
    assert!(h.got.iter().all(|p| !p.0.starts_with('x') && !p.0.starts_with('y')));
}

#[test]
fn pickle_frames_from_python_protocols_0_to_5_become_points() {
    let mut h = Harness::start(receiver_config());
    let mut c = connect(h.addrs.pickle);
    for proto in 0..=5u8 {
        // Python 3 can pickle bytes as plain data only from protocol 3 (before, it needs `_codecs.encode`).
        let third = if proto >= 3 { format!("b'pickle.p{proto}'") } else { format!("'pickle.p{proto}'") };
        let expr = format!(
            "[('pickle.p{proto}', (1700000000, 1.5)), ['pickle.p{proto}', [1700000060.7, {proto}]], \
             ({third}, (1700000120, 2**40))]"
        );
        c.write_all(&python_pickle(&expr, proto)).unwrap();
    }
    for proto in 0..=5u8 {
        let name = format!("pickle.p{proto}");
        assert!(h.wait_for(&name, 3), "protocol {proto}: got {:?}", h.got);
        let mut pts: Vec<_> = h.got.iter().filter(|p| p.0 == name).map(|p| (p.1, p.2)).collect();
        pts.sort_by_key(|p| p.0);
        assert_eq!(pts, vec![(1_700_000_000, 1.5), (1_700_000_060, proto as f64), (1_700_000_120, 2f64.powi(40))]);
    }
    assert_eq!(h.stat(|s| &s.pickle_errors), 0);
}

#[test]
fn hostile_pickle_closes_only_its_own_connection() {
    let mut h = Harness::start(receiver_config());
    let marker = tempfile::tempdir().unwrap();
    let pwned = marker.path().join("pwned");
    let mut plain = connect(h.addrs.line_tcp);
    let mut good = connect(h.addrs.pickle);
    let deep = {
        let mut p = b"\x80\x02".to_vec();
        p.extend(std::iter::repeat_n(b'(', 100_000));
        p.push(b'.');
        p
    };
    let valid = python_pickle("[('hostile.x', (1700000000, 1))]", 2);
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("GLOBAL os.system + REDUCE", frame(format!("cos\nsystem\n(S'touch {}'\ntR.", pwned.display()).as_bytes())),
        ("huge declared length", [&u32::MAX.to_be_bytes()[..], b"(lp0\n"].concat()),
        ("truncated pickle in a whole frame", frame(&valid[4..valid.len() - 3])),
        ("deep nesting", frame(&deep)),
    ];
    let mut round = 0u32;
    let mut both_alive = |h: &mut Harness, round: &mut u32| {
        *round += 1;
        plain.write_all(format!("hostile.plain {round} 1700000000\n").as_bytes()).unwrap();
        good.write_all(&python_pickle(&format!("[('hostile.good', (1700000000, {round}))]"), 4)).unwrap();
        assert!(h.wait_for("hostile.plain", *round as usize), "plaintext client harmed after round {round}");
        assert!(h.wait_for("hostile.good", *round as usize), "good pickle client harmed after round {round}");
    };
    both_alive(&mut h, &mut round);
    for (what, bytes) in &hostile {
        let mut bad = connect(h.addrs.pickle);
        bad.write_all(bytes).unwrap();
        assert!(closed_by_server(&mut bad), "{what}: connection not closed");
        both_alive(&mut h, &mut round);
    }
    // A frame cut short by the client's close: counted, harmless.
    let mut cut = connect(h.addrs.pickle);
    cut.write_all(&valid[..valid.len() / 2]).unwrap();
    drop(cut);
    both_alive(&mut h, &mut round);
    assert!(!pwned.exists(), "os.system ran");
    assert_eq!(h.count("hostile.x"), 0, "no point of a refused frame is kept");
    assert_eq!(h.stat(|s| &s.pickle_frames_too_large), 1);
    assert!(common::wait_until(5, || h.stat(|s| &s.pickle_errors) == 4), "errors {}", h.stat(|s| &s.pickle_errors));
}

#[test]
fn connections_beyond_max_connections_are_refused_and_counted() {
    let mut h = Harness::start(ReceiverConfig { max_connections: 2, ..receiver_config() });
    let mut a = connect(h.addrs.line_tcp);
    let mut b = connect(h.addrs.pickle);
    a.write_all(b"maxconn.a 1 1700000000\n").unwrap();
    b.write_all(&python_pickle("[('maxconn.b', (1700000000, 1))]", 2)).unwrap();
    assert!(h.wait_for("maxconn.a", 1) && h.wait_for("maxconn.b", 1));
    let mut c = connect(h.addrs.line_tcp);
    assert!(closed_by_server(&mut c), "third connection not refused");
    assert_eq!(h.stat(|s| &s.connections_refused), 1);
    assert_eq!(h.stat(|s| &s.active_connections), 2);
    a.write_all(b"maxconn.a 2 1700000060\n").unwrap();
    assert!(h.wait_for("maxconn.a", 2), "an accepted connection was harmed");
    drop(a);
    // Once a slot frees up, a new connection is served.
    assert!(common::wait_until(5, || h.stat(|s| &s.active_connections) == 1));
    let mut d = connect(h.addrs.line_tcp);
    d.write_all(b"maxconn.d 1 1700000000\n").unwrap();
    assert!(h.wait_for("maxconn.d", 1));
}

#[test]
fn flow_control_pauses_reading_and_loses_nothing() {
    let mut h = Harness::start(receiver_config());
    h.rings.set_paused(true);
    let mut c = connect(h.addrs.line_tcp);
    let (client, server) = (c.local_addr().unwrap().port(), h.addrs.line_tcp.unwrap().port());
    let n = 5000;
    let lines: Vec<String> = (0..n).map(|i| format!("paused.a {i} {}\n", 1_700_000_000 + i)).collect();
    let total: u64 = lines.iter().map(|l| l.len() as u64).sum();
    let writer = std::thread::spawn(move || {
        for l in &lines {
            c.write_all(l.as_bytes()).unwrap();
        }
        c
    });
    // The server accepted the connection, and every byte the client wrote sits in the kernel unread: in the
    // server socket's receive queue, or (window full) still in the client's send queue.
    let unread = || {
        let rx = tcp_queues(server, client).map(|q| q.1);
        let tx = tcp_queues(client, server).map(|q| q.0);
        rx.zip(tx).map(|(rx, tx)| rx + tx)
    };
    assert!(
        common::wait_until(10, || h.stat(|s| &s.active_connections) == 1
            && writer.is_finished()
            && unread() == Some(total)),
        "paused server: {:?} of {total} bytes unread, connections {}, writer finished {}",
        unread(),
        h.stat(|s| &s.active_connections),
        writer.is_finished()
    );
    h.drain();
    assert_eq!(h.got.len(), 0, "batch pushed while paused");
    assert_eq!(h.stat(|s| &s.points_received), 0, "socket read while paused");
    h.rings.set_paused(false);
    assert!(h.wait_for("paused.a", n as usize), "got {}", h.got.len());
    drop(writer.join().unwrap());
    assert_eq!(h.count("paused.a"), n as usize);
}

/// (tx_queue, rx_queue) of the TCP socket 127.0.0.1:`local` <-> 127.0.0.1:`remote` from /proc/net/tcp: bytes
/// sent but not acknowledged, bytes received but not read by the application.
fn tcp_queues(local: u16, remote: u16) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let (l, r) = (format!("0100007F:{local:04X}"), format!("0100007F:{remote:04X}"));
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 4 && f[1] == l && f[2] == r {
            let (tx, rx) = f[4].split_once(':')?;
            return Some((u64::from_str_radix(tx, 16).ok()?, u64::from_str_radix(rx, 16).ok()?));
        }
    }
    None
}

// ---- whole engine, read back from whisper ---------------------------------------------------------------------

/// One-second points for an hour: every self-metric interval and every test point keeps its own slot.
const SECONDLY: OneArchive = OneArchive { seconds_per_point: 1, points: 3600 };

fn engine_settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings { data_dir: dir.to_path_buf(), ..Settings::default() };
    s.amqp.enabled = false;
    s.query.carbonlink = Some("127.0.0.1:0".into()); // parallel tests never share port 7002
    s.query.http = Some("127.0.0.1:0".into());
    s.amqp.pin_threads = false;
    s.receivers.line_tcp = Some("127.0.0.1:0".into());
    s.receivers.line_udp = Some("127.0.0.1:0".into());
    s.receivers.pickle = Some("127.0.0.1:0".into());
    s.stats.metric_interval_secs = 0;
    s
}

fn committed(e: &Engine) -> u64 {
    e.stats.committed_points.load(Ordering::Relaxed)
}

/// Values (timestamp → value) of `metric` over the last `seconds`, as warren's own whisper reader fetches them.
fn warren_fetch(dir: &std::path::Path, metric: &str, seconds: u32) -> BTreeMap<u32, f64> {
    let path = warren::metric::file_path(dir, metric);
    let f = warren::whisper::WhisperFile::open_read_only(&path).unwrap();
    let now = i64::from(common::now());
    let r = f.fetch(now - i64::from(seconds), None, now, None).unwrap().expect("window within retention");
    (0..).zip(r.values).filter_map(|(i, v)| v.map(|v| (r.from + i * r.step, v))).collect()
}

#[test]
fn plaintext_over_tcp_and_udp_is_written_to_whisper() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&engine_settings(dir.path()), Box::new(SECONDLY)).unwrap();
    let now = common::now();
    let mut c = connect(engine.receivers.line_tcp);
    let mut text = String::new();
    for i in 0..10 {
        text.push_str(&format!("e2e.tcp {i} {}\n", now - 10 + i));
    }
    c.write_all(text.as_bytes()).unwrap();
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(format!("e2e.udp 7 {now}\ne2e.udp 8 {}\n", now - 1).as_bytes(), engine.receivers.line_udp.unwrap())
        .unwrap();
    assert!(common::wait_until(10, || committed(&engine) == 12), "committed {}", committed(&engine));
    let want_tcp: BTreeMap<u32, f64> = (0..10).map(|i| (now - 10 + i, i as f64)).collect();
    assert_eq!(warren_fetch(dir.path(), "e2e.tcp", 60), want_tcp);
    let py: BTreeMap<u32, f64> = common::python_fetch(dir.path(), "e2e.tcp", 60).into_iter().collect();
    assert_eq!(py, want_tcp);
    let py_udp: BTreeMap<u32, f64> = common::python_fetch(dir.path(), "e2e.udp", 60).into_iter().collect();
    assert_eq!(py_udp, BTreeMap::from([(now - 1, 8.0), (now, 7.0)]));
    engine.stop().unwrap();
}

#[test]
fn pickle_points_are_written_to_whisper() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&engine_settings(dir.path()), Box::new(SECONDLY)).unwrap();
    let now = common::now();
    let mut c = connect(engine.receivers.pickle);
    for proto in [0u8, 2, 5] {
        let t = now - 10 + u32::from(proto);
        c.write_all(&python_pickle(&format!("[('e2e.pickle', ({t}, {proto}.5))]"), proto)).unwrap();
    }
    assert!(common::wait_until(10, || committed(&engine) == 3), "committed {}", committed(&engine));
    let py: BTreeMap<u32, f64> = common::python_fetch(dir.path(), "e2e.pickle", 60).into_iter().collect();
    assert_eq!(py, BTreeMap::from([(now - 10, 0.5), (now - 8, 2.5), (now - 5, 5.5)]));
    engine.stop().unwrap();
}

#[test]
fn self_metrics_are_written_as_carbon_agents_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = engine_settings(dir.path());
    s.stats.metric_interval_secs = 1;
    s.stats.host = Some("testhost".into());
    s.instance = "z".into();
    let engine = Engine::start(&s, Box::new(SECONDLY)).unwrap();
    let now = common::now();
    let mut c = connect(engine.receivers.line_tcp);
    let sent = 50u32;
    for i in 0..sent {
        c.write_all(format!("sm.m{i} 1 {now}\n").as_bytes()).unwrap();
    }
    drop(c);
    let prefix = "carbon.agents.testhost-z";
    let received = format!("{prefix}.metricsReceived");
    // Two emissions after the points were written: the second reports the first's points too.
    let ok = common::wait_until(15, || {
        warren::metric::file_path(dir.path(), &received).exists()
            && common::python_fetch(dir.path(), &received, 120).iter().map(|p| p.1).sum::<f64>() == f64::from(sent)
    });
    assert!(ok, "metricsReceived never summed to {sent} (self-metrics are not received points)");
    // Stopping flushes the cache: every emitted figure is then on disk.
    engine.stop().unwrap();
    for stat in [
        "committedPoints",
        "updateOperations",
        "creates",
        "cache.size",
        "memUsage",
        "cpuUsage",
        "ringOccupancy",
        "carbonlink.connectionsRefused",
        "http.connectionsRefused",
    ] {
        assert!(warren::metric::file_path(dir.path(), &format!("{prefix}.{stat}")).exists(), "{stat} missing");
    }
    let mem = common::python_fetch(dir.path(), &format!("{prefix}.memUsage"), 120);
    assert!(mem.iter().all(|p| p.1 > 1e6 && p.1 < 1e11), "implausible memUsage {mem:?}");
    let conns = common::python_fetch(dir.path(), &format!("{prefix}.connectionsAccepted"), 120);
    let recv = common::python_fetch(dir.path(), &received, 120);
    assert_eq!(conns.iter().map(|p| p.1).sum::<f64>(), 1.0, "conns {conns:?} received {recv:?}");
    let committed = common::python_fetch(dir.path(), &format!("{prefix}.committedPoints"), 120);
    assert!(committed.iter().map(|p| p.1).sum::<f64>() >= f64::from(sent), "committedPoints {committed:?}");
}

#[test]
fn the_prometheus_endpoint_serves_the_counters() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = engine_settings(dir.path());
    s.stats.prometheus = Some("127.0.0.1:0".into());
    let engine = Engine::start(&s, Box::new(SECONDLY)).unwrap();
    let mut c = connect(engine.receivers.line_tcp);
    c.write_all(b"prom.a 1 1700000000\nprom.b 2 1700000000\n").unwrap();
    assert!(common::wait_until(10, || engine.stats.points_received.load(Ordering::Relaxed) == 2));
    let mut http = connect(engine.prometheus);
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reply = String::new();
    http.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.0 200 OK\r\n"), "{reply}");
    assert!(reply.contains("\nwarren_points_received 2\n"), "{reply}");
    assert!(reply.contains("\nwarren_active_connections 1\n"), "{reply}");
    engine.stop().unwrap();
}

/// Load generator: `WARREN_LOAD_CONNS` connections (default 4) write `WARREN_LOAD_METRICS` metrics (default
/// 1000) × `WARREN_LOAD_POINTS` points each (default 1000) over loopback; reports points persisted per second
/// (from the first byte sent until `committed_points` reaches the total). 1 s:1 h files, fallocate creates.
/// `cargo test --release --test sockets -- --ignored --nocapture plaintext_tcp_ingest_rate`
#[test]
#[ignore = "measurement, not a check: run by hand in release mode"]
fn plaintext_tcp_ingest_rate() {
    let env = |k: &str, d: u32| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (conns, metrics, points) =
        (env("WARREN_LOAD_CONNS", 4), env("WARREN_LOAD_METRICS", 1000), env("WARREN_LOAD_POINTS", 1000));
    assert!(points < 3600, "points must fit the 1 h archive");
    let dir = tempfile::tempdir().unwrap();
    let mut s = engine_settings(dir.path());
    s.cache.max_creates_per_minute = 0;
    let engine = Engine::start(&s, Box::new(SECONDLY)).unwrap();
    let addr = engine.receivers.line_tcp;
    let now = common::now();
    let total = u64::from(metrics) * u64::from(points);
    let start = Instant::now();
    let senders: Vec<_> = (0..conns)
        .map(|k| {
            std::thread::spawn(move || {
                let mut c = std::io::BufWriter::with_capacity(256 * 1024, connect(addr));
                // Point-major order, like collectors: every metric once per timestamp.
                for p in 0..points {
                    for m in (k..metrics).step_by(conns as usize) {
                        writeln!(c, "load.m{}.value {p} {}", m, now - points + p).unwrap();
                    }
                }
                c.flush().unwrap();
            })
        })
        .collect();
    for t in senders {
        t.join().unwrap();
    }
    let sent = start.elapsed();
    assert!(common::wait_until(600, || committed(&engine) == total), "committed {} of {total}", committed(&engine));
    let done = start.elapsed();
    println!(
        "plaintext TCP: {total} points ({metrics} metrics x {points}) over {conns} connections: sent in {:.2} s, \
         persisted in {:.2} s = {:.0} points/s (updates {}, creates {})",
        sent.as_secs_f64(),
        done.as_secs_f64(),
        total as f64 / done.as_secs_f64(),
        engine.stats.update_operations.load(Ordering::Relaxed),
        engine.stats.creates.load(Ordering::Relaxed),
    );
    engine.stop().unwrap();
}
