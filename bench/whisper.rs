//! Whisper engine throughput: (a) update_many of 100 consecutive points into one of 1000 files
//! (10s:6h,1m:7d, opened per call as carbon's writer does), (b) create in fallocate and zero modes.
//! Compare with the reference: `/usr/bin/python3 tuning/whisper_ref_bench.py`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warren::whisper::{ArchiveSpec, CreateMode, CreateOptions, OpenOptions, Point, UpdateScratch, WhisperFile};

const FILES: usize = 1000;
const POINTS: u32 = 100;
const STEP: u32 = 10;
const START: u32 = 1_700_000_000;

fn archives() -> [ArchiveSpec; 2] {
    [ArchiveSpec { seconds_per_point: 10, points: 2160 }, ArchiveSpec { seconds_per_point: 60, points: 10080 }]
}

fn update_many(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..FILES)
        .map(|i| {
            let path = dir.path().join(format!("m{i}.wsp"));
            WhisperFile::create(&path, &archives(), &CreateOptions::default(), OpenOptions::default()).unwrap();
            path
        })
        .collect();
    let mut group = c.benchmark_group("whisper");
    group.throughput(Throughput::Elements(u64::from(POINTS)));
    let mut scratch = UpdateScratch::default();
    let mut batch = Vec::with_capacity(POINTS as usize);
    let mut call = 0usize;
    group.bench_function("update_many_100_points_1000_files", |b| {
        b.iter(|| {
            // Each visit to a file writes the next 100 steps after its previous visit.
            let round = (call / FILES) as u32;
            let path = &paths[call % FILES];
            call += 1;
            let first = START + round * POINTS * STEP;
            batch.clear();
            batch.extend((0..POINTS).map(|i| Point { timestamp: first + i * STEP, value: f64::from(i) }));
            let now = first + POINTS * STEP;
            let mut wf = WhisperFile::open(path, OpenOptions::default()).unwrap();
            black_box(wf.update_many(&mut batch, now, &mut scratch).unwrap());
        })
    });
    // The writer's real path: files stay open in its descriptor LRU, so an update is the positioned reads and
    // writes alone. (python-whisper's update_many opens the file on every call; compare both rows with it.)
    let mut open: Vec<WhisperFile> =
        paths.iter().map(|p| WhisperFile::open(p, OpenOptions::default()).unwrap()).collect();
    let mut call = 0usize;
    group.bench_function("update_many_100_points_1000_open_files", |b| {
        b.iter(|| {
            let round = (call / FILES) as u32 + 1_000;
            let wf = &mut open[call % FILES];
            call += 1;
            let first = START + round * POINTS * STEP;
            batch.clear();
            batch.extend((0..POINTS).map(|i| Point { timestamp: first + i * STEP, value: f64::from(i) }));
            black_box(wf.update_many(&mut batch, first + POINTS * STEP, &mut scratch).unwrap());
        })
    });
    group.finish();
}

fn create(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let slots: u64 = archives().iter().map(|a| u64::from(a.points)).sum();
    let mut group = c.benchmark_group("whisper_create");
    group.throughput(Throughput::Elements(slots));
    for (name, mode) in [("fallocate", CreateMode::Fallocate), ("zero", CreateMode::Zero)] {
        let opts = CreateOptions { mode, ..CreateOptions::default() };
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                // Time creations in chunks of 100, removing the files between chunks (untimed) to bound disk use.
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let chunk = (iters - done).min(100);
                    let paths: Vec<PathBuf> = (0..chunk)
                        .map(|_| {
                            n += 1;
                            dir.path().join(format!("{name}{n}.wsp"))
                        })
                        .collect();
                    let start = Instant::now();
                    for path in &paths {
                        black_box(WhisperFile::create(path, &archives(), &opts, OpenOptions::default()).unwrap());
                    }
                    total += start.elapsed();
                    for path in &paths {
                        std::fs::remove_file(path).unwrap();
                    }
                    done += chunk;
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, update_many, create);
criterion_main!(benches);
