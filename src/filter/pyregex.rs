//! Python `re` patterns and `re.sub` replacements, as carbon's filter files are written, run on the `regex` crate.
//!
//! carbon compiles every line of whitelist.conf, blacklist.conf and rewrite-rules.conf with Python's `re`. The
//! `regex` crate agrees with it on the common syntax (literals, `.`, classes, `* + ? {m,n}` and their lazy forms,
//! alternation, groups, `(?:…)`, `(?P<name>…)`, `^ $ \A \b \B \d \w \s`, leading `(?i)`/`(?m)`/`(?s)` and scoped
//! `(?i:…)`) and matches leftmost-first like Python's backtracking engine. Where the two would *silently* differ,
//! [`check`] refuses the pattern at load with the reason, instead of letting a rule do something else than it did
//! under carbon:
//!
//! - escapes other than `\\ \. \d \D \w \W \s \S \b \B \A \n \t \r \f \v \a \xHH` and escaped ASCII punctuation
//!   (`\<` and `\>` are word boundaries for `regex`, literals for Python; `\z \Z \p \u \1 \0 \g …`);
//! - inside `[…]`: an unescaped `[` (nested and POSIX classes for `regex`, literal for Python), `&&`, `--`, `~~`
//!   (set operations for `regex`), `\b` (backspace for Python);
//! - `(?x)` (`regex` ignores whitespace inside classes too), `(?U)`, `(?R)`, `(?<name>…)`, inline flags anywhere
//!   but at the very start (Python refuses them; `regex` scopes them), `{,n}`.
//!
//! - a pattern that can match the empty string *and* prefers a shorter match somewhere (a lazy quantifier, or an
//!   alternative before the last that can be empty): after an empty match Python's `re.sub` backtracks for a
//!   longer match at the same place, which a leftmost-first automaton cannot ask for.
//!
//! What `regex` cannot do at all — lookaround `(?=…)`, backreferences, atomic groups, possessive quantifiers,
//! conditionals — fails its compile, also at load. Remaining known difference: `\w`, `\d`, `\s` and `\b` are
//! Unicode-aware in both, but their tables differ on some non-ASCII characters (Python counts `²` as `\w`).
//!
//! [`PyRegex::sub`] is Python 3.7+'s `re.sub(pattern, repl, name)`: every match replaced, an empty match allowed
//! right after a non-empty one, never two empty matches at the same place, unmatched groups expand to `""`.
//! The replacement template follows `re`'s rules (`\1`–`\99`, `\g<n>`, `\g<name>`, octal `\0`/`\ooo`, `\n \t …`,
//! other escapes of non-letters kept as written); a reference to a group the pattern does not have, or an unknown
//! letter escape, is refused at load (Python raises on every use).
//!
//! Owns: pattern checking and Python-compatible substitution. Never touches: files, threads.

use regex::{Captures, Regex};
use std::borrow::Cow;

/// A pattern or replacement that is refused, with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(pub String);

