//! File-to-file operations of the reference's scripts: `fill` (whisper-fill.py), `merge` (whisper.merge, behind
//! whisper-merge.py) and `diff` (whisper.diff, behind whisper-diff.py), with the reference's arithmetic, quirks
//! included, so that the files they write are byte-identical.
//!
//! Owns: the choice of windows and points copied between two open files. Never touches: paths, directories,
//! printing (the CLI does that), the cache.
//!
//! Time: whisper-fill.py reads `time.time()` (a float) each time it needs the clock; here `now` is taken once, as a
//! float, and used where the script uses `time.time()`, and truncated where it uses `int(time.time())`. With a
//! clock that does not move during the run the two agree exactly (the differential tests pin both clocks).

use super::update::UpdateScratch;
use super::{ArchiveInfo, FetchResult, Point, WhisperError, WhisperFile};

/// What a fill or merge copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Windows fetched from the source.
    pub fetches: usize,
    /// Points handed to the destination's update (known source values).
    pub points: usize,
}

/// Indices of `archives`, sorted by retention (a stable sort, as Python's `list.sort(key=…)`).
fn by_retention(archives: &[ArchiveInfo]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..archives.len()).collect();
    order.sort_by_key(|&i| archives[i].retention());
    order
}

/// The known points of a fetch: `zip(range(start, end, step), values)` without the `None`s. The zip stops at the
/// shorter side, as Python's does.
fn known_points(r: &FetchResult) -> Result<Vec<Point>, WhisperError> {
    let mut points = Vec::new();
    let mut t = i64::from(r.from);
    for v in &r.values {
        if t >= i64::from(r.until) {
            break;
        }
        if let Some(value) = *v {
            let timestamp = u32::try_from(t).map_err(|_| WhisperError::OutOfRange { what: "timestamp", value: t })?;
            points.push(Point { timestamp, value });
        }
        t += i64::from(r.step);
    }
    Ok(points)
}

/// Python's `int(x)` of a float: truncation toward zero.
fn py_int(x: f64) -> i64 {
    x.trunc() as i64
}

/// `whisper.fetch(path, from, until)` as the script calls it (`now = int(time.time())`); the reference crashes
/// (unpacking `None`) when the window is outside the file, reported here as `OutOfRange`.
fn script_fetch(file: &WhisperFile, from: f64, until: f64, now: f64) -> Result<FetchResult, WhisperError> {
    file.fetch(py_int(from), Some(py_int(until)), py_int(now), None)?
        .ok_or(WhisperError::OutOfRange { what: "fetch window (outside the file's retention)", value: py_int(from) })
}

/// whisper-fill.py: copy into `dst` the values it lacks (its gaps) from `src`, taking each gap from the most
/// precise source archive that still covers it; values `dst` has are never overwritten. `now` is the clock, in
/// (fractional) seconds. Mirrors the script's `fill_archives(src, dst, time.time())`, including its notion of a
/// gap (a run of unknown *or zero* values; single missing steps are ignored unless they end the window).
pub fn fill(src: &WhisperFile, dst: &mut WhisperFile, now: f64) -> Result<CopyStats, WhisperError> {
    let mut stats = CopyStats::default();
    let mut scratch = UpdateScratch::default();
    let archives = dst.header().archives.clone();
    let mut start_from = now;
    for index in by_retention(&archives) {
        let archive = archives[index];
        let from_time = now - archive.retention() as f64;
        if from_time >= start_from {
            continue;
        }
        let r = script_fetch(dst, from_time, start_from, now)?;
        let (mut start, end, step) = (i64::from(r.from), i64::from(r.until), i64::from(r.step));
        // Python truthiness: a gap start of 0 is falsy, and so are unknown and zero values (NaN is truthy).
        let mut gap: Option<i64> = None;
        for v in &r.values {
            let known = matches!(v, Some(x) if *x != 0.0);
            let open = gap.filter(|&g| g != 0);
            match open {
                None if !known => gap = Some(start),
                Some(g) if known => {
                    if start - g > i64::from(archive.seconds_per_point) {
                        fill_range(src, dst, (g - step) as f64, start as f64, now, &mut scratch, &mut stats)?;
                    }
                    gap = None;
                }
                Some(g) if start == end - step => {
                    fill_range(src, dst, (g - step) as f64, start as f64, now, &mut scratch, &mut stats)?
                }
                _ => {}
            }
            start += step;
        }
        start_from = from_time;
    }
    Ok(stats)
}

