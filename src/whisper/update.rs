//! Single and batch updates, and propagation to lower-precision archives, as the reference does them.

use std::cmp::Reverse;
use std::ops::Range;

use super::aggregate::{AggregationMethod, Streaming};
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
    /// What the runs wrote, in write order: (first ring slot, bytes of `packed`), one per positioned write.
    written: Vec<(u64, Range<usize>)>,
    /// Lower-archive intervals of `aligned`, then their distinct values in the reference's set order.
    lower: Vec<u32>,
    lower_order: Vec<u32>,
    set: PySetScratch,
    propagation: Propagation,
}

/// Buffers for propagating into one lower archive.
#[derive(Default, Debug)]
struct Propagation {
    /// The slots of the higher archive read for the windows: one span covering them all, or one window.
    bytes: Vec<u8>,
    /// The aggregated lower points, in the reference's write order.
    found: Vec<(u32, f64)>,
    /// What each written lower slot finally holds, sorted by slot.
    placed: Vec<Placed>,
    /// The encoded points of one contiguous run of lower slots.
    packed: Vec<u8>,
}

/// A propagated point and the lower slot it ends up in.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Placed {
    slot: u64,
    /// Position in the reference's write order: of two writes to one slot the later one stays.
    seq: usize,
    interval: u32,
    value: f64,
}

/// The slots of a higher archive that cover every propagation window of one lower archive, read at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    /// Ring slot of the span's start.
    first: u64,
    /// Slots in the span (at most the ring's size).
    slots: u64,
    /// The earliest window's lower interval, which starts the span; `None` when the higher archive is empty and
    /// every window starts at the span's start (its first slot), as the reference reads them.
    origin: Option<u32>,
}

impl Span {
    /// Index in the span of the first slot of the window starting at `lower_start` (aligned to `step`, the
    /// higher archive's).
    fn window_start(&self, lower_start: u32, step: u32) -> usize {
        self.origin.map_or(0, |origin| ((lower_start - origin) / step) as usize)
    }
}

/// Beyond this many pieces written, [`WhisperFile::read_slots_known`] reads the whole span (its search is quadratic).
const MAX_KNOWN_PIECES: usize = 8;

/// Slots of one archive written by this update: (first slot, range of `packed`), in write order.
#[derive(Clone, Copy)]
struct Written<'a> {
    slots: &'a [(u64, Range<usize>)],
    packed: &'a [u8],
}

impl Written<'_> {
    const NONE: Written<'static> = Written { slots: &[], packed: &[] };
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
    /// Aggregated points written into lower-precision archives (per lower archive, one positioned write per
    /// contiguous run of slots).
    pub propagated: usize,
    /// Points older than the last archive's retention, dropped silently as the reference does.
    pub dropped: usize,
}

impl<S: super::Storage> WhisperFile<S> {
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

        let mut propagation = Propagation::default();
        let mut higher = archive;
        let mut higher_base = if slot == 0 { interval } else { base };
        for &lower in &archives[index + 1..] {
            let (written, lower_base) =
                self.propagate(&higher, higher_base, &lower, &[interval], &mut propagation, Written::NONE)?;
            if written == 0 {
                break;
            }
            higher = lower;
            higher_base = lower_base;
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
        newest_first(points, &mut order);
        let result = self.update_sorted(points, &order, now, scratch, &mut stats);
        scratch.order = order;
        result?;
        self.flush_if_asked()?;
        Ok(stats)
    }

