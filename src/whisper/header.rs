//! The header: metadata + archive infos, its byte encoding, and the archive-list rules.

use super::{AggregationMethod, WhisperError};

/// Size of the metadata block (aggregation, max retention, xff, archive count).
pub const METADATA_SIZE: u64 = 16;
/// Size of one archive info (offset, seconds per point, points).
pub const ARCHIVE_INFO_SIZE: u64 = 12;
/// Size of one point (interval u32, value f64).
pub const POINT_SIZE: u64 = 12;

/// One archive of an archive list: `seconds_per_point` precision, `points` slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArchiveSpec {
    /// Precision: seconds between slots.
    pub seconds_per_point: u32,
    /// Number of slots (the archive covers `seconds_per_point * points` seconds).
    pub points: u32,
}

impl ArchiveSpec {
    /// Seconds covered: `seconds_per_point * points` (u64: cannot overflow).
    pub fn retention(&self) -> u64 {
        u64::from(self.seconds_per_point) * u64::from(self.points)
    }
}

/// One archive as stored in a file's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArchiveInfo {
    /// Byte offset of the archive's first slot in the file.
    pub offset: u32,
    /// Step between slots, in seconds (never 0 in an opened file).
    pub seconds_per_point: u32,
    /// Number of slots (never 0 in an opened file).
    pub points: u32,
}

impl ArchiveInfo {
    /// Seconds covered: `seconds_per_point * points` (u64: cannot overflow).
    pub fn retention(&self) -> u64 {
        u64::from(self.seconds_per_point) * u64::from(self.points)
    }

    /// Size of the archive in bytes.
    pub fn size(&self) -> u64 {
        u64::from(self.points) * POINT_SIZE
    }

    /// Byte offset just past the archive's last slot.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + self.size()
    }
}

/// A decoded header. Invariants of a header returned by [`super::WhisperFile::open`]: at least one archive, every
/// archive has a non-zero step and point count and lies inside the file, xff is within `0.0..=1.0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// The method used for propagation; an unknown stored code reads as `Average` (see `aggregation_code`).
    pub aggregation: AggregationMethod,
    /// The code as stored on disk; differs from `aggregation.code()` only for an unknown code.
    pub aggregation_code: u32,
    /// Seconds; the reference stores the largest archive retention. Single updates older than this are refused.
    pub max_retention: u32,
    /// Fraction (0..=1) of known higher-precision slots needed to propagate a value.
    pub x_files_factor: f32,
    /// The archives in stored order (highest precision first in any file the reference or warren created).
    pub archives: Vec<ArchiveInfo>,
}

impl Header {
    /// The stored aggregation code when it is not one of the eight known ones (it is then treated as average).
    pub fn unknown_aggregation_code(&self) -> Option<u32> {
        AggregationMethod::from_code(self.aggregation_code).is_none().then_some(self.aggregation_code)
    }

    /// Bytes taken by the header: metadata plus one archive info per archive.
    pub fn size(&self) -> u64 {
        header_size(self.archives.len())
    }

    /// The header for a new file with `archives` (already validated and sorted), laid out back to back.
    pub(crate) fn for_new_file(
        archives: &[ArchiveSpec],
        aggregation: AggregationMethod,
        x_files_factor: f32,
    ) -> Result<Header, WhisperError> {
        let too_big = || WhisperError::InvalidArchives(format!("{archives:?}: file would exceed 4 GiB"));
        let mut offset = header_size(archives.len());
        let mut infos = Vec::with_capacity(archives.len());
        for a in archives {
            infos.push(ArchiveInfo {
                offset: u32::try_from(offset).map_err(|_| too_big())?,
                seconds_per_point: a.seconds_per_point,
                points: a.points,
            });
            offset += u64::from(a.points) * POINT_SIZE;
        }
        u32::try_from(offset).map_err(|_| too_big())?;
        let max_retention = archives.iter().map(ArchiveSpec::retention).max().unwrap_or(0);
        let max_retention = u32::try_from(max_retention).map_err(|_| {
            WhisperError::InvalidArchives(format!("retention of {max_retention} seconds does not fit 32 bits"))
        })?;
        Ok(Header { aggregation, aggregation_code: aggregation.code(), max_retention, x_files_factor, archives: infos })
    }

    /// The metadata block (first 16 bytes) as stored.
    pub(crate) fn encode_metadata(&self) -> [u8; METADATA_SIZE as usize] {
        let mut out = [0u8; METADATA_SIZE as usize];
        out[0..4].copy_from_slice(&self.aggregation_code.to_be_bytes());
        out[4..8].copy_from_slice(&self.max_retention.to_be_bytes());
        out[8..12].copy_from_slice(&self.x_files_factor.to_be_bytes());
        // Archive counts come from a u32 on read or from a list whose offsets fit u32 on create.
        out[12..16].copy_from_slice(&(self.archives.len() as u32).to_be_bytes());
        out
    }

