//! Reading: fetch (what graphite-web sees, quirks included) and raw slot dumps.

use super::{decode_point, slot_of, ArchiveInfo, WhisperError, WhisperFile, POINT_SIZE};

/// The answer to a fetch: `values[i]` is the value at `from + i * step` (`None` when that slot does not hold that
/// interval). `until` is exclusive. As with the reference, `values.len()` is normally `(until - from) / step`.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchResult {
    /// First interval (a multiple of `step`, one step after the requested `from`).
    pub from: u32,
    /// End of the window (exclusive).
    pub until: u32,
    /// Seconds per value: the chosen archive's precision.
    pub step: u32,
    /// One entry per step.
    pub values: Vec<Option<f64>>,
}

/// One raw slot of an archive, as stored (interval 0 means empty).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawPoint {
    /// Interval stored in the slot (seconds since the epoch; 0 = empty).
    pub interval: u32,
    /// Value stored in the slot.
    pub value: f64,
}

impl<S: super::Storage> WhisperFile<S> {
    /// Fetch as the reference's `fetch(path, from, until, now, archiveToSelect)`. `until` defaults to `now`.
    /// `Ok(None)` when `from > now` or `until < now - max_retention`. Otherwise `from` is clamped up to
    /// `now - max_retention` and `until` down to `now`; the archive is the first whose retention covers
    /// `now - from`, or the one with `archive_step` seconds per point when given (`Some(0)` means not given, as in
    /// the reference). The window is `[from - from % step + step, until - until % step + step)` (one more step
    /// if that is empty): the `+ step` is the reference's quirk that graphite-web relies on.
    /// Errors: `InvalidTimeInterval` if `from > until`, `InvalidGranularity` for an unknown step, `OutOfRange` if
    /// the window does not fit u32 seconds, `Io`.
    pub fn fetch(
        &self,
        from: i64,
        until: Option<i64>,
        now: i64,
        archive_step: Option<u32>,
    ) -> Result<Option<FetchResult>, WhisperError> {
        let until = until.unwrap_or(now);
        if from > until {
            return Err(WhisperError::InvalidTimeInterval { from, until });
        }
        // i128: no input can overflow.
        let (from, until, now) = (i128::from(from), i128::from(until), i128::from(now));
        let oldest = now - i128::from(self.header.max_retention);
        if from > now || until < oldest {
            return Ok(None);
        }
        let from = from.max(oldest);
        let until = until.min(now);
        let archives = &self.header.archives;
        let archive = match archive_step.filter(|&s| s != 0) {
            Some(step) => archives
                .iter()
                .find(|a| a.seconds_per_point == step)
                .ok_or_else(|| WhisperError::InvalidGranularity { path: self.path.display().to_string(), step })?,
            // Header invariant: at least one archive. Like the reference, fall back to the last archive when
            // none covers (possible only if max_retention exceeds every archive's retention).
            None => archives
                .iter()
                .find(|a| i128::from(a.retention()) >= now - from)
                .unwrap_or(&archives[archives.len() - 1]),
        };
        self.window(archive, from, until).map(Some)
    }

    /// Read one archive (`index` into [`super::Header::archives`]) as the reference's `__archive_fetch`, which
    /// whisper-merge.py and whisper-diff.py call directly: no clamping to `now` or to the retention, no archive
    /// choice. The window is aligned as in [`WhisperFile::fetch`]; a `from` past `until` reads what the reference
    /// reads (the ring from `from`'s slot round to `until`'s), and from an empty archive gives no value at all.
    /// Errors: `OutOfRange` if the window does not fit u32 seconds, `Io`. Panics never: an index past the
    /// archives is `OutOfRange` too.
    pub fn fetch_archive(&self, index: usize, from: i64, until: i64) -> Result<FetchResult, WhisperError> {
        let archive = self
            .header
            .archives
            .get(index)
            .ok_or(WhisperError::OutOfRange { what: "archive index", value: index as i64 })?;
        self.window(archive, i128::from(from), i128::from(until))
    }

    /// The aligned window `[from, until)` of `archive` (see [`WhisperFile::fetch`]).
    fn window(&self, archive: &ArchiveInfo, from: i128, until: i128) -> Result<FetchResult, WhisperError> {
        let step = i128::from(archive.seconds_per_point);
        let from_interval = from - from.rem_euclid(step) + step;
        let mut until_interval = until - until.rem_euclid(step) + step;
        if from_interval == until_interval {
            until_interval += step;
        }
        let to_u32 = |what, v: i128| {
            u32::try_from(v)
                .map_err(|_| WhisperError::OutOfRange { what, value: v.clamp(i64::MIN.into(), i64::MAX.into()) as i64 })
        };
        let result_from = to_u32("fetch window start", from_interval)?;
        let result_until = to_u32("fetch window end", until_interval)?;

        let base = self.read_base(archive)?;
        let values = if base == 0 {
            // As many empty slots as a written archive would give (at most its ring), not one per step of the
            // window as the reference does: a corrupt max_retention or an explicit step would ask for billions.
            // A reversed window (only through `fetch_archive`) is empty, as the reference's `[None] * negative`.
            let slots = if result_until > result_from { window_slots(archive, result_from, result_until) } else { 0 };
            vec![None; slots as usize]
        } else {
            self.read_window(archive, base, result_from, result_until)?
        };
        Ok(FetchResult { from: result_from, until: result_until, step: archive.seconds_per_point, values })
    }

    /// The slots from `from`'s position up to (excluding) `until`'s position, ring-wrapped as the reference reads
    /// them (equal positions read the whole ring), matched against the expected intervals.
    fn read_window(
        &self,
        archive: &ArchiveInfo,
        base: u32,
        from: u32,
        until: u32,
    ) -> Result<Vec<Option<f64>>, WhisperError> {
        let ring = u64::from(archive.points);
        let first = slot_of(archive, i64::from(base), i64::from(from));
        let last = slot_of(archive, i64::from(base), i64::from(until));
        let count = if first < last { last - first } else { ring - first + last };
        debug_assert!(until < from || count == window_slots(archive, from, until));
        let mut bytes = Vec::new();
        self.read_slots(archive, first, count, &mut bytes)?;
        let mut expected = i64::from(from);
        Ok(bytes
            .chunks_exact(POINT_SIZE as usize)
            .map(|slot| {
                let (interval, value) = decode_point(slot);
                let known = i64::from(interval) == expected;
                expected += i64::from(archive.seconds_per_point);
                known.then_some(value)
            })
            .collect())
    }

    /// Every slot of `archive` (one of this file's [`super::Header::archives`]) in storage order, as
    /// whisper-dump.py prints them. Errors: `Io`, `Corrupt` if the archive lies past the end of the file.
    pub fn archive_points(&self, archive: &ArchiveInfo) -> Result<Vec<RawPoint>, WhisperError> {
        let mut bytes = vec![0u8; archive.size() as usize];
        self.read_at(&mut bytes, u64::from(archive.offset))?;
        Ok(bytes
            .chunks_exact(POINT_SIZE as usize)
            .map(|slot| {
                let (interval, value) = decode_point(slot);
                RawPoint { interval, value }
            })
            .collect())
    }
}

/// Slots read for the aligned window `[from, until)`: one per step, wrapped to the ring (equal ring positions read
/// the whole ring), whatever the archive's base.
fn window_slots(archive: &ArchiveInfo, from: u32, until: u32) -> u64 {
    let ring = u64::from(archive.points);
    match (u64::from(until - from) / u64::from(archive.seconds_per_point)) % ring {
        0 => ring,
        n => n,
    }
}
