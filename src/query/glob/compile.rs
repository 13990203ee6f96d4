//! Compiling one component for [`super::Pattern`]: its braces as a tree ([`parse_braces`]), then every variant's
//! tokens made while walking the tree ([`Compiler::expand`]), so that text shared by variants is tokenized once.
//!
//! Owns: brace expansion and fnmatch tokenizing. Never touches: matching.

use super::{class_ranges, Class, Token, Variant};
use std::collections::HashMap;

/// A component's braces, parsed. graphite-web's `expand_braces` rewrites the string: the first `}` and the last
/// `{` before it enclose a group, replaced by each of its comma-separated alternatives, recursively; with no `{`
/// before the first `}` it stops (the rest is literal, later braces included); an unmatched `{` is a literal.
/// The alternatives it puts in never hold a brace or a comma, so that rewriting is bracket matching: a `}`
/// closes the innermost open `{`, commas split only the innermost open group, and the variants (in another
/// order) are those of this tree. Texts are never empty and never adjacent; a group has two or more
/// alternatives (a one-alternative group, like `{x}`, is its content).
pub(super) enum Piece {
    Text(Box<Text>),
    Group(Vec<Vec<Piece>>),
}

/// Literal text of the brace tree, and how it tokenizes ([`Compiler::tokenize_pieces`]).
#[derive(Default)]
pub(super) struct Text {
    text: String,
    /// From its start, no `[` waiting.
    whole: Tokenized,
    /// Every `[` a literal (after a `[` whose `]` never comes).
    literal: Seg,
    /// After its first `]` (its offset), when that `]` closes a `[` of the text before.
    after_close: Option<(usize, Tokenized)>,
}

fn push_text(seq: &mut Vec<Piece>, t: &str) {
    if t.is_empty() {
        return;
    }
    match seq.last_mut() {
        Some(Piece::Text(last)) => last.text.push_str(t),
        _ => seq.push(Piece::Text(Box::new(Text { text: t.to_string(), ..Text::default() }))),
    }
}

fn push_pieces(seq: &mut Vec<Piece>, pieces: Vec<Piece>) {
    for p in pieces {
        match p {
            Piece::Text(t) => push_text(seq, &t.text),
            group => seq.push(group),
        }
    }
}

pub(super) fn parse_braces(s: &str) -> Vec<Piece> {
    struct Open {
        alts: Vec<Vec<Piece>>,
        cur: Vec<Piece>,
    }
    let mut top = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut text = 0;
    for (i, b) in s.bytes().enumerate() {
        if !matches!(b, b'{' | b',' | b'}') || (b == b',' && open.is_empty()) {
            continue;
        }
        if b == b'}' && open.is_empty() {
            // No `{` before this `}`: expansion stops; all that follows is literal.
            push_text(&mut top, &s[text..]);
            return top;
        }
        push_text(open.last_mut().map_or(&mut top, |o| &mut o.cur), &s[text..i]);
        text = i + 1;
        match b {
            b'{' => open.push(Open { alts: Vec::new(), cur: Vec::new() }),
            b',' => {
                let o = open.last_mut().expect("checked above");
                o.alts.push(std::mem::take(&mut o.cur));
            }
            _ => {
                let Open { mut alts, cur } = open.pop().expect("checked above");
                alts.push(cur);
                let parent = open.last_mut().map_or(&mut top, |o| &mut o.cur);
                if alts.len() == 1 {
                    push_pieces(parent, alts.pop().expect("one"));
                } else {
                    parent.push(Piece::Group(alts));
                }
            }
        }
    }
    let cur = open.last_mut().map_or(&mut top, |o| &mut o.cur);
    push_text(cur, &s[text..]);
    // Unclosed `{`s are literals, and so are the commas of their groups (inner closed groups still expand).
    while let Some(Open { alts, cur }) = open.pop() {
        let parent = open.last_mut().map_or(&mut top, |o| &mut o.cur);
        push_text(parent, "{");
        for alt in alts {
            push_pieces(parent, alt);
            push_text(parent, ",");
        }
        push_pieces(parent, cur);
    }
    top
}

/// How many variants graphite-web's rewriting gives, duplicates included, saturating: it puts in an inner
/// group's alternatives before splitting the outer group, so each of them repeats all the outer group's
/// alternatives (`{a,{b,c}d}` gives `a`, `bd`, `a`, `cd`). This is what [`super::MAX_VARIANTS`] bounds.
pub(super) fn count_variants(seq: &[Piece]) -> usize {
    seq.iter().fold(1, |n, p| match p {
        Piece::Text(_) => n,
        Piece::Group(alts) => {
            alts.iter().fold(n.saturating_mul(alts.len()), |n, alt| n.saturating_mul(count_variants(alt)))
        }
    })
}

