//! Invariants of the read side's parsers and encoders (the HTTP API): query strings and form bodies, multipart
//! bodies, `from`/`until` times, glob components, and the find/render answers in msgpack and pickle. Part of
//! `checks.rs` (same rules: a violated invariant panics).

use warren::pickle::{self, Limits, Value};
use warren::query::{attime, glob, http_server, wire};

/// Splits fuzz bytes into values: a little reader that never fails (missing bytes read as zero / empty).
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl<'a> Bytes<'a> {
    pub(crate) fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    /// Bytes of the input mapped into `class` (an alphabet), at most `max` of them.
    pub(crate) fn text(&mut self, class: &[u8], max: u8) -> Vec<u8> {
        let n = usize::from(self.u8() % (max + 1));
        self.take(n).iter().map(|&b| class[usize::from(b) % class.len()]).collect()
    }
    fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        let got = self.take(4);
        b[..got.len()].copy_from_slice(got);
        u32::from_le_bytes(b)
    }
    fn f64(&mut self) -> f64 {
        let mut b = [0u8; 8];
        let got = self.take(8);
        b[..got.len()].copy_from_slice(got);
        f64::from_le_bytes(b)
    }
    /// A string of at most 63 bytes (length from one byte), lossily decoded.
    fn string(&mut self) -> String {
        let n = usize::from(self.u8() & 63);
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
}

/// The reference URL decoding: `+` is a space, `%` and two hex digits a byte, anything else as is; then lossy
/// UTF-8 (written apart from the library's, by byte windows).
fn url_decode_reference(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) {
                if let (Some(h), Some(l)) = (hex(h), hex(l)) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved ASCII (so `&`, `=`, `+`, `%` survive a round trip).
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `http_request`: byte 0 picks the parser. 0: a query string / form body: `parse_query` agrees with the
/// reference decoder, pair for pair, and encoding its pairs again parses back to the same pairs. 1: a multipart
/// body (byte 1 = boundary length, the boundary, the body): no panic, a refusal is a 400, at most one field per
/// delimiter; and the pairs of the body read as a query string, written as multipart with that boundary (when it
/// does not occur inside them), parse back to the same pairs. 2: a `from`/`until` time (8 bytes of `now`, the
/// text): an accepted relative time moves with `now`, an all-digit time is that number, and offsets built from
/// the input (`-N<unit>`…) parse to exactly `now - Σ N·unit`.
pub fn http_request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let q = String::from_utf8_lossy(rest);
            let got = http_server::parse_query(&q);
            let want: Vec<(String, String)> = q
                .split('&')
                .filter(|s| !s.is_empty())
                .map(|kv| match kv.find('=') {
                    Some(i) => (url_decode_reference(&kv[..i]), url_decode_reference(&kv[i + 1..])),
                    None => (url_decode_reference(kv), String::new()),
                })
                .collect();
            assert_eq!(got, want, "parse_query({q:?}) agrees with the reference decoder");
            let encoded: Vec<String> =
                got.iter().map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v))).collect();
            assert_eq!(http_server::parse_query(&encoded.join("&")), got, "encoded pairs parse back");
        }
        1 => {
            let mut b = Bytes(rest);
            let n = usize::from(b.u8() & 127);
            let boundary = String::from_utf8_lossy(b.take(n)).into_owned();
            let body = b.0;
            let delim = format!("--{boundary}");
            match http_server::parse_multipart(body, &boundary) {
                Ok(fields) => {
                    let delims = body.windows(delim.len()).filter(|w| *w == delim.as_bytes()).count();
                    assert!(fields.len() < delims.max(1), "{} fields from {delims} delimiters", fields.len());
                }
                Err(resp) => assert_eq!(resp.status, 400),
            }
            let pairs = http_server::parse_query(&String::from_utf8_lossy(body));
            let representable = !boundary.contains(['\r', '\n'])
                && pairs.iter().all(|(k, _)| !k.contains(['"', ';', '\r', '\n']) && k.trim() == k);
            if !representable {
                return;
            }
            let mut form = Vec::new();
            for (k, v) in &pairs {
                form.extend_from_slice(
                    format!("{delim}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n").as_bytes(),
                );
                form.extend_from_slice(format!("Content-Type: text/plain\r\n\r\n{v}\r\n").as_bytes());
            }
            form.extend_from_slice(format!("{delim}--\r\n").as_bytes());
            let delims = form.windows(delim.len()).filter(|w| *w == delim.as_bytes()).count();
            if delims != pairs.len() + 1 {
                return; // the boundary occurs inside a field: not a body a client would send
            }
            let back = http_server::parse_multipart(&form, &boundary).expect("a well-formed multipart body parses");
            assert_eq!(back, pairs, "multipart fields come back in order, unchanged");
        }
        _ => {
            let mut b = Bytes(rest);
            let now = i64::from(b.u32()) + (i64::from(b.u32()) << 20);
            let text = String::from_utf8_lossy(b.0).into_owned();
            check_time(&text, now);
            // Offsets built from the input: up to 4 (number, unit) pairs, sign from the first byte.
            let units: [(&str, i64); 9] = [
                ("s", 1),
                ("sec", 1),
                ("min", 60),
                ("minutes", 60),
                ("h", 3600),
                ("d", 86_400),
                ("w", 604_800),
                ("mon", 2_592_000),
                ("y", 31_536_000),
            ];
            let mut r = Bytes(b.0);
            let sign = if r.u8() & 1 == 0 { -1 } else { 1 };
            let mut s = String::from(if sign < 0 { "now-" } else { "+" });
            let mut total: Option<i64> = Some(0);
            for _ in 0..usize::from(r.u8() % 4) + 1 {
                let n = i64::from(r.u32());
                let (u, secs) = units[usize::from(r.u8()) % units.len()];
                s.push_str(&format!("{n}{u}"));
                total = total.and_then(|t| t.checked_add(n.checked_mul(secs)?));
            }
            let want = total.and_then(|t| t.checked_mul(sign)).map(|t| now.saturating_add(t));
            assert_eq!(attime::parse(&s, now).ok(), want, "{s:?} at {now}");
        }
    }
}