/// whisper-fill.py's `fill(src, dst, tstart, tstop)`: walk `src`'s archives from the most precise, each
/// covering what the previous could not, and update `dst` with the known values.
fn fill_range(
    src: &WhisperFile,
    dst: &mut WhisperFile,
    tstart: f64,
    mut tstop: f64,
    now: f64,
    scratch: &mut UpdateScratch,
    stats: &mut CopyStats,
) -> Result<(), WhisperError> {
    let header = src.header();
    let src_time = (py_int(now) - i64::from(header.max_retention)) as f64;
    if tstart < src_time && tstop < src_time {
        return Ok(());
    }
    let now_u32 =
        u32::try_from(py_int(now)).map_err(|_| WhisperError::OutOfRange { what: "now", value: py_int(now) })?;
    for index in by_retention(&header.archives) {
        let rtime = now - header.archives[index].retention() as f64;
        if tstop <= rtime {
            continue;
        }
        let from_time = if rtime > tstart { rtime } else { tstart };
        let r = script_fetch(src, from_time, tstop, now)?;
        stats.fetches += 1;
        let mut points = known_points(&r)?;
        stats.points += points.len();
        dst.update_many(&mut points, now_u32, scratch)?;
        tstop = from_time;
        if tstart == tstop {
            return Ok(());
        }
    }
    Ok(())
}

/// The archive lists of two files differ: merge and diff need equal ones (resize one first).
fn check_alike(a: &WhisperFile, b: &WhisperFile, what: &str) -> Result<(), WhisperError> {
    if a.header().archives == b.header().archives {
        return Ok(());
    }
    Err(WhisperError::InvalidArchives(format!(
        "{} and {} archive configurations are unalike. Resize the input before {what}",
        a.path().display(),
        b.path().display()
    )))
}

/// whisper.merge (whisper-merge.py): copy every known value of `from` in `[time_from, time_to]` (default
/// `[0, now]`) into `to`, overwriting, archive by archive from the most precise, each archive's window cut to its
/// retention. Both files must have the same archives. Errors: `InvalidArchives` if they differ,
/// `InvalidTimeInterval` if `time_to < time_from`, `OutOfRange`, `Io`.
pub fn merge(
    from: &WhisperFile,
    to: &mut WhisperFile,
    time_from: Option<i64>,
    time_to: Option<i64>,
    now: i64,
) -> Result<CopyStats, WhisperError> {
    check_alike(from, to, "merging")?;
    let until = time_to.unwrap_or(now);
    let start = time_from.unwrap_or(0);
    if until < start {
        return Err(WhisperError::InvalidTimeInterval { from: start, until });
    }
    let mut stats = CopyStats::default();
    let mut scratch = UpdateScratch::default();
    let archives = from.header().archives.clone();
    for index in by_retention(&archives) {
        let oldest = now - archives[index].retention() as i64;
        if until < oldest {
            continue;
        }
        let r = from.fetch_archive(index, start.max(oldest), until)?;
        stats.fetches += 1;
        let points = known_points(&r)?;
        if points.is_empty() {
            continue;
        }
        stats.points += points.len();
        to.update_archive(index, &points, &mut scratch)?;
    }
    Ok(stats)
}

/// One archive's comparison in [`diff`].
#[derive(Clone, Debug, PartialEq)]
pub struct ArchiveDiff {
    /// Position of the archive in retention order (the reference's numbering).
    pub archive: usize,
    /// `(timestamp, value_a, value_b)` where the two differ (NaN differs from everything, as in Python).
    pub diffs: Vec<(i64, Option<f64>, Option<f64>)>,
    /// Points compared: known in either file (in both with `ignore_empty`).
    pub total: usize,
}

