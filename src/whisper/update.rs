//! Single and batch updates, and propagation to lower-precision archives, as the reference does them.

use std::cmp::Reverse;
use std::ops::Range;

use super::aggregate::aggregate;
use super::pyset::{set_order, PySetScratch};
use super::{
    decode_point, encode_point, lock, slot_of, slot_offset, ArchiveInfo, Point, WhisperError, WhisperFile, POINT_SIZE,
};

/// Reusable buffers for [`WhisperFile::update_many`], so the writer allocates nothing per update: keep one per
/// writer thread and pass it to every call, whatever the file. Buffers only grow (to the largest batch seen).
#[derive(Default, Debug)]
pub struct UpdateScratch {
    /// Indices into the batch, newest first, equal timestamps in input order.
    order: Vec<usize>,
    /// The current archive's points, oldest first, aligned to its step.
    aligned: Vec<(u32, f64)>,
    /// The encoded points of every run, back to back.
    packed: Vec<u8>,
    /// Contiguous runs within `packed`.
    runs: Vec<Run>,
    /// Lower-archive intervals of `aligned`, then their distinct values in the reference's set order.
    lower: Vec<u32>,
    lower_order: Vec<u32>,
    set: PySetScratch,
    window: Window,
}

/// Buffers for reading one propagation window.
#[derive(Default, Debug)]
struct Window {
    bytes: Vec<u8>,
    neighbors: Vec<Option<f64>>,
    known: Vec<f64>,
}

/// A run of points written with one positioned write (two at the ring's end).
#[derive(Debug, Clone)]
struct Run {
    /// The interval the reference positions the run by: last interval - step * (points - 1).
    start: i64,
    bytes: Range<usize>,
}

/// What one update_many did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateStats {
    /// Points of the batch that fell within some archive's retention (duplicates included).
    pub points_written: usize,
    /// Positioned writes issued for the batch's own runs (propagation writes are counted in `propagated`).
    pub writes: usize,
    /// Aggregated points written into lower-precision archives (one positioned write each).
    pub propagated: usize,
    /// Points older than the last archive's retention, dropped silently as the reference does.
    pub dropped: usize,
}

impl WhisperFile {
    /// Write one point as the reference's `update(path, value, timestamp, now)`: refused with
    /// `TimestampNotCovered` unless `0 <= now - timestamp < max_retention`; written to the first archive whose
    /// retention covers its age, then propagated down until a propagation writes nothing.
    pub fn update(&mut self, point: Point, now: u32) -> Result<(), WhisperError> {
        let _lock = lock(&self.file, &self.path, self.options.lock)?;
        let age = i64::from(now) - i64::from(point.timestamp);
        let archives = &self.header.archives;
        let position = if (0..i64::from(self.header.max_retention)).contains(&age) {
            archives.iter().position(|a| a.retention() >= age as u64)
        } else {
            None
        };
        let Some(index) = position else {
            return Err(WhisperError::TimestampNotCovered {
                path: self.path.display().to_string(),
                timestamp: point.timestamp,
                now,
                max_retention: self.header.max_retention,
            });
        };
        let archive = archives[index];
        let interval = point.timestamp - point.timestamp % archive.seconds_per_point;
        let base = self.read_base(&archive)?;
        let slot = if base == 0 { 0 } else { slot_of(&archive, i64::from(base), i64::from(interval)) };
        self.write_at(&encode_point(interval, point.value), slot_offset(&archive, slot))?;

        let mut window = Window::default();
        let mut higher = archive;
        for &lower in &archives[index + 1..] {
            if self.propagate(&higher, &lower, &[interval], &mut window)? == 0 {
                break;
            }
            higher = lower;
        }
        self.flush_if_asked()
    }

    /// Write a batch as the reference's `update_many(path, points, now)`: newest first, each point goes to the first
    /// archive whose retention covers its age (future points to the first archive; points older than every
    /// archive are dropped); within an archive, points aligned to the same interval keep the newest (on equal
    /// timestamps, the first given); each contiguous run is one positioned write (two at the ring's end); then
    /// every lower interval touched is propagated, archive by archive, until an archive receives nothing.
    /// `points` is left in an unspecified order. Errors: `Io`, `Corrupt` (file shrank under us).
    pub fn update_many(
        &mut self,
        points: &mut [Point],
        now: u32,
        scratch: &mut UpdateScratch,
    ) -> Result<UpdateStats, WhisperError> {
        let mut stats = UpdateStats::default();
        if points.is_empty() {
            return Ok(stats);
        }
        let _lock = lock(&self.file, &self.path, self.options.lock)?;
        // Python's stable sort(reverse=True): newest first, ties in input order. The index makes an unstable
        // (allocation-free) sort stable.
        let mut order = std::mem::take(&mut scratch.order);
        order.clear();
        order.extend(0..points.len());
        order.sort_unstable_by_key(|&i| (Reverse(points[i].timestamp), i));
        let result = self.update_sorted(points, &order, now, scratch, &mut stats);
        scratch.order = order;
        result?;
        self.flush_if_asked()?;
        Ok(stats)
    }