    /// The whole header as stored.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size() as usize);
        out.extend_from_slice(&self.encode_metadata());
        for a in &self.archives {
            out.extend_from_slice(&a.offset.to_be_bytes());
            out.extend_from_slice(&a.seconds_per_point.to_be_bytes());
            out.extend_from_slice(&a.points.to_be_bytes());
        }
        out
    }

    /// Decode and validate a header from the first bytes of a file of `file_len` bytes. `bytes` must hold at
    /// least [`required_header_len`] bytes when the file is that long; the error is the reason the file is corrupt.
    pub(crate) fn decode(bytes: &[u8], file_len: u64) -> Result<Header, String> {
        let u32_at = |pos: usize| -> Option<u32> {
            bytes.get(pos..pos + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let (Some(code), Some(max_retention), Some(xff_bits), Some(count)) =
            (u32_at(0), u32_at(4), u32_at(8), u32_at(12))
        else {
            return Err(format!("truncated metadata: file has {file_len} bytes, the metadata needs 16"));
        };
        let x_files_factor = f32::from_bits(xff_bits);
        if !(0.0..=1.0).contains(&x_files_factor) {
            return Err(format!("xFilesFactor {x_files_factor} is not between 0 and 1"));
        }
        if count == 0 {
            return Err("archive count is 0".into());
        }
        let needed = header_size(count as usize);
        if needed > file_len || (bytes.len() as u64) < needed {
            return Err(format!("truncated header: {count} archives need {needed} bytes, file has {file_len}"));
        }
        let mut archives = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let at = (METADATA_SIZE + ARCHIVE_INFO_SIZE * i as u64) as usize;
            // Length checked above: the whole header is in `bytes`.
            let (Some(offset), Some(seconds_per_point), Some(points)) = (u32_at(at), u32_at(at + 4), u32_at(at + 8))
            else {
                return Err(format!("archive {i}: truncated archive info"));
            };
            let info = ArchiveInfo { offset, seconds_per_point, points };
            if seconds_per_point == 0 || points == 0 {
                return Err(format!(
                    "archive {i}: {seconds_per_point} seconds per point, {points} points (both must be non-zero)"
                ));
            }
            if u64::from(offset) < needed || info.end() > file_len {
                return Err(format!(
                    "archive {i}: bytes {offset}..{} lie outside the data area {needed}..{file_len}",
                    info.end()
                ));
            }
            archives.push(info);
        }
        Ok(Header {
            aggregation: AggregationMethod::from_code(code).unwrap_or(AggregationMethod::Average),
            aggregation_code: code,
            max_retention,
            x_files_factor,
            archives,
        })
    }
}

/// Bytes taken by a header with `archive_count` archives.
pub(crate) fn header_size(archive_count: usize) -> u64 {
    METADATA_SIZE + ARCHIVE_INFO_SIZE * archive_count as u64
}

/// Check an archive list against the reference's rules, after sorting a copy by precision as the reference does:
/// at least one archive; no two with the same precision; each precision divides the next; each next archive
/// covers strictly more time; each archive has at least `next step / this step` points. warren also refuses a
/// zero step or zero points (the reference would divide by zero later). The error names the archives involved,
/// numbered in sorted order.
pub fn validate_archives(archives: &[ArchiveSpec]) -> Result<(), WhisperError> {
    let mut sorted = archives.to_vec();
    sorted.sort_by_key(|a| a.seconds_per_point);
    validate_sorted(&sorted)
}

