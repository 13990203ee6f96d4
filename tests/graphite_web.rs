//! A real graphite-web 1.1.8 (Debian's package, installed by tests/support/graphite_web.sh when missing) pointed
//! at warren's whisper tree and CarbonLink port: a point still held in warren's cache shows in graphite-web's
//! render; after the write it comes from disk, with warren stopped. warren's own HTTP API answers the same
//! render and find as graphite-web does.

mod common;
mod query_support;

use common::*;
use query_support::*;
use std::sync::atomic::Ordering;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

fn value_at(render: &serde_json::Value, t: u32) -> Option<serde_json::Value> {
    render[0]["datapoints"].as_array()?.iter().find(|d| d[1] == t).map(|d| d[0].clone())
}

/// A running engine (settings tuned by `tune`) with metric `gw.m`: the point (t0, 1.5) in its file, and
/// (t1, 2.5) held in the cache (writes held). The broker's objects go with the returned guard.
struct OnePointCached {
    engine: Engine,
    t0: u32,
    t1: u32,
    _publisher: Publisher,
    _declared: Declared,
}

fn one_point_cached(
    dir: &std::path::Path,
    tune: impl FnOnce(&mut warren::config::settings::Settings),
) -> OnePointCached {
    let (ex, q) = (unique("ex"), unique("q"));
    let declared = Declared::new(BROKER, &[&ex], &[&q]);
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut s = settings(dir, BROKER, &ex, &q, &["#"]);
    tune(&mut s);
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let t0 = now() / 60 * 60 - 120;
    let t1 = t0 + 60;
    // graphite-web only asks about metrics that have a file: write one point, then hold the rest in the cache.
    publisher.publish("gw.m", format!("1.5 {t0}").as_bytes());
    // Read the file only once the writer has committed the point (a half-created file is not readable yet).
    assert!(wait_until(20, || engine.stats.committed_points.load(Ordering::Relaxed) == 1));
    assert_eq!(python_fetch(dir, "gw.m", 600), [(t0, 1.5)]);
    engine.hold_writes.store(true, Ordering::Release);
    publisher.publish("gw.m", format!("2.5 {t1}").as_bytes());
    assert!(wait_until(20, || engine.stats.points_received.load(Ordering::Relaxed) == 2));
    assert_eq!(python_fetch(dir, "gw.m", 600), [(t0, 1.5)], "t1 is only in the cache");
    OnePointCached { engine, t0, t1, _publisher: publisher, _declared: declared }
}

#[test]
fn graphite_web_renders_cached_points_through_carbonlink_then_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let OnePointCached { engine, t0, t1, _publisher, _declared } =
        one_point_cached(dir.path(), |s| s.query.http = Some("127.0.0.1:0".into()));
    let gw = GraphiteWeb::start(dir.path(), engine.query.carbonlink_addr().unwrap());
    let window = format!("from={}&until={}", t0 - 300, t1 + 60);
    let render = format!("/render?target=gw.m&{window}&format=json");
    let theirs = gw.json(&render);
    assert_eq!(value_at(&theirs, t0), Some(serde_json::json!(1.5)), "{theirs}");
    assert_eq!(value_at(&theirs, t1), Some(serde_json::json!(2.5)), "cached point via CarbonLink: {theirs}");

    // warren's own HTTP API gives graphite-web's answers.
    let http = engine.query.http_addr().unwrap();
    let ours: serde_json::Value = serde_json::from_str(&http_get(http, &render).unwrap().1).unwrap();
    assert_eq!(ours, theirs, "render");
    for find in ["/metrics/find?query=gw.*", "/metrics/find?query=*", "/metrics/find?query=gw.{m,x}&format=json"] {
        let mut ours: serde_json::Value = serde_json::from_str(&http_get(http, find).unwrap().1).unwrap();
        let mut theirs = gw.json(find);
        // format=json carries each leaf's intervals, which start at "now minus the retention" by each side's
        // clock: compared apart, within the seconds between the two requests.
        let intervals = |v: &mut serde_json::Value| -> Vec<(f64, f64)> {
            let mut out = Vec::new();
            for i in v.as_array_mut().into_iter().flatten() {
                if let Some(iv) = i.as_object_mut().and_then(|o| o.remove("intervals")) {
                    for x in iv.as_array().unwrap() {
                        out.push((x["start"].as_f64().unwrap(), x["end"].as_f64().unwrap()));
                    }
                }
            }
            out
        };
        let (a, b) = (intervals(&mut ours), intervals(&mut theirs));
        assert_eq!(a.len(), b.len(), "{find}");
        for ((s1, e1), (s2, e2)) in a.iter().zip(&b) {
            assert!((s1 - s2).abs() < 30.0 && (e1 - e2).abs() < 30.0, "{find}: {a:?} vs {b:?}");
        }
        assert_eq!(ours, theirs, "{find}");
    }

    // Release: the point reaches the file; with warren stopped graphite-web reads both values from disk.
    engine.hold_writes.store(false, Ordering::Release);
    assert!(wait_until(20, || engine.stats.committed_points.load(Ordering::Relaxed) == 2));
    assert_eq!(python_fetch(dir.path(), "gw.m", 600), [(t0, 1.5), (t1, 2.5)]);
    engine.stop().unwrap();
    let from_disk = gw.json(&render);
    assert_eq!(value_at(&from_disk, t0), Some(serde_json::json!(1.5)));
    assert_eq!(value_at(&from_disk, t1), Some(serde_json::json!(2.5)), "from disk: {from_disk}");
    drop(gw);
}

/// graphite-web pools its CarbonLink connections and does not retry a query on one the server closed (the query
/// gets no cached points): a pooled connection idle for longer than `carbonlink_idle_timeout_ms` still serves
/// the next render, when no newcomer needed its slot.
#[test]
fn a_pooled_carbonlink_connection_idle_past_the_timeout_still_serves_graphite_web() {
    const IDLE_MS: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let OnePointCached { engine, t0, t1, _publisher, _declared } =
        one_point_cached(dir.path(), |s| s.query.carbonlink_idle_timeout_ms = IDLE_MS);
    let gw = GraphiteWeb::start(dir.path(), engine.query.carbonlink_addr().unwrap());
    let render = format!("/render?target=gw.m&from={}&until={}&format=json", t0 - 300, t1 + 60);
    let carbonlink = engine.query.carbonlink.as_ref().unwrap();
    for round in 0..3 {
        let theirs = gw.json(&render);
        assert_eq!(value_at(&theirs, t1), Some(serde_json::json!(2.5)), "round {round}: cached point: {theirs}");
        assert_eq!(carbonlink.open_connections(), 1, "round {round}: graphite-web's pooled connection");
        // Idle for several timeouts (the property under test is time itself).
        std::thread::sleep(std::time::Duration::from_millis(4 * IDLE_MS));
    }
    assert_eq!(engine.stats.carbonlink_idle_timeouts.load(Ordering::Relaxed), 0);
    assert_eq!(engine.stats.carbonlink_connections_refused.load(Ordering::Relaxed), 0);
    engine.stop().unwrap();
    drop(gw);
}
