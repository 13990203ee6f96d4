//! Metric names: which are acceptable, and where their files live.
//!
//! Owns: the rules for metric names and the mapping name ↔ path under the data dir. This is the ONE place that
//! decides both; every input (AMQP, plaintext, pickle, CarbonLink) calls [`validate`] and every file is located
//! through [`file_path`]. Never touches: the file system.
//!
//! # Why a valid name cannot escape the data dir
//! [`validate`] accepts only names whose `.`-separated components are non-empty and contain no `/`, no NUL, and no
//! other control byte. [`relative_path`] turns each component into exactly one path component, so every path
//! component is a non-empty string without `/` or NUL, i.e. a `Normal` component, and it cannot be `.` or `..`
//! because a component contains no `.` at all (the last one gets `.wsp` appended, which is never `.` or `..`
//! either). The path is relative (it cannot start with `/`), so joined to the data dir it stays under it. The
//! property test `valid_names_map_to_paths_under_the_data_dir` checks this over arbitrary byte strings.
//!
//! # Limits
//! A component is at most [`MAX_COMPONENT_LEN`] bytes so that `<component>.wsp` fits the usual 255-byte file-name
//! limit (`NAME_MAX` on Linux file systems). A whole name is at most [`MAX_NAME_LEN`] bytes: well under `PATH_MAX`
//! (4096) with room for the data dir, and far longer than any real metric name.

use std::fmt;
use std::path::{Component, Path, PathBuf};

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
    /// A `;`: a tagged name (`name;tag=value`).
    #[error("metric name '{name}' refused: tagged metrics are not supported (';' at byte {at})")]
    Tagged { name: ShownName, at: usize },
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

/// Check a metric name and return it as `&str`.
///
/// Accepted: non-empty, at most [`MAX_NAME_LEN`] bytes, UTF-8, `.`-separated non-empty components of at most
/// [`MAX_COMPONENT_LEN`] bytes, without `/`, `;`, ASCII control bytes, spaces, or non-ASCII whitespace/control
/// characters. Anything else is refused with the first problem found. Graphite's glob characters (`*?[]{}`) are
/// accepted, as carbon accepts them.
///
/// Cost: one pass over the bytes for an ASCII name (UTF-8 is checked only when a byte ≥ 0x80 was seen); no
/// allocation, on success or failure.
pub fn validate(name: &[u8]) -> Result<&str, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let shown = || ShownName::new(name);
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { name: shown() });
    }
    let mut component_start = 0;
    let mut non_ascii = false;
    for (at, &b) in name.iter().enumerate() {
        match b {
            b'.' => {
                if at == component_start {
                    return Err(NameError::EmptyComponent { name: shown(), at });
                }
                component_start = at + 1;
                continue;
            }
            b'/' => return Err(NameError::Slash { name: shown(), at }),
            b';' => return Err(NameError::Tagged { name: shown(), at }),
            b' ' => return Err(NameError::Whitespace { name: shown(), at }),
            0..=0x1f | 0x7f => return Err(NameError::ControlByte { name: shown(), byte: b, at }),
            0x80.. => non_ascii = true,
            _ => {}
        }
        if at - component_start >= MAX_COMPONENT_LEN {
            return Err(NameError::ComponentTooLong { name: shown(), at: component_start });
        }
    }
    if component_start == name.len() {
        return Err(NameError::EmptyComponent { name: shown(), at: name.len() });
    }
    if !non_ascii {
        // Invariant: every byte is < 0x80 (checked above), and ASCII is UTF-8.
        return Ok(std::str::from_utf8(name).expect("ASCII is UTF-8"));
    }
    let s = std::str::from_utf8(name).map_err(|e| NameError::NotUtf8 { name: shown(), at: e.valid_up_to() })?;
    if let Some((at, _)) = s.char_indices().find(|&(_, c)| !c.is_ascii() && (c.is_whitespace() || c.is_control())) {
        return Err(NameError::Whitespace { name: shown(), at });
    }
    Ok(s)
}

/// The file of a metric relative to the data dir: `a.b.c` → `a/b/c.wsp`.
///
/// Precondition: `valid_name` passed [`validate`] (checked in debug builds). For such a name the result is relative
/// and made only of `Normal` components (see the module docs).
pub fn relative_path(valid_name: &str) -> PathBuf {
    debug_assert!(validate(valid_name.as_bytes()).is_ok(), "unvalidated metric name {valid_name:?}");
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

/// The metric whose file is `rel` (relative to the data dir): `a/b/c.wsp` → `a.b.c`; the exact inverse of
/// [`relative_path`].
///
/// `None` when `rel` is not the file of any valid name: not relative, a component that is not `Normal` or not
/// UTF-8, a directory name containing `.` (its file would belong to another name), no `.wsp` suffix, or a name
/// that [`validate`] refuses.
pub fn name_from_relative_path(rel: &Path) -> Option<String> {
    let mut name = String::new();
    let mut components = rel.components().peekable();
    while let Some(component) = components.next() {
        let Component::Normal(part) = component else {
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
    validate(name.as_bytes()).ok()?;
    // `Path::components` hides `.` components and doubled `/`; only a byte-exact round trip is the inverse.
    (relative_path(&name).as_os_str() == rel.as_os_str()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn refused(name: &[u8]) -> NameError {
        validate(name).expect_err(&format!("{:?} should be refused", name.escape_ascii().to_string()))
    }

    #[test]
    fn ordinary_names_are_accepted_unchanged() {
        for name in ["a", "servers.web01.cpu.user", "carbon.agents.host-a.cache.size", "x.y_z.1-2.ü", "a.*.b"] {
            assert_eq!(validate(name.as_bytes()), Ok(name));
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
    fn tagged_names_are_refused_with_a_clear_message() {
        let e = refused(b"disk.used;datacenter=dc1");
        assert!(matches!(e, NameError::Tagged { at: 9, .. }));
        let msg = e.to_string();
        assert!(msg.contains("tagged metrics are not supported"), "{msg}");
        assert!(msg.contains("disk.used;datacenter=dc1"), "{msg}");
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
                let data_dir = Path::new("/srv/whisper");
                let path = file_path(data_dir, name);
                prop_assert!(path.starts_with(data_dir));
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
                prop_assert!(!name.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'/' || b == b';' || b == b' '));
                prop_assert!(name.split('.').all(|c| !c.is_empty() && c.len() <= MAX_COMPONENT_LEN));
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
