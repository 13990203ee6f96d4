//! The invariants every fuzz target checks, one function per target, each taking the raw fuzz input.
//!
//! Shared by the cargo-fuzz targets (`fuzz_targets/*.rs`, via `#[path]`) and by the plain test
//! `tests/fuzz_regressions.rs`, which replays `fuzz/regressions/<target>/*` and the seed corpus through the same
//! checks, so `cargo test` keeps protecting every input the fuzzer ever crashed on. A violated invariant panics
//! (that is how libFuzzer notices); the library itself must never panic on any of these inputs.
#![allow(dead_code)]

#[path = "checks_filter.rs"]
pub mod filter;
#[path = "checks_http.rs"]
pub mod http;
#[path = "checks_read.rs"]
pub mod read;

use std::path::{Component, Path};

use warren::config::{retention, CarbonCacheSettings, StorageAggregation, StorageSchemas};
use warren::ingest::line::{for_each_line, parse_f64, parse_line, parse_timestamp};
use warren::ingest::parse::{parse_body, BadInput};
use warren::metric;
use warren::pickle::{self, Decoder, Limits, Value};
use warren::pipe::batch::{BatchPoint, NameRef};
use warren::whisper::{self, MemStorage, OpenOptions, Point, UpdateScratch, WhisperFile};

/// The fuzz targets, by name (the directory names under `fuzz/corpus` and `fuzz/regressions`).
pub const TARGETS: [&str; 13] = [
    "amqp_body",
    "plaintext_line",
    "pickle_decode",
    "whisper_file",
    "config_parsers",
    "metric_name",
    "tagged_name",
    "pickle_encode",
    "http_request",
    "glob_pattern",
    "wire_encode",
    "rewrite_rules",
    "http_head",
];

/// Run the check of target `name` on `data`; `false` if there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "amqp_body" => amqp_body(data),
        "plaintext_line" => plaintext_line(data),
        "pickle_decode" => pickle_decode(data),
        "whisper_file" => whisper_file(data),
        "config_parsers" => config_parsers(data),
        "metric_name" => metric_name(data),
        "tagged_name" => tagged_name(data),
        "pickle_encode" => pickle_encode(data),
        "http_request" => read::http_request(data),
        "glob_pattern" => read::glob_pattern(data),
        "wire_encode" => read::wire_encode(data),
        "rewrite_rules" => filter::rewrite_rules(data),
        "http_head" => http::http_head(data),
        _ => return false,
    }
    true
}

/// Python's ASCII whitespace as carbon's `strip()`/`split()` see it (also `\x0b` and `\x0c`).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Non-empty lines of `body`, counted independently of the library's splitter.
fn non_empty_lines(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n').filter(|l| l.iter().any(|&b| !is_space(b))).count()
}

/// `amqp_body`: byte 0 selects the mode (bit 0 set: name in body). In routing-key mode byte 1 is the key's length
/// and the key follows; the rest is the body. Invariants: every point's name validates and lies inside the body
/// (or is the key), values are finite, counts add up to the number of non-empty lines, `bad` is told about every
/// bad line and refused name.
pub fn amqp_body(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let name_in_body = mode & 1 == 1;
    let (key, body) = if name_in_body {
        (&b"ignored.key"[..], rest)
    } else {
        let Some((&n, rest)) = rest.split_first() else { return };
        rest.split_at(usize::from(n).min(rest.len()))
    };
    let now = 1_700_000_000;
    let mut out: Vec<BatchPoint> = Vec::new();
    let (mut bad_lines, mut bad_names) = (0usize, 0usize);
    let mut renamed = Vec::new();
    let counts = parse_body(key, body, name_in_body, now, &mut out, &mut renamed, |b| match b {
        BadInput::Line { line, .. } => {
            assert!(!line.is_empty(), "a reported bad line is never empty");
            bad_lines += 1;
        }
        BadInput::Name { name, .. } => {
            assert!(metric::validate(name).is_err(), "a reported name is refused");
            bad_names += 1;
        }
    });
    let lines = non_empty_lines(body);
    assert_eq!(counts.points, out.len(), "points counted = points returned");
    assert_eq!(
        counts.points + counts.bad_lines + counts.nan_dropped + counts.rejected_names,
        lines,
        "every non-empty line is a point, a bad line, a NaN or a refused name: {counts:?}"
    );
    assert_eq!(bad_lines, counts.bad_lines, "every bad line is reported");
    if name_in_body {
        assert_eq!(bad_names, counts.rejected_names, "every refused name is reported");
    } else {
        // A refused key is reported once for the whole body, and then no line is parsed.
        assert_eq!(bad_names, usize::from(counts.rejected_names > 0));
        if counts.rejected_names > 0 {
            assert!(metric::validate(key).is_err() && out.is_empty() && counts.rejected_names == lines);
        }
    }
    let mut all = body.to_vec();
    all.extend_from_slice(&renamed);
    for p in &out {
        assert!(p.value.is_finite(), "value {} is finite", p.value);
        match p.name {
            NameRef::Key => {
                assert!(!name_in_body, "key names only in routing-key mode");
                assert!(matches!(metric::validate(key), Ok(std::borrow::Cow::Borrowed(_))), "the key is normal");
            }
            NameRef::Body { start, len } => {
                let (start, len) = (start as usize, len as usize);
                let name = all.get(start..start + len).expect("name range lies inside the body or renamed");
                let normal = metric::validate(name);
                assert!(
                    matches!(&normal, Ok(n) if n.as_bytes() == name),
                    "returned name {:?} is valid and normalised",
                    name.escape_ascii()
                );
                if start >= body.len() {
                    // A renamed name: the normal form of a key or of a field that was not normal.
                    continue;
                }
                assert!(name_in_body, "body names only in name-in-body mode");
                assert!(start == 0 || is_space(body[start - 1]), "a name starts a field");
                assert!(start + len == body.len() || is_space(body[start + len]), "a name ends a field");
            }
        }
    }
}

