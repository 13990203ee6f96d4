//! One metric's values for a time window: whisper's fetch with the writer's cached points merged in, exactly as
//! graphite-web merges CarbonLink answers (`merge_with_cache`): cached points are snapped to the finest archive's
//! step (the last one per slot wins), consolidated with the file's aggregation method when the window is served
//! by a coarser archive, then overwrite the fetched slot they fall in; points outside the window are dropped.
//!
//! Owns: the merge arithmetic and the file-header view. Never touches: sockets, the writer (callers pass the
//! cached points in).

use crate::whisper::{AggregationMethod, ArchiveSpec, Header, WhisperError, WhisperFile};
use std::collections::BTreeMap;
use std::path::Path;

/// A series: `values[i]` is the value at `start + i * step` (`None` = no data).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// First timestamp (Unix seconds).
    pub start: u32,
    /// End of the window (exclusive).
    pub end: u32,
    /// Seconds between values.
    pub step: u32,
    /// One value per step.
    pub values: Vec<Option<f64>>,
}

impl Series {
    /// `(timestamp, value)` for every slot, `None` included.
    pub fn datapoints(&self) -> impl Iterator<Item = (u32, Option<f64>)> + '_ {
        self.values.iter().enumerate().map(|(i, v)| (self.start + i as u32 * self.step, *v))
    }
}

/// Read `path`'s values for `[from, until]` (Unix seconds; `now` as whisper's clock) and merge `cached` (sorted or
/// not; the last point for a timestamp wins). `Ok(None)` when the window lies outside the file's retention.
/// Errors: whatever opening or fetching the file gives.
pub fn read(
    path: &Path,
    from: i64,
    until: i64,
    now: i64,
    cached: &[(u32, f64)],
) -> Result<Option<Series>, WhisperError> {
    let file = WhisperFile::open_read_only(path)?;
    let Some(fetched) = file.fetch(from, Some(until), now, None)? else { return Ok(None) };
    let mut series = Series { start: fetched.from, end: fetched.until, step: fetched.step, values: fetched.values };
    let header = file.header();
    let raw_step = header.archives.first().map(|a| a.seconds_per_point).unwrap_or(series.step);
    merge(&mut series, cached, raw_step, header.aggregation);
    Ok(Some(series))
}

/// The values a new file with `archives` would give for `[from, until]` (same window and archive choice as
/// [`WhisperFile::fetch`]), i.e. all gaps, with `cached` merged in: how a metric with no file yet reads. `None`
/// when the window lies outside the retention (or `archives` is empty).
pub fn read_unwritten(
    archives: &[ArchiveSpec],
    method: AggregationMethod,
    from: i64,
    until: i64,
    now: i64,
    cached: &[(u32, f64)],
) -> Option<Series> {
    let max_retention = archives.iter().map(|a| a.retention()).max()? as i64;
    let oldest = now - max_retention;
    if from > now || until < oldest || from > until {
        return None;
    }
    let (from, until) = (from.max(oldest), until.min(now));
    let archive = archives.iter().find(|a| a.retention() as i64 >= now - from).or(archives.last())?;
    let step = i64::from(archive.seconds_per_point.max(1));
    let start = from - from.rem_euclid(step) + step;
    let mut end = until - until.rem_euclid(step) + step;
    if start == end {
        end += step;
    }
    let n = usize::try_from((end - start) / step).ok()?.min(archive.points as usize);
    let mut series = Series {
        start: u32::try_from(start).ok()?,
        end: u32::try_from(end).ok()?,
        step: step as u32,
        values: vec![None; n],
    };
    let raw_step = archives.first().map(|a| a.seconds_per_point).unwrap_or(series.step);
    merge(&mut series, cached, raw_step, method);
    Some(series)
}

/// graphite-web's `merge_with_cache`, with warren's `absmax`/`absmin` handled as the file would aggregate them.
pub fn merge(series: &mut Series, cached: &[(u32, f64)], raw_step: u32, method: AggregationMethod) {
    if cached.is_empty() || series.step == 0 {
        return;
    }
    // The last value per finest-archive slot, as whisper itself would keep it.
    let mut raw: BTreeMap<u32, f64> = BTreeMap::new();
    for &(t, v) in cached {
        let slot = if raw_step > 1 { t - t % raw_step } else { t };
        raw.insert(slot, v);
    }
    let step = series.step;
    let consolidated: Vec<(u32, f64)> = if step != raw_step {
        let mut groups: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        for (t, v) in raw {
            groups.entry(t - t % step).or_default().push(v);
        }
        groups.into_iter().map(|(t, vs)| (t, consolidate(method, &vs))).collect()
    } else {
        raw.into_iter().collect()
    };
    for (t, v) in consolidated {
        let slot = t - t % step;
        if slot < series.start {
            continue;
        }
        let i = ((slot - series.start) / step) as usize;
        if let Some(cell) = series.values.get_mut(i) {
            *cell = Some(v);
        }
    }
}

