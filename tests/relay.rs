//! `warren relay` in front of a broker-partitioned cluster, on the real broker: two `warren cache` nodes bound
//! `web.#` and `db.#`, one relay taking plaintext TCP, UDP and pickle; every point lands on its owner's disk and
//! on no other node's, and a name no node binds is counted as returned (unroutable), exactly.

mod common;

use common::*;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::Ordering;
use warren::config::settings::Settings;
use warren::engine::Engine;
use warren::relay::Relay;
use warren::whisper::{OpenOptions, WhisperFile};

/// Dropped field by field in this order: the engine stops before its queue is deleted.
pub struct CacheNode {
    pub dir: tempfile::TempDir,
    pub queue: String,
    pub engine: Engine,
    _declared: Declared,
}

fn start_cache(url: &str, ex: &str, pattern: &str) -> CacheNode {
    let dir = tempfile::tempdir().unwrap();
    let queue = unique("relay-q");
    let declared = Declared::new(url, &[], &[&queue]);
    let mut s = settings(dir.path(), url, ex, &queue, &[pattern]);
    s.cache.max_creates_per_minute = 0;
    s.amqp.workers = 1;
    s.stats.metric_interval_secs = 0;
    let engine = Engine::start(&s, Box::new(warren::cache::writer::ConfRules::load(&s).unwrap())).unwrap();
    CacheNode { dir, queue, engine, _declared: declared }
}

/// The shared relay settings with every receiver on: plaintext TCP and UDP, pickle.
fn relay_settings_all_inputs(url: &str, ex: &str) -> Settings {
    let mut s = common::relay_settings(&[url.to_string()], ex);
    s.receivers.line_udp = Some("127.0.0.1:0".into());
    s.receivers.pickle = Some("127.0.0.1:0".into());
    s
}

/// True once `queue` is bound to `ex` with `pattern` (the node's worker declared it).
fn bound(vhost: &str, ex: &str, queue: &str, pattern: &str) -> bool {
    let out = Command::new("rabbitmqctl")
        .args(["-q", "list_bindings", "-p", vhost, "source_name", "destination_name", "routing_key"])
        .output()
        .expect("rabbitmqctl runs");
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f == [ex, queue, pattern]
    })
}

/// The value stored for `metric` at `t` on `node`, if its file exists and holds one.
fn value_at(node: &CacheNode, metric: &str, t: u32) -> Option<f64> {
    let path = warren::metric::file_path(node.dir.path(), metric);
    let f = WhisperFile::open(&path, OpenOptions::default()).ok()?;
    let r = f.fetch(t as i64 - 60, Some(t as i64 + 60), now() as i64, None).ok()??;
    r.values.into_iter().flatten().next()
}

fn python_pickle(points_expr: &str) -> Vec<u8> {
    let script = format!(
        "import pickle, struct, sys\n\
         p = pickle.dumps({points_expr}, protocol=2)\n\
         sys.stdout.buffer.write(struct.pack('!L', len(p)) + p)"
    );
    let out = Command::new("/usr/bin/python3").arg("-c").arg(&script).output().expect("/usr/bin/python3 runs");
    assert!(out.status.success(), "python pickle: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn relay_routes_every_point_to_its_owner_only_and_counts_unroutable_names() {
    let ex = unique("relay-ex");
    let _declared = Declared::new(BROKER, &[&ex], &[]);
    let web = start_cache(BROKER, &ex, "web.#");
    let db = start_cache(BROKER, &ex, "db.#");
    assert!(wait_until(30, || bound("/", &ex, &web.queue, "web.#") && bound("/", &ex, &db.queue, "db.#")));
    let relay = Relay::start(&relay_settings_all_inputs(BROKER, &ex)).unwrap();
    let t = now() / 60 * 60 - 120;
    let value = |kind: &str, i: usize| if kind == "web" { 1000.0 + i as f64 } else { 2000.5 + i as f64 };
    let mut expected: Vec<(String, f64)> = Vec::new();

    // Plaintext over TCP: 300 web, 300 db, 7 names nobody binds.
    let mut tcp = TcpStream::connect(relay.receivers.line_tcp.unwrap()).unwrap();
    let mut text = String::new();
    for i in 0..300 {
        for kind in ["web", "db"] {
            let m = format!("{kind}.tcp{i}.cpu");
            text.push_str(&format!("{m} {} {t}\n", value(kind, i)));
            expected.push((m, value(kind, i)));
        }
    }
    for i in 0..7 {
        text.push_str(&format!("nomatch.tcp{i}.cpu 1 {t}\n"));
    }
    tcp.write_all(text.as_bytes()).unwrap();
    drop(tcp);

    // Plaintext over UDP: one line per datagram.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20 {
        for kind in ["web", "db"] {
            let m = format!("{kind}.udp{i}.cpu");
            udp.send_to(format!("{m} {} {t}\n", value(kind, i)).as_bytes(), relay.receivers.line_udp.unwrap()).unwrap();
            expected.push((m, value(kind, i)));
        }
    }

    // Pickle: one frame of 50 points.
    let mut entries = Vec::new();
    for i in 0..25 {
        for kind in ["web", "db"] {
            let m = format!("{kind}.pickle{i}.cpu");
            entries.push(format!("('{m}', ({t}, {}))", value(kind, i)));
            expected.push((m, value(kind, i)));
        }
    }
    let mut pk = TcpStream::connect(relay.receivers.pickle.unwrap()).unwrap();
    pk.write_all(&python_pickle(&format!("[{}]", entries.join(", ")))).unwrap();
    drop(pk);

    let total = expected.len() as u64 + 7;
    let confirmed = || relay.stats.confirmed.load(Ordering::Relaxed);
    assert!(
        wait_until(60, || confirmed() == total),
        "confirmed {} of {total}: {:?}",
        confirmed(),
        relay.stats.snapshot()
    );
    assert_eq!(relay.stats.returned.load(Ordering::Relaxed), 7, "exactly the 7 unroutable points are returned");
    assert_eq!(relay.stats.received.load(Ordering::Relaxed), total);
    for n in [&web, &db] {
        assert!(wait_until(60, || queue_counts("/", &n.queue) == (0, 0)), "{} drained", n.queue);
    }
    for (m, v) in &expected {
        let (owner, other) = if m.starts_with("web.") { (&web, &db) } else { (&db, &web) };
        assert_eq!(value_at(owner, m, t), Some(*v), "{m} on its owner");
        assert!(!warren::metric::file_path(other.dir.path(), m).exists(), "{m} must not be on the other node");
    }
    for i in 0..7 {
        for n in [&web, &db] {
            assert!(!warren::metric::file_path(n.dir.path(), &format!("nomatch.tcp{i}.cpu")).exists());
        }
    }
    let outcome = relay.stop().unwrap();
    assert_eq!(outcome.abandoned, 0);
    for n in [web, db] {
        n.engine.stop().unwrap();
    }
}

