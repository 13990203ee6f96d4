//! Differential test of tagged-name handling against carbon's own `carbon.util.TaggedSeries` (Debian's
//! graphite-carbon, run with /usr/bin/python3): over 12,000 generated names, valid and invalid, warren's
//! `metric::tags::normalise` makes the same accept/refuse decision and the same normalised name as
//! `TaggedSeries.parse(name).path`, and the same `_tagged/` paths as `TaggedSeries.encode` (hashed and readable).
//! Then the whole `metric::validate`: it accepts exactly what carbon accepts minus what warren's safety rules refuse
//! (control bytes, whitespace, `/`, over-long names, bad components of plain names), checked by an independent
//! predicate, and every accepted name's file is carbon's.

mod common;

use common::rng::{Generator, XorShift64Star as Rng};

use std::borrow::Cow;
use std::io::Write;
use std::process::{Command, Stdio};
use warren::metric::{self, tags, TagFileNames};

const ORACLE: &str = r#"
import json, sys
from carbon.util import TaggedSeries as T
out = []
for line in sys.stdin:
    name = json.loads(line)
    try:
        path = T.parse(name).path
    except Exception:
        out.append({"ok": False})
        continue
    try:
        stable = T.parse(path).path == path
    except Exception:
        stable = False
    r = {"ok": True, "path": path, "stable": stable}
    if ';' in path:
        r["hashed"] = T.encode(path, sep='/', hash_only=True)
        r["readable"] = T.encode(path, sep='/', hash_only=False)
    else:
        r["plain"] = T.encode(path, sep='/')
    out.append(r)
sys.stdout.write("\n".join(json.dumps(r) for r in out) + "\n")
"#;

const METRICS: &[&str] =
    &["cpu", "disk.used", "a.b.c", "~cpu", "~~x.y", "web-01.load", "ü.ñ", "a..b", "x", "*.glob", "~"];
const TAGS: &[&str] = &["dc", "host", "name", "a", "a.b", "env", "é", "t!", "t^", "x y", "_", "k-1", "ab", "a=b"];
const VALUES: &[&str] =
    &["us-east", "web01", "1.2.3", "~no", "a=b", "!bang", "^up", "v", "ü", "", "x;y", "tab\t", "..", "/etc", "a b"];
const NOISE: &[&str] = &[";", "=", "~", "{", "}", "\"", ",", ":", "\\", ".", "!", "^", "a", "1", " ", "\n", "/", "é"];

fn tagged(rng: &mut Rng) -> String {
    let mut s = rng.pick(METRICS).to_string();
    for _ in 0..rng.below(6) {
        s.push(';');
        s.push_str(rng.pick(TAGS));
        s.push('=');
        s.push_str(rng.pick(VALUES));
    }
    s
}

fn openmetrics(rng: &mut Rng) -> String {
    let mut s = rng.pick(METRICS).to_string();
    s.push('{');
    let n = 1 + rng.below(4);
    for i in 0..n {
        s.push_str(rng.pick(TAGS));
        s.push_str("=\"");
        let v = rng.pick(VALUES);
        s.push_str(&v.replace('\\', "\\\\").replace('"', "\\\""));
        if rng.chance(15) {
            s.push_str(rng.pick(&["\\\"", "\\\\", "\\", "\""]));
        }
        s.push('"');
        if i + 1 < n {
            s.push_str(rng.pick(&[",", ":,", ",", ";", ""]));
        }
    }
    s.push('}');
    s
}

fn mutate(rng: &mut Rng, s: String) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 => chars.insert(at, rng.pick(NOISE).chars().next().unwrap()),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = rng.pick(NOISE).chars().next().unwrap(),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn generate(n: usize) -> Vec<String> {
    let mut rng = Rng(0x5eed_7a65_0000_0001);
    let mut names = vec![
        "some.metric;tag1=value2;tag2=value.2".to_string(),
        "cpu;b=1;a.b=2;a=3".into(),
        r#"cpu{a="\\\"",b="x"}"#.into(),
        format!("long;t={}", "v.".repeat(200)),
        format!("long;t={}", "v".repeat(1100)),
        format!("p.{}", "c".repeat(252)),
    ];
    while names.len() < n {
        let s = match rng.below(10) {
            0..=3 => tagged(&mut rng),
            4..=5 => openmetrics(&mut rng),
            6..=8 => {
                let base = if rng.chance(50) { tagged(&mut rng) } else { openmetrics(&mut rng) };
                mutate(&mut rng, base)
            }
            _ => (0..1 + rng.below(12)).map(|_| rng.pick(NOISE)).collect(),
        };
        names.push(s);
    }
    names
}

