//! `[whisper] sync = "batch"`: no delivery is completed (handed to its worker for acking) before every file its
//! points went to was `fdatasync`ed after its last write. Shown on the writer's own journal of writes, syncs and
//! completions (cargo feature `test-hooks`), with deliveries that each touch several files and share them; the
//! same check on `sync = "none"` finds the violations, so it can fail.

mod common;

use common::*;
use std::sync::atomic::Ordering;
use warren::cache::durable::journal::Event;
use warren::cache::writer::DefaultRules;
use warren::config::settings::SyncMode;
use warren::engine::Engine;

const MESSAGES: usize = 40;

/// The metrics of message `k` (0-based): three of twelve, overlapping with its neighbours'.
fn metrics_of(k: usize) -> Vec<String> {
    (0..3).map(|j| format!("durable.m{}", (k + 4 * j) % 12)).collect()
}

/// Completions that came before a sync of one of their files following its last write: (tag, metric).
fn violations(events: &[Event]) -> Vec<(u64, String)> {
    let mut bad = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let Event::Completed { tag, .. } = e else { continue };
        // One worker, one channel, no redelivery: delivery tag k + 1 is message k.
        for m in metrics_of(*tag as usize - 1) {
            let last_write = events[..i].iter().rposition(|e| *e == Event::Wrote(m.clone()));
            let last_write = last_write.unwrap_or_else(|| panic!("tag {tag} completed before {m} was written"));
            if !events[last_write..i].contains(&Event::Synced(m.clone())) {
                bad.push((*tag, m));
            }
        }
    }
    bad
}

/// Publish the messages to an engine with `sync`, wait until all are acked; the writer's journal.
fn run(sync: SyncMode) -> (Vec<Event>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex-durable"), unique("q-durable"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut s = settings(dir.path(), BROKER, &ex, &q, &["#"]);
    s.amqp.workers = 1;
    s.amqp.metric_name_in_body = true;
    s.whisper.sync = sync;
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    engine.journal.start();
    let t = now() / 60 * 60 - 60;
    // All at once: loop turns then write several files and complete several deliveries each.
    publisher.publish_all((0..MESSAGES).map(|k| {
        ("ignored".to_string(), metrics_of(k).iter().map(|m| format!("{m} {k} {t}\n")).collect::<String>().into_bytes())
    }));
    assert!(wait_until(30, || queue_counts("/", &q) == (0, 0)), "acked: {:?}", queue_counts("/", &q));
    assert_eq!(engine.stats.acked.load(Ordering::Relaxed), MESSAGES as u64);
    let syncs = engine.stats.syncs.load(Ordering::Relaxed);
    let journal = engine.journal.clone();
    engine.stop().unwrap();
    (journal.events(), syncs)
}

#[test]
fn with_sync_batch_no_delivery_completes_before_its_files_are_synced() {
    let (events, syncs) = run(SyncMode::Batch);
    let completed = events.iter().filter(|e| matches!(e, Event::Completed { .. })).count();
    assert_eq!(completed, MESSAGES, "every delivery completed once");
    assert_eq!(violations(&events), [], "completions before their files' syncs");
    let writes = events.iter().filter(|e| matches!(e, Event::Wrote(_))).count() as u64;
    let synced = events.iter().filter(|e| matches!(e, Event::Synced(_))).count() as u64;
    // New files' directory entries are synced too, before the first completion: the data dir and `durable/`.
    let dirs: Vec<&std::path::PathBuf> =
        events.iter().filter_map(|e| if let Event::SyncedDir(d) = e { Some(d) } else { None }).collect();
    let first_completion = events.iter().position(|e| matches!(e, Event::Completed { .. })).unwrap();
    assert!(events[..first_completion].iter().any(|e| matches!(e, Event::SyncedDir(d) if d.ends_with("durable"))));
    let unique: std::collections::BTreeSet<_> = dirs.iter().collect();
    assert_eq!(unique.len(), 2, "the data dir and durable/: {dirs:?}");
    assert_eq!(synced + dirs.len() as u64, syncs, "every sync counted");
    assert!(synced > 0 && synced <= writes, "{synced} syncs for {writes} writes: at most one per write");
    eprintln!("{writes} writes, {synced} syncs, {completed} completions");
}

#[test]
fn with_sync_syncfs_no_delivery_completes_before_the_filesystem_is_synced() {
    let (events, syncs) = run(SyncMode::Syncfs);
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Completed { .. })).count(), MESSAGES);
    assert_eq!(violations(&events), [], "completions before their filesystem's sync");
    let writes = events.iter().filter(|e| matches!(e, Event::Wrote(_))).count() as u64;
    assert!(syncs > 0 && syncs <= writes, "{syncs} syncfs calls for {writes} writes");
}

/// The negative control: without syncs the same check finds completions whose files were never synced.
#[test]
fn with_sync_none_the_check_finds_unsynced_completions() {
    let (events, syncs) = run(SyncMode::None);
    assert_eq!(syncs, 0);
    assert!(!events.iter().any(|e| matches!(e, Event::Synced(_))));
    let completed = events.iter().filter(|e| matches!(e, Event::Completed { .. })).count();
    assert_eq!(completed, MESSAGES);
    // Every file of every delivery is unsynced at its completion.
    assert_eq!(violations(&events).len(), 3 * MESSAGES);
}
