//! Benchmark of `warren relay` (not a test): plaintext over TCP in → every point confirmed by the broker, side by
//! side in one run with
//! 1. the broker's own publish ceiling for the same message shape: a bare confirm-mode publisher (warren's bench
//!    publisher, one connection, the same confirm window) sending per-metric messages of the relay's measured
//!    average points per message, from memory;
//! 2. `warren relay` (release binary, a subprocess) fed the stream over one TCP connection, timed from the first
//!    byte written to the last confirm;
//! 3. carbon-c-relay (Debian package) relaying the same stream TCP → TCP into a counting sink, for context.
//!
//!     cargo build --release && cargo run --release --example relay_bench -- [METRICS] [POINTS]
//!
//! Prints points/s, CPU seconds per million points and the ratio to the ceiling; `tuning/relay/` keeps results.
//! Uses the shared broker at 127.0.0.1:5672 with its own exchange and queue, deleted afterwards.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warren::bench::broker;
use warren::bench::load::{Load, Message};
use warren::bench::procstat;
use warren::bench::publish::{publish, PublishConfig, PublishProgress, Source};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const WINDOW: usize = 2000;

struct Row {
    what: &'static str,
    points: u64,
    seconds: f64,
    cpu: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.points as f64 / self.seconds
    }
    fn cpu_per_million(&self) -> f64 {
        self.cpu / (self.points as f64 / 1e6)
    }
}

/// The stream as a sender writes it: each interval, every metric once.
fn stream(load: &Load) -> Vec<u8> {
    let mut out = Vec::with_capacity(load.total_points() as usize * 40);
    let mut name = String::new();
    for p in 0..load.points {
        for m in 0..load.metrics {
            name.clear();
            load.write_name(m, &mut name);
            writeln!(out, "{name} {} {}", warren::bench::load::value_of(m, p), load.timestamp_of(p)).unwrap();
        }
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Messages of `per_msg` points of one metric each, like the relay's, in the relay's order (round robin).
struct Shaped<'a> {
    load: &'a Load,
    next: AtomicU64,
}

impl Source for Shaped<'_> {
    fn next(&self, msg: &mut Message) -> std::io::Result<bool> {
        Ok(self.load.message(self.next.fetch_add(1, Ordering::Relaxed), msg))
    }
}

fn run_relay(load: &Load, data: &[u8], exchange: &str, queue: &str) -> (Row, f64) {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("relay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "instance = \"bench\"\n[amqp]\nurl = \"{URL}\"\nexchange = \"{exchange}\"\n\
             [receivers]\nline_tcp = \"127.0.0.1:{port}\"\npickle = \"\"\n[stats]\nmetric_interval_secs = 0\n\
             [query]\ncarbonlink = \"\"\n[relay]\nconfirm_window = {WINDOW}\nmax_buffer_points = 500000\n"
        ),
    )
    .unwrap();
    let mut child = Command::new("target/release/warren")
        .args(["relay", "--config"])
        .arg(&cfg)
        .args(["--stats-every-ms", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("target/release/warren (cargo build --release)");
    let last: Arc<Mutex<serde_json::Value>> = Arc::default();
    let out = child.stdout.take().unwrap();
    let l2 = last.clone();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                *l2.lock().unwrap() = v;
            }
        }
    });
    let stat = |k: &str| last.lock().unwrap().get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let mut tcp = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    while stat("connects") == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu0 = procstat::usage(child.id()).map_or(0.0, |u| u.cpu_seconds);
    let start = Instant::now();
    tcp.write_all(data).unwrap();
    drop(tcp);
    let total = load.total_points();
    while stat("confirmed") < total {
        std::thread::sleep(Duration::from_millis(5));
        assert!(start.elapsed() < Duration::from_secs(600), "relay stalled: {:?}", last.lock().unwrap());
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = procstat::usage(child.id()).map_or(0.0, |u| u.cpu_seconds) - cpu0;
    let per_msg = stat("published") as f64 / stat("messages_published").max(1) as f64;
    assert_eq!(stat("returned"), 0, "a queue is bound: nothing may be returned");
    procstat::terminate(&mut child, Duration::from_secs(30));
    let _ = reader.join();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = queue;
    (Row { what: "warren relay (TCP in → broker confirmed)", points: total, seconds, cpu }, per_msg)
}

