//! Metric names: which are acceptable, how they are normalised, and where their files live.
//!
//! Owns: the rules for metric names and the mapping name ↔ path under the data dir. This is the ONE place that
//! decides both; every input (AMQP, plaintext, pickle, CarbonLink, HTTP) calls [`validate`] and every file is
//! located through [`file_path`] / [`file_path_as`]. Graphite 1.1 tagged names (`cpu;dc=us;host=a`) are parsed
//! and normalised exactly as carbon does it, in the leaf [`tags`]. Never touches: the file system.
//!
//! # Why a valid name cannot escape the data dir
//! [`validate`] accepts only names without `/`, NUL, other control bytes or whitespace. A plain name (no `;` once
//! normalised) must also be made of non-empty `.`-separated components, and [`relative_path`] turns each into
//! exactly one path component: a non-empty string without `/` or NUL, i.e. a `Normal` component, and never `.`
//! or `..` because a component contains no `.` at all (the last one gets `.wsp` appended, which is never `.` or
//! `..` either). A tagged name maps to `_tagged/<3 hex>/<3 hex>/<file>.wsp` where `<file>` is 64 hex digits or
//! the name with every `.` replaced by `_DOT_` (so no `.` or `..`, no `/`, and at most 255 bytes, else the hash
//! is used). Both are relative, so joined to the data dir they stay under it. The property test
//! `valid_names_map_to_paths_under_the_data_dir` checks this over arbitrary byte strings.
//!
//! # Limits
//! A component is at most [`MAX_COMPONENT_LEN`] bytes so that `<component>.wsp` fits the usual 255-byte file-name
//! limit (`NAME_MAX` on Linux file systems). A whole name is at most [`MAX_NAME_LEN`] bytes: well under `PATH_MAX`
//! (4096) with room for the data dir, and far longer than any real metric name.

pub mod tags;

pub use tags::{TagFileNames, TagProblem};

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// Longest accepted name, in bytes (see the module docs for why).
pub const MAX_NAME_LEN: usize = 1024;

/// Longest accepted component, in bytes: 255 (the file-name limit) minus the 4 bytes of `.wsp`.
pub const MAX_COMPONENT_LEN: usize = 255 - FILE_SUFFIX.len();

/// The suffix of every whisper file.
const FILE_SUFFIX: &str = ".wsp";

/// How many bytes of a refused name an error keeps for display.
const SHOWN_LEN: usize = 100;

/// A refused name, as shown in an error: its first 100 bytes, escaped with [`u8::escape_ascii`], and a mark when
/// truncated. Stored inline so that refusing a name allocates nothing either (bad input can arrive at line rate).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShownName {
    bytes: [u8; SHOWN_LEN],
    len: u8,
    total_len: usize,
}

impl ShownName {
    fn new(name: &[u8]) -> Self {
        let len = name.len().min(SHOWN_LEN);
        let mut bytes = [0u8; SHOWN_LEN];
        bytes[..len].copy_from_slice(&name[..len]);
        ShownName {
            bytes,
            // Invariant: len <= SHOWN_LEN = 100 fits in a u8.
            len: len as u8,
            total_len: name.len(),
        }
    }

    /// Length in bytes of the whole refused name (not only the shown part).
    pub fn total_len(&self) -> usize {
        self.total_len
    }
}

