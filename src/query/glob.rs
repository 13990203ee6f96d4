//! Graphite's glob, one path component at a time, as graphite-web's `match_entries` applies it: braces
//! `{x,y}` expand into variants first, then each variant is a Python `fnmatch` pattern (`*` any run, `?` one
//! character, `[a-z]` / `[!a-z]` a class; an unclosed `[` is a literal).
//!
//! Owns: matching one name against one component pattern. Never touches: the file system.

use thiserror::Error;

/// Most variants a component's braces may expand to; more is refused (graphite-web would expand them all).
pub const MAX_VARIANTS: usize = 1024;

/// Longest component pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GlobError {
    /// Braces that expand to more than [`MAX_VARIANTS`] alternatives.
    #[error("glob '{0}' expands to more than {MAX_VARIANTS} variants")]
    TooManyVariants(String),
    /// A component longer than [`MAX_PATTERN_LEN`] bytes.
    #[error("glob component of {0} bytes is longer than {MAX_PATTERN_LEN}")]
    TooLong(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyOne,
    AnyRun,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

/// A compiled component pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    variants: Vec<Vec<Token>>,
    literal: Option<String>,
}

/// True if `s` uses any glob syntax (`*`, `?`, `[`, `{`); graphite-web then lists the directory instead of
/// testing one name.
pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

impl Pattern {
    /// Compile one component (no `.`-splitting here). Errors: [`GlobError`].
    pub fn new(component: &str) -> Result<Pattern, GlobError> {
        if component.len() > MAX_PATTERN_LEN {
            return Err(GlobError::TooLong(component.len()));
        }
        let literal = (!has_wildcard(component)).then(|| component.to_string());
        let mut variants = Vec::new();
        expand_braces(component, &mut variants)?;
        variants.dedup();
        Ok(Pattern { variants: variants.iter().map(|v| tokenize(v)).collect(), literal })
    }

    /// The component itself when it has no glob syntax (matches only that exact name).
    pub fn literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }

    /// Whether `name` matches (case-sensitive, whole name).
    pub fn matches(&self, name: &str) -> bool {
        let chars: Vec<char> = name.chars().collect();
        self.variants.iter().any(|v| match_tokens(v, &chars))
    }
}

/// graphite-web's `expand_braces`: the first `{...}` group (innermost-closing, i.e. the first `}` and the last
/// `{` before it) is replaced by each of its comma-separated alternatives, recursively. An unmatched brace is a
/// literal.
fn expand_braces(s: &str, out: &mut Vec<String>) -> Result<(), GlobError> {
    let Some(close) = s.find('}') else {
        push_variant(s.to_string(), out, s)?;
        return Ok(());
    };
    let Some(open) = s[..close].rfind('{') else {
        push_variant(s.to_string(), out, s)?;
        return Ok(());
    };
    let (head, body, tail) = (&s[..open], &s[open + 1..close], &s[close + 1..]);
    for alt in body.split(',') {
        let next = format!("{head}{alt}{tail}");
        if next.contains('{') && next.contains('}') {
            expand_braces(&next, out)?;
        } else {
            push_variant(next, out, s)?;
        }
        if out.len() > MAX_VARIANTS {
            return Err(GlobError::TooManyVariants(s.to_string()));
        }
    }
    Ok(())
}

fn push_variant(v: String, out: &mut Vec<String>, whole: &str) -> Result<(), GlobError> {
    if out.len() >= MAX_VARIANTS {
        return Err(GlobError::TooManyVariants(whole.to_string()));
    }
    out.push(v);
    Ok(())
}

/// Python's `fnmatch.translate`, as tokens.
fn tokenize(p: &str) -> Vec<Token> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                if out.last() != Some(&Token::AnyRun) {
                    out.push(Token::AnyRun);
                }
            }
            '?' => out.push(Token::AnyOne),
            '[' => {
                // The class ends at the first ']' after an optional '!' and one more character.
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push(Token::Char('['));
                    continue;
                }
                let mut body = &chars[i..j];
                let negated = body.first() == Some(&'!');
                if negated {
                    body = &body[1..];
                }
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < body.len() {
                    if k + 2 < body.len() && body[k + 1] == '-' {
                        ranges.push((body[k], body[k + 2]));
                        k += 3;
                    } else {
                        ranges.push((body[k], body[k]));
                        k += 1;
                    }
                }
                out.push(Token::Class { negated, ranges });
                i = j + 1;
            }
            c => out.push(Token::Char(c)),
        }
    }
    out
}

