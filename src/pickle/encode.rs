//! Pickle encoding of CarbonLink responses (protocol 2, as carbon answers graphite-web).
//!
//! Owns turning plain [`Value`]s into bytes Python's `pickle.loads` accepts; it writes no memo, no globals, nothing
//! that builds objects, and never touches sockets: callers add the 4-byte big-endian length prefix themselves.

use thiserror::Error;

use super::{BigInt, Value};

/// Deepest container nesting [`encode`] writes, in levels; deeper values fail with [`EncodeError::TooDeep`].
pub const MAX_ENCODE_DEPTH: usize = 256;

/// Items per `APPENDS`/`SETITEMS` batch, as Python's pickler, so the reader's stack stays small.
const BATCH: usize = 1000;

/// Why a value cannot be encoded. Nothing a CarbonLink response holds triggers these; they keep [`encode`] total.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string, bytes or integer longer than protocol 2's 4-byte length fields allow.
    #[error("pickle encoding: a {what} of {len} bytes exceeds protocol 2's 4 GiB limit")]
    TooLong {
        /// `"string"`, `"bytes"` or `"integer"`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// Containers nested deeper than [`MAX_ENCODE_DEPTH`].
    #[error("pickle encoding: value nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

/// Appends a protocol-2 pickle of `value` (from `PROTO 2` to `STOP`) to `out`.
///
/// Mapping: `None`, `bool`, `int` (`BININT1`/`BININT2`/`BININT`, else `LONG1`/`LONG4`), `float` (`BINFLOAT`,
/// exact), `str` (`BINUNICODE`), `list`, `tuple`, `dict` (pairs in order). [`Value::Bytes`] uses `BINBYTES` — a
/// protocol-3 opcode that Python 3 reads whatever the header says, since protocol 2 has no bytes type without
/// `GLOBAL`. On error `out` may hold a partial pickle; truncate it to its previous length.
pub fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.extend_from_slice(&[0x80, 2]);
    write_value(value, out, 0)?;
    out.push(b'.');
    Ok(())
}

/// The response to `cache-query`: a protocol-2 pickle of `{'datapoints': [(timestamp, value), ...]}`, with
/// timestamps (Unix seconds) as Python `int` and values as Python `float`, in the order given.
pub fn encode_datapoints(points: &[(i64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + points.len() * 16);
    out.extend_from_slice(&[0x80, 2, b'}']);
    write_str_unchecked("datapoints", &mut out);
    write_points(points, &mut out);
    out.extend_from_slice(b"s.");
    out
}

/// The response to `cache-query-bulk`: a protocol-2 pickle of
/// `{'datapointsByMetric': {name: [(timestamp, value), ...], ...}}`, metrics in the order given.
/// Fails only for a name longer than 4 GiB.
pub fn encode_datapoints_by_metric<'a>(
    metrics: impl IntoIterator<Item = (&'a str, &'a [(i64, f64)])>,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[0x80, 2, b'}']);
    write_str_unchecked("datapointsByMetric", &mut out);
    out.push(b'}');
    let mut batch = 0;
    for (name, points) in metrics {
        if batch == 0 {
            out.push(b'(');
        }
        write_str(name, &mut out)?;
        write_points(points, &mut out);
        batch += 1;
        if batch == BATCH {
            out.push(b'u');
            batch = 0;
        }
    }
    if batch > 0 {
        out.push(b'u');
    }
    out.extend_from_slice(b"s.");
    Ok(out)
}

fn write_points(points: &[(i64, f64)], out: &mut Vec<u8>) {
    out.push(b']');
    for chunk in points.chunks(BATCH) {
        out.push(b'(');
        for &(t, v) in chunk {
            write_int(t, out);
            write_float(v, out);
            out.push(0x86); // TUPLE2
        }
        out.push(b'e');
    }
}