fn check_time(text: &str, now: i64) {
    match attime::parse(text, now) {
        Ok(t) => {
            let digits: String = text.chars().filter(|c| !matches!(c, '_' | ',' | ' ')).collect();
            let digits = digits.trim();
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                assert_eq!(Some(t), digits.parse::<i64>().ok(), "epoch seconds {text:?}");
                assert_eq!(attime::parse(text, now ^ 12_345), Ok(t), "an absolute time ignores now");
            } else if t > i64::MIN + 100 && t < i64::MAX - 100 && now < i64::MAX - 100 {
                assert_eq!(attime::parse(text, now + 7), Ok(t + 7), "a relative time {text:?} moves with now");
            }
        }
        Err(e) => {
            assert_eq!(e.value, text);
            assert!(!e.to_string().is_empty());
        }
    }
}

/// The byte offset of the `]` closing the class that the `[` at byte `i` of `p` opens (the first `]` after an
/// optional `!` and an optional `]`), or `None`: the `[` is a character.
fn class_close(p: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if p.get(j) == Some(&b'!') {
        j += 1;
    }
    if p.get(j) == Some(&b']') {
        j += 1;
    }
    Some(j + memchr::memchr(b']', p.get(j..)?)?)
}

/// Whether the class written `[text]` holds `c`: a first `!` negates it; `x-y` is a range, any other character
/// itself.
fn class_has(text: &str, c: char) -> bool {
    let negated = text.starts_with('!');
    let mut chars = text.chars().skip(usize::from(negated));
    while let Some(lo) = chars.next() {
        let mut ahead = chars.clone();
        let hi = match (ahead.next(), ahead.next()) {
            (Some('-'), Some(hi)) => {
                chars = ahead;
                hi
            }
            _ => lo,
        };
        if lo <= c && c <= hi {
            return !negated;
        }
    }
    negated
}

/// A name for [`fnmatch_reference`]: sets of its positions `0..=len` as bits (position `j` is bit `j % 64` of
/// word `j / 64`).
struct NameBits {
    chars: Vec<char>,
    words: usize,
    /// Positions `0..len` (every character).
    any: Vec<u64>,
    /// The positions of each character of the name; `ascii[c]` is the index of ASCII `c` there.
    at: Vec<(char, Vec<u64>)>,
    ascii: [Option<u16>; 128],
    none: Vec<u64>,
}

