//! No confirmed point is lost when warren is killed with SIGKILL at random moments and restarted: a publisher
//! sends a verifiable stream with publisher confirms while warren (the real binary) is killed again and again;
//! at the end every confirmed point is on disk with the right value. The kills are shown to land mid-stream
//! (confirmed count recorded at each kill), the restarted warren is shown to receive redeliveries, and the same
//! run with `ack = "on-receive"` (carbon's behaviour) is shown to lose points: the test can fail.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use warren::whisper::{OpenOptions, WhisperFile};

const METRICS: usize = 40;
const ROUNDS: usize = 150;
const TOTAL: usize = METRICS * ROUNDS;
const KILLS: usize = 10;

fn value(m: usize, round: usize) -> f64 {
    (m * 1000 + round) as f64 + 0.25
}

/// A warren child process, SIGKILLed on drop (a failing assertion never leaves one running).
struct Warren(Child);

impl Warren {
    /// Start `warren cache`; with `prometheus`, its log is read until the endpoint's address is printed.
    fn spawn(config: &std::path::Path, prometheus: bool) -> (Warren, Option<String>) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warren"));
        cmd.args(["cache", "--config"]).arg(config).stdout(Stdio::null());
        if !prometheus {
            let child = cmd.env("RUST_LOG", "warn").stderr(Stdio::null()).spawn().expect("warren starts");
            return (Warren(child), None);
        }
        let mut child = cmd.env("RUST_LOG", "warren=info").stderr(Stdio::piped()).spawn().expect("warren starts");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        // Keeps reading (so warren never blocks on a full pipe); sends the address once.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("prometheus endpoint bound") {
                    if let Some(a) = line.split("address=").nth(1) {
                        let _ = tx.send(a.split_whitespace().next().unwrap_or("").to_string());
                    }
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("warren prints its prometheus address");
        (Warren(child), Some(addr))
    }

    fn kill(mut self) {
        self.0.kill().unwrap(); // SIGKILL
        self.0.wait().unwrap();
    }

    /// SIGTERM, then wait: a clean shutdown exits 0.
    fn terminate(mut self) -> bool {
        let status = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.0.wait().unwrap().success()
    }
}

impl Drop for Warren {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One counter from warren's Prometheus text (`warren_<name> <value>` lines).
fn prometheus_counter(addr: &str, name: &str) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("prometheus endpoint answers");
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == format!("warren_{name}")).then(|| v.trim().parse::<f64>().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no counter {name} in:\n{text}")) as u64
}

/// A small deterministic pseudo-random sequence (no dependency needed for kill timing).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

struct Outcome {
    /// Confirmed points at each kill.
    confirmed_at_kill: Vec<usize>,
    /// Confirmed points whose value is not on disk at the end.
    missing: Vec<(String, usize)>,
    /// Deliveries the broker marked redelivered, as the warren started after the last kill counted them.
    redelivered_after_kills: u64,
}

