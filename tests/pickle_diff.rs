//! Differential tests of the pickle codec against Python's own `pickle` (via `/usr/bin/python3` and
//! `tests/support/pickle_oracle.py`): what Python writes we read the same way, and what we write Python reads back.
//! Python is required: without it these tests fail, they do not skip.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::Value as Json;
use warren::pickle::{
    decode, decode_points, encode, encode_datapoints, encode_datapoints_by_metric, BigInt, Limits, PickleError, Value,
};

const PYTHON: &str = "/usr/bin/python3";
const ORACLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/pickle_oracle.py");

/// Runs the oracle in `mode` with `input` on stdin; panics with a clear message if Python is unusable.
fn oracle(mode: &str, input: &str) -> Vec<Json> {
    let mut child = Command::new(PYTHON)
        .arg(ORACLE)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("these differential tests need {PYTHON} (Python 3), which failed to start: {e}"));
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("waiting for the Python oracle");
    writer.join().expect("stdin writer thread").expect("writing to the Python oracle");
    assert!(out.status.success(), "{PYTHON} {ORACLE} {mode} failed: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Json> = String::from_utf8(out.stdout)
        .expect("oracle output is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("oracle prints JSON lines"))
        .collect();
    assert!(!lines.is_empty(), "the Python oracle printed nothing");
    lines
}

/// Points as (raw name, timestamp, value), and the number of skipped entries.
type Points = (Vec<(Vec<u8>, f64, f64)>, usize);

struct Case {
    label: String,
    pickle: Vec<u8>,
    forbidden: Option<(u8, usize)>,
    value: Value,
    points: Option<Points>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from the oracle")).collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn float(j: &Json) -> f64 {
    let s = j.as_str().expect("float repr");
    s.parse().unwrap_or_else(|_| panic!("Python float repr {s:?} does not parse"))
}

/// The oracle's tagged rendering (see `tag()` in the script) as a [`Value`].
fn untag(j: &Json) -> Value {
    let a = j.as_array().expect("tagged value");
    let items = || a[1].as_array().expect("tagged items").iter().map(untag).collect::<Vec<_>>();
    match a[0].as_str().expect("tag") {
        "none" => Value::None,
        "bool" => Value::Bool(a[1].as_bool().expect("bool")),
        "int" => {
            let s = a[1].as_str().expect("int text");
            match s.parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => Value::BigInt(s.parse::<BigInt>().expect("big int text")),
            }
        }
        "float" => Value::Float(float(&a[1])),
        "str" => Value::str(a[1].as_str().expect("str")),
        "bytes" => Value::Bytes(Arc::from(hex(a[1].as_str().expect("bytes hex")))),
        "list" => Value::List(items()),
        "tuple" => Value::Tuple(items()),
        "dict" => {
            Value::Dict(a[1].as_array().expect("dict pairs").iter().map(|p| (untag(&p[0]), untag(&p[1]))).collect())
        }
        other => panic!("unknown tag {other}"),
    }
}

fn same_f64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Exact equality, floats by bits (any NaN equals any NaN).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => same_f64(*x, *y),
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

