//! The HTTP API's server behaviour: form bodies (POST, as graphite-web's REMOTE_STORE_USE_POST and Grafana send
//! them) and keep-alive on one connection, an idle or stalled client neither blocks the others nor holds its
//! connection past the idle timeout, bodies over the cap get 413, `/health` follows the AMQP workers, and the
//! Prometheus text is served on the same port.

mod common;
mod query_support;

use common::*;
use query_support::*;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use warren::cache::writer::DefaultRules;
use warren::config::settings::Settings;
use warren::engine::Engine;

/// An engine with no broker input, its HTTP API on a free port, and one metric on disk.
fn engine(dir: &std::path::Path, tweak: impl FnOnce(&mut Settings)) -> (Engine, SocketAddr, u32) {
    let now = now() / 60 * 60;
    let script = format!(
        "import whisper, os\nos.makedirs('{d}/h', exist_ok=True)\nwhisper.create('{d}/h/m.wsp', [(60, 120)])\n\
         whisper.update_many('{d}/h/m.wsp', [({t}, 4.5)])",
        d = dir.display(),
        t = now - 120
    );
    let out = std::process::Command::new("/usr/bin/python3").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut s = settings(dir, BROKER, &unique("ex"), &unique("q"), &["#"]);
    s.amqp.enabled = false;
    s.receivers.enabled = false;
    s.stats.metric_interval_secs = 0;
    tweak(&mut s);
    let e = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let addr = e.query.http_addr().unwrap();
    (e, addr, now - 120)
}

#[test]
fn form_bodies_and_query_strings_answer_alike_on_one_kept_open_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (e, addr, t) = engine(dir.path(), |_| {});
    let mut c = BufReader::new(connect(addr));
    let render = format!("target=h.*&from={}&until={}&format=json", t - 60, t + 60);
    let (s1, _, get) = exchange11(&mut c, "GET", &format!("/render/?{render}"), None);
    let (s2, _, post) = exchange11(&mut c, "POST", "/render/", Some(&render));
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(get, post, "POST form body = query string");
    let v: serde_json::Value = serde_json::from_slice(&post).unwrap();
    assert!(v[0]["datapoints"].as_array().unwrap().iter().any(|d| d[0] == 4.5 && d[1] == t), "{v}");
    // Both halves at once: the query string and the body are one parameter set (targets from both).
    let (s3, _, both) = exchange11(&mut c, "POST", "/render/?target=h.m&format=json", Some(&render));
    assert_eq!(s3, 200);
    let both: serde_json::Value = serde_json::from_slice(&both).unwrap();
    assert_eq!(both.as_array().unwrap().len(), 2, "h.m from the query string, h.* from the body: {both}");
    let (s4, ctype, pickle) = exchange11(&mut c, "POST", "/metrics/find/", Some("local=1&format=pickle&query=h.*"));
    assert_eq!((s4, ctype.as_str()), (200, "application/pickle"));
    assert_eq!(&pickle[..2], &[0x80, 2]);
    let (s5, ctype, _) = exchange11(&mut c, "POST", "/metrics/find/", Some("format=msgpack&query=h.*"));
    assert_eq!((s5, ctype.as_str()), (200, "application/x-msgpack"));
    let (s6, _, _) = exchange11(&mut c, "PUT", "/render/", Some("target=h.m"));
    assert_eq!(s6, 405);
    let (s7, _, body) = exchange11(&mut c, "GET", "/render/?target=h.m&from=-1h&until=-1h", None);
    assert_eq!(s7, 400, "bad input is a 400 with a reason: {}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("Invalid empty time range"));
    e.stop().unwrap();
}

#[test]
fn an_idle_or_stalled_client_neither_blocks_others_nor_keeps_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (e, addr, _) = engine(dir.path(), |s| {
        s.query.http_threads = 1;
        s.query.http_idle_timeout_ms = 1500;
    });
    let mut idle = TcpStream::connect(addr).unwrap();
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled.write_all(b"GET /render/?target=h.m HTTP/1.1\r\nHost: x\r\n").unwrap(); // never finished
    let opened = Instant::now();
    // With one handler thread, two clients that send nothing useful must not stop a third.
    for _ in 0..5 {
        let t = Instant::now();
        let (status, body) = http_get(addr, "/version/").unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(t.elapsed() < Duration::from_secs(1), "served at once: {:?}", t.elapsed());
    }
    // Control: right after connecting, the idle connection is still open (a read times out, it does not end).
    idle.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 256];
    let early = idle.read(&mut buf);
    assert!(early.is_err(), "open before the idle timeout: {early:?}");
    // Then the server closes both, around the idle timeout.
    for (what, s) in [("idle", &mut idle), ("stalled", &mut stalled)] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let end = s.read_to_end(&mut got);
        assert!(end.is_ok() || opened.elapsed() < Duration::from_secs(10), "{what}: {end:?}");
        let text = String::from_utf8_lossy(&got);
        assert!(got.is_empty() || text.starts_with("HTTP/1.1 408"), "{what} gets nothing or a 408: {text}");
        assert!(opened.elapsed() < Duration::from_secs(8), "{what} closed after {:?}", opened.elapsed());
    }
    assert!(opened.elapsed() >= Duration::from_millis(1400), "not before the timeout: {:?}", opened.elapsed());
    e.stop().unwrap();
}

