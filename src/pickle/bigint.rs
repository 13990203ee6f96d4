//! [`BigInt`]: integers outside `i64`, as `LONG1`/`LONG4` carry them.

use super::MAX_INT_BYTES;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// An arbitrary-size integer as Python's `LONG1`/`LONG4` carry it: little-endian two's complement, minimal length.
/// Only integers outside `i64` become a `BigInt` in a decoded [`Value`](crate::pickle::Value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BigInt {
    le: Box<[u8]>,
}

impl BigInt {
    /// Builds from little-endian two's complement bytes (empty means zero); redundant sign bytes are dropped.
    pub fn from_le_twos_complement(bytes: &[u8]) -> BigInt {
        let mut n = bytes.len();
        while n > 1 {
            let (last, prev) = (bytes[n - 1], bytes[n - 2]);
            if (last == 0x00 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
                n -= 1;
            } else {
                break;
            }
        }
        let le: Box<[u8]> = if n == 0 { Box::new([0]) } else { bytes[..n].into() };
        BigInt { le }
    }

    /// The minimal little-endian two's complement bytes (at least one byte).
    pub fn as_le_twos_complement(&self) -> &[u8] {
        &self.le
    }

    /// True if the integer is below zero.
    pub fn is_negative(&self) -> bool {
        self.le.last().is_some_and(|b| b & 0x80 != 0)
    }

    /// The value as `i64` if it fits.
    pub fn to_i64(&self) -> Option<i64> {
        if self.le.len() > 8 {
            return None;
        }
        let fill = if self.is_negative() { 0xff } else { 0 };
        let mut buf = [fill; 8];
        buf[..self.le.len()].copy_from_slice(&self.le);
        Some(i64::from_le_bytes(buf))
    }

    /// Magnitude as unsigned little-endian bytes.
    fn magnitude(&self) -> Vec<u8> {
        let mut mag = self.le.to_vec();
        if self.is_negative() {
            // Two's complement negation: invert, add one.
            let mut carry = true;
            for b in &mut mag {
                *b = !*b;
                if carry {
                    let (v, c) = b.overflowing_add(1);
                    *b = v;
                    carry = c;
                }
            }
        }
        mag
    }

    /// The nearest `f64` (round half to even, as Python's `float(int)`), or ±infinity when beyond `f64::MAX`
    /// (where Python raises `OverflowError`).
    pub fn to_f64(&self) -> f64 {
        let mag = self.magnitude();
        let sign = if self.is_negative() { -1.0 } else { 1.0 };
        let bits = match mag.iter().rposition(|&b| b != 0) {
            None => return 0.0,
            Some(i) => i * 8 + (8 - mag[i].leading_zeros() as usize),
        };
        let bit = |i: usize| mag[i / 8] >> (i % 8) & 1 == 1;
        if bits <= 64 {
            let mut v = 0u64;
            for i in (0..bits).rev() {
                v = v << 1 | u64::from(bit(i));
            }
            return sign * v as f64;
        }
        let shift = bits - 64;
        if shift > 1023 {
            return sign * f64::INFINITY;
        }
        let mut top = 0u64;
        for i in (shift..bits).rev() {
            top = top << 1 | u64::from(bit(i));
        }
        // A sticky bit far below the 53-bit rounding point keeps "exactly half" ties honest.
        if (0..shift).any(bit) {
            top |= 1;
        }
        sign * (top as f64) * 2f64.powi(shift as i32)
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Magnitude as little-endian u32 limbs, then repeated division by 10^9.
        let mag = self.magnitude();
        let mut limbs: Vec<u32> = mag
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(b)
            })
            .collect();
        let mut groups = Vec::new();
        while limbs.iter().any(|&l| l != 0) {
            let mut rem = 0u64;
            for l in limbs.iter_mut().rev() {
                let cur = rem << 32 | u64::from(*l);
                *l = (cur / 1_000_000_000) as u32;
                rem = cur % 1_000_000_000;
            }
            groups.push(rem as u32);
        }
        if self.is_negative() {
            f.write_str("-")?;
        }
        match groups.split_last() {
            None => f.write_str("0"),
            Some((first, rest)) => {
                write!(f, "{first}")?;
                for g in rest.iter().rev() {
                    write!(f, "{g:09}")?;
                }
                Ok(())
            }
        }
    }
}

/// Error from parsing a decimal integer with [`BigInt::from_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not a decimal integer of at most {MAX_INT_BYTES} bytes")]
pub struct ParseBigIntError;

impl FromStr for BigInt {
    type Err = ParseBigIntError;

    /// Parses `[+-]digits` (no whitespace, no underscores), refusing more than [`MAX_INT_BYTES`] bytes of result.
    fn from_str(s: &str) -> Result<BigInt, ParseBigIntError> {
        let (neg, digits) = match s.as_bytes() {
            [b'-', rest @ ..] => (true, rest),
            [b'+', rest @ ..] => (false, rest),
            rest => (false, rest),
        };
        // Each decimal digit adds < 3.33 bits; this bound keeps the quadratic loop below tiny.
        if digits.is_empty() || digits.len() > MAX_INT_BYTES * 5 / 2 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(ParseBigIntError);
        }
        let mut mag: Vec<u8> = vec![0];
        for &d in digits {
            let mut carry = u32::from(d - b'0');
            for b in &mut mag {
                let v = u32::from(*b) * 10 + carry;
                *b = v as u8;
                carry = v >> 8;
            }
            if carry > 0 {
                mag.push(carry as u8);
            }
        }
        mag.push(0); // sign byte so the magnitude reads as non-negative
        if neg {
            let mut carry = true;
            for b in &mut mag {
                *b = !*b;
                if carry {
                    let (v, c) = b.overflowing_add(1);
                    *b = v;
                    carry = c;
                }
            }
        }
        let n = BigInt::from_le_twos_complement(&mag);
        if n.le.len() > MAX_INT_BYTES {
            return Err(ParseBigIntError);
        }
        Ok(n)
    }
}
