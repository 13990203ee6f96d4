//! Helpers for integration tests against the real RabbitMQ on 127.0.0.1:5672 (guest/guest).
//! Every test uses its own exchange and queue names (or its own vhost) so parallel runs never collide.
#![allow(dead_code)]

pub mod declared;

pub mod private_broker;

pub mod receivers;

pub mod rng;

pub mod step_sender;

// Re-exported for `use common::*`; a test binary that declares nothing on a broker does not use them.
#[allow(unused_imports)]
pub use declared::{exchange_exists, queue_exists, Declared};

use amiquip::{
    AmqpProperties, Connection, ExchangeDeclareOptions, ExchangeType, FieldTable, Publish, QueueDeclareOptions,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use warren::cache::writer::FileRules;
use warren::config::settings::Settings;
use warren::whisper::{AggregationMethod, ArchiveSpec};

pub const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A name no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{}-{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

pub fn now() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32
}

/// Settings for one test: its own data dir, exchange, queue, patterns; threads not pinned; CarbonLink on a free port.
pub fn settings(data_dir: &Path, url: &str, exchange: &str, queue: &str, patterns: &[&str]) -> Settings {
    let mut s = Settings { data_dir: data_dir.to_path_buf(), ..Settings::default() };
    s.amqp.url = url.to_string();
    s.amqp.exchange = exchange.to_string();
    s.amqp.queue = Some(queue.to_string());
    s.amqp.bind_patterns = patterns.iter().map(|p| p.to_string()).collect();
    s.amqp.workers = 2;
    s.amqp.pin_threads = false;
    s.amqp.max_reconnect_delay_secs = 1;
    // Parallel tests must not race for ports 2003/2004 (socket tests set their own port-0 addresses).
    s.receivers.enabled = false;
    // Tests run in parallel: CarbonLink on a free port, never the default 7002.
    s.query.carbonlink = Some("127.0.0.1:0".into());
    s.query.http = Some("127.0.0.1:0".into());
    s
}

/// Settings for a `warren relay` under test: publishes to `ex` through `urls`, plaintext TCP on a free port (no
/// pickle), no self-metrics, a 50 ms flush and a 1 s reconnect cap.
pub fn relay_settings(urls: &[String], ex: &str) -> Settings {
    let mut s = Settings::default();
    s.amqp.urls = urls.to_vec();
    s.amqp.exchange = ex.to_string();
    s.receivers.enabled = true;
    s.receivers.line_tcp = Some("127.0.0.1:0".into());
    s.receivers.pickle = None;
    s.stats.metric_interval_secs = 0;
    s.relay.flush_interval_ms = 50;
    s.relay.max_reconnect_delay_secs = 1;
    s
}

/// A publisher connection with the exchange and the test's queue declared and bound, so that nothing
/// published before the engine's workers connect is lost. It deletes nothing: a [`Declared`] does, on drop.
pub struct Publisher {
    _conn: Connection,
    channel: amiquip::Channel,
    exchange: String,
    confirms: crossbeam::channel::Receiver<amiquip::Confirm>,
    /// Delivery tag of the next publish on this channel (tags count from 1 per channel).
    next_tag: std::cell::Cell<u64>,
    /// Highest tag up to which everything is confirmed.
    confirmed: std::cell::Cell<u64>,
    smoother: std::cell::RefCell<amiquip::ConfirmSmoother>,
}

impl Publisher {
    pub fn new(url: &str, exchange: &str, queue: &str, patterns: &[&str]) -> Publisher {
        let mut conn = Connection::insecure_open(url).expect("broker reachable at 127.0.0.1:5672");
        let channel = conn.open_channel(None).unwrap();
        channel
            .exchange_declare(
                ExchangeType::Topic,
                exchange,
                ExchangeDeclareOptions { durable: true, ..Default::default() },
            )
            .unwrap();
        if !queue.is_empty() {
            channel.queue_declare(queue, QueueDeclareOptions { durable: true, ..Default::default() }).unwrap();
            for p in patterns {
                channel.queue_bind(queue, exchange, *p, FieldTable::new()).unwrap();
            }
        }
        let confirms = channel.listen_for_publisher_confirms().unwrap();
        channel.enable_publisher_confirms().unwrap();
        Publisher {
            _conn: conn,
            channel,
            exchange: exchange.to_string(),
            confirms,
            next_tag: std::cell::Cell::new(1),
            confirmed: std::cell::Cell::new(0),
            smoother: std::cell::RefCell::new(amiquip::ConfirmSmoother::new()),
        }
    }

    /// Publish one persistent message and wait for the broker's confirm.
    pub fn publish(&self, key: &str, body: &[u8]) {
        self.publish_all([(key.to_string(), body.to_vec())]);
    }

    /// Publish many persistent messages, then wait until the broker has confirmed every one of them.
    /// Panics on a nack or a connection failure (callers that survive broker restarts catch it).
    pub fn publish_all(&self, msgs: impl IntoIterator<Item = (String, Vec<u8>)>) {
        for (key, body) in msgs {
            self.channel
                .basic_publish(
                    self.exchange.as_str(),
                    Publish::with_properties(&body, key, AmqpProperties::default().with_delivery_mode(2)),
                )
                .unwrap();
            self.next_tag.set(self.next_tag.get() + 1);
        }
        let last = self.next_tag.get() - 1;
        while self.confirmed.get() < last {
            let c = self.confirms.recv_timeout(Duration::from_secs(30)).expect("publisher confirms");
            // The smoother turns out-of-order and `multiple` confirms into one in-order confirm per tag.
            let mut smoother = self.smoother.borrow_mut();
            for c in smoother.process(c) {
                match c {
                    amiquip::Confirm::Ack(p) => self.confirmed.set(p.delivery_tag),
                    amiquip::Confirm::Nack(p) => panic!("broker nacked {p:?}"),
                }
            }
        }
    }
}

/// Publish `msgs` until a broker confirms all of them, reconnecting through `p` (opened on `urls[*node]` with
/// [`Publisher::new`]`(url, exchange, queue, patterns)` when `None`). When the connection fails (the publisher
/// panics on a closed connection), `*node` moves on to the next URL and the whole of `msgs` is sent again:
/// rewriting the same points is idempotent. For tests that restart or kill brokers mid-stream.
pub fn publish_confirmed(
    p: &mut Option<Publisher>,
    node: &mut usize,
    urls: &[String],
    exchange: &str,
    queue: &str,
    patterns: &[&str],
    msgs: &[(String, Vec<u8>)],
) {
    loop {
        if p.is_none() {
            *p = std::panic::catch_unwind(|| Publisher::new(&urls[*node], exchange, queue, patterns)).ok();
            if p.is_none() {
                *node = (*node + 1) % urls.len();
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        let pubr = p.as_ref().expect("connected above");
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pubr.publish_all(msgs.to_vec()))).is_ok() {
            return;
        }
        *p = None;
        *node = (*node + 1) % urls.len();
    }
}

/// Poll `f` until it is true or `secs` pass.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// `rabbitmqctl` with arguments; stdout.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl").args(args).output().expect("rabbitmqctl runs");
    assert!(out.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (ready, unacked) messages of `queue` in `vhost`, as the broker counts them.
pub fn queue_counts(vhost: &str, queue: &str) -> (u64, u64) {
    // rabbitmqctl itself can fail once under heavy load (its Erlang VM start times out): retry before failing.
    let args = ["-q", "list_queues", "-p", vhost, "name", "messages_ready", "messages_unacknowledged"];
    let mut out = None;
    for _ in 0..3 {
        let o = Command::new("rabbitmqctl").args(args).output().expect("rabbitmqctl runs");
        if o.status.success() {
            out = Some(String::from_utf8_lossy(&o.stdout).into_owned());
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = out.unwrap_or_else(|| rabbitmqctl(&args));
    parse_queue_counts(&out, queue).unwrap_or_else(|| panic!("queue {queue} not found in vhost {vhost}: {out}"))
}

/// (ready, unacked) of `queue` in `rabbitmqctl list_queues name messages_ready messages_unacknowledged` output.
pub fn parse_queue_counts(out: &str, queue: &str) -> Option<(u64, u64)> {
    out.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() == 3 && f[0] == queue).then(|| (f[1].parse().unwrap(), f[2].parse().unwrap()))
    })
}

/// A vhost of the test's own (for tests that close every connection of a vhost); deleted on drop (also when
/// the test panics), with every exchange and queue in it: the cleanup guard of the tests that run in one.
pub struct Vhost(pub String);

impl Vhost {
    pub fn new() -> Vhost {
        Vhost::adopt(&unique("warren-test"))
    }
    /// Create the vhost `name` (guest may use it); deleted on drop.
    pub fn adopt(name: &str) -> Vhost {
        rabbitmqctl(&["-q", "add_vhost", name]);
        rabbitmqctl(&["-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"]);
        Vhost(name.to_string())
    }
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.0)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["-q", "delete_vhost", &self.0]).output();
    }
}