/// Refuse constructs on which Python's `re` and the `regex` crate would silently disagree (see the module docs).
pub fn check(pattern: &str) -> Result<(), PatternError> {
    let b = pattern.as_bytes();
    let refuse = |at: usize, what: &str| Err(PatternError(format!("at byte {at}: {what}")));
    let mut i = 0;
    let mut in_class = false;
    // Position of the first byte inside the current class (a `]` there is a literal).
    let mut class_start = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            let Some(&n) = b.get(i + 1) else { return refuse(i, "trailing backslash") };
            let ok = match n {
                b'd' | b'D' | b'w' | b'W' | b's' | b'S' | b'n' | b't' | b'r' | b'f' | b'v' | b'a' => true,
                b'b' => !in_class,
                b'B' | b'A' => !in_class,
                b'x' => {
                    b.get(i + 2).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 3).is_some_and(u8::is_ascii_hexdigit)
                }
                b'<' | b'>' => false,
                n if n.is_ascii_punctuation() || n == b' ' => true,
                _ => false,
            };
            if !ok {
                let esc = String::from_utf8_lossy(&b[i..(i + 2).min(b.len())]).into_owned();
                return refuse(i, &format!("escape '{esc}' means something else (or nothing) in Python's re"));
            }
            i += if n == b'x' { 4 } else { 2 };
            continue;
        }
        if in_class {
            match c {
                b']' if i > class_start => in_class = false,
                b'[' => {
                    return refuse(
                        i,
                        "'[' inside a class (nested or POSIX class in Rust, a literal in Python): write '\\['",
                    )
                }
                b'&' | b'-' | b'~' if b.get(i + 1) == Some(&c) => {
                    return refuse(i, "'&&', '--' or '~~' inside a class (a set operation in Rust): escape it")
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'[' => {
                in_class = true;
                i += 1;
                if b.get(i) == Some(&b'^') {
                    i += 1;
                }
                class_start = i;
                continue;
            }
            b'(' if b.get(i + 1) == Some(&b'?') => {
                let rest = &b[i + 2..];
                if rest.starts_with(b":") || rest.starts_with(b"P<") {
                    // ordinary groups
                } else if rest.first().is_some_and(u8::is_ascii_alphabetic) || rest.first() == Some(&b'-') {
                    let flags_end = rest.iter().position(|&x| x == b')' || x == b':').unwrap_or(rest.len());
                    let flags = &rest[..flags_end];
                    if flags.iter().any(|f| !matches!(f, b'i' | b'm' | b's' | b'-')) {
                        return refuse(i, "inline flags other than i, m, s");
                    }
                    let global = rest.get(flags_end) == Some(&b')');
                    if global && (i != 0 || flags.contains(&b'-')) {
                        return refuse(
                            i,
                            "inline flags are only allowed at the very start (Python refuses them elsewhere)",
                        );
                    }
                } else if rest.starts_with(b"<") && !rest.starts_with(b"<=") && !rest.starts_with(b"<!") {
                    return refuse(i, "'(?<name>' is not Python syntax: write '(?P<name>'");
                }
                // Anything else ((?=, (?!, (?<=, (?#, (?P=, (?( …) the regex crate refuses when compiling.
            }
            b'{' if b.get(i + 1) == Some(&b',') => {
                return refuse(i, "'{,n}' (Python: 0 to n; Rust: refused or literal)")
            }
            _ => {}
        }
        i += 1;
    }
    if in_class {
        return refuse(b.len(), "unterminated character class");
    }
    Ok(())
}

/// Compile `pattern` as Python would have it, refusing the constructs listed in the module docs.
pub fn compile(pattern: &str) -> Result<Regex, PatternError> {
    check(pattern)?;
    let regex = Regex::new(pattern).map_err(|e| PatternError(format!("not supported by the regex crate: {e}")))?;
    let hir = regex_syntax::Parser::new()
        .parse(pattern)
        .map_err(|e| PatternError(format!("not supported by the regex crate: {e}")))?;
    if hir.properties().minimum_len() == Some(0) && prefers_empty(&hir) {
        return Err(PatternError(
            "can match the empty string and prefers a shorter match (a lazy quantifier, or an alternative before the \
             last that can be empty): Python's re.sub then retries for a longer match where Rust cannot"
                .into(),
        ));
    }
    Ok(regex)
}

/// True when `h` holds a lazy repetition or an alternation whose non-last branch can match empty: the shapes
/// where a backtracking engine asked not to repeat an empty match finds a longer one at the same place.
fn prefers_empty(h: &regex_syntax::hir::Hir) -> bool {
    use regex_syntax::hir::HirKind;
    match h.kind() {
        HirKind::Repetition(r) => !r.greedy || prefers_empty(&r.sub),
        HirKind::Capture(c) => prefers_empty(&c.sub),
        HirKind::Concat(hs) => hs.iter().any(prefers_empty),
        HirKind::Alternation(hs) => {
            hs[..hs.len() - 1].iter().any(|b| b.properties().minimum_len() == Some(0)) || hs.iter().any(prefers_empty)
        }
        _ => false,
    }
}

