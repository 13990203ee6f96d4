//! Pickle receiver hot path: decode_points on a frame shaped like Python 3's `pickle.dumps(points, protocol=5)`
//! (SHORT_BINUNICODE + MEMOIZE per name, TUPLE2 + MEMOIZE per tuple, APPENDS every 1000), and the CarbonLink
//! response encoder.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warren::pickle::{encode_datapoints, Decoder, Limits};

/// A protocol-5 style frame of `n` points with distinct 30-byte names.
fn frame(n: usize) -> Vec<u8> {
    let mut body = vec![b']', 0x94];
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        body.push(b'(');
        for &i in chunk {
            let name = format!("servers.web{:04}.cpu.user.{:06}", i % 1000, i);
            body.extend_from_slice(&[0x8c, name.len() as u8]);
            body.extend_from_slice(name.as_bytes());
            body.push(0x94);
            body.push(b'J');
            body.extend_from_slice(&(1_700_000_000i32 + i as i32).to_le_bytes());
            body.push(b'G');
            body.extend_from_slice(&(i as f64 * 0.5).to_be_bytes());
            body.extend_from_slice(&[0x86, 0x94, 0x86, 0x94]);
        }
        body.push(b'e');
    }
    body.push(b'.');
    let mut f = vec![0x80, 5, 0x95];
    f.extend_from_slice(&(body.len() as u64).to_le_bytes());
    f.extend_from_slice(&body);
    f
}

fn bench(c: &mut Criterion) {
    let n = 20_000; // ~1 MiB, the receiver's frame limit
    let f = frame(n);
    assert!(f.len() <= Limits::default().max_frame_len, "frame of {} bytes", f.len());
    let mut g = c.benchmark_group("pickle");
    g.throughput(Throughput::Elements(n as u64));
    let mut dec = Decoder::new();
    g.bench_function("decode_points_20k_protocol5", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            let counts = dec
                .decode_points(&f, &Limits::default(), &mut |_, t, v| sum += t + v, &mut |_, _| {})
                .expect("valid frame");
            assert_eq!(counts.points, n);
            sum
        })
    });
    let points: Vec<(i64, f64)> = (0..n as i64).map(|i| (1_700_000_000 + 60 * i, i as f64)).collect();
    g.bench_function("encode_datapoints_20k", |b| b.iter(|| encode_datapoints(&points)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
