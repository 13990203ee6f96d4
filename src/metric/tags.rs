//! Graphite 1.1 tagged series names (`cpu.usage;dc=us-east;host=web01`): carbon's `TaggedSeries.parse`,
//! `format` and `encode` (carbon/util.py, 1.1.x), reproduced byte for byte.
//!
//! Owns: the carbon rules for tagged names (which are refused, how one is normalised, and the `_tagged/` file
//! name). Knows nothing of warren's own safety rules (control bytes, `/`, lengths): [`super::validate`] applies
//! those first and calls [`normalise`]. Never touches: the file system.
//!
//! # What carbon does, and so what this does
//! - **Carbon form** `metric;tag=value;...`: split on `;`; the metric (first segment) must be non-empty; each
//!   later segment must contain `=` with a non-empty tag before it; a tag must not contain `!` or `^`; a value must
//!   be non-empty and must not start with `~`.
//! - **OpenMetrics form** `metric{tag="value",...}` (chosen when the name ends with `"}` and contains `{`): exactly
//!   one `{`; segments match carbon's regex `([^=]+)="((?:[\\]["\\]|[^"\\])+)"(:?,|$)` — note carbon's typo
//!   `(:?,|$)`: a segment ends with `,`, `:,` or the end. Values are unescaped as carbon does it (every `\"` → `"`,
//!   then every `\\` → `\`). Here a tag must not contain `;`, `!` or `^` and a value must not contain `;`.
//! - The `name` tag is always the metric with leading `~` removed (refused when that leaves nothing), replacing
//!   any `name` tag given; a repeated tag keeps its last value.
//! - **Format**: the name, then `;tag=value` for every other tag, sorted as strings (so `;a.b=2` sorts before
//!   `;a=1`: `.` < `=`). A name without tags normalises to itself minus leading `~`.
//! - **Encode**: a normalised name containing `;` lives at `_tagged/<h[0:3]>/<h[3:6]>/<file>` where `h` is the
//!   hex sha256 of the name and `<file>` is `h` itself ([`TagFileNames::Hashed`], carbon's default
//!   `TAG_HASH_FILENAMES = True`) or the name with every `.` replaced by `_DOT_` ([`TagFileNames::Readable`]).
//!
//! Where carbon parses a name it cannot parse, it logs the error and stores the raw name anyway; warren refuses
//! it (counted and logged like every refused name) instead.

use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;

/// Why carbon's `TaggedSeries.parse` refuses a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagProblem {
    /// Nothing before the first `;` or `{`.
    NoMetric,
    /// A `;` segment without `=`, or with nothing before its `=`.
    InvalidSegment,
    /// An OpenMetrics `{...}` part that carbon's regex does not match (or more than one `{`).
    InvalidOpenMetrics,
    /// A tag containing `;`, `!` or `^`.
    ProhibitedTagChar(u8),
    /// A tag with an empty value.
    EmptyValue,
    /// A value containing `;` (only possible in the OpenMetrics form).
    SemicolonInValue,
    /// A value starting with `~`.
    TildeValue,
    /// The metric is only `~` characters, so the `name` tag would be empty.
    EmptyName,
    /// carbon accepts it, but its normal form is not a name carbon would keep as it is (an OpenMetrics metric
    /// such as `~;x={a="1"}` becomes `;x;a=1`, which carbon cannot parse): warren refuses it.
    Unstable,
}

impl fmt::Display for TagProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagProblem::NoMetric => write!(f, "no metric before the tags"),
            TagProblem::InvalidSegment => write!(f, "a tag segment is not 'tag=value'"),
            TagProblem::InvalidOpenMetrics => write!(f, "not a valid 'metric{{tag=\"value\",...}}' form"),
            TagProblem::ProhibitedTagChar(c) => write!(f, "character '{}' is not allowed in a tag", *c as char),
            TagProblem::EmptyValue => write!(f, "a tag has an empty value"),
            TagProblem::SemicolonInValue => write!(f, "character ';' is not allowed in a tag value"),
            TagProblem::TildeValue => write!(f, "tag values may not start with '~'"),
            TagProblem::EmptyName => write!(f, "the metric is only '~' characters"),
            TagProblem::Unstable => write!(f, "its normal form is not a name carbon keeps as it is"),
        }
    }
}

