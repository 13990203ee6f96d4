//! Log files as logrotate sees them: `warren cache` with `log_file` and a creates log, the files renamed,
//! SIGHUP, and the new lines land in new files at the configured paths (the renamed ones get nothing more).

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn sighup_reopens_renamed_log_files() {
    let dir = tempfile::tempdir().unwrap();
    let (log, creates) = (dir.path().join("log/warren.log"), dir.path().join("log/creates.log"));
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let config = dir.path().join("warren.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\nlog_file = {log:?}\nlog_creates = true\ncreates_log = {creates:?}\n\
             [amqp]\nurl = {BROKER:?}\nexchange = {ex:?}\nqueue = {q:?}\nworkers = 1\npin_threads = false\n\
             [receivers]\nenabled = false\n[query]\ncarbonlink = \"\"\nhttp = \"\"\n[stats]\nmetric_interval_secs = 0\n",
            data = dir.path().join("whisper").display().to_string(),
            log = log.display().to_string(),
            creates = creates.display().to_string(),
        ),
    )
    .unwrap();
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_warren"))
            .args(["cache", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_until(30, || read(&log).contains("consuming")), "log file written: {}", read(&log));
    publisher.publish("logs.first", format!("1 {}", now() - 60).as_bytes());
    assert!(wait_until(30, || read(&creates).contains("metric=logs.first")), "creates log: {}", read(&creates));
    assert!(!read(&log).contains("logs.first"), "creates lines go to the creates log only");

    // logrotate: rename, then SIGHUP.
    let (log1, creates1) = (dir.path().join("log/warren.log.1"), dir.path().join("log/creates.log.1"));
    std::fs::rename(&log, &log1).unwrap();
    std::fs::rename(&creates, &creates1).unwrap();
    signal(child.0.id(), "HUP");
    assert!(wait_until(30, || read(&log).contains("reload: bindings")), "new log file: {}", read(&log));
    publisher.publish("logs.second", format!("2 {}", now() - 60).as_bytes());
    assert!(wait_until(30, || read(&creates).contains("metric=logs.second")), "new creates log: {}", read(&creates));

    signal(child.0.id(), "TERM");
    assert!(child.0.wait().unwrap().success());
    assert!(read(&log).contains("writer stopped"), "{}", read(&log));
    // The renamed files got nothing after the rename.
    let (old_log, old_creates) = (read(&log1), read(&creates1));
    assert!(old_log.contains("consuming") && !old_log.contains("SIGHUP") && !old_log.contains("writer stopped"));
    assert!(old_creates.contains("logs.first") && !old_creates.contains("logs.second"), "{old_creates}");
}
