//! Whisper engine throughput: (a) update_many of 100 consecutive points into one of 1000 files
//! (10s:6h,1m:7d, opened per call as carbon's writer does), (b) create in fallocate and zero modes,
//! (c) the cost of one new file of carbon's default schema (60s:7d) in each create mode, beside two other ways of
//! laying down zeros (header and zeros in two writes; `fallocate(FALLOC_FL_ZERO_RANGE)`), in the directory named
//! by `WARREN_BENCH_DIR` (default: the system temp dir; use the disk the whisper tree lives on).
//! Compare with the reference: `/usr/bin/python3 tuning/whisper_ref_bench.py`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
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
    // One point per visit (the rk-1 shape: the writer keeps up, so each visit finds a single new point): the
    // syscalls per update, not the points, are the cost.
    group.throughput(Throughput::Elements(1));
    let mut call = 0usize;
    group.bench_function("update_many_1_point_1000_open_files", |b| {
        b.iter(|| {
            let round = (call / FILES) as u32;
            let wf = &mut open[call % FILES];
            call += 1;
            let t = START + 2_000 * POINTS * STEP + round * STEP;
            batch.clear();
            batch.push(Point { timestamp: t, value: f64::from(round) });
            black_box(wf.update_many(&mut batch, t + STEP, &mut scratch).unwrap());
        })
    });
    group.finish();
}

/// Times `iters` calls of `make` on fresh paths in `dir`, in chunks of `chunk`; the files are removed between chunks
/// (untimed) to bound disk use. `n` numbers the files across calls so no path is reused while criterion warms up.
fn timed_creations(
    dir: &Path,
    name: &str,
    n: &mut u64,
    iters: u64,
    chunk: u64,
    mut make: impl FnMut(&Path),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let this = (iters - done).min(chunk);
        let paths: Vec<PathBuf> = (0..this)
            .map(|_| {
                *n += 1;
                dir.join(format!("{name}{n}.wsp"))
            })
            .collect();
        let start = Instant::now();
        for path in &paths {
            make(path);
        }
        total += start.elapsed();
        for path in &paths {
            std::fs::remove_file(path).unwrap();
        }
        done += this;
    }
    total
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
                timed_creations(dir.path(), name, &mut n, iters, 100, |path| {
                    black_box(WhisperFile::create(path, &archives(), &opts, OpenOptions::default()).unwrap());
                })
            })
        });
    }
    group.finish();
}

/// Ways of laying down a new 60s:7d file.
#[derive(Clone, Copy)]
enum Way {
    /// warren's API in this mode.
    Warren(CreateMode),
    /// Header, then the zeroed data area: two pwrites (warren's zero mode before it wrote once).
    ZeroTwoWrites,
    /// Header, then `fallocate(FALLOC_FL_ZERO_RANGE)` over the data area.
    ZeroRange,
}

/// The header of a 60s:7d file (average, xff 0.5): metadata, then one archive info, big-endian.
fn header_60s_7d() -> Vec<u8> {
    let mut h = Vec::with_capacity(28);
    for w in [1u32, 60 * 10080, 0.5f32.to_bits(), 1, 28, 60, 10080] {
        h.extend_from_slice(&w.to_be_bytes());
    }
    h
}

fn lay_down(path: &std::path::Path, way: Way) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    let header = header_60s_7d();
    let data = 10080 * 12;
    let f = match way {
        Way::Warren(mode) => {
            let archives = [ArchiveSpec { seconds_per_point: 60, points: 10080 }];
            let opts = CreateOptions { mode, ..CreateOptions::default() };
            black_box(WhisperFile::create(path, &archives, &opts, OpenOptions::default()).unwrap());
            return;
        }
        Way::ZeroTwoWrites | Way::ZeroRange => {
            std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(path).unwrap()
        }
    };
    f.write_all_at(&header, 0).unwrap();
    if let Way::ZeroRange = way {
        // SAFETY: the descriptor belongs to `f`, open for the call; fallocate reads no memory of ours.
        let rc = unsafe { libc::fallocate(f.as_raw_fd(), libc::FALLOC_FL_ZERO_RANGE, 28, data as libc::off_t) };
        assert_eq!(rc, 0, "fallocate(ZERO_RANGE): {}", std::io::Error::last_os_error());
    } else {
        f.write_all_at(&vec![0u8; data], 28).unwrap();
    }
    black_box(f);
}

fn create_modes(c: &mut Criterion) {
    let base = std::env::var_os("WARREN_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    // The hand-made ways lay down the same bytes as warren's zero mode.
    let (a, b) = (dir.path().join("check-a.wsp"), dir.path().join("check-b.wsp"));
    lay_down(&a, Way::Warren(CreateMode::Zero));
    for way in [Way::ZeroTwoWrites, Way::ZeroRange] {
        lay_down(&b, way);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        std::fs::remove_file(&b).unwrap();
    }
    let mut group = c.benchmark_group("create_60s_7d");
    group.throughput(Throughput::Elements(1));
    let ways = [
        ("fallocate", Way::Warren(CreateMode::Fallocate)),
        ("sparse", Way::Warren(CreateMode::Sparse)),
        ("zero_one_write", Way::Warren(CreateMode::Zero)),
        ("zero_two_writes", Way::ZeroTwoWrites),
        ("zero_range", Way::ZeroRange),
    ];
    for (name, way) in ways {
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| timed_creations(dir.path(), name, &mut n, iters, 200, |path| lay_down(path, way)))
        });
    }
    group.finish();
}

criterion_group!(benches, update_many, create, create_modes);
criterion_main!(benches);
