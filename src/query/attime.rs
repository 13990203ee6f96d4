//! graphite's `from=` / `until=` values: epoch seconds, `now`, and offsets from now (`-1h`, `-10min`, `-2d`,
//! `-1h30min`, `+5s`), parsed as graphite-web's `parseATTime` does. Absolute dates (`HH:MM_YYYYMMDD`,
//! `midnight`, `yesterday`, …) are not supported and are refused with an error, never guessed.
//!
//! Owns: turning one parameter into Unix seconds. Never touches: clocks (the caller passes `now`).

use thiserror::Error;

/// A time parameter that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid time '{value}': {reason}")]
pub struct TimeError {
    /// The parameter as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Unix seconds for `s` relative to `now` (Unix seconds). Errors: [`TimeError`].
pub fn parse(s: &str, now: i64) -> Result<i64, TimeError> {
    let err = |reason| TimeError { value: s.to_string(), reason };
    let t: String = s.trim().to_lowercase().chars().filter(|c| !matches!(c, '_' | ',' | ' ')).collect();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().map_err(|_| err("epoch seconds out of range"));
    }
    let (reference, offset) = match t.find(['+', '-']) {
        Some(i) => t.split_at(i),
        None => (t.as_str(), ""),
    };
    if !(reference.is_empty() || reference == "now") {
        return Err(err("only epoch seconds, 'now' and offsets like -1h are supported"));
    }
    Ok(now.saturating_add(parse_offset(offset).ok_or_else(|| err("bad offset (units: s, min, h, d, w, mon, y)"))?))
}

/// Seconds of an offset such as `-1h30min` (sign first, then number+unit pairs); `Some(0)` for `""`.
fn parse_offset(offset: &str) -> Option<i64> {
    let (sign, mut rest) = match offset.as_bytes().first() {
        None => return Some(0),
        Some(b'+') => (1, &offset[1..]),
        Some(b'-') => (-1, &offset[1..]),
        Some(_) => (1, offset),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let num: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let secs: i64 = if unit.starts_with('s') {
            1
        } else if unit.starts_with("min") {
            60
        } else if unit.starts_with('h') {
            3600
        } else if unit.starts_with('d') {
            86_400
        } else if unit.starts_with('w') {
            7 * 86_400
        } else if unit.starts_with("mon") {
            30 * 86_400
        } else if unit.starts_with('y') {
            365 * 86_400
        } else {
            return None;
        };
        total = total.checked_add(num.checked_mul(secs)?)?;
    }
    total.checked_mul(sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn epoch_seconds_and_now_are_absolute() {
        assert_eq!(parse("1699990000", NOW), Ok(1_699_990_000));
        assert_eq!(parse("now", NOW), Ok(NOW));
        assert_eq!(parse(" NOW ", NOW), Ok(NOW));
    }

    #[test]
    fn relative_offsets_use_graphite_units() {
        assert_eq!(parse("-1h", NOW), Ok(NOW - 3600));
        assert_eq!(parse("-10min", NOW), Ok(NOW - 600));
        assert_eq!(parse("-2d", NOW), Ok(NOW - 2 * 86_400));
        assert_eq!(parse("-1h30min", NOW), Ok(NOW - 5400));
        assert_eq!(parse("now-5s", NOW), Ok(NOW - 5));
        assert_eq!(parse("+1w", NOW), Ok(NOW + 7 * 86_400));
        assert_eq!(parse("-1mon", NOW), Ok(NOW - 30 * 86_400));
        assert_eq!(parse("-1y", NOW), Ok(NOW - 365 * 86_400));
        assert_eq!(parse("-3minutes", NOW), Ok(NOW - 180));
    }

    #[test]
    fn unsupported_or_malformed_times_are_errors() {
        for bad in ["-1m", "-", "-h", "yesterday", "12:00_20240101", "-99999999999999999999d", "-1x"] {
            assert!(parse(bad, NOW).is_err(), "{bad}");
        }
    }
}
