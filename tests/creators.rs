//! The creator pool, against the real RabbitMQ and real files: new files are created beside the writer (which
//! keeps updating existing ones), a metric's points stay cached and unacked until its file exists, and creates
//! follow the write order within `max_creates_per_minute`. Each test runs in a vhost of its own so it can count
//! its queue's unacked messages.

mod common;

use common::*;
use std::sync::atomic::Ordering;
use std::time::Duration;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;
use warren::metric::file_path;
use warren::whisper::{ArchiveSpec, CreateOptions, OpenOptions, WhisperFile};

/// Holds the creator pool's creates until dropped. Declared after the engine, it is dropped first: a failing
/// assertion releases the hold before the engine's drop flushes (which would otherwise wait for the held create
/// forever and hang the test instead of failing it).
struct HeldCreates(warren::cache::creators::HoldCreates);

impl HeldCreates {
    fn new(engine: &Engine) -> Self {
        engine.hold_creates.store(true, Ordering::Release);
        HeldCreates(engine.hold_creates.clone())
    }
}

impl Drop for HeldCreates {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Create `metric`'s file (60s:7d) under `data_dir`, as if an earlier run had written it.
fn existing_file(data_dir: &std::path::Path, metric: &str) {
    let path = file_path(data_dir, metric);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let archives = [ArchiveSpec { seconds_per_point: 60, points: 10080 }];
    WhisperFile::create(&path, &archives, &CreateOptions::default(), OpenOptions::default()).unwrap();
}

/// Drop `metric`'s file from the page cache (written to disk first, so nothing is lost), as if the tree had fallen
/// out of memory: its next read needs the disk. The kernel may keep a page it could not drop at once (one still
/// held by the journal, say): checked with `fincore`, and tried again until none is left.
fn evict(data_dir: &std::path::Path, metric: &str) {
    let path = file_path(data_dir, metric);
    let script = format!(
        "import os\nfd = os.open({p:?}, os.O_RDONLY)\nos.fsync(fd)\nos.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)",
        p = path.display().to_string()
    );
    let evicted = wait_until(10, || {
        let out = std::process::Command::new("/usr/bin/python3").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        resident_bytes(&path) == 0
    });
    assert!(evicted, "{} keeps {} bytes in memory", path.display(), resident_bytes(&path));
}

/// Read `metric`'s whole file, so that every page of it is in memory (checked).
fn warm(data_dir: &std::path::Path, metric: &str) {
    let path = file_path(data_dir, metric);
    let len = std::fs::read(&path).unwrap().len() as u64;
    assert!(resident_bytes(&path) >= len, "{}: {} of {len} bytes in memory", path.display(), resident_bytes(&path));
}

/// The bytes of `path` in the page cache, as util-linux's `fincore` counts them (whole pages; it reads nothing).
fn resident_bytes(path: &std::path::Path) -> u64 {
    let out = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .expect("fincore (util-linux)");
    assert!(out.status.success(), "fincore: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// An engine over `data_dir` with a creator pool of two, held, and one point published (at a recent minute `t`)
/// for `waiting` (a metric whose file the pool must handle), then for `other`. Bound as `(engine, held, t)`, the
/// hold is released before the engine is dropped.
fn start_with_pool_held(
    data_dir: &std::path::Path,
    url: &str,
    ex: &str,
    q: &str,
    waiting: (&str, f64),
    other: (&str, f64),
) -> (Engine, HeldCreates, u32) {
    let publisher = Publisher::new(url, ex, q, &["#"]);
    let mut s = settings(data_dir, url, ex, q, &["#"]);
    s.whisper.creators = Some(2);
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let held = HeldCreates::new(&engine);
    let t = recent(2);
    for (metric, value) in [waiting, other] {
        publisher.publish(metric, format!("{value} {t}").as_bytes());
    }
    (engine, held, t)
}

/// A minute-aligned timestamp a few minutes back (inside the default 60s:7d retention).
fn recent(minutes_back: u32) -> u32 {
    now() / 60 * 60 - 60 * minutes_back
}

#[test]
fn existing_files_are_updated_while_a_new_one_waits_for_its_creator() {
    let vhost = Vhost::new();
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    existing_file(dir.path(), "cr.old");

    let (engine, held, t) = start_with_pool_held(dir.path(), &url, &ex, &q, ("cr.new", 7.0), ("cr.old", 5.0));

    // The existing file is written while the new file's create is held.
    assert!(wait_until(30, || engine.stats.committed_points.load(Ordering::Relaxed) == 1));
    assert_eq!(python_fetch(dir.path(), "cr.old", 3600), vec![(t, 5.0)]);
    // cr.new's message is not acked (cr.old's may wait behind it: a worker acks the finished prefix).
    let (ready, unacked) = queue_counts(&vhost.0, &q);
    assert!(ready == 0 && unacked >= 1, "({ready}, {unacked})");
    // Negative control: the new metric has no file, and its point is still in the cache.
    assert!(!file_path(dir.path(), "cr.new").exists());
    let cached = engine.cache.points(vec!["cr.new".into()], Duration::from_secs(5)).unwrap();
    assert_eq!(cached, vec![vec![(t, 7.0)]]);

    drop(held);
    assert!(wait_until(30, || queue_counts(&vhost.0, &q) == (0, 0)), "acked once its file exists");
    assert_eq!(python_fetch(dir.path(), "cr.new", 3600), vec![(t, 7.0)]);
    assert_eq!(engine.stats.creates.load(Ordering::Relaxed), 1);
    engine.stop().unwrap();
}

#[test]
fn a_file_out_of_memory_is_read_in_by_the_pool_while_the_writer_goes_on() {
    let vhost = Vhost::new();
    let url = vhost.url();
    // On the build's disk: a tmpfs /tmp would keep the pages (they are the file).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    existing_file(dir.path(), "cold.a");
    existing_file(dir.path(), "warm.b");
    evict(dir.path(), "cold.a");
    warm(dir.path(), "warm.b");

    let (engine, held, t) = start_with_pool_held(dir.path(), &url, &ex, &q, ("cold.a", 3.0), ("warm.b", 4.0));

    // The file in memory is written while the pool (held) has the other one to read in.
    let counts = || {
        let s = &engine.stats;
        (s.committed_points.load(Ordering::Relaxed), s.cold_opens.load(Ordering::Relaxed))
    };
    assert!(wait_until(30, || counts() == (1, 1)), "(committed points, cold opens) = {:?}", counts());
    assert_eq!(python_fetch(dir.path(), "warm.b", 3600), vec![(t, 4.0)]);
    let cached = engine.cache.points(vec!["cold.a".into()], Duration::from_secs(5)).unwrap();
    assert_eq!(cached, vec![vec![(t, 3.0)]], "its point waits in the cache");

    drop(held);
    assert!(wait_until(30, || engine.stats.committed_points.load(Ordering::Relaxed) == 2));
    assert!(wait_until(30, || queue_counts(&vhost.0, &q) == (0, 0)), "both acked");
    assert_eq!(python_fetch(dir.path(), "cold.a", 3600), vec![(t, 3.0)]);
    assert_eq!(engine.stats.creates.load(Ordering::Relaxed), 0, "opened, not created");
    engine.stop().unwrap();
}

#[test]
fn creates_follow_the_write_order_within_the_rate_limit_and_the_rest_wait_in_the_cache() {
    let vhost = Vhost::new();
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let publisher = Publisher::new(&url, &ex, &q, &["#"]);
    let mut s = settings(dir.path(), &url, &ex, &q, &["#"]);
    // One worker: one ring, so the writer meets the metrics in publish order (naive strategy).
    s.amqp.workers = 1;
    s.whisper.creators = Some(2);
    // A burst of 2, then one token per 30 s: far longer than this test's first phase.
    s.cache.max_creates_per_minute = 2;
    let t = recent(3);
    let names: Vec<String> = (0..8).map(|i| format!("order.m{i}")).collect();
    publisher.publish_all(names.iter().enumerate().map(|(i, n)| (n.clone(), format!("{i} {t}").into_bytes())));
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();

    // Every metric past the first two was tried and refused by the limit.
    assert!(wait_until(30, || engine.stats.dropped_creates.load(Ordering::Relaxed) >= 6));
    assert!(wait_until(30, || queue_counts(&vhost.0, &q) == (0, 6)), "{:?}", queue_counts(&vhost.0, &q));
    assert_eq!(engine.stats.creates.load(Ordering::Relaxed), 2);
    for (i, n) in names.iter().enumerate() {
        assert_eq!(file_path(dir.path(), n).exists(), i < 2, "{n}: only the first two in order have a file");
    }
    assert_eq!(python_fetch(dir.path(), "order.m1", 3600), vec![(t, 1.0)]);
    let cached = engine.cache.points(names[2..].to_vec(), Duration::from_secs(5)).unwrap();
    assert_eq!(cached, (2..8).map(|i| vec![(t, f64::from(i))]).collect::<Vec<_>>());

    // Shutdown writes everything, past the limit, through the pool.
    engine.stop().unwrap();
    assert_eq!(queue_counts(&vhost.0, &q), (0, 0));
    for (i, n) in names.iter().enumerate() {
        assert_eq!(python_fetch(dir.path(), n, 3600), vec![(t, i as f64)], "{n}");
    }
}

#[test]
fn more_metrics_than_the_descriptor_budget_are_written_exactly() {
    let mapped = budget_passes("budget", 64, 3, false);
    assert_eq!(mapped, 0, "mmap = false maps nothing");
}

#[test]
fn more_metrics_than_the_mapping_budget_are_written_exactly() {
    // 64 descriptors and 64 mappings for 150 files: both lists evict, files move from one to the other.
    let mapped = budget_passes("mapbudget", 64, 5, true);
    assert!(mapped > 0);
}

#[test]
fn a_file_is_mapped_on_its_third_update_while_open() {
    // Every file stays open: each is mapped once, at its third pass (the first opens or creates it, the first
    // two write through its descriptor).
    assert_eq!(budget_passes("mapthird", 1000, 3, true), 150);
    // The control: two passes map nothing.
    assert_eq!(budget_passes("mapsecond", 1000, 2, true), 0);
}

/// 150 metrics written in `passes` passes (each one written before the next is published) with `open_files`
/// files kept open (descriptors, and as many mappings with `mmap`): every point lands. Returns the files mapped.
fn budget_passes(prefix: &str, open_files: usize, passes: u32, mmap: bool) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut s = settings(dir.path(), BROKER, &ex, &q, &["#"]);
    s.cache.open_files = open_files;
    s.whisper.mmap = mmap;
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let metrics = 150;
    let ts: Vec<u32> = (0..passes).map(|pass| recent(passes - pass)).collect();
    for pass in 0..passes {
        let t = ts[pass as usize];
        publisher.publish_all(
            (0..metrics).map(|m| (format!("{prefix}.m{m}"), format!("{} {t}", m * 10 + pass).into_bytes())),
        );
        let total = u64::from(metrics * (pass + 1));
        assert!(wait_until(60, || engine.stats.committed_points.load(Ordering::Relaxed) == total));
    }
    let mapped = engine.stats.files_mapped.load(Ordering::Relaxed);
    engine.stop().unwrap();
    for m in 0..metrics {
        let want: Vec<(u32, f64)> = (0..passes).map(|pass| (ts[pass as usize], f64::from(m * 10 + pass))).collect();
        assert_eq!(python_fetch(dir.path(), &format!("{prefix}.m{m}"), 3600), want, "{prefix}.m{m}");
    }
    mapped
}

#[test]
fn a_delivery_stuck_on_its_create_does_not_hold_the_prefetch_window_for_the_rest() {
    let vhost = Vhost::new();
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    existing_file(dir.path(), "st.old");

    let publisher = Publisher::new(&url, &ex, &q, &["#"]);
    let mut s = settings(dir.path(), &url, &ex, &q, &["#"]);
    s.amqp.workers = 1;
    s.amqp.prefetch = 10;
    s.whisper.creators = Some(2);
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let held = HeldCreates::new(&engine);
    // The first delivery waits for its file; 40 behind it go to the existing file. With 10 in flight, the 40
    // get through only if the finished ones behind the stuck front are acked one by one.
    let t = recent(50);
    publisher.publish("st.new", format!("7 {t}").as_bytes());
    publisher.publish_all((0..40u32).map(|i| ("st.old".to_string(), format!("{i} {}", t + 60 * i).into_bytes())));

    assert!(wait_until(60, || queue_counts(&vhost.0, &q) == (0, 1)), "{:?}", queue_counts(&vhost.0, &q));
    assert_eq!(engine.stats.deliveries.load(Ordering::Relaxed), 41);
    assert_eq!(engine.stats.committed_points.load(Ordering::Relaxed), 40);
    assert_eq!(engine.stats.acked_singly.load(Ordering::Relaxed), 40);
    assert_eq!(engine.stats.acked.load(Ordering::Relaxed), 40);
    let want: Vec<(u32, f64)> = (0..40u32).map(|i| (t + 60 * i, f64::from(i))).collect();
    assert_eq!(python_fetch(dir.path(), "st.old", 3600), want);
    // Negative control: the stuck delivery itself is not acked, its point only in the cache.
    assert!(!file_path(dir.path(), "st.new").exists());

    drop(held);
    assert!(wait_until(30, || queue_counts(&vhost.0, &q) == (0, 0)), "acked once its file exists");
    assert_eq!(engine.stats.acked.load(Ordering::Relaxed), 41);
    assert_eq!(engine.stats.acked_singly.load(Ordering::Relaxed), 40, "the front itself is acked in order");
    assert_eq!(python_fetch(dir.path(), "st.new", 3600), vec![(t, 7.0)]);
    engine.stop().unwrap();
}
