//! Does registering tagged series with graphite-web slow plain ingestion? `cargo bench --bench tags`.
//!
//! Each run starts an engine (plaintext receiver only, sparse creates, no create limit) on a fresh data dir (in
//! /dev/shm unless `BENCH_TAGS_DIR` says otherwise) and
//! sends one workload over one TCP connection: 100,000 *new* tagged series (one point each, so 100,000 creates
//! and 100,000 registrations) interleaved with plain load (20,000 plain metrics × 20 points). It measures the time
//! until every point is received (parsed and handed to the writer) and until every point is committed to whisper.
//! Runs alternate tags off / tags on (same run, same process, same machine state) and the ratios are printed.
//!
//! With tags on, the registration thread POSTs to an HTTP endpoint in this process that answers 200 at once (so
//! the registration thread does all of its work — 1,000 POSTs of 100 series — instead of idling on a slow
//! graphite-web; with a slow or absent graphite-web it only does less). `BENCH_TAGS_URL=http://host:port` points it
//! at a real graphite-web instead. `BENCH_TAGS_SERIES`, `BENCH_TAGS_PLAIN`, `BENCH_TAGS_ROUNDS` scale it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warren::cache::writer::ConfRules;
use warren::config::settings::{CreateModeSetting, Settings};
use warren::config::{StorageAggregation, StorageSchemas};
use warren::engine::Engine;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An HTTP/1.1 endpoint that reads each request and answers `200 []`; counts the `path=` fields it received.
fn sink() -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let series = Arc::new(AtomicU64::new(0));
    let count = series.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || serve(conn, &count));
        }
    });
    (url, series)
}

fn serve(conn: TcpStream, count: &AtomicU64) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let n = body.split(|&b| b == b'&').filter(|f| f.starts_with(b"path=")).count();
        count.fetch_add(n as u64, Ordering::Relaxed);
        if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]").is_err() {
            return;
        }
    }
}

struct Outcome {
    all: Duration,
    plain: Duration,
    registered: u64,
    dropped: u64,
}

fn run(tags_url: Option<&str>, series: usize, plain_metrics: usize, plain_points: usize) -> Outcome {
    // tmpfs by default: 100,000 new directories are slow to remove on a disk mounted with discard, and the
    // question is CPU, not the disk. BENCH_TAGS_DIR picks another parent.
    let parent = std::env::var("BENCH_TAGS_DIR").unwrap_or_else(|_| "/dev/shm".into());
    let dir = tempfile::tempdir_in(&parent).or_else(|_| tempfile::tempdir()).unwrap();
    let mut s = Settings { data_dir: dir.path().to_path_buf(), ..Settings::default() };
    s.amqp.enabled = false;
    s.receivers.line_tcp = Some("127.0.0.1:0".into());
    s.receivers.pickle = None;
    s.query.carbonlink = None;
    s.query.http = None;
    s.stats.metric_interval_secs = 0;
    s.cache.max_creates_per_minute = 0;
    s.whisper.create_mode = CreateModeSetting::Sparse;
    if let Some(url) = tags_url {
        s.tags.enabled = true;
        s.tags.graphite_url = url.to_string();
    }
    let rules = ConfRules {
        schemas: StorageSchemas::parse("[all]\npattern = .\nretentions = 60:60\n", "bench").unwrap(),
        aggregation: StorageAggregation::default(),
    };
    let engine = Engine::start(&s, Box::new(rules)).unwrap();
    let t =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60 * 60 - 1800) as u32;
    // The plain points are spread evenly through the tagged ones.
    let mut text = String::with_capacity((series + plain_metrics * plain_points) * 48);
    let plain_total = plain_metrics * plain_points;
    let per_tagged = plain_total / series.max(1) + 1;
    let mut p = 0;
    for i in 0..series {
        text.push_str(&format!("bench.req;host=h{i:06};dc=dc{} 1 {t}\n", i % 7));
        for _ in 0..per_tagged {
            if p < plain_total {
                let (m, k) = (p % plain_metrics, p / plain_metrics);
                text.push_str(&format!("plain.m{m:05} {k} {}\n", t - 60 * (k as u32 % 30)));
                p += 1;
            }
        }
    }
    let total = (series + plain_total) as u64;
    let start = Instant::now();
    let mut conn = TcpStream::connect(engine.receivers.line_tcp.unwrap()).unwrap();
    let sender = std::thread::spawn(move || {
        conn.write_all(text.as_bytes()).unwrap();
        conn.flush().unwrap();
        conn
    });
    // "Received" = every point parsed and handed to the writer; "committed" = every point in its file.
    let mut plain_done = None;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let committed = engine.stats.committed_points.load(Ordering::Relaxed);
        if plain_done.is_none() && engine.stats.points_received.load(Ordering::Relaxed) >= total {
            plain_done = Some(start.elapsed());
        }
        if committed >= total || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let all = start.elapsed();
    let _conn = sender.join().unwrap();
    let registered = engine.stats.tags_registered.load(Ordering::Relaxed);
    let dropped = engine.stats.tags_dropped.load(Ordering::Relaxed);
    assert_eq!(engine.stats.committed_points.load(Ordering::Relaxed), total, "every point written");
    engine.stop().unwrap();
    Outcome { all, plain: plain_done.unwrap_or(all), registered, dropped }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it, and then one small round
    // checks that the bench still works instead of measuring (the full workload takes minutes in a debug build).
    let measuring = std::env::args().any(|a| a == "--bench");
    let (series, plain_metrics, rounds) = if measuring { (100_000, 20_000, 2) } else { (1_000, 200, 1) };
    let series = env_or("BENCH_TAGS_SERIES", series);
    let plain_metrics = env_or("BENCH_TAGS_PLAIN", plain_metrics);
    let plain_points = 20;
    let rounds = env_or("BENCH_TAGS_ROUNDS", rounds);
    let (url, seen) = match std::env::var("BENCH_TAGS_URL") {
        Ok(u) => (u, Arc::new(AtomicU64::new(0))),
        Err(_) => sink(),
    };
    println!(
        "tags bench: {series} new tagged series + {plain_metrics} plain metrics x {plain_points} points, \
         sparse creates, registration to {url}"
    );
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for enabled in [false, true] {
            let o = run(enabled.then_some(url.as_str()), series, plain_metrics, plain_points);
            let pts = (series + plain_metrics * plain_points) as f64;
            println!(
                "round {round} tags {:<3}: all committed in {:>6.2} s ({:>8.0} points/s), all received in {:>6.2} s, \
                 registered {}, dropped {}",
                if enabled { "on" } else { "off" },
                o.all.as_secs_f64(),
                pts / o.all.as_secs_f64(),
                o.plain.as_secs_f64(),
                o.registered,
                o.dropped
            );
            if enabled {
                on.push(o)
            } else {
                off.push(o)
            }
        }
    }
    let mean = |v: &[Outcome], f: fn(&Outcome) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
    let (a_off, a_on) = (mean(&off, |o| o.all.as_secs_f64()), mean(&on, |o| o.all.as_secs_f64()));
    let (r_off, r_on) = (mean(&off, |o| o.plain.as_secs_f64()), mean(&on, |o| o.plain.as_secs_f64()));
    println!(
        "mean time to commit everything: off {a_off:.2} s, on {a_on:.2} s: on/off = {:.3}; to receive everything: \
         off {r_off:.2} s, on {r_on:.2} s: on/off = {:.3}; the endpoint saw {} series",
        a_on / a_off,
        r_on / r_off,
        seen.load(Ordering::Relaxed)
    );
}