impl NameBits {
    fn new(chars: Vec<char>) -> NameBits {
        let words = chars.len() / 64 + 1;
        let none = vec![0; words];
        let mut bits = NameBits { chars, words, any: none.clone(), at: Vec::new(), ascii: [None; 128], none };
        for j in 0..bits.chars.len() {
            let c = bits.chars[j];
            bits.any[j / 64] |= 1 << (j % 64);
            let k = match bits.index(c) {
                Some(k) => k,
                None => {
                    bits.at.push((c, bits.none.clone()));
                    if let Some(a) = bits.ascii.get_mut(c as usize) {
                        *a = Some(bits.at.len() as u16 - 1);
                    }
                    bits.at.len() - 1
                }
            };
            bits.at[k].1[j / 64] |= 1 << (j % 64);
        }
        bits
    }

    /// Where `c` is in `at`.
    fn index(&self, c: char) -> Option<usize> {
        match self.ascii.get(c as usize) {
            Some(k) => k.map(usize::from),
            None => self.at.iter().position(|(x, _)| *x == c),
        }
    }

    /// The positions of `c`.
    fn char_at(&self, c: char) -> &[u64] {
        self.index(c).map_or(&self.none, |k| &self.at[k].1)
    }
}

/// Python's `fnmatch` on one brace-free variant `p`, by dynamic programming over (item, name position), the items
/// read left to right (`*`, `?`, a class `[...]` closed as [`class_close`] says, else a character, an unclosed `[`
/// too): the reference the library's tokenizer and one-star backtracking matcher must agree with. A row is the set
/// of positions `j` where the items read so far match `name[..j]`, 64 positions to a word; with `prev` the row
/// before an item,
/// - a character, `?` or class: `cur[j + 1] = prev[j] && the item matches name[j]`, i.e. `prev` masked with where
///   the item matches, shifted up one position;
/// - `*`: `cur[j] = prev[k]` for some `k <= j`, i.e. every position from the lowest one in `prev` to the end.
///
/// The variant matches when the last row holds the name's length. An empty row stays empty (no match), so the
/// reading stops there. `row` and `mask` are scratch space.
fn fnmatch_reference(p: &str, name: &NameBits, row: &mut Vec<u64>, mask: &mut Vec<u64>) -> bool {
    let (nn, words) = (name.chars.len(), name.words);
    row.clear();
    row.resize(words, 0);
    row[0] = 1; // no items match the empty start
    let mut i = 0;
    while let Some(c) = p[i..].chars().next() {
        let Some(low) = row.iter().position(|&w| w != 0) else { return false };
        let mut next = i + c.len_utf8();
        let matching: &[u64] = match c {
            '*' => {
                let from = low * 64 + row[low].trailing_zeros() as usize;
                for (k, w) in row.iter_mut().enumerate() {
                    let (first, last) = (k * 64, k * 64 + 63);
                    *w = if last < from {
                        0
                    } else if first >= from {
                        !0
                    } else {
                        !0 << (from - first)
                    };
                }
                row[nn / 64] &= if nn % 64 == 63 { !0 } else { (1 << (nn % 64 + 1)) - 1 };
                i = next;
                continue;
            }
            '?' => &name.any,
            '[' => match class_close(p.as_bytes(), i) {
                Some(close) => {
                    // Only where `row` holds a position matters.
                    mask.clear();
                    mask.resize(words, 0);
                    for j in (0..nn).filter(|&j| row[j / 64] >> (j % 64) & 1 == 1) {
                        if class_has(&p[next..close], name.chars[j]) {
                            mask[j / 64] |= 1 << (j % 64);
                        }
                    }
                    next = close + 1;
                    mask
                }
                None => name.char_at('['),
            },
            c => name.char_at(c),
        };
        for k in (0..words).rev() {
            let below = if k > 0 { (row[k - 1] & matching[k - 1]) >> 63 } else { 0 };
            row[k] = ((row[k] & matching[k]) << 1) | below;
        }
        i = next;
    }
    row[nn / 64] >> (nn % 64) & 1 == 1
}

