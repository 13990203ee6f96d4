//! Turning a delivery body into batch points: line parsing plus name validation, with bad input reported.

use super::line::{fast_value_timestamp, for_each_line, parse_line, trim, LineError};
use crate::metric;
use crate::pipe::batch::{BatchPoint, NameRef};
use std::borrow::Cow;

/// What was wrong with one piece of input.
#[derive(Debug)]
pub enum BadInput<'a> {
    /// A line that did not parse; `line` is its text.
    Line { error: LineError, line: &'a [u8] },
    /// A metric name that was refused; `name` is its text.
    Name { error: metric::NameError, name: &'a [u8] },
}

/// Totals of one parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseCounts {
    pub points: usize,
    pub bad_lines: usize,
    pub nan_dropped: usize,
    pub rejected_names: usize,
}

/// Parse `body`: in routing-key mode (`name_in_body == false`) every line is `value timestamp` and the metric
/// is `key`; otherwise lines are `metric value timestamp`. Good points are appended to `out` in order; each bad
/// line or name is passed to `bad` and counted; good lines in the same body are kept regardless.
///
/// Names are normalised as carbon stores them ([`metric::validate`]: tagged names get their tags sorted …). A
/// name whose normalised form differs from its text is appended to `renamed`, and its point's
/// [`NameRef::Body`] offset counts from `body.len()`: the caller appends `renamed` to the body before the points
/// are read. `renamed` stays empty for already-normal names, which are the body's own bytes (no copy).
pub fn parse_body(
    key: &[u8],
    body: &[u8],
    name_in_body: bool,
    now: u32,
    out: &mut Vec<BatchPoint>,
    renamed: &mut Vec<u8>,
    bad: impl FnMut(BadInput<'_>),
) -> ParseCounts {
    parse_body_with::<true>(key, body, name_in_body, now, out, renamed, bad)
}

/// [`parse_body`], with (`FAST`) or without the fast path for lines as collectors send them; without it every
/// line takes the general path (the tests check that both give the same answers).
fn parse_body_with<const FAST: bool>(
    key: &[u8],
    body: &[u8],
    name_in_body: bool,
    now: u32,
    out: &mut Vec<BatchPoint>,
    renamed: &mut Vec<u8>,
    mut bad: impl FnMut(BadInput<'_>),
) -> ParseCounts {
    let mut counts = ParseCounts::default();
    let mut key_ref = NameRef::Key;
    if !name_in_body {
        match metric::validate(key) {
            Err(error) => {
                // Every line of this body would carry the refused name: count them, report once.
                for_each_line(body, |_| counts.rejected_names += 1);
                if counts.rejected_names > 0 {
                    bad(BadInput::Name { error, name: key });
                }
                return counts;
            }
            Ok(Cow::Owned(normal)) => key_ref = rename(body.len(), renamed, &normal),
            Ok(Cow::Borrowed(_)) => {}
        }
    }
    let mut start = 0;
    while start < body.len() {
        if FAST {
            // The common line, already trimmed, in one pass: a plain name (name in body), one space, then
            // `fast_value_timestamp`'s form up to the `\n`. Anything else falls through to the general path.
            let (name, tail) = if name_in_body {
                match metric::plain_name_before_space(&body[start..]) {
                    Some(len) => (NameRef::Body { start: start as u32, len: len as u32 }, start + len + 1),
                    None => (key_ref, usize::MAX),
                }
            } else {
                (key_ref, start)
            };
            if let Some((value, timestamp, len)) = body.get(tail..).and_then(fast_value_timestamp) {
                counts.points += 1;
                out.push(BatchPoint { name, timestamp, value });
                start = tail + len + 1;
                continue;
            }
        }
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |i| start + i);
        let range = trim(body, start..end);
        start = end + 1;
        if range.is_empty() {
            continue;
        }
        let line = &body[range.clone()];
        match parse_line(line, name_in_body, now) {
            Ok(p) => {
                let name = if name_in_body {
                    let name_bytes = &line[p.name.clone()];
                    match metric::validate(name_bytes) {
                        Err(error) => {
                            counts.rejected_names += 1;
                            bad(BadInput::Name { error, name: name_bytes });
                            continue;
                        }
                        Ok(Cow::Owned(normal)) => rename(body.len(), renamed, &normal),
                        Ok(Cow::Borrowed(_)) => {
                            let start = range.start + p.name.start;
                            NameRef::Body { start: start as u32, len: p.name.len() as u32 }
                        }
                    }
                } else {
                    key_ref
                };
                counts.points += 1;
                out.push(BatchPoint { name, timestamp: p.timestamp, value: p.value });
            }
            Err(LineError::NanValue) => counts.nan_dropped += 1,
            Err(error) => {
                counts.bad_lines += 1;
                bad(BadInput::Line { error, line });
            }
        }
    }
    counts
}

/// Append `normal` to `renamed`; its reference once `renamed` follows a body of `body_len` bytes.
fn rename(body_len: usize, renamed: &mut Vec<u8>, normal: &str) -> NameRef {
    let start = body_len + renamed.len();
    renamed.extend_from_slice(normal.as_bytes());
    NameRef::Body { start: start as u32, len: normal.len() as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::MAX_COMPONENT_LEN;

    #[test]
    fn bad_lines_do_not_lose_their_good_neighbours() {
        let body = b"a.b 1 100\ngarbage\na..b 2 100\n\nc.d nan 100\nc.d 3 100 4\ne.f 4 100\n";
        let mut out = Vec::new();
        let mut bads = Vec::new();
        let c = parse_body(b"", body, true, 0, &mut out, &mut Vec::new(), |b| bads.push(format!("{b:?}")));
        assert_eq!(c, ParseCounts { points: 2, bad_lines: 2, nan_dropped: 1, rejected_names: 1 });
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].value, 1.0);
        assert_eq!(out[1].value, 4.0);
        match out[1].name {
            NameRef::Body { start, len } => assert_eq!(&body[start as usize..(start + len) as usize], b"e.f"),
            NameRef::Key => panic!("name should be in the body"),
        }
        assert_eq!(bads.len(), 3);
    }

    #[test]
    fn a_refused_routing_key_rejects_every_line_once() {
        let mut out = Vec::new();
        let mut n = 0;
        let c = parse_body(b"../etc/passwd", b"1 2\n3 4\n", false, 0, &mut out, &mut Vec::new(), |_| n += 1);
        assert_eq!(c.rejected_names, 2);
        assert!(out.is_empty());
        assert_eq!(n, 1);
    }

    #[test]
    fn tagged_names_are_normalised_into_renamed_and_normal_ones_stay_in_place() {
        let body = b"a;z=1;b=2 1 100\na;b=2;z=1 2 100\nc.d 3 100\n";
        let (mut out, mut renamed) = (Vec::new(), Vec::new());
        let c = parse_body(b"", body, true, 0, &mut out, &mut renamed, |b| panic!("{b:?}"));
        assert_eq!(c.points, 3);
        assert_eq!(renamed, b"a;b=2;z=1");
        let mut all = body.to_vec();
        all.extend_from_slice(&renamed);
        let names: Vec<&[u8]> = out
            .iter()
            .map(|p| match p.name {
                NameRef::Body { start, len } => &all[start as usize..(start + len) as usize],
                NameRef::Key => panic!("name should be in the body"),
            })
            .collect();
        assert_eq!(names, [&b"a;b=2;z=1"[..], b"a;b=2;z=1", b"c.d"]);
        assert!(matches!(out[1].name, NameRef::Body { start: 16, .. }), "already normal: its own bytes");

        let (mut out, mut renamed) = (Vec::new(), Vec::new());
        parse_body(b"m;y=1;x=2", b"1 100\n2 110", false, 0, &mut out, &mut renamed, |b| panic!("{b:?}"));
        assert_eq!(renamed, b"m;x=2;y=1");
        assert!(out.iter().all(|p| p.name == NameRef::Body { start: 11, len: 9 }));
    }

    /// Everything `parse_body` tells, as one comparable value.
    fn run<const FAST: bool>(key: &[u8], body: &[u8], nib: bool) -> String {
        let (mut out, mut renamed, mut bads) = (Vec::new(), Vec::new(), Vec::new());
        let c = parse_body_with::<FAST>(key, body, nib, 77, &mut out, &mut renamed, |b| bads.push(format!("{b:?}")));
        let pts: Vec<_> = out.iter().map(|p| (p.name, p.timestamp, p.value.to_bits())).collect();
        format!("{c:?} {pts:?} {renamed:?} {bads:?}")
    }

    #[test]
    fn the_fast_path_takes_the_common_lines_and_agrees_on_the_rest() {
        let body = b"a.b 1.5 100\nc 2 4294967295\n-0 7\n";
        let (mut out, mut renamed) = (Vec::new(), Vec::new());
        let c = parse_body(b"k", b"1.25 100\n-3 200", false, 0, &mut out, &mut renamed, |b| panic!("{b:?}"));
        assert_eq!((c.points, out[0].value, out[1].value, out[1].timestamp), (2, 1.25, -3.0, 200));
        assert_eq!(run::<true>(b"", body, true), run::<false>(b"", body, true));
        let odd: &[&[u8]] = &[
            b"a..b 1 2\n",
            b"a. 1 2\n",
            b"~a 1 2\n",
            b"a;b=c 1 2\n",
            b"a/b 1 2\n",
            b"a 1 4294967296\n",
            b"a 1 12345678901\n",
            b"a 1234567890123456 2\n",
            b"a 1 2\r\n",
            b"a  1 2\n",
            b"a 1 2 \n",
            b"a 1 -1\n",
            b"a - 2\n",
            b"a . 2\n",
            b"a 1..2 2\n",
            b"a 1 \n",
            b"a 1",
            b"\xc3\xa9 1 2",
        ];
        for line in odd {
            for nib in [false, true] {
                assert_eq!(run::<true>(b"k", line, nib), run::<false>(b"k", line, nib), "{}", line.escape_ascii());
            }
        }
        let long = [&[b'x'; MAX_COMPONENT_LEN + 1][..], b" 1 2\n"].concat();
        assert_eq!(run::<true>(b"", &long, true), run::<false>(b"", &long, true));
        assert_eq!(run::<true>(b"", &long[1..], true), run::<false>(b"", &long[1..], true));
        // Names of 1023 to 1026 bytes (components of 99 and a dot each, the last one shorter): the length limit.
        for extra in 0..4 {
            let name: Vec<u8> = (0..1023 + extra).map(|i| if i % 100 == 99 { b'.' } else { b'n' }).collect();
            let line = [&name[..], b" 1 2\n"].concat();
            assert_eq!(run::<true>(b"", &line, true), run::<false>(b"", &line, true), "{}", name.len());
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_and_general_paths_agree(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "a", "b.c", ".", " ", "  ", "\t", "\n", "\n", "\r", "-", "+", "0", "1", "9", "12345678", "e5", "nan",
                "inf", ";x=1", "~", "{", "/", "\0", "\u{e9}", "4294967295", "4294967296", "1700000000", "-1",
            ]), 0..40),
            key in proptest::sample::select(vec!["k.a", "k;b=1;a=2", "a..b", ""]),
            nib in proptest::bool::ANY,
        ) {
            let body = pieces.concat();
            proptest::prop_assert_eq!(run::<true>(key.as_bytes(), body.as_bytes(), nib), run::<false>(key.as_bytes(), body.as_bytes(), nib));
        }
    }

    #[test]
    fn routing_key_mode_names_every_point_after_the_key() {
        let mut out = Vec::new();
        let c = parse_body(b"servers.a.cpu", b"1 100\n2 110", false, 0, &mut out, &mut Vec::new(), |_| {});
        assert_eq!(c.points, 2);
        assert!(out.iter().all(|p| p.name == NameRef::Key));
        assert_eq!((out[1].timestamp, out[1].value), (110, 2.0));
    }
}