    /// Write `points` into archive `index` (of [`super::Header::archives`]) and propagate, as the reference's
    /// `__archive_update_many` that whisper-merge.py calls directly: no retention check, points taken in the
    /// given order (oldest first; of points aligned to one interval the last given stays).
    /// Errors: `OutOfRange` for an index past the archives, `Io`, `Corrupt`.
    pub fn update_archive(
        &mut self,
        index: usize,
        points: &[Point],
        scratch: &mut UpdateScratch,
    ) -> Result<UpdateStats, WhisperError> {
        let mut stats = UpdateStats::default();
        if index >= self.header.archives.len() {
            return Err(WhisperError::OutOfRange { what: "archive index", value: index as i64 });
        }
        if points.is_empty() {
            return Ok(stats);
        }
        let _lock = lock(&self.file, &self.path, self.options.lock)?;
        // `archive_update_many` takes its chunk newest first and reverses it.
        let mut order = std::mem::take(&mut scratch.order);
        order.clear();
        order.extend((0..points.len()).rev());
        let result = self.archive_update_many(index, points, &order, scratch, &mut stats);
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
        let mut align = AlignDown::new(step);
        scratch.aligned.extend(chunk.iter().rev().map(|&i| (align.apply(points[i].timestamp), points[i].value)));
        build_runs(&scratch.aligned, step, &mut scratch.packed, &mut scratch.runs);

        let Some(first_run) = scratch.runs.first() else {
            return Ok(());
        };
        let stored_base = self.read_base(&archive)?;
        let base = if stored_base == 0 { first_run.start } else { i64::from(stored_base) };
        // What the first slot holds after the writes: the base propagation positions the higher reads from.
        let mut higher_base = stored_base;
        scratch.written.clear();
        for run in &scratch.runs {
            let (writes, first_slot) =
                self.write_run(&archive, base, run.start, &scratch.packed, run.bytes.clone(), &mut scratch.written)?;
            stats.writes += writes;
            higher_base = first_slot.unwrap_or(higher_base);
        }

        let mut higher = archive;
        for &lower in &self.header.archives {
            if lower.seconds_per_point <= step {
                continue;
            }
            let lower_step = lower.seconds_per_point;
            scratch.lower.clear();
            let mut align = AlignDown::new(lower_step);
            scratch.lower.extend(scratch.aligned.iter().map(|&(t, _)| align.apply(t)));
            set_order(&scratch.lower, &mut scratch.set, &mut scratch.lower_order);
            // The first propagation reads the archive just written: what it wrote need not be read back.
            let known = if higher.offset == archive.offset {
                Written { slots: &scratch.written, packed: &scratch.packed }
            } else {
                Written::NONE
            };
            let (written, lower_base) =
                self.propagate(&higher, higher_base, &lower, &scratch.lower_order, &mut scratch.propagation, known)?;
            if written == 0 {
                break;
            }
            stats.propagated += written;
            higher = lower;
            higher_base = lower_base;
        }
        Ok(())
    }

    /// Write one run (encoded points) positioned from `base`; returns the number of writes (1, or 2 at the ring's
    /// end) and, when the run covers the archive's first slot, the interval written there (the new base).
    /// A run longer than the ring (only future points can make one) keeps its newest `points` points, which
    /// is what the ring holds after the reference's writes, without its spill past the archive's end.
    /// Each write is appended to `written` as (first slot, range of `packed`).
    fn write_run(
        &self,
        archive: &ArchiveInfo,
        base: i64,
        start: i64,
        packed: &[u8],
        mut range: Range<usize>,
        written: &mut Vec<(u64, Range<usize>)>,
    ) -> Result<(usize, Option<u32>), WhisperError> {
        let ring = u64::from(archive.points);
        let len = range.len() as u64 / POINT_SIZE;
        let mut slot = slot_of(archive, base, start);
        if len > ring {
            let skip = len - ring;
            slot = (slot + skip) % ring;
            range.start += (skip * POINT_SIZE) as usize;
        }
        let first_len = (((ring - slot) * POINT_SIZE) as usize).min(range.len());
        let (head, tail) = (range.start..range.start + first_len, range.start + first_len..range.end);
        self.write_at(&packed[head.clone()], slot_offset(archive, slot))?;
        written.push((slot, head.clone()));
        if tail.is_empty() {
            return Ok((1, (slot == 0).then(|| decode_point(&packed[head]).0)));
        }
        self.write_at(&packed[tail.clone()], u64::from(archive.offset))?;
        written.push((0, tail.clone()));
        Ok((2, Some(decode_point(&packed[tail]).0)))
    }

