//! Every carbon.conf key is applied, refused or listed: one test per class, through the real CLI where the
//! class shows at the edge (refusal, the list of unsupported keys), and USE_FLOW_CONTROL = False's drop-at-max
//! behaviour against the real broker.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use warren::cache::writer::DefaultRules;
use warren::cli::cache::{read_settings, CacheArgs};
use warren::engine::Engine;

fn args(conf: &std::path::Path) -> CacheArgs {
    CacheArgs { config: None, carbon_conf: Some(conf.to_path_buf()), instance: None, stats_every_ms: None }
}

#[test]
fn applied_keys_change_the_settings_and_are_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("carbon.conf");
    let text = "[cache]\nUSE_FLOW_CONTROL = False\nMAX_CACHE_SIZE = 1000\nLOG_DIR = /var/log/w\nLOG_CREATES = True\n\
                PICKLE_RECEIVER_MAX_LENGTH = 4096\nDATABASE = whisper\nLOG_UPDATES = False\nUSE_WHITELIST = False\n\
                ENABLE_TAGS = False\nMIN_TIMESTAMP_RESOLUTION = 1\nAMQP_PASSWORD = s3cret\n";
    std::fs::write(&conf, text).unwrap();
    let (s, unsupported) = read_settings(&args(&conf)).unwrap();
    assert!(unsupported.is_empty(), "{unsupported:?}");
    assert!(!s.cache.flow_control);
    assert_eq!((s.cache.max_size, s.cache.low_watermark), (1000, 950));
    assert_eq!(s.log_file.as_deref(), Some(std::path::Path::new("/var/log/w/console.log")));
    assert!(s.log_creates);
    assert_eq!(s.creates_log.as_deref(), Some(std::path::Path::new("/var/log/w/creates.log")));
    assert_eq!(s.receivers.max_pickle_frame, 4096);
    // The password alone changes the URL too (it used to be dropped unless a host, port, user or vhost was set).
    assert_eq!(s.amqp.url, "amqp://guest:s3cret@127.0.0.1:5672/%2F");
}

#[test]
fn database_ceres_refuses_to_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("carbon.conf");
    std::fs::write(&conf, format!("[cache]\nLOCAL_DATA_DIR = {}\nDATABASE = ceres\n", dir.path().display())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["cache", "--carbon-conf"])
        .arg(&conf)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("carbon.conf refused: DATABASE = ceres: warren writes whisper files only"), "{stderr}");
    assert!(!stderr.contains("starting warren cache"), "refused before anything starts: {stderr}");
}

#[test]
fn unsupported_keys_are_listed_once_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("carbon.conf");
    let text = format!(
        "[cache]\nLOCAL_DATA_DIR = {}\nENABLE_AMQP = False\nLINE_RECEIVER_PORT = 0\nPICKLE_RECEIVER_PORT = 0\n\
         CACHE_QUERY_INTERFACE = 127.0.0.1\nCACHE_QUERY_PORT = 0\nCARBON_METRIC_INTERVAL = 0\n\
         USER = _graphite\nLOG_UPDATES = True\nNO_SUCH_KEY = 1\nMAX_CACHE_SIZE = inf\n",
        dir.path().join("whisper").display()
    );
    std::fs::write(&conf, text).unwrap();
    // carbon.conf has no key for the HTTP API: a TOML underneath turns it off, so the test never needs port 8070.
    let toml = dir.path().join("warren.toml");
    std::fs::write(&toml, "[query]\nhttp = \"\"\n").unwrap();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_warren"))
            .args(["cache", "--config"])
            .arg(&toml)
            .arg("--carbon-conf")
            .arg(&conf)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !lines.iter().any(|l: &String| l.contains("query servers")) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(l);
        }
    }
    assert!(lines.iter().any(|l| l.contains("query servers")), "started: {lines:#?}");
    signal(child.0.id(), "TERM");
    let status = child.0.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    assert!(status.success(), "SIGTERM stops cleanly: {lines:#?}");
    let listed: Vec<&String> = lines.iter().filter(|l| l.contains("carbon.conf key not supported")).collect();
    for key in ["USER", "LOG_UPDATES", "NO_SUCH_KEY"] {
        let n = listed.iter().filter(|l| l.contains(&format!("key={key} "))).count();
        assert_eq!(n, 1, "{key} listed once: {listed:#?}");
    }
    assert_eq!(listed.len(), 3, "applied keys are not listed: {listed:#?}");
}

/// USE_FLOW_CONTROL = False: with writes held, a full cache keeps `max_size` points and drops the rest,
/// counted; deliveries whose points were all dropped are acked at once; with flow control on (the control),
/// nothing is dropped and every point reaches disk.
#[test]
fn without_flow_control_a_full_cache_drops_and_counts_new_points() {
    for flow_control in [false, true] {
        let vhost = Vhost::new();
        let url = vhost.url();
        let dir = tempfile::tempdir().unwrap();
        let (ex, q) = (unique("ex"), unique("q"));
        let publisher = Publisher::new(&url, &ex, &q, &["#"]);
        let mut s = settings(dir.path(), &url, &ex, &q, &["#"]);
        s.amqp.workers = 1;
        s.cache.flow_control = flow_control;
        s.cache.max_size = 100;
        s.cache.low_watermark = 50;
        s.stats.metric_interval_secs = 0;
        let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
        engine.hold_writes.store(true, Ordering::Release);
        // Three messages of 100 points each (one metric per message, one point a minute).
        let end = now() / 60 * 60 - 60;
        for m in 0..3 {
            let body: String = (0..100).map(|i| format!("{i} {}\n", end - (99 - i) * 60)).collect();
            publisher.publish(&format!("fc.m{m}"), body.as_bytes());
        }
        let stats = &engine.stats;
        if !flow_control {
            assert!(wait_until(20, || stats.overflow_dropped.load(Ordering::Relaxed) == 200));
            // Nothing is acked while the first delivery's points wait in the cache (acks go in delivery order).
            assert_eq!(queue_counts(&vhost.0, &q), (0, 3));
        } else {
            assert!(wait_until(20, || stats.cache_overflow.load(Ordering::Relaxed) >= 1), "inputs paused");
        }
        engine.hold_writes.store(false, Ordering::Release);
        assert!(wait_until(30, || queue_counts(&vhost.0, &q) == (0, 0)), "everything acked");
        let on_disk: Vec<usize> = (0..3).map(|m| stored_count(dir.path(), &format!("fc.m{m}"))).collect();
        if flow_control {
            assert_eq!(stats.overflow_dropped.load(Ordering::Relaxed), 0);
            assert_eq!(on_disk, vec![100, 100, 100]);
        } else {
            assert_eq!(stats.overflow_dropped.load(Ordering::Relaxed), 200);
            assert_eq!(on_disk, vec![100, 0, 0]);
        }
        engine.stop().unwrap();
    }
}

fn stored_count(dir: &std::path::Path, metric: &str) -> usize {
    let path = warren::metric::file_path(dir, metric);
    if !path.exists() {
        return 0;
    }
    python_fetch(dir, metric, 7200).len()
}
