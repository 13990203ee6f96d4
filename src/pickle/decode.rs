//! The pickle VM: runs a frame's opcodes into an arena of slots, atoms and nodes. [`Decoder::decode`] then builds
//! a [`Value`] from it (`build`), [`Decoder::decode_points`] walks it as a point list (`points`).

mod build;
mod points;

pub use points::PointCounts;

use super::error::bad;
use super::escape::{escape_decode, raw_unicode_escape_decode};
use super::{BigInt, Limits, Op, PickleError, Value, MAX_INT_BYTES, MAX_PROTOCOL};
use build::Builder;
use std::collections::HashMap;

// ---------------------------------------------------------------------------------------------------------------
// The VM. Values live in an arena while decoding: scalars inline in `Slot`, strings as `Atom`s (byte ranges of the
// frame, or of `owned` for protocol-0 text that needed unescaping), containers as `Node`s whose children sit in
// `children` as a linked list of contiguous segments. The memo and the stack hold `Slot`s, so a memo reference is a
// copy of a small index and a list appended to after being memoized is seen mutated, as in Python.

const NIL: usize = usize::MAX;

#[derive(Debug, Clone, Copy)]
enum Slot {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Big(usize),
    Atom(usize),
    Node(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtomKind {
    Unicode,
    Bytes,
    Py2Str,
}

#[derive(Debug, Clone, Copy)]
struct Atom {
    kind: AtomKind,
    offset: usize,
    owned: bool,
    start: usize,
    len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Tuple,
    Dict,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    offset: usize,
    len: usize,
    first: usize,
    last: usize,
}

#[derive(Debug, Clone, Copy)]
struct Seg {
    start: usize,
    len: usize,
    next: usize,
}

/// Reusable decoding scratch space. Keeping one per connection avoids re-allocating arenas for every frame; its
/// buffers keep the capacity of the largest frame seen (bounded by [`Limits::max_frame_len`]).
#[derive(Debug, Default)]
pub struct Decoder {
    stack: Vec<Slot>,
    marks: Vec<usize>,
    memo: Vec<Slot>,
    memo_sparse: HashMap<u64, Slot>,
    memo_count: usize,
    atoms: Vec<Atom>,
    owned: Vec<u8>,
    bigs: Vec<BigInt>,
    nodes: Vec<Node>,
    segs: Vec<Seg>,
    children: Vec<Slot>,
    /// Some slot was pushed twice (memo read or `DUP`), so values may be shared.
    shared: bool,
}

/// Decodes one pickle frame into a [`Value`]. Bytes after `STOP` and values left below the result on the stack
/// are ignored, as Python's `pickle.loads` does. Errors: see [`PickleError`]; never panics.
pub fn decode(frame: &[u8], limits: &Limits) -> Result<Value, PickleError> {
    Decoder::new().decode(frame, limits)
}

/// Decodes one pickle-receiver frame: a list (or tuple) of `(name, (timestamp, value))` entries, where either
/// level may be a tuple or a list, the name is `str`, `bytes` or Python 2 `str`, and timestamp and value are
/// `int`, `float`, `bool` or numeric text (as carbon's `float()` accepts them).
///
/// Calls `sink(name, timestamp, value)` for every well-formed entry, in order: `name` is the raw UTF-8 (or, for
/// bytes, raw) name — not validated here, the metric-name rules do that — and both numbers are `f64` (seconds,
/// and the value as sent; NaN is passed through for the caller to drop). Entries of the wrong shape are skipped
/// and reported as `on_bad(entry_index, reason)`; the good ones are kept (carbon also skips them one by one).
/// A frame-level error (bad opcode, truncation, a top level that is not a list …) yields no points at all.
pub fn decode_points(
    frame: &[u8],
    limits: &Limits,
    sink: &mut impl FnMut(&[u8], f64, f64),
    on_bad: &mut impl FnMut(usize, &'static str),
) -> Result<PointCounts, PickleError> {
    Decoder::new().decode_points(frame, limits, sink, on_bad)
}

/// Reads exactly `n` bytes of argument at `*pos`, checking `n` against what remains first.
fn take<'a>(frame: &'a [u8], pos: &mut usize, n: u64, op: Op, offset: usize) -> Result<&'a [u8], PickleError> {
    let remaining = frame.len() - *pos;
    match usize::try_from(n) {
        Ok(n) if n <= remaining => {
            let s = &frame[*pos..*pos + n];
            *pos += n;
            Ok(s)
        }
        _ => Err(PickleError::Truncated { op, offset, needed: n, remaining }),
    }
}

fn take_array<const N: usize>(frame: &[u8], pos: &mut usize, op: Op, offset: usize) -> Result<[u8; N], PickleError> {
    let s = take(frame, pos, N as u64, op, offset)?;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Ok(a)
}

/// Reads a protocol-0 text argument up to (and consuming) its newline; returns it without the newline.
fn line<'a>(frame: &'a [u8], pos: &mut usize, op: Op, offset: usize) -> Result<&'a [u8], PickleError> {
    match frame[*pos..].iter().position(|&b| b == b'\n') {
        Some(n) => {
            let s = &frame[*pos..*pos + n];
            *pos += n + 1;
            Ok(s)
        }
        None => Err(PickleError::UnterminatedLine { op, offset }),
    }
}

