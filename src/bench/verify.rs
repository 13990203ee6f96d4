//! Checking that a load is on disk: every point of every metric in its whisper file, with the value
//! [`super::load::value_of`] says.
//!
//! Every file is read twice: through warren's own [`crate::whisper::WhisperFile::fetch`] (what graphite-web would
//! see) and through [`read_archive0`], a deliberately independent, read-only decoder of the first archive that
//! shares no code with the engine that wrote the files, so a bug in the engine cannot hide itself by being repeated
//! on the way back. A point is ok only when both readers return the expected value. The bench schema gives every
//! metric one archive whose step equals the load's interval, so each point has a slot of its own.
//!
//! Owns: nothing but reads. Never touches: the broker, the cache.

use super::load::{value_of, Load};
use crate::whisper::{OpenOptions, WhisperError, WhisperFile};
use std::path::Path;

/// What the check found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// Points expected (metrics × points).
    pub expected: u64,
    /// Points found with exactly the expected value.
    pub ok: u64,
    /// Points whose slot is empty or holds another interval, including all points of missing files.
    pub missing: u64,
    /// Points present with a different value.
    pub mismatched: u64,
    /// Metrics without a file (or with an unreadable one).
    pub missing_files: u64,
    /// Points on which `WhisperFile::fetch` and the independent reader disagree (a reader bug either way).
    pub reader_disagreements: u64,
}

impl Verification {
    /// True when every point is there with its value.
    pub fn passed(&self) -> bool {
        self.missing == 0 && self.mismatched == 0 && self.reader_disagreements == 0 && self.ok == self.expected
    }
}

/// Why a file could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a whisper file ({why})")]
    Format { path: String, why: &'static str },
}

/// The first archive of a whisper file: its step and its slots as (interval, value), in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Archive0 {
    /// Seconds per point.
    pub seconds_per_point: u32,
    /// Every slot, in file order; interval 0 means never written.
    pub slots: Vec<(u32, f64)>,
}