/// The group graphite-web's `expand_braces` rewrites first in `s`: the first `}` and the last `{` before it.
fn first_group(s: &str) -> Option<(usize, usize)> {
    let close = memchr::memchr(b'}', s.as_bytes())?;
    Some((memchr::memrchr(b'{', &s.as_bytes()[..close])?, close))
}

/// graphite-web's `expand_braces`, written plainly as string rewriting: each alternative of the first group
/// (split at commas) is put in its place and the result expanded again; no group left: a variant. Gives `None`
/// once the variants hold more than `max_cells` characters (one more per variant), or once it has written
/// [`REFERENCE_BYTES`] (rewriting copies the whole string per group per variant: a chain of groups after
/// many variants, `{a,b}{a,b}…{}{}{}…`, costs variants × groups × length).
fn expand_reference(s: &str, max_cells: usize) -> Option<Vec<String>> {
    fn rewrite(s: &str, out: &mut Vec<String>, cells: &mut usize, budget: &mut usize) -> Option<()> {
        let Some((o, c)) = first_group(s) else {
            *cells = cells.checked_sub(s.chars().count() + 1)?;
            out.push(s.to_string());
            return Some(());
        };
        let mut next = String::with_capacity(s.len());
        for alt in s[o + 1..c].split(',') {
            *budget = budget.checked_sub(s.len())?;
            next.clear();
            next.push_str(&s[..o]);
            next.push_str(alt);
            next.push_str(&s[c + 1..]);
            rewrite(&next, out, cells, budget)?;
        }
        Some(())
    }
    let (mut out, mut cells, mut budget) = (Vec::new(), max_cells, REFERENCE_BYTES);
    rewrite(s, &mut out, &mut cells, &mut budget)?;
    Some(out)
}

/// How many variants [`expand_reference`] gives, duplicates included (saturating), by the same rewriting without
/// making them: the alternatives put in for a group hold no brace (they lie between the first `}` and the last
/// `{` before it) and no comma (they are split at commas), so each string they make rewrites exactly as the
/// first one does and gives as many variants.
fn count_reference(s: &str) -> usize {
    let (mut s, mut n) = (s.to_string(), 1usize);
    while let Some((o, c)) = first_group(&s) {
        let mut alts = s[o + 1..c].split(',');
        let first = alts.next().unwrap_or_default().to_string();
        n = n.saturating_mul(1 + alts.count());
        s.replace_range(o..=c, &first);
    }
    n
}

/// Most bytes [`expand_reference`] writes for one pattern: the variants themselves hold at most
/// [`REFERENCE_VARIANT_CELLS`]; the strings between take more only after a chain of groups.
const REFERENCE_BYTES: usize = 1 << 20;

/// Most dynamic-programming cells the glob reference fills for one name.
const REFERENCE_CELLS: usize = 1 << 16;

/// Most characters (plus one per variant) of variants the glob reference makes for one pattern. Making and
/// reading them is what a brace bomb of hundreds of variants costs the reference, and past 16 Ki only names of
/// 2 characters or less fit in [`REFERENCE_CELLS`] anyway: of a corpus the fuzzer grew (1,908 inputs, 1,697
/// patterns accepted), about 1,503 had a name compared with 64 Ki here, 1,468 with 16 Ki.
const REFERENCE_VARIANT_CELLS: usize = 1 << 14;