    /// [`WhisperFile::read_slots`], reading from the file only what `known` (this update's writes to `archive`,
    /// in write order) leaves uncovered: for each of the (at most two) ring pieces, the known pieces are copied in
    /// write order (the later of two overlapping writes is what the file holds), then one pread fills the slots
    /// between the first and the last not covered, if any. With more than [`MAX_KNOWN_PIECES`] pieces it reads
    /// everything, as `read_slots` does.
    fn read_slots_known(
        &self,
        archive: &ArchiveInfo,
        first: u64,
        count: u64,
        buf: &mut Vec<u8>,
        known: Written<'_>,
    ) -> Result<(), WhisperError> {
        if known.slots.is_empty() || known.slots.len() > MAX_KNOWN_PIECES {
            return self.read_slots(archive, first, count, buf);
        }
        buf.resize((count * POINT_SIZE) as usize, 0);
        let head_slots = (u64::from(archive.points) - first).min(count);
        for (slot, slots, at) in [(first, head_slots, 0), (0, count - head_slots, head_slots)] {
            if slots == 0 {
                continue;
            }
            let out = &mut buf[(at * POINT_SIZE) as usize..((at + slots) * POINT_SIZE) as usize];
            let end = slot + slots;
            let pieces = || known.slots.iter().map(|(s, r)| (*s, s + r.len() as u64 / POINT_SIZE, r.start));
            for (s, e, from) in pieces() {
                let (lo, hi) = (s.max(slot), e.min(end));
                if lo < hi {
                    let src = from + ((lo - s) * POINT_SIZE) as usize;
                    let dst = ((lo - slot) * POINT_SIZE) as usize;
                    let len = ((hi - lo) * POINT_SIZE) as usize;
                    out[dst..dst + len].copy_from_slice(&known.packed[src..src + len]);
                }
            }
            // The first slot not covered, walking forward over pieces that cover it; the last, walking back.
            let mut lo = slot;
            while let Some(e) = pieces().filter(|&(s, e, _)| s <= lo && lo < e).map(|(_, e, _)| e).max() {
                lo = e;
            }
            let mut hi = end;
            while let Some(s) = pieces().filter(|&(s, e, _)| s < hi && hi <= e).map(|(s, _, _)| s).min() {
                hi = s;
            }
            if lo < hi {
                let dst = ((lo - slot) * POINT_SIZE) as usize;
                self.read_at(&mut out[dst..dst + ((hi - lo) * POINT_SIZE) as usize], slot_offset(archive, lo))?;
            }
        }
        Ok(())
    }

    /// Propagate each of `intervals` (distinct; in the reference's order) from `higher`, whose first slot holds
    /// `higher_base`, into `lower`, with the bytes the reference's interval-by-interval `__propagate` leaves:
    /// every window is read from one span of `higher` (`higher` does not change meanwhile; a window at a time
    /// only when they spread over more than its ring), the writes are replayed in memory in the reference's order
    /// (base changes and overwrites included), and what they leave is written one contiguous run of slots at a
    /// time. Returns how many points the reference writes and `lower`'s base afterwards.
    fn propagate(
        &self,
        higher: &ArchiveInfo,
        higher_base: u32,
        lower: &ArchiveInfo,
        intervals: &[u32],
        buffers: &mut Propagation,
        known: Written<'_>,
    ) -> Result<(usize, u32), WhisperError> {
        let ring = u64::from(higher.points);
        // As the reference: the window's length is taken modulo the ring (a whole ring when it divides evenly).
        let count = match u64::from(lower.seconds_per_point / higher.seconds_per_point) % ring {
            0 => ring,
            m => m,
        };
        let window_len = (count * POINT_SIZE) as usize;
        let span = window_span(higher, higher_base, lower.seconds_per_point, count, intervals);
        if let Some(span) = span {
            self.read_slots_known(higher, span.first, span.slots, &mut buffers.bytes, known)?;
        }
        buffers.found.clear();
        for &interval in intervals {
            let lower_start = interval - interval % lower.seconds_per_point;
            let window = match span {
                Some(span) => {
                    let start = span.window_start(lower_start, higher.seconds_per_point) * POINT_SIZE as usize;
                    &buffers.bytes[start..start + window_len]
                }
                None => {
                    let first = if higher_base == 0 {
                        0
                    } else {
                        slot_of(higher, i64::from(higher_base), i64::from(lower_start))
                    };
                    self.read_slots(higher, first, count, &mut buffers.bytes)?;
                    &buffers.bytes[..]
                }
            };
            let value = window_value(
                window,
                lower_start,
                higher.seconds_per_point,
                self.header.aggregation,
                self.header.x_files_factor,
            );
            if let Some(value) = value {
                buffers.found.push((lower_start, value));
            }
        }
        if buffers.found.is_empty() {
            // Nothing written: the caller stops here and never looks at the base.
            return Ok((0, 0));
        }
        let lower_base = place_points(lower, self.read_base(lower)?, &buffers.found, &mut buffers.placed);
        for run in slot_runs(&buffers.placed) {
            buffers.packed.clear();
            for p in run {
                buffers.packed.extend_from_slice(&encode_point(p.interval, p.value));
            }
            self.write_at(&buffers.packed, slot_offset(lower, run[0].slot))?;
        }
        Ok((buffers.found.len(), lower_base))
    }
}

