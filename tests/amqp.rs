//! The AMQP engine against the real RabbitMQ: points published to a topic exchange end up in whisper, read
//! back by python3-whisper (the reference), with carbon's body modes and bind-pattern semantics.

mod common;

use common::*;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

/// `n` points for a 60 s archive: aligned timestamps ending a minute ago, value = base + i.
fn points(n: u32, base: f64) -> Vec<(u32, f64)> {
    let end = now() / 60 * 60 - 60;
    (0..n).map(|i| (end - (n - 1 - i) * 60, base + i as f64)).collect()
}

fn body_rk(pts: &[(u32, f64)]) -> Vec<u8> {
    pts.iter().map(|(t, v)| format!("{v} {t}\n")).collect::<String>().into_bytes()
}

fn wait_for_points(dir: &std::path::Path, metric: &str, want: &[(u32, f64)]) {
    let ok =
        wait_until(30, || warren::metric::file_path(dir, metric).exists() && python_fetch(dir, metric, 7200) == want);
    assert!(ok, "{metric}: python3-whisper reads {:?}, want {want:?}", python_fetch(dir, metric, 7200));
}

#[test]
fn published_points_are_written_and_read_back_by_python_whisper() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let engine = Engine::start(&settings(dir.path(), BROKER, &ex, &q, &["#"]), Box::new(DefaultRules)).unwrap();
    let a = points(30, 100.0);
    let b = points(5, -2.5);
    // Several messages per metric, one point per message for `a`, all at once for `b`.
    for p in &a {
        publisher.publish("servers.web01.cpu", &body_rk(&[*p]));
    }
    publisher.publish("servers.web02.cpu", &body_rk(&b));
    wait_for_points(dir.path(), "servers.web01.cpu", &a);
    wait_for_points(dir.path(), "servers.web02.cpu", &b);
    assert!(wait_until(10, || queue_counts("/", &q) == (0, 0)), "every delivery acked");
    engine.stop().unwrap();
}

#[test]
fn name_in_body_mode_writes_each_lines_metric() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut s = settings(dir.path(), BROKER, &ex, &q, &["#"]);
    s.amqp.metric_name_in_body = true;
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let pts = points(3, 7.0);
    let body: String = pts.iter().map(|(t, v)| format!("a.x {v} {t}\nb.y {} {t}\n", v * 2.0)).collect();
    // The routing key is ignored for the name in this mode.
    publisher.publish("ignored.key", body.as_bytes());
    wait_for_points(dir.path(), "a.x", &pts);
    let doubled: Vec<_> = pts.iter().map(|&(t, v)| (t, v * 2.0)).collect();
    wait_for_points(dir.path(), "b.y", &doubled);
    assert!(!warren::metric::file_path(dir.path(), "ignored.key").exists());
    engine.stop().unwrap();
}

#[test]
fn bind_patterns_select_exactly_the_matching_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let patterns = ["servers.*.cpu", "apps.#"];
    let publisher = Publisher::new(BROKER, &ex, &q, &patterns);
    let engine = Engine::start(&settings(dir.path(), BROKER, &ex, &q, &patterns), Box::new(DefaultRules)).unwrap();
    let p = points(1, 1.0);
    let names = ["servers.a.cpu", "servers.a.b.cpu", "servers.cpu", "apps.x", "apps.x.y.z", "other.thing"];
    for n in names {
        publisher.publish(n, &body_rk(&p));
    }
    // A sentinel published last: once it is on disk, everything routed before it has been consumed.
    publisher.publish("apps.sentinel", &body_rk(&p));
    wait_for_points(dir.path(), "apps.sentinel", &p);
    assert!(wait_until(10, || queue_counts("/", &q) == (0, 0)));
    let written: Vec<&str> =
        names.iter().copied().filter(|n| warren::metric::file_path(dir.path(), n).exists()).collect();
    // `*` is exactly one word, `#` zero or more.
    assert_eq!(written, ["servers.a.cpu", "apps.x", "apps.x.y.z"]);
    engine.stop().unwrap();
}

#[test]
fn two_instances_with_disjoint_patterns_partition_a_stream() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ex = unique("ex");
    let (q1, q2) = (unique("q1"), unique("q2"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q1, &q2]);
    let (p1, p2) = (["web.#"], ["db.#"]);
    let pub1 = Publisher::new(BROKER, &ex, &q1, &p1);
    // Declares q2 and binds it before the engines start.
    drop(Publisher::new(BROKER, &ex, &q2, &p2));
    let e1 = Engine::start(&settings(d1.path(), BROKER, &ex, &q1, &p1), Box::new(DefaultRules)).unwrap();
    let e2 = Engine::start(&settings(d2.path(), BROKER, &ex, &q2, &p2), Box::new(DefaultRules)).unwrap();
    let p = points(2, 3.0);
    let metrics: Vec<String> =
        (0..20).map(|i| format!("{}.h{i}.load", if i % 2 == 0 { "web" } else { "db" })).collect();
    for m in &metrics {
        pub1.publish(m, &body_rk(&p));
    }
    for m in &metrics {
        let mine = if m.starts_with("web") { &d1 } else { &d2 };
        wait_for_points(mine.path(), m, &p);
    }
    // Only once both queues are drained and acked can nothing more arrive at the other instance.
    for q in [&q1, &q2] {
        assert!(wait_until(10, || queue_counts("/", q) == (0, 0)), "{q} drained: {:?}", queue_counts("/", q));
    }
    assert_eq!(e1.stats.deliveries.load(std::sync::atomic::Ordering::Relaxed), 10, "web.# deliveries");
    assert_eq!(e2.stats.deliveries.load(std::sync::atomic::Ordering::Relaxed), 10, "db.# deliveries");
    for m in &metrics {
        let other = if m.starts_with("web") { &d2 } else { &d1 };
        assert!(!warren::metric::file_path(other.path(), m).exists(), "{m} must not be in the other instance");
    }
    e1.stop().unwrap();
    e2.stop().unwrap();
}

