//! Hostile input through the real RabbitMQ: names that try to leave the data dir or are unusable, values and
//! timestamps whisper cannot take, empty and giant messages. Each bad line is refused and counted, its good
//! neighbours in the same message are written, every delivery is acked, and nothing appears under the data dir
//! but the files of the good metrics.

mod common;

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use common::*;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;
use warren::stats::Stats;

/// A minute-aligned timestamp a minute ago (inside the default 60 s : 7 d archive).
fn recent() -> u32 {
    now() / 60 * 60 - 60
}

/// Every file under `dir` (relative, `/`-separated), ignoring warren's own state dir `.warren`.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_name() == ".warren" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.insert(e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    files
}

/// `p` with `.` and `..` resolved lexically (what the kernel would open, symlinks aside).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Where the file of a refused `name` would land if the name escaped: joined as it is, and with its dots made
/// separators (a leading `/` then makes the join absolute). Only the places outside `data_dir` (inside it,
/// `files_under` sees everything).
fn escape_targets(data_dir: &Path, name: &[u8]) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let dotted: Vec<u8> = name.iter().map(|&b| if b == b'.' { b'/' } else { b }).collect();
    [name.to_vec(), dotted]
        .into_iter()
        .filter(|n| !n.contains(&0))
        .map(|mut n| {
            n.extend_from_slice(b".wsp");
            normalize(&data_dir.join(std::ffi::OsStr::from_bytes(&n)))
        })
        .filter(|p| !p.starts_with(data_dir))
        .collect()
}

/// No refused name left a file outside the data dir; returns how many escape places were checked.
fn assert_nothing_escaped(data_dir: &Path, names: &[&[u8]]) -> usize {
    let mut checked = 0;
    for name in names {
        for p in escape_targets(data_dir, name) {
            assert!(!p.exists(), "{} escaped the data dir to {}", name.escape_ascii(), p.display());
            checked += 1;
        }
    }
    checked
}

/// (bad_lines, nan_dropped, rejected_names)
fn refusals(st: &Stats) -> (u64, u64, u64) {
    (st.bad_lines.load(Relaxed), st.nan_dropped.load(Relaxed), st.rejected_names.load(Relaxed))
}

fn wait_for(dir: &Path, metric: &str, want: &[(u32, f64)]) {
    let ok =
        wait_until(30, || warren::metric::file_path(dir, metric).exists() && python_fetch(dir, metric, 7200) == want);
    assert!(ok, "{metric}: python3-whisper reads {:?}, want {want:?}", python_fetch(dir, metric, 7200));
}

/// A test's broker objects and engine: on drop (also when an assertion fails) the engine is stopped, then (the
/// fields drop after `drop`) the queue and exchange it declared are deleted.
struct Rig {
    dir: tempfile::TempDir,
    queue: String,
    publisher: Publisher,
    engine: Option<Engine>,
    _declared: Declared,
}

impl Rig {
    fn start(name_in_body: bool) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (exchange, queue) = (unique("ex-hostile"), unique("q-hostile"));
        let declared = Declared::new(BROKER, &[&exchange], &[&queue]);
        let publisher = Publisher::new(BROKER, &exchange, &queue, &["#"]);
        let mut s = settings(dir.path(), BROKER, &exchange, &queue, &["#"]);
        s.amqp.metric_name_in_body = name_in_body;
        let engine = Some(Engine::start(&s, Box::new(DefaultRules)).unwrap());
        Rig { dir, queue, publisher, engine, _declared: declared }
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("running until dropped")
    }

    fn finish(self) {}
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(e) = self.engine.take() {
            // A thread that panicked fails the test, unless it is failing already.
            if let Err(err) = e.stop() {
                assert!(std::thread::panicking(), "engine stop: {err}");
            }
        }
    }
}

#[test]
fn hostile_lines_are_refused_and_counted_while_their_neighbours_are_written() {
    let rig = Rig::start(true);
    let t = recent();
    let mut body: Vec<u8> = Vec::new();
    let mut line = |parts: &[&[u8]]| {
        body.extend_from_slice(&parts.join(&b' '));
        body.push(b'\n');
    };
    let ts = t.to_string();
    let ts = ts.as_bytes();
    line(&[b"good.a", b"1.5", ts]);
    // Refused names (10): leaving the data dir, empty components, control bytes, too long, not UTF-8, a tagged
    // name carbon cannot parse, an absolute path.
    let long_name = vec![b'x'; 64 * 1024];
    let refused_names = [
        &b"../../etc/passwd"[..],
        b"a..b",
        b"a/b",
        b"a\0b",
        b"a\x01b",
        b"a\x7fb",
        &long_name,
        b"\xff\xfe.bad",
        b"good.tagged;dc",
        b"/tmp/warren-escape",
    ];
    for name in refused_names {
        line(&[name, b"1", ts]);
    }
    // Bad lines (7): infinite values, timestamps beyond u32 or negative, wrong field counts.
    line(&[b"good.b", b"inf", ts]);
    line(&[b"good.b", b"1e400", ts]);
    line(&[b"good.b", b"-inf", ts]);
    line(&[b"good.c", b"1", b"4294967296"]);
    line(&[b"good.c", b"1", b"-5"]);
    line(&[b"good.c", b"1", ts, b"extra"]);
    line(&[b"garbage"]);
    // Dropped NaN (1).
    line(&[b"good.b", b"nan", ts]);
    // Far-past timestamps fit whisper's u32 intervals: accepted, then dropped by whisper (older than every archive).
    line(&[b"good.a", b"5", b"0"]);
    line(&[b"good.a", b"6", b"1"]);
    line(&[b"good.b", b"2.5", ts]);
    line(&[b"good.c", b"-3", ts]);
    // The largest whisper interval is accepted as carbon does and lands in the first archive, far from now.
    line(&[b"good.future", b"7", b"4294967295"]);

    rig.publisher.publish("ignored", &body);
    wait_for(rig.dir.path(), "good.a", &[(t, 1.5)]);
    wait_for(rig.dir.path(), "good.b", &[(t, 2.5)]);
    wait_for(rig.dir.path(), "good.c", &[(t, -3.0)]);
    // Created completely (its path appears before its data area is laid down), not merely existing.
    let future = warren::metric::file_path(rig.dir.path(), "good.future");
    assert!(wait_until(30, || warren::whisper::WhisperFile::open_read_only(&future).is_ok()));
    assert_eq!(python_fetch(rig.dir.path(), "good.future", 7200), []);
    assert!(wait_until(10, || refusals(&rig.engine().stats) == (7, 1, 10)), "{:?}", refusals(&rig.engine().stats));
    assert!(wait_until(10, || queue_counts("/", &rig.queue) == (0, 0)), "the hostile message is acked");
    assert_eq!(
        files_under(rig.dir.path()),
        ["good/a.wsp", "good/b.wsp", "good/c.wsp", "good/future.wsp"].map(String::from).into()
    );
    // Nothing escaped to where an escape would land: `<data>/../../etc/passwd.wsp`, `/etc/passwd.wsp` (dots made
    // separators turn the name absolute), `/tmp/warren-escape.wsp`, …
    let checked = assert_nothing_escaped(rig.dir.path(), &refused_names);
    assert_eq!(checked, 4, "escape places checked: both forms of ../../etc/passwd and /tmp/warren-escape");
    assert!(escape_targets(rig.dir.path(), b"../../etc/passwd").contains(&PathBuf::from("/etc/passwd.wsp")));
    rig.finish();
}

