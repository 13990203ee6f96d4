//! `warren relay` against a private RabbitMQ node the test starts, restarts and blocks (never the shared one):
//! every point a TCP sender wrote is on disk after two broker restarts; with the broker blocked by a memory
//! alarm the relay's memory stays bounded and the sender is paused (its writes block), then everything arrives.

mod common;

use common::private_broker::PrivateBroker;
use common::step_sender::StepSender;
use common::*;
use std::io::{BufRead, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warren::engine::Engine;
use warren::relay::Relay;

const METRICS: usize = 200;

#[test]
fn every_point_a_tcp_sender_wrote_is_on_disk_after_two_broker_restarts() {
    let broker = PrivateBroker::start();
    let url = broker.url();
    let ex = unique("relay-restart-ex");
    let dir = tempfile::tempdir().unwrap();
    let queue = unique("relay-restart-q");
    let mut s = settings(dir.path(), &url, &ex, &queue, &["rs.#"]);
    s.cache.max_creates_per_minute = 0;
    s.amqp.workers = 1;
    s.stats.metric_interval_secs = 0;
    let engine = Engine::start(&s, Box::new(warren::cache::writer::ConfRules::load(&s).unwrap())).unwrap();
    assert!(wait_until(60, || broker.try_queue_counts(&queue).is_some()), "the cache declared its queue");

    let relay = Relay::start(&relay_settings(std::slice::from_ref(&url), &ex)).unwrap();

    // The sender writes one line per metric per step (value = step), steps one minute apart, in the past.
    let mut sender = StepSender::start(relay.receivers.line_tcp.unwrap(), "rs", METRICS);
    let confirmed = || relay.stats.confirmed.load(Ordering::Relaxed);
    for round in 1..=2 {
        let before = confirmed();
        assert!(wait_until(60, || confirmed() >= before + 5_000), "round {round}: relay confirms before the restart");
        // Cut the relay off mid-stream for sure: with the memory alarm on the broker stops reading what the relay
        // publishes, so messages pile up unconfirmed (more than a flush's worth, which the broker confirms within
        // milliseconds when it reads them) and the restart drops them unread. The alarm does not outlive the VM.
        broker.block_publishers();
        let held = || relay.stats.unconfirmed_messages.load(Ordering::Relaxed);
        assert!(
            wait_until(60, || held() >= 3 * METRICS as u64),
            "round {round}: messages held unconfirmed by the blocked broker: {:?}",
            relay.stats.snapshot()
        );
        broker.restart();
        let after = confirmed();
        assert!(wait_until(90, || confirmed() >= after + 5_000), "round {round}: relay confirms after the restart");
    }
    let steps = sender.stop();
    let total = steps * METRICS as u64;
    assert!(
        wait_until(120, || confirmed() == total),
        "confirmed {} of {total}: {:?}",
        confirmed(),
        relay.stats.snapshot()
    );
    assert!(wait_until(120, || broker.try_queue_counts(&queue) == Some((0, 0))), "queue drained");
    // The restarts cut the relay off mid-stream: it reconnected and republished what was in flight.
    assert!(relay.stats.connects.load(Ordering::Relaxed) >= 3, "{:?}", relay.stats.snapshot());
    assert!(relay.stats.republished.load(Ordering::Relaxed) > 0, "{:?}", relay.stats.snapshot());
    assert_eq!(relay.stats.returned.load(Ordering::Relaxed), 0);
    assert_eq!(relay.stop().unwrap().abandoned, 0);
    engine.stop().unwrap();

    sender.assert_all_on_disk(dir.path(), steps);
    eprintln!("{total} points, {steps} steps, all on disk");
}

/// Resident set of `pid`, bytes.
fn rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn a_blocked_broker_pauses_the_sender_with_bounded_relay_memory_and_then_everything_arrives() {
    let broker = PrivateBroker::start();
    let url = broker.url();
    let ex = unique("relay-bp-ex");
    let queue = unique("relay-bp-q");
    // Declares the exchange and the bound queue; the private node takes both with it on drop.
    let _declare = Publisher::new(&url, &ex, &queue, &["bp.#"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cap = 20_000usize;
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "instance = \"bp\"\n[amqp]\nurl = \"{url}\"\nexchange = \"{ex}\"\n\
             [receivers]\nline_tcp = \"127.0.0.1:{port}\"\npickle = \"\"\n\
             [stats]\nmetric_interval_secs = 0\n[query]\ncarbonlink = \"\"\nhttp = \"\"\n\
             [relay]\nmax_buffer_points = {cap}\nconfirm_window = 200\nflush_interval_ms = 50\n"
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["relay", "--config"])
        .arg(&cfg)
        .args(["--stats-every-ms", "200"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let last: Arc<Mutex<serde_json::Value>> = Arc::default();
    let reader = {
        let last = last.clone();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    *last.lock().unwrap() = v;
                }
            }
        })
    };
    let stat = |k: &str| last.lock().unwrap().get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let mut tcp = None;
    assert!(wait_until(30, || {
        tcp = TcpStream::connect(("127.0.0.1", port)).ok();
        tcp.is_some()
    }));
    let mut tcp = tcp.unwrap();
    let rss_idle = rss(pid);

    broker.block_publishers();
    let lines_total = 600_000u64;
    let written = Arc::new(AtomicU64::new(0));
    let sender = {
        let written = written.clone();
        std::thread::spawn(move || {
            let t = now() - 3600;
            let mut i = 0u64;
            while i < lines_total {
                let chunk: String = (i..i + 1000).map(|j| format!("bp.m{}.v {j} {t}\n", j % 1000)).collect();
                tcp.write_all(chunk.as_bytes()).unwrap();
                i += 1000;
                written.store(i, Ordering::Release);
            }
        })
    };
    // Paused: the relay's buffer is at its cap and the sender's writes stop progressing (they block).
    let mut last_change = (0, Instant::now());
    let mut peak_rss = 0;
    let stalled = wait_until(120, || {
        peak_rss = peak_rss.max(rss(pid));
        let w = written.load(Ordering::Acquire);
        if w != last_change.0 {
            last_change = (w, Instant::now());
        }
        stat("pauses") >= 1 && last_change.1.elapsed() >= Duration::from_secs(3)
    });
    let at_stall = written.load(Ordering::Acquire);
    assert!(stalled, "sender never paused: written {at_stall}, relay {:?}", last.lock().unwrap());
    assert!(at_stall < lines_total, "the sender must be blocked before it finished");
    assert!(stat("buffer_points") >= cap as u64 * 9 / 10, "buffer near its cap: {:?}", last.lock().unwrap());
    assert_eq!(stat("confirmed"), 0, "nothing is confirmed while the broker blocks publishers");
    // Documented bound (README, relay): 64 MiB + 1 KiB per buffered point, over the idle process.
    let bound = 64 * 1024 * 1024 + cap as u64 * 1024;
    assert!(peak_rss < rss_idle + bound, "relay RSS {peak_rss} (idle {rss_idle}) over the bound {bound}");
    eprintln!("stalled at {at_stall} lines written; relay RSS idle {rss_idle} B, peak {peak_rss} B");

    broker.unblock_publishers();
    sender.join().unwrap();
    assert!(
        wait_until(180, || stat("confirmed") == lines_total),
        "confirmed {} of {lines_total}: {:?}",
        stat("confirmed"),
        last.lock().unwrap()
    );
    assert_eq!(stat("returned"), 0);
    assert_eq!(stat("received"), lines_total, "every line the sender wrote was read, none dropped");
    // SIGTERM: flush, wait for confirms, exit 0.
    sigterm(pid);
    let status = child.wait().unwrap();
    assert!(status.success(), "relay exit status {status:?}");
    reader.join().unwrap();
}

/// Send SIGTERM with kill(1) (no unsafe libc call in tests).
fn sigterm(pid: u32) {
    let st = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(st.success());
}