    /// Split the newest-first `order` into per-archive chunks by age and commit each.
    fn update_sorted(
        &self,
        points: &[Point],
        order: &[usize],
        now: u32,
        scratch: &mut UpdateScratch,
        stats: &mut UpdateStats,
    ) -> Result<(), WhisperError> {
        let archives = &self.header.archives;
        let mut index = 0;
        let mut chunk_start = 0;
        for (k, &i) in order.iter().enumerate() {
            let age = i64::from(now) - i64::from(points[i].timestamp);
            while age > 0 && age as u64 > archives[index].retention() {
                if k > chunk_start {
                    self.archive_update_many(index, points, &order[chunk_start..k], scratch, stats)?;
                }
                chunk_start = k;
                index += 1;
                if index == archives.len() {
                    stats.dropped = order.len() - k;
                    return Ok(());
                }
            }
        }
        if chunk_start < order.len() {
            self.archive_update_many(index, points, &order[chunk_start..], scratch, stats)?;
        }
        Ok(())
    }

    /// Write `chunk` (indices, newest first) into archive `index`, then propagate.
    fn archive_update_many(
        &self,
        index: usize,
        points: &[Point],
        chunk: &[usize],
        scratch: &mut UpdateScratch,
        stats: &mut UpdateStats,
    ) -> Result<(), WhisperError> {
        let archive = self.header.archives[index];
        let step = archive.seconds_per_point;
        stats.points_written += chunk.len();
        scratch.aligned.clear();
        scratch.aligned.extend(chunk.iter().rev().map(|&i| {
            let p = points[i];
            (p.timestamp - p.timestamp % step, p.value)
        }));
        build_runs(&scratch.aligned, step, &mut scratch.packed, &mut scratch.runs);

        let Some(first_run) = scratch.runs.first() else {
            return Ok(());
        };
        let stored_base = self.read_base(&archive)?;
        let base = if stored_base == 0 { first_run.start } else { i64::from(stored_base) };
        for run in &scratch.runs {
            stats.writes += self.write_run(&archive, base, run.start, &scratch.packed[run.bytes.clone()])?;
        }

        let mut higher = archive;
        for &lower in &self.header.archives {
            if lower.seconds_per_point <= step {
                continue;
            }
            let lower_step = lower.seconds_per_point;
            scratch.lower.clear();
            scratch.lower.extend(scratch.aligned.iter().map(|&(t, _)| t - t % lower_step));
            set_order(&scratch.lower, &mut scratch.set, &mut scratch.lower_order);
            let written = self.propagate(&higher, &lower, &scratch.lower_order, &mut scratch.window)?;
            if written == 0 {
                break;
            }
            stats.propagated += written;
            higher = lower;
        }
        Ok(())
    }

    /// Write one run (encoded points) positioned from `base`; returns the number of writes (1, or 2 at the ring's
    /// end). A run longer than the ring (only future points can make one) keeps its newest `points` points, which
    /// is what the ring holds after the reference's writes, without its spill past the archive's end.
    fn write_run(&self, archive: &ArchiveInfo, base: i64, start: i64, bytes: &[u8]) -> Result<usize, WhisperError> {
        let ring = u64::from(archive.points);
        let len = bytes.len() as u64 / POINT_SIZE;
        let mut slot = slot_of(archive, base, start);
        let mut bytes = bytes;
        if len > ring {
            let skip = len - ring;
            slot = (slot + skip) % ring;
            bytes = &bytes[(skip * POINT_SIZE) as usize..];
        }
        let first_len = (((ring - slot) * POINT_SIZE) as usize).min(bytes.len());
        self.write_at(&bytes[..first_len], slot_offset(archive, slot))?;
        if first_len == bytes.len() {
            return Ok(1);
        }
        self.write_at(&bytes[first_len..], u64::from(archive.offset))?;
        Ok(2)
    }