/// `glob_pattern`: a component pattern, a 0 byte, names to match (split at 0 bytes). Invariants: compiling never
/// panics, refuses only over-long patterns and brace bombs; a pattern without glob syntax is its own literal and
/// matches exactly itself; every match agrees with the reference (plain brace expansion, then fnmatch by dynamic
/// programming); the variants counted by rewriting (refused: more than [`glob::MAX_VARIANTS`]) are those made.
/// Bounded work, the same for the same input: a name is compared when the reference fills at most
/// [`REFERENCE_CELLS`] cells for it (variants' characters + 1, times the name's + 1); the variants are made only
/// as far as the shortest name needs, at most [`REFERENCE_VARIANT_CELLS`], and not past [`REFERENCE_BYTES`]
/// written (else no name is compared; the count and literal checks still run).
pub fn glob_pattern(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let pattern = parts.next().unwrap_or("");
    let names: Vec<&str> = parts.take(8).collect();
    let count = count_reference(pattern);
    let compiled = match glob::Pattern::new(pattern) {
        Ok(p) => p,
        Err(glob::GlobError::TooLong(n)) => {
            assert!(n > glob::MAX_PATTERN_LEN && n == pattern.len());
            return;
        }
        Err(glob::GlobError::TooManyVariants(_)) => {
            assert!(count > glob::MAX_VARIANTS, "{count} variants refused");
            return;
        }
    };
    assert!(count <= glob::MAX_VARIANTS, "{count} variants accepted");
    assert_eq!(compiled.literal().is_some(), !glob::has_wildcard(pattern));
    // The variants, when a name is short enough to be compared (see below).
    let shortest = names.iter().chain([&pattern]).map(|n| n.chars().count()).min().unwrap_or(0);
    let variants = expand_reference(pattern, REFERENCE_VARIANT_CELLS.min(REFERENCE_CELLS / (shortest + 1)));
    if let Some(v) = &variants {
        assert_eq!(v.len(), count, "the variants counted are those made");
    }
    let cells: usize = variants.iter().flatten().map(|v| v.chars().count() + 1).sum();
    let (mut row, mut mask) = (Vec::new(), Vec::new());
    for name in names.iter().copied().chain([pattern]) {
        let chars: Vec<char> = name.chars().collect();
        // The reference fills (pattern × name) cells per variant: bounded, so it never times out.
        if let Some(variants) = variants.as_ref().filter(|_| cells.saturating_mul(chars.len() + 1) <= REFERENCE_CELLS) {
            let bits = NameBits::new(chars);
            let want = variants.iter().any(|v| fnmatch_reference(v, &bits, &mut row, &mut mask));
            assert_eq!(compiled.matches(name), want, "{pattern:?} on {name:?}");
        }
        if let Some(lit) = compiled.literal() {
            assert_eq!(lit, pattern);
            assert_eq!(compiled.matches(name), name == pattern);
        }
    }
}

fn msgpack_value(bytes: &[u8]) -> rmpv::Value {
    let mut r = bytes;
    let v = rmpv::decode::read_value(&mut r).expect("warren's msgpack decodes");
    assert!(r.is_empty(), "one value, nothing after it");
    v
}

/// A msgpack map as (str key, value) pairs.
fn msgpack_map(v: &rmpv::Value) -> Vec<(&str, &rmpv::Value)> {
    v.as_map().expect("a map").iter().map(|(k, v)| (k.as_str().expect("str keys"), v)).collect()
}

fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