#[test]
fn empty_and_blank_messages_are_acked_and_write_nothing() {
    let rig = Rig::start(true);
    rig.publisher.publish("ignored", b"");
    rig.publisher.publish("ignored", b"\n\n  \r\n\t\n");
    let t = recent();
    // A sentinel published last: once it is on disk, the messages before it were consumed.
    rig.publisher.publish("ignored", format!("sentinel.x 4 {t}\n").as_bytes());
    wait_for(rig.dir.path(), "sentinel.x", &[(t, 4.0)]);
    assert!(wait_until(10, || queue_counts("/", &rig.queue) == (0, 0)), "empty messages are acked");
    assert_eq!(rig.engine().stats.deliveries.load(Relaxed), 3);
    assert_eq!(refusals(&rig.engine().stats), (0, 0, 0));
    assert_eq!(files_under(rig.dir.path()), ["sentinel/x.wsp".to_string()].into());
    rig.finish();
}

#[test]
fn hostile_routing_keys_refuse_every_line_of_their_message() {
    let rig = Rig::start(false);
    let t = recent();
    let body = format!("1 {t}\n2 {}\n", t - 60);
    let long_component = "x".repeat(255);
    let keys = ["../../etc/passwd", "a..b", ".hidden", "a/b", "a\u{1}b", "tagged;dc=~1", long_component.as_str()];
    for key in keys {
        rig.publisher.publish(key, body.as_bytes());
    }
    rig.publisher.publish("good.key", body.as_bytes());
    wait_for(rig.dir.path(), "good.key", &[(t - 60, 2.0), (t, 1.0)]);
    assert!(wait_until(10, || refusals(&rig.engine().stats) == (0, 0, 2 * keys.len() as u64)));
    assert!(wait_until(10, || queue_counts("/", &rig.queue) == (0, 0)));
    assert_eq!(files_under(rig.dir.path()), ["good/key.wsp".to_string()].into());
    let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    assert_eq!(assert_nothing_escaped(rig.dir.path(), &keys), 3, "../../etc/passwd twice, /hidden.wsp");
    rig.finish();
}

#[test]
fn an_8_mib_message_of_mixed_lines_writes_every_good_point() {
    let rig = Rig::start(true);
    let t = recent();
    let (metrics, minutes) = (20u32, 60u32);
    let mut body = String::with_capacity(8 << 20);
    let (mut good, mut bad_lines, mut bad_names) = (0u64, 0u64, 0u64);
    let mut i = 0u32;
    while body.len() < 8 << 20 {
        let (m, k) = (i % metrics, (i / metrics) % minutes);
        body.push_str(&format!("giant.m{m} {k} {}\n", t - 60 * k));
        good += 1;
        match i % 3 {
            0 => {
                body.push_str("giant..m 1 1700000000\n");
                bad_names += 1;
            }
            1 => {
                body.push_str("giant.m0 notanumber 1700000000\n");
                bad_lines += 1;
            }
            _ => {}
        }
        i += 1;
    }
    assert!(body.len() >= 8 << 20);
    rig.publisher.publish("ignored", body.as_bytes());
    let want: Vec<(u32, f64)> = (0..minutes).rev().map(|k| (t - 60 * k, f64::from(k))).collect();
    for m in [0, metrics / 2, metrics - 1] {
        wait_for(rig.dir.path(), &format!("giant.m{m}"), &want);
    }
    assert!(wait_until(30, || queue_counts("/", &rig.queue) == (0, 0)), "the giant message is acked");
    assert_eq!(rig.engine().stats.points_received.load(Relaxed), good);
    assert_eq!(refusals(&rig.engine().stats), (bad_lines, 0, bad_names));
    let expected: BTreeSet<String> = (0..metrics).map(|m| format!("giant/m{m}.wsp")).collect();
    assert_eq!(files_under(rig.dir.path()), expected);
    rig.finish();
}
