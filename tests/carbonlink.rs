//! CarbonLink against a running engine fed through the real broker: every request type, at pickle protocols 2
//! and 5 (frames built by Python), many requests on one connection, and hostile frames closing only their own
//! connection. Also the HTTP API's render merging cache and disk.

mod common;
mod query_support;

use common::*;
use query_support::*;
use std::sync::atomic::Ordering;
use std::time::Duration;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;
use warren::pickle::{decode, Limits, Value};

/// Dropped field by field in this order: the engine stops before its exchange and queue are deleted.
struct Fixture {
    engine: Engine,
    /// Kept so the whisper tree lives as long as the engine.
    _dir: tempfile::TempDir,
    _declared: Declared,
    /// On disk (and nothing cached for it) in `cl.a`.
    t0: u32,
    /// Cached only, in `cl.a` and `cl.b`.
    t1: u32,
}

/// `cl.a` has a file with a point at t0 = 1.5; writes are then held, and t1 = 2.5 (cl.a) and 7.0 (cl.b) stay cached.
fn fixture(http: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let declared = Declared::new(BROKER, &[&ex], &[&q]);
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut s = settings(dir.path(), BROKER, &ex, &q, &["#"]);
    if http {
        s.query.http = Some("127.0.0.1:0".into());
    }
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let t0 = now() / 60 * 60 - 120;
    let t1 = t0 + 60;
    publisher.publish("cl.a", format!("1.5 {t0}").as_bytes());
    // Read the file only once the writer has committed the point (a half-created file is not readable yet).
    assert!(wait_until(20, || engine.stats.committed_points.load(Ordering::Relaxed) == 1), "first point written");
    assert_eq!(python_fetch(dir.path(), "cl.a", 600), [(t0, 1.5)], "first point on disk");
    engine.hold_writes.store(true, Ordering::Release);
    publisher.publish("cl.a", format!("2.5 {t1}").as_bytes());
    publisher.publish("cl.b", format!("7 {t1}").as_bytes());
    assert!(wait_until(20, || engine.stats.points_received.load(Ordering::Relaxed) == 3));
    Fixture { engine, _dir: dir, _declared: declared, t0, t1 }
}

impl Fixture {
    fn finish(self) {
        self.engine.stop().unwrap();
    }
}

fn val(body: &[u8]) -> Value {
    decode(body, &Limits::default()).expect("the answer is a pickle warren's decoder reads")
}

fn s(x: &str) -> Value {
    Value::str(x)
}

fn dict(pairs: Vec<(&str, Value)>) -> Value {
    Value::Dict(pairs.into_iter().map(|(k, v)| (s(k), v)).collect())
}

fn points(pts: &[(u32, f64)]) -> Value {
    Value::List(pts.iter().map(|&(t, v)| Value::Tuple(vec![Value::Int(t.into()), Value::Float(v)])).collect())
}

#[test]
fn every_request_type_is_answered_at_protocols_2_and_5_on_one_kept_open_connection() {
    let f = fixture(false);
    let addr = f.engine.query.carbonlink_addr().expect("carbonlink on");
    let (t1, cl) = (f.t1, |x: &str| x.to_string());
    for protocol in [2u8, 5] {
        let frames = python_frames(
            &[
                "{'type': 'cache-query', 'metric': 'cl.a'}",
                "{'type': 'cache-query', 'metric': 'cl.nothing'}",
                "{'type': 'cache-query-bulk', 'metrics': ['cl.a', 'cl.b', 'bad..name']}",
                "{'type': 'get-metadata', 'metric': 'cl.a', 'key': 'aggregationMethod'}",
                "{'type': 'get-metadata', 'metric': 'cl.a', 'key': 'xFilesFactor'}",
                "{'type': 'get-metadata', 'metric': 'cl.missing', 'key': 'aggregationMethod'}",
                "{'type': 'set-metadata', 'metric': 'cl.a', 'key': 'aggregationMethod', 'value': 'sum'}",
                "{'type': 'get-metadata', 'metric': 'cl.a', 'key': 'aggregationMethod'}",
                "{'type': 'set-metadata', 'metric': 'cl.a', 'key': 'aggregationMethod', 'value': 'average'}",
                "{'type': 'set-metadata', 'metric': 'cl.a', 'key': 'aggregationMethod', 'value': 'mean'}",
                "{'type': 'cache-precheck-of-the-future', 'metric': 'cl.a'}",
                "{'metric': 'cl.a'}",
            ],
            protocol,
        );
        let mut c = connect(addr);
        let answers: Vec<Value> =
            frames.iter().map(|fr| val(&exchange(&mut c, fr).expect("answered on the same connection"))).collect();
        let err = |v: &Value| v.get("error").and_then(Value::as_str).map(cl);
        assert_eq!(answers[0], dict(vec![("datapoints", points(&[(t1, 2.5)]))]), "protocol {protocol}");
        assert_eq!(answers[1], dict(vec![("datapoints", points(&[]))]));
        assert_eq!(
            answers[2],
            dict(vec![(
                "datapointsByMetric",
                Value::Dict(vec![
                    (s("cl.a"), points(&[(t1, 2.5)])),
                    (s("cl.b"), points(&[(t1, 7.0)])),
                    (s("bad..name"), points(&[])),
                ])
            )])
        );
        assert_eq!(answers[3], dict(vec![("value", s("average"))]));
        assert_eq!(err(&answers[4]).as_deref(), Some("Unsupported metadata key \"xFilesFactor\""));
        let missing = warren::metric::file_path(f._dir.path(), "cl.missing");
        assert_eq!(
            err(&answers[5]),
            Some(format!("{}: No such file or directory (os error 2)", missing.display())),
            "no file"
        );
        assert_eq!(answers[6], dict(vec![("old_value", s("average")), ("new_value", s("sum"))]));
        assert_eq!(answers[7], dict(vec![("value", s("sum"))]));
        assert_eq!(answers[8], dict(vec![("old_value", s("sum")), ("new_value", s("average"))]));
        assert!(err(&answers[9]).is_some_and(|e| e.contains("'mean'")), "{:?}", answers[9]);
        assert_eq!(err(&answers[10]).as_deref(), Some("Invalid request type \"cache-precheck-of-the-future\""));
        assert_eq!(err(&answers[11]).as_deref(), Some("Invalid request type \"None\""));
    }
    f.finish();
}