fn cases() -> Vec<Case> {
    let cases: Vec<Case> = oracle("cases", "")
        .iter()
        .map(|c| Case {
            label: format!("{} (protocol {})", c["case"].as_str().unwrap(), c["protocol"]),
            pickle: hex(c["pickle"].as_str().unwrap()),
            forbidden: c["forbidden"]
                .as_object()
                .map(|f| (f["code"].as_u64().unwrap() as u8, f["offset"].as_u64().unwrap() as usize)),
            value: untag(&c["value"]),
            points: c["points"].as_object().map(|p| {
                let pts = p["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| (hex(x[0].as_str().unwrap()), float(&x[1]), float(&x[2])))
                    .collect();
                (pts, p["bad"].as_u64().unwrap() as usize)
            }),
        })
        .collect();
    // Guard against a silently shrunken oracle: every family must be present.
    for family in ["tuples (protocol 0)", "many_points (protocol 5)", "cache_query (protocol 5)", "py2_string_p0"] {
        assert!(cases.iter().any(|c| c.label.starts_with(family)), "oracle lost case {family}");
    }
    cases
}

fn our_points(frame: &[u8]) -> Result<Points, PickleError> {
    let mut pts = Vec::new();
    let counts = decode_points(frame, &Limits::default(), &mut |n, t, v| pts.push((n.to_vec(), t, v)), &mut |_, _| {})?;
    assert_eq!(counts.points, pts.len());
    Ok((pts, counts.bad_entries))
}

#[test]
fn python_pickles_decode_to_the_values_python_sees() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in cases().iter().filter(|c| c.forbidden.is_none()) {
        checked += 1;
        match decode(&c.pickle, &Limits::default()) {
            Ok(v) if same(&v, &c.value) => {}
            other => failures.push(format!("{}: expected {:?}, got {other:?}", c.label, c.value)),
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cases differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 60, "only {checked} cases checked");
}

#[test]
fn python_point_lists_give_the_points_carbon_takes() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in cases().iter().filter(|c| c.forbidden.is_none()) {
        let Some((want, want_bad)) = &c.points else {
            // Not a sequence (CarbonLink requests are dicts): the receiver must refuse the frame.
            if !matches!(our_points(&c.pickle), Err(PickleError::NotASequence { .. })) {
                failures.push(format!("{}: a non-list top level was accepted as points", c.label));
            }
            continue;
        };
        checked += 1;
        match our_points(&c.pickle) {
            Ok((got, bad)) => {
                let ok = bad == *want_bad
                    && got.len() == want.len()
                    && got.iter().zip(want).all(|(g, w)| g.0 == w.0 && same_f64(g.1, w.1) && same_f64(g.2, w.2));
                if !ok {
                    failures.push(format!("{}: expected {want:?} + {want_bad} bad, got {got:?} + {bad} bad", c.label));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", c.label)),
        }
    }
    assert!(failures.is_empty(), "{} cases differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 40, "only {checked} point lists checked");
}

#[test]
fn object_opcodes_python_emits_are_refused_at_their_offset() {
    // Python 3 pickles bytes at protocols 0-2 as _codecs.encode(...) via GLOBAL + REDUCE: refused like carbon does.
    let mut refused = 0;
    for c in cases() {
        let Some((code, offset)) = c.forbidden else {
            continue;
        };
        refused += 1;
        let err = decode(&c.pickle, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, PickleError::Forbidden { op, offset: o } if op.0 == code && o == offset),
            "{}: expected opcode 0x{code:02x} refused at {offset}, got {err}",
            c.label
        );
        assert_eq!(our_points(&c.pickle).unwrap_err(), err, "{}", c.label);
    }
    // Three cases hold a bytes object, each pickled at protocols 0, 1 and 2: exactly 3 x 3.
    assert_eq!(refused, 9, "expected the bytes-name cases at protocols 0-2 to use GLOBAL, saw {refused}");
}

#[test]
fn every_truncation_of_a_python_pickle_is_an_error() {
    for c in cases().iter().filter(|c| c.forbidden.is_none()) {
        let n = c.pickle.len();
        // Every prefix of small pickles; for the 2500-point ones, every prefix near both ends and ~200 between.
        let cuts: Vec<usize> = if n <= 4096 {
            (0..n).collect()
        } else {
            (0..1024).chain((1024..n - 64).step_by(n / 200)).chain(n - 64..n).collect()
        };
        for cut in cuts {
            let prefix = &c.pickle[..cut];
            assert!(decode(prefix, &Limits::default()).is_err(), "{}: prefix of {cut} bytes decoded", c.label);
            assert!(our_points(prefix).is_err(), "{}: prefix of {cut} bytes gave points", c.label);
        }
    }
}

#[test]
fn python_reads_back_what_we_encode() {
    let mut expected: Vec<(String, Value)> = Vec::new();
    let mut lines = String::new();
    let mut push = |label: String, bytes: Vec<u8>, want: Value| {
        lines.push_str(&to_hex(&bytes));
        lines.push('\n');
        expected.push((label, want));
    };
    // Everything Python pickled, decoded by us and re-encoded, must load back to Python's original.
    for c in cases().into_iter().filter(|c| c.forbidden.is_none()) {
        let mut out = Vec::new();
        encode(&c.value, &mut out).unwrap();
        push(c.label, out, c.value);
    }
    let pts = [(1_700_000_000i64, 1.5), (-1, f64::NAN), (1 << 40, -0.0), (i64::MIN, f64::INFINITY)];
    let dp = |p: &[(i64, f64)]| {
        Value::List(p.iter().map(|&(t, v)| Value::Tuple(vec![Value::Int(t), Value::Float(v)])).collect())
    };
    push("encode_datapoints".into(), encode_datapoints(&pts), Value::Dict(vec![(Value::str("datapoints"), dp(&pts))]));
    let many: Vec<(i64, f64)> = (0..2500).map(|i| (i, i as f64 / 3.0)).collect();
    push(
        "encode_datapoints (2500)".into(),
        encode_datapoints(&many),
        Value::Dict(vec![(Value::str("datapoints"), dp(&many))]),
    );
    push(
        "encode_datapoints_by_metric".into(),
        encode_datapoints_by_metric([("a.b", &pts[..]), ("m\u{e9}t\u{1F600}", &[][..])]).unwrap(),
        Value::Dict(vec![(
            Value::str("datapointsByMetric"),
            Value::Dict(vec![(Value::str("a.b"), dp(&pts)), (Value::str("m\u{e9}t\u{1F600}"), dp(&[]))]),
        )]),
    );
    let answers = oracle("loads", &lines);
    assert_eq!(answers.len(), expected.len());
    let mut failures = Vec::new();
    for ((label, want), answer) in expected.iter().zip(&answers) {
        match answer.get("ok") {
            Some(tagged) if same(&untag(tagged), want) => {}
            _ => failures.push(format!("{label}: Python read {answer}, expected {want:?}")),
        }
    }
    assert!(failures.is_empty(), "{} encodings differ:\n{}", failures.len(), failures.join("\n"));
}
