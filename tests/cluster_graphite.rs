//! End to end: the real broker, three warren nodes, and one real graphite-web 1.1.8 whose `CLUSTER_SERVERS` are
//! the nodes' HTTP addresses (no graphite-web per node). The nodes split the metrics by bind patterns, then by the
//! consistent-hash exchange (graphite-web sending POST form bodies, `REMOTE_STORE_USE_POST`), then replicate them
//! with overlapping bindings (factor 2). In each: graphite-web's find lists every metric once, its render of a
//! wildcard spanning the nodes and its `sumSeries` give exactly the published values — the first round from
//! files, the second only in the nodes' caches (writes held), and metrics first published in the second round,
//! which have no file on any node.

mod common;
mod query_support;

use common::*;
use query_support::*;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

struct Node {
    dir: tempfile::TempDir,
    engine: Engine,
}

const GROUPS: [&str; 3] = ["web", "db", "cache"];

fn old_metrics() -> Vec<String> {
    GROUPS.iter().flat_map(|g| (0..10).map(move |h| format!("e2e.{g}.h{h}.cpu"))).collect()
}

fn new_metrics() -> Vec<String> {
    GROUPS.iter().map(|g| format!("e2e.{g}.new.cpu")).collect()
}

fn v0(i: usize) -> f64 {
    i as f64 + 0.5
}

fn v1(i: usize) -> f64 {
    i as f64 * 2.0 + 0.25
}