#[test]
fn a_hostile_frame_closes_only_its_own_connection() {
    let f = fixture(false);
    let addr = f.engine.query.carbonlink_addr().unwrap();
    let query = python_frames(&["{'type': 'cache-query', 'metric': 'cl.b'}"], 5).remove(0);
    let hostile = [
        // A global (what every pickle exploit needs).
        python_frames(&["datetime.datetime(2020, 1, 1)"], 2).remove(0),
        // Not a pickle at all.
        b"\x00\x00\x00\x05hello".to_vec(),
        // A length far over the cap: refused before reading a byte of it.
        b"\xff\xff\xff\xff".to_vec(),
        // One 100-byte name shared 20,000 times: a 40 KB frame of 2 MB of names, 50 per frame byte (within the
        // pickle receiver's budget of 128, over CarbonLink's 16).
        python_frames(&["{'type': 'cache-query-bulk', 'metrics': ['x' * 100] * 20000}"], 2).remove(0),
    ];
    let want = dict(vec![("datapoints", points(&[(f.t1, 7.0)]))]);
    for frame in hostile {
        let mut bystander = connect(addr);
        assert_eq!(val(&exchange(&mut bystander, &query).unwrap()), want);
        let mut attacker = connect(addr);
        assert!(exchange(&mut attacker, &frame).is_none(), "the attacker's connection is closed");
        assert_eq!(val(&exchange(&mut bystander, &query).unwrap()), want, "the bystander is still served");
        assert_eq!(val(&exchange(&mut connect(addr), &query).unwrap()), want, "new connections are served");
    }
    // Control for the budget: as many names, all different (no sharing), are answered.
    let bulk = python_frames(&["{'type': 'cache-query-bulk', 'metrics': ['cl.n%05d' % i for i in range(20000)]}"], 2);
    let answer = val(&exchange(&mut connect(addr), &bulk[0]).expect("a bulk query of distinct names is answered"));
    assert!(answer.get("datapointsByMetric").is_some(), "{answer:?}");
    f.finish();
}

#[test]
fn http_render_merges_cached_points_over_disk_and_shows_cache_only_metrics() {
    let f = fixture(true);
    let http = f.engine.query.http_addr().expect("http on");
    let (status, body) = http_get(http, "/render/?target=cl.*&from=-10min&format=json").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    // cl.a has a file; cl.b is only in the cache and is rendered too (graphite-web alone would not see it).
    assert_eq!(v.as_array().unwrap().len(), 2, "{body}");
    assert_eq!((v[0]["target"].as_str(), v[1]["target"].as_str()), (Some("cl.a"), Some("cl.b")));
    let at = |i: usize, t: u32| v[i]["datapoints"].as_array().unwrap().iter().find(|d| d[1] == t).map(|d| d[0].clone());
    assert_eq!(at(0, f.t0), Some(serde_json::json!(1.5)), "from disk: {body}");
    assert_eq!(at(0, f.t1), Some(serde_json::json!(2.5)), "from the cache: {body}");
    assert_eq!(at(1, f.t1), Some(serde_json::json!(7.0)), "cache only: {body}");
    let values_b: Vec<_> = v[1]["datapoints"].as_array().unwrap().iter().filter(|d| !d[0].is_null()).collect();
    assert_eq!(values_b.len(), 1, "nothing but the cached point: {body}");
    assert!(!f._dir.path().join("cl/b.wsp").exists(), "cl.b still has no file");
    let (_, body) = http_get(http, "/metrics/find/?query=cl.*").unwrap();
    let want = serde_json::json!([
        {"text": "a", "id": "cl.a", "leaf": 1, "expandable": 0, "allowChildren": 0},
        {"text": "b", "id": "cl.b", "leaf": 1, "expandable": 0, "allowChildren": 0},
    ]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap(), want);
    let (_, body) = http_get(http, "/metrics/find/?query=*").unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()[0]["id"], "cl");
    let (_, body) = http_get(http, "/metrics/list/").unwrap();
    assert_eq!(body, r#"["cl.a","cl.b"]"#);
    let (status, body) = http_get(http, "/info/?target=cl.a").unwrap();
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["aggregationMethod"], "average");
    assert_eq!(info["archives"][0]["secondsPerPoint"], 60);
    assert_eq!(http_get(http, "/render/?target=cl.a&from=yesterday").unwrap().0, 400);
    assert_eq!(http_get(http, "/nope").unwrap().0, 404);
    f.finish();
}

#[test]
fn engine_stop_closes_kept_open_connections() {
    let f = fixture(false);
    let addr = f.engine.query.carbonlink_addr().unwrap();
    let mut c = connect(addr);
    let q = python_frames(&["{'type': 'cache-query', 'metric': 'cl.a'}"], 5).remove(0);
    assert!(exchange(&mut c, &q).is_some());
    f.engine.hold_writes.store(false, Ordering::Release);
    f.finish();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(exchange(&mut c, &q).is_none(), "closed by stop");
}