/// carbon's `TAG_HASH_FILENAMES`: how a tagged series' file is named under `_tagged/xxx/yyy/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagFileNames {
    /// The hex sha256 of the name (carbon's default): fixed length, not reversible.
    #[default]
    Hashed,
    /// The name with `.` replaced by `_DOT_`. When that would exceed 255 bytes with `.wsp`, the hashed name is used
    /// instead (graphite-web looks for both), so no name is refused for its file name.
    Readable,
}

impl TagFileNames {
    /// carbon.conf's `TAG_HASH_FILENAMES` value.
    pub fn from_hash_filenames(hash: bool) -> Self {
        if hash {
            TagFileNames::Hashed
        } else {
            TagFileNames::Readable
        }
    }
}

/// carbon's `TaggedSeries.parse(name).path`: the normalised name, borrowed when `name` already is normalised
/// (no allocation), or why carbon refuses it.
pub fn normalise(name: &str) -> Result<Cow<'_, str>, TagProblem> {
    let b = name.as_bytes();
    if b.ends_with(b"\"}") && b.contains(&b'{') {
        return parse_openmetrics(name).map(Cow::Owned);
    }
    if is_canonical_carbon(name)? {
        return Ok(Cow::Borrowed(name));
    }
    let mut segments = name.split(';');
    // Invariant: split yields at least one item.
    let metric = segments.next().unwrap_or_default();
    let mut tags: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    for segment in segments {
        let (tag, value) = carbon_segment(segment)?;
        tags.push((Cow::Borrowed(tag), Cow::Borrowed(value)));
    }
    format(metric, tags).map(Cow::Owned)
}

/// Whether `name` is a tagged name once normalised (it contains `;`).
pub fn is_tagged(normalised: &str) -> bool {
    normalised.contains(';')
}

/// The carbon-form checks of one `tag=value` segment (`validateTagAndValue`).
fn carbon_segment(segment: &str) -> Result<(&str, &str), TagProblem> {
    let Some((tag, value)) = segment.split_once('=') else { return Err(TagProblem::InvalidSegment) };
    if tag.is_empty() {
        return Err(TagProblem::InvalidSegment);
    }
    check_tag_and_value(tag, value)?;
    Ok((tag, value))
}

/// carbon's `validateTagAndValue`.
fn check_tag_and_value(tag: &str, value: &str) -> Result<(), TagProblem> {
    if value.is_empty() {
        return Err(TagProblem::EmptyValue);
    }
    if let Some(c) = tag.bytes().find(|c| matches!(c, b';' | b'!' | b'^' | b'=')) {
        return Err(TagProblem::ProhibitedTagChar(c));
    }
    if value.contains(';') {
        return Err(TagProblem::SemicolonInValue);
    }
    if value.starts_with('~') {
        return Err(TagProblem::TildeValue);
    }
    Ok(())
}

/// Whether a carbon-form name is already exactly its normalised form: no leading `~`, no `name` tag, segments in
/// strictly increasing order and no tag repeated (a repeat would be adjacent once sorted). Errors as carbon's.
fn is_canonical_carbon(name: &str) -> Result<bool, TagProblem> {
    let mut segments = name.split(';');
    let metric = segments.next().unwrap_or_default();
    if metric.is_empty() {
        return Err(TagProblem::NoMetric);
    }
    let mut canonical = !metric.starts_with('~');
    let mut previous: Option<(&str, &str)> = None;
    for segment in segments {
        let (tag, _) = carbon_segment(segment)?;
        if tag == "name" {
            canonical = false;
        }
        if let Some((prev_segment, prev_tag)) = previous {
            if prev_segment >= segment || prev_tag == tag {
                canonical = false;
            }
        }
        previous = Some((segment, tag));
    }
    Ok(canonical)
}

/// carbon's `sanitize_name_as_tag_value` then `format`: `tags` in arrival order (a later repeat wins).
fn format(metric: &str, tags: Vec<(Cow<'_, str>, Cow<'_, str>)>) -> Result<String, TagProblem> {
    if metric.is_empty() {
        return Err(TagProblem::NoMetric);
    }
    let name = metric.trim_start_matches('~');
    if name.is_empty() {
        return Err(TagProblem::EmptyName);
    }
    // A dict in carbon: the last value of a repeated tag wins; `name` is replaced by the metric.
    let mut last: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(tags.len());
    for (tag, value) in tags {
        if tag == "name" {
            continue;
        }
        match last.iter_mut().find(|(t, _)| *t == tag) {
            Some(slot) => slot.1 = value,
            None => last.push((tag, value)),
        }
    }
    let mut formatted: Vec<String> = last.iter().map(|(t, v)| format!(";{t}={v}")).collect();
    formatted.sort_unstable();
    let mut out = String::with_capacity(name.len() + formatted.iter().map(String::len).sum::<usize>());
    out.push_str(name);
    for f in &formatted {
        out.push_str(f);
    }
    Ok(out)
}