/// Parses a decimal memo key of `PUT`/`GET`.
fn parse_key(text: &[u8], op: Op, offset: usize) -> Result<u64, PickleError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| bad(op, offset, "memo key is not a non-negative decimal integer"))
}

impl Decoder {
    /// An empty decoder; buffers grow on first use.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// As [`decode`], reusing this decoder's buffers.
    pub fn decode(&mut self, frame: &[u8], limits: &Limits) -> Result<Value, PickleError> {
        let (root, _) = self.run(frame, limits)?;
        let mut b = Builder {
            dec: &*self,
            frame,
            atom_values: vec![None; self.atoms.len()],
            in_progress: vec![false; self.nodes.len()],
            count: 0,
            budget: limits.value_budget(frame.len()),
            bytes: 0,
            byte_budget: limits.byte_budget(frame.len()),
            max_depth: limits.max_depth,
        };
        b.value(root, 0)
    }

    /// Children of a node, in order, following its segment chain.
    fn items(&self, node: usize) -> impl Iterator<Item = Slot> + '_ {
        let mut seg = self.nodes[node].first;
        std::iter::from_fn(move || {
            let s = self.segs.get(seg)?;
            seg = s.next;
            Some(&self.children[s.start..s.start + s.len])
        })
        .flatten()
        .copied()
    }

    fn atom_bytes<'a>(&'a self, frame: &'a [u8], a: &Atom) -> &'a [u8] {
        let src = if a.owned { &self.owned[..] } else { frame };
        &src[a.start..a.start + a.len]
    }

    fn reset(&mut self) {
        self.stack.clear();
        self.marks.clear();
        self.memo.clear();
        self.memo_sparse.clear();
        self.memo_count = 0;
        self.atoms.clear();
        self.owned.clear();
        self.bigs.clear();
        self.nodes.clear();
        self.segs.clear();
        self.children.clear();
        self.shared = false;
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    /// Requires `n` values above the innermost mark.
    fn need(&self, n: usize, op: Op, offset: usize) -> Result<(), PickleError> {
        if self.stack.len() >= self.fence() + n {
            Ok(())
        } else {
            Err(PickleError::StackUnderflow { op, offset })
        }
    }

    fn pop(&mut self, op: Op, offset: usize) -> Result<Slot, PickleError> {
        self.need(1, op, offset)?;
        self.stack.pop().ok_or(PickleError::StackUnderflow { op, offset })
    }

    fn top(&self, op: Op, offset: usize) -> Result<Slot, PickleError> {
        self.need(1, op, offset)?;
        self.stack.last().copied().ok_or(PickleError::StackUnderflow { op, offset })
    }

    fn pop_mark(&mut self, op: Op, offset: usize) -> Result<usize, PickleError> {
        self.marks.pop().ok_or(PickleError::NoMark { op, offset })
    }

    fn push_atom(&mut self, kind: AtomKind, offset: usize, owned: bool, start: usize, len: usize) {
        self.atoms.push(Atom { kind, offset, owned, start, len });
        self.stack.push(Slot::Atom(self.atoms.len() - 1));
    }

    /// Pushes a borrowed atom for `arg`, a subslice of `frame` that ends at `pos`.
    fn push_borrowed(&mut self, kind: AtomKind, offset: usize, pos: usize, len: usize) {
        self.push_atom(kind, offset, false, pos - len, len);
    }

    fn push_int(&mut self, text: &[u8], op: Op, offset: usize) -> Result<(), PickleError> {
        let trimmed = std::str::from_utf8(text)
            .map(|s| s.trim_matches(|c: char| c.is_ascii_whitespace()))
            .map_err(|_| bad(op, offset, "integer is not decimal text"))?;
        if let Ok(i) = trimmed.parse::<i64>() {
            self.stack.push(Slot::Int(i));
            return Ok(());
        }
        let big =
            trimmed.parse::<BigInt>().map_err(|_| bad(op, offset, "integer is not decimal text or is too long"))?;
        self.push_big(big);
        Ok(())
    }

    fn push_big(&mut self, big: BigInt) {
        match big.to_i64() {
            Some(i) => self.stack.push(Slot::Int(i)),
            None => {
                self.bigs.push(big);
                self.stack.push(Slot::Big(self.bigs.len() - 1));
            }
        }
    }

    /// Moves `stack[from..]` into a new container pushed in their place.
    fn build_from(&mut self, kind: Kind, from: usize, offset: usize) {
        self.nodes.push(Node { kind, offset, len: 0, first: NIL, last: NIL });
        let node = self.nodes.len() - 1;
        self.extend_node(node, from);
        self.stack.push(Slot::Node(node));
    }

    /// Moves `stack[from..]` to the end of `node`'s children.
    fn extend_node(&mut self, node: usize, from: usize) {
        let n = self.stack.len() - from;
        if n == 0 {
            return;
        }
        let start = self.children.len();
        self.children.extend_from_slice(&self.stack[from..]);
        self.stack.truncate(from);
        let nd = &mut self.nodes[node];
        nd.len += n;
        match self.segs.get_mut(nd.last) {
            Some(last) if last.start + last.len == start => last.len += n,
            _ => {
                self.segs.push(Seg { start, len: n, next: NIL });
                let seg = self.segs.len() - 1;
                if let Some(last) = self.segs.get_mut(nd.last) {
                    last.next = seg;
                } else {
                    nd.first = seg;
                }
                nd.last = seg;
            }
        }
    }

    /// The node at `stack[at]` if it is a container of `kind`.
    fn target(&self, at: usize, kind: Kind, op: Op, offset: usize) -> Result<usize, PickleError> {
        match self.stack.get(at) {
            Some(Slot::Node(n)) if self.nodes[*n].kind == kind => Ok(*n),
            _ => {
                Err(PickleError::WrongTarget { op, offset, expected: if kind == Kind::Dict { "dict" } else { "list" } })
            }
        }
    }

    fn memo_put(&mut self, key: u64, slot: Slot) {
        match usize::try_from(key) {
            Ok(k) if k < self.memo.len() => self.memo[k] = slot,
            Ok(k) if k == self.memo.len() => {
                self.memo.push(slot);
                if self.memo_sparse.is_empty() || self.memo_sparse.remove(&key).is_none() {
                    self.memo_count += 1;
                }
            }
            _ => {
                if self.memo_sparse.insert(key, slot).is_none() {
                    self.memo_count += 1;
                }
            }
        }
    }

    fn memo_get(&mut self, key: u64, op: Op, offset: usize) -> Result<(), PickleError> {
        let slot = usize::try_from(key)
            .ok()
            .and_then(|k| self.memo.get(k).copied())
            .or_else(|| self.memo_sparse.get(&key).copied())
            .ok_or(PickleError::MemoMissing { op, offset, key })?;
        self.shared = true;
        self.stack.push(slot);
        Ok(())
    }

    /// Runs the VM to `STOP`; returns the result slot and the offset of `STOP`.
    fn run(&mut self, frame: &[u8], limits: &Limits) -> Result<(Slot, usize), PickleError> {
        if frame.len() > limits.max_frame_len {
            return Err(PickleError::FrameTooLarge { len: frame.len() as u64, max: limits.max_frame_len });
        }
        self.reset();
        let mut pos = 0usize;
        loop {
            let offset = pos;
            let Some(&code) = frame.get(pos) else {
                return Err(PickleError::MissingStop { offset });
            };
            pos += 1;
            let op = Op(code);
            match code {
                0x80 => {
                    let [p] = take_array(frame, &mut pos, op, offset)?;
                    if p > MAX_PROTOCOL {
                        return Err(bad(op, offset, "unsupported pickle protocol"));
                    }
                }
                0x95 => {
                    // FRAME only announces how many bytes follow; check it, then read through.
                    let n = u64::from_le_bytes(take_array(frame, &mut pos, op, offset)?);
                    let remaining = frame.len() - pos;
                    if n > remaining as u64 {
                        return Err(PickleError::Truncated { op, offset, needed: n, remaining });
                    }
                }
                b'.' => return Ok((self.pop(op, offset)?, offset)),
                b'(' => {
                    if self.marks.len() >= limits.max_depth {
                        return Err(PickleError::TooDeep { op, offset, max: limits.max_depth });
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    if self.stack.len() > self.fence() {
                        self.stack.pop();
                    } else if self.marks.pop().is_none() {
                        return Err(PickleError::StackUnderflow { op, offset });
                    }
                }
                b'1' => {
                    let m = self.pop_mark(op, offset)?;
                    self.stack.truncate(m);
                }
                b'2' => {
                    let v = self.top(op, offset)?;
                    self.shared = true;
                    self.stack.push(v);
                }
                b'N' => self.stack.push(Slot::None),
                0x88 => self.stack.push(Slot::Bool(true)),
                0x89 => self.stack.push(Slot::Bool(false)),
                b'I' => match line(frame, &mut pos, op, offset)? {
                    b"00" => self.stack.push(Slot::Bool(false)),
                    b"01" => self.stack.push(Slot::Bool(true)),
                    text => self.push_int(text, op, offset)?,
                },
                b'J' => {
                    let v = i32::from_le_bytes(take_array(frame, &mut pos, op, offset)?);
                    self.stack.push(Slot::Int(i64::from(v)));
                }
                b'K' => {
                    let [v] = take_array(frame, &mut pos, op, offset)?;
                    self.stack.push(Slot::Int(i64::from(v)));
                }
                b'M' => {
                    let v = u16::from_le_bytes(take_array(frame, &mut pos, op, offset)?);
                    self.stack.push(Slot::Int(i64::from(v)));
                }
                b'L' => {
                    let text = line(frame, &mut pos, op, offset)?;
                    let text = text.strip_suffix(b"L").unwrap_or(text);
                    self.push_int(text, op, offset)?;
                }
                0x8a | 0x8b => {
                    let n = if code == 0x8a {
                        let [n] = take_array(frame, &mut pos, op, offset)?;
                        u64::from(n)
                    } else {
                        let n = i32::from_le_bytes(take_array(frame, &mut pos, op, offset)?);
                        u64::try_from(n).map_err(|_| bad(op, offset, "negative byte count"))?
                    };
                    if n > MAX_INT_BYTES as u64 {
                        return Err(bad(op, offset, "integer longer than MAX_INT_BYTES"));
                    }
                    let bytes = take(frame, &mut pos, n, op, offset)?;
                    self.push_big(BigInt::from_le_twos_complement(bytes));
                }
                b'F' => {
                    let text = line(frame, &mut pos, op, offset)?;
                    let f = std::str::from_utf8(text)
                        .ok()
                        .and_then(|s| s.parse::<f64>().ok())
                        .ok_or_else(|| bad(op, offset, "float is not decimal text"))?;
                    self.stack.push(Slot::Float(f));
                }
                b'G' => {
                    let f = f64::from_be_bytes(take_array(frame, &mut pos, op, offset)?);
                    self.stack.push(Slot::Float(f));
                }
                b'S' => {
                    let text = line(frame, &mut pos, op, offset)?;
                    let inner = match text {
                        [q @ (b'\'' | b'"'), inner @ .., end] if q == end => inner,
                        _ => return Err(bad(op, offset, "STRING argument is not quoted")),
                    };
                    let start = self.owned.len();
                    escape_decode(inner, &mut self.owned, op, offset)?;
                    let len = self.owned.len() - start;
                    self.push_atom(AtomKind::Py2Str, offset, true, start, len);
                }
                b'V' => {
                    let text = line(frame, &mut pos, op, offset)?;
                    let start = self.owned.len();
                    raw_unicode_escape_decode(text, &mut self.owned, op, offset)?;
                    let len = self.owned.len() - start;
                    self.push_atom(AtomKind::Unicode, offset, true, start, len);
                }
                b'T' | b'U' | b'X' | 0x8c | 0x8d | b'B' | b'C' | 0x8e => {
                    let (kind, n) = match code {
                        b'T' => {
                            let n = i32::from_le_bytes(take_array(frame, &mut pos, op, offset)?);
                            let n = u64::try_from(n).map_err(|_| bad(op, offset, "negative byte count"))?;
                            (AtomKind::Py2Str, n)
                        }
                        b'U' => (AtomKind::Py2Str, u64::from(take_array::<1>(frame, &mut pos, op, offset)?[0])),
                        b'X' => {
                            (AtomKind::Unicode, u64::from(u32::from_le_bytes(take_array(frame, &mut pos, op, offset)?)))
                        }
                        0x8c => (AtomKind::Unicode, u64::from(take_array::<1>(frame, &mut pos, op, offset)?[0])),
                        0x8d => (AtomKind::Unicode, u64::from_le_bytes(take_array(frame, &mut pos, op, offset)?)),
                        b'B' => {
                            (AtomKind::Bytes, u64::from(u32::from_le_bytes(take_array(frame, &mut pos, op, offset)?)))
                        }
                        b'C' => (AtomKind::Bytes, u64::from(take_array::<1>(frame, &mut pos, op, offset)?[0])),
                        _ => (AtomKind::Bytes, u64::from_le_bytes(take_array(frame, &mut pos, op, offset)?)),
                    };
                    let len = take(frame, &mut pos, n, op, offset)?.len();
                    self.push_borrowed(kind, offset, pos, len);
                }
                b']' => self.build_from(Kind::List, self.stack.len(), offset),
                b')' => self.build_from(Kind::Tuple, self.stack.len(), offset),
                b'}' => self.build_from(Kind::Dict, self.stack.len(), offset),
                b'l' | b't' | b'd' => {
                    let m = self.pop_mark(op, offset)?;
                    let kind = match code {
                        b'l' => Kind::List,
                        b't' => Kind::Tuple,
                        _ => Kind::Dict,
                    };
                    if kind == Kind::Dict && !(self.stack.len() - m).is_multiple_of(2) {
                        return Err(bad(op, offset, "odd number of items for DICT"));
                    }
                    self.build_from(kind, m, offset);
                }
                0x85..=0x87 => {
                    let n = usize::from(code - 0x84);
                    self.need(n, op, offset)?;
                    self.build_from(Kind::Tuple, self.stack.len() - n, offset);
                }
                b'a' => {
                    self.need(2, op, offset)?;
                    let at = self.stack.len() - 2;
                    let node = self.target(at, Kind::List, op, offset)?;
                    self.extend_node(node, at + 1);
                }
                b's' => {
                    self.need(3, op, offset)?;
                    let at = self.stack.len() - 3;
                    let node = self.target(at, Kind::Dict, op, offset)?;
                    self.extend_node(node, at + 1);
                }
                b'e' | b'u' => {
                    let m = self.pop_mark(op, offset)?;
                    if m == 0 || m <= self.fence() {
                        return Err(PickleError::StackUnderflow { op, offset });
                    }
                    let kind = if code == b'e' { Kind::List } else { Kind::Dict };
                    let node = self.target(m - 1, kind, op, offset)?;
                    if kind == Kind::Dict && !(self.stack.len() - m).is_multiple_of(2) {
                        return Err(bad(op, offset, "odd number of items for SETITEMS"));
                    }
                    self.extend_node(node, m);
                }
                b'p' | b'q' | b'r' | 0x94 => {
                    let key = match code {
                        b'p' => parse_key(line(frame, &mut pos, op, offset)?, op, offset)?,
                        b'q' => u64::from(take_array::<1>(frame, &mut pos, op, offset)?[0]),
                        b'r' => u64::from(u32::from_le_bytes(take_array(frame, &mut pos, op, offset)?)),
                        _ => self.memo_count as u64,
                    };
                    let v = self.top(op, offset)?;
                    self.memo_put(key, v);
                }
                b'g' | b'h' | b'j' => {
                    let key = match code {
                        b'g' => parse_key(line(frame, &mut pos, op, offset)?, op, offset)?,
                        b'h' => u64::from(take_array::<1>(frame, &mut pos, op, offset)?[0]),
                        _ => u64::from(u32::from_le_bytes(take_array(frame, &mut pos, op, offset)?)),
                    };
                    self.memo_get(key, op, offset)?;
                }
                _ => return Err(PickleError::Forbidden { op, offset }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::{check_frame_len, read_frame_len};
    use proptest::prelude::*;
    use std::sync::Arc;

    type Points = (Vec<(String, f64, f64)>, Vec<(usize, &'static str)>);

    fn points(frame: &[u8]) -> Result<Points, PickleError> {
        let mut pts = Vec::new();
        let mut bad = Vec::new();
        let counts = decode_points(
            frame,
            &Limits::default(),
            &mut |n, t, v| pts.push((String::from_utf8_lossy(n).into_owned(), t, v)),
            &mut |i, r| bad.push((i, r)),
        )?;
        assert_eq!(counts.points, pts.len());
        assert_eq!(counts.bad_entries, bad.len());
        Ok((pts, bad))
    }

    fn err(frame: &[u8]) -> String {
        decode(frame, &Limits::default()).unwrap_err().to_string()
    }

    #[test]
    fn global_reduce_is_refused_with_opcode_and_offset() {
        assert_eq!(
            err(b"\x80\x02cos\nsystem\n(S'echo hi'\ntR."),
            "pickle opcode GLOBAL (0x63) at offset 2 is not allowed"
        );
        assert_eq!(err(b"\xff."), "pickle opcode 0xff (unknown) at offset 0 is not allowed");
    }

    #[test]
    fn every_object_building_opcode_is_refused() {
        for code in [
            b'c', 0x93, b'R', b'b', b'i', b'o', 0x81, 0x92, b'P', b'Q', 0x82, 0x83, 0x84, 0x96, 0x97, 0x98, 0x8f, 0x90,
            0x91,
        ] {
            let frame = [b'N', code, b'.'];
            match decode(&frame, &Limits::default()) {
                Err(PickleError::Forbidden { op, offset: 1 }) => assert_eq!(op, Op(code)),
                other => panic!("opcode 0x{code:02x} gave {other:?}"),
            }
        }
    }

    #[test]
    fn protocol_0_point_list_decodes_like_python() {
        // pickle.dumps([("a.b", (1700000000, 1.5))], protocol=0)
        let f = b"(lp0\n(Va.b\np1\n(I1700000000\nF1.5\ntp2\ntp3\na.";
        let (pts, bad) = points(f).unwrap();
        assert_eq!(pts, vec![("a.b".to_string(), 1_700_000_000.0, 1.5)]);
        assert!(bad.is_empty());
    }

    #[test]
    fn protocol_0_bools_and_longs_are_typed() {
        assert_eq!(decode(b"I01\n.", &Limits::default()).unwrap(), Value::Bool(true));
        assert_eq!(decode(b"I00\n.", &Limits::default()).unwrap(), Value::Bool(false));
        assert_eq!(decode(b"I1\n.", &Limits::default()).unwrap(), Value::Int(1));
        assert_eq!(decode(b"L12L\n.", &Limits::default()).unwrap(), Value::Int(12));
        let big = decode(b"L1180591620717411303424L\n.", &Limits::default()).unwrap();
        match big {
            Value::BigInt(b) => assert_eq!(b.to_string(), "1180591620717411303424"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn py2_strings_unescape_like_python() {
        assert_eq!(decode(b"S'a\\x41\\101\\q'\n.", &Limits::default()).unwrap(), Value::str("aAA\\q"));
        assert_eq!(decode(b"U\x03abc.", &Limits::default()).unwrap(), Value::str("abc"));
        assert_eq!(decode(b"U\x01\xff.", &Limits::default()).unwrap(), Value::Bytes(Arc::from(&b"\xff"[..])));
        assert_eq!(
            decode(b"V\\u0041\\\\u0041\\x\xe9\n.", &Limits::default()).unwrap(),
            Value::str("A\\\\u0041\\x\u{e9}")
        );
    }

    #[test]
    fn shared_list_memoized_before_filling_is_seen_filled() {
        // x = [1, 2]; pickle.dumps([x, x], protocol=2)
        let v = decode(b"\x80\x02]q\x00(]q\x01(K\x01K\x02eh\x01e.", &Limits::default()).unwrap();
        let x = Value::List(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(v, Value::List(vec![x.clone(), x]));
    }

    #[test]
    fn bad_entries_are_counted_and_good_ones_kept() {
        // [("a", (1, 2)), ("b", (None, 1)), 5, (7, (1, 2)), ("c", [3, "4.5"])] at protocol 2
        let f = b"\x80\x02]q\x00(X\x01\x00\x00\x00aK\x01K\x02\x86\x86X\x01\x00\x00\x00bNK\x01\x86\x86K\x05\
K\x07K\x01K\x02\x86\x86X\x01\x00\x00\x00c]q\x01(K\x03X\x03\x00\x00\x004.5e\x86e.";
        let (pts, bad) = points(f).unwrap();
        assert_eq!(pts, vec![("a".into(), 1.0, 2.0), ("c".into(), 3.0, 4.5)]);
        assert_eq!(
            bad,
            vec![
                (1, "timestamp is not a number"),
                (2, "entry is not a 2-item tuple or list"),
                (3, "metric name is not a string")
            ]
        );
    }

    #[test]
    fn top_level_dict_is_not_a_point_list() {
        assert!(matches!(points(b"}."), Err(PickleError::NotASequence { offset: 1 })));
        assert!(matches!(points(b"N."), Err(PickleError::NotASequence { offset: 1 })));
    }

    #[test]
    fn huge_declared_lengths_fail_before_allocating() {
        for f in [
            &b"\x80\x04X\xff\xff\xff\xffabc."[..],
            b"\x8d\xff\xff\xff\xff\xff\xff\xff\xffabc.",
            b"\x8e\xff\xff\xff\xff\xff\xff\xff\xff.",
            b"\x95\xff\xff\xff\xff\xff\xff\xff\xffN.",
            b"T\xff\xff\xff\x7f.",
        ] {
            assert!(matches!(decode(f, &Limits::default()), Err(PickleError::Truncated { .. })), "{f:?}");
        }
        assert_eq!(
            err(b"\x80\x04X\xff\xff\xff\xffabc."),
            "pickle opcode BINUNICODE (0x58) at offset 2 needs 4294967295 bytes of argument but only 4 remain"
        );
        assert!(matches!(decode(b"T\xff\xff\xff\xff.", &Limits::default()), Err(PickleError::BadArgument { .. })));
        assert!(matches!(decode(b"\x8b\x00\x00\x10\x00", &Limits::default()), Err(PickleError::BadArgument { .. })));
    }

    #[test]
    fn deep_marks_are_refused_quickly() {
        let f = vec![b'('; 100_000];
        assert!(matches!(decode(&f, &Limits::default()), Err(PickleError::TooDeep { max: 64, .. })));
    }

    #[test]
    fn deeply_nested_lists_are_refused_by_decode_and_shallow_for_points() {
        let mut f = vec![b']'; 100_000];
        f.extend(std::iter::repeat_n(b'a', 99_999));
        f.push(b'.');
        assert!(matches!(decode(&f, &Limits::default()), Err(PickleError::ValueTooDeep { .. })));
        let (pts, bad) = points(&f).unwrap();
        assert!(pts.is_empty());
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn list_containing_itself_is_refused() {
        assert!(matches!(decode(b"]q\x00h\x00a.", &Limits::default()), Err(PickleError::Recursive { offset: 0 })));
        // For points, the self-containing entry is just a bad entry.
        let (pts, bad) = points(b"]q\x00h\x00a.").unwrap();
        assert!(pts.is_empty() && bad.len() == 1);
    }

    #[test]
    fn memo_bomb_is_refused_by_the_value_budget() {
        // L0 = [None]*1000; L1 = [L0]*1000; L2 = [L1]*1000: 10^9 values from ~6 KB.
        let mut f = b"]q\x00(".to_vec();
        f.extend(std::iter::repeat_n(b'N', 1000));
        f.push(b'e');
        for level in 1..3u8 {
            f.extend_from_slice(&[b']', b'q', level, b'(']);
            for _ in 0..1000 {
                f.extend_from_slice(&[b'h', level - 1]);
            }
            f.push(b'e');
        }
        f.push(b'.');
        // The work is bounded by the budget, not by the 10^9 values the frame describes: decoding stops at the
        // first value over `value_budget(len)`, a few hundred thousand for this ~6 KB frame.
        let budget = Limits::default().value_budget(f.len());
        assert_eq!(budget, crate::pickle::MIN_VALUE_BUDGET + crate::pickle::VALUES_PER_INPUT_BYTE * f.len());
        assert!(budget < 1_000_000, "budget {budget}");
        assert_eq!(decode(&f, &Limits::default()), Err(PickleError::TooManyValues { max: budget }));
        let (pts, bad) = points(&f).unwrap();
        assert!(pts.is_empty() && bad.len() == 1000);
    }

    /// `s = "a" * len; [s] * n` at protocol 4: one string, then `n` memo reads of it.
    fn string_bomb(len: usize, n: usize) -> Vec<u8> {
        let mut f = b"\x80\x04X".to_vec();
        f.extend_from_slice(&(len as u32).to_le_bytes());
        f.extend(std::iter::repeat_n(b'a', len));
        f.extend_from_slice(b"\x94](");
        for _ in 0..n {
            f.extend_from_slice(b"h\x00");
        }
        f.extend_from_slice(b"e.");
        f
    }

    #[test]
    fn memo_bomb_of_strings_is_refused_by_the_byte_budget() {
        // 20,000 references to one 50,000-byte string: 20,001 values (within the value budget) but 10^9 bytes
        // for whoever copies or formats them, from a 90 KB frame.
        let f = string_bomb(50_000, 20_000);
        assert_eq!(f.len(), 90_012);
        let budget = Limits::default().byte_budget(f.len());
        assert_eq!(budget, crate::pickle::MIN_BYTE_BUDGET + crate::pickle::BYTES_PER_INPUT_BYTE * 90_012);
        assert!(Limits::default().value_budget(f.len()) > 20_001);
        assert_eq!(decode(&f, &Limits::default()), Err(PickleError::TooManyBytes { max: budget }));
        assert_eq!(
            err(&f),
            format!(
                "pickle expands to more than {budget} bytes of strings (shared strings counted once per reference)"
            )
        );
        // Negative control: the same bytes with room for 10^9 bytes decode, sharing one string.
        let roomy = Limits { bytes_per_input_byte: 11_110, ..Limits::default() };
        assert!(roomy.byte_budget(f.len()) >= 1_000_000_000);
        let v = decode(&f, &roomy).unwrap();
        let items = v.as_items().unwrap();
        assert_eq!(items.len(), 20_000);
        let Value::Str(first) = &items[0] else { panic!("{:?}", items[0]) };
        assert_eq!(first.len(), 50_000);
        assert!(items.iter().all(|x| matches!(x, Value::Str(s) if Arc::ptr_eq(s, first))));
        // Exactly at the budget passes, one byte short fails: every reference counts its 50,000 bytes.
        let exact = |per_byte: usize| Limits { bytes_per_input_byte: per_byte, ..Limits::default() };
        let small = string_bomb(1000, 100);
        assert_eq!(small.len(), 1212);
        // 100 references x 1000 bytes = 100,000 bytes; the minimum budget alone (65,536) is not enough.
        assert_eq!(decode(&small, &exact(0)), Err(PickleError::TooManyBytes { max: 65_536 }));
        assert!(decode(&small, &exact(29)).is_ok()); // 65,536 + 29 x 1212 = 100,684
        assert_eq!(decode(&small, &exact(28)), Err(PickleError::TooManyBytes { max: 65_536 + 28 * 1212 }));
    }

    #[test]
    fn memo_bomb_of_points_is_refused_by_the_byte_budget_before_any_point() {
        // e = ("a" * 1000, (1, 2)); [e] * 50_000 at protocol 4: 50,000 points naming the same 1000-byte string,
        // 2 bytes each (a valid name length, but 500 bytes of name per frame byte).
        let mut f = b"\x80\x04X\xe8\x03\x00\x00".to_vec();
        f.extend(std::iter::repeat_n(b'a', 1000));
        f.extend_from_slice(b"K\x01K\x02\x86\x86\x94](");
        for _ in 0..50_000 {
            f.extend_from_slice(b"h\x00");
        }
        f.extend_from_slice(b"e.");
        let budget = Limits::default().byte_budget(f.len());
        let mut sunk = 0;
        let r = decode_points(&f, &Limits::default(), &mut |_, _, _| sunk += 1, &mut |_, _| {});
        assert_eq!(r, Err(PickleError::TooManyBytes { max: budget }));
        assert_eq!(sunk, 0, "a refused frame yields no points");
        assert_eq!(decode(&f, &Limits::default()), Err(PickleError::TooManyBytes { max: budget }));
        // Negative control: with room for 50 MB of names all 50,000 points come out.
        let roomy = Limits { bytes_per_input_byte: 1000, ..Limits::default() };
        let mut names = 0;
        let r = decode_points(
            &f,
            &roomy,
            &mut |n, t, v| names += usize::from(n.len() == 1000 && (t, v) == (1.0, 2.0)),
            &mut |_, _| {},
        );
        assert_eq!(r, Ok(PointCounts { points: 50_000, bad_entries: 0 }));
        assert_eq!(names, 50_000);
    }

    #[test]
    fn unshared_frames_are_not_walked_twice_but_still_bounded() {
        // No memo read: every string is read once, so even a zero factor admits what the minimum covers.
        let limits = Limits { bytes_per_input_byte: 0, ..Limits::default() };
        let (mut f, name) = (b"](X\x03\x00\x00\x00a.bK\x01K\x02\x86\x86e.".to_vec(), b"a.b");
        assert_eq!(
            decode_points(&f, &limits, &mut |n, _, _| assert_eq!(n, name), &mut |_, _| {}),
            Ok(PointCounts { points: 1, bad_entries: 0 })
        );
        // A 70,000-byte name read once exceeds the minimum budget with a zero factor: refused as well.
        f = b"](X\x70\x11\x01\x00".to_vec();
        f.extend(std::iter::repeat_n(b'n', 70_000));
        f.extend_from_slice(b"K\x01K\x02\x86\x86e.");
        let r = decode_points(&f, &limits, &mut |_, _, _| {}, &mut |_, _| {});
        assert_eq!(r, Err(PickleError::TooManyBytes { max: crate::pickle::MIN_BYTE_BUDGET }));
        assert_eq!(decode_points(&f, &Limits::default(), &mut |_, _, _| {}, &mut |_, _| {}).map(|c| c.points), Ok(1));
    }

    #[test]
    fn frames_over_the_limit_are_refused() {
        let limits = Limits { max_frame_len: 4, ..Limits::default() };
        assert!(matches!(decode(b"K\x01K\x02.", &limits), Err(PickleError::FrameTooLarge { len: 5, max: 4 })));
        assert_eq!(check_frame_len(5, &limits), Err(PickleError::FrameTooLarge { len: 5, max: 4 }));
        assert_eq!(check_frame_len(read_frame_len([0, 0, 0, 4]), &limits), Ok(4));
    }

    #[test]
    fn stack_and_mark_misuse_is_an_error() {
        assert!(matches!(decode(b"a.", &Limits::default()), Err(PickleError::StackUnderflow { .. })));
        assert!(matches!(decode(b"(.", &Limits::default()), Err(PickleError::StackUnderflow { .. })));
        assert!(matches!(decode(b"e.", &Limits::default()), Err(PickleError::NoMark { .. })));
        assert!(matches!(decode(b"K\x01(e.", &Limits::default()), Err(PickleError::WrongTarget { .. })));
        assert!(matches!(decode(b"}(K\x01u.", &Limits::default()), Err(PickleError::BadArgument { .. })));
        assert!(matches!(decode(b"h\x05.", &Limits::default()), Err(PickleError::MemoMissing { key: 5, .. })));
        assert!(matches!(decode(b"", &Limits::default()), Err(PickleError::MissingStop { offset: 0 })));
        assert!(matches!(decode(b"\x80\x06N.", &Limits::default()), Err(PickleError::BadArgument { .. })));
        // Python: POP with nothing above the mark discards the mark.
        assert_eq!(decode(b"(0N.", &Limits::default()).unwrap(), Value::None);
    }

    #[test]
    fn sparse_and_text_memo_keys_work() {
        let v = decode(b"K\x07r\x00\x00\x01\x000j\x00\x00\x01\x00.", &Limits::default()).unwrap();
        assert_eq!(v, Value::Int(7));
        assert_eq!(decode(b"K\x07p12\n0g12\n.", &Limits::default()).unwrap(), Value::Int(7));
        // MEMOIZE uses the number of distinct keys so far.
        assert_eq!(decode(b"K\x07q\x05K\x08\x940h\x01.", &Limits::default()).unwrap(), Value::Int(8));
    }

    #[test]
    fn bigint_converts_like_python() {
        let n: BigInt = "-1180591620717411303424".parse().unwrap();
        assert_eq!(n.to_string(), "-1180591620717411303424");
        assert_eq!(n.to_f64(), -1180591620717411303424.0);
        // 2**64 + 1 rounds to 2**64; 2**53 + 1 (as a long) rounds half to even.
        let n: BigInt = "18446744073709551617".parse().unwrap();
        assert_eq!(n.to_f64(), 18446744073709551616.0);
        let n: BigInt = "9007199254740993".parse().unwrap();
        assert_eq!(n.to_f64(), 9007199254740992.0);
        // (2**53 + 1) * 2**20 + 1 is above the tie: rounds up.
        let n: BigInt = "9444732965739291475969".parse().unwrap();
        assert_eq!(n.to_f64(), 9444732965739292524544.0);
        assert_eq!(BigInt::from_le_twos_complement(&[0xff, 0xff]).to_i64(), Some(-1));
        assert_eq!(BigInt::from_le_twos_complement(&[]).to_string(), "0");
        assert!("1".repeat(1000).parse::<BigInt>().is_err());
    }

    proptest! {
        #[test]
        fn decimal_bigint_text_round_trips(neg in any::<bool>(), digits in "[1-9][0-9]{0,80}") {
            let s = if neg { format!("-{digits}") } else { digits };
            let n: BigInt = s.parse().unwrap();
            prop_assert_eq!(n.to_string(), s);
        }
    }
}
