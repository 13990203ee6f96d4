//! The decoder's byte budget (`Limits::byte_budget`) against real pickles: Python's own point lists that repeat one
//! long name through the memo always pass it at every protocol, and the fuzz finding that flattened shared strings
//! to 2.4 MB is refused, yet round-trips when given room. Python (`/usr/bin/python3`) is required: without it these
//! tests fail, they do not skip.

use std::process::Command;

use warren::metric::{self, MAX_NAME_LEN};
use warren::pickle::{decode, decode_points, encode, Limits, PickleError, MAX_FRAME_LEN};

const PYTHON: &str = "/usr/bin/python3";

/// Point lists as Python pickles them, one per line as `label protocol hex`. Every point names the same `str`
/// object, so `pickle.dumps` writes the name once and a memo read (`BINGET`, or `GET` at protocol 0) per point.
const SCRIPT: &str = r#"
import pickle, sys
name = ("n" * 200 + ".") * 5 + "n" * 19
assert len(name) == 1024
n = 20000
cases = {
    # The fewest bytes per point: small ints (one byte each) and a name read by a 2-byte BINGET.
    "small_ints": [(name, (i % 256, (i * 7) % 256)) for i in range(n)],
    # What clients send: second timestamps and float values.
    "real": [(name, (1700000000 + 60 * i, i / 3)) for i in range(n)],
    # Lists instead of tuples (carbon takes either).
    "lists": [[name, [1700000000 + i, i]] for i in range(n)],
}
for label, pts in cases.items():
    for proto in range(6):
        print(label, proto, pickle.dumps(pts, protocol=proto).hex())
# Beyond what the budget is sized for: the same entry object n times, 2 bytes per point.
entry = (name, (1, 2))
print("same_entry", 4, pickle.dumps([entry] * n, protocol=4).hex())
"#;

fn python_pickles() -> Vec<(String, u8, Vec<u8>)> {
    let out = Command::new(PYTHON)
        .args(["-c", SCRIPT])
        .output()
        .unwrap_or_else(|e| panic!("these tests need {PYTHON} (Python 3), which failed to start: {e}"));
    assert!(out.status.success(), "{PYTHON} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split(' ');
            let (label, proto, hex) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let bytes = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            (label.to_string(), proto.parse().unwrap(), bytes)
        })
        .collect()
}

fn name() -> String {
    format!("{}{}", format!("{}.", "n".repeat(200)).repeat(5), "n".repeat(19))
}