/// whisper.diff (whisper-diff.py): compare two files with the same archives, archive by archive from the most
/// precise, each over its retention up to `until` (default, and when 0, `now`), each next archive stopping where
/// the previous one's retention starts. Errors: `InvalidArchives` if the archive lists differ, `OutOfRange` where
/// the reference raises (a window reaching past what a written archive holds), `Io`.
pub fn diff(
    a: &WhisperFile,
    b: &WhisperFile,
    ignore_empty: bool,
    until: Option<i64>,
    now: i64,
) -> Result<Vec<ArchiveDiff>, WhisperError> {
    check_alike(a, b, "diffing")?;
    let mut until = until.filter(|&u| u != 0).unwrap_or(now);
    let archives = a.header().archives.clone();
    let mut out = Vec::new();
    for (number, index) in by_retention(&archives).into_iter().enumerate() {
        let start_time = now - archives[index].retention() as i64;
        let ra = a.fetch_archive(index, start_time, until)?;
        let rb = b.fetch_archive(index, start_time, until)?;
        let start = i64::from(ra.from.min(rb.from));
        let end = i64::from(ra.until.max(rb.until));
        let step = i64::from(ra.step.min(rb.step));
        let count = (end - start).div_euclid(step).max(0) as usize;
        // The reference gives an empty archive one `None` per step of any window, a written one at most its ring
        // (and then fails with IndexError past it).
        let value_at = |file: &WhisperFile, r: &FetchResult, s: usize| -> Result<Option<f64>, WhisperError> {
            match r.values.get(s) {
                Some(v) => Ok(*v),
                None if file.read_base(&archives[index])? == 0 => Ok(None),
                None => Err(WhisperError::OutOfRange {
                    what: "diff window (past the archive's ring) ending at",
                    value: end,
                }),
            }
        };
        let mut total = 0;
        let mut diffs = Vec::new();
        for s in 0..count {
            let (va, vb) = (value_at(a, &ra, s)?, value_at(b, &rb, s)?);
            let compared = if ignore_empty { va.is_some() && vb.is_some() } else { va.is_some() || vb.is_some() };
            if !compared {
                continue;
            }
            total += 1;
            if va != vb {
                diffs.push((s as i64 * step + start, va, vb));
            }
        }
        out.push(ArchiveDiff { archive: number, diffs, total });
        until = until.min(start_time);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whisper::{AggregationMethod, ArchiveSpec, CreateMode, CreateOptions, OpenOptions};

    const NOW: u32 = 1_700_000_000;

    fn file(dir: &tempfile::TempDir, name: &str, archives: &[ArchiveSpec]) -> WhisperFile {
        let opts = CreateOptions { x_files_factor: 0.0, aggregation: AggregationMethod::Sum, mode: CreateMode::Sparse };
        WhisperFile::create(&dir.path().join(name), archives, &opts, OpenOptions::default()).unwrap()
    }

    #[test]
    fn merge_and_diff_refuse_unalike_archives_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(&dir, "a.wsp", &[ArchiveSpec { seconds_per_point: 1, points: 10 }]);
        let mut b = file(&dir, "b.wsp", &[ArchiveSpec { seconds_per_point: 1, points: 11 }]);
        let e = merge(&a, &mut b, None, None, i64::from(NOW)).unwrap_err().to_string();
        assert!(e.contains("a.wsp and") && e.contains("b.wsp archive configurations are unalike"), "{e}");
        assert!(diff(&a, &b, false, None, i64::from(NOW)).is_err());
        let mut c = file(&dir, "c.wsp", &[ArchiveSpec { seconds_per_point: 1, points: 10 }]);
        let e = merge(&a, &mut c, Some(10), Some(5), i64::from(NOW)).unwrap_err();
        assert!(matches!(e, WhisperError::InvalidTimeInterval { from: 10, until: 5 }), "{e}");
    }
}
