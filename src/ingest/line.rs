//! The carbon line parser, shared by AMQP bodies and the plaintext receivers.
//!
//! A body is split on `\n`; each line is trimmed of ASCII whitespace and skipped when empty. A line is
//! `value timestamp` (the metric is the AMQP routing key) or `metric value timestamp` (name in the body, and the
//! plaintext protocol), fields separated by runs of spaces or tabs — exactly the fields carbon's `line.split()`
//! yields. Values and timestamps parse as floats (integers, decimals, exponents, `inf` is refused); a NaN value is
//! dropped; the timestamp `-1` means "now"; fractional timestamps are truncated; a timestamp must fit whisper's
//! unsigned 32-bit intervals.
//!
//! Owns: turning bytes into `(name span, timestamp, value)`. Allocates nothing per line; names are returned as
//! byte ranges of the input. Never touches: files, sockets, the cache.

use std::ops::Range;

/// Why a line was not turned into a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineError {
    /// Not the expected number of whitespace-separated fields.
    FieldCount,
    /// The value field is not a number.
    BadValue,
    /// The value is infinite (whisper can store it, but it poisons every aggregate: refused).
    InfiniteValue,
    /// The value is NaN: dropped, as carbon does.
    NanValue,
    /// The timestamp field is not a number.
    BadTimestamp,
    /// The timestamp is negative (other than `-1`) or does not fit in u32 seconds.
    TimestampOutOfRange,
}

impl LineError {
    /// A short human description, for the rate-limited bad-input log.
    pub fn reason(self) -> &'static str {
        match self {
            LineError::FieldCount => "wrong number of fields",
            LineError::BadValue => "value is not a number",
            LineError::InfiniteValue => "value is infinite",
            LineError::NanValue => "value is NaN (dropped)",
            LineError::BadTimestamp => "timestamp is not a number",
            LineError::TimestampOutOfRange => "timestamp out of range (0..=4294967295 or -1)",
        }
    }
}

/// One parsed line. `name` is the byte range of the metric name within the parsed buffer; it is empty in
/// routing-key mode (the caller supplies the name).
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedLine {
    pub name: Range<usize>,
    pub timestamp: u32,
    pub value: f64,
}

/// Split `buf` into non-empty trimmed lines, calling `f(line_range)` for each. Ranges index into `buf`.
#[inline]
pub fn for_each_line(buf: &[u8], mut f: impl FnMut(Range<usize>)) {
    let mut start = 0;
    while start < buf.len() {
        let end = match memchr_newline(&buf[start..]) {
            Some(i) => start + i,
            None => buf.len(),
        };
        let line = trim(buf, start..end);
        if !line.is_empty() {
            f(line);
        }
        start = end + 1;
    }
}

/// `range` of `buf` without its leading and trailing whitespace (Python's `strip()` within ASCII).
#[inline]
pub fn trim(buf: &[u8], range: Range<usize>) -> Range<usize> {
    let (mut s, mut e) = (range.start, range.end);
    while s < e && is_space(buf[s]) {
        s += 1;
    }
    while e > s && is_space(buf[e - 1]) {
        e -= 1;
    }
    s..e
}

#[inline]
fn memchr_newline(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
}

/// Python's `str.strip()`/`split()` whitespace within ASCII: space, \t, \n, \r, \x0b, \x0c.
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Next whitespace-separated field of `line` starting at `*pos`, as a range of `line`.
#[inline]
fn next_field(line: &[u8], pos: &mut usize) -> Option<Range<usize>> {
    let mut s = *pos;
    while s < line.len() && is_space(line[s]) {
        s += 1;
    }
    if s == line.len() {
        *pos = s;
        return None;
    }
    let mut e = s;
    while e < line.len() && !is_space(line[e]) {
        e += 1;
    }
    *pos = e;
    Some(s..e)
}

/// Parse one trimmed line. `name_in_line` selects the 3-field form. `now` replaces the timestamp `-1`.
/// The returned name range is relative to `line`.
#[inline]
pub fn parse_line(line: &[u8], name_in_line: bool, now: u32) -> Result<ParsedLine, LineError> {
    let mut pos = 0;
    let name = if name_in_line { next_field(line, &mut pos).ok_or(LineError::FieldCount)? } else { 0..0 };
    let v = next_field(line, &mut pos).ok_or(LineError::FieldCount)?;
    let t = next_field(line, &mut pos).ok_or(LineError::FieldCount)?;
    if next_field(line, &mut pos).is_some() {
        return Err(LineError::FieldCount);
    }
    let value = parse_f64(&line[v]).ok_or(LineError::BadValue)?;
    let timestamp = parse_timestamp(&line[t], now)?;
    if value.is_nan() {
        return Err(LineError::NanValue);
    }
    if value.is_infinite() {
        return Err(LineError::InfiniteValue);
    }
    Ok(ParsedLine { name, timestamp, value })
}