/// One test's world on the broker and on disk: its own vhost, data dir, exchange and queue (bound with `#`), a
/// publisher to them, and [`settings`] for all of them. Fields drop in order: the publisher, then the data dir,
/// then the vhost (deleted with everything in it).
pub struct Rig {
    pub publisher: Publisher,
    pub settings: Settings,
    pub dir: tempfile::TempDir,
    pub ex: String,
    pub q: String,
    pub vhost: Vhost,
}

impl Rig {
    pub fn new() -> Rig {
        let vhost = Vhost::new();
        let url = vhost.url();
        let dir = tempfile::tempdir().unwrap();
        let (ex, q) = (unique("ex"), unique("q"));
        let publisher = Publisher::new(&url, &ex, &q, &["#"]);
        let settings = settings(dir.path(), &url, &ex, &q, &["#"]);
        Rig { publisher, settings, dir, ex, q, vhost }
    }
}

/// Values of `metric` under `data_dir` as python3-whisper (the reference) reads them: (timestamp, value) pairs
/// of non-empty slots over the last `seconds`.
pub fn python_fetch(data_dir: &Path, metric: &str, seconds: u32) -> Vec<(u32, f64)> {
    let path = warren::metric::file_path(data_dir, metric);
    let script = format!(
        "import whisper, json, time\n\
         (s, e, step), vals = whisper.fetch({path:?}, time.time() - {seconds})\n\
         print(json.dumps([[s + i * step, v] for i, v in enumerate(vals) if v is not None]))",
        path = path.display().to_string()
    );
    let out = Command::new("/usr/bin/python3").arg("-c").arg(&script).output().expect("/usr/bin/python3 runs");
    assert!(
        out.status.success(),
        "python3-whisper fetch failed (apt-get install python3-whisper): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<(f64, f64)> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter().map(|(t, x)| (t as u32, x)).collect()
}

/// A child process (warren), killed and reaped if the test fails before stopping it.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Send signal `sig` ("TERM", "HUP") to `pid` with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill -{sig} {pid}");
}

