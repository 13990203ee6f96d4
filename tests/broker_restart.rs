//! No confirmed point is lost when RabbitMQ itself restarts mid-stream (durable queue, persistent messages):
//! the workers reconnect with back-off and the publisher republishes what was not confirmed.
//! Alone in its test binary because restarting the broker drops every connection on it.

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

const METRICS: usize = 20;
const ROUNDS: usize = 120;

fn value(m: usize, round: usize) -> f64 {
    (m * 1000 + round) as f64 - 0.5
}

/// Publish one round until the broker confirms all of it, reconnecting across broker restarts.
fn publish_round(p: &mut Option<Publisher>, url: &str, ex: &str, q: &str, round: usize, t: u32) {
    loop {
        if p.is_none() {
            *p = std::panic::catch_unwind(|| Publisher::new(url, ex, q, &["#"])).ok();
            if p.is_none() {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        }
        let msgs: Vec<_> =
            (0..METRICS).map(|m| (format!("br.m{m:02}"), format!("{} {t}", value(m, round)).into_bytes())).collect();
        let pubr = p.as_ref().expect("connected above");
        // A broker restart makes the publisher's calls fail (it panics in the helper): reconnect and resend the
        // whole round; rewriting the same points is idempotent.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pubr.publish_all(msgs))).is_ok() {
            return;
        }
        *p = None;
    }
}

#[test]
fn broker_restarts_mid_stream_lose_no_confirmed_point() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    drop(Publisher::new(BROKER, &ex, &q, &["#"]));
    let engine = Engine::start(&settings(dir.path(), BROKER, &ex, &q, &["#"]), Box::new(DefaultRules)).unwrap();
    let base = now() / 60 * 60 - 3 * 3600;
    let done = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (ex, q, done) = (ex.clone(), q.clone(), done.clone());
        std::thread::spawn(move || {
            let mut p = None;
            for round in 0..ROUNDS {
                publish_round(&mut p, BROKER, &ex, &q, round, base + round as u32 * 60);
                std::thread::sleep(Duration::from_millis(40));
            }
            done.store(true, Ordering::Release);
        })
    };
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        rabbitmqctl(&["-q", "stop_app"]);
        rabbitmqctl(&["-q", "start_app"]);
        rabbitmqctl(&["-q", "await_startup"]);
    }
    publisher.join().unwrap();
    assert!(done.load(Ordering::Acquire));
    assert!(
        wait_until(120, || queue_counts("/", &q) == (0, 0)),
        "the queue drains after broker restarts: {:?}",
        queue_counts("/", &q)
    );
    assert!(engine.stats.connects.load(Ordering::Relaxed) >= 2 * 4, "each worker reconnected after each restart");
    let mut lost = 0;
    for m in 0..METRICS {
        let got = python_fetch(dir.path(), &format!("br.m{m:02}"), 4 * 3600);
        let want: Vec<(u32, f64)> = (0..ROUNDS).map(|r| (base + r as u32 * 60, value(m, r))).collect();
        if got != want {
            lost += want.iter().filter(|w| !got.contains(w)).count();
        }
    }
    assert_eq!(lost, 0, "confirmed points lost across broker restarts");
    engine.stop().unwrap();
    let p = Publisher::new(BROKER, &ex, &q, &["#"]);
    p.delete(&q);
}