impl fmt::Display for ShownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bytes[..usize::from(self.len)].escape_ascii())?;
        if self.total_len > usize::from(self.len) {
            write!(f, "... ({} bytes)", self.total_len)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ShownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Why a metric name was refused. Every message shows the (truncated, escaped) name; positions are byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("metric name '' refused: empty name")]
    Empty,
    /// Two dots in a row, or a leading or trailing dot (this also covers `.` and `..` components).
    #[error("metric name '{name}' refused: empty component at byte {at} (leading, trailing or doubled '.')")]
    EmptyComponent { name: ShownName, at: usize },
    /// A `/`, which would make a directory inside a component.
    #[error("metric name '{name}' refused: '/' at byte {at}")]
    Slash { name: ShownName, at: usize },
    /// NUL or another ASCII control byte (< 0x20 or 0x7f), including tab and newline.
    #[error("metric name '{name}' refused: control byte 0x{byte:02x} at byte {at}")]
    ControlByte { name: ShownName, byte: u8, at: usize },
    /// A space, or a non-ASCII whitespace or control character.
    #[error("metric name '{name}' refused: whitespace at byte {at}")]
    Whitespace { name: ShownName, at: usize },
    /// A tagged name (`name;tag=value` or `name{tag="value"}`) that carbon's `TaggedSeries.parse` refuses.
    #[error("metric name '{name}' refused: bad tagged name: {problem}")]
    Tags { name: ShownName, problem: TagProblem },
    /// Bytes that are not UTF-8.
    #[error("metric name '{name}' refused: not valid UTF-8 at byte {at}")]
    NotUtf8 { name: ShownName, at: usize },
    /// Longer than [`MAX_NAME_LEN`] bytes.
    #[error("metric name '{name}' refused: longer than {MAX_NAME_LEN} bytes")]
    TooLong { name: ShownName },
    /// A component longer than [`MAX_COMPONENT_LEN`] bytes.
    #[error("metric name '{name}' refused: component at byte {at} longer than {MAX_COMPONENT_LEN} bytes")]
    ComponentTooLong { name: ShownName, at: usize },
}

/// Check a metric name and return it normalised as carbon 1.1 stores it (borrowed when it already is).
///
/// Every name: non-empty, at most [`MAX_NAME_LEN`] bytes, UTF-8, without `/`, ASCII control bytes, spaces, or
/// non-ASCII whitespace/control characters. Then carbon's `TaggedSeries.parse(name).path` ([`tags::normalise`]):
/// tags sorted, the `name` tag set to the metric, leading `~` removed, the OpenMetrics form `m{t="v"}` rewritten
/// as `m;t=v`; what carbon cannot parse is refused ([`NameError::Tags`]). A normalised name without `;` is a
/// plain name and must also be made of `.`-separated non-empty components of at most [`MAX_COMPONENT_LEN`] bytes;
/// a tagged one is stored under `_tagged/` (see [`relative_path`]), where its dots make no directories.
/// Graphite's glob characters (`*?[]{}`) are accepted, as carbon accepts them.
///
/// Cost: one pass over the bytes for an ASCII plain name (UTF-8 is checked only when a byte ≥ 0x80 was seen); no
/// allocation unless normalising changes the name.
pub fn validate(name: &[u8]) -> Result<Cow<'_, str>, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let shown = || ShownName::new(name);
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { name: shown() });
    }
    let mut component_start = 0;
    let mut component_error = None;
    let mut non_ascii = false;
    let mut maybe_tagged = name[0] == b'~';
    for (at, &b) in name.iter().enumerate() {
        match b {
            b'.' => {
                if at == component_start && component_error.is_none() {
                    component_error = Some(NameError::EmptyComponent { name: shown(), at });
                }
                component_start = at + 1;
                continue;
            }
            b'/' => return Err(NameError::Slash { name: shown(), at }),
            b';' | b'{' => maybe_tagged = true,
            b' ' => return Err(NameError::Whitespace { name: shown(), at }),
            0..=0x1f | 0x7f => return Err(NameError::ControlByte { name: shown(), byte: b, at }),
            0x80.. => non_ascii = true,
            _ => {}
        }
        if at - component_start >= MAX_COMPONENT_LEN && component_error.is_none() {
            component_error = Some(NameError::ComponentTooLong { name: shown(), at: component_start });
        }
    }
    if component_start == name.len() && component_error.is_none() {
        component_error = Some(NameError::EmptyComponent { name: shown(), at: name.len() });
    }
    let s = if non_ascii {
        let s = std::str::from_utf8(name).map_err(|e| NameError::NotUtf8 { name: shown(), at: e.valid_up_to() })?;
        if let Some((at, _)) = s.char_indices().find(|&(_, c)| !c.is_ascii() && (c.is_whitespace() || c.is_control())) {
            return Err(NameError::Whitespace { name: shown(), at });
        }
        s
    } else {
        // Invariant: every byte is < 0x80 (checked above), and ASCII is UTF-8.
        std::str::from_utf8(name).expect("ASCII is UTF-8")
    };
    if !maybe_tagged {
        // No `;`, `{` or leading `~`: carbon's normalisation leaves the name as it is.
        return match component_error {
            Some(e) => Err(e),
            None => Ok(Cow::Borrowed(s)),
        };
    }
    let normal = tags::normalise(s).map_err(|problem| NameError::Tags { name: shown(), problem })?;
    if let Cow::Owned(n) = &normal {
        // carbon's normalisation is not always idempotent; only a fixed point can be looked up again by its name.
        if !matches!(tags::normalise(n), Ok(Cow::Borrowed(_))) {
            return Err(NameError::Tags { name: shown(), problem: TagProblem::Unstable });
        }
    }
    if tags::is_tagged(&normal) {
        return Ok(normal);
    }
    if matches!(normal, Cow::Borrowed(_)) {
        return match component_error {
            Some(e) => Err(e),
            None => Ok(normal),
        };
    }
    // Normalising made a plain name (`~a.b` → `a.b`, `a;name=x` → `a`): check its components.
    check_components(&normal).map_err(|problem| match problem {
        PartProblem::Empty(at) => NameError::EmptyComponent { name: shown(), at },
        PartProblem::TooLong(at) => NameError::ComponentTooLong { name: shown(), at },
    })?;
    Ok(normal)
}