fn run_ceiling(load: &Load, exchange: &str) -> Row {
    let cfg = PublishConfig { url: URL.into(), exchange: exchange.into(), connections: 1, window: WINDOW };
    let src = Shaped { load, next: AtomicU64::new(0) };
    let progress = PublishProgress::default();
    let me = std::process::id();
    let cpu0 = procstat::usage(me).map_or(0.0, |u| u.cpu_seconds);
    let s = publish(&cfg, &src, &progress).expect("publish");
    let cpu = procstat::usage(me).map_or(0.0, |u| u.cpu_seconds) - cpu0;
    Row { what: "bare confirm-mode publisher (ceiling)", points: s.points, seconds: s.seconds, cpu }
}

fn run_c_relay(total: u64, data: &[u8]) -> Option<Row> {
    let sink = TcpListener::bind("127.0.0.1:0").ok()?;
    let sink_port = sink.local_addr().ok()?.port();
    let lines = Arc::new(AtomicU64::new(0));
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for conn in sink.incoming() {
            let Ok(mut c) = conn else { continue };
            let l3 = l2.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    l3.fetch_add(memchr::memchr_iter(b'\n', &buf[..n]).count() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    let dir = std::env::temp_dir().join(format!("c-relay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let conf = dir.join("relay.conf");
    std::fs::write(&conf, format!("cluster sink forward 127.0.0.1:{sink_port};\nmatch * send to sink stop;\n")).ok()?;
    let port = free_port();
    let mut child = Command::new("carbon-c-relay")
        .arg("-f")
        .arg(&conf)
        .args(["-p", &port.to_string(), "-s", "-q", "2000000", "-w", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut tcp = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let cpu0 = procstat::usage(child.id()).map_or(0.0, |u| u.cpu_seconds);
    let start = Instant::now();
    tcp.write_all(data).ok()?;
    drop(tcp);
    while lines.load(Ordering::Relaxed) < total && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = procstat::usage(child.id()).map_or(0.0, |u| u.cpu_seconds) - cpu0;
    let got = lines.load(Ordering::Relaxed);
    procstat::terminate(&mut child, Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
    if got < total {
        eprintln!("carbon-c-relay delivered {got} of {total} lines");
    }
    Some(Row { what: "carbon-c-relay (TCP → TCP, context)", points: got, seconds, cpu })
}

fn main() {
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let metrics = args.first().copied().unwrap_or(10_000);
    let points = args.get(1).copied().unwrap_or(100);
    let now = warren::lifecycle::unix_now();
    let stream_load = Load::ending_at("relaybench", metrics, points, 1, 60, now, false);
    let data = stream(&stream_load);
    let id = std::process::id();
    let (exchange, queue) = (format!("relay-bench-ex-{id}"), format!("relay-bench-q-{id}"));
    let patterns = vec!["#".to_string()];

    broker::declare(URL, &exchange, Some((&queue, &patterns))).expect("declare");
    let (relay, per_msg) = run_relay(&stream_load, &data, &exchange, &queue);
    broker::delete(URL, &exchange, Some(&queue)).expect("delete");

    // The ceiling publishes the relay's message shape: per-metric messages of its average points per message.
    let k = per_msg.round().max(1.0) as u32;
    let shaped = Load { per_msg: k, ..stream_load.clone() };
    broker::declare(URL, &exchange, Some((&queue, &patterns))).expect("declare");
    let ceiling = run_ceiling(&shaped, &exchange);
    broker::delete(URL, &exchange, Some(&queue)).expect("delete");

    let c_relay = run_c_relay(stream_load.total_points(), &data);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("stream: {metrics} metrics x {points} points = {} points, {} bytes; relay messages: {per_msg:.2} points each (ceiling uses {k})", stream_load.total_points(), data.len());
    println!("{:<44} {:>12} {:>10} {:>14} {:>8}", "", "points/s", "seconds", "CPU s/million", "ratio");
    for r in [Some(&ceiling), Some(&relay), c_relay.as_ref()].into_iter().flatten() {
        println!(
            "{:<44} {:>12.0} {:>10.2} {:>14.2} {:>8.2}",
            r.what,
            r.rate(),
            r.seconds,
            r.cpu_per_million(),
            r.rate() / ceiling.rate()
        );
    }
    println!("loadavg: {}", load.trim());
}