/// `wire_encode`: find nodes and render series built from the input (paths, flags, intervals, values with gaps,
/// all f64 bit patterns, NaN included) encode to msgpack that `rmpv` decodes back to exactly those fields, in
/// graphite-web's key order; the render pickle decodes with warren's decoder to the same fields; the find pickle
/// (it holds graphite's `IntervalSet` objects, which warren's safe decoder refuses) is one complete protocol-2 frame.
pub fn wire_encode(data: &[u8]) {
    let mut b = Bytes(data);
    let nodes: Vec<wire::FoundNode> = (0..b.u8() % 5)
        .map(|_| {
            let path = b.string();
            let is_leaf = b.u8() & 1 == 1;
            let intervals = (0..b.u8() % 4).map(|_| (b.f64(), b.f64())).collect();
            wire::FoundNode { path, is_leaf, intervals }
        })
        .collect();
    let names: Vec<(String, String)> = (0..b.u8() % 4).map(|_| (b.string(), b.string())).collect();
    let mut series_values: Vec<Vec<Option<f64>>> = Vec::new();
    let mut shapes = Vec::new();
    for _ in &names {
        shapes.push((b.u32(), b.u32(), b.u32(), b.f64()));
        series_values.push((0..b.u8() % 16).map(|_| (b.u8() & 1 == 1).then(|| b.f64())).collect());
    }
    let series: Vec<wire::SeriesInfo<'_>> = names
        .iter()
        .zip(&shapes)
        .zip(&series_values)
        .map(|(((name, expr), &(start, end, step, xff)), values)| wire::SeriesInfo {
            name,
            path_expression: expr,
            start,
            end,
            step,
            values,
            x_files_factor: xff,
        })
        .collect();

    // find, msgpack
    let found = msgpack_value(&wire::find_msgpack(&nodes));
    let found = found.as_array().expect("a list of nodes");
    assert_eq!(found.len(), nodes.len());
    for (v, n) in found.iter().zip(&nodes) {
        let m = msgpack_map(v);
        assert_eq!(m[0], ("path", &rmpv::Value::from(n.path.as_str())));
        assert_eq!(m[1], ("is_leaf", &rmpv::Value::from(n.is_leaf)));
        if n.is_leaf {
            assert_eq!(m.len(), 3);
            assert_eq!(m[2].0, "intervals");
            let iv = m[2].1.as_array().expect("intervals list");
            assert_eq!(iv.len(), n.intervals.len());
            for (pair, &(s, e)) in iv.iter().zip(&n.intervals) {
                let pair = pair.as_array().expect("[start, end]");
                assert!(
                    pair.len() == 2
                        && same_bits(pair[0].as_f64().unwrap(), s)
                        && same_bits(pair[1].as_f64().unwrap(), e)
                );
            }
        } else {
            assert_eq!(m.len(), 2, "a branch has no intervals");
        }
    }
    // find, pickle: one frame, protocol 2, ending with STOP.
    let fp = wire::find_pickle(&nodes);
    assert!(fp.starts_with(&[0x80, 2]) && fp.ends_with(b"."));

    // render, msgpack and pickle
    let keys = [
        "name",
        "start",
        "end",
        "step",
        "values",
        "pathExpression",
        "valuesPerPoint",
        "consolidationFunc",
        "xFilesFactor",
    ];
    let rendered = msgpack_value(&wire::render_msgpack(&series));
    let rendered = rendered.as_array().expect("a list of series");
    let pickled = pickle::decode(&wire::render_pickle(&series), &Limits::default()).expect("the render pickle decodes");
    let pickled = pickled.as_items().expect("a list of series");
    assert_eq!((rendered.len(), pickled.len()), (series.len(), series.len()));
    for ((mp, pk), s) in rendered.iter().zip(pickled).zip(&series) {
        let m = msgpack_map(mp);
        assert_eq!(m.iter().map(|(k, _)| *k).collect::<Vec<_>>(), keys, "graphite-web's key order");
        let Value::Dict(pairs) = pk else { panic!("a series pickles as a dict, not {pk:?}") };
        let pkeys: Vec<_> = pairs.iter().map(|(k, _)| k.as_str().expect("str keys")).collect();
        assert_eq!(pkeys, keys);
        assert_eq!((m[0].1.as_str(), pk.get("name").and_then(Value::as_str)), (Some(s.name), Some(s.name)));
        assert_eq!(m[5].1.as_str(), Some(s.path_expression));
        assert_eq!(pk.get("pathExpression").and_then(Value::as_str), Some(s.path_expression));
        for (i, key, want) in [(1, "start", s.start), (2, "end", s.end), (3, "step", s.step)] {
            assert_eq!(m[i].1.as_u64(), Some(u64::from(want)), "{key}");
            assert!(matches!(pk.get(key), Some(Value::Int(x)) if *x == i64::from(want)), "{key}");
        }
        assert!(same_bits(m[8].1.as_f64().unwrap(), s.x_files_factor));
        assert!(matches!(pk.get("xFilesFactor"), Some(Value::Float(x)) if same_bits(*x, s.x_files_factor)));
        let mv = m[4].1.as_array().expect("values");
        let pv = pk.get("values").and_then(Value::as_items).expect("values");
        assert_eq!((mv.len(), pv.len()), (s.values.len(), s.values.len()));
        for ((a, p), want) in mv.iter().zip(pv).zip(s.values) {
            match want {
                None => assert!(a.is_nil() && matches!(p, Value::None), "a gap is nil / None"),
                Some(x) => {
                    assert!(same_bits(a.as_f64().expect("a float"), *x));
                    assert!(matches!(p, Value::Float(y) if same_bits(*y, *x)));
                }
            }
        }
    }
}