/// One piece of an expanded replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

/// A compiled pattern with its parsed Python replacement template.
#[derive(Debug, Clone)]
pub struct PyRegex {
    regex: Regex,
    template: Vec<Piece>,
}

impl PyRegex {
    /// Compile `pattern` and parse `replacement` as `re.sub` would.
    pub fn new(pattern: &str, replacement: &str) -> Result<PyRegex, PatternError> {
        let regex = compile(pattern)?;
        let template = parse_template(replacement, &regex)?;
        Ok(PyRegex { regex, template })
    }

    /// The compiled pattern.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Python's `re.sub(pattern, replacement, text)`; borrowed when nothing matched.
    pub fn sub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.regex.is_match(text) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut copied = 0;
        let mut pos = 0;
        let mut prev_empty_at: Option<usize> = None;
        while pos <= text.len() {
            let Some(mut caps) = self.regex.captures_at(text, pos) else { break };
            let mut m = caps.get(0).map_or(0..0, |m| m.range());
            if m.is_empty() && prev_empty_at == Some(m.start) {
                // Python never reports two empty matches at one position: look again one character later.
                let Some(next) = text[m.start..].chars().next().map(|c| m.start + c.len_utf8()) else { break };
                match self.regex.captures_at(text, next) {
                    Some(c) => caps = c,
                    None => break,
                }
                m = caps.get(0).map_or(0..0, |m| m.range());
            }
            out.push_str(&text[copied..m.start]);
            self.expand(&caps, &mut out);
            copied = m.end;
            prev_empty_at = m.is_empty().then_some(m.end);
            pos = m.end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    fn expand(&self, caps: &Captures<'_>, out: &mut String) {
        for p in &self.template {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Group(g) => out.push_str(caps.get(*g).map_or("", |m| m.as_str())),
            }
        }
    }
}