/// The parser's fast path for the tail of a line as collectors send it: `value timestamp` where the value is
/// an optional `-`, then 1 to 15 digits with at most one `.` among them, one space, and the timestamp 1 to 10
/// digits within `u32`, followed by `\n` or the end of `buf`. Returns the point and the bytes consumed (the
/// `\n` excluded); `None` for anything else, which the caller then parses with [`parse_line`]. Where it answers,
/// it answers as [`parse_line`] does on that line (same Clinger fast path as [`parse_f64`], so bit-identical).
#[inline]
pub fn fast_value_timestamp(buf: &[u8]) -> Option<(f64, u32, usize)> {
    let neg = buf.first() == Some(&b'-');
    let mut i = usize::from(neg);
    let mut mantissa: u64 = 0;
    let mut ndigits = 0usize;
    let mut dot = None;
    loop {
        let c = *buf.get(i)?;
        match c {
            b'0'..=b'9' => {
                // Invariant: at most 15 digits are accumulated (checked before the next one), so no overflow.
                if ndigits == 15 {
                    return None;
                }
                mantissa = mantissa * 10 + u64::from(c - b'0');
                ndigits += 1;
            }
            b'.' if dot.is_none() => dot = Some(ndigits),
            b' ' => break,
            _ => return None,
        }
        i += 1;
    }
    if ndigits == 0 {
        return None;
    }
    let v = match dot {
        Some(int_digits) if int_digits < ndigits => mantissa as f64 / POW10[ndigits - int_digits],
        _ => mantissa as f64,
    };
    let value = if neg { -v } else { v };
    i += 1;
    let t_start = i;
    // The timestamp every collector sends today: ten digits, then the line's end.
    if let Some(&[.., b'\n']) = buf.get(t_start..t_start + 11) {
        if let Some(t) = ten_digits(&buf[t_start..t_start + 10]) {
            return Some((value, u32::try_from(t).ok()?, t_start + 10));
        }
    }
    let mut t: u64 = 0;
    while let Some(&c) = buf.get(i) {
        match c {
            b'0'..=b'9' if i - t_start < 10 => t = t * 10 + u64::from(c - b'0'),
            b'\n' => break,
            _ => return None,
        }
        i += 1;
    }
    if i == t_start {
        return None;
    }
    Some((value, u32::try_from(t).ok()?, i))
}

