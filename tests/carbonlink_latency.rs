//! Measurement, not a check (ignored by default): CarbonLink cache-query latency while the engine ingests from
//! the real broker as fast as publishers can push. Run:
//! `cargo test --release --test carbonlink_latency -- --ignored --nocapture`

mod common;
mod query_support;

use common::*;
use query_support::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

const METRICS: u32 = 10_000;
const LINES_PER_MESSAGE: u32 = 500;
const SECONDS: u64 = 15;

#[test]
#[ignore]
fn cache_query_latency_under_full_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let mut s = settings(dir.path(), BROKER, &ex, &q, &["#"]);
    s.amqp.metric_name_in_body = true;
    s.amqp.ack = warren::config::settings::AckMode::OnReceive;
    s.cache.max_creates_per_minute = 0;
    drop(Publisher::new(BROKER, &ex, &q, &["#"]));
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = (0..2)
        .map(|p| {
            let (ex, q, stop) = (ex.clone(), q.clone(), stop.clone());
            std::thread::spawn(move || {
                let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
                let mut n: u32 = p * 7919;
                while !stop.load(Ordering::Relaxed) {
                    let t = now();
                    let msgs = (0..20).map(|_| {
                        let mut body = String::new();
                        for _ in 0..LINES_PER_MESSAGE {
                            n = n.wrapping_add(1);
                            body.push_str(&format!("lat.m{} {} {t}\n", n % METRICS, n % 1000));
                        }
                        ("x".to_string(), body.into_bytes())
                    });
                    publisher.publish_all(msgs);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let addr = engine.query.carbonlink_addr().unwrap();
    let frames: Vec<Vec<u8>> = python_frames(
        &(0..100)
            .map(|i| format!("{{'type': 'cache-query', 'metric': 'lat.m{}'}}", i * 97))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        5,
    );
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut c = connect(addr);
    let received0 = engine.stats.points_received.load(Ordering::Relaxed);
    let start = Instant::now();
    let mut nonempty = 0u64;
    let mut i = 0;
    while start.elapsed() < Duration::from_secs(SECONDS) {
        let t = Instant::now();
        let answer = exchange(&mut c, &frames[i % frames.len()]).expect("answered");
        hist.record(t.elapsed().as_micros().max(1) as u64).unwrap();
        nonempty += u64::from(answer.len() > 20);
        i += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let received = engine.stats.points_received.load(Ordering::Relaxed) - received0;
    stop.store(true, Ordering::Relaxed);
    for p in publishers {
        let _ = p.join();
    }
    println!(
        "cache-query over {secs:.1} s while ingesting {:.0} points/s: {} queries ({nonempty} with points), \
         p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        received as f64 / secs,
        hist.len(),
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.9),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max()
    );
    engine.stop().unwrap();
}
