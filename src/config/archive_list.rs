//! The validity rules of a whisper archive list (whisper's `validateArchiveList`, see
//! <https://graphite.readthedocs.io/en/latest/whisper.html>), checked when a schema is loaded so that a bad
//! storage-schemas.conf is refused at start rather than at the first create.

use crate::whisper::ArchiveSpec;

/// Check an archive list, already sorted by precision (the reference sorts it before checking; so does
/// [`super::schemas::StorageSchemas`]).
///
/// Rules: at least one archive; every archive has at least one point; precisions strictly ascending (no
/// duplicates, sorted); each precision divides the next; each next archive covers strictly more time
/// (`seconds_per_point * points`); each archive has at least `next.seconds_per_point / this.seconds_per_point`
/// points; and no archive covers more than `u32::MAX` seconds (the header's max_retention is a u32).
/// The error says which archives break which rule, e.g. `archive 0 (10s x 6) ...`.
pub fn validate_archive_list(archives: &[ArchiveSpec]) -> Result<(), String> {
    let show = |i: usize, a: &ArchiveSpec| format!("archive {i} ({}s x {})", a.seconds_per_point, a.points);
    if archives.is_empty() {
        return Err("at least one archive is required".into());
    }
    for (i, a) in archives.iter().enumerate() {
        if a.points == 0 {
            return Err(format!("{} has no points", show(i, a)));
        }
        if u64::from(a.seconds_per_point) * u64::from(a.points) > u64::from(u32::MAX) {
            return Err(format!("{} covers more than {} seconds", show(i, a), u32::MAX));
        }
    }
    for (i, pair) in archives.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let (sa, sb) = (show(i, a), show(i + 1, b));
        if a.seconds_per_point == b.seconds_per_point {
            return Err(format!("{sa} and {sb} have the same precision"));
        }
        if a.seconds_per_point > b.seconds_per_point {
            return Err(format!("{sa} and {sb} are not sorted by precision"));
        }
        if b.seconds_per_point % a.seconds_per_point != 0 {
            return Err(format!(
                "{sa} precision does not divide {sb} precision ({} % {} != 0)",
                b.seconds_per_point, a.seconds_per_point
            ));
        }
        let (ra, rb) = (
            u64::from(a.seconds_per_point) * u64::from(a.points),
            u64::from(b.seconds_per_point) * u64::from(b.points),
        );
        if rb <= ra {
            return Err(format!("{sb} must cover more time than {sa} ({rb}s <= {ra}s)"));
        }
        let per = b.seconds_per_point / a.seconds_per_point;
        if a.points < per {
            return Err(format!("{sa} has fewer points than the {per} that one point of {sb} consolidates"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[(u32, u32)]) -> Vec<ArchiveSpec> {
        v.iter().map(|&(s, p)| ArchiveSpec { seconds_per_point: s, points: p }).collect()
    }

    #[test]
    fn reference_style_lists_are_valid() {
        for v in [
            &[(60, 10080)][..],
            &[(10, 2160), (60, 10080), (600, 262800)],
            &[(60, 1440), (300, 8640), (3600, 26280)],
            &[(1, 5), (5, 2)],
        ] {
            assert_eq!(validate_archive_list(&list(v)), Ok(()), "{v:?}");
        }
    }

    #[test]
    fn each_rule_is_enforced_with_a_reason() {
        for (v, why) in [
            (&[][..], "at least one"),
            (&[(60, 0)], "no points"),
            (&[(60, 100), (60, 200)], "same precision"),
            (&[(300, 100), (60, 10000)], "not sorted"),
            (&[(180, 1000), (300, 10000)], "does not divide"),
            (&[(60, 1440), (300, 288)], "cover more time"),
            (&[(1, 4), (5, 100)], "fewer points"),
            (&[(86400, 100000)], "more than 4294967295 seconds"),
        ] {
            let e = validate_archive_list(&list(v)).unwrap_err();
            assert!(e.contains(why), "{v:?}: {e}");
        }
    }
}