/// `plaintext_line`: byte 0 selects the mode, the rest is a buffer of lines. Invariants: lines are trimmed,
/// non-empty, in order and inside the buffer; a parsed point has a finite value and a name that is one
/// whitespace-free field; `parse_f64` agrees bit for bit with Rust's (correctly rounded) float parser, and
/// `parse_timestamp` with Python's `int(float(s))` within `0..=u32::MAX` (or `-1` for now).
pub fn plaintext_line(data: &[u8]) {
    let Some((&mode, buf)) = data.split_first() else { return };
    let name_in_line = mode & 1 == 1;
    let now = 1_234_567;
    let mut prev_end = 0;
    let mut lines = 0;
    for_each_line(buf, |r| {
        lines += 1;
        assert!(r.start >= prev_end && r.start < r.end && r.end <= buf.len(), "line {r:?} in order, non-empty");
        prev_end = r.end;
        let line = &buf[r];
        assert!(!is_space(line[0]) && !is_space(line[line.len() - 1]), "lines are trimmed");
        assert!(!line.contains(&b'\n'));
        if let Ok(p) = parse_line(line, name_in_line, now) {
            assert!(p.value.is_finite());
            if name_in_line {
                let name = line.get(p.name.clone()).expect("name range inside the line");
                assert!(!name.is_empty() && !name.iter().any(|&b| is_space(b)));
                assert_eq!(p.name.start, 0, "the name is the first field of a trimmed line");
            } else {
                assert_eq!(p.name, 0..0);
            }
            let fields: Vec<&[u8]> = line.split(|&b| is_space(b)).filter(|f| !f.is_empty()).collect();
            assert_eq!(fields.len(), if name_in_line { 3 } else { 2 });
            let v = fields[fields.len() - 2];
            assert_eq!(parse_f64(v).map(f64::to_bits), Some(p.value.to_bits()));
        }
    });
    assert_eq!(lines, non_empty_lines(buf));
    for field in buf.split(|&b| is_space(b)).filter(|f| !f.is_empty()) {
        let ours = parse_f64(field);
        let std = std::str::from_utf8(field).ok().and_then(|s| s.parse::<f64>().ok());
        match (ours, std) {
            (Some(a), Some(b)) => assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{field:?}"),
            (None, None) => {}
            (a, b) => panic!("parse_f64({:?}) = {a:?} but std gives {b:?}", field.escape_ascii()),
        }
        match parse_timestamp(field, now) {
            Ok(t) => {
                let f = std.expect("an accepted timestamp is a number");
                if f == -1.0 {
                    assert_eq!(t, now);
                } else {
                    assert!(f.is_finite() && f.trunc() >= 0.0 && f.trunc() <= f64::from(u32::MAX));
                    assert_eq!(f64::from(t), f.trunc(), "{:?}", field.escape_ascii());
                }
            }
            Err(_) => {
                if let Some(f) = std {
                    let ok = f == -1.0 || (f.is_finite() && (0.0..=f64::from(u32::MAX)).contains(&f.trunc()));
                    assert!(!ok, "timestamp {:?} refused", field.escape_ascii());
                }
            }
        }
    }
}