/// Byte classes for [`plain_name_before_space`]: bytes that may appear anywhere in a plain ASCII name that
/// [`validate`] returns unchanged (printable ASCII except `/`, `;`, `{`, `.` and space), `.`, space, and the rest.
const PLAIN: u8 = 0;
const DOT: u8 = 1;
const SPACE: u8 = 2;
const OTHER: u8 = 3;
static NAME_CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0x21;
    while b < 0x7f {
        t[b] = PLAIN;
        b += 1;
    }
    t[b'/' as usize] = OTHER;
    t[b';' as usize] = OTHER;
    t[b'{' as usize] = OTHER;
    t[b'.' as usize] = DOT;
    t[b' ' as usize] = SPACE;
    t
};

/// The length `n` of the name at the start of `buf` when `buf[n]` is a space and [`validate`]`(&buf[..n])` is
/// certainly `Ok(Cow::Borrowed(_))`: a plain ASCII name (no tags, no leading `~`) with non-empty components of
/// at most [`MAX_COMPONENT_LEN`] bytes, at most [`MAX_NAME_LEN`] bytes in all. `None` means "not sure": the
/// caller must fall back on [`validate`]. The parser's fast path, one table lookup per byte.
#[inline]
pub fn plain_name_before_space(buf: &[u8]) -> Option<usize> {
    if buf.first() == Some(&b'~') {
        return None;
    }
    let mut component_start = 0;
    for (at, &b) in buf.iter().enumerate() {
        match NAME_CLASS[usize::from(b)] {
            PLAIN => {}
            DOT | SPACE => {
                let len = at - component_start;
                if len == 0 || len > MAX_COMPONENT_LEN || at > MAX_NAME_LEN {
                    return None;
                }
                if b == b' ' {
                    return Some(at);
                }
                component_start = at + 1;
            }
            _ => return None,
        }
    }
    None
}

/// A plain name's component problem, at a byte offset of the normalised name.
enum PartProblem {
    Empty(usize),
    TooLong(usize),
}

fn check_components(plain: &str) -> Result<(), PartProblem> {
    let mut at = 0;
    for part in plain.split('.') {
        if part.is_empty() {
            return Err(PartProblem::Empty(at));
        }
        if part.len() > MAX_COMPONENT_LEN {
            return Err(PartProblem::TooLong(at));
        }
        at += part.len() + 1;
    }
    Ok(())
}

/// The file of a metric relative to the data dir, with tagged files named as carbon's default
/// (`TAG_HASH_FILENAMES = True`): see [`relative_path_as`].
pub fn relative_path(valid_name: &str) -> PathBuf {
    relative_path_as(valid_name, TagFileNames::Hashed)
}

