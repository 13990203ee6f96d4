//! No confirmed point is lost when warren is killed with SIGKILL at random moments and restarted: a publisher
//! sends a verifiable stream with publisher confirms while warren (the real binary) is killed again and again;
//! at the end every confirmed point is on disk with the right value.

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use warren::whisper::{OpenOptions, WhisperFile};

const METRICS: usize = 40;
const ROUNDS: usize = 150;

fn value(m: usize, round: usize) -> f64 {
    (m * 1000 + round) as f64 + 0.25
}

fn spawn_warren(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["cache", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("warren starts")
}

/// A small deterministic pseudo-random sequence (no dependency needed for kill timing).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_confirmed_point() {
    let vhost = Vhost::new();
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("whisper");
    let (ex, q) = (unique("ex"), unique("q"));
    let config = dir.path().join("warren.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n[amqp]\nurl = {url:?}\nexchange = {ex:?}\nqueue = {q:?}\nworkers = 2\n\
             pin_threads = false\nmax_reconnect_delay_secs = 1\nprefetch = 200\n[cache]\nmax_updates_per_second = 100\n[receivers]\nenabled = false\n[query]\ncarbonlink = \"\"\nhttp = \"\"\n"
        ),
    )
    .unwrap();
    let base = now() / 60 * 60 - 3 * 3600;
    // The update rate limit keeps points cached for a while, so kills land while unwritten points are held
    // (with ack = "on-receive" this test loses ~2000 points).
    // Declare and bind the queue before publishing, so nothing is routed nowhere while warren is down.
    drop(Publisher::new(&url, &ex, &q, &["#"]));

    let confirmed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (url, ex, q, confirmed, done) = (url.clone(), ex.clone(), q.clone(), confirmed.clone(), done.clone());
        std::thread::spawn(move || {
            let p = Publisher::new(&url, &ex, &q, &["#"]);
            for round in 0..ROUNDS {
                let t = base + round as u32 * 60;
                p.publish_all(
                    (0..METRICS).map(|m| (format!("crash.m{m:02}"), format!("{} {t}", value(m, round)).into_bytes())),
                );
                confirmed.store(round + 1, Ordering::Release);
                std::thread::sleep(Duration::from_millis(25));
            }
            done.store(true, Ordering::Release);
        })
    };

    let mut rng = Lcg(0x5eed_1234);
    let mut child = spawn_warren(&config);
    let mut kills = 0;
    while kills < 10 {
        std::thread::sleep(Duration::from_millis(150 + rng.next(450)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        child = spawn_warren(&config);
    }
    publisher.join().unwrap();
    assert!(done.load(Ordering::Acquire));
    let n = confirmed.load(Ordering::Acquire);
    assert_eq!(n, ROUNDS, "every round was confirmed");

    assert!(
        wait_until(120, || queue_counts(&vhost.0, &q) == (0, 0)),
        "warren drains the queue after {kills} kills: {:?}",
        queue_counts(&vhost.0, &q)
    );
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "SIGTERM is a clean shutdown");

    let mut missing = Vec::new();
    for m in 0..METRICS {
        let name = format!("crash.m{m:02}");
        let f = WhisperFile::open(&warren::metric::file_path(&data, &name), OpenOptions::default()).unwrap();
        let r = f.fetch(base as i64 - 60, Some((base + ROUNDS as u32 * 60) as i64), now() as i64, None).unwrap();
        let r = r.expect("window inside retention");
        for round in 0..n {
            let t = base + round as u32 * 60;
            let i = ((t - r.from) / r.step) as usize;
            if r.values.get(i).copied().flatten() != Some(value(m, round)) {
                missing.push((name.clone(), round));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} confirmed points lost after {kills} kills: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // The reference reads the same values.
    let py = python_fetch(&data, "crash.m07", 4 * 3600);
    assert_eq!(py.len(), ROUNDS);
    assert!(py.iter().enumerate().all(|(r, &(t, v))| t == base + r as u32 * 60 && v == value(7, r)));
}
