//! Graphite's glob, one path component at a time, as graphite-web's `match_entries` applies it: braces
//! `{x,y}` expand into variants first, then each variant is a Python `fnmatch` pattern (`*` any run, `?` one
//! character, `[a-z]` / `[!a-z]` a class; an unclosed `[` is a literal).
//!
//! Owns: matching one name against one component pattern. Never touches: the file system.

use thiserror::Error;

mod compile;
use compile::{count_variants, parse_braces, Chosen, Compiler};

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

/// One fnmatch item of a variant; a class is an index into [`Pattern::classes`] (so a token is 8 bytes, and a
/// class repeated in every variant is stored once), or, when it spans brace groups (`[{a,b}x]`, made anew for
/// each variant), into [`Pattern::spans`]: its text, read when matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyOne,
    AnyRun,
    Class(u32),
    Spanning(u32),
}

/// A `[...]` class: its ranges are `Pattern::ranges[start..end]` (a single character `c` is `(c, c)`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    negated: bool,
    start: u32,
    end: u32,
}

/// One brace-free variant: `tokens[start..end]`, the fewest characters it matches (its tokens other than `*`)
/// and how many tokens follow its last `*` (`None`: no `*`, it matches exactly `min_len` characters).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Variant {
    start: usize,
    end: usize,
    min_len: usize,
    after_last_star: Option<usize>,
}

/// A compiled component pattern: its variants, their tokens one after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
    variants: Vec<Variant>,
    classes: Vec<Class>,
    ranges: Vec<(char, char)>,
    /// Byte ranges of `span_text`: each spanning class's text between the brackets.
    spans: Vec<(u32, u32)>,
    span_text: String,
    literal: Option<String>,
}

/// True if `s` uses any glob syntax (`*`, `?`, `[`, `{`); graphite-web then lists the directory instead of
/// testing one name.
pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

impl Pattern {
    /// Compile one component (no `.`-splitting here). Errors: [`GlobError`].
    ///
    /// Cost: a brace bomb is refused from the brace tree's count, before any variant is made; otherwise linear
    /// in the component and the variants' total length (at most [`MAX_VARIANTS`] × [`MAX_PATTERN_LEN`] tokens of
    /// 8 bytes), the text they share tokenized once.
    pub fn new(component: &str) -> Result<Pattern, GlobError> {
        if component.len() > MAX_PATTERN_LEN {
            return Err(GlobError::TooLong(component.len()));
        }
        let literal = (!has_wildcard(component)).then(|| component.to_string());
        let mut pieces = parse_braces(component);
        if count_variants(&pieces) > MAX_VARIANTS {
            return Err(GlobError::TooManyVariants(component.to_string()));
        }
        let mut compiler = Compiler::default();
        compiler.tokenize_pieces(&mut pieces);
        compiler.expand(&mut vec![&pieces[..]], &mut Chosen::default());
        let Compiler { tokens, variants, classes, ranges, spans, span_text, .. } = compiler;
        Ok(Pattern { tokens, variants, classes, ranges, spans, span_text, literal })
    }