/// The file of a metric relative to the data dir: `a.b.c` → `a/b/c.wsp`; a tagged name →
/// `_tagged/<h[0:3]>/<h[3:6]>/<file>.wsp` (carbon's `TaggedSeries.encode`; `<file>` per `files`).
///
/// Precondition: `valid_name` is a name [`validate`] returned (checked in debug builds). For such a name the
/// result is relative and made only of `Normal` components (see the module docs).
pub fn relative_path_as(valid_name: &str, files: TagFileNames) -> PathBuf {
    debug_assert!(
        matches!(validate(valid_name.as_bytes()), Ok(n) if n == valid_name),
        "unvalidated metric name {valid_name:?}"
    );
    if tags::is_tagged(valid_name) {
        let mut s = tags::encode(valid_name, files, MAX_COMPONENT_LEN);
        s.push_str(FILE_SUFFIX);
        return PathBuf::from(s);
    }
    let mut s = String::with_capacity(valid_name.len() + FILE_SUFFIX.len());
    s.extend(valid_name.chars().map(|c| if c == '.' { '/' } else { c }));
    s.push_str(FILE_SUFFIX);
    PathBuf::from(s)
}

/// The file of a metric: `data_dir` joined with [`relative_path`]. Same precondition; the result is always under
/// `data_dir`.
pub fn file_path(data_dir: &Path, valid_name: &str) -> PathBuf {
    data_dir.join(relative_path(valid_name))
}

/// The file of a metric with tagged files named per `files`: `data_dir` joined with [`relative_path_as`].
pub fn file_path_as(data_dir: &Path, valid_name: &str, files: TagFileNames) -> PathBuf {
    data_dir.join(relative_path_as(valid_name, files))
}

/// Where a reader looks for a metric's file, in order: the hashed then the readable tagged file name (as
/// graphite-web's finder does); one path for a plain name.
pub fn file_paths(data_dir: &Path, valid_name: &str) -> Vec<PathBuf> {
    let mut paths = vec![file_path_as(data_dir, valid_name, TagFileNames::Hashed)];
    if tags::is_tagged(valid_name) {
        let readable = file_path_as(data_dir, valid_name, TagFileNames::Readable);
        if readable != paths[0] {
            paths.push(readable);
        }
    }
    paths
}

