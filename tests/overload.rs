//! Overload: publish far faster than warren may write (its update rate is capped), with a small cache cap.
//! warren's memory stays under the documented bound (prefetch × workers × message size + cache cap), flow
//! control pauses the workers instead of dropping, and the whole backlog drains afterwards with every point on
//! disk. `WARREN_OVERLOAD_MESSAGES` scales the burst (default 3000 messages of 100 points).

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use warren::whisper::{OpenOptions, WhisperFile};

const METRICS: usize = 1000;
const PER_MSG: usize = 100;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn value(m: usize, p: usize) -> f64 {
    (m * 10_000 + p) as f64 + 0.125
}

#[test]
fn an_overload_is_absorbed_within_the_memory_bound_and_drains_without_loss() {
    let messages: usize = std::env::var("WARREN_OVERLOAD_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let points_per_metric = messages * PER_MSG / METRICS;
    let vhost = Vhost::new();
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("whisper");
    let (ex, q) = (unique("ex"), unique("q"));
    let (workers, prefetch, cache_cap) = (2usize, 200usize, 20_000usize);
    let config = dir.path().join("warren.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n[amqp]\nurl = {url:?}\nexchange = {ex:?}\nqueue = {q:?}\nworkers = {workers}\n\
             prefetch = {prefetch}\npin_threads = false\nmetric_name_in_body = true\n\
             [cache]\nmax_size = {cache_cap}\nlow_watermark = {low}\nmax_updates_per_second = 1000\n\
             max_creates_per_minute = 0\n[receivers]\nenabled = false\n[query]\ncarbonlink = \"\"\nhttp = \"\"\n\
             [stats]\nmetric_interval_secs = 0\n",
            low = cache_cap * 3 / 4
        ),
    )
    .unwrap();
    let publisher = Publisher::new(&url, &ex, &q, &["#"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["cache", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(wait_until(20, || rss_kib(pid) > 0));
    std::thread::sleep(Duration::from_millis(500));
    let base = rss_kib(pid);

    // The burst: points of message i are metric (i*100 + k) % 1000, point index i*100/1000.
    let end = now() / 60 * 60 - 60;
    let t0 = end - (points_per_metric as u32 - 1) * 60;
    let mut peak = base;
    let sampler_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = sampler_stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let started = Instant::now();
    let mut body_len = 0;
    publisher.publish_all((0..messages).map(|i| {
        let body: String = (0..PER_MSG)
            .map(|k| {
                let n = i * PER_MSG + k;
                let (m, p) = (n % METRICS, n / METRICS);
                format!("over.m{m:04} {} {}\n", value(m, p), t0 + p as u32 * 60)
            })
            .collect();
        body_len = body_len.max(body.len());
        ("x".to_string(), body.into_bytes())
    }));
    let publish_secs = started.elapsed().as_secs_f64();
    assert!(
        wait_until(300, || queue_counts(&vhost.0, &q) == (0, 0)),
        "the backlog drains: {:?}",
        queue_counts(&vhost.0, &q)
    );
    let drain_secs = started.elapsed().as_secs_f64();
    sampler_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    peak = peak.max(sampler.join().unwrap());
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    assert!(child.wait().unwrap().success());

    // The documented bound (README "Guarantees"): every unacked body (workers × prefetch × message size) plus the
    // cache cap at 64 bytes a point, doubled for allocator slack, plus 4 MiB of load-independent tables and
    // buffers, over the idle process. Unbounded buffering of this burst would need well over 40 MiB.
    let bound_kib = (2 * (workers * prefetch * body_len + cache_cap * 64) / 1024) as u64 + 4096;
    println!(
        "overload: {messages} messages ({} points) published in {publish_secs:.1}s, drained after {drain_secs:.1}s; \
         RSS idle {base} KiB, peak {peak} KiB, growth {} KiB, bound {bound_kib} KiB",
        messages * PER_MSG,
        peak - base
    );
    assert!(peak - base <= bound_kib, "RSS grew {} KiB, over the {bound_kib} KiB bound", peak - base);
    assert!(drain_secs > 2.0 * publish_secs, "the write rate was the bottleneck (else this is no overload)");

    let mut missing = 0;
    for m in 0..METRICS {
        let f = WhisperFile::open(&warren::metric::file_path(&data, &format!("over.m{m:04}")), OpenOptions::default())
            .unwrap();
        let r = f.fetch(t0 as i64 - 60, Some(end as i64), now() as i64, None).unwrap().unwrap();
        for p in 0..points_per_metric {
            let i = ((t0 + p as u32 * 60 - r.from) / r.step) as usize;
            if r.values.get(i).copied().flatten() != Some(value(m, p)) {
                missing += 1;
            }
        }
    }
    assert_eq!(missing, 0, "points lost under overload");
}
