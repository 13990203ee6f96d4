//! The load tools against the real broker: `warren publish` delivers exactly what it says, the synthetic load is
//! deterministic, and a tiny `warren bench` run ends with every point verified on disk.

mod common;

use common::{unique, Declared, BROKER};
use std::process::Command;
use warren::bench::broker;
use warren::bench::load::{value_of, Load, Message};

const WARREN: &str = env!("CARGO_BIN_EXE_warren");

#[test]
fn publish_of_a_synthetic_load_is_confirmed_and_queued_exactly() {
    let exchange = unique("bench-publish-x");
    let queue = unique("bench-publish-q");
    let _declared = Declared::new(BROKER, &[&exchange], &[&queue]);
    let out = Command::new(WARREN)
        .args(["publish", "--url", BROKER, "--exchange", &exchange, "--queue", &queue, "--bind", "#"])
        .args(["--metrics", "50", "--points", "7", "--per-msg", "3", "--connections", "2", "--window", "5", "--quiet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ready = broker::ready_messages(BROKER, &queue);
    assert!(out.status.success(), "warren publish failed: {}", String::from_utf8_lossy(&out.stderr));
    // 7 points in messages of 3: 3 messages per metric.
    assert!(stdout.contains("published 150 messages, 350 points"), "{stdout}");
    assert_eq!(ready.unwrap(), 150);
}

#[test]
fn publish_of_plaintext_lines_from_stdin_groups_them_per_metric() {
    use std::io::Write;
    let exchange = unique("bench-stdin-x");
    let queue = unique("bench-stdin-q");
    let _declared = Declared::new(BROKER, &[&exchange], &[&queue]);
    let mut child = Command::new(WARREN)
        .args(["publish", "--url", BROKER, "--exchange", &exchange, "--queue", &queue, "-k", "10", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a.b 1 100\na.b 2 110\nc.d 3 100\n\na.b 4 120\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let ready = broker::ready_messages(BROKER, &queue);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("published 3 messages, 4 points"));
    assert_eq!(ready.unwrap(), 3);
}

#[test]
fn the_synthetic_load_is_deterministic() {
    assert_eq!(value_of(3, 7), 3.0 * 1_048_576.0 + 7.25);
    for nib in [false, true] {
        let a = Load::ending_at("x", 30, 9, 4, 10, 1_700_000_123, nib);
        let b = Load::ending_at("x", 30, 9, 4, 10, 1_700_000_129, nib);
        assert_eq!(a, b, "same interval-aligned end");
        let (mut ma, mut mb) = (Message::default(), Message::default());
        for j in 0..a.messages() {
            assert!(a.message(j, &mut ma) && b.message(j, &mut mb));
            assert_eq!(ma, mb);
        }
    }
}

/// `warren bench rk-1 ARGS --dir DIR --json DIR/report.json`, which must succeed: the report and the printed table.
fn tiny_bench(dir: &std::path::Path, args: &[&str]) -> (serde_json::Value, String) {
    let json = dir.join("report.json");
    let out = Command::new(WARREN)
        .args(["bench", "rk-1", "--url", BROKER, "--quiet", "--timeout", "120"])
        .args(args)
        .arg("--dir")
        .arg(dir)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "warren bench failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap(), stdout)
}

#[test]
fn a_tiny_bench_run_verifies_every_point_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (report, stdout) = tiny_bench(dir.path(), &["--metrics", "200", "--points", "3"]);
    let v = &report["rows"][0]["verification"];
    assert_eq!(v["expected"], 600, "{report}");
    assert_eq!(v["ok"], 600, "{report}");
    assert_eq!(v["missing"], 0);
    assert_eq!(v["mismatched"], 0);
    assert!(report["ceiling"]["drain_msgs_per_sec"].as_f64().unwrap() > 0.0);
    assert!(stdout.contains("PASS"), "{stdout}");
    // The tests' broker runs on this machine: its CPU time over both drains is read (ticks of 10 ms: a tiny
    // drain may read 0), and the drain is timed up to the counters line that showed it settled.
    for cpu in [&report["ceiling"]["broker_cpu_seconds"], &report["rows"][0]["broker_cpu_seconds"]] {
        assert!(cpu.as_f64().is_some_and(|s| s >= 0.0), "{report}");
    }
    assert!(stdout.contains("broker CPU over each drain (beam.smp): ceiling "), "{stdout}");
    let seconds = report["rows"][0]["seconds_to_durable"].as_f64().unwrap();
    assert!(seconds > 0.0 && seconds < 120.0, "{report}");
    // The run's own directory is gone; only the report is left.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("report.json")]);
}

#[test]
fn repetitions_report_the_median_one_and_list_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let (report, stdout) = tiny_bench(dir.path(), &["--metrics", "100", "--points", "2", "--reps", "3"]);
    let reps = report["reps"].as_array().unwrap();
    assert_eq!(reps.len(), 3, "{report}");
    assert!(reps.iter().all(|r| r["passed"] == true), "{report}");
    // The table's rows are the repetition with the median ratio to its own ceiling.
    let mut ratios: Vec<f64> = reps.iter().map(|r| r["ratio_to_ceiling"].as_f64().unwrap()).collect();
    ratios.sort_by(f64::total_cmp);
    let row = &report["rows"][0];
    assert_eq!(row["ratio_to_ceiling"].as_f64().unwrap(), ratios[1], "{report}");
    let median = reps.iter().find(|r| r["ratio_to_ceiling"].as_f64() == Some(ratios[1])).unwrap();
    assert_eq!(row["points_per_sec"], median["warren_points_per_sec"]);
    assert_eq!(report["ceiling"]["drain_points_per_sec"], median["ceiling_points_per_sec"]);
    assert_eq!(row["verification"]["ok"], 200);
    assert!(stdout.contains("ratio to the ceiling: median"), "{stdout}");
}

/// The ceiling's null consumer, lingering as warren's workers do (and plain): it takes and acks exactly what
/// the queue held, and a drain that expects one message more than there is times out having seen them all.
#[test]
fn the_null_consumer_drains_and_acks_exactly_what_was_queued() {
    use std::time::Duration;
    use warren::bench::broker::{drain, BrokerError, DrainConfig};
    use warren::bench::publish::{publish, LoadSource, PublishConfig, PublishProgress};
    let exchange = unique("bench-drain-x");
    let queue = unique("bench-drain-q");
    let _declared = Declared::new(BROKER, &[&exchange], &[&queue]);
    broker::declare(BROKER, &exchange, Some((&queue, &["#".to_string()]))).unwrap();
    let load = Load::ending_at("drain", 300, 10, 1, 10, 1_000_000, false);
    let pcfg = PublishConfig { url: BROKER.into(), exchange: exchange.clone(), connections: 2, window: 500 };
    let cfg = |expect, linger_ms, timeout_s| DrainConfig {
        url: BROKER.into(),
        queue: queue.clone(),
        connections: 2,
        prefetch: 1000,
        expect,
        timeout: Duration::from_secs(timeout_s),
        linger: Duration::from_millis(linger_ms),
    };
    for linger_ms in [2, 0] {
        let published = publish(&pcfg, &LoadSource::new(&load), &PublishProgress::default()).unwrap();
        assert_eq!(published.messages, 3000);
        assert_eq!(broker::ready_messages(BROKER, &queue).unwrap(), 3000);
        drain(&cfg(3000, linger_ms, 60)).unwrap();
        // Every delivery was acked: nothing ready and, once the consumers are gone, nothing unacked either.
        assert_eq!(broker::ready_messages(BROKER, &queue).unwrap(), 0, "linger {linger_ms} ms");
    }
    // Negative control: one more expected than published; the drain sees the 3000 and no more, and gives up.
    publish(&pcfg, &LoadSource::new(&load), &PublishProgress::default()).unwrap();
    match drain(&cfg(3001, 2, 3)) {
        Err(BrokerError::DrainTimeout { got, want, .. }) => assert_eq!((got, want), (3000, 3001)),
        other => panic!("expected a timeout after 3000 of 3001, got {other:?}"),
    }
}