/// Tokens, how many are not `*`, and the index of the last `*`.
#[derive(Debug, Default, Clone)]
struct Seg {
    tokens: Vec<Token>,
    non_star: usize,
    last_star: Option<usize>,
}

type Mark = (usize, usize, Option<usize>);

impl Seg {
    fn push(&mut self, t: Token) {
        if t == Token::AnyRun {
            self.last_star = Some(self.tokens.len());
        } else {
            self.non_star += 1;
        }
        self.tokens.push(t);
    }

    fn extend(&mut self, other: &Seg) {
        if let Some(k) = other.last_star {
            self.last_star = Some(self.tokens.len() + k);
        }
        self.tokens.extend_from_slice(&other.tokens);
        self.non_star += other.non_star;
    }

    fn mark(&self) -> Mark {
        (self.tokens.len(), self.non_star, self.last_star)
    }

    fn reset(&mut self, (len, non_star, last_star): Mark) {
        self.tokens.truncate(len);
        (self.non_star, self.last_star) = (non_star, last_star);
    }
}

/// Text tokenized from a point where no `[` waits for its `]`: `done`, up to its first `[` without a `]` after
/// it in the text (`open`, its byte offset), and what follows that `[` with every `[` a literal (see
/// [`class_end`]), for when no `]` comes.
#[derive(Debug, Default)]
struct Tokenized {
    done: Seg,
    open: Option<usize>,
    after_open: Seg,
}

/// The byte offset of the `]` closing the class opened by the `[` at `text[open]` (fnmatch: the first `]` after
/// an optional `!` and an optional first `]`, which belongs to the class), if it is in `text`; none is before
/// `from`.
///
/// When a `[` has no `]`, no later `[` has one either (its search starts no earlier, as `!` and `]` are not
/// `[`): so a `[` is scanned for once, and after a `[` that stays open every `[` is a literal.
fn class_end(text: &str, open: usize, from: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = open + 1;
    if b.get(j) == Some(&b'!') {
        j += 1;
    }
    if b.get(j) == Some(&b']') {
        j += 1;
    }
    let j = j.max(from);
    Some(j + memchr::memchr(b']', b.get(j..)?)?)
}

/// The variant [`Compiler::expand`] is building: its text so far and the tokens of that text (`done`), up to a
/// `[` whose `]` is not in the text yet (`open`, its byte offset); after it `tail`, from `tail_from` on, holds
/// the tokens of the text after it as if no `]` came.
#[derive(Default)]
pub(super) struct Chosen {
    text: String,
    done: Seg,
    open: Option<usize>,
    tail: Seg,
    tail_from: Mark,
}

/// Tokenizes the variants into one token list, each class stored once.
#[derive(Default)]
pub(super) struct Compiler {
    pub(super) tokens: Vec<Token>,
    pub(super) variants: Vec<Variant>,
    pub(super) classes: Vec<Class>,
    pub(super) ranges: Vec<(char, char)>,
    pub(super) spans: Vec<(u32, u32)>,
    pub(super) span_text: String,
    /// The text between the brackets of each class of the pattern's text pieces → its index in `classes`.
    class_ids: HashMap<String, u32>,
}

impl Compiler {
    /// Tokenizes every text piece alone, the ways [`Compiler::append`] may need it.
    pub(super) fn tokenize_pieces(&mut self, seq: &mut [Piece]) {
        for piece in seq {
            match piece {
                Piece::Text(t) => {
                    t.whole = self.tokenized(&t.text);
                    t.literal = literal(&t.text);
                    t.after_close = t.text.find(']').map(|c| (c, self.tokenized(&t.text[c + 1..])));
                }
                Piece::Group(alts) => {
                    for alt in alts {
                        self.tokenize_pieces(alt);
                    }
                }
            }
        }
    }

    /// Adds every variant: `at` holds what was chosen so far, `todo` the sequences still to append (last first).
    /// Both are as they were on return.
    pub(super) fn expand(&mut self, todo: &mut Vec<&[Piece]>, at: &mut Chosen) {
        let Some(seq) = todo.pop() else {
            self.add(at);
            return;
        };
        match seq.split_first() {
            None => self.expand(todo, at),
            Some((Piece::Text(t), rest)) => {
                let saved = (at.text.len(), at.done.mark(), at.open, at.tail.mark(), at.tail_from);
                self.append(at, t);
                todo.push(rest);
                self.expand(todo, at);
                todo.pop();
                at.text.truncate(saved.0);
                at.done.reset(saved.1);
                at.tail.reset(saved.3);
                (at.open, at.tail_from) = (saved.2, saved.4);
            }
            Some((Piece::Group(alts), rest)) => {
                todo.push(rest);
                for alt in alts {
                    todo.push(alt);
                    self.expand(todo, at);
                    todo.pop();
                }
                todo.pop();
            }
        }
        todo.push(seq);
    }

