//! Reload (what SIGHUP does) against the real RabbitMQ and the real engine: bind patterns change on the live
//! queue under load without losing a delivery, rule files shape only files created afterwards, and a bad rule
//! file keeps the old rules.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use warren::cache::writer::ConfRules;
use warren::config::settings::Settings;
use warren::engine::Engine;
use warren::whisper::WhisperFile;

/// Every stored (timestamp → value) of the first archive of `metric`'s file; empty when there is no file.
fn stored(dir: &Path, metric: &str) -> BTreeMap<u32, f64> {
    let path = warren::metric::file_path(dir, metric);
    let Ok(f) = WhisperFile::open_read_only(&path) else { return BTreeMap::new() };
    let a = f.header().archives[0];
    f.archive_points(&a).unwrap().into_iter().filter(|p| p.interval != 0).map(|p| (p.interval, p.value)).collect()
}

fn retention_of(dir: &Path, metric: &str) -> Vec<(u32, u32)> {
    let f = WhisperFile::open_read_only(&warren::metric::file_path(dir, metric)).unwrap();
    f.header().archives.iter().map(|a| (a.seconds_per_point, a.points)).collect()
}

fn start(s: &Settings) -> Engine {
    Engine::start(s, Box::new(ConfRules::load(s).unwrap())).unwrap()
}

/// Phases of the load, as seen by the publisher at each publish.
const BEFORE: u32 = 0;
const ADDING: u32 = 1;
const ADDED: u32 = 2;
const REMOVING: u32 = 3;
const REMOVED: u32 = 4;

