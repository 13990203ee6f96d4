//! The ingest hot path, piece by piece: parsing a 1 MiB body (routing-key and name-in-body modes), handing
//! batches through a ring, and cache insert/drain. Run with `cargo bench --bench parse`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::time::Instant;
use warren::bench::load::{Load, Message};
use warren::cache::store::{self, Cache};
use warren::config::settings::WriteStrategy;
use warren::ingest::parse::parse_body;
use warren::pipe::batch::{Batch, BatchPoint, NameRef};
use warren::pipe::ring::Rings;
use warren::whisper::Point;

const MIB: usize = 1 << 20;

/// About 1 MiB of body made of the synthetic load's lines (realistic names, values and timestamps).
fn body(name_in_body: bool) -> (String, Vec<u8>) {
    // Routing-key mode: one metric's points (≈ 20 bytes a line); name in body: consecutive metrics (≈ 45 bytes).
    let (metrics, points) = if name_in_body { (20_000, 100) } else { (1, 100_000) };
    let load = Load::ending_at("servers.prod", metrics, points, 1_000_000, 10, 1_700_000_000, name_in_body);
    let mut msg = Message::default();
    load.message(0, &mut msg);
    let mut body = msg.body;
    // Cut at the last whole line within 1 MiB.
    let cut = body[..MIB.min(body.len())].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    body.truncate(cut);
    (msg.key, body)
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_body");
    for (label, nib) in [("routing_key_1MiB", false), ("name_in_body_1MiB", true)] {
        let (key, body) = body(nib);
        let lines = body.iter().filter(|&&b| b == b'\n').count();
        g.throughput(Throughput::Bytes(body.len() as u64));
        let mut out = Vec::with_capacity(lines);
        g.bench_function(label, |b| {
            b.iter(|| {
                out.clear();
                let counts =
                    parse_body(key.as_bytes(), black_box(&body), nib, 1_700_000_000, &mut out, &mut Vec::new(), |_| {});
                assert_eq!(counts.points, lines);
                black_box(&out);
            })
        });
    }
    g.finish();
}

fn batch(points: usize) -> Batch {
    Batch {
        ack: None,
        key: "servers.prod.m000001".into(),
        body: Vec::new(),
        points: vec![BatchPoint { name: NameRef::Key, timestamp: 1_700_000_000, value: 1.0 }; points],
        parts: Vec::new(),
        received: Instant::now(),
    }
}

fn ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    const N: usize = 1000;
    g.throughput(Throughput::Elements(N as u64));
    let (rings, producers) = Rings::new(1, 1024);
    let p = &producers[0];
    g.bench_function("push_pop_1000_batches_same_thread", |b| {
        b.iter_batched(
            || (0..N).map(|_| batch(100)).collect::<Vec<_>>(),
            |batches| {
                for bt in batches {
                    // Invariant: the ring (1024) holds the 1000 batches of one iteration, so push never waits.
                    p.push(bt, || false).expect("ring has room");
                }
                while let Some(bt) = rings.pop(0) {
                    black_box(bt);
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn cache(c: &mut Criterion) {
    let mut g = c.benchmark_group("cache");
    let metrics = 20_000u32;
    let per_metric = 5u32;
    let names: Vec<String> = (0..metrics).map(|m| format!("servers.prod.m{m:06}")).collect();
    g.throughput(Throughput::Elements(u64::from(metrics * per_metric)));
    g.bench_function("intern_push_then_drain_20k_metrics_x5", |b| {
        let mut cache = Cache::new(WriteStrategy::Sorted);
        // Names interned once outside the loop too: steady state is "metric seen before".
        for n in &names {
            cache.intern(n.as_bytes());
        }
        let (mut held, mut pts, mut tickets) = (Vec::new(), Vec::new(), Vec::new());
        b.iter(|| {
            for p in 0..per_metric {
                for n in &names {
                    let id = cache.intern(n.as_bytes());
                    cache.push(id, Point { timestamp: 1_700_000_000 + p * 10, value: 1.0 }, Some(p));
                }
            }
            let far = Instant::now() + std::time::Duration::from_secs(3600);
            while let Some(id) = cache.next(far) {
                cache.take(id, &mut held);
                store::split(&held, &mut pts, &mut tickets);
                black_box(&pts);
                held.clear();
                pts.clear();
                tickets.clear();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, parse, ring, cache);
criterion_main!(benches);