    /// The component itself when it has no glob syntax (matches only that exact name).
    pub fn literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }

    /// Whether `name` matches (case-sensitive, whole name).
    pub fn matches(&self, name: &str) -> bool {
        let chars: Vec<char> = name.chars().collect();
        self.variants.iter().any(|v| self.match_variant(v, &chars))
    }

    /// One variant: the tokens after its last `*` match the name's end (they have a fixed length), the rest by
    /// one-star backtracking: O(len(tokens) × len(name)) at worst (stars with text between them), O(len(tokens))
    /// when the length or the end differs.
    fn match_variant(&self, v: &Variant, name: &[char]) -> bool {
        let tokens = &self.tokens[v.start..v.end];
        let Some(after) = v.after_last_star else {
            return name.len() == v.min_len && tokens.iter().zip(name).all(|(t, &c)| self.single(t, c));
        };
        if name.len() < v.min_len {
            return false;
        }
        let (head, tail) = tokens.split_at(tokens.len() - after);
        let (name_head, name_tail) = name.split_at(name.len() - after);
        // From the end: names that differ usually differ there (`.count` / `.mean`, `cpu0` / `cpu1`).
        tail.iter().rev().zip(name_tail.iter().rev()).all(|(t, &c)| self.single(t, c))
            && self.match_tokens(head, name_head)
    }

    /// Wildcard matching with one backtrack point (the last `*`): O(len(tokens) × len(name)).
    fn match_tokens(&self, tokens: &[Token], name: &[char]) -> bool {
        let (mut t, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            if t < tokens.len() {
                match tokens[t] {
                    Token::AnyRun => {
                        star = Some((t, n));
                        t += 1;
                        continue;
                    }
                    tok if self.single(&tok, name[n]) => {
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

    #[inline]
    fn single(&self, tok: &Token, c: char) -> bool {
        match *tok {
            Token::Char(x) => x == c,
            Token::AnyOne => true,
            Token::Class(i) => {
                let class = &self.classes[i as usize];
                let ranges = &self.ranges[class.start as usize..class.end as usize];
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != class.negated
            }
            Token::Spanning(i) => self.in_spanning(i, c),
            Token::AnyRun => false,
        }
    }

    #[inline(never)]
    fn in_spanning(&self, i: u32, c: char) -> bool {
        let (start, end) = self.spans[i as usize];
        let (negated, mut ranges) = class_ranges(&self.span_text[start as usize..end as usize]);
        ranges.any(|(lo, hi)| lo <= c && c <= hi) != negated
    }
}

/// A class's text between the brackets: whether a first `!` negates it, and its ranges (`x-y`; any other
/// character `c` is `(c, c)`).
fn class_ranges(body: &str) -> (bool, ClassRanges<'_>) {
    let negated = body.starts_with('!');
    (negated, ClassRanges(&body[usize::from(negated)..]))
}

struct ClassRanges<'a>(&'a str);

impl Iterator for ClassRanges<'_> {
    type Item = (char, char);

    fn next(&mut self) -> Option<(char, char)> {
        let lo = self.0.chars().next()?;
        let rest = &self.0[lo.len_utf8()..];
        let mut after = rest.chars();
        match (after.next(), after.next()) {
            (Some('-'), Some(hi)) => {
                self.0 = &rest[1 + hi.len_utf8()..];
                Some((lo, hi))
            }
            _ => {
                self.0 = rest;
                Some((lo, lo))
            }
        }
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
    fn reference(tokens: &[Shown], name: &[char]) -> bool {
        let single = |t: &Shown, c: char| match t {
            Shown::Char(x) => *x == c,
            Shown::AnyOne => true,
            Shown::Class(negated, ranges) => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
            Shown::AnyRun => false,
        };
        match tokens.split_first() {
            None => name.is_empty(),
            Some((Shown::AnyRun, rest)) => (0..=name.len()).any(|k| reference(rest, &name[k..])),
            Some((tok, rest)) => !name.is_empty() && single(tok, name[0]) && reference(rest, &name[1..]),
        }
    }

    /// Python's `fnmatch.translate` of one brace-free variant, character by character (warren's tokenizer until
    /// the brace tree).
    fn translate(p: &str) -> Vec<Shown> {
        let chars: Vec<char> = p.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if out.last() == Some(&Shown::AnyRun) => {}
                '*' => out.push(Shown::AnyRun),
                '?' => out.push(Shown::AnyOne),
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
                        out.push(Shown::Char('['));
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
                    out.push(Shown::Class(negated, ranges));
                    i = j + 1;
                }
                c => out.push(Shown::Char(c)),
            }
        }
        out
    }

    /// graphite-web's `expand_braces` as string rewriting (warren's implementation until the brace tree): the
    /// first `}` and the last `{` before it, each alternative put in, recursively.
    fn expand_by_rewriting(s: &str, out: &mut Vec<String>) {
        let close = s.find('}');
        match close.and_then(|c| s[..c].rfind('{')) {
            Some(o) => {
                let c = close.unwrap();
                for alt in s[o + 1..c].split(',') {
                    expand_by_rewriting(&format!("{}{alt}{}", &s[..o], &s[c + 1..]), out);
                }
            }
            None => out.push(s.to_string()),
        }
    }

    /// The brace tree's variants, distinct and sorted, and the count it gives for the rewriting.
    fn expand_by_tree(s: &str) -> (Vec<Vec<Shown>>, usize) {
        let pat = Pattern::new(s).unwrap();
        let variants = pat.variants.iter().map(|v| shown(&pat, &pat.tokens[v.start..v.end])).collect();
        (sorted(variants), count_variants(&parse_braces(s)))
    }

    /// The rewriting's variants, each translated whole, distinct and sorted, and how many it gave.
    fn rewriting(s: &str) -> (Vec<Vec<Shown>>, usize) {
        let mut out = Vec::new();
        expand_by_rewriting(s, &mut out);
        (sorted(out.iter().map(|v| translate(v)).collect()), out.len())
    }

    /// A token with its class written out; `**` is `*`.
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    enum Shown {
        Char(char),
        AnyOne,
        AnyRun,
        Class(bool, Vec<(char, char)>),
    }

    fn shown(pat: &Pattern, tokens: &[Token]) -> Vec<Shown> {
        let mut out: Vec<Shown> = Vec::new();
        for t in tokens {
            let s = match *t {
                Token::Char(c) => Shown::Char(c),
                Token::AnyOne => Shown::AnyOne,
                Token::AnyRun if out.last() == Some(&Shown::AnyRun) => continue,
                Token::AnyRun => Shown::AnyRun,
                Token::Class(i) => {
                    let class = &pat.classes[i as usize];
                    Shown::Class(class.negated, pat.ranges[class.start as usize..class.end as usize].to_vec())
                }
                Token::Spanning(i) => {
                    let (start, end) = pat.spans[i as usize];
                    let (negated, ranges) = class_ranges(&pat.span_text[start as usize..end as usize]);
                    Shown::Class(negated, ranges.collect())
                }
            };
            out.push(s);
        }
        out
    }

    fn sorted(mut v: Vec<Vec<Shown>>) -> Vec<Vec<Shown>> {
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn the_brace_tree_gives_the_rewriting_variants_on_tricky_braces() {
        for p in [
            "{a,{b,c}d}",
            "{a,b}}{c,d}",
            "}{a,b}",
            "{a{b,c}",
            "{a,{b,c}",
            "{,}",
            "{}",
            "x{}{}y",
            "{{a,b},c}{",
            "[{a,]}b",
            "{[,x}]",
            "[!{a,]}]",
            "{a,[}x]{y,]}",
            "[{!,]]}a]",
            "[[{a,b}]",
            "{[,[!}{],]]}",
            "{a,[}*{b,]}?",
        ] {
            assert_eq!(expand_by_tree(p), rewriting(p), "{p:?}");
        }
    }

    #[test]
    fn a_token_is_eight_bytes_so_the_largest_pattern_takes_8_mib() {
        // 1024 variants of up to 1024 characters; a token with its class inline was 32 bytes (32 MiB).
        assert_eq!(std::mem::size_of::<Token>(), 8);
        let p = "{a,b}".repeat(10) + &"[xy]".repeat(242);
        let pat = Pattern::new(&p).unwrap();
        assert_eq!((pat.variants.len(), pat.tokens.len(), pat.classes.len()), (1024, 1024 * 252, 1));
    }

    #[test]
    fn a_chain_of_groups_behind_a_brace_bomb_compiles_to_its_variants() {
        // Rewriting the string copied all of it once per group per variant: 1024 × 485 copies of ≈ 500 bytes
        // (143 ms in a release build before the brace tree, 0.09 ms after: a measurement, not asserted here).
        let p = "{a,b}".repeat(10) + &"{}".repeat(485);
        let pat = Pattern::new(&p).unwrap();
        assert_eq!((pat.variants.len(), pat.tokens.len()), (1024, 1024 * 10));
        assert!(pat.matches("abababbbbb") && !pat.matches("ab"));
    }

    #[test]
    fn unclosed_brackets_in_every_variant_are_literals() {
        // Each '[' without a ']' scanned the rest of its variant for one: 970² / 2 steps per variant, 1024
        // variants (172 ms in a release build before, 0.33 ms after: measured, not asserted here).
        let p = "{a,b}".repeat(10) + &"[".repeat(970);
        let pat = Pattern::new(&p).unwrap();
        assert!(pat.matches(&("ab".repeat(5) + &"[".repeat(970))) && !pat.matches("[]"));
    }

    #[test]
    fn a_star_variant_whose_end_differs_fails_without_backtracking() {
        // One-star backtracking tried every start of "a…ab" in the name: ≈ 50,000 steps per variant, 1024
        // variants (25 ms per name in a release build, for each entry of a directory; 3.5 µs now: measured, not
        // asserted here — speed claims live in benchmarks).
        let pat = Pattern::new(&("{a,?}".repeat(10) + "*" + &"a".repeat(200) + "b")).unwrap();
        assert!(!pat.matches(&"a".repeat(255)));
        assert!(pat.matches(&("a".repeat(254) + "b")));
    }

    proptest! {
        #[test]
        fn fast_matching_agrees_with_the_recursive_definition(p in "[ab*?\\[\\]!-]{0,8}", s in "[ab\\-\\]]{0,8}") {
            let pat = Pattern::new(&p).unwrap();
            let chars: Vec<char> = s.chars().collect();
            let want = pat.variants.iter().any(|v| reference(&shown(&pat, &pat.tokens[v.start..v.end]), &chars));
            prop_assert_eq!(pat.matches(&s), want);
        }

        #[test]
        fn matching_with_braces_agrees_with_each_rewritten_variant_tokenized_whole(
            p in "[ab*?{},\\[\\]!]{0,16}", s in "[ab\\]!]{0,8}"
        ) {
            let pat = Pattern::new(&p).unwrap();
            let chars: Vec<char> = s.chars().collect();
            let mut variants = Vec::new();
            expand_by_rewriting(&p, &mut variants);
            let want = variants.iter().any(|v| reference(&translate(v), &chars));
            prop_assert_eq!(pat.matches(&s), want);
        }

        #[test]
        fn the_brace_tree_gives_the_rewriting_variants(p in "[ab{},!*\\[\\]]{0,20}") {
            prop_assert_eq!(expand_by_tree(&p), rewriting(&p));
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