thread_local! {
    /// A decoder reused across inputs, as a receiver connection reuses one: stale state must never leak.
    static REUSED: std::cell::RefCell<Decoder> = std::cell::RefCell::new(Decoder::new());
}

/// What `decode_points` should make of one entry of a decoded list (the oracle, written over [`Value`]).
fn expected_point(v: &Value) -> Option<(Vec<u8>, f64, f64)> {
    fn number(v: &Value) -> Option<f64> {
        match v {
            // Python's float() takes str and bytes alike.
            Value::Str(s) => s.trim_matches(|c: char| c.is_ascii_whitespace()).parse().ok(),
            Value::Bytes(b) => {
                std::str::from_utf8(b).ok()?.trim_matches(|c: char| c.is_ascii_whitespace()).parse().ok()
            }
            Value::BigInt(_) => v.as_f64().filter(|f| f.is_finite()),
            _ => v.as_f64(),
        }
    }
    let [name, dp] = v.as_items()? else { return None };
    let name = match name {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.to_vec(),
        _ => return None,
    };
    let [ts, val] = dp.as_items()? else { return None };
    Some((name, number(ts)?, number(val)?))
}

fn same_f64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// `pickle_decode`: the input is one frame. Invariants: no panic (and libFuzzer's timeout bounds the time);
/// a reused decoder gives what a fresh one gives; when `decode` yields a list, `decode_points` accepts exactly
/// the entries that have the point shape, with the same names and numbers.
pub fn pickle_decode(data: &[u8]) {
    let limits = Limits::default();
    let fresh = pickle::decode(data, &limits);
    let reused = REUSED.with(|d| d.borrow_mut().decode(data, &limits));
    assert_eq!(format!("{fresh:?}"), format!("{reused:?}"), "a reused decoder decodes as a fresh one");
    if let Ok(v) = &fresh {
        // Display must not panic either (CarbonLink logs refused requests).
        let _ = format!("{v:?}");
    }
    if let Err(e) = &fresh {
        let _ = e.to_string();
    }
    let mut got = Vec::new();
    let mut bad = Vec::new();
    let counts =
        pickle::decode_points(data, &limits, &mut |n, t, v| got.push((n.to_vec(), t, v)), &mut |i, r| bad.push((i, r)));
    let mut got2 = Vec::new();
    let counts2 = REUSED.with(|d| {
        d.borrow_mut().decode_points(data, &limits, &mut |n, t, v| got2.push((n.to_vec(), t, v)), &mut |_, _| {})
    });
    assert_eq!(format!("{counts:?}"), format!("{counts2:?}"), "a reused decoder finds the same points");
    assert_eq!(format!("{got:?}"), format!("{got2:?}"));
    if let Ok(c) = &counts {
        assert_eq!((c.points, c.bad_entries), (got.len(), bad.len()));
        assert!(bad.windows(2).all(|w| w[0].0 < w[1].0), "bad entries reported in order, once each");
    }
    let Ok(Value::List(items) | Value::Tuple(items)) = &fresh else { return };
    let c = counts.expect("a frame that decodes to a list is a point list");
    assert_eq!(c.points + c.bad_entries, items.len());
    let expected: Vec<_> = items.iter().filter_map(expected_point).collect();
    assert_eq!(expected.len(), got.len(), "decode_points keeps exactly the well-formed entries");
    for ((en, et, ev), (gn, gt, gv)) in expected.iter().zip(&got) {
        assert!(en == gn && same_f64(*et, *gt) && same_f64(*ev, *gv), "{en:?} {et} {ev} vs {gn:?} {gt} {gv}");
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `whisper_file`: 16 bytes of parameters (now, fetch from/until offsets, archive choice, a batch shape), then the
/// bytes of a file. Invariants: open gives Ok or a typed error; an opened header is consistent with the file;
/// fetch returns one value per step; update_many never writes outside the archives (the file's length and header
/// are unchanged) and the file still opens to the same header afterwards.
pub fn whisper_file(data: &[u8]) {
    let mut params = [0u8; 16];
    let n = data.len().min(16);
    params[..n].copy_from_slice(&data[..n]);
    let file_bytes = &data[n..];
    let now = u32_at(&params, 0);
    // In memory: the engine's own header, update and fetch code over `MemStorage` (file semantics, no syscalls).
    let label = Path::new("fuzz.wsp");
    let mut file = match WhisperFile::from_storage(MemStorage::new(file_bytes.to_vec()), label, OpenOptions::default())
    {
        Ok(f) => f,
        Err(e) => {
            assert!(matches!(e, whisper::WhisperError::Corrupt { .. }), "a bad file is Corrupt, not {e}");
            return;
        }
    };
    let header = file.header().clone();
    let file_len = file_bytes.len() as u64;
    let header_len = whisper::METADATA_SIZE + whisper::ARCHIVE_INFO_SIZE * header.archives.len() as u64;
    assert!(!header.archives.is_empty() && (0.0..=1.0).contains(&header.x_files_factor));
    for a in &header.archives {
        assert!(a.seconds_per_point > 0 && a.points > 0);
        assert!(u64::from(a.offset) >= header_len && a.end() <= file_len, "{a:?} inside {file_len} bytes");
    }
    // Fetch windows: from/until relative to now (wide on purpose), an archive chosen by the input.
    let from = i64::from(now) - i64::from(u32_at(&params, 4));
    let back = u32_at(&params, 8);
    let until = (back != u32::MAX).then(|| i64::from(now) - i64::from(back >> 8));
    let step = match params[12] {
        0 => None,
        s if s & 0x80 != 0 => Some(u32::from(s & 0x7f)),
        s => Some(header.archives[usize::from(s) % header.archives.len()].seconds_per_point),
    };
    match file.fetch(from, until, i64::from(now), step) {
        Ok(Some(r)) => {
            assert!(r.step > 0 && header.archives.iter().any(|a| a.seconds_per_point == r.step));
            assert!(r.from < r.until && r.from % r.step == 0 && r.until % r.step == 0);
            // A crafted header may hold several archives with that step: bound by the largest ring among them.
            let ring = header.archives.iter().filter(|a| a.seconds_per_point == r.step).map(|a| a.points).max();
            assert!(r.values.len() as u64 <= u64::from(ring.unwrap_or(0)), "at most one value per slot of the ring");
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // A batch around `now`: `count` points `gap` seconds apart, some in the future, values from the input.
    let count = usize::from(params[13] & 0x1f);
    let gap = u32::from(u16::from_be_bytes([params[14], params[15]]));
    let mut points: Vec<Point> = (0..count)
        .map(|i| Point {
            timestamp: now.wrapping_add(gap).wrapping_sub((i as u32).wrapping_mul(gap)),
            value: i as f64 - f64::from(params[13] >> 5),
        })
        .collect();
    let mut scratch = UpdateScratch::default();
    let _ = file.update_many(&mut points, now, &mut scratch);
    if let Some(p) = points.first().copied() {
        let _ = file.update(p, now);
    }
    let after = file.into_storage().into_bytes();
    assert_eq!(after.len() as u64, file_len, "updates never grow or shrink the file");
    assert_eq!(&after[..header_len as usize], &file_bytes[..header_len as usize], "updates never touch the header");
    let reopened = WhisperFile::from_storage(MemStorage::new(after), label, OpenOptions::default())
        .expect("an updated file still opens");
    assert_eq!(reopened.header(), &header);
}

/// `config_parsers`: byte 0 picks the parser (retentions, storage-schemas.conf, storage-aggregation.conf,
/// carbon.conf); the rest is the text (lossily decoded). Invariants: no panic; accepted retentions have
/// non-zero steps; accepted schemas give every metric a non-empty valid archive list; accepted aggregation rules
/// give an xFilesFactor within 0..=1. Schemas and aggregation texts compile one regex per section: inputs with
/// more than [`MAX_CONF_PATTERNS`] `pattern` lines or over [`MAX_CONF_REGEX_TEXT`] bytes are skipped, to bound
/// compile work. (Measured after: still ≈ 3 k inputs per CPU second, so compiling was not the main cost.)
pub fn config_parsers(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    if matches!(which % 4, 1 | 2) && too_many_patterns(&text) {
        return;
    }
    let metrics = ["a.b.c", "carbon.agents.x.cpu", "", "servers.web01.cpu.user", "stats.counts.x.sum"];
    match which % 4 {
        0 => {
            if let Ok(specs) = retention::parse_retentions(&text) {
                assert!(specs.iter().all(|s| s.seconds_per_point > 0), "{specs:?}");
            }
        }
        1 => match StorageSchemas::parse(&text, "fuzz-schemas.conf") {
            Ok(s) => {
                for m in metrics {
                    let archives = s.archives_for(m);
                    assert!(!archives.is_empty());
                    whisper::validate_archives(archives).expect("a parsed schema's archives are valid");
                }
            }
            Err(e) => assert!(e.to_string().starts_with("fuzz-schemas.conf") || e.to_string().contains("retention")),
        },
        2 => {
            if let Ok(a) = StorageAggregation::parse(&text, "fuzz-aggregation.conf") {
                for m in metrics {
                    let (_, xff) = a.for_metric(m);
                    assert!((0.0..=1.0).contains(&xff), "xff {xff}");
                }
            }
        }
        _ => {
            let _ = CarbonCacheSettings::parse(&text, "fuzz-carbon.conf").map_err(|e| e.to_string());
        }
    }
}

/// Most `pattern` lines a schemas/aggregation input may hold (each compiles a regex).
pub const MAX_CONF_PATTERNS: usize = 4;
/// Longest schemas/aggregation input, in bytes.
pub const MAX_CONF_REGEX_TEXT: usize = 2048;

fn too_many_patterns(text: &str) -> bool {
    text.len() > MAX_CONF_REGEX_TEXT
        || text.lines().filter(|l| l.trim_start().to_ascii_lowercase().starts_with("pattern")).count()
            > MAX_CONF_PATTERNS
}

/// `pickle_encode`: the encoders round-trip through the decoder. (1) Any frame the decoder accepts re-encodes
/// (when it can: depth and length limits) to a pickle the decoder reads back into a value that encodes to the same
/// bytes. The encoder does not memoize, so a value with shared strings re-encodes flattened, possibly longer
/// than the default frame limit (at most the input's byte budget plus a few bytes per value): that first
/// encoding is read back with a frame limit that admits it. (2) The input read as 16-byte (i64 timestamp, f64 value) pairs: `encode_datapoints` decodes to exactly
/// those pairs, bit for bit, in order, under `datapoints`.
pub fn pickle_encode(data: &[u8]) {
    if let Ok(v) = pickle::decode(data, &Limits::default()) {
        let mut first = Vec::new();
        if pickle::encode(&v, &mut first).is_ok() {
            // Flattened, every value takes at least one byte of `first` and every string is written in full once
            // per reference, so `first` is within the default value and byte budgets for its own length; only
            // the frame limit needs room.
            let roomy = Limits { max_frame_len: first.len().max(pickle::MAX_FRAME_LEN), ..Limits::default() };
            let back = pickle::decode(&first, &roomy).expect("warren's own pickle decodes");
            let mut second = Vec::new();
            pickle::encode(&back, &mut second).expect("a decoded own pickle encodes");
            assert_eq!(first, second, "encode(decode(encode(v))) == encode(v)");
        }
    }
    let points: Vec<(i64, f64)> = data
        .chunks_exact(16)
        .map(|c| {
            let (t, v) = c.split_at(8);
            (i64::from_le_bytes(t.try_into().unwrap()), f64::from_le_bytes(v.try_into().unwrap()))
        })
        .collect();
    let out = pickle::encode_datapoints(&points);
    let back = pickle::decode(&out, &Limits::default()).expect("encode_datapoints decodes");
    let got = back.get("datapoints").and_then(Value::as_items).expect("a datapoints list");
    assert_eq!(got.len(), points.len());
    for (g, &(t, v)) in got.iter().zip(&points) {
        match g.as_items() {
            Some([Value::Int(gt), Value::Float(gv)]) => {
                assert_eq!((*gt, gv.to_bits()), (t, v.to_bits()), "datapoint round trip");
            }
            other => panic!("datapoint {t}, {v} came back as {other:?}"),
        }
    }
}

/// `metric_name`: the input is a name. Invariants: an accepted name is its own normal form (validating it again
/// gives it back unchanged), and its file is under the data dir, made only of `Normal` components of at most 255
/// bytes; a plain name is the input and maps back from its path, a tagged one lives under `_tagged/`; a refused
/// name's message is bounded (it is logged at line rate).
pub fn metric_name(data: &[u8]) {
    match metric::validate(data) {
        Ok(name) => {
            let name = name.as_ref();
            assert!(
                matches!(metric::validate(name.as_bytes()), Ok(std::borrow::Cow::Borrowed(n)) if n == name),
                "normalising is idempotent"
            );
            let data_dir = Path::new("/srv/whisper");
            for files in [metric::TagFileNames::Hashed, metric::TagFileNames::Readable] {
                let path = metric::file_path_as(data_dir, name, files);
                let rel = path.strip_prefix(data_dir).expect("a metric's file is under the data dir");
                for c in rel.components() {
                    let Component::Normal(part) = c else { panic!("non-normal component in {path:?}") };
                    assert!(part.len() <= 255 && part != "." && part != "..");
                }
            }
            let path = metric::file_path(data_dir, name);
            let rel = path.strip_prefix(data_dir).expect("a metric's file is under the data dir");
            if metric::tags::is_tagged(name) {
                assert!(rel.starts_with("_tagged") && rel.components().count() == 4, "{rel:?}");
                return;
            }
            let untouched = data.first() != Some(&b'~') && !data.contains(&b';') && !data.contains(&b'{');
            if untouched {
                assert_eq!(name.as_bytes(), data);
            }
            assert_eq!(rel.components().count(), name.split('.').count());
            assert_eq!(metric::name_from_relative_path(rel).as_deref(), Some(name));
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.len() < 1000, "refusal message is bounded: {} bytes", msg.len());
        }
    }
}

/// `tagged_name`: the input is a name, usually tagged (`m;t=v` or `m{t="v"}`). Invariants of carbon's
/// `TaggedSeries.parse`/`format`/`encode` as `metric::tags` reproduces them: `normalise` never panics; an accepted
/// name's normal form has its metric first
/// (no leading `~`), then `;tag=value` segments sorted as strings, each tag non-empty without `!` `^` `=` `;`
/// and not `name`, each value non-empty, not starting with `~`, without `;`, no tag twice; a name that
/// `metric::validate` accepts is a fixed point, and its `_tagged/` path is `_tagged/<h[0:3]>/<h[3:6]>/<h>.wsp`
/// (hashed) or a readable file name of at most 255 bytes without `/`; refusals are bounded messages.
pub fn tagged_name(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        assert!(metric::validate(data).is_err(), "non-UTF-8 is refused");
        return;
    };
    let _ = metric::tags::normalise(s);
    match metric::validate(data) {
        Ok(normal) => {
            let normal = normal.as_ref();
            assert!(
                matches!(metric::validate(normal.as_bytes()), Ok(std::borrow::Cow::Borrowed(n)) if n == normal),
                "an accepted name is its own normal form"
            );
            let mut segments = normal.split(';');
            let name = segments.next().expect("split yields one item");
            assert!(!name.is_empty() && !name.starts_with('~'), "normal name {name:?}");
            let mut previous: Option<(&str, &str)> = None;
            for seg in segments {
                let (tag, value) = seg.split_once('=').expect("a normal segment is tag=value");
                assert!(!tag.is_empty() && !tag.contains(['!', '^']) && tag != "name", "tag {tag:?}");
                assert!(!value.is_empty() && !value.starts_with('~'), "value {value:?}");
                if let Some((prev_seg, prev_tag)) = previous {
                    assert!(prev_seg < seg && prev_tag != tag, "segments sorted, no tag twice: {normal:?}");
                }
                previous = Some((seg, tag));
            }
            assert_eq!(metric::tags::normalise(normal).as_deref(), Ok(normal));
            if !metric::tags::is_tagged(normal) {
                return;
            }
            let h = metric::tags::hash_hex(normal);
            assert!(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            let hashed = metric::relative_path(normal);
            assert_eq!(hashed, Path::new(&format!("_tagged/{}/{}/{h}.wsp", &h[..3], &h[3..6])));
            let readable = metric::relative_path_as(normal, metric::TagFileNames::Readable);
            let parts: Vec<_> = readable.components().collect();
            assert_eq!(parts.len(), 4, "{readable:?}");
            let Component::Normal(file) = parts[3] else { panic!("non-normal file name in {readable:?}") };
            assert!(file.len() <= 255 && file != "." && file != "..");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.len() < 1000, "refusal message is bounded: {} bytes", msg.len());
        }
    }
}