/// carbon's `parse_openmetrics`. Precondition: `name` ends with `"}` and contains `{`.
fn parse_openmetrics(name: &str) -> Result<String, TagProblem> {
    let inner = &name[..name.len() - 1];
    let Some((metric, mut raw)) = inner.split_once('{') else { return Err(TagProblem::InvalidOpenMetrics) };
    if raw.contains('{') {
        // Python's `(metric, rawtags) = path.split('{', 2)` cannot unpack three parts.
        return Err(TagProblem::InvalidOpenMetrics);
    }
    if metric.is_empty() {
        return Err(TagProblem::NoMetric);
    }
    let mut tags = Vec::new();
    while !raw.is_empty() {
        let (tag, value, used) = openmetrics_segment(raw).ok_or(TagProblem::InvalidOpenMetrics)?;
        let value = value.replace("\\\"", "\"").replace("\\\\", "\\");
        check_tag_and_value(tag, &value)?;
        tags.push((Cow::Borrowed(tag), Cow::Owned(value)));
        raw = &raw[used..];
    }
    format(metric, tags)
}

/// One match of carbon's `([^=]+)="((?:[\\]["\\]|[^"\\])+)"(:?,|$)` at the start of `raw`: (tag, raw value,
/// bytes matched). The regex has exactly one way to match (see the module docs), found here without backtracking.
fn openmetrics_segment(raw: &str) -> Option<(&str, &str, usize)> {
    let b = raw.as_bytes();
    let eq = b.iter().position(|&c| c == b'=')?;
    if eq == 0 || b.get(eq + 1) != Some(&b'"') {
        return None;
    }
    let start = eq + 2;
    let mut i = start;
    loop {
        match b.get(i) {
            Some(b'\\') if matches!(b.get(i + 1), Some(b'"' | b'\\')) => i += 2,
            Some(b'\\') | Some(b'"') | None => break,
            Some(_) => i += 1,
        }
    }
    if i == start || b.get(i) != Some(&b'"') {
        return None;
    }
    let end = i + 1;
    let used = match &b[end..] {
        [] => end,
        [b',', ..] => end + 1,
        [b':', b',', ..] => end + 2,
        // `$` also matches before a final newline, but `raw` always ends with `"`, so never here.
        _ => return None,
    };
    // `i` and `eq` sit on ASCII bytes, so these are char boundaries.
    Some((&raw[..eq], &raw[start..i], used))
}

