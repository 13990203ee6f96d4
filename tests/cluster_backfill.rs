//! Adding a node without losing history (README, "Running a cluster"): three warren nodes behind the
//! consistent-hash exchange of the real broker receive an hour's first half; a fourth node joins the ring and
//! receives the second half of the metrics that move to it; `warren cluster backfill --from OLD --to NEW` (the
//! binary, as an operator runs it) fills them from their old nodes. Read back through warren's HTTP API (json
//! render), every metric, from the node that owns it now, has all 60 minutes with the exact published values.
//! Then the moved metrics' old copies are removed and a real graphite-web 1.1.8 whose `CLUSTER_SERVERS` are the
//! four nodes renders every metric, whole, from the cluster. Negative controls: before the backfill the moved metrics' first half is missing on the new node (the gap the
//! procedure closes) and their second half is absent from the old node (they really moved); a second backfill
//! leaves the files byte for byte as they were.

mod common;
mod query_support;

use common::*;
use query_support::{http_get, GraphiteWeb};
use warren::cache::writer::FileRules;
use warren::engine::Engine;

const METRICS: usize = 400;
const MINUTES: u32 = 60;

/// One-minute files for three hours.
const MINUTE_FILES: OneArchive = OneArchive { seconds_per_point: 60, points: 180 };

/// Dropped field by field in this order: the engine stops before its queue is deleted.
struct Node {
    dir: tempfile::TempDir,
    queue: String,
    engine: Engine,
    _declared: Declared,
}

fn start_node(ex: &str, hash_ex: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let queue = unique("backfill-q");
    let declared = Declared::new(BROKER, &[], &[&queue]);
    let mut s = settings(dir.path(), BROKER, ex, &queue, &["#"]);
    s.cache.max_creates_per_minute = 0;
    s.amqp.workers = 1;
    s.amqp.consistent_hash_exchange = Some(hash_ex.to_string());
    s.query.http = Some("127.0.0.1:0".into());
    let engine = Engine::start(&s, Box::new(MINUTE_FILES)).unwrap();
    Node { dir, queue, engine, _declared: declared }
}

fn name(i: usize) -> String {
    format!("backfill.host{i:03}.cpu")
}

/// The published value of metric `i` at minute `k` (exact in binary).
fn value(i: usize, k: u32) -> f64 {
    i as f64 * 1000.0 + f64::from(k) + 0.5
}

/// Wait until `queue` is bound to the hash exchange (the node's share of the ring is in place).
fn wait_bound(hash_ex: &str, queue: &str) {
    assert!(
        wait_until(60, || rabbitmqctl(&["-q", "list_bindings", "source_name", "destination_name"])
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [hash_ex, queue])),
        "{queue} bound to {hash_ex}"
    );
}

/// Publish minutes `ks` of every metric (one message per metric, routing key = name, one `value timestamp` line per point) and wait
/// until every node's queue is drained and acked (warren acks after the write).
fn publish(p: &Publisher, nodes: &[Node], t0: u32, ks: std::ops::Range<u32>) {
    p.publish_all((0..METRICS).map(|i| {
        let body: String = ks.clone().map(|k| format!("{} {}\n", value(i, k), t0 + k * 60)).collect();
        (name(i), body.into_bytes())
    }));
    for n in nodes {
        assert!(wait_until(120, || queue_counts("/", &n.queue) == (0, 0)), "{} drained", n.queue);
    }
}

/// The series of `metric` as `node`'s HTTP API renders it over the hour: one entry per minute.
fn render(node: &Node, metric: &str, t0: u32) -> Vec<Option<f64>> {
    let http = node.engine.query.http_addr().expect("http on");
    let path = format!("/render/?target={metric}&from={}&until={}&format=json", t0 - 1, t0 + (MINUTES - 1) * 60);
    let (status, body) = http_get(http, &path).unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let points = v[0]["datapoints"].as_array().unwrap_or_else(|| panic!("{path}: {body}"));
    (0..MINUTES)
        .map(|k| {
            let t = t0 + k * 60;
            points.iter().find(|d| d[1] == t).and_then(|d| d[0].as_f64())
        })
        .collect()
}

fn has_file(node: &Node, metric: &str) -> bool {
    warren::metric::file_path(node.dir.path(), metric).is_file()
}

