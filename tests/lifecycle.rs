//! The engine starts and stops as one shape (go-carbon's `Stoppable`): a start that fails part-way leaves
//! nothing running, dropping a running engine stops it (flushing the cache), and `stop` joins every thread.
//! No broker needed: AMQP is off, inputs are the socket receivers and CarbonLink on 127.0.0.1:0.

mod common;

use common::threads_named;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use warren::cache::writer::DefaultRules;
use warren::config::settings::Settings;
use warren::engine::Engine;

fn engine_settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings { data_dir: dir.to_path_buf(), ..Settings::default() };
    s.amqp.enabled = false;
    s.amqp.pin_threads = false;
    s.query.carbonlink = Some("127.0.0.1:0".into());
    s.query.http = Some("127.0.0.1:0".into());
    s.receivers.line_tcp = Some("127.0.0.1:0".into());
    s.stats.metric_interval_secs = 0;
    s
}

// One test function: thread names are process-wide, so nothing else in this binary may start an engine meanwhile.
#[test]
fn a_failed_start_leaves_nothing_running_and_drop_stops_and_flushes() {
    let dir = tempfile::tempdir().unwrap();

    // Control: a good start runs a CarbonLink acceptor, a writer and the socket loop; stop joins all of them.
    let engine = Engine::start(&engine_settings(dir.path()), Box::new(DefaultRules)).unwrap();
    // A new thread names itself once it runs, so wait for the names.
    let running = || {
        threads_named("carbonlink-acc").len() == 1
            && threads_named("writer") == ["writer"]
            && threads_named("sockets") == ["sockets"]
    };
    assert!(common::wait_until(10, running), "{:?}", threads_named(""));
    engine.stop().unwrap();
    assert!(threads_named("carbonlink-acc").is_empty() && threads_named("writer").is_empty());

    // The HTTP API's address is taken: CarbonLink has started by then, and must be stopped again.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = engine_settings(dir.path());
    s.query.http = Some(taken.local_addr().unwrap().to_string());
    let before = std::fs::read_dir("/proc/self/task").unwrap().count();
    let err = Engine::start(&s, Box::new(DefaultRules)).err().expect("the start fails on the taken port");
    // Counted too, since a thread that has not named itself yet carries its parent's name. A joined thread can
    // still be listed for a moment (the kernel wakes its joiner before it has finished exiting): wait for that
    // briefly; one left running stays listed.
    let tasks = || std::fs::read_dir("/proc/self/task").unwrap().count();
    assert!(common::wait_until(2, || tasks() == before), "{} tasks, {before} before: {:?}", tasks(), threads_named(""));
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    let left: Vec<String> = ["carbonlink", "writer", "sockets"].iter().flat_map(|p| threads_named(p)).collect();
    assert!(left.is_empty(), "threads left running after a failed start: {left:?}");

    // Dropping a running engine stops it: the socket receiver closes and the writer flushes what it held.
    let engine = Engine::start(&engine_settings(dir.path()), Box::new(DefaultRules)).unwrap();
    engine.hold_writes.store(true, Ordering::Release);
    let addr = engine.receivers.line_tcp.unwrap();
    let t = common::now() - 30;
    TcpStream::connect(addr).unwrap().write_all(format!("life.drop 4.5 {t}\n").as_bytes()).unwrap();
    let stats = engine.stats.clone();
    assert!(common::wait_until(10, || stats.points_received.load(Ordering::Relaxed) == 1), "point received");
    let path = warren::metric::file_path(dir.path(), "life.drop");
    assert!(!path.exists(), "held: nothing written before the drop");
    drop(engine);
    assert_eq!(stats.committed_points.load(Ordering::Relaxed), 1, "the drop flushed the held point");
    assert_eq!(common::python_fetch(dir.path(), "life.drop", 600), [(t - t % 60, 4.5)]);
    assert!(TcpStream::connect(addr).is_err(), "the receiver's listener closed with the engine");
    assert!(threads_named("writer").is_empty() && threads_named("sockets").is_empty());
}