/// The hex sha256 of a normalised tagged name (what carbon's directories and hashed file names use).
pub fn hash_hex(normalised: &str) -> String {
    let digest = Sha256::digest(normalised.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// carbon's `TaggedSeries.encode(name, sep='/', hash_only)` for a normalised tagged name, without the `.wsp`:
/// `_tagged/<h[0:3]>/<h[3:6]>/<file>`. Readable file names longer than `max_file_len` fall back to the hash.
pub fn encode(normalised: &str, files: TagFileNames, max_file_len: usize) -> String {
    let h = hash_hex(normalised);
    let readable = match files {
        TagFileNames::Readable => {
            let r = normalised.replace('.', "_DOT_");
            (r.len() <= max_file_len).then_some(r)
        }
        TagFileNames::Hashed => None,
    };
    let file = readable.as_deref().unwrap_or(&h);
    format!("_tagged/{}/{}/{}", &h[0..3], &h[3..6], file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, TagProblem> {
        normalise(s).map(Cow::into_owned)
    }

    #[test]
    fn tags_are_sorted_as_formatted_strings_and_the_name_tag_is_the_metric() {
        assert_eq!(norm("cpu;host=web01;dc=us").unwrap(), "cpu;dc=us;host=web01");
        assert_eq!(norm("cpu;a=1;a.b=2").unwrap(), "cpu;a.b=2;a=1");
        assert_eq!(norm("cpu;a=1;a=2").unwrap(), "cpu;a=2");
        assert_eq!(norm("cpu;name=other;x=1").unwrap(), "cpu;x=1");
        assert_eq!(norm("cpu;name=other").unwrap(), "cpu");
        assert_eq!(norm("~~cpu;x=1").unwrap(), "cpu;x=1");
        assert_eq!(norm("~a.b").unwrap(), "a.b");
        assert_eq!(norm("cpu;x=a=b!^").unwrap(), "cpu;x=a=b!^");
    }

    #[test]
    fn canonical_names_are_borrowed() {
        for s in ["a.b.c", "cpu;dc=us;host=web01", "x;a.b=2;a=1"] {
            assert!(matches!(normalise(s), Ok(Cow::Borrowed(b)) if b == s), "{s}");
        }
        for s in ["cpu;b=1;a=1", "cpu;a=1;a=1", "~x;a=1", "x;name=x"] {
            assert!(matches!(normalise(s), Ok(Cow::Owned(_))), "{s}");
        }
    }

    #[test]
    fn carbon_refusals() {
        assert_eq!(norm(";a=1"), Err(TagProblem::NoMetric));
        assert_eq!(norm("a;"), Err(TagProblem::InvalidSegment));
        assert_eq!(norm("a;b"), Err(TagProblem::InvalidSegment));
        assert_eq!(norm("a;=b"), Err(TagProblem::InvalidSegment));
        assert_eq!(norm("a;b="), Err(TagProblem::EmptyValue));
        assert_eq!(norm("a;b!=1"), Err(TagProblem::ProhibitedTagChar(b'!')));
        assert_eq!(norm("a;b^=1"), Err(TagProblem::ProhibitedTagChar(b'^')));
        assert_eq!(norm("a;b=~1"), Err(TagProblem::TildeValue));
        assert_eq!(norm("~~;b=1"), Err(TagProblem::EmptyName));
        assert_eq!(norm("~~"), Err(TagProblem::EmptyName));
    }

    #[test]
    fn openmetrics_form_as_carbon_reads_it() {
        assert_eq!(norm(r#"cpu{host="web01",dc="us"}"#).unwrap(), "cpu;dc=us;host=web01");
        assert_eq!(norm(r#"cpu{host="web01":,dc="us"}"#).unwrap(), "cpu;dc=us;host=web01");
        assert_eq!(norm(r#"cpu{a="x\"y\\z"}"#).unwrap(), r#"cpu;a=x"y\z"#);
        // Sequential replaces, not an unescaper: `\\\"` → `\\"` → `\"`.
        assert_eq!(norm(r#"cpu{a="\\\""}"#).unwrap(), r#"cpu;a=\""#);
        assert_eq!(norm(r#"{a="1"}"#), Err(TagProblem::NoMetric));
        assert_eq!(norm(r#"c{{a="1"}"#), Err(TagProblem::InvalidOpenMetrics));
        assert_eq!(norm(r#"c{a="1";b="2"}"#), Err(TagProblem::InvalidOpenMetrics));
        assert_eq!(norm(r#"c{a=""}"#), Err(TagProblem::InvalidOpenMetrics));
        assert_eq!(norm(r#"c{a;b="1"}"#), Err(TagProblem::ProhibitedTagChar(b';')));
        assert_eq!(norm(r#"c{a="1;2"}"#), Err(TagProblem::SemicolonInValue));
        assert_eq!(norm(r#"c;x=1{a="1"}"#).unwrap(), "c;x=1;a=1");
    }

    #[test]
    fn encode_matches_carbons_layout() {
        let name = "some.metric;tag1=value2;tag2=value.2";
        let h = hash_hex(name);
        assert_eq!(h.len(), 64);
        assert_eq!(encode(name, TagFileNames::Hashed, 251), format!("_tagged/{}/{}/{h}", &h[..3], &h[3..6]));
        assert_eq!(
            encode(name, TagFileNames::Readable, 251),
            format!("_tagged/{}/{}/some_DOT_metric;tag1=value2;tag2=value_DOT_2", &h[..3], &h[3..6])
        );
        let long = format!("m;t={}", "v.".repeat(100));
        assert!(encode(&long, TagFileNames::Readable, 251).ends_with(&hash_hex(&long)));
        // From Python: hashlib.sha256(b'a;b=c').hexdigest()
        assert_eq!(hash_hex("a;b=c"), "81e2f530462430f177b8713d2a3507d3b0cd2df5ec039aef399b7c3242a56dc3");
    }
}
