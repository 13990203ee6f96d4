//! Ack-after-persist and reconnects, against the real RabbitMQ. Each test runs in a vhost of its own so it can
//! count its queue's unacked messages and close its connections without touching anyone else's.

mod common;

use common::*;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

fn aligned_points(n: u32) -> Vec<(u32, f64)> {
    let end = now() / 60 * 60 - 60;
    (0..n).map(|i| (end - (n - 1 - i) * 60, i as f64 * 1.5)).collect()
}

#[test]
fn ack_waits_until_points_are_on_disk() {
    let vhost = Vhost::new();
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let publisher = Publisher::new(&url, &ex, &q, &["#"]);
    let engine = Engine::start(&settings(dir.path(), &url, &ex, &q, &["#"]), Box::new(DefaultRules)).unwrap();
    engine.hold_writes.store(true, Ordering::Release);
    let pts = aligned_points(20);
    for (i, (t, v)) in pts.iter().enumerate() {
        publisher.publish(&format!("held.m{}", i % 4), format!("{v} {t}").as_bytes());
    }
    assert!(wait_until(20, || engine.stats.points_received.load(Ordering::Relaxed) == 20));
    // Every message was delivered and parsed, none is on disk, so none may be acked.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(queue_counts(&vhost.0, &q), (0, 20), "(ready, unacked) while writes are held");
    assert!(!warren::metric::file_path(dir.path(), "held.m0").exists());
    engine.hold_writes.store(false, Ordering::Release);
    assert!(wait_until(20, || queue_counts(&vhost.0, &q) == (0, 0)), "acked once written");
    for m in 0..4 {
        let want: Vec<_> = pts.iter().enumerate().filter(|(i, _)| i % 4 == m).map(|(_, p)| *p).collect();
        assert_eq!(python_fetch(dir.path(), &format!("held.m{m}"), 7200), want);
    }
    engine.stop().unwrap();
}

#[test]
fn a_killed_broker_connection_reconnects_and_loses_nothing() {
    let vhost = Vhost::new();
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let engine = Engine::start(&settings(dir.path(), &url, &ex, &q, &["#"]), Box::new(DefaultRules)).unwrap();
    let pts = aligned_points(60);
    let metrics = 10;
    for round in 0..3 {
        // Publish a third, then kill every connection of the vhost (the engine's workers and the publisher).
        let publisher = Publisher::new(&url, &ex, &q, &["#"]);
        let third = &pts[round * 20..(round + 1) * 20];
        publisher.publish_all(
            third
                .iter()
                .flat_map(|(t, v)| (0..metrics).map(move |m| (format!("rc.m{m}"), format!("{v} {t}").into_bytes()))),
        );
        std::thread::sleep(std::time::Duration::from_millis(100 * round as u64));
        // Both workers are connected (again) before each kill, so each kill costs each worker one reconnect.
        let want = 2 * (round as u64 + 1);
        assert!(
            wait_until(30, || engine.stats.connects.load(Ordering::Relaxed) == want),
            "connects {} before kill {round}, want {want}",
            engine.stats.connects.load(Ordering::Relaxed)
        );
        rabbitmqctl(&["-q", "close_all_connections", "-p", &vhost.0, "test: kill connections mid-stream"]);
        drop(publisher);
    }
    assert!(
        wait_until(60, || queue_counts(&vhost.0, &q) == (0, 0)),
        "the queue drains after reconnects: {:?}",
        queue_counts(&vhost.0, &q)
    );
    for m in 0..metrics {
        assert_eq!(python_fetch(dir.path(), &format!("rc.m{m}"), 7200), pts, "rc.m{m}");
    }
    // 2 workers × (first connection + one reconnect after each of the 3 kills).
    assert!(wait_until(10, || engine.stats.connects.load(Ordering::Relaxed) == 8));
    assert_eq!(engine.stats.connects.load(Ordering::Relaxed), 8, "each worker reconnected once per kill");
    engine.stop().unwrap();
}

/// A backlog of `n` one-point deliveries (300 metrics) published before warren starts, drained with `[amqp]
/// ack_interval_ms = interval_ms`: (ack frames, time from start to the last ack, workers, prefetch).
fn drain_backlog(n: u32, interval_ms: u64) -> (u64, Duration, u64, u64) {
    let vhost = Vhost::new();
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let publisher = Publisher::new(&url, &ex, &q, &["#"]);
    let pts = aligned_points(n / 300);
    publisher.publish_all((0..n).map(|i| {
        let (t, v) = pts[(i / 300) as usize];
        (format!("paced.m{}", i % 300), format!("{v} {t}").into_bytes())
    }));
    assert_eq!(queue_counts(&vhost.0, &q), (u64::from(n), 0), "the backlog is in the queue before warren starts");
    let mut s = settings(dir.path(), &url, &ex, &q, &["#"]);
    s.amqp.ack_interval_ms = interval_ms;
    let started = Instant::now();
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    assert!(wait_until(60, || engine.stats.acked.load(Ordering::Relaxed) == u64::from(n)));
    let elapsed = started.elapsed();
    let frames = engine.stats.ack_frames.load(Ordering::Relaxed);
    assert_eq!(engine.stats.committed_points.load(Ordering::Relaxed), u64::from(n));
    assert_eq!(engine.stats.acked_singly.load(Ordering::Relaxed), 0);
    assert!(wait_until(20, || queue_counts(&vhost.0, &q) == (0, 0)));
    assert_eq!(python_fetch(dir.path(), "paced.m7", 7200), pts);
    engine.stop().unwrap();
    (frames, elapsed, s.amqp.workers as u64, u64::from(s.amqp.prefetch))
}

