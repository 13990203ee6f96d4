//! No confirmed point is lost when RabbitMQ itself restarts mid-stream (durable queue, persistent messages):
//! the workers reconnect with back-off and the publisher republishes what was not confirmed.
//! The broker is a private node started by the test (the machine's shared broker is never restarted).

mod common;

use common::private_broker::PrivateBroker;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

const METRICS: usize = 20;
/// The stream goes on until the restarts are over (plus a tail), at most this many rounds.
const MAX_ROUNDS: usize = 2000;
/// Rounds published after the last restart.
const TAIL: usize = 20;

fn value(m: usize, round: usize) -> f64 {
    (m * 1000 + round) as f64 - 0.5
}

/// Publish one round until the broker confirms all of it, reconnecting across broker restarts.
fn publish_round(p: &mut Option<Publisher>, url: &str, ex: &str, q: &str, round: usize, t: u32) {
    let msgs: Vec<_> =
        (0..METRICS).map(|m| (format!("br.m{m:02}"), format!("{} {t}", value(m, round)).into_bytes())).collect();
    publish_confirmed(p, &mut 0, &[url.to_string()], ex, q, &["#"], &msgs);
}

#[test]
fn broker_restarts_mid_stream_lose_no_confirmed_point() {
    let broker = PrivateBroker::start();
    let url = broker.url();
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    drop(Publisher::new(&url, &ex, &q, &["#"]));
    let engine = Engine::start(&settings(dir.path(), &url, &ex, &q, &["#"]), Box::new(DefaultRules)).unwrap();
    let base = now() / 60 * 60 - (MAX_ROUNDS as u32 + 60) * 60;
    let stop = Arc::new(AtomicBool::new(false));
    let rounds_done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let publisher = {
        let (url, ex, q, stop, rounds_done) = (url.clone(), ex.clone(), q.clone(), stop.clone(), rounds_done.clone());
        std::thread::spawn(move || {
            let mut p = None;
            for round in 0..MAX_ROUNDS {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                publish_round(&mut p, &url, &ex, &q, round, base + round as u32 * 60);
                rounds_done.store(round + 1, Ordering::Release);
                std::thread::sleep(Duration::from_millis(40));
            }
        })
    };
    let mut confirmed_at_restart = Vec::new();
    for restart in 0..3u64 {
        std::thread::sleep(Duration::from_millis(700));
        // Both workers are connected (again) before each restart, so each restart costs each one reconnect.
        let want = 2 * (restart + 1);
        assert!(
            wait_until(60, || engine.stats.connects.load(Ordering::Relaxed) == want),
            "connects {} before restart {restart}, want {want}",
            engine.stats.connects.load(Ordering::Relaxed)
        );
        confirmed_at_restart.push(rounds_done.load(Ordering::Acquire));
        broker.restart_app();
    }
    let after = rounds_done.load(Ordering::Acquire);
    assert!(wait_until(60, || rounds_done.load(Ordering::Acquire) >= after + TAIL), "the stream goes on");
    stop.store(true, Ordering::Release);
    publisher.join().unwrap();
    let rounds = rounds_done.load(Ordering::Acquire);
    assert!(rounds < MAX_ROUNDS, "the stream outlasted the restarts");
    assert!(
        confirmed_at_restart.iter().all(|&r| 0 < r && r < rounds),
        "restarts mid-stream (confirmed rounds at each): {confirmed_at_restart:?} of {rounds}"
    );
    assert!(
        wait_until(120, || broker.queue_counts(&q) == (0, 0)),
        "the queue drains after broker restarts: {:?}",
        broker.queue_counts(&q)
    );
    assert!(wait_until(10, || engine.stats.connects.load(Ordering::Relaxed) == 8));
    assert_eq!(engine.stats.connects.load(Ordering::Relaxed), 8, "each worker reconnected once per restart");
    // Exactly the published points, each with its value: none lost, none extra or misplaced.
    for m in 0..METRICS {
        let got = python_fetch(dir.path(), &format!("br.m{m:02}"), (MAX_ROUNDS as u32 + 120) * 60);
        let want: Vec<(u32, f64)> = (0..rounds).map(|r| (base + r as u32 * 60, value(m, r))).collect();
        assert_eq!(got, want, "br.m{m:02} after restarts at rounds {confirmed_at_restart:?}");
    }
    engine.stop().unwrap();
    // The private node and everything on it go with `broker`.
}