/// Parse a Python `re.sub` replacement string against `regex`'s groups.
fn parse_template(repl: &str, regex: &Regex) -> Result<Vec<Piece>, PatternError> {
    let groups = regex.captures_len(); // including group 0
    let mut pieces = Vec::new();
    let mut text = String::new();
    let push_group = |text: &mut String, pieces: &mut Vec<Piece>, g: usize| -> Result<(), PatternError> {
        if g >= groups {
            return Err(PatternError(format!("replacement refers to group {g}, the pattern has {}", groups - 1)));
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(text)));
        }
        pieces.push(Piece::Group(g));
        Ok(())
    };
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            text.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = chars.get(i + 1) else {
            return Err(PatternError("replacement ends with a backslash".into()));
        };
        let octal = |c: Option<&char>| c.is_some_and(|c| ('0'..='7').contains(c));
        match n {
            'g' => {
                let rest: String = chars[i + 2..].iter().collect();
                let Some(inner) = rest.strip_prefix('<').and_then(|r| r.split_once('>')).map(|(a, _)| a.to_string())
                else {
                    return Err(PatternError("replacement: '\\g' without '<name>'".into()));
                };
                let g = if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                    inner.parse::<usize>().map_err(|e| PatternError(format!("replacement group '{inner}': {e}")))?
                } else {
                    regex
                        .capture_names()
                        .position(|n| n == Some(inner.as_str()))
                        .ok_or_else(|| PatternError(format!("replacement refers to unknown group name '{inner}'")))?
                };
                push_group(&mut text, &mut pieces, g)?;
                i += 2 + inner.chars().count() + 2;
            }
            '0' => {
                // \0 and up to two more octal digits: a character.
                let mut j = i + 2;
                let mut v = 0u32;
                while j < i + 4 && octal(chars.get(j)) {
                    v = v * 8 + chars[j].to_digit(8).unwrap_or(0);
                    j += 1;
                }
                text.push(char::from_u32(v).unwrap_or('\0'));
                i = j;
            }
            '1'..='9' => {
                // Three octal digits make a character; otherwise one or two digits name a group.
                if octal(Some(&n)) && octal(chars.get(i + 2)) && octal(chars.get(i + 3)) {
                    let v = (n.to_digit(8).unwrap_or(0) * 64)
                        + chars[i + 2].to_digit(8).unwrap_or(0) * 8
                        + chars[i + 3].to_digit(8).unwrap_or(0);
                    if v > 0o377 {
                        return Err(PatternError(format!("replacement: octal escape above \\377 at {i}")));
                    }
                    text.push(char::from_u32(v).unwrap_or('\0'));
                    i += 4;
                } else {
                    let mut g = n.to_digit(10).unwrap_or(0) as usize;
                    i += 2;
                    if let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
                        g = g * 10 + d as usize;
                        i += 1;
                    }
                    push_group(&mut text, &mut pieces, g)?;
                }
            }
            'a' => (text.push('\x07'), i += 2).1,
            'b' => (text.push('\x08'), i += 2).1,
            'f' => (text.push('\x0c'), i += 2).1,
            'n' => (text.push('\n'), i += 2).1,
            'r' => (text.push('\r'), i += 2).1,
            't' => (text.push('\t'), i += 2).1,
            'v' => (text.push('\x0b'), i += 2).1,
            '\\' => (text.push('\\'), i += 2).1,
            n if n.is_ascii_alphabetic() => {
                return Err(PatternError(format!("replacement: bad escape '\\{n}' (Python refuses it)")));
            }
            n => {
                // Python keeps unknown escapes of non-letters as written, backslash included.
                text.push('\\');
                text.push(n);
                i += 2;
            }
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(p: &str, r: &str, t: &str) -> String {
        PyRegex::new(p, r).unwrap().sub(t).into_owned()
    }

    #[test]
    fn empty_matches_follow_python_3_7() {
        // Python 3.11: re.sub('x*', '-', 'abxd') == '-a-b--d-'
        assert_eq!(sub("x*", "-", "abxd"), "-a-b--d-");
        assert_eq!(sub("", "-", "ab"), "-a-b-");
        assert_eq!(sub("^", "p.", "a.b"), "p.a.b");
        assert_eq!(sub("$", ".s", "a.b"), "a.b.s");
    }

    #[test]
    fn templates_follow_python() {
        assert_eq!(sub(r"^(\w+)\.(\w+)", r"\2.\1", "a.b.c"), "b.a.c");
        assert_eq!(sub(r"(?P<h>[a-z]+)(\d+)", r"\g<h>_\g<2>\g<0>", "web01"), "web_01web01");
        assert_eq!(sub(r"(a)|(b)", r"[\2]", "ab"), "[][b]");
        assert_eq!(sub(r"a", r"\.\-", "a"), r"\.\-");
        assert_eq!(sub(r"a", r"\101", "a"), "A");
        assert!(PyRegex::new("(a)", r"\2").is_err());
        assert!(PyRegex::new("(a)", r"\q").is_err());
        assert!(PyRegex::new("(a)", r"\g<nope>").is_err());
    }

    #[test]
    fn silently_different_constructs_are_refused() {
        for p in [
            r"a\<",
            r"[[:alpha:]]",
            r"[a&&b]",
            r"[a--b]",
            r"(?x)a b",
            r"a(?i)b",
            r"(?<n>a)",
            r"\pL",
            r"\z",
            r"a{,2}",
            r"[\b]",
        ] {
            assert!(compile(p).is_err(), "{p} should be refused");
        }
        for p in [r"^-??(\.)*?", r"(?:|a)", r"x*?"] {
            assert!(compile(p).unwrap_err().0.contains("empty"), "{p} should be refused");
        }
        for p in [r"(?=a)", r"(a)\1", r"(?>a)"] {
            assert!(compile(p).is_err(), "{p} cannot compile");
        }
        for p in [r"^servers\.(\w+)\.cpu$", r"(?i)^web", r"[]a-z.]+", r"[^.]+\.[\w-]+", r"a{2,3}?", r"\x41\-"] {
            assert!(compile(p).is_ok(), "{p} should compile");
        }
    }
}