/// Fill `order` with the indices of `points` newest first, equal timestamps in input order (Python's stable
/// `sort(reverse=True)`). A batch already strictly in time order (either way, as collectors send them) is
/// recognised in one pass; anything else is sorted on (timestamp descending, index), which makes the
/// allocation-free unstable sort stable.
fn newest_first(points: &[Point], order: &mut Vec<usize>) {
    order.clear();
    if points.windows(2).all(|w| w[0].timestamp < w[1].timestamp) {
        order.extend((0..points.len()).rev());
    } else if points.windows(2).all(|w| w[0].timestamp > w[1].timestamp) {
        order.extend(0..points.len());
    } else {
        order.extend(0..points.len());
        order.sort_unstable_by_key(|&i| (Reverse(points[i].timestamp), i));
    }
}

/// `t - t % step`, remembering the last result: a timestamp in the same step as the previous one costs no
/// division (batches are mostly runs of consecutive points).
struct AlignDown {
    step: u64,
    /// The last result (a multiple of `step`); before the first, 2^63, which no u32 is within a step of
    /// (`t - 2^63` wraps to `t + 2^63`).
    last: u64,
}

impl AlignDown {
    fn new(step: u32) -> Self {
        AlignDown { step: u64::from(step), last: 1 << 63 }
    }

    fn apply(&mut self, t: u32) -> u32 {
        let t = u64::from(t);
        if t.wrapping_sub(self.last) >= self.step {
            self.last = t - t % self.step;
        }
        // A multiple of the step no larger than a u32.
        self.last as u32
    }
}

/// The span of `higher` (first slot holding `higher_base`) covering the windows (`count` slots each) of every
/// interval in `intervals` once aligned to `lower_step`, when it fits in the ring; `None` when the windows spread
/// over more than the ring (or there are none).
fn window_span(higher: &ArchiveInfo, higher_base: u32, lower_step: u32, count: u64, intervals: &[u32]) -> Option<Span> {
    if higher_base == 0 {
        // The reference reads every window of an empty archive from its first slot.
        return (!intervals.is_empty()).then_some(Span { first: 0, slots: count, origin: None });
    }
    let min = intervals.iter().map(|&i| i - i % lower_step).min()?;
    let max = intervals.iter().map(|&i| i - i % lower_step).max()?;
    let slots = u64::from(max - min) / u64::from(higher.seconds_per_point) + count;
    (slots <= u64::from(higher.points)).then(|| Span {
        first: slot_of(higher, i64::from(higher_base), i64::from(min)),
        slots,
        origin: Some(min),
    })
}

/// Aggregate one propagation window (`bytes`: its slots, in time order) as the reference's `__propagate` does: a
/// slot is known only if it holds the interval expected at its position (`lower_start`, `+ step`, ...); `None`
/// when no slot is known or fewer than `x_files_factor` of them are. Streams the slots (see [`Streaming`]).
fn window_value(
    bytes: &[u8],
    lower_start: u32,
    step: u32,
    method: AggregationMethod,
    x_files_factor: f32,
) -> Option<f64> {
    let mut aggregate = Streaming::new(method);
    let mut expected = i64::from(lower_start);
    for slot in bytes.chunks_exact(POINT_SIZE as usize) {
        let (interval, value) = decode_point(slot);
        aggregate.push((i64::from(interval) == expected).then_some(value));
        expected += i64::from(step);
    }
    let (known, slots) = aggregate.counts();
    if known == 0 {
        return None;
    }
    let known_fraction = known as f64 / slots as f64;
    if known_fraction < f64::from(x_files_factor) {
        return None;
    }
    aggregate.finish()
}