#[test]
fn a_body_over_the_cap_gets_413_and_the_server_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let (e, addr, _) = engine(dir.path(), |s| s.query.max_request_bytes = 1024);
    let mut c = BufReader::new(connect(addr));
    let big = format!("target={}", "a".repeat(2000));
    let (status, _, _) = exchange11(&mut c, "POST", "/render/", Some(&big));
    assert_eq!(status, 413);
    let ok = "target=h.m&format=json&from=-1h";
    let mut c = BufReader::new(connect(addr));
    assert_eq!(exchange11(&mut c, "POST", "/render/", Some(ok)).0, 200, "a body under the cap is served");
    e.stop().unwrap();
}

#[test]
fn prometheus_text_and_health_are_on_the_http_port() {
    let dir = tempfile::tempdir().unwrap();
    let (e, addr, _) = engine(dir.path(), |_| {});
    let (status, text) = http_get(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE warren_points_received counter\nwarren_points_received 0\n"), "{text}");
    assert!(text.contains("# TYPE warren_workers_consuming gauge\nwarren_workers_consuming 0\n"), "{text}");
    // `/metrics` with a query is graphite-web's find, not Prometheus.
    let (status, body) = http_get(addr, "/metrics?query=h.*&format=json").unwrap();
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()[0]["path"], "h.m");
    // No AMQP input configured: ready as soon as the writer answers.
    let (status, body) = http_get(addr, "/health").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v, serde_json::json!({"ready": true, "writer": true, "workers": 0, "workers_consuming": 0}));
    e.stop().unwrap();
}

#[test]
fn hostile_queries_get_400_or_nothing_and_never_leave_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.wsp"), b"not whisper").unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (e, addr, _) = engine(&data, |_| {});
    let bomb = "{a,b}".repeat(12);
    for (path, want) in [
        (format!("/render/?format=pickle&target={bomb}"), 400),
        (format!("/metrics/find/?format=pickle&query={bomb}"), 400),
        (format!("/metrics/find/?format=pickle&query={}", "a".repeat(5000)), 400),
        ("/render/?format=pickle&target=sumSeries(h.*)".to_string(), 400),
        ("/render/?format=png&target=h.m".to_string(), 400),
        ("/render/?format=json&target=h.m&from=%ff%fe".to_string(), 400),
        ("/render/?format=json&target=..&from=-1h".to_string(), 200),
        ("/render/?format=json&target=h..m&from=-1h".to_string(), 200),
        ("/render/?format=json&target=..%2Fsecret&from=-1h".to_string(), 200),
        ("/metrics/find/?format=json&query=..".to_string(), 200),
        ("/metrics/find/?format=json&query=..%2F*".to_string(), 200),
        ("/info/?target=../secret".to_string(), 400),
    ] {
        let (status, body) = http_get(addr, &path).unwrap();
        assert_eq!(status, want, "{path}: {body}");
        if status == 200 {
            assert_eq!(body, "[]", "{path} finds nothing outside the tree");
        }
    }
    // Still serving, and the real metric is still there (control).
    let (status, body) = http_get(addr, "/render/?format=json&target=h.m&from=-1h").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("4.5"), "{body}");
    e.stop().unwrap();
}

fn health(addr: SocketAddr) -> (u16, serde_json::Value) {
    let (status, body) = http_get(addr, "/health").unwrap();
    (status, serde_json::from_str(&body).unwrap_or_default())
}

#[test]
fn health_is_ready_only_while_every_worker_consumes() {
    let dir = tempfile::tempdir().unwrap();
    // The vhost does not exist yet: the workers cannot consume and keep retrying.
    let vhost = unique("warren-health");
    let url = format!("amqp://guest:guest@127.0.0.1:5672/{vhost}");
    let mut s = settings(dir.path(), &url, &unique("ex"), &unique("q"), &["#"]);
    s.amqp.workers = 2;
    s.amqp.max_reconnect_delay_secs = 1;
    s.receivers.enabled = false;
    s.stats.metric_interval_secs = 0;
    let e = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let addr = e.query.http_addr().unwrap();
    let (status, v) = health(addr);
    assert_eq!(status, 503, "{v}");
    assert_eq!(
        (v["workers"].as_u64(), v["workers_consuming"].as_u64(), v["writer"].as_bool()),
        (Some(2), Some(0), Some(true))
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(health(addr).0, 503, "still not ready while the broker refuses");

    let created = Vhost::adopt(&vhost);
    assert!(wait_until(30, || health(addr).0 == 200), "ready once both workers consume: {}", health(addr).1);
    assert_eq!(health(addr).1["workers_consuming"], 2);

    drop(created); // deletes the vhost: the broker closes the workers' connections
    assert!(wait_until(30, || health(addr).0 == 503), "not ready after losing the broker: {}", health(addr).1);
    e.stop().unwrap();
}