#[test]
fn bind_patterns_change_under_load_without_losing_a_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("whisper");
    let schemas = dir.path().join("storage-schemas.conf");
    // One-second slots for a day: every published point keeps its own slot.
    std::fs::write(&schemas, "[all]\npattern = .*\nretentions = 1s:1d\n").unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let mut s = settings(&data, BROKER, &ex, &q, &["a.#"]);
    s.storage_schemas = Some(schemas);
    s.stats.metric_interval_secs = 0;
    // Declares the queue bound with a.# before the engine starts.
    drop(Publisher::new(BROKER, &ex, &q, &["a.#"]));
    let mut engine = start(&s);

    // The load: a.load, b.load and a.only, one point each per message, value = sequence number, published with
    // confirms; the phase that held from before the publish to the confirm is recorded per sequence number.
    let phase = Arc::new(AtomicU32::new(BEFORE));
    let stop = Arc::new(AtomicBool::new(false));
    let base = now() - 80_000;
    let load = {
        let (phase, stop, ex, q) = (phase.clone(), stop.clone(), ex.clone(), q.clone());
        std::thread::spawn(move || {
            let p = Publisher::new(BROKER, &ex, &q, &[]);
            let mut phases = Vec::new();
            let mut seq = 0u32;
            while !stop.load(Ordering::Acquire) && seq < 60_000 {
                let before = phase.load(Ordering::Acquire);
                let t = base + seq;
                let msgs = ["a.load", "b.load", "a.only"].map(|m| (m.to_string(), format!("{seq} {t}").into_bytes()));
                p.publish_all(msgs);
                let after = phase.load(Ordering::Acquire);
                phases.push(if before == after { before } else { u32::MAX });
                seq += 1;
            }
            phases
        })
    };
    let received = |e: &Engine| e.stats.points_received.load(Ordering::Relaxed);
    assert!(wait_until(30, || received(&engine) >= 300), "load flowing before the first reload");

    // Add b.#.
    phase.store(ADDING, Ordering::Release);
    let mut new = s.clone();
    new.amqp.bind_patterns = vec!["a.#".into(), "b.#".into()];
    let r = engine.reload(&new);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.bindings.as_ref().unwrap().added, vec!["b.#"]);
    assert!(r.need_restart.is_empty(), "{r:?}");
    phase.store(ADDED, Ordering::Release);
    let mark = received(&engine);
    assert!(wait_until(30, || received(&engine) >= mark + 600), "load flowing after the first reload");

    // Replace both by *.load, which still matches a.load and b.load: bound before the old ones are unbound, so
    // neither misses a point while the bindings change; a.only loses its only pattern.
    phase.store(REMOVING, Ordering::Release);
    new.amqp.bind_patterns = vec!["*.load".into()];
    let r = engine.reload(&new);
    assert!(r.ok(), "{r:?}");
    let change = r.bindings.as_ref().unwrap();
    assert_eq!(
        (change.added.clone(), change.removed.clone()),
        (vec!["*.load".into()], vec!["a.#".into(), "b.#".into()])
    );
    phase.store(REMOVED, Ordering::Release);
    let mark = received(&engine);
    assert!(wait_until(30, || received(&engine) >= mark + 400), "load flowing after the second reload");
    stop.store(true, Ordering::Release);
    let phases = load.join().unwrap();

    let points = |ph: &[u32]| -> BTreeMap<u32, f64> {
        let pick = phases.iter().enumerate().filter(|(_, p)| ph.contains(p));
        pick.map(|(seq, _)| (base + seq as u32, seq as f64)).collect()
    };
    let every: Vec<u32> = vec![BEFORE, ADDING, ADDED, REMOVING, REMOVED, u32::MAX];
    let want = [
        ("a.load", points(&every)),
        ("b.load", points(&[ADDED, REMOVING, REMOVED])),
        ("a.only", points(&[BEFORE, ADDING, ADDED])),
    ];
    assert!(want.iter().all(|(_, w)| w.len() >= 200), "{:?}", want.iter().map(|(_, w)| w.len()).collect::<Vec<_>>());
    // Everything routed is consumed and written: the queue drains, the cache empties, every point is on disk.
    let drained = || queue_counts("/", &q) == (0, 0) && engine.stats.cache_size.load(Ordering::Relaxed) == 0;
    assert!(wait_until(60, drained), "queue drained");
    // Poll, then report exactly what is missing.
    wait_until(30, || {
        want.iter().all(|(m, w)| {
            let got = stored(&data, m);
            w.iter().all(|(t, v)| got.get(t) == Some(v))
        })
    });
    for (m, w) in &want {
        let got = stored(&data, m);
        let missing = w.keys().filter(|t| !got.contains_key(t)).count();
        assert_eq!(missing, 0, "{m}: {missing} of {} points lost", w.len());
    }
    // Negative controls: b.load before b.# was bound and a.only after a.# was unbound never reached the queue.
    let (b, only) = (stored(&data, "b.load"), stored(&data, "a.only"));
    let early_b = points(&[BEFORE]);
    assert!(!early_b.is_empty() && early_b.keys().all(|t| !b.contains_key(t)), "b.load before b.# was bound");
    let late_only = points(&[REMOVED]);
    assert!(!late_only.is_empty() && late_only.keys().all(|t| !only.contains_key(t)), "a.only after a.# was unbound");
    assert_eq!(engine.settings().amqp.bind_patterns, vec!["*.load"]);
    engine.stop().unwrap();
}