#[test]
fn python_point_lists_repeating_a_longest_name_through_the_memo_pass_at_every_protocol() {
    let name = name();
    assert_eq!(name.len(), MAX_NAME_LEN);
    assert_eq!(metric::validate(name.as_bytes()).unwrap(), name.as_str(), "the longest valid metric name");
    let limits = Limits::default();
    let pickles = python_pickles();
    assert_eq!(pickles.len(), 19);
    let mut tightest = f64::MAX;
    for (label, proto, frame) in pickles.iter().filter(|(l, _, _)| l != "same_entry") {
        let what = format!("{label} protocol {proto}, {} bytes", frame.len());
        assert!(frame.len() <= MAX_FRAME_LEN, "{what}");
        // The name is in the frame once: every point reads it through the memo.
        assert_eq!(frame.windows(name.len()).filter(|w| *w == name.as_bytes()).count(), 1, "{what}");
        // Each point's name costs 1024 bytes of the budget: 20 MB of names from frames of 0.2-0.7 MB.
        let charged = 20_000 * name.len();
        let budget = limits.byte_budget(frame.len());
        assert!(charged <= budget, "{what}: {charged} > {budget}");
        tightest = tightest.min(budget as f64 / charged as f64);
        eprintln!("{what}: names {charged} bytes, budget {budget} ({:.2}x)", budget as f64 / charged as f64);

        let mut got = 0usize;
        let counts = decode_points(
            frame,
            &limits,
            &mut |n, t, v| {
                let i = got as f64;
                let want = match label.as_str() {
                    "small_ints" => ((got % 256) as f64, ((got * 7) % 256) as f64),
                    "real" => (1_700_000_000.0 + 60.0 * i, i / 3.0),
                    _ => (1_700_000_000.0 + i, i),
                };
                assert!(n == name.as_bytes() && (t, v) == want, "{what}: point {got}: {t} {v}");
                got += 1;
            },
            &mut |i, r| panic!("{what}: entry {i}: {r}"),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!((counts.points, counts.bad_entries, got), (20_000, 0, 20_000), "{what}");

        let v = decode(frame, &limits).unwrap_or_else(|e| panic!("{what}: {e}"));
        let items = v.as_items().unwrap();
        assert_eq!(items.len(), 20_000, "{what}");
        assert!(items.iter().all(|e| e.as_items().unwrap()[0].as_str() == Some(name.as_str())), "{what}");
    }
    // The smallest frames (protocols 4 and 5 with one-byte ints, 10 bytes a point) leave about a quarter spare.
    assert!((1.2..1.3).contains(&tightest), "tightest margin {tightest}");
}

#[test]
fn python_list_of_one_entry_object_repeated_is_over_the_byte_budget() {
    // `[entry] * n` writes 2 bytes per point: 512 bytes of name per frame byte, past the 128 the budget allows.
    // No client sends that (it is n copies of one point); it shows where the budget binds on real pickles.
    let (_, _, frame) = python_pickles().into_iter().find(|(l, _, _)| l == "same_entry").unwrap();
    let budget = Limits::default().byte_budget(frame.len());
    assert!(frame.len() < 42_000, "{} bytes", frame.len());
    let mut sunk = 0;
    let r = decode_points(&frame, &Limits::default(), &mut |_, _, _| sunk += 1, &mut |_, _| {});
    assert_eq!((r, sunk), (Err(PickleError::TooManyBytes { max: budget }), 0));
    assert_eq!(decode(&frame, &Limits::default()), Err(PickleError::TooManyBytes { max: budget }));
    // Negative control: with room for its 20 MB of names it is 20,000 points.
    let roomy = Limits { bytes_per_input_byte: 1024, ..Limits::default() };
    let r = decode_points(&frame, &roomy, &mut |_, _, _| sunk += 1, &mut |_, _| {});
    assert_eq!((r.map(|c| c.points), sunk), (Ok(20_000), 20_000));
}

#[test]
fn fuzz_finding_shared_strings_flattened_past_the_frame_limit_is_refused_or_round_trips() {
    // fuzz/regressions/pickle_encode: 1,118 bytes whose memo references re-encode (flattened) to 2,385,285 bytes.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/regressions/pickle_encode/memo_shared_strings_flatten_past_max_frame"
    );
    let frame = std::fs::read(path).unwrap();
    assert_eq!(frame.len(), 1118);
    let budget = Limits::default().byte_budget(frame.len());
    assert_eq!(budget, 65_536 + 128 * 1118);
    assert_eq!(decode(&frame, &Limits::default()), Err(PickleError::TooManyBytes { max: budget }));
    // With room for its strings it decodes; flattened, it is over the 1 MiB frame limit, and read back with a
    // limit that admits it, it re-encodes to the same bytes.
    let roomy = Limits { bytes_per_input_byte: 2200, ..Limits::default() };
    let v = decode(&frame, &roomy).unwrap();
    let mut first = Vec::new();
    encode(&v, &mut first).unwrap();
    assert_eq!(first.len(), 2_385_285);
    assert_eq!(
        decode(&first, &Limits::default()),
        Err(PickleError::FrameTooLarge { len: 2_385_285, max: MAX_FRAME_LEN })
    );
    let back = decode(&first, &Limits { max_frame_len: first.len(), ..Limits::default() }).unwrap();
    let mut second = Vec::new();
    encode(&back, &mut second).unwrap();
    assert!(first == second);
}