/// The plain metric whose file is `rel` (relative to the data dir): `a/b/c.wsp` → `a.b.c`; the exact inverse of
/// [`relative_path`] for plain names. (Tagged files cannot be named back: their names are hashed.)
///
/// `None` when `rel` is not the file of any valid plain name: not relative, a component that is not `Normal` or
/// not UTF-8, a directory name containing `.` (its file would belong to another name), no `.wsp` suffix, or a
/// name that [`validate`] refuses or changes.
pub fn name_from_relative_path(rel: &Path) -> Option<String> {
    let mut name = String::new();
    let mut components = rel.components().peekable();
    while let Some(component) = components.next() {
        let std::path::Component::Normal(part) = component else {
            return None;
        };
        let part = part.to_str()?;
        let part = if components.peek().is_none() { part.strip_suffix(FILE_SUFFIX)? } else { part };
        if part.contains('.') {
            return None;
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(part);
    }
    if validate(name.as_bytes()).ok()? != name.as_str() || tags::is_tagged(&name) {
        return None;
    }
    // `Path::components` hides `.` components and doubled `/`; only a byte-exact round trip is the inverse.
    (relative_path(&name).as_os_str() == rel.as_os_str()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Component;

    fn refused(name: &[u8]) -> NameError {
        validate(name).expect_err(&format!("{:?} should be refused", name.escape_ascii().to_string()))
    }

    #[test]
    fn ordinary_names_are_accepted_unchanged() {
        for name in ["a", "servers.web01.cpu.user", "carbon.agents.host-a.cache.size", "x.y_z.1-2.ü", "a.*.b"] {
            assert_eq!(validate(name.as_bytes()), Ok(Cow::Borrowed(name)));
        }
    }

    #[test]
    fn empty_names_and_components_are_refused() {
        assert_eq!(refused(b""), NameError::Empty);
        for name in [&b"."[..], b"..", b"a..b", b".a", b"a.", b"a.b.", b"a...b", b"a.b/../c"] {
            assert!(matches!(refused(name), NameError::EmptyComponent { .. } | NameError::Slash { .. }), "{name:?}");
        }
        assert!(matches!(refused(b"a..b"), NameError::EmptyComponent { at: 2, .. }));
        assert!(matches!(refused(b"a."), NameError::EmptyComponent { at: 2, .. }));
    }

    #[test]
    fn slashes_controls_and_whitespace_are_refused() {
        assert!(matches!(refused(b"a/b"), NameError::Slash { at: 1, .. }));
        assert!(matches!(refused(b"/etc.passwd"), NameError::Slash { at: 0, .. }));
        assert!(matches!(refused(b"a\0b"), NameError::ControlByte { byte: 0, .. }));
        assert!(matches!(refused(b"a\x7fb"), NameError::ControlByte { byte: 0x7f, .. }));
        assert!(matches!(refused(b"a\nb"), NameError::ControlByte { byte: b'\n', .. }));
        assert!(matches!(refused(b"a\tb"), NameError::ControlByte { byte: b'\t', .. }));
        assert!(matches!(refused(b"a b"), NameError::Whitespace { at: 1, .. }));
        assert!(matches!(refused("a\u{a0}b".as_bytes()), NameError::Whitespace { at: 1, .. }));
        assert!(matches!(refused("a\u{2028}b".as_bytes()), NameError::Whitespace { .. }));
        assert!(matches!(refused("a\u{85}b".as_bytes()), NameError::Whitespace { .. }));
    }

    #[test]
    fn non_utf8_names_are_refused() {
        assert!(matches!(refused(b"abc.\xff"), NameError::NotUtf8 { at: 4, .. }));
        assert!(matches!(refused(b"a\xc3"), NameError::NotUtf8 { at: 1, .. }));
    }

    #[test]
    fn tagged_names_are_normalised_as_carbon_does() {
        assert_eq!(validate(b"disk.used;dc=dc1").unwrap(), "disk.used;dc=dc1");
        assert_eq!(validate(b"disk.used;z=1;dc=dc1").unwrap(), "disk.used;dc=dc1;z=1");
        assert_eq!(validate(br#"disk.used{dc="dc1"}"#).unwrap(), "disk.used;dc=dc1");
        // Tagged names may have dots anywhere, even empty components: their file has no directories of its own.
        assert_eq!(validate(b"a..b;v=1.2.").unwrap(), "a..b;v=1.2.");
        // Normalised to a plain name: the plain rules apply to the result.
        assert_eq!(validate(b"~a.b").unwrap(), "a.b");
        assert_eq!(validate(b"a.b;name=zz").unwrap(), "a.b");
        assert!(matches!(refused(b"~a..b"), NameError::EmptyComponent { at: 2, .. }));
        assert!(matches!(refused(b"a..b;name=x"), NameError::EmptyComponent { at: 2, .. }));
    }

    #[test]
    fn bad_tagged_names_are_refused_with_a_clear_message() {
        let e = refused(b"disk.used;datacenter");
        assert!(matches!(e, NameError::Tags { problem: TagProblem::InvalidSegment, .. }));
        let msg = e.to_string();
        assert!(msg.contains("bad tagged name") && msg.contains("disk.used;datacenter"), "{msg}");
        assert!(matches!(refused(b"a;b=~x"), NameError::Tags { problem: TagProblem::TildeValue, .. }));
        // The safety rules come first, tags or not.
        assert!(matches!(refused(b"a;b=../../x/y"), NameError::Slash { .. }));
        assert!(matches!(refused(b"a;b=x y"), NameError::Whitespace { .. }));
        assert!(matches!(refused(b"a;b=x\x01"), NameError::ControlByte { .. }));
    }

    #[test]
    fn tagged_names_live_under_tagged_with_carbons_names() {
        let name = "some.metric;tag1=value2;tag2=value.2";
        let h = tags::hash_hex(name);
        let hashed = format!("_tagged/{}/{}/{h}.wsp", &h[..3], &h[3..6]);
        let readable = format!("_tagged/{}/{}/some_DOT_metric;tag1=value2;tag2=value_DOT_2.wsp", &h[..3], &h[3..6]);
        assert_eq!(relative_path(name), PathBuf::from(&hashed));
        assert_eq!(relative_path_as(name, TagFileNames::Readable), PathBuf::from(&readable));
        let dir = Path::new("/d");
        assert_eq!(file_paths(dir, name), vec![dir.join(&hashed), dir.join(&readable)]);
        assert_eq!(file_paths(dir, "a.b"), vec![dir.join("a/b.wsp")]);
        assert_eq!(name_from_relative_path(Path::new(&readable)), None);
    }

    #[test]
    fn length_limits_fit_the_file_system() {
        let ok = "c".repeat(MAX_COMPONENT_LEN);
        assert!(validate(ok.as_bytes()).is_ok());
        assert_eq!(relative_path(&ok).as_os_str().len(), 255);
        let long = "c".repeat(MAX_COMPONENT_LEN + 1);
        assert!(matches!(refused(long.as_bytes()), NameError::ComponentTooLong { at: 0, .. }));
        let name = format!("a.{long}.b");
        assert!(matches!(refused(name.as_bytes()), NameError::ComponentTooLong { at: 2, .. }));

        let parts = vec!["d".repeat(200); 6].join(".");
        let name = &parts[..MAX_NAME_LEN];
        assert!(validate(name.as_bytes()).is_ok());
        let too_long = format!("{parts}.x");
        assert!(matches!(refused(too_long.as_bytes()), NameError::TooLong { .. }));
    }

    #[test]
    fn errors_show_the_name_escaped_and_truncated() {
        let msg = refused(b"bad\x01name").to_string();
        assert!(msg.contains("bad\\x01name") && msg.contains("0x01"), "{msg}");
        let mut long = vec![b'a'; 500];
        long[400] = b'/';
        let msg = refused(&long).to_string();
        assert!(msg.contains(&"a".repeat(100)) && !msg.contains(&"a".repeat(101)), "{msg}");
        assert!(msg.contains("(500 bytes)"), "{msg}");
    }

    #[test]
    fn names_map_to_nested_wsp_files() {
        assert_eq!(relative_path("a.b.c"), PathBuf::from("a/b/c.wsp"));
        assert_eq!(relative_path("solo"), PathBuf::from("solo.wsp"));
        assert_eq!(
            file_path(Path::new("/var/lib/graphite/whisper"), "servers.web01.cpu"),
            PathBuf::from("/var/lib/graphite/whisper/servers/web01/cpu.wsp")
        );
    }

    #[test]
    fn paths_map_back_to_names_only_when_they_round_trip() {
        assert_eq!(name_from_relative_path(Path::new("a/b/c.wsp")).as_deref(), Some("a.b.c"));
        assert_eq!(name_from_relative_path(Path::new("solo.wsp")).as_deref(), Some("solo"));
        for bad in [
            "a/b/c",
            "a.b/c.wsp",
            "/a/b.wsp",
            "../a.wsp",
            "a/./b.wsp",
            "a/b.wsp.tmp",
            ".wsp",
            "a/.wsp",
            "",
            "a b.wsp",
            "a;t=1.wsp",
        ] {
            assert_eq!(name_from_relative_path(Path::new(bad)), None, "{bad}");
        }
    }

    /// Byte strings rich in the bytes that matter, so that valid and nearly-valid names are both common.
    fn name_bytes() -> impl Strategy<Value = Vec<u8>> {
        let interesting = prop_oneof![
            4 => proptest::sample::select(b"ab.-_Z9".to_vec()),
            1 => proptest::sample::select(b"/\0;\n \x7f\xff\xc3\xa9*".to_vec()),
            1 => proptest::sample::select(b";;==~{}\",:\\!^".to_vec()),
            1 => any::<u8>(),
        ];
        prop_oneof![
            proptest::collection::vec(interesting, 0..40),
            proptest::collection::vec(any::<u8>(), 0..300),
            valid_name().prop_map(String::into_bytes),
        ]
    }

    /// A name that validates: 1..6 components of 1..20 safe characters.
    fn valid_name() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-zA-Z0-9_*-]{1,20}", 1..6).prop_map(|parts| parts.join("."))
    }

    proptest! {
        #[test]
        fn valid_names_map_to_paths_under_the_data_dir(bytes in name_bytes()) {
            if let Ok(name) = validate(&bytes) {
                let name = name.as_ref();
                let data_dir = Path::new("/srv/whisper");
                for files in [TagFileNames::Hashed, TagFileNames::Readable] {
                    let path = file_path_as(data_dir, name, files);
                    prop_assert!(path.starts_with(data_dir));
                    let rest = path.strip_prefix(data_dir).unwrap();
                    for c in rest.components() {
                        let Component::Normal(part) = c else {
                            return Err(TestCaseError::fail(format!("non-normal component in {path:?}")));
                        };
                        prop_assert!(part.len() <= 255);
                        prop_assert!(part != "." && part != "..");
                    }
                }
                if tags::is_tagged(name) {
                    let rest = relative_path(name);
                    prop_assert_eq!(rest.components().count(), 4);
                    prop_assert!(rest.starts_with("_tagged"));
                    // A hashed file reads back as the plain name `_tagged.<h>.<h>.<hash>` (graphite-web lists it so
                    // too), never as the tagged name.
                    let back = name_from_relative_path(&rest);
                    prop_assert_ne!(back.as_deref(), Some(name));
                    return Ok(());
                }
                let path = file_path(data_dir, name);
                let rest = path.strip_prefix(data_dir).unwrap();
                prop_assert_eq!(rest.components().count(), name.split('.').count());
                for c in rest.components() {
                    let Component::Normal(part) = c else {
                        return Err(TestCaseError::fail(format!("non-normal component in {path:?}")));
                    };
                    prop_assert!(part.len() <= 255);
                    prop_assert!(part != "." && part != "..");
                }
                prop_assert_eq!(name_from_relative_path(rest), Some(name.to_string()));
            }
        }

        #[test]
        fn validate_never_panics_and_accepts_only_safe_bytes(bytes in name_bytes()) {
            if let Ok(name) = validate(&bytes) {
                prop_assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN);
                prop_assert!(!name.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'/' || b == b' '));
                prop_assert!(tags::normalise(&name) == Ok(Cow::Borrowed(name.as_ref())), "normalised is a fixed point");
                if !tags::is_tagged(&name) {
                    prop_assert!(name.split('.').all(|c| !c.is_empty() && c.len() <= MAX_COMPONENT_LEN));
                }
            }
        }

        #[test]
        fn every_forbidden_byte_is_refused_wherever_it_is(
            name in valid_name(),
            pos in any::<proptest::sample::Index>(),
            bad in proptest::sample::select(
                [b"/".to_vec(), b";".to_vec(), b" ".to_vec(), vec![0], vec![0x1f], vec![0x7f], b"\n".to_vec(),
                 vec![0xff], vec![0xc3], "\u{a0}".as_bytes().to_vec()].to_vec()),
        ) {
            let mut bytes = name.into_bytes();
            let at = pos.index(bytes.len() + 1);
            bytes.splice(at..at, bad.iter().copied());
            prop_assert!(validate(&bytes).is_err());
        }

        #[test]
        fn empty_components_are_refused_wherever_they_are(name in valid_name(), pos in any::<proptest::sample::Index>()) {
            prop_assert!(validate(name.as_bytes()).is_ok());
            let dots: Vec<usize> = std::iter::once(0)
                .chain(name.match_indices('.').map(|(i, _)| i))
                .chain(std::iter::once(name.len()))
                .collect();
            let at = dots[pos.index(dots.len())];
            let mut bytes = name.into_bytes();
            bytes.insert(at, b'.');
            prop_assert!(
                matches!(validate(&bytes), Err(NameError::EmptyComponent { .. })),
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}
