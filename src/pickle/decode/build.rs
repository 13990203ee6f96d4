//! Values out of the arena: [`Builder`] turns what the VM left into a [`Value`], counting every value built
//! against the value budget and every string's length against the byte budget (shared references count each
//! time they are reached).

use super::{AtomKind, Decoder, Kind, Slot};
use crate::pickle::{PickleError, Value};
use std::sync::Arc;

/// Turns the arena into a [`Value`], counting every value built against the budget.
pub(super) struct Builder<'a> {
    pub(super) dec: &'a Decoder,
    pub(super) frame: &'a [u8],
    pub(super) atom_values: Vec<Option<Value>>,
    pub(super) in_progress: Vec<bool>,
    pub(super) count: usize,
    pub(super) budget: usize,
    pub(super) bytes: usize,
    pub(super) byte_budget: usize,
    pub(super) max_depth: usize,
}

impl Builder<'_> {
    /// Counts `len` more bytes of strings against the byte budget.
    fn charge(&mut self, len: usize) -> Result<(), PickleError> {
        self.bytes = self.bytes.saturating_add(len);
        if self.bytes > self.byte_budget {
            return Err(PickleError::TooManyBytes { max: self.byte_budget });
        }
        Ok(())
    }

    pub(super) fn value(&mut self, slot: Slot, depth: usize) -> Result<Value, PickleError> {
        self.count += 1;
        if self.count > self.budget {
            return Err(PickleError::TooManyValues { max: self.budget });
        }
        Ok(match slot {
            Slot::None => Value::None,
            Slot::Bool(b) => Value::Bool(b),
            Slot::Int(i) => Value::Int(i),
            Slot::Float(f) => Value::Float(f),
            Slot::Big(i) => {
                self.charge(self.dec.bigs[i].as_le_twos_complement().len())?;
                Value::BigInt(self.dec.bigs[i].clone())
            }
            Slot::Atom(i) => {
                self.charge(self.dec.atoms[i].len)?;
                if let Some(v) = &self.atom_values[i] {
                    return Ok(v.clone());
                }
                let atom = self.dec.atoms[i];
                let bytes = self.dec.atom_bytes(self.frame, &atom);
                let v = match (atom.kind, std::str::from_utf8(bytes)) {
                    (AtomKind::Bytes, _) | (AtomKind::Py2Str, Err(_)) => Value::Bytes(Arc::from(bytes)),
                    (_, Ok(s)) => Value::Str(Arc::from(s)),
                    (AtomKind::Unicode, Err(_)) => return Err(PickleError::InvalidUtf8 { offset: atom.offset }),
                };
                self.atom_values[i] = Some(v.clone());
                v
            }
            Slot::Node(n) => {
                let node = self.dec.nodes[n];
                if depth >= self.max_depth {
                    return Err(PickleError::ValueTooDeep { offset: node.offset, max: self.max_depth });
                }
                if self.in_progress[n] {
                    return Err(PickleError::Recursive { offset: node.offset });
                }
                self.in_progress[n] = true;
                let dec = self.dec;
                let mut items = Vec::with_capacity(node.len.min(self.budget - self.count));
                for child in dec.items(n) {
                    items.push(self.value(child, depth + 1)?);
                }
                self.in_progress[n] = false;
                match node.kind {
                    Kind::List => Value::List(items),
                    Kind::Tuple => Value::Tuple(items),
                    Kind::Dict => {
                        let mut pairs = Vec::with_capacity(items.len() / 2);
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            pairs.push((k, v));
                        }
                        Value::Dict(pairs)
                    }
                }
            }
        })
    }
}