fn backfill(from: &Node, to: &Node) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["cluster", "backfill", "--from"])
        .arg(from.dir.path())
        .arg("--to")
        .arg(to.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "backfill: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_fourth_node_joins_the_hash_ring_and_backfill_leaves_no_gap() {
    let ex = unique("backfill-ex");
    let hash_ex = unique("backfill-hash");
    let _declared = Declared::new(BROKER, &[&ex, &hash_ex], &[]);
    let mut nodes: Vec<Node> = (0..3).map(|_| start_node(&ex, &hash_ex)).collect();
    for n in &nodes {
        wait_bound(&hash_ex, &n.queue);
    }
    // The hour ends at the last complete minute.
    let t0 = now() / 60 * 60 - MINUTES * 60;
    let publisher = Publisher::new(BROKER, &ex, "", &[]);
    publish(&publisher, &nodes, t0, 0..MINUTES / 2);

    nodes.push(start_node(&ex, &hash_ex));
    wait_bound(&hash_ex, &nodes[3].queue);
    publish(&publisher, &nodes, t0, MINUTES / 2..MINUTES);

    let moved: Vec<usize> = (0..METRICS).filter(|&i| has_file(&nodes[3], &name(i))).collect();
    eprintln!("{} of {METRICS} metrics moved to the fourth node", moved.len());
    assert!(moved.len() >= METRICS / 10 && moved.len() <= METRICS / 2, "{} moved", moved.len());
    let half = (MINUTES / 2) as usize;
    let mut old_of = std::collections::HashMap::new();
    for &i in &moved {
        let holders: Vec<usize> = (0..3).filter(|&k| has_file(&nodes[k], &name(i))).collect();
        assert_eq!(holders.len(), 1, "{} had exactly one node before the move: {holders:?}", name(i));
        old_of.insert(i, holders[0]);
        // Negative controls: the new node lacks the first half (the gap), the old one the second half (moved).
        let new = render(&nodes[3], &name(i), t0);
        assert!(new[..half].iter().all(Option::is_none), "{}: first half absent before backfill", name(i));
        assert!(new[half..].iter().all(Option::is_some), "{}: second half on the new node", name(i));
        let old = render(&nodes[holders[0]], &name(i), t0);
        assert!(old[..half].iter().all(Option::is_some) && old[half..].iter().all(Option::is_none), "{}", name(i));
    }

    // The procedure: backfill the new node from each old node.
    for k in 0..3 {
        let out = backfill(&nodes[k], &nodes[3]);
        let from_k = old_of.values().filter(|&&o| o == k).count();
        eprint!("backfill from node {k}: {out}");
        assert!(
            out.starts_with(&format!(
                "{} metrics owned: {from_k} filled ({} points copied)",
                moved.len(),
                from_k * half
            )),
            "{out}"
        );
    }
    // Run again: nothing changes (fill writes only over gaps, and at their edges the values already there).
    let files = |n: &Node| -> Vec<Vec<u8>> {
        moved.iter().map(|&i| std::fs::read(warren::metric::file_path(n.dir.path(), &name(i))).unwrap()).collect()
    };
    let before = files(&nodes[3]);
    for k in 0..3 {
        backfill(&nodes[k], &nodes[3]);
    }
    assert!(before == files(&nodes[3]), "a second backfill changed the new node's files");

    // Reading across the nodes: every metric, from the node that owns it now, is the whole unbroken hour.
    for i in 0..METRICS {
        let owner = if old_of.contains_key(&i) { 3 } else { (0..3).find(|&k| has_file(&nodes[k], &name(i))).unwrap() };
        let got = render(&nodes[owner], &name(i), t0);
        let want: Vec<Option<f64>> = (0..MINUTES).map(|k| Some(value(i, k))).collect();
        assert_eq!(got, want, "{} on node {owner}", name(i));
    }

    // The last step: remove the moved metrics' old copies; then a real graphite-web whose CLUSTER_SERVERS are
    // the four nodes (and whose own tree is empty) renders every metric, whole, from the cluster.
    for (&i, &k) in &old_of {
        std::fs::remove_file(warren::metric::file_path(nodes[k].dir.path(), &name(i))).unwrap();
    }
    let servers: Vec<String> = nodes.iter().map(|n| format!("'{}'", n.engine.query.http_addr().unwrap())).collect();
    let empty = tempfile::tempdir().unwrap();
    let carbonlink = nodes[0].engine.query.carbonlink_addr().expect("carbonlink on");
    let settings = format!(
        "CLUSTER_SERVERS = [{}]\nSTORAGE_FINDERS = ('graphite.finders.remote.RemoteFinder', \
         'graphite.finders.standard.StandardFinder')",
        servers.join(", ")
    );
    let gw = GraphiteWeb::start_with(empty.path(), carbonlink, &settings);
    let window = format!("from={}&until={}", t0 - 1, t0 + (MINUTES - 1) * 60);
    let v = gw.json(&format!("/render/?target=backfill.*.cpu&{window}&format=json"));
    let series = v.as_array().unwrap();
    assert_eq!(
        series.len(),
        METRICS,
        "graphite-web finds every metric once: {}",
        &v.to_string()[..v.to_string().len().min(600)]
    );
    for s in series {
        let target = s["target"].as_str().unwrap();
        let i: usize = target.trim_start_matches("backfill.host").trim_end_matches(".cpu").parse().unwrap();
        let points = s["datapoints"].as_array().unwrap();
        let got: Vec<Option<f64>> =
            (0..MINUTES).map(|k| points.iter().find(|d| d[1] == t0 + k * 60).and_then(|d| d[0].as_f64())).collect();
        let want: Vec<Option<f64>> = (0..MINUTES).map(|k| Some(value(i, k))).collect();
        assert_eq!(got, want, "graphite-web's {target}");
    }
    drop(gw);

    for n in nodes {
        n.engine.stop().unwrap();
    }
}