#[test]
fn bad_lines_in_a_message_do_not_lose_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let publisher = Publisher::new(BROKER, &ex, &q, &["#"]);
    let mut s = settings(dir.path(), BROKER, &ex, &q, &["#"]);
    s.amqp.metric_name_in_body = true;
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let p = points(2, 5.0);
    let body = format!(
        "good.one {} {}\nthis is garbage\n../../etc/passwd 1 {}\ngood.one nan {}\nbad..name 1 {}\ngood.two {} {}\n",
        p[0].1, p[0].0, p[0].0, p[1].0, p[0].0, p[1].1, p[1].0
    );
    publisher.publish("x", body.as_bytes());
    wait_for_points(dir.path(), "good.one", &p[..1]);
    wait_for_points(dir.path(), "good.two", &p[1..]);
    let st = &engine.stats;
    assert!(wait_until(10, || queue_counts("/", &q) == (0, 0)), "the mixed message is acked");
    assert_eq!(st.bad_lines.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(st.rejected_names.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(st.nan_dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Nothing was written outside the data dir or under a refused name.
    let mut files = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_name() == ".warren" {
                continue; // warren's own state (remembered bind patterns), not metrics
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path().strip_prefix(dir.path()).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    assert_eq!(files, ["good/one.wsp", "good/two.wsp"]);
    engine.stop().unwrap();
}

#[test]
fn a_quorum_queue_is_declared_and_consumed() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let mut s = settings(dir.path(), BROKER, &ex, &q, &["#"]);
    s.amqp.queue_type = warren::config::settings::QueueType::Quorum;
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    assert!(wait_until(20, || rabbitmqctl(&["-q", "list_queues", "name", "type"])
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == [q.as_str(), "quorum"])));
    let publisher = Publisher::new(BROKER, &ex, "", &[]);
    let p = points(3, 9.0);
    publisher.publish("quorum.metric", &body_rk(&p));
    wait_for_points(dir.path(), "quorum.metric", &p);
    engine.stop().unwrap();
}

#[test]
fn carbons_exclusive_server_named_queue_mode_consumes_with_one_worker() {
    let dir = tempfile::tempdir().unwrap();
    let ex = unique("ex");
    let _declared = Declared::new(BROKER, &[&ex], &[]);
    let mut s = settings(dir.path(), BROKER, &ex, "", &["excl.#"]);
    s.amqp.queue = Some(String::new());
    s.amqp.workers = 4;
    assert_eq!(s.worker_count(), 1, "an exclusive queue belongs to one connection");
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    assert!(wait_until(20, || engine.stats.connects.load(std::sync::atomic::Ordering::Relaxed) == 1));
    // The queue exists only while warren is connected: publish once its binding is in place.
    assert!(wait_until(20, || rabbitmqctl(&["-q", "list_bindings", "source_name", "routing_key"])
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == [ex.as_str(), "excl.#"])));
    let publisher = Publisher::new(BROKER, &ex, "", &[]);
    let p = points(2, 4.0);
    publisher.publish("excl.metric", &body_rk(&p));
    wait_for_points(dir.path(), "excl.metric", &p);
    engine.stop().unwrap();
}

#[test]
fn patterns_dropped_from_the_configuration_are_unbound_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let bindings = || -> Vec<String> {
        rabbitmqctl(&["-q", "list_bindings", "source_name", "destination_name", "routing_key"])
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 3 && f[0] == ex && f[1] == q).then(|| f[2].to_string())
            })
            .collect()
    };
    let e1 =
        Engine::start(&settings(dir.path(), BROKER, &ex, &q, &["keep.#", "drop.#"]), Box::new(DefaultRules)).unwrap();
    assert!(wait_until(20, || bindings().len() == 2));
    e1.stop().unwrap();
    let e2 = Engine::start(&settings(dir.path(), BROKER, &ex, &q, &["keep.#"]), Box::new(DefaultRules)).unwrap();
    assert!(wait_until(20, || bindings() == ["keep.#"]), "bindings now: {:?}", bindings());
    let publisher = Publisher::new(BROKER, &ex, "", &[]);
    let p = points(1, 2.0);
    publisher.publish("drop.x", &body_rk(&p));
    publisher.publish("keep.x", &body_rk(&p));
    wait_for_points(dir.path(), "keep.x", &p);
    assert!(!warren::metric::file_path(dir.path(), "drop.x").exists(), "drop.# no longer routes here");
    e2.stop().unwrap();
}