/// Replay the reference's point-by-point writes of `points` (`(interval, value)`, in its order) into `archive`
/// whose first slot holds `base`: each write is positioned from the base as it is at that moment (the first write
/// into an empty archive goes to the first slot, and any write to the first slot changes the base). Leaves in
/// `placed` what each written slot finally holds (the later of two writes to one slot), sorted by slot; returns
/// the base afterwards.
fn place_points(archive: &ArchiveInfo, mut base: u32, points: &[(u32, f64)], placed: &mut Vec<Placed>) -> u32 {
    placed.clear();
    for (seq, &(interval, value)) in points.iter().enumerate() {
        let slot = if base == 0 { 0 } else { slot_of(archive, i64::from(base), i64::from(interval)) };
        if slot == 0 {
            base = interval;
        }
        placed.push(Placed { slot, seq, interval, value });
    }
    placed.sort_unstable_by_key(|p| (p.slot, Reverse(p.seq)));
    placed.dedup_by_key(|p| p.slot);
    base
}

/// Split `placed` (sorted by slot, each slot once) into runs of consecutive slots, one positioned write each; the
/// ring's last and first slots are not consecutive in the file, so a run never crosses the ring's end.
fn slot_runs(placed: &[Placed]) -> impl Iterator<Item = &[Placed]> {
    placed.chunk_by(|a, b| b.slot == a.slot + 1)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn archive(seconds_per_point: u32, points: u32) -> ArchiveInfo {
        ArchiveInfo { offset: 40, seconds_per_point, points }
    }

    fn slots_of(placed: &[Placed]) -> Vec<(u64, u32)> {
        placed.iter().map(|p| (p.slot, p.interval)).collect()
    }

    #[test]
    fn window_span_covers_every_window_from_the_earliest_one() {
        let higher = archive(10, 100);
        // 1145 counts as its lower interval, 1140.
        let span = window_span(&higher, 1000, 60, 6, &[1080, 1020, 1145]).unwrap();
        assert_eq!(span, Span { first: 2, slots: 18, origin: Some(1020) });
        assert_eq!(span.window_start(1020, 10), 0);
        assert_eq!(span.window_start(1080, 10), 6);
        assert_eq!(span.window_start(1140, 10), 12);
    }

    #[test]
    fn window_span_wraps_like_any_ring_read() {
        // Base 1020 in slot 0 of 20: 1200 sits in slot 18, the span runs 18, 19, 0, .. 9.
        let span = window_span(&archive(10, 20), 1020, 60, 6, &[1260, 1200]).unwrap();
        assert_eq!(span, Span { first: 18, slots: 12, origin: Some(1200) });
    }

    #[test]
    fn window_span_gives_up_when_the_windows_spread_past_the_ring() {
        assert_eq!(window_span(&archive(10, 20), 1000, 60, 6, &[1020, 1200]), None);
        assert_eq!(window_span(&archive(10, 20), 1000, 60, 6, &[]), None);
    }

    #[test]
    fn an_empty_higher_archive_reads_every_window_from_its_first_slot() {
        let span = window_span(&archive(10, 20), 0, 60, 6, &[1000, 5000]).unwrap();
        assert_eq!(span, Span { first: 0, slots: 6, origin: None });
        assert_eq!(span.window_start(5000, 10), 0);
        assert_eq!(window_span(&archive(10, 20), 0, 60, 6, &[]), None);
    }

    #[test]
    fn window_value_knows_only_slots_holding_their_expected_interval() {
        let mut bytes = Vec::new();
        for (interval, value) in [(600, 1.0), (0, 7.0), (620, 3.0), (9999, 5.0)] {
            bytes.extend_from_slice(&encode_point(interval, value));
        }
        let value = |xff| window_value(&bytes, 600, 10, AggregationMethod::Sum, xff);
        assert_eq!(value(0.5), Some(4.0));
        assert_eq!(value(0.75), None);
        let empty = encode_point(0, 1.0).repeat(4);
        assert_eq!(window_value(&empty, 600, 10, AggregationMethod::Sum, 0.0), None);
    }

    #[test]
    fn the_first_write_into_an_empty_archive_sets_the_base_for_the_next_ones() {
        let mut placed = Vec::new();
        let base = place_points(&archive(60, 10), 0, &[(600, 1.0), (300, 2.0), (660, 3.0)], &mut placed);
        assert_eq!(base, 600);
        assert_eq!(slots_of(&placed), vec![(0, 600), (1, 660), (5, 300)]);
    }

    #[test]
    fn a_later_write_to_the_same_slot_wins_and_a_write_to_the_first_slot_moves_the_base() {
        let mut placed = Vec::new();
        let points = [(660, 1.0), (1260, 2.0), (1200, 3.0)];
        let base = place_points(&archive(60, 10), 600, &points, &mut placed);
        assert_eq!(base, 1200);
        assert_eq!(slots_of(&placed), vec![(0, 1200), (1, 1260)]);
        assert_eq!(placed[1].value, 2.0);
    }

    #[test]
    fn consecutive_slots_form_one_run_and_runs_stop_at_the_ring_end() {
        let mut placed = Vec::new();
        let points = [(1140, 1.0), (600, 2.0), (660, 3.0), (780, 4.0), (1080, 5.0)];
        place_points(&archive(60, 10), 600, &points, &mut placed);
        let runs: Vec<Vec<u64>> = slot_runs(&placed).map(|run| run.iter().map(|p| p.slot).collect()).collect();
        assert_eq!(runs, vec![vec![0, 1], vec![3], vec![8, 9]]);
    }

    #[test]
    fn align_down_matches_the_division_from_its_first_call_on() {
        let mut align = AlignDown::new(10);
        let got: Vec<u32> = [0, 9, 10, 25, 24, 3, u32::MAX, 0].into_iter().map(|t| align.apply(t)).collect();
        assert_eq!(got, vec![0, 0, 10, 20, 20, 0, u32::MAX - 5, 0]);
    }

    proptest! {
        #[test]
        fn align_down_is_t_minus_t_mod_step(step in 1u32..200, ts in proptest::collection::vec(any::<u32>(), 0..40),
                                            near in proptest::collection::vec(0u32..500, 0..40)) {
            let mut align = AlignDown::new(step);
            // Random timestamps, then a walk of nearby ones (the cached path).
            let walk = near.iter().scan(1_700_000_000u32, |t, d| { *t = t.wrapping_add(*d).wrapping_sub(200); Some(*t) });
            for t in ts.iter().copied().chain(walk) {
                prop_assert_eq!(align.apply(t), t - t % step);
            }
        }

        #[test]
        fn newest_first_is_the_stable_descending_sort(ts in proptest::collection::vec(0u32..30, 0..40), how in 0..3) {
            let mut ts = ts;
            match how {
                0 => { ts.sort_unstable(); ts.dedup(); }
                1 => { ts.sort_unstable_by(|a, b| b.cmp(a)); ts.dedup(); }
                _ => {}
            }
            let points: Vec<Point> = ts.iter().map(|&t| Point { timestamp: t, value: 0.0 }).collect();
            let mut expected: Vec<usize> = (0..points.len()).collect();
            expected.sort_by_key(|&i| Reverse(points[i].timestamp));
            let mut order = vec![99];
            newest_first(&points, &mut order);
            prop_assert_eq!(order, expected);
        }

        #[test]
        fn placing_leaves_what_writing_point_by_point_leaves(
            base in prop_oneof![Just(0u32), 1u32..5000],
            points in proptest::collection::vec((0u32..200, any::<i16>()), 0..30),
            ring in 1u32..12,
        ) {
            let lower = archive(60, ring);
            let points: Vec<(u32, f64)> = points.into_iter().map(|(k, v)| (k * 60, f64::from(v))).collect();
            // The reference: read the base before each write, write one slot.
            let mut model: Vec<Option<(u32, f64)>> = vec![None; ring as usize];
            let mut model_base = base;
            for &(interval, value) in &points {
                let slot = if model_base == 0 { 0 } else { slot_of(&lower, i64::from(model_base), i64::from(interval)) };
                model[slot as usize] = Some((interval, value));
                if slot == 0 {
                    model_base = interval;
                }
            }
            let mut placed = Vec::new();
            let base_after = place_points(&lower, base, &points, &mut placed);
            prop_assert_eq!(base_after, model_base);
            let mut ours: Vec<Option<(u32, f64)>> = vec![None; ring as usize];
            for run in slot_runs(&placed) {
                for (k, p) in run.iter().enumerate() {
                    prop_assert_eq!(p.slot, run[0].slot + k as u64);
                    prop_assert!(ours[p.slot as usize].is_none());
                    ours[p.slot as usize] = Some((p.interval, p.value));
                }
            }
            prop_assert_eq!(ours, model);
        }
    }
}
