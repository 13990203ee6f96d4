//! Retention definitions (`10s:6h,1m:7d`), parsed exactly as the reference's `parseRetentionDef`.

use super::ConfigError;
use crate::whisper::ArchiveSpec;

const UNITS: [(&str, u64); 6] =
    [("seconds", 1), ("minutes", 60), ("hours", 3600), ("days", 86400), ("weeks", 604800), ("years", 31536000)];

/// Seconds in the unit named by `s`, which may be any non-empty prefix of a unit name (`m` is minutes).
fn unit_seconds(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    UNITS.iter().find(|(name, _)| name.starts_with(s)).map(|&(_, secs)| secs)
}

/// Splits `123abc` into (123, "abc"); the number must be non-empty ASCII digits and the unit lowercase letters.
fn number_and_unit(s: &str) -> Option<(u64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (num, unit) = s.split_at(digits);
    if !unit.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    // More digits than u64 holds is an error, not a panic.
    Some((num.parse().ok()?, unit))
}

/// Parse one `precision:duration` pair. Precision is seconds or `N<unit>`; duration is a number of points or
/// `N<unit>` (converted to points by integer division by the precision).
pub fn parse_retention_def(def: &str) -> Result<ArchiveSpec, ConfigError> {
    let err = |reason: String| ConfigError::Retention { def: def.to_string(), reason };
    let (precision, duration) = def.trim().split_once(':').ok_or_else(|| err("expected precision:duration".into()))?;
    let precision = match number_and_unit(precision) {
        Some((n, "")) => n,
        Some((n, unit)) => n
            .checked_mul(unit_seconds(unit).ok_or_else(|| err(format!("unknown unit '{unit}'")))?)
            .ok_or_else(|| err(format!("precision '{precision}' is too large")))?,
        None => return Err(err(format!("invalid precision '{precision}'"))),
    };
    if precision == 0 {
        return Err(err("precision must be at least 1 second".into()));
    }
    let points = match number_and_unit(duration) {
        Some((n, "")) => n,
        Some((n, unit)) => {
            n.checked_mul(unit_seconds(unit).ok_or_else(|| err(format!("unknown unit '{unit}'")))?)
                .ok_or_else(|| err(format!("duration '{duration}' is too large")))?
                / precision
        }
        None => return Err(err(format!("invalid duration '{duration}'"))),
    };
    let to_u32 = |v: u64, what: &str| u32::try_from(v).map_err(|_| err(format!("{what} {v} is too large")));
    Ok(ArchiveSpec { seconds_per_point: to_u32(precision, "precision")?, points: to_u32(points, "point count")? })
}

/// Parse a comma-separated list of retention definitions, in the order written (not validated: see
/// [`crate::config::validate_archive_list`] for the archive-list rules).
pub fn parse_retentions(defs: &str) -> Result<Vec<ArchiveSpec>, ConfigError> {
    defs.split(',').map(str::trim).filter(|d| !d.is_empty()).map(parse_retention_def).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: u32, p: u32) -> ArchiveSpec {
        ArchiveSpec { seconds_per_point: s, points: p }
    }

    #[test]
    fn units_may_be_any_prefix() {
        assert_eq!(parse_retention_def("10s:6h").unwrap(), spec(10, 2160));
        assert_eq!(parse_retention_def("1m:7d").unwrap(), spec(60, 10080));
        assert_eq!(parse_retention_def("1min:1w").unwrap(), spec(60, 10080));
        assert_eq!(parse_retention_def("10minutes:5years").unwrap(), spec(600, 262800));
        assert_eq!(parse_retention_def("60:1440").unwrap(), spec(60, 1440));
        assert_eq!(parse_retention_def("1h:30").unwrap(), spec(3600, 30));
    }

    #[test]
    fn bad_definitions_name_the_offending_text() {
        let e = parse_retention_def("10x:1d").unwrap_err().to_string();
        assert!(e.contains("10x:1d") && e.contains("unknown unit 'x'"), "{e}");
        assert!(parse_retention_def("10s").is_err());
        assert!(parse_retention_def("s:1d").is_err());
        assert!(parse_retention_def("10S:1d").is_err());
        assert!(parse_retention_def("0:1d").is_err());
        assert!(parse_retention_def("99999999999999999999s:1d").is_err());
        assert!(parse_retention_def("10s:9999999999999999y").is_err());
        assert!(parse_retention_def("9999999999999y:1").is_err());
    }

    #[test]
    fn a_list_keeps_its_order() {
        let v = parse_retentions("10s:6h, 1m:7d,10m:5y").unwrap();
        assert_eq!(v, vec![spec(10, 2160), spec(60, 10080), spec(600, 262800)]);
    }

    /// Huge numbers times a unit must be a configuration error, never an arithmetic-overflow panic.
    #[test]
    fn huge_retentions_are_errors_not_panics() {
        for def in ["18446744073709551615y:1", "1s:18446744073709551615y", "99999999999999999999:1"] {
            assert!(parse_retention_def(def).is_err(), "{def}");
        }
    }
}