fn run_cluster(patterns: [&[&str]; 3], hash: bool, use_post: bool) {
    let ex = unique("e2e-ex");
    let hash_ex = hash.then(|| unique("e2e-hash"));
    let declared = Declared::new(BROKER, &[&ex], &[]);
    if let Some(h) = &hash_ex {
        declared.exchange(h);
    }
    let publisher = Publisher::new(BROKER, &ex, "", &[]);
    let nodes: Vec<Node> = patterns
        .iter()
        .map(|p| {
            let dir = tempfile::tempdir().unwrap();
            let queue = unique("e2e-q");
            declared.queue(&queue);
            let mut s = settings(dir.path(), BROKER, &ex, &queue, p);
            s.amqp.workers = 1;
            s.amqp.consistent_hash_exchange = hash_ex.clone();
            s.stats.metric_interval_secs = 0;
            let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
            Node { dir, engine }
        })
        .collect();
    // Publish only once every node consumes (its queue is bound): /health says so.
    for n in &nodes {
        let addr = n.engine.query.http_addr().unwrap();
        assert!(wait_until(30, || matches!(http_get(addr, "/health"), Ok((200, _)))), "node ready");
    }
    let t0 = now() / 60 * 60 - 180;
    let t1 = t0 + 60;
    let old = old_metrics();
    publisher.publish_all(old.iter().enumerate().map(|(i, m)| (m.clone(), format!("{} {t0}", v0(i)).into_bytes())));
    let copies = if patterns.iter().all(|p| p.len() == 2) { 2 } else { 1 };
    let committed = || nodes.iter().map(|n| n.engine.stats.committed_points.load(Ordering::Relaxed)).sum::<u64>();
    assert!(wait_until(60, || committed() == (old.len() * copies) as u64), "round 1 written: {}", committed());
    let files: Vec<usize> = nodes
        .iter()
        .map(|n| old.iter().filter(|m| warren::metric::file_path(n.dir.path(), m).is_file()).count())
        .collect();
    assert!(files.iter().all(|&f| f > 0), "every node holds some of the metrics: {files:?}");
    assert_eq!(files.iter().sum::<usize>(), old.len() * copies, "{files:?}");

    // Round 2 stays in the caches: writes held on every node; three metrics are new (no file anywhere).
    for n in &nodes {
        n.engine.hold_writes.store(true, Ordering::Release);
    }
    let new = new_metrics();
    let received = || nodes.iter().map(|n| n.engine.stats.points_received.load(Ordering::Relaxed)).sum::<u64>();
    let before = received();
    let round2: Vec<(String, Vec<u8>)> =
        old.iter().chain(&new).enumerate().map(|(i, m)| (m.clone(), format!("{} {t1}", v1(i)).into_bytes())).collect();
    publisher.publish_all(round2);
    let want = before + ((old.len() + new.len()) * copies) as u64;
    assert!(wait_until(60, || received() == want), "round 2 received: {} of {want}", received());
    assert_eq!(committed(), (old.len() * copies) as u64, "round 2 is only in the caches");
    for n in &nodes {
        for m in &new {
            assert!(!warren::metric::file_path(n.dir.path(), m).exists(), "{m} has no file");
        }
    }

    let servers: Vec<String> =
        nodes.iter().map(|n| format!("'127.0.0.1:{}'", n.engine.query.http_addr().unwrap().port())).collect();
    let extra = format!(
        "STORAGE_FINDERS = ('graphite.finders.remote.RemoteFinder', 'graphite.finders.standard.StandardFinder')\n\
         CLUSTER_SERVERS = [{}]\nREMOTE_STORE_USE_POST = {}\n",
        servers.join(", "),
        if use_post { "True" } else { "False" }
    );
    let empty = tempfile::tempdir().unwrap();
    let gw = GraphiteWeb::start_with(empty.path(), nodes[0].engine.query.carbonlink_addr().unwrap(), &extra);

    // find: every metric once, old and new, whichever node(s) hold it.
    let found = gw.json("/metrics/find/?query=e2e.*.*.cpu&format=json");
    let mut paths: Vec<String> =
        found.as_array().unwrap().iter().map(|n| n["path"].as_str().unwrap().to_string()).collect();
    paths.sort();
    let mut all: Vec<String> = old.iter().chain(&new).cloned().collect();
    all.sort();
    assert_eq!(paths, all, "find through graphite-web");
    assert!(found.as_array().unwrap().iter().all(|n| n["is_leaf"] == true));
    // graphite-web's index merges every node's /metrics/index.json.
    let index: Vec<String> = serde_json::from_value(gw.json("/metrics/index.json")).unwrap();
    assert_eq!(index, all, "index through graphite-web");

    // render of the wildcard spanning the nodes: exact values, disk (t0) and cache-only (t1).
    let window = format!("from={}&until={}", t0 - 120, t1 + 120);
    let render = gw.json(&format!("/render?target=e2e.*.*.cpu&{window}&format=json"));
    let series: BTreeMap<String, &serde_json::Value> = render
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["target"].as_str().unwrap().to_string(), &s["datapoints"]))
        .collect();
    assert_eq!(series.keys().cloned().collect::<Vec<_>>(), all, "render lists every metric once");
    let at = |dps: &serde_json::Value, t: u32| -> Option<f64> {
        dps.as_array().unwrap().iter().find(|d| d[1] == t).and_then(|d| d[0].as_f64())
    };
    for (i, m) in old.iter().chain(&new).enumerate() {
        let dps = series[m];
        let want0 = (i < old.len()).then(|| v0(i));
        assert_eq!(at(dps, t0), want0, "{m} at t0 (disk)");
        assert_eq!(at(dps, t1), Some(v1(i)), "{m} at t1 (cache only)");
        let non_null = dps.as_array().unwrap().iter().filter(|d| !d[0].is_null()).count();
        assert_eq!(non_null, 1 + usize::from(want0.is_some()), "{m}: nothing but the published points");
    }

    // sumSeries over all of them, evaluated by graphite-web from the nodes' answers.
    let sum = gw.json(&format!("/render?target=sumSeries(e2e.*.*.cpu)&{window}&format=json"));
    let dps = &sum[0]["datapoints"];
    let want0: f64 = (0..old.len()).map(v0).sum();
    let want1: f64 = (0..old.len() + new.len()).map(v1).sum();
    assert_eq!(at(dps, t0), Some(want0), "sumSeries at t0: {sum}");
    assert_eq!(at(dps, t1), Some(want1), "sumSeries at t1: {sum}");
    // The nodes never failed in graphite-web's eyes (a failed host would have vanished for a minute).
    let log = std::fs::read_to_string(gw.work.path().join("storage/log/exception.log")).unwrap_or_default();
    assert!(!log.contains("RemoteFinder"), "graphite-web logged a failed node: {log}");
    drop(gw);

    for n in nodes {
        n.engine.hold_writes.store(false, Ordering::Release);
        n.engine.stop().unwrap();
    }
}

#[test]
fn graphite_web_over_three_nodes_partitioned_by_patterns() {
    run_cluster([&["e2e.web.#"], &["e2e.db.#"], &["e2e.cache.#"]], false, false);
}

#[test]
fn graphite_web_over_three_nodes_partitioned_by_the_hash_exchange_with_post_bodies() {
    run_cluster([&["#"], &["#"], &["#"]], true, true);
}

#[test]
fn graphite_web_over_three_nodes_replicating_with_factor_two() {
    run_cluster(
        [&["e2e.web.#", "e2e.db.#"], &["e2e.db.#", "e2e.cache.#"], &["e2e.cache.#", "e2e.web.#"]],
        false,
        false,
    );
}
