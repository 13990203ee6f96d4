//! [`Value`]: the plain Python value [`super::decode`] builds and [`super::encode`] writes.

use super::BigInt;
use std::sync::Arc;

/// A decoded plain Python value. Integers that fit `i64` are always [`Value::Int`]; Python 2 `str` (opcodes
/// `STRING`, `BINSTRING`, `SHORT_BINSTRING`) becomes [`Value::Str`] when it is valid UTF-8, else [`Value::Bytes`].
/// Strings and bytes are reference-counted so that memo references to one string share its storage.
/// [`Value::Dict`] keeps pairs in pickle order, duplicates included (see [`Value::get`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Python `None`.
    None,
    /// Python `bool`.
    Bool(bool),
    /// Python `int` within `i64`.
    Int(i64),
    /// Python `int` outside `i64`.
    BigInt(BigInt),
    /// Python `float`.
    Float(f64),
    /// Python 3 `str` (or Python 2 `unicode`).
    Str(Arc<str>),
    /// Python 3 `bytes` (or non-UTF-8 Python 2 `str`).
    Bytes(Arc<[u8]>),
    /// Python `list`.
    List(Vec<Value>),
    /// Python `tuple`.
    Tuple(Vec<Value>),
    /// Python `dict`, as (key, value) pairs in pickle order.
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// A [`Value::Str`] holding `s`.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// The text of a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a [`Value::List`] or [`Value::Tuple`].
    pub fn as_items(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) | Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// A number as `f64` the way Python's `float()` converts `int`, `bool` and `float` (big integers beyond the
    /// `f64` range give ±infinity); `None` for other values.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Int(i) => Some(*i as f64),
            Value::BigInt(b) => Some(b.to_f64()),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// In a [`Value::Dict`], the value of the last pair whose key is the string `key` (Python keeps the last
    /// assignment); `None` if absent or if `self` is not a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs.iter().rev().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }
}
