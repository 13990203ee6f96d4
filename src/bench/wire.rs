//! A load as the bytes a carbon socket receiver reads: plaintext lines (TCP 2003) or pickle frames (TCP 2004).
//!
//! Both carry the points in the load's point-major order (every metric's first point, then every metric's
//! second, …: rounds of every metric, as collectors report), with the values of [`super::load::value_of`], so
//! [`super::verify`] can check every slot afterwards.
//!
//! Owns: the encoding of a load for the socket protocols. Never touches: sockets, files.

use super::load::{value_of, Load};
use crate::pickle::{encode, EncodeError, Value};
use std::fmt::Write as _;

/// Which carbon socket protocol a load is sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `metric value timestamp\n` lines (carbon's line receiver, TCP 2003).
    Plaintext,
    /// 4-byte big-endian length + pickled list of `(metric, (timestamp, value))` (carbon's pickle receiver,
    /// TCP 2004), `per_msg` points per frame.
    Pickle,
}

impl Protocol {
    /// The scenario name of the protocol.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Plaintext => "plaintext",
            Protocol::Pickle => "pickle",
        }
    }
}

/// (metric, point) of the `i`-th point of the point-major stream.
fn nth(load: &Load, i: u64) -> (u32, u32) {
    let m = u64::from(load.metrics.max(1));
    ((i % m) as u32, (i / m) as u32)
}

/// Every point of `load` as plaintext lines.
pub fn plaintext(load: &Load) -> Vec<u8> {
    let mut out = String::with_capacity(load.total_points() as usize * 48);
    for i in 0..load.total_points() {
        let (m, p) = nth(load, i);
        load.write_name(m, &mut out);
        // Invariant: writing to a String cannot fail.
        writeln!(out, " {} {}", value_of(m, p), load.timestamp_of(p)).expect("fmt to String");
    }
    out.into_bytes()
}

/// Every point of `load` as pickle frames of `load.per_msg` points (the last may be shorter).
pub fn pickle(load: &Load) -> Result<Vec<u8>, EncodeError> {
    let total = load.total_points();
    let per = u64::from(load.per_msg.max(1));
    let mut out = Vec::with_capacity(total as usize * 48);
    let mut name = String::new();
    let mut first = 0;
    while first < total {
        let items = (first..(first + per).min(total))
            .map(|i| {
                let (m, p) = nth(load, i);
                name.clear();
                load.write_name(m, &mut name);
                let point =
                    Value::Tuple(vec![Value::Int(i64::from(load.timestamp_of(p))), Value::Float(value_of(m, p))]);
                Value::Tuple(vec![Value::str(&name), point])
            })
            .collect();
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        encode(&Value::List(items), &mut out)?;
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        first += per;
    }
    Ok(out)
}

/// The load's bytes for `protocol`.
pub fn payload(load: &Load, protocol: Protocol) -> Result<Vec<u8>, EncodeError> {
    match protocol {
        Protocol::Plaintext => Ok(plaintext(load)),
        Protocol::Pickle => pickle(load),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::{decode_points, read_frame_len, Limits};

    fn load() -> Load {
        Load::ending_at("t", 3, 4, 5, 60, 1_700_000_000, true)
    }

    fn expected(load: &Load) -> Vec<(String, f64, i64)> {
        (0..load.points)
            .flat_map(|p| (0..load.metrics).map(move |m| (m, p)))
            .map(|(m, p)| (load.name(m), value_of(m, p), i64::from(load.timestamp_of(p))))
            .collect()
    }

    #[test]
    fn plaintext_lines_are_point_major_with_the_loads_values() {
        let l = load();
        let text = String::from_utf8(plaintext(&l)).unwrap();
        let got: Vec<(String, f64, i64)> = text
            .lines()
            .map(|line| {
                let f: Vec<&str> = line.split(' ').collect();
                (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap())
            })
            .collect();
        assert_eq!(got, expected(&l));
    }

    #[test]
    fn pickle_frames_decode_to_the_same_points() {
        let l = load();
        let bytes = pickle(&l).unwrap();
        let (mut at, mut frames, mut got) = (0, 0, Vec::new());
        while at < bytes.len() {
            let len = read_frame_len(bytes[at..at + 4].try_into().unwrap()) as usize;
            let frame = &bytes[at + 4..at + 4 + len];
            let mut sink =
                |name: &[u8], ts: f64, v: f64| got.push((String::from_utf8(name.to_vec()).unwrap(), v, ts as i64));
            let mut on_bad = |i: usize, why: &str| panic!("entry {i}: {why}");
            decode_points(frame, &Limits::default(), &mut sink, &mut on_bad).unwrap();
            at += 4 + len;
            frames += 1;
        }
        assert_eq!(frames, 3, "12 points in frames of 5: 5 + 5 + 2");
        assert_eq!(got, expected(&l));
    }
}
