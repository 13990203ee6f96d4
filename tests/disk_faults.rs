//! Disk faults: a data dir that is read-only, then full. warren keeps running, logs, keeps the points cached and
//! their deliveries unacked, and writes them all once the fault clears. A stop on a full data dir ends (the final
//! flush gives up), leaving the deliveries unacked and counting the socket points it could not write. The data
//! dir is a tmpfs of the test's own (mounting needs root, as in CI), remounted to make and clear each fault.

mod common;

use common::*;
use std::process::Command;
use std::sync::atomic::Ordering;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

struct Mount(std::path::PathBuf);

impl Mount {
    fn new(dir: &std::path::Path, opts: &str) -> Mount {
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", opts, "tmpfs"]).arg(dir).output().unwrap();
        assert!(out.status.success(), "mounting a tmpfs needs root: {}", String::from_utf8_lossy(&out.stderr));
        Mount(dir.to_path_buf())
    }
    fn remount(&self, opts: &str) {
        let out = Command::new("mount").args(["-o", &format!("remount,{opts}")]).arg(&self.0).output().unwrap();
        assert!(out.status.success(), "remount {opts}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Makes the mount writable and roomy again when dropped.
struct RoomOnDrop(std::path::PathBuf);

impl Drop for RoomOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("mount").args(["-o", "remount,rw,size=64m"]).arg(&self.0).status();
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_then_full_data_dir_keeps_points_unacked_until_the_fault_clears() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = Mount::new(&mnt, "size=64m");
    let data = mnt.join("whisper");
    std::fs::create_dir(&data).unwrap();
    mount.remount("ro");

    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut s = settings(&data, BROKER, &ex, &q, &["#"]);
    s.amqp.workers = 1;
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    // Dropped before the engine: if an assertion fails while the disk is full, give the writer room so the engine's
    // stop-on-drop can flush and the failure is reported instead of hanging.
    let _room = RoomOnDrop(mnt.clone());
    let t = now() / 60 * 60 - 120;
    let metrics = 8;
    publisher.publish_all((0..metrics).map(|m| (format!("disk.m{m}"), format!("{m}.5 {t}").into_bytes())));

    // Read-only: nothing can be created; every delivery stays unacked; the writer keeps retrying.
    assert!(wait_until(20, || engine.stats.errors.load(Ordering::Relaxed) >= metrics as u64));
    assert_eq!(queue_counts("/", &q), (0, metrics as u64), "(ready, unacked) on a read-only data dir");
    assert_eq!(engine.stats.committed_points.load(Ordering::Relaxed), 0);

    // Writable but nearly full: a 60 s × 7 d file needs 121 KB, so only some files fit.
    let errors_before = engine.stats.errors.load(Ordering::Relaxed);
    mount.remount("rw,size=300k");
    // Failed creates are retried every second: once the files that do not fit have failed twice each after the
    // remount, every metric has been tried on the writable disk, and what fits is created.
    let (errors, creates) =
        (|| engine.stats.errors.load(Ordering::Relaxed), || engine.stats.creates.load(Ordering::Relaxed));
    assert!(
        wait_until(30, || creates() >= 1 && errors() - errors_before >= 2 * (metrics as u64 - creates())),
        "errors {} (from {errors_before}), creates {}",
        errors(),
        creates()
    );
    let created = creates();
    assert!(created < metrics as u64, "the disk was full for some files (created {created})");
    // One metric per delivery, published m0..m7 in order. A worker acks the finished prefix of its deliveries with
    // one ack_multiple; finished ones behind an unfinished delivery are acked one by one once that front has been
    // stuck for 5 s (the disk stays full, so it is). The creator pool may create any of the metrics, so in the
    // end exactly the deliveries whose metric has no file stay unacked, and those with a file behind the first
    // without one were acked one by one.
    let has_file = |m: usize| data.join("disk").join(format!("m{m}.wsp")).exists();
    assert_eq!((0..metrics).filter(|&m| has_file(m)).count() as u64, created, "one file per create");
    let acked_prefix = (0..metrics).take_while(|&m| has_file(m)).count() as u64;
    let want = (0, metrics as u64 - created);
    assert!(wait_until(30, || queue_counts("/", &q) == want), "{:?}, want {want:?}", queue_counts("/", &q));
    assert_eq!(engine.stats.acked_singly.load(Ordering::Relaxed), created - acked_prefix);
    assert_eq!(engine.stats.acked.load(Ordering::Relaxed), created);
    assert_eq!(engine.stats.committed_points.load(Ordering::Relaxed), created, "one point per created file");
    assert_eq!(creates(), created, "nothing more fits");

    // The fault clears: everything is written and acked, with the right values.
    mount.remount("size=64m");
    assert!(
        wait_until(30, || queue_counts("/", &q) == (0, 0)),
        "all acked once the disk has room: {:?}",
        queue_counts("/", &q)
    );
    for m in 0..metrics {
        assert_eq!(python_fetch(&data, &format!("disk.m{m}"), 3600), vec![(t, m as f64 + 0.5)], "disk.m{m}");
    }
    engine.stop().unwrap();
    drop(mount);
}

/// Fill the file system under `dir` to the last byte.
fn fill(dir: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let page = [0u8; 4096];
    loop {
        match f.write(&page) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
}

#[test]
fn a_stop_on_a_full_data_dir_ends_leaves_deliveries_unacked_and_counts_lost_socket_points() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = Mount::new(&mnt, "size=256k");
    let data = mnt.join("whisper");
    std::fs::create_dir(&data).unwrap();
    fill(&mnt);

    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut s = settings(&data, BROKER, &ex, &q, &["#"]);
    s.amqp.workers = 1;
    s.receivers = warren::config::settings::ReceiverSettings {
        line_tcp: Some("127.0.0.1:0".into()),
        pickle: None,
        ..Default::default()
    };
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let _room = RoomOnDrop(mnt.clone());
    let t = now() / 60 * 60 - 120;
    let (deliveries, socket_points) = (4u64, 3u64);
    publisher.publish_all((0..deliveries).map(|m| (format!("full.amqp{m}"), format!("{m}.5 {t}").into_bytes())));
    let mut line = connect(engine.receivers.line_tcp);
    for m in 0..socket_points {
        std::io::Write::write_all(&mut line, format!("full.sock{m} {m}.5 {t}\n").as_bytes()).unwrap();
    }
    let stats = engine.stats.clone();
    let counter = |c: fn(&warren::stats::Stats) -> &std::sync::atomic::AtomicU64| c(&stats).load(Ordering::Relaxed);
    // Every metric failed at least once: no file fits.
    assert!(wait_until(20, || {
        counter(|s| &s.points_received) == deliveries + socket_points
            && counter(|s| &s.errors) >= deliveries + socket_points
    }));
    assert_eq!(queue_counts("/", &q), (0, deliveries), "(ready, unacked) on a full data dir");
    let errors_before = counter(|s| &s.errors);

    // The stop ends although nothing can be written (before the fix, the final flush retried for 10 minutes).
    let stopper = std::thread::spawn(move || engine.stop());
    assert!(wait_until(60, || stopper.is_finished()), "the stop on a full data dir ends");
    stopper.join().unwrap().unwrap();
    assert_eq!(counter(|s| &s.committed_points), 0);
    assert_eq!(counter(|s| &s.creates), 0);
    // Each metric was tried FINAL_FLUSH_ATTEMPTS times by the final flush before it gave up.
    let attempts = u64::from(warren::cache::writer::FINAL_FLUSH_ATTEMPTS);
    assert!(counter(|s| &s.errors) - errors_before >= (deliveries + socket_points) * attempts);
    assert_eq!(counter(|s| &s.stop_dropped_points), socket_points, "the socket points are counted as lost");
    // The deliveries were never acked: with the engine's connection closed, the broker has them all ready again.
    assert!(
        wait_until(10, || queue_counts("/", &q) == (deliveries, 0)),
        "(ready, unacked) after the stop: {:?}",
        queue_counts("/", &q)
    );
    drop(mount);
}