/// The number ten ASCII digits spell; `None` if any byte is not a digit. The first eight are checked and
/// combined at once in one `u64` (first byte most significant), the last two by hand: parsing routing-key
/// bodies went 9-14 % faster than with the byte loop alone (tuning/README.md "An eighth VM").
#[inline]
fn ten_digits(b: &[u8]) -> Option<u64> {
    let (eight, two) = b.split_first_chunk::<8>()?;
    let x = u64::from_le_bytes(*eight);
    // Each byte 0x30..=0x39: its high nibble is 3, and still 3 with 6 added (a carry out of a byte happens only
    // from 0xFA up, whose own high nibble fails the first test).
    let high = x & 0xF0F0_F0F0_F0F0_F0F0;
    let high_plus_6 = x.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0;
    if (high | (high_plus_6 >> 4)) != 0x3333_3333_3333_3333 {
        return None;
    }
    // Pairs, then fours, then the eight: each step multiplies the more significant (lower-addressed) half by
    // its weight and adds the other, in place.
    let x = (x & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul((10 << 8) | 1) >> 8;
    let x = (x & 0x00FF_00FF_00FF_00FF).wrapping_mul((100 << 16) | 1) >> 16;
    let x = (x & 0x0000_FFFF_0000_FFFF).wrapping_mul((10_000 << 32) | 1) >> 32;
    let [d8, d9] = *two else { return None };
    if !d8.is_ascii_digit() || !d9.is_ascii_digit() {
        return None;
    }
    Some(x * 100 + u64::from(d8 - b'0') * 10 + u64::from(d9 - b'0'))
}

/// Parse a timestamp as carbon does (`float()` then `int()`), with `-1` meaning `now`.
#[inline]
pub fn parse_timestamp(field: &[u8], now: u32) -> Result<u32, LineError> {
    // Fast path: plain unsigned integer seconds (what every collector sends).
    if field.len() <= 10 && !field.is_empty() && field.iter().all(u8::is_ascii_digit) {
        let mut n: u64 = 0;
        for &d in field {
            n = n * 10 + u64::from(d - b'0');
        }
        return u32::try_from(n).map_err(|_| LineError::TimestampOutOfRange);
    }
    let t = parse_f64(field).ok_or(LineError::BadTimestamp)?;
    if t == -1.0 {
        return Ok(now);
    }
    if !t.is_finite() {
        return Err(LineError::BadTimestamp);
    }
    let t = t.trunc();
    if !(0.0..=u32::MAX as f64).contains(&t) {
        return Err(LineError::TimestampOutOfRange);
    }
    Ok(t as u32)
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Parse a float the way Python's `float()` does for the forms collectors send.
///
/// Fast path (Clinger): an optional sign, up to 15 significant digits and an optional fraction, no exponent.
/// The mantissa is an exact integer below 2^53 and 10^k (k <= 22) is exact, so one IEEE division is correctly
/// rounded — bit-identical to the slow path. Everything else (exponents, `inf`, long mantissas) goes to
/// `str::parse::<f64>`, which is also correctly rounded.
#[inline]
pub fn parse_f64(field: &[u8]) -> Option<f64> {
    let (neg, digits) = match field.first() {
        Some(b'-') => (true, &field[1..]),
        Some(b'+') => (false, &field[1..]),
        _ => (false, field),
    };
    let mut mantissa: u64 = 0;
    let mut ndigits = 0usize;
    let mut frac_digits = 0usize;
    let mut seen_dot = false;
    let mut fast = !digits.is_empty() && digits.len() <= 16;
    if fast {
        for &c in digits {
            match c {
                b'0'..=b'9' => {
                    mantissa = mantissa * 10 + u64::from(c - b'0');
                    ndigits += 1;
                    if seen_dot {
                        frac_digits += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => {
                    fast = false;
                    break;
                }
            }
        }
    }
    if fast && ndigits > 0 && ndigits <= 15 {
        // Integers skip the division (its latency dominates this path).
        let v = if frac_digits == 0 { mantissa as f64 } else { mantissa as f64 / POW10[frac_digits] };
        return Some(if neg { -v } else { v });
    }
    slow_parse(field)
}

#[cold]
fn slow_parse(field: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(field).ok()?;
    // Python accepts digit-group underscores ("1_000"); Rust does not. Collectors never send them, and
    // accepting them would need an allocation here, so they are refused as bad values.
    let v: f64 = s.parse().ok()?;
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buf: &[u8]) -> Vec<&[u8]> {
        let mut v = Vec::new();
        for_each_line(buf, |r| v.push(&buf[r]));
        v
    }

    #[test]
    fn lines_are_split_trimmed_and_empty_ones_skipped() {
        assert_eq!(lines(b"1 2\n\n  3 4 \r\n\t\n5 6"), vec![&b"1 2"[..], &b"3 4"[..], &b"5 6"[..]]);
        assert!(lines(b"").is_empty());
        assert!(lines(b"\n\n \n").is_empty());
    }

    #[test]
    fn routing_key_lines_have_value_then_timestamp() {
        let p = parse_line(b"42.5 1700000000", false, 0).unwrap();
        assert_eq!((p.value, p.timestamp, p.name), (42.5, 1700000000, 0..0));
        assert_eq!(parse_line(b"a.b 1 2", false, 0), Err(LineError::FieldCount));
        assert_eq!(parse_line(b"1", false, 0), Err(LineError::FieldCount));
    }

    #[test]
    fn name_in_body_lines_have_three_fields_separated_by_any_whitespace() {
        let line = b"servers.web01.cpu  \t -3e2 1700000000.9";
        let p = parse_line(line, true, 0).unwrap();
        assert_eq!(&line[p.name.clone()], b"servers.web01.cpu");
        assert_eq!((p.value, p.timestamp), (-300.0, 1700000000));
        assert_eq!(parse_line(b"a 1 2 3", true, 0), Err(LineError::FieldCount));
    }

    #[test]
    fn minus_one_means_now_and_out_of_range_timestamps_are_refused() {
        assert_eq!(parse_line(b"1 -1", false, 77).unwrap().timestamp, 77);
        assert_eq!(parse_line(b"1 -1.0", false, 77).unwrap().timestamp, 77);
        assert_eq!(parse_line(b"1 -5", false, 7), Err(LineError::TimestampOutOfRange));
        assert_eq!(parse_line(b"1 4294967296", false, 7), Err(LineError::TimestampOutOfRange));
        assert_eq!(parse_line(b"1 4294967295", false, 7).unwrap().timestamp, u32::MAX);
        assert_eq!(parse_line(b"1 1e30", false, 7), Err(LineError::TimestampOutOfRange));
        assert_eq!(parse_line(b"1 abc", false, 7), Err(LineError::BadTimestamp));
        assert_eq!(parse_line(b"1 nan", false, 7), Err(LineError::BadTimestamp));
    }

    #[test]
    fn nan_is_dropped_and_inf_refused() {
        assert_eq!(parse_line(b"nan 10", false, 0), Err(LineError::NanValue));
        assert_eq!(parse_line(b"NaN 10", false, 0), Err(LineError::NanValue));
        assert_eq!(parse_line(b"inf 10", false, 0), Err(LineError::InfiniteValue));
        assert_eq!(parse_line(b"-1e400 10", false, 0), Err(LineError::InfiniteValue));
        assert_eq!(parse_line(b"x 10", false, 0), Err(LineError::BadValue));
        assert_eq!(parse_line(b"1.2.3 10", false, 0), Err(LineError::BadValue));
        assert_eq!(parse_line(b"- 10", false, 0), Err(LineError::BadValue));
        assert_eq!(parse_line(b". 10", false, 0), Err(LineError::BadValue));
    }

    #[test]
    fn ten_digits_read_as_the_number_they_spell() {
        for s in ["0000000000", "1700000000", "4294967295", "9999999999", "0123456789", "9876543210"] {
            assert_eq!(ten_digits(s.as_bytes()), s.parse().ok(), "{s}");
        }
        // A byte not a digit, among the eight or the last two: ':' and '/' sit next to the digits.
        for bad in ["170000000:", "/700000000", "17000 0000", "12345678.9", "123456789:", "12345678:9"] {
            assert_eq!(ten_digits(bad.as_bytes()), None, "{bad}");
        }
        // 0xFA and above carry out of their byte when 6 is added: still refused, wherever they are.
        for at in 0..10 {
            for byte in [0xFA, 0xFF, b'9' + 1, b'0' - 1] {
                let mut b = *b"1700000000";
                b[at] = byte;
                assert_eq!(ten_digits(&b), None, "{byte:#x} at {at}");
            }
        }
        assert_eq!(ten_digits(b"123456789"), None, "nine bytes");
    }

    /// Where the ten-digit path answers, the byte loop it stands in front of answers the same.
    #[test]
    fn the_ten_digit_timestamp_path_agrees_with_the_byte_loop() {
        for t in [0u64, 1, 999_999_999, 1_000_000_000, 1_700_000_000, 4_294_967_295, 4_294_967_296, 9_999_999_999] {
            let line = format!("12.5 {t:010}\n");
            let loop_answer = {
                let digits = &line.as_bytes()[5..15];
                digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))
            };
            let got = fast_value_timestamp(line.as_bytes());
            assert_eq!(got, u32::try_from(loop_answer).ok().map(|t| (12.5, t, 15)), "{line:?}");
            let p = parse_line(&line.as_bytes()[..15], false, 0);
            assert_eq!(got.map(|g| g.1), p.ok().map(|p| p.timestamp), "{line:?}");
        }
    }

    #[test]
    fn fast_float_path_agrees_with_std() {
        for s in [
            "0",
            "1",
            "-1",
            "+7",
            "0.1",
            "123.456",
            "-0.000001",
            "999999999999999",
            "1234567.89012345",
            "12345678901234567890",
            ".5",
            "5.",
            "1e3",
            "-2.5E-3",
            "0.30000000000000004",
        ] {
            let ours = parse_f64(s.as_bytes()).unwrap();
            let std: f64 = s.parse().unwrap();
            assert_eq!(ours.to_bits(), std.to_bits(), "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn formatted_points_parse_back(ts in 0u32.., v in -1e12f64..1e12, name_in in proptest::bool::ANY) {
            let line = if name_in { format!("a.b {v} {ts}") } else { format!("{v} {ts}") };
            let p = parse_line(line.as_bytes(), name_in, 0).unwrap();
            proptest::prop_assert_eq!(p.timestamp, ts);
            proptest::prop_assert_eq!(p.value.to_bits(), v.to_bits());
        }

        #[test]
        fn fast_path_is_bit_identical_to_std(int in 0u64..1_000_000_000_000_000, scale in 0u32..18, neg in proptest::bool::ANY) {
            let digits = int.to_string();
            let s = if (scale as usize) < digits.len() {
                let (a, b) = digits.split_at(digits.len() - scale as usize);
                format!("{}{a}.{b}", if neg { "-" } else { "" })
            } else {
                format!("{}{digits}", if neg { "-" } else { "" })
            };
            let std: f64 = s.parse().unwrap();
            proptest::prop_assert_eq!(parse_f64(s.as_bytes()).unwrap().to_bits(), std.to_bits(), "{}", s);
        }
    }
}