/// Pattern mode, no broker needed: the metrics of the old tree that the new node's patterns match are owned; one
/// the new node already has is filled (its own points kept), one it lacks is copied whole, one it does not own is
/// left alone, and the old tree is not modified.
#[test]
fn pattern_backfill_fills_what_exists_and_copies_what_is_missing() {
    use warren::whisper::{CreateMode, CreateOptions, OpenOptions, Point, UpdateScratch, WhisperFile};
    let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let t = now() / 60 * 60;
    let create = |dir: &std::path::Path, metric: &str, minutes: std::ops::Range<u32>, v: f64| {
        let path = warren::metric::file_path(dir, metric);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let opts = CreateOptions { mode: CreateMode::Sparse, ..CreateOptions::default() };
        let mut wf = WhisperFile::create(&path, &MINUTE_FILES.archives(metric), &opts, OpenOptions::default()).unwrap();
        let mut points: Vec<Point> =
            minutes.map(|k| Point { timestamp: t - k * 60, value: v + f64::from(k) }).collect();
        wf.update_many(&mut points, t, &mut UpdateScratch::default()).unwrap();
    };
    create(old.path(), "web.a", 0..60, 100.0);
    create(old.path(), "web.b", 0..60, 200.0);
    create(old.path(), "db.c", 0..60, 300.0);
    // The new node's own recent points for web.a: different values, which must survive.
    create(new.path(), "web.a", 0..10, 1000.0);
    // A dot-directory (warren's state dir) is not walked.
    std::fs::create_dir_all(old.path().join(".warren")).unwrap();
    let old_before = |m: &str| std::fs::read(warren::metric::file_path(old.path(), m)).unwrap();
    let (a0, b0, c0) = (old_before("web.a"), old_before("web.b"), old_before("db.c"));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["cluster", "backfill", "--pattern", "web.#", "--from"])
        .arg(old.path())
        .arg("--to")
        .arg(new.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("2 metrics owned: 1 filled"), "{text}");
    assert!(text.contains("1 copied whole"), "{text}");

    let fetch = |dir: &std::path::Path, m: &str| {
        let f = WhisperFile::open_read_only(&warren::metric::file_path(dir, m)).unwrap();
        let r = f.fetch(i64::from(t - 60 * 60), Some(i64::from(t)), i64::from(t), None).unwrap().unwrap();
        r.values
    };
    // web.a: the fifty older minutes filled from the old node, the new node's own ten kept, including the oldest
    // one at the gap's edge, which whisper-fill alone replaces with the old node's value (its window reaches one
    // step into the known values): backfill puts the node's own point back.
    let want: Vec<Option<f64>> =
        (0..60).rev().map(|k| Some(if k < 10 { 1000.0 } else { 100.0 } + f64::from(k))).collect();
    assert_eq!(fetch(new.path(), "web.a"), want);
    assert_eq!(std::fs::read(warren::metric::file_path(new.path(), "web.b")).unwrap(), b0, "web.b copied whole");
    assert!(!warren::metric::file_path(new.path(), "db.c").exists(), "db.c is not the new node's");
    assert_eq!((old_before("web.a"), old_before("web.b"), old_before("db.c")), (a0, b0, c0), "old tree unchanged");
    // No temporary copies left behind.
    let leftovers: Vec<_> =
        std::fs::read_dir(new.path().join("web")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}