/// Stream METRICS × ROUNDS points with confirms while warren (with `ack`) is killed KILLS times; the last warren
/// drains the queue and stops cleanly; then every confirmed point is looked up on disk.
fn stream_with_kills(ack: &str, seed: u64) -> Outcome {
    let vhost = Vhost::new();
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("whisper");
    let (ex, q) = (unique("ex"), unique("q"));
    let config = dir.path().join("warren.toml");
    // The update rate limit keeps points cached for a while, so kills land while unwritten points are held.
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n[amqp]\nurl = {url:?}\nexchange = {ex:?}\nqueue = {q:?}\nworkers = 2\n\
             pin_threads = false\nmax_reconnect_delay_secs = 1\nprefetch = 200\nack = {ack:?}\n\
             [cache]\nmax_updates_per_second = 100\n[receivers]\nenabled = false\n[query]\ncarbonlink = \"\"\nhttp = \"\"\n\
             [stats]\nprometheus = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    let base = now() / 60 * 60 - 3 * 3600;
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
                confirmed.store((round + 1) * METRICS, Ordering::Release);
                std::thread::sleep(Duration::from_millis(25));
            }
            done.store(true, Ordering::Release);
        })
    };

    let mut rng = Lcg(seed);
    let (mut child, _) = Warren::spawn(&config, false);
    let mut confirmed_at_kill = Vec::new();
    // Kill only while the stream is still running (the kills are meant to land mid-stream).
    loop {
        std::thread::sleep(Duration::from_millis(150 + rng.next(300)));
        confirmed_at_kill.push(confirmed.load(Ordering::Acquire));
        child.kill();
        if confirmed_at_kill.len() == KILLS || done.load(Ordering::Acquire) {
            break;
        }
        child = Warren::spawn(&config, false).0;
    }
    // The last warren, with its counters readable.
    let (last, prom) = Warren::spawn(&config, true);
    let prom = prom.expect("asked for the address");
    publisher.join().unwrap();
    assert!(done.load(Ordering::Acquire));
    assert_eq!(confirmed.load(Ordering::Acquire), TOTAL, "every round was confirmed");

    assert!(
        wait_until(120, || queue_counts(&vhost.0, &q) == (0, 0)),
        "warren drains the queue after the kills: {:?}",
        queue_counts(&vhost.0, &q)
    );
    let redelivered_after_kills = prometheus_counter(&prom, "redelivered");
    assert!(last.terminate(), "SIGTERM is a clean shutdown");

    let mut missing = Vec::new();
    for m in 0..METRICS {
        let name = format!("crash.m{m:02}");
        let path = warren::metric::file_path(&data, &name);
        let values = match WhisperFile::open(&path, OpenOptions::default()) {
            Ok(f) => {
                let r = f.fetch(base as i64 - 60, Some((base + ROUNDS as u32 * 60) as i64), now() as i64, None);
                let r = r.unwrap().expect("window inside retention");
                (0..ROUNDS)
                    .map(|round| {
                        r.values.get(((base + round as u32 * 60 - r.from) / r.step) as usize).copied().flatten()
                    })
                    .collect()
            }
            Err(_) => vec![None; ROUNDS],
        };
        for (round, v) in values.into_iter().enumerate() {
            if v != Some(value(m, round)) {
                missing.push((name.clone(), round));
            }
        }
    }
    if missing.is_empty() {
        // The reference reads the same values.
        let py = python_fetch(&data, "crash.m07", 4 * 3600);
        assert_eq!(py.len(), ROUNDS);
        assert!(py.iter().enumerate().all(|(r, &(t, v))| t == base + r as u32 * 60 && v == value(7, r)));
    }
    Outcome { confirmed_at_kill, missing, redelivered_after_kills }
}

/// Kills that landed while the stream was under way: some points confirmed, not all.
fn mid_stream(o: &Outcome) -> usize {
    o.confirmed_at_kill.iter().filter(|&&c| 0 < c && c < TOTAL).count()
}

#[test]
fn sigkill_at_random_moments_loses_no_confirmed_point() {
    let o = stream_with_kills("after-persist", 0x5eed_1234);
    assert!(mid_stream(&o) >= 5, "kills mid-stream (confirmed points at each kill): {:?}", o.confirmed_at_kill);
    assert!(o.redelivered_after_kills > 0, "the warren started after the kills received no redelivery");
    assert!(
        o.missing.is_empty(),
        "{} confirmed points lost after kills at {:?}: {:?}",
        o.missing.len(),
        o.confirmed_at_kill,
        &o.missing[..o.missing.len().min(10)]
    );
    eprintln!("kills at {:?} confirmed points; {} redeliveries after", o.confirmed_at_kill, o.redelivered_after_kills);
}

/// The negative control: acking on receive (carbon's behaviour) loses the points a kill finds in the cache,
/// so the same stream and kills would make the test above fail if warren acked before persisting.
#[test]
fn with_ack_on_receive_the_same_kills_lose_confirmed_points() {
    let o = stream_with_kills("on-receive", 0x5eed_1234);
    assert!(mid_stream(&o) >= 5, "kills mid-stream (confirmed points at each kill): {:?}", o.confirmed_at_kill);
    assert!(!o.missing.is_empty(), "acking on receive lost nothing: the kills did not find points in the cache");
    eprintln!("ack = on-receive lost {} of {TOTAL} points; kills at {:?}", o.missing.len(), o.confirmed_at_kill);
}
