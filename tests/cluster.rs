//! Scale-out without a relay: three warren instances on one broker, partitioned by bind patterns, then by the
//! consistent-hash exchange, then replicated by overlapping bindings. Every point lands in exactly the expected
//! instances' files.

mod common;

use common::*;
use warren::engine::Engine;
use warren::whisper::{OpenOptions, WhisperFile};

/// Tiny files (60 s × 120), so tens of thousands of metrics cost little disk.
const SMALL_FILES: OneArchive = OneArchive { seconds_per_point: 60, points: 120 };

fn value_of(i: usize) -> f64 {
    i as f64 * 0.5 + 1.0
}

/// One instance; on drop its engine is stopped, then (the field drops after `drop`) its queue deleted.
struct Node {
    dir: tempfile::TempDir,
    queue: String,
    patterns: Vec<String>,
    engine: Option<Engine>,
    _declared: Declared,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(e) = self.engine.take() {
            // A thread that panicked fails the test, unless it is failing already.
            if let Err(err) = e.stop() {
                assert!(std::thread::panicking(), "engine stop: {err}");
            }
        }
    }
}

/// Every binding on the broker as (source, destination, routing key).
fn bindings() -> Vec<(String, String, String)> {
    rabbitmqctl(&["-q", "list_bindings", "source_name", "destination_name", "routing_key"])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 3).then(|| (f[0].to_string(), f[1].to_string(), f[2].to_string()))
        })
        .collect()
}

/// Wait until the broker shows every binding the nodes declare: each queue bound with its patterns to `ex`, or,
/// with a hash exchange, `ex` bound to it with every pattern and each queue bound to it with weight 1.
fn wait_for_bindings(nodes: &[Node], ex: &str, hash: Option<&str>) {
    let mut want: Vec<(String, String, String)> = Vec::new();
    for n in nodes {
        match hash {
            None => want.extend(n.patterns.iter().map(|p| (ex.to_string(), n.queue.clone(), p.clone()))),
            Some(h) => {
                want.extend(n.patterns.iter().map(|p| (ex.to_string(), h.to_string(), p.clone())));
                want.push((h.to_string(), n.queue.clone(), "1".to_string()));
            }
        }
    }
    let missing = || {
        let have = bindings();
        want.iter().filter(|w| !have.contains(w)).cloned().collect::<Vec<_>>()
    };
    assert!(wait_until(60, || missing().is_empty()), "bindings never appeared: {:?}", missing());
}

/// Start three instances on `ex`, each with its own queue and data dir; `hash` = consistent-hash exchange name.
fn start_nodes(ex: &str, patterns: [&[&str]; 3], hash: Option<&str>) -> Vec<Node> {
    patterns
        .iter()
        .map(|p| {
            // tmpfs when there is one: tens of thousands of files are created and deleted per run, and
            // metadata operations on a disk mounted with `discard` take milliseconds each.
            let shm = std::path::Path::new("/dev/shm");
            let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
            let queue = unique("cluster-q");
            let declared = Declared::new(BROKER, &[], &[&queue]);
            let mut s = settings(dir.path(), BROKER, ex, &queue, p);
            s.cache.max_creates_per_minute = 0;
            // Three engines share this test process's descriptor limit.
            s.cache.open_files = 4000;
            s.amqp.workers = 1;
            s.amqp.consistent_hash_exchange = hash.map(str::to_string);
            let engine = Some(Engine::start(&s, Box::new(SMALL_FILES)).unwrap());
            Node { dir, queue, patterns: p.iter().map(|p| p.to_string()).collect(), engine, _declared: declared }
        })
        .collect()
}

/// Wait until every node's bindings are in place, publish one point per metric, wait until all queues are
/// drained and acked; returns, per metric, the nodes holding its file with the right value.
fn run(nodes: &[Node], ex: &str, hash: Option<&str>, metrics: &[String]) -> Vec<Vec<usize>> {
    wait_for_bindings(nodes, ex, hash);
    let t = now() / 60 * 60 - 120;
    let t0 = std::time::Instant::now();
    let publisher = Publisher::new(BROKER, ex, "", &[]);
    publisher
        .publish_all(metrics.iter().enumerate().map(|(i, m)| (m.clone(), format!("{} {t}", value_of(i)).into_bytes())));
    eprintln!("published {} in {:?}", metrics.len(), t0.elapsed());
    for n in nodes {
        assert!(wait_until(120, || queue_counts("/", &n.queue) == (0, 0)), "{} drained", n.queue);
    }
    eprintln!("drained in {:?}", t0.elapsed());
    let r = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (0..nodes.len())
                .filter(|&k| {
                    let path = warren::metric::file_path(nodes[k].dir.path(), m);
                    let Ok(f) = WhisperFile::open(&path, OpenOptions::default()) else { return false };
                    let r = f.fetch(t as i64 - 60, Some(t as i64), now() as i64, None).unwrap().unwrap();
                    r.values.contains(&Some(value_of(i)))
                })
                .collect()
        })
        .collect();
    eprintln!("verified in {:?}", t0.elapsed());
    r
}