/// A TCP connection (to a receiver, CarbonLink, the HTTP API) with a 10 s read timeout; `None`: the receiver is
/// not bound, a test bug.
pub fn connect(addr: impl Into<Option<SocketAddr>>) -> TcpStream {
    let s = TcpStream::connect(addr.into().expect("receiver bound")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// True when the server closes `s` (EOF or reset) within its read timeout.
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 16];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// One HTTP/1.1 exchange on a kept-open connection (`form`: an urlencoded body): (status, content type, body).
pub fn exchange11(
    r: &mut BufReader<TcpStream>,
    method: &str,
    path: &str,
    form: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n");
    if let Some(body) = form {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    r.get_mut().write_all(req.as_bytes()).unwrap();
    read_response(r)
}

/// One HTTP/1.1 response on a kept-open connection: the status line, the head up to its blank line, then
/// Content-Length bytes of body: (status, content type, body). Panics if the server says it closes.
pub fn read_response(r: &mut impl BufRead) -> (u16, String, Vec<u8>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (mut len, mut ctype) = (0usize, String::new());
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        if k.eq_ignore_ascii_case("content-length") {
            len = v.trim().parse().unwrap();
        } else if k.eq_ignore_ascii_case("content-type") {
            ctype = v.trim().to_string();
        } else if k.eq_ignore_ascii_case("connection") {
            assert!(!v.trim().eq_ignore_ascii_case("close"), "the server closes a keep-alive connection");
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, ctype, body)
}

/// Names (as the kernel keeps them: at most 15 bytes) of this process's threads that start with `prefix`. Thread
/// names are process-wide: a test counting them must be the only one of its binary running such threads.
pub fn threads_named(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim_end().to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// File rules giving every metric one archive of `points` slots of `seconds_per_point`, averaged (xff 0.5).
pub struct OneArchive {
    pub seconds_per_point: u32,
    pub points: u32,
}

impl FileRules for OneArchive {
    fn archives(&self, _metric: &str) -> Vec<ArchiveSpec> {
        vec![ArchiveSpec { seconds_per_point: self.seconds_per_point, points: self.points }]
    }
    fn aggregation(&self, _metric: &str) -> (AggregationMethod, f32) {
        (AggregationMethod::Average, 0.5)
    }
}