    /// Propagate each of `intervals` (in this order) from `higher` into `lower`; returns how many were written.
    fn propagate(
        &self,
        higher: &ArchiveInfo,
        lower: &ArchiveInfo,
        intervals: &[u32],
        window: &mut Window,
    ) -> Result<usize, WhisperError> {
        // `higher` does not change while we write into `lower`; `lower`'s base changes only when slot 0 is written.
        let higher_base = self.read_base(higher)?;
        let mut lower_base = self.read_base(lower)?;
        let mut written = 0;
        for &interval in intervals {
            let lower_start = interval - interval % lower.seconds_per_point;
            let Some(value) = self.aggregate_window(higher, higher_base, lower_start, lower, window)? else {
                continue;
            };
            let slot = if lower_base == 0 { 0 } else { slot_of(lower, i64::from(lower_base), i64::from(lower_start)) };
            self.write_at(&encode_point(lower_start, value), slot_offset(lower, slot))?;
            if slot == 0 {
                lower_base = lower_start;
            }
            written += 1;
        }
        Ok(written)
    }

    /// Read the `lower step / higher step` slots of `higher` that start at `lower_start` and aggregate the known
    /// ones, or `None` when none is known or fewer than xFilesFactor of them are.
    fn aggregate_window(
        &self,
        higher: &ArchiveInfo,
        higher_base: u32,
        lower_start: u32,
        lower: &ArchiveInfo,
        window: &mut Window,
    ) -> Result<Option<f64>, WhisperError> {
        let ring = u64::from(higher.points);
        // As the reference: the window's length is taken modulo the ring (a whole ring when it divides evenly).
        let count = match u64::from(lower.seconds_per_point / higher.seconds_per_point) % ring {
            0 => ring,
            m => m,
        };
        let first = if higher_base == 0 { 0 } else { slot_of(higher, i64::from(higher_base), i64::from(lower_start)) };
        let bytes = &mut window.bytes;
        bytes.resize((count * POINT_SIZE) as usize, 0);
        let first_len = ((ring - first).min(count) * POINT_SIZE) as usize;
        self.read_at(&mut bytes[..first_len], slot_offset(higher, first))?;
        if first_len < bytes.len() {
            self.read_at(&mut bytes[first_len..], u64::from(higher.offset))?;
        }

        window.neighbors.clear();
        window.known.clear();
        let mut expected = i64::from(lower_start);
        for slot in bytes.chunks_exact(POINT_SIZE as usize) {
            let (interval, value) = decode_point(slot);
            if i64::from(interval) == expected {
                window.neighbors.push(Some(value));
                window.known.push(value);
            } else {
                window.neighbors.push(None);
            }
            expected += i64::from(higher.seconds_per_point);
        }
        if window.known.is_empty() {
            return Ok(None);
        }
        let known_fraction = window.known.len() as f64 / window.neighbors.len() as f64;
        if known_fraction < f64::from(self.header.x_files_factor) {
            return Ok(None);
        }
        Ok(Some(aggregate(self.header.aggregation, &window.known, &window.neighbors)))
    }
}

/// Encode `aligned` (oldest first) into runs as the reference does: of points with the same interval only the last
/// is kept; a point extends the current run when its interval is the previous one plus `step` — or, a quirk kept
/// for identical bytes, when the previous interval is 0.
fn build_runs(aligned: &[(u32, f64)], step: u32, packed: &mut Vec<u8>, runs: &mut Vec<Run>) {
    packed.clear();
    runs.clear();
    let mut previous: Option<u32> = None;
    let mut run_begin = 0;
    let close = |packed: &Vec<u8>, runs: &mut Vec<Run>, run_begin: usize, last: u32| {
        let count = ((packed.len() - run_begin) as u64 / POINT_SIZE) as i64;
        runs.push(Run { start: i64::from(last) - i64::from(step) * (count - 1), bytes: run_begin..packed.len() });
    };
    for (i, &(interval, value)) in aligned.iter().enumerate() {
        if aligned.get(i + 1).is_some_and(|next| next.0 == interval) {
            continue;
        }
        if let Some(last) = previous.filter(|&p| p != 0) {
            if u64::from(interval) != u64::from(last) + u64::from(step) {
                close(packed, runs, run_begin, last);
                run_begin = packed.len();
            }
        }
        packed.extend_from_slice(&encode_point(interval, value));
        previous = Some(interval);
    }
    if let Some(last) = previous {
        close(packed, runs, run_begin, last);
    }
}
