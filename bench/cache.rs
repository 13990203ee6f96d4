//! The writer's intake: points into the cache (`Cache::intern` + `Cache::push`) in body-100's shape, where every
//! message carries 100 consecutive metrics of 20,000 and each metric gets one point per 200 messages; the
//! writer takes a metric's points once it holds 100 (as a backlog drain with 2 × 10,000 messages in flight does),
//! so the cache holds ~1 M points (~50 each), beyond the CPU's caches as in the real drain.
//! Per point: one name lookup, one push (the point with its ticket slot); per taken metric, the split into
//! points to write and ticket runs. In the AMQP steady-state profile this is a quarter of
//! warren's CPU (tuning/README.md, "Acks").

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warren::cache::store::{self, Cache};
use warren::config::settings::WriteStrategy;
use warren::whisper::Point;

const METRICS: u32 = 20_000;
const PER_MSG: u32 = 100;
const HELD: u32 = 100;

fn names() -> Vec<Vec<u8>> {
    (0..METRICS).map(|i| format!("bench.host{:03}.cpu.metric{i:05}", i % 100).into_bytes()).collect()
}

fn intake(c: &mut Criterion) {
    let names = names();
    let mut cache = Cache::new(WriteStrategy::Naive);
    let (mut held, mut points, mut tickets) = (Vec::new(), Vec::new(), Vec::new());
    let mut round = 0u32;
    // One round: 200 messages of 100 points, one point for every metric; then the writer takes the 1 % of the
    // metrics whose turn it is (each is taken every 100 rounds, holding 100 points by then).
    let mut one_round = |cache: &mut Cache| {
        for msg in 0..METRICS / PER_MSG {
            for k in 0..PER_MSG {
                let i = msg * PER_MSG + k;
                let id = cache.intern(&names[i as usize]);
                cache.push(id, Point { timestamp: round * 10, value: f64::from(i) }, Some(round * 200 + msg));
            }
        }
        let turn = METRICS / HELD;
        for id in (round % HELD) * turn..(round % HELD + 1) * turn {
            cache.take(id, &mut held);
            store::split(&held, &mut points, &mut tickets);
            black_box((points.len(), tickets.len()));
            held.clear();
            points.clear();
            tickets.clear();
        }
        round += 1;
    };
    for _ in 0..HELD {
        one_round(&mut cache);
    }
    let mut group = c.benchmark_group("cache");
    group.throughput(Throughput::Elements(u64::from(METRICS)));
    group.bench_function("intake_body100_20k_metrics_round", |b| b.iter(|| one_round(&mut cache)));
    group.finish();
}

criterion_group!(benches, intake);
criterion_main!(benches);