    /// Appends a text piece, from its tokens made alone: as it is when no `[` waits; when one does, as literal
    /// text after it, or, when the piece closes it, as the class and then what follows the `]`.
    fn append(&mut self, at: &mut Chosen, t: &Text) {
        let from = at.text.len();
        at.text.push_str(&t.text);
        let Some(open) = at.open else {
            return continue_with(at, from, &t.whole);
        };
        let Some(close) = class_end(&at.text, open, from) else {
            return at.tail.extend(&t.literal);
        };
        // A class spanning pieces: its text is kept (a copy), its ranges read when matched.
        let start = self.span_text.len() as u32;
        self.span_text.push_str(&at.text[open + 1..close]);
        self.spans.push((start, self.span_text.len() as u32));
        at.done.push(Token::Spanning(self.spans.len() as u32 - 1));
        at.open = None;
        match &t.after_close {
            Some((c, rest)) if from + c == close => continue_with(at, close + 1, rest),
            // The `]` right after `[` or `[!` belongs to the class: the `]` closing it is a later one.
            _ => {
                let rest = self.tokenized(&at.text[close + 1..]);
                continue_with(at, close + 1, &rest);
            }
        }
    }

    /// Adds the variant `at` holds (a `[` still waiting for its `]` is a literal). Duplicates stay (`{a,a}`):
    /// finding them costs more than matching them.
    fn add(&mut self, at: &Chosen) {
        let start = self.tokens.len();
        self.tokens.extend_from_slice(&at.done.tokens);
        let (mut min_len, mut last_star) = (at.done.non_star, at.done.last_star);
        if at.open.is_some() {
            let (from, non_star, _) = at.tail_from;
            self.tokens.push(Token::Char('['));
            min_len += 1 + at.tail.non_star - non_star;
            if let Some(k) = at.tail.last_star.filter(|&k| k >= from) {
                last_star = Some(at.done.tokens.len() + 1 + k - from);
            }
            self.tokens.extend_from_slice(&at.tail.tokens[from..]);
        }
        let end = self.tokens.len();
        let after_last_star = last_star.map(|k| end - start - 1 - k);
        self.variants.push(Variant { start, end, min_len, after_last_star });
    }

    /// `text` tokenized (Python's `fnmatch.translate`) from a point where no `[` waits.
    fn tokenized(&mut self, text: &str) -> Tokenized {
        let mut out = Tokenized::default();
        let mut i = 0;
        while let Some(c) = text[i..].chars().next() {
            i += c.len_utf8();
            match c {
                '*' if out.done.tokens.last() == Some(&Token::AnyRun) => {}
                '*' => out.done.push(Token::AnyRun),
                '?' => out.done.push(Token::AnyOne),
                '[' => match class_end(text, i - 1, i) {
                    Some(close) => {
                        let id = self.class_of(&text[i..close]);
                        out.done.push(Token::Class(id));
                        i = close + 1;
                    }
                    None => {
                        out.open = Some(i - 1);
                        out.after_open = literal(&text[i..]);
                        break;
                    }
                },
                c => out.done.push(Token::Char(c)),
            }
        }
        out
    }

    /// The class written `[body]` (see [`class_ranges`]), stored once.
    fn class_of(&mut self, body: &str) -> u32 {
        if let Some(&known) = self.class_ids.get(body) {
            return known;
        }
        let id = self.classes.len() as u32;
        self.class_ids.insert(body.to_string(), id);
        let start = self.ranges.len() as u32;
        let (negated, ranges) = class_ranges(body);
        self.ranges.extend(ranges);
        self.classes.push(Class { negated, start, end: self.ranges.len() as u32 });
        id
    }
}

/// Text after a `[` that stays open: `*` and `?` as wildcards, every other character (`[` and `]` too) itself.
fn literal(text: &str) -> Seg {
    let mut out = Seg::default();
    for c in text.chars() {
        match c {
            '*' if out.tokens.last() == Some(&Token::AnyRun) => {}
            '*' => out.push(Token::AnyRun),
            '?' => out.push(Token::AnyOne),
            c => out.push(Token::Char(c)),
        }
    }
    out
}

/// Starts `at` on text from `base` on (no `[` waiting there) tokenized as `t`.
fn continue_with(at: &mut Chosen, base: usize, t: &Tokenized) {
    at.done.extend(&t.done);
    if let Some(o) = t.open {
        at.open = Some(base + o);
        at.tail_from = at.tail.mark();
        at.tail.extend(&t.after_open);
    }
}