impl Archive0 {
    /// The value stored for timestamp `t`, if its slot holds exactly that (aligned) interval.
    pub fn value_at(&self, t: u32) -> Option<f64> {
        let spp = self.seconds_per_point.max(1);
        let interval = t - t % spp;
        let base = self.slots.first()?.0;
        if base == 0 || self.slots.is_empty() {
            return None;
        }
        let n = self.slots.len() as i64;
        let idx = ((i64::from(interval) - i64::from(base)) / i64::from(spp)).rem_euclid(n) as usize;
        let (i, v) = self.slots[idx];
        (i == interval).then_some(v)
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decode the header and the first archive of the whisper file at `path` (big-endian format of the reference:
/// 16-byte metadata, 12 bytes per archive info, 12 bytes per point).
pub fn read_archive0(path: &Path) -> Result<Archive0, ReadError> {
    let p = || path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io { path: p(), source })?;
    let bad = |why| ReadError::Format { path: p(), why };
    let count = be32(&bytes, 12).ok_or_else(|| bad("short header"))?;
    if count == 0 {
        return Err(bad("no archives"));
    }
    let offset = be32(&bytes, 16).ok_or_else(|| bad("short archive info"))? as usize;
    let seconds_per_point = be32(&bytes, 20).ok_or_else(|| bad("short archive info"))?;
    let points = be32(&bytes, 24).ok_or_else(|| bad("short archive info"))? as usize;
    let data = bytes
        .get(offset..offset.saturating_add(points.saturating_mul(12)))
        .ok_or_else(|| bad("archive extends past the end of the file"))?;
    let slots = data
        .chunks_exact(12)
        .map(|c| {
            let i = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let v = f64::from_be_bytes([c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]]);
            (i, v)
        })
        .collect();
    Ok(Archive0 { seconds_per_point, slots })
}

/// The values of timestamps `first, first + step, …, last` as `WhisperFile::fetch` returns them.
fn fetch_values(path: &Path, first: u32, last: u32, step: u32) -> Result<Vec<Option<f64>>, WhisperError> {
    let f = WhisperFile::open(path, OpenOptions::default())?;
    let now = i64::from(crate::lifecycle::unix_now()).max(i64::from(last));
    // fetch's window starts one step after `from`: ask from `first - 1` to get `first` as the first value.
    let Some(r) = f.fetch(i64::from(first) - 1, Some(i64::from(last)), now, Some(step))? else {
        return Ok(Vec::new());
    };
    let n = (last - first) / step.max(1) + 1;
    Ok((0..n)
        .map(|i| {
            let t = first + i * step;
            let idx = t.checked_sub(r.from).map(|d| (d / r.step.max(1)) as usize);
            idx.and_then(|i| r.values.get(i).copied().flatten())
        })
        .collect())
}

/// Check every point of `load` under `data_dir`. `on_metric` is called after each metric (for progress).
pub fn verify(load: &Load, data_dir: &Path, on_metric: impl FnMut(u32)) -> Verification {
    verify_first(load, data_dir, |_| load.points, on_metric)
}

/// Check the first `points_of(m)` points of every metric `m` of `load` (a prefix of the load, e.g. what a
/// publisher got confirmed: [`Load::points_in_first`]); a metric with 0 points to check is not opened.
pub fn verify_first(
    load: &Load,
    data_dir: &Path,
    points_of: impl Fn(u32) -> u32,
    mut on_metric: impl FnMut(u32),
) -> Verification {
    let mut v = Verification::default();
    let mut name = String::new();
    let (first, last) = (load.timestamp_of(0), load.timestamp_of(load.points.saturating_sub(1)));
    for m in 0..load.metrics {
        let points = points_of(m).min(load.points);
        v.expected += u64::from(points);
        if points == 0 {
            on_metric(m);
            continue;
        }
        name.clear();
        load.write_name(m, &mut name);
        let path = crate::metric::file_path(data_dir, &name);
        let fetched = fetch_values(&path, first, last, load.interval);
        match (read_archive0(&path), fetched) {
            (Ok(a), Ok(fetched)) => {
                for p in 0..points {
                    let raw = a.value_at(load.timestamp_of(p));
                    let via_fetch = fetched.get(p as usize).copied().flatten();
                    if raw.map(f64::to_bits) != via_fetch.map(f64::to_bits) {
                        v.reader_disagreements += 1;
                    }
                    match raw {
                        Some(x) if x.to_bits() == value_of(m, p).to_bits() => v.ok += 1,
                        Some(_) => v.mismatched += 1,
                        None => v.missing += 1,
                    }
                }
            }
            (Err(e), _) => {
                tracing::debug!(error = %e, "verify: unreadable file");
                v.missing_files += 1;
                v.missing += u64::from(points);
            }
            (Ok(_), Err(e)) => {
                tracing::warn!(error = %e, "verify: the independent reader read a file WhisperFile refused");
                v.reader_disagreements += u64::from(points);
                v.missing += u64::from(points);
            }
        }
        on_metric(m);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(spp: u32, slots: &[(u32, f64)]) -> Vec<u8> {
        let mut b = Vec::new();
        for x in [1u32, spp * slots.len() as u32] {
            b.extend_from_slice(&x.to_be_bytes());
        }
        b.extend_from_slice(&0.5f32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        for x in [28u32, spp, slots.len() as u32] {
            b.extend_from_slice(&x.to_be_bytes());
        }
        for (i, v) in slots {
            b.extend_from_slice(&i.to_be_bytes());
            b.extend_from_slice(&v.to_be_bytes());
        }
        b
    }

    #[test]
    fn slots_are_found_relative_to_the_base_with_wraparound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wsp");
        // Base 100; slot 2 wrapped around to hold 70 (= 100 - 3 steps of 10, ring of 4).
        std::fs::write(&path, file(10, &[(100, 1.0), (110, 2.0), (0, 0.0), (90, 9.0)])).unwrap();
        let a = read_archive0(&path).unwrap();
        assert_eq!(a.value_at(100), Some(1.0));
        assert_eq!(a.value_at(115), Some(2.0));
        assert_eq!(a.value_at(90), Some(9.0));
        assert_eq!(a.value_at(120), None);
        assert_eq!(a.value_at(130), None, "slot of 130 holds 90: a stale interval is not a value");
    }

    #[test]
    fn truncated_files_are_format_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wsp");
        let mut b = file(10, &[(100, 1.0), (110, 2.0)]);
        b.truncate(40);
        std::fs::write(&path, b).unwrap();
        assert!(matches!(read_archive0(&path), Err(ReadError::Format { .. })));
        std::fs::write(&path, [0u8; 3]).unwrap();
        assert!(matches!(read_archive0(&path), Err(ReadError::Format { .. })));
    }
}