/// [`validate_archives`] for a list already sorted by precision.
pub(crate) fn validate_sorted(archives: &[ArchiveSpec]) -> Result<(), WhisperError> {
    let invalid = |msg: String| Err(WhisperError::InvalidArchives(msg));
    if archives.is_empty() {
        return invalid("you must specify at least one archive configuration".into());
    }
    for (i, a) in archives.iter().enumerate() {
        if a.seconds_per_point == 0 || a.points == 0 {
            return invalid(format!(
                "archive{i} ({}s per point, {} points): precision and points must be at least 1",
                a.seconds_per_point, a.points
            ));
        }
    }
    for (i, pair) in archives.windows(2).enumerate() {
        let (a, next) = (pair[0], pair[1]);
        let j = i + 1;
        if a.seconds_per_point == next.seconds_per_point {
            return invalid(format!(
                "a whisper database may not be configured having two archives with the same precision \
                 (archive{i}: {}s:{}, archive{j}: {}s:{})",
                a.seconds_per_point, a.points, next.seconds_per_point, next.points
            ));
        }
        if next.seconds_per_point % a.seconds_per_point != 0 {
            return invalid(format!(
                "higher precision archives' precision must evenly divide all lower precision archives' \
                 precision (archive{i}: {}s, archive{j}: {}s)",
                a.seconds_per_point, next.seconds_per_point
            ));
        }
        if next.retention() <= a.retention() {
            return invalid(format!(
                "lower precision archives must cover larger time intervals than higher precision archives \
                 (archive{i}: {} seconds, archive{j}: {} seconds)",
                a.retention(),
                next.retention()
            ));
        }
        let per_consolidation = next.seconds_per_point / a.seconds_per_point;
        if a.points < per_consolidation {
            return invalid(format!(
                "each archive must have at least enough points to consolidate to the next archive \
                 (archive{j} consolidates {per_consolidation} of archive{i}'s points but it has only {} total points)",
                a.points
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(seconds_per_point: u32, points: u32) -> ArchiveSpec {
        ArchiveSpec { seconds_per_point, points }
    }

    fn message(archives: &[ArchiveSpec]) -> String {
        validate_archives(archives).unwrap_err().to_string()
    }

    #[test]
    fn valid_lists_pass_in_any_order() {
        validate_archives(&[spec(10, 2160), spec(60, 10080)]).unwrap();
        validate_archives(&[spec(600, 262800), spec(10, 2160), spec(60, 10080)]).unwrap();
    }

    #[test]
    fn each_archive_list_rule_is_enforced_with_a_clear_message() {
        assert!(message(&[]).contains("at least one archive"));
        assert!(message(&[spec(60, 10), spec(60, 20)]).contains("same precision (archive0: 60s:10, archive1: 60s:20)"));
        assert!(message(&[spec(60, 100), spec(90, 100)]).contains("evenly divide"));
        assert!(message(&[spec(10, 60), spec(60, 10)]).contains("(archive0: 600 seconds, archive1: 600 seconds)"));
        assert!(message(&[spec(10, 5), spec(60, 100)])
            .contains("archive1 consolidates 6 of archive0's points but it has only 5 total points"));
        assert!(message(&[spec(0, 5)]).contains("at least 1"));
        assert!(message(&[spec(10, 0)]).contains("at least 1"));
    }

    #[test]
    fn new_file_header_lays_archives_back_to_back() {
        let h = Header::for_new_file(&[spec(10, 6), spec(60, 10)], AggregationMethod::Max, 0.25).unwrap();
        assert_eq!(h.max_retention, 600);
        assert_eq!(h.archives[0].offset, 40);
        assert_eq!(h.archives[1].offset, 40 + 72);
        assert_eq!(h.encode().len(), 40);
    }

    #[test]
    fn archives_beyond_4gib_are_refused() {
        let err = Header::for_new_file(&[spec(1, u32::MAX / 4)], AggregationMethod::Average, 0.5).unwrap_err();
        assert!(err.to_string().contains("4 GiB"), "{err}");
    }

    #[test]
    fn unknown_aggregation_code_reads_as_average_and_is_reported() {
        let mut h = Header::for_new_file(&[spec(10, 6)], AggregationMethod::Sum, 0.5).unwrap();
        h.aggregation_code = 42;
        let bytes = h.encode();
        let back = Header::decode(&bytes, 28 + 72).unwrap();
        assert_eq!(back.aggregation, AggregationMethod::Average);
        assert_eq!(back.unknown_aggregation_code(), Some(42));
    }

    #[test]
    fn corrupt_headers_are_errors_naming_the_problem() {
        let good = Header::for_new_file(&[spec(10, 6), spec(60, 10)], AggregationMethod::Sum, 0.5).unwrap();
        let bytes = good.encode();
        let len = 40 + 72 + 120;
        assert!(Header::decode(&bytes[..10], 10).unwrap_err().contains("truncated metadata"));
        assert!(Header::decode(&bytes[..30], 30).unwrap_err().contains("truncated header"));
        assert!(Header::decode(&bytes, len - 1).unwrap_err().contains("outside the data area"));
        let mut zero_step = bytes.clone();
        zero_step[20..24].copy_from_slice(&0u32.to_be_bytes());
        assert!(Header::decode(&zero_step, len).unwrap_err().contains("must be non-zero"));
        let mut bad_xff = bytes.clone();
        bad_xff[8..12].copy_from_slice(&f32::NAN.to_be_bytes());
        assert!(Header::decode(&bad_xff, len).unwrap_err().contains("xFilesFactor"));
        let mut no_archives = bytes.clone();
        no_archives[12..16].copy_from_slice(&0u32.to_be_bytes());
        assert!(Header::decode(&no_archives, len).unwrap_err().contains("archive count is 0"));
        let mut huge_count = bytes;
        huge_count[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Header::decode(&huge_count, len).unwrap_err().contains("truncated header"));
    }

    proptest! {
        #[test]
        fn header_round_trips_through_bytes(
            steps in proptest::collection::btree_set(1u32..5000, 1..5),
            points in 1u32..2000,
            code in 1u32..=8,
            xff in 0.0f32..=1.0,
        ) {
            let archives: Vec<_> = steps.iter().map(|&s| spec(s, points)).collect();
            let method = AggregationMethod::from_code(code).unwrap();
            let h = Header::for_new_file(&archives, method, xff).unwrap();
            let file_len = h.archives.last().unwrap().end();
            prop_assert_eq!(Header::decode(&h.encode(), file_len).unwrap(), h);
        }
    }
}
