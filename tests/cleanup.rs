//! The tests' broker cleanup is a Drop guard (tests/common/declared.rs): a test that panics inside the scope of a
//! [`Declared`] still leaves no exchange or queue on the shared broker, and an engine in that scope is stopped
//! before its queue is deleted, so it cannot declare the queue again. Checked with passive declares; negative
//! controls: every object exists (and the queue holds what was published, or has the engine's consumers) just
//! before the panic.

mod common;

use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

#[test]
fn a_panic_in_a_guarded_scope_deletes_the_exchange_and_the_queue() {
    let (ex, q) = (unique("ex-guard"), unique("q-guard"));
    let failed = catch_unwind(|| {
        let _declared = Declared::new(BROKER, &[&ex], &[&q]);
        let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
        publisher.publish("guard.m", b"1 100");
        // Negative control: both exist, and the queue holds the confirmed message.
        assert!(exchange_exists(BROKER, &ex), "{ex} declared");
        assert!(queue_exists(BROKER, &q), "{q} declared");
        assert!(wait_until(10, || queue_counts("/", &q) == (1, 0)), "{:?}", queue_counts("/", &q));
        panic!("a test failing mid-way");
    });
    let message = *failed.expect_err("the scope panicked").downcast::<&str>().unwrap();
    assert_eq!(message, "a test failing mid-way");
    assert!(!queue_exists(BROKER, &q), "{q} deleted by the guard");
    assert!(!exchange_exists(BROKER, &ex), "{ex} deleted by the guard");
}

#[test]
fn the_guard_deletes_what_an_engine_declared_after_the_engine_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex-guard-engine"), unique("q-guard-engine"));
    let failed = catch_unwind(AssertUnwindSafe(|| {
        // Only the engine declares the exchange and the queue; the guard is created first, so it drops last.
        let _declared = Declared::new(BROKER, &[&ex], &[&q]);
        let engine = Engine::start(&settings(dir.path(), BROKER, &ex, &q, &["#"]), Box::new(DefaultRules)).unwrap();
        // Negative control: both workers consume from the queue the engine declared.
        assert!(wait_until(30, || engine.stats.connects.load(Ordering::Relaxed) == 2), "workers connected");
        assert!(wait_until(30, || consumers(&q) == Some(2)), "consumers of {q}: {:?}", consumers(&q));
        assert!(exchange_exists(BROKER, &ex), "{ex} declared by the engine");
        assert_eq!(threads_named("amqp-").len(), 2, "{:?}", threads_named(""));
        panic!("a test failing mid-way");
    }));
    assert!(failed.is_err());
    // The engine dropped first: its workers are joined, so nothing can declare the queue again.
    assert_eq!(threads_named("amqp-"), Vec::<String>::new(), "the engine stopped on drop");
    assert!(!queue_exists(BROKER, &q), "{q} deleted by the guard");
    assert!(!exchange_exists(BROKER, &ex), "{ex} deleted by the guard");
}

/// Consumers of `queue` in vhost `/` as the broker counts them; `None` while it is not listed.
fn consumers(queue: &str) -> Option<u64> {
    rabbitmqctl(&["-q", "list_queues", "name", "consumers"]).lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 2 && f[0] == queue).then(|| f[1].parse().unwrap())
    })
}