/// Stop the nodes and delete their queues, then the exchanges.
fn stop(nodes: Vec<Node>, exchanges: Declared) {
    drop(nodes);
    drop(exchanges);
}

#[test]
fn three_instances_partition_by_patterns_replicate_by_overlap_and_balance_by_hash() {
    // 1. Partition by bind patterns.
    let ex = unique("cluster-ex");
    let declared = Declared::new(BROKER, &[&ex], &[]);
    let nodes = start_nodes(&ex, [&["web.#"], &["db.#"], &["cache.#", "misc.*"]], None);
    let kinds = ["web", "db", "cache", "misc"];
    let metrics: Vec<String> = (0..1200).map(|i| format!("{}.h{i}.load", kinds[i % 4])).collect();
    let holders = run(&nodes, &ex, None, &metrics);
    for (i, h) in holders.iter().enumerate() {
        let want = match i % 4 {
            0 => vec![0],
            1 => vec![1],
            2 => vec![2],
            _ => vec![], // misc.* is one word only: misc.hN.load is routed nowhere
        };
        assert_eq!(h, &want, "{}", metrics[i]);
    }
    stop(nodes, declared);

    // 2. Replication factor 2 by overlapping bindings.
    let ex = unique("cluster-ex");
    let declared = Declared::new(BROKER, &[&ex], &[]);
    let nodes = start_nodes(&ex, [&["a.#", "b.#"], &["b.#", "c.#"], &["c.#", "a.#"]], None);
    let metrics: Vec<String> = (0..900).map(|i| format!("{}.m{i}", ["a", "b", "c"][i % 3])).collect();
    let holders = run(&nodes, &ex, None, &metrics);
    for (i, h) in holders.iter().enumerate() {
        let want = match i % 3 {
            0 => vec![0, 2],
            1 => vec![0, 1],
            _ => vec![1, 2],
        };
        assert_eq!(h, &want, "{}", metrics[i]);
    }
    stop(nodes, declared);

    // 3. Consistent hash over 30k metrics, equal weights: each metric in exactly one instance, in the counts the
    //    broker's hash gives (within ±3 % of even).
    let ex = unique("cluster-ex");
    let hash_ex = unique("cluster-hash");
    let declared = Declared::new(BROKER, &[&ex, &hash_ex], &[]);
    let nodes = start_nodes(&ex, [&["#"], &["#"], &["#"]], Some(&hash_ex));
    let metrics: Vec<String> = (0..30_000).map(|i| format!("servers.host{i:05}.cpu")).collect();
    let holders = run(&nodes, &ex, Some(&hash_ex), &metrics);
    let mut per_node = [0usize; 3];
    for (i, h) in holders.iter().enumerate() {
        assert_eq!(h.len(), 1, "{} is in exactly one instance: {h:?}", metrics[i]);
        per_node[h[0]] += 1;
    }
    // The hash decides alone: the same names over three weight-1 queues of a fresh probe exchange land in the
    // same counts (in some order: bucket order follows binding order, which the three engines race for).
    let mut spread =
        warren::ingest::topology::probe_hash_spread(BROKER, &[1, 1, 1], metrics.iter().map(String::as_str))
            .expect("the broker answers the probe");
    let mut got: Vec<u64> = per_node.iter().map(|&n| n as u64).collect();
    spread.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, spread, "per-node counts {per_node:?} are what the broker's hash gives");
    for n in per_node {
        let dev = (n as f64 - 10_000.0).abs() / 10_000.0;
        assert!(dev <= 0.03, "hash balance {per_node:?}");
    }
    println!("consistent-hash balance over 30000 metrics: {per_node:?}");
    stop(nodes, declared);
}