#[test]
fn a_cache_node_with_forward_amqp_is_a_front_door_for_the_whole_cluster() {
    let ex = unique("relay-fwd-ex");
    let _declared = Declared::new(BROKER, &[&ex], &[]);
    let db = start_cache(BROKER, &ex, "db.#");
    // The web node also takes plaintext, and forwards it to the exchange instead of writing it itself.
    let dir = tempfile::tempdir().unwrap();
    let queue = unique("relay-q");
    let declared = Declared::new(BROKER, &[], &[&queue]);
    let mut s = settings(dir.path(), BROKER, &ex, &queue, &["web.#"]);
    s.cache.max_creates_per_minute = 0;
    s.amqp.workers = 1;
    s.stats.metric_interval_secs = 0;
    s.receivers.enabled = true;
    s.receivers.line_tcp = Some("127.0.0.1:0".into());
    s.receivers.pickle = None;
    s.receivers.forward = warren::config::front::Forward::Amqp;
    s.relay.flush_interval_ms = 50;
    let engine = Engine::start(&s, Box::new(warren::cache::writer::ConfRules::load(&s).unwrap())).unwrap();
    let web = CacheNode { dir, queue, engine, _declared: declared };
    assert!(wait_until(30, || bound("/", &ex, &web.queue, "web.#") && bound("/", &ex, &db.queue, "db.#")));

    let t = now() / 60 * 60 - 120;
    let mut text = String::new();
    for i in 0..100 {
        text.push_str(&format!("web.f{i}.cpu {} {t}\ndb.f{i}.cpu {} {t}\n", i + 1, i + 1001));
    }
    let mut tcp = TcpStream::connect(web.engine.receivers.line_tcp.unwrap()).unwrap();
    tcp.write_all(text.as_bytes()).unwrap();
    drop(tcp);
    let rs = web.engine.relay_stats.clone().expect("forward = amqp runs a publisher");
    assert!(wait_until(60, || rs.confirmed.load(Ordering::Relaxed) == 200), "{:?}", rs.snapshot());
    assert_eq!(rs.returned.load(Ordering::Relaxed), 0);
    for n in [&web, &db] {
        assert!(wait_until(60, || queue_counts("/", &n.queue) == (0, 0)), "{} drained", n.queue);
    }
    for i in 0..100 {
        assert_eq!(value_at(&web, &format!("web.f{i}.cpu"), t), Some(i as f64 + 1.0));
        assert_eq!(value_at(&db, &format!("db.f{i}.cpu"), t), Some(i as f64 + 1001.0));
        // Negative control: the front door wrote nothing outside its own bindings.
        assert!(!warren::metric::file_path(web.dir.path(), &format!("db.f{i}.cpu")).exists());
    }
    for n in [web, db] {
        n.engine.stop().unwrap();
    }
}