fn write_int(i: i64, out: &mut Vec<u8>) {
    if let Ok(b) = u8::try_from(i) {
        out.extend_from_slice(&[b'K', b]);
    } else if let Ok(h) = u16::try_from(i) {
        out.push(b'M');
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(i) {
        out.push(b'J');
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        let big = BigInt::from_le_twos_complement(&i.to_le_bytes());
        let bytes = big.as_le_twos_complement();
        out.extend_from_slice(&[0x8a, bytes.len() as u8]); // at most 8 bytes
        out.extend_from_slice(bytes);
    }
}

fn write_float(f: f64, out: &mut Vec<u8>) {
    out.push(b'G');
    out.extend_from_slice(&f.to_be_bytes());
}

fn len32(what: &'static str, len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })
}

/// `BINUNICODE` for a string known to be short.
fn write_str_unchecked(s: &str, out: &mut Vec<u8>) {
    out.push(b'X');
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_str(s: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.push(b'X');
    out.extend_from_slice(&len32("string", s.len())?.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn write_value(value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), EncodeError> {
    match value {
        Value::None => out.push(b'N'),
        Value::Bool(true) => out.push(0x88),
        Value::Bool(false) => out.push(0x89),
        Value::Int(i) => write_int(*i, out),
        Value::BigInt(b) => {
            let bytes = b.as_le_twos_complement();
            match u8::try_from(bytes.len()) {
                Ok(n) => out.extend_from_slice(&[0x8a, n]),
                Err(_) => {
                    out.push(0x8b);
                    let n = i32::try_from(bytes.len())
                        .map_err(|_| EncodeError::TooLong { what: "integer", len: bytes.len() })?;
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
            out.extend_from_slice(bytes);
        }
        Value::Float(f) => write_float(*f, out),
        Value::Str(s) => write_str(s, out)?,
        Value::Bytes(b) => {
            out.push(b'B');
            out.extend_from_slice(&len32("bytes", b.len())?.to_le_bytes());
            out.extend_from_slice(b);
        }
        Value::List(items) => {
            let depth = deeper(depth)?;
            out.push(b']');
            for chunk in items.chunks(BATCH) {
                out.push(b'(');
                for item in chunk {
                    write_value(item, out, depth)?;
                }
                out.push(b'e');
            }
        }
        Value::Tuple(items) => {
            let depth = deeper(depth)?;
            match items.len() {
                0 => out.push(b')'),
                1..=3 => {
                    for item in items {
                        write_value(item, out, depth)?;
                    }
                    out.push(0x84 + items.len() as u8); // TUPLE1..TUPLE3
                }
                _ => {
                    out.push(b'(');
                    for item in items {
                        write_value(item, out, depth)?;
                    }
                    out.push(b't');
                }
            }
        }
        Value::Dict(pairs) => {
            let depth = deeper(depth)?;
            out.push(b'}');
            for chunk in pairs.chunks(BATCH) {
                out.push(b'(');
                for (k, v) in chunk {
                    write_value(k, out, depth)?;
                    write_value(v, out, depth)?;
                }
                out.push(b'u');
            }
        }
    }
    Ok(())
}

fn deeper(depth: usize) -> Result<usize, EncodeError> {
    if depth >= MAX_ENCODE_DEPTH {
        Err(EncodeError::TooDeep { max: MAX_ENCODE_DEPTH })
    } else {
        Ok(depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::{decode, Limits};
    use proptest::prelude::*;
    use std::sync::Arc;

    /// Equality that treats NaN as equal to NaN (by bits), so float round trips can be checked exactly.
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (Value::Dict(x), Value::Dict(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
            }
            _ => a == b,
        }
    }

    fn encoded(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out).unwrap();
        out
    }

    #[test]
    fn datapoints_response_has_carbons_shape() {
        // Python's own bytes differ (memo, batching); tests/pickle_diff.rs checks what pickle.loads makes of ours.
        let out = encode_datapoints(&[(1_700_000_000, 1.5), (60, -2.0)]);
        let v = decode(&out, &Limits::default()).unwrap();
        let want = Value::Dict(vec![(
            Value::str("datapoints"),
            Value::List(vec![
                Value::Tuple(vec![Value::Int(1_700_000_000), Value::Float(1.5)]),
                Value::Tuple(vec![Value::Int(60), Value::Float(-2.0)]),
            ]),
        )]);
        assert_eq!(v, want);
        assert_eq!(encode_datapoints(&[]), b"\x80\x02}X\x0a\x00\x00\x00datapoints]s.".to_vec());
    }

    #[test]
    fn bulk_response_decodes_to_nested_dicts() {
        let a = [(10, 1.0)];
        let out = encode_datapoints_by_metric([("a.b", &a[..]), ("c", &[][..])]).unwrap();
        let v = decode(&out, &Limits::default()).unwrap();
        let inner = v.get("datapointsByMetric").unwrap();
        assert_eq!(inner.get("a.b"), Some(&Value::List(vec![Value::Tuple(vec![Value::Int(10), Value::Float(1.0)])])));
        assert_eq!(inner.get("c"), Some(&Value::List(vec![])));
    }

    #[test]
    fn ints_use_the_smallest_opcode() {
        assert_eq!(encoded(&Value::Int(5)), b"\x80\x02K\x05.");
        assert_eq!(encoded(&Value::Int(300)), b"\x80\x02M\x2c\x01.");
        assert_eq!(encoded(&Value::Int(-1)), b"\x80\x02J\xff\xff\xff\xff.");
        assert_eq!(encoded(&Value::Int(1 << 40)), b"\x80\x02\x8a\x06\x00\x00\x00\x00\x00\x01.");
    }

    #[test]
    fn over_deep_values_are_refused_not_overflowed() {
        let mut v = Value::None;
        for _ in 0..=MAX_ENCODE_DEPTH {
            v = Value::List(vec![v]);
        }
        let mut out = Vec::new();
        assert_eq!(encode(&v, &mut out), Err(EncodeError::TooDeep { max: MAX_ENCODE_DEPTH }));
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::None),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 9..40).prop_map(|b| {
                let big = BigInt::from_le_twos_complement(&b);
                match big.to_i64() {
                    Some(i) => Value::Int(i),
                    None => Value::BigInt(big),
                }
            }),
            any::<f64>().prop_map(Value::Float),
            ".{0,20}".prop_map(|s| Value::str(&s)),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Value::Bytes(Arc::from(b))),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Tuple),
                proptest::collection::vec((".{0,8}".prop_map(|s| Value::str(&s)), inner), 0..6).prop_map(Value::Dict),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_then_decode_gives_the_value_back(v in value()) {
            let out = encoded(&v);
            let back = decode(&out, &Limits::default()).unwrap();
            prop_assert!(same(&v, &back), "{v:?} came back as {back:?}");
        }

        #[test]
        fn datapoints_round_trip(points in proptest::collection::vec((any::<i64>(), any::<f64>()), 0..2100)) {
            let back = decode(&encode_datapoints(&points), &Limits::default()).unwrap();
            let got = back.get("datapoints").and_then(Value::as_items).unwrap();
            prop_assert_eq!(got.len(), points.len());
            for (g, &(t, v)) in got.iter().zip(&points) {
                prop_assert!(same(g, &Value::Tuple(vec![Value::Int(t), Value::Float(v)])));
            }
        }
    }
}