/// What carbon said about one name.
#[derive(serde::Deserialize)]
struct Verdict {
    ok: bool,
    path: Option<String>,
    hashed: Option<String>,
    readable: Option<String>,
    plain: Option<String>,
    stable: Option<bool>,
}

fn carbon(names: &[String]) -> Vec<Verdict> {
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3 (graphite-carbon must be installed)");
    let mut input = String::new();
    for n in names {
        input.push_str(&serde_json::to_string(n).unwrap());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "oracle failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let verdicts: Vec<Verdict> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(verdicts.len(), names.len());
    verdicts
}

/// warren's own safety rules, written independently of `metric::validate`: what it refuses beyond carbon
/// (`stable`: carbon's normal form normalises to itself).
fn unsafe_for_warren(name: &str, normal: &str, stable: bool) -> bool {
    !stable
        || name.len() > metric::MAX_NAME_LEN
        || name.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control())
        || (!normal.contains(';') && normal.split('.').any(|c| c.is_empty() || c.len() > metric::MAX_COMPONENT_LEN))
}

#[test]
fn tagged_names_parse_normalise_and_encode_exactly_as_carbon() {
    let names = generate(12_000);
    let verdicts = carbon(&names);
    let (mut both, mut carbon_refused, mut safety_refused, mut reordered) = (0, 0, 0, 0);
    for (name, v) in names.iter().zip(&verdicts) {
        let ours = tags::normalise(name);
        match (&ours, v.ok) {
            (Ok(n), true) => assert_eq!(Some(n.as_ref()), v.path.as_deref(), "normalised form of {name:?}"),
            (Err(e), false) => {
                let _ = e;
            }
            (Ok(n), false) => panic!("{name:?}: warren accepts as {n:?}, carbon refuses"),
            (Err(e), true) => panic!("{name:?}: warren refuses ({e}), carbon accepts as {:?}", v.path),
        }
        if !v.ok {
            carbon_refused += 1;
            assert!(metric::validate(name.as_bytes()).is_err(), "{name:?}: carbon refuses, so must validate");
            continue;
        }
        let path = v.path.as_deref().unwrap();
        let stable = v.stable.unwrap();
        if path != name {
            reordered += 1;
        }
        if path.contains(';') {
            assert_eq!(Some(tags::encode(path, TagFileNames::Hashed, usize::MAX)), v.hashed, "{name:?}");
            assert_eq!(Some(tags::encode(path, TagFileNames::Readable, usize::MAX)), v.readable, "{name:?}");
        }
        match metric::validate(name.as_bytes()) {
            Ok(n) => {
                both += 1;
                assert_eq!(n, path, "{name:?}");
                assert!(!unsafe_for_warren(name, path, stable), "{name:?} accepted though unsafe");
                let rel = metric::relative_path(&n);
                let want = v.hashed.clone().or(v.plain.clone()).unwrap() + ".wsp";
                assert_eq!(rel.to_str(), Some(want.as_str()), "{name:?}");
                if path.contains(';') {
                    let readable = v.readable.clone().unwrap() + ".wsp";
                    let ours = metric::relative_path_as(&n, TagFileNames::Readable);
                    let file_len = readable.rsplit('/').next().unwrap().len();
                    if file_len <= 255 {
                        assert_eq!(ours.to_str(), Some(readable.as_str()), "{name:?}");
                    } else {
                        assert_eq!(ours, rel, "{name:?}: a readable file name over 255 bytes falls back to the hash");
                    }
                }
                // Validating the normal form again gives it back, borrowed.
                assert!(matches!(metric::validate(n.as_bytes()), Ok(Cow::Borrowed(m)) if m == n));
            }
            Err(e) => {
                safety_refused += 1;
                let unstable = matches!(e, metric::NameError::Tags { problem: metric::TagProblem::Unstable, .. });
                assert!(unstable || !matches!(e, metric::NameError::Tags { .. }), "{name:?}: {e}");
                assert!(
                    unsafe_for_warren(name, path, stable),
                    "{name:?} refused ({e}) though carbon accepts it and it is safe"
                );
            }
        }
    }
    eprintln!(
        "{} names: {both} accepted by both ({reordered} normalised to another form), {carbon_refused} refused by \
         carbon, {safety_refused} accepted by carbon but refused by warren's safety rules",
        names.len()
    );
    // The generator must exercise every outcome.
    assert!(both > 2000 && carbon_refused > 2000 && safety_refused > 500 && reordered > 1000);
}