/// Acks are paced: a worker sends a multiple ack when a quarter of its prefetch window is finished at the
/// front, or when its front is finished and its window nearly full, or `ack_interval_ms` after its last ack,
/// never one frame per writer turn. A drained backlog is settled in at most one frame per interval per worker
/// plus one per quarter window; acking at once (interval 0, the negative control) takes more frames.
#[test]
fn a_drained_backlog_is_acked_in_few_frames() {
    const N: u32 = 6000;
    // A long interval keeps the paced count small however slow the machine (a few frames: one quarter-window
    // ack and one timed ack per worker), so the control below stays well above it.
    let (frames, elapsed, workers, prefetch) = drain_backlog(N, 1000);
    let by_time = workers * (elapsed.as_millis() as u64 / 1000 + 1);
    let by_batch = u64::from(N) / (prefetch / 4);
    assert!(frames >= 1 && frames <= by_time + by_batch, "{frames} ack frames for {N} deliveries in {elapsed:?}");
    let (at_once, elapsed_at_once, ..) = drain_backlog(N, 0);
    println!("paced: {frames} frames in {elapsed:?}; at once: {at_once} in {elapsed_at_once:?}");
    assert!(
        at_once > frames,
        "acking at once: {at_once} frames in {elapsed_at_once:?}, paced: {frames} in {elapsed:?}"
    );
}

/// A trickle of one-point deliveries (each published alone, its confirm awaited) through warren with `linger_us`
/// for the workers, their connections' readers and the writer, then one last lone delivery once the rest is
/// acked: returns (worker pauses, reader pauses, writer pauses). Every point is checked on disk and every
/// delivery acked either way.
fn trickle(linger_us: u64) -> (u64, u64, u64) {
    const N: u32 = 100;
    let mut rig = Rig::new();
    rig.settings.amqp.linger_us = linger_us;
    rig.settings.cache.linger_us = linger_us;
    let (publisher, vhost, q, dir) = (&rig.publisher, &rig.vhost, &rig.q, &rig.dir);
    let engine = Engine::start(&rig.settings, Box::new(DefaultRules)).unwrap();
    assert!(wait_until(20, || engine.stats.workers_consuming.load(Ordering::Relaxed) == 2));
    let pts = aligned_points(N / 4 + 1);
    for i in 0..N {
        let (t, v) = pts[(i / 4) as usize];
        publisher.publish(&format!("linger.m{}", i % 4), format!("{v} {t}").as_bytes());
    }
    assert!(wait_until(30, || engine.stats.acked.load(Ordering::Relaxed) == u64::from(N)));
    // Alone on the queue, this one is a burst of one for its worker and a turn of one batch for the writer.
    let (t, v) = pts[(N / 4) as usize];
    publisher.publish("linger.m0", format!("{v} {t}").as_bytes());
    assert!(wait_until(30, || engine.stats.acked.load(Ordering::Relaxed) == u64::from(N) + 1));
    assert!(wait_until(20, || queue_counts(&vhost.0, q) == (0, 0)));
    assert_eq!(engine.stats.committed_points.load(Ordering::Relaxed), u64::from(N) + 1);
    assert_eq!(python_fetch(dir.path(), "linger.m0", 7200), pts, "linger.m0 has every point, the lone one too");
    assert_eq!(python_fetch(dir.path(), "linger.m3", 7200), pts[..(N / 4) as usize]);
    let s = &engine.stats;
    let pauses = (
        s.worker_lingers.load(Ordering::Relaxed),
        s.reader_lingers.load(Ordering::Relaxed),
        s.writer_lingers.load(Ordering::Relaxed),
    );
    engine.stop().unwrap();
    pauses
}

/// `linger_us`: after a light burst a worker pauses before taking the next, so does its connection's reader
/// after a light read, and the writer after a light turn, so a trickle is read, handed on and written in
/// batches (see docs/ARCHITECTURE.md "Lingering"); nothing waits for company: the last lone delivery is
/// written and acked. With 0 (the control) none ever pauses.
#[test]
fn a_trickle_is_taken_in_pauses_and_a_lone_delivery_still_goes_through() {
    let (worker, reader, writer) = trickle(2000);
    assert!(
        worker >= 1 && reader >= 1 && writer >= 1,
        "lingering on: worker paused {worker} times, reader {reader}, writer {writer}"
    );
    assert_eq!(trickle(0), (0, 0, 0), "lingering off: no pause");
}