#[test]
fn rule_files_shape_new_files_only_and_a_bad_file_keeps_the_old_rules() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("whisper");
    let (schemas, aggregation) = (dir.path().join("storage-schemas.conf"), dir.path().join("storage-aggregation.conf"));
    std::fs::write(&schemas, "[all]\npattern = .*\nretentions = 10s:1h\n").unwrap();
    std::fs::write(&aggregation, "[all]\npattern = .*\nxFilesFactor = 0.1\naggregationMethod = max\n").unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let mut s = settings(&data, BROKER, &ex, &q, &["#"]);
    s.storage_schemas = Some(schemas.clone());
    s.storage_aggregation = Some(aggregation.clone());
    s.stats.metric_interval_secs = 0;
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut engine = start(&s);
    let write = |metric: &str| {
        publisher.publish(metric, format!("1 {}", now() - 30).as_bytes());
        // The file's path appears when its creation starts (header first, then the data area, as whisper.create
        // does): wait until it opens as a whole whisper file, not merely until it exists.
        let path = warren::metric::file_path(&data, metric);
        assert!(wait_until(20, || WhisperFile::open_read_only(&path).is_ok()), "{metric} created");
    };
    write("rules.first");
    assert_eq!(retention_of(&data, "rules.first"), vec![(10, 360)]);

    // A schema file with a bad retention: the reload reports it, and new files keep the old rules.
    std::fs::write(&schemas, "[all]\npattern = .*\nretentions = 10x:1d\n").unwrap();
    let r = engine.reload(&s);
    let e = r.rules.as_ref().unwrap_err().to_string();
    assert!(e.contains("storage-schemas.conf line 3") && e.contains("10x:1d"), "{e}");
    assert!(r.bindings.is_ok());
    write("rules.second");
    assert_eq!(retention_of(&data, "rules.second"), vec![(10, 360)]);
    // Likewise a bad aggregation file (an unknown method).
    std::fs::write(&schemas, "[all]\npattern = .*\nretentions = 60s:1d\n").unwrap();
    std::fs::write(&aggregation, "[all]\npattern = .*\naggregationMethod = median\n").unwrap();
    assert!(engine.reload(&s).rules.is_err());
    write("rules.third");
    assert_eq!(
        retention_of(&data, "rules.third"),
        vec![(10, 360)],
        "the schema half of a failed reload is not applied"
    );

    // Good files: new files follow them, existing files keep their archives.
    std::fs::write(&aggregation, "[all]\npattern = .*\nxFilesFactor = 0.3\naggregationMethod = min\n").unwrap();
    let r = engine.reload(&s);
    assert!(r.ok(), "{r:?}");
    write("rules.fourth");
    assert_eq!(retention_of(&data, "rules.fourth"), vec![(60, 1440)]);
    let h = WhisperFile::open_read_only(&warren::metric::file_path(&data, "rules.fourth")).unwrap().header().clone();
    assert_eq!((h.aggregation.name(), h.x_files_factor), ("min", 0.3));
    assert_eq!(retention_of(&data, "rules.first"), vec![(10, 360)]);
    engine.stop().unwrap();
}

#[test]
fn filter_rules_change_on_reload_and_a_bad_rule_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("whisper");
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let mut s = settings(&data, BROKER, &ex, &q, &["#"]);
    s.stats.metric_interval_secs = 0;
    s.filter.use_whitelist = true;
    s.filter.blacklist = vec!["^blocked\\.".into()];
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut engine = start(&s);
    let blacklisted = |e: &Engine| e.stats.blacklist_matches.load(Ordering::Relaxed);
    let send = |metric: &str| publisher.publish(metric, format!("1 {}", now() - 30).as_bytes());
    let exists = |metric: &str| warren::metric::file_path(&data, metric).exists();

    send("blocked.first");
    send("other.first");
    assert!(wait_until(20, || exists("other.first") && blacklisted(&engine) == 1));
    assert!(!exists("blocked.first"));

    // New rules: "other." is blacklisted instead, and a rewrite renames "old." to "new.".
    let mut new = s.clone();
    new.filter.blacklist = vec!["^other\\.".into()];
    new.filter.rewrite_pre = vec![["^old\\.".into(), "new.".into()]];
    let r = engine.reload(&new);
    assert!(r.ok(), "{r:?}");
    assert!(r.need_restart.is_empty(), "{r:?}");
    send("blocked.second");
    send("other.second");
    send("old.third");
    assert!(wait_until(20, || exists("blocked.second") && exists("new.third") && blacklisted(&engine) == 2));
    assert!(!exists("other.second") && !exists("old.third"));

    // A rule that does not compile: the reload says so and the previous rules stay.
    let mut bad = new.clone();
    bad.filter.blacklist = vec!["(".into()];
    let r = engine.reload(&bad);
    let e = r.filter.as_ref().unwrap_err().to_string();
    assert!(e.contains("blacklist"), "{e}");
    send("other.fourth");
    send("blocked.fourth");
    assert!(wait_until(20, || exists("blocked.fourth") && blacklisted(&engine) == 3));
    assert!(!exists("other.fourth"));
    engine.stop().unwrap();
}