/// Consolidate the (non-empty) values of one coarse slot.
fn consolidate(method: AggregationMethod, vs: &[f64]) -> f64 {
    let first = vs.first().copied().unwrap_or(f64::NAN);
    let pick = |better: fn(f64, f64) -> bool| vs.iter().copied().fold(first, |b, v| if better(v, b) { v } else { b });
    match method {
        AggregationMethod::Average | AggregationMethod::AvgZero => vs.iter().sum::<f64>() / vs.len() as f64,
        AggregationMethod::Sum => vs.iter().sum(),
        AggregationMethod::Last => vs.last().copied().unwrap_or(f64::NAN),
        AggregationMethod::Max => pick(|v, b| v > b),
        AggregationMethod::Min => pick(|v, b| v < b),
        AggregationMethod::AbsMax => pick(|v, b| v.abs() > b.abs()),
        AggregationMethod::AbsMin => pick(|v, b| v.abs() < b.abs()),
    }
}

/// The header as python-whisper's `info()` names it: aggregationMethod, maxRetention, xFilesFactor, fileSize and
/// archives (offset, secondsPerPoint, points, retention, size).
pub fn info_json(header: &Header, file_size: u64) -> serde_json::Value {
    let archives: Vec<serde_json::Value> = header
        .archives
        .iter()
        .map(|a| {
            serde_json::json!({
                "offset": a.offset,
                "secondsPerPoint": a.seconds_per_point,
                "points": a.points,
                "retention": a.retention(),
                "size": a.size(),
            })
        })
        .collect();
    serde_json::json!({
        "aggregationMethod": header.aggregation.name(),
        "maxRetention": header.max_retention,
        "xFilesFactor": header.x_files_factor,
        "fileSize": file_size,
        "archives": archives,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(start: u32, step: u32, n: usize) -> Series {
        Series { start, end: start + step * n as u32, step, values: vec![Some(0.0); n] }
    }

    #[test]
    fn cached_points_win_their_slot_and_outside_points_are_dropped() {
        let mut s = series(600, 60, 3);
        merge(&mut s, &[(540, 9.0), (630, 1.0), (660, 2.0), (780, 8.0)], 60, AggregationMethod::Average);
        assert_eq!(s.values, [Some(1.0), Some(2.0), Some(0.0)]);
    }

    #[test]
    fn a_metric_without_a_file_reads_as_gaps_with_its_cached_points() {
        let archives =
            [ArchiveSpec { seconds_per_point: 60, points: 60 }, ArchiveSpec { seconds_per_point: 600, points: 10 }];
        let now = 100_000;
        let s = read_unwritten(&archives, AggregationMethod::Average, now - 600, now, now, &[(now as u32 - 70, 4.0)])
            .unwrap();
        assert_eq!((s.start, s.end, s.step), (99_420, 100_020, 60));
        assert_eq!(s.values.len(), 10);
        assert_eq!(s.values.iter().flatten().copied().collect::<Vec<_>>(), [4.0]);
        assert_eq!(s.values[8], Some(4.0), "99_930 falls in the slot of 99_900");
        assert!(read_unwritten(&archives, AggregationMethod::Average, now + 1, now + 60, now, &[]).is_none());
        let coarse = read_unwritten(&archives, AggregationMethod::Average, now - 5000, now, now, &[]).unwrap();
        assert_eq!(coarse.step, 600);
    }

    #[test]
    fn the_last_point_of_a_raw_slot_wins() {
        let mut s = series(600, 60, 1);
        merge(&mut s, &[(610, 1.0), (650, 3.0)], 60, AggregationMethod::Sum);
        assert_eq!(s.values, [Some(3.0)]);
    }

    #[test]
    fn a_coarser_archive_gets_cached_points_consolidated_by_the_file_method() {
        let pts = [(600, 1.0), (660, -4.0), (720, 3.0)];
        for (m, want) in [
            (AggregationMethod::Average, 0.0),
            (AggregationMethod::Sum, 0.0),
            (AggregationMethod::Last, 3.0),
            (AggregationMethod::Max, 3.0),
            (AggregationMethod::Min, -4.0),
            (AggregationMethod::AbsMax, -4.0),
            (AggregationMethod::AbsMin, 1.0),
        ] {
            let mut s = series(0, 3600, 1);
            merge(&mut s, &pts, 60, m);
            assert_eq!(s.values, [Some(want)], "{m}");
        }
    }
}