/// Wildcard matching with one backtrack point (the last `*`): O(len(tokens) × len(name)).
fn match_tokens(tokens: &[Token], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if t < tokens.len() {
            match &tokens[t] {
                Token::AnyRun => {
                    star = Some((t, n));
                    t += 1;
                    continue;
                }
                tok if single(tok, name[n]) => {
                    t += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((st, sn)) => {
                t = st + 1;
                n = sn + 1;
                star = Some((st, sn + 1));
            }
            None => return false,
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::AnyRun)
}

fn single(tok: &Token, c: char) -> bool {
    match tok {
        Token::Char(x) => *x == c,
        Token::AnyOne => true,
        Token::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        Token::AnyRun => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new(p).unwrap().matches(s)
    }

    #[test]
    fn star_question_and_classes_match_like_fnmatch() {
        assert!(m("*", "cpu0") && m("*", ""));
        assert!(m("cpu*", "cpu") && m("cpu*", "cpu12") && !m("cpu*", "xcpu"));
        assert!(m("c?u", "cpu") && !m("c?u", "cu"));
        assert!(m("cpu[0-3]", "cpu2") && !m("cpu[0-3]", "cpu4"));
        assert!(m("cpu[!0-3]", "cpu4") && !m("cpu[!0-3]", "cpu1"));
        assert!(m("[]]", "]") && m("[!]]", "a"));
        assert!(m("a*b*c", "aXbYbZc") && !m("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn an_unclosed_bracket_is_a_literal() {
        assert!(m("a[b", "a[b") && !m("a[b", "ab"));
    }

    #[test]
    fn braces_expand_to_alternatives_including_nested_and_empty_ones() {
        assert!(m("{cpu,mem}", "cpu") && m("{cpu,mem}", "mem") && !m("{cpu,mem}", "disk"));
        assert!(m("x{a,{b,c}}y", "xcy") && m("x{a,{b,c}}y", "xay"));
        assert!(m("a{,b}", "a") && m("a{,b}", "ab"));
        assert!(m("{a,b}*", "bzz"));
        assert!(m("a}b", "a}b") && m("a{b", "a{b"));
    }

    #[test]
    fn literal_patterns_are_reported_as_such() {
        assert_eq!(Pattern::new("cpu").unwrap().literal(), Some("cpu"));
        assert_eq!(Pattern::new("cp*").unwrap().literal(), None);
    }

    #[test]
    fn brace_bombs_are_refused() {
        let p = "{a,b}".repeat(11);
        assert!(matches!(Pattern::new(&p), Err(GlobError::TooManyVariants(_))));
        assert!(matches!(Pattern::new(&"a".repeat(MAX_PATTERN_LEN + 1)), Err(GlobError::TooLong(_))));
    }

    /// A naive recursive matcher: the definition the fast one must agree with.
    fn reference(tokens: &[Token], name: &[char]) -> bool {
        match tokens.split_first() {
            None => name.is_empty(),
            Some((Token::AnyRun, rest)) => (0..=name.len()).any(|k| reference(rest, &name[k..])),
            Some((tok, rest)) => !name.is_empty() && single(tok, name[0]) && reference(rest, &name[1..]),
        }
    }

    proptest! {
        #[test]
        fn fast_matching_agrees_with_the_recursive_definition(p in "[ab*?\\[\\]!-]{0,8}", s in "[ab\\-\\]]{0,8}") {
            let pat = Pattern::new(&p).unwrap();
            let chars: Vec<char> = s.chars().collect();
            let want = pat.variants.iter().any(|v| reference(v, &chars));
            prop_assert_eq!(pat.matches(&s), want);
        }

        #[test]
        fn a_name_without_glob_characters_matches_itself_only(s in "[a-z0-9_]{1,12}", t in "[a-z0-9_]{1,12}") {
            prop_assert!(m(&s, &s));
            prop_assert_eq!(m(&s, &t), s == t);
        }

        #[test]
        fn braces_match_the_union_of_their_alternatives(a in "[a-c*]{0,4}", b in "[a-c?]{0,4}", s in "[a-c]{0,5}") {
            let both = m(&format!("{{{a},{b}}}"), &s);
            prop_assert_eq!(both, m(&a, &s) || m(&b, &s));
        }
    }
}
