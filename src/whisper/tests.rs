//! Unit and property tests of the engine through its public API (differential tests against the reference live in
//! `tests/whisper_diff.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

const NOW: u32 = 1_700_000_000;

fn spec(seconds_per_point: u32, points: u32) -> ArchiveSpec {
    ArchiveSpec { seconds_per_point, points }
}

fn p(timestamp: u32, value: f64) -> Point {
    Point { timestamp, value }
}

fn new_file(
    dir: &tempfile::TempDir,
    archives: &[ArchiveSpec],
    aggregation: AggregationMethod,
    xff: f32,
) -> (PathBuf, WhisperFile) {
    let path = dir.path().join("m.wsp");
    let opts = CreateOptions { x_files_factor: xff, aggregation, mode: CreateMode::Sparse };
    let wf = WhisperFile::create(&path, archives, &opts, OpenOptions::default()).unwrap();
    (path, wf)
}

/// (interval, value) of every non-empty slot of archive `i`, in storage order.
fn slots(wf: &WhisperFile, i: usize) -> Vec<(u32, f64)> {
    let archive = wf.header().archives[i];
    wf.archive_points(&archive)
        .unwrap()
        .into_iter()
        .filter(|r| r.interval != 0)
        .map(|r| (r.interval, r.value))
        .collect()
}

#[test]
fn the_look_ahead_hint_names_the_bytes_the_next_update_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut wf) = new_file(&dir, &[spec(60, 100), spec(600, 100)], AggregationMethod::Average, 0.5);
    let mut scratch = UpdateScratch::default();
    let t0 = NOW / 60 * 60 - 3000;
    assert_eq!(wf.slot_hint(t0), None, "an empty archive has no base");
    wf.update_many(&mut [p(t0, 1.0)], NOW, &mut scratch).unwrap();
    assert_eq!(wf.slot_hint(t0), None, "the write into the first slot makes the next update read the base");
    wf.update_many(&mut [p(t0 + 60, 2.0)], NOW, &mut scratch).unwrap();
    // From here the base is known: the hint is where each update's point lands (mid-interval, before the base,
    // a future point past the ring's end).
    for (t, v) in [(t0 + 125, 3.0), (t0 - 60 * 49, 4.0), (t0 + 60 * 45 + 59, 5.0), (t0 + 60 * 103, 6.0)] {
        let at = wf.slot_hint(t).expect("base known") as usize;
        wf.update_many(&mut [p(t, v)], NOW, &mut scratch).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(decode_point(&bytes[at..at + 12]), (t - t % 60, v), "{t}");
    }
}

#[test]
fn zero_mode_writes_the_header_then_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.wsp");
    let opts = CreateOptions { x_files_factor: 0.25, aggregation: AggregationMethod::Max, mode: CreateMode::Zero };
    WhisperFile::create(&path, &[spec(60, 10), spec(10, 6)], &opts, OpenOptions::default()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut expected = Vec::new();
    for word in [4u32, 600, 0.25f32.to_bits(), 2, 40, 10, 6, 40 + 72, 60, 10] {
        expected.extend_from_slice(&word.to_be_bytes());
    }
    expected.resize(40 + 72 + 120, 0);
    assert_eq!(bytes, expected);
}

#[test]
fn every_create_mode_gives_the_same_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut contents = Vec::new();
    for (i, mode) in [CreateMode::Zero, CreateMode::Sparse, CreateMode::Fallocate].into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.wsp"));
        let opts = CreateOptions { mode, ..CreateOptions::default() };
        WhisperFile::create(&path, &[spec(10, 2160), spec(60, 10080)], &opts, OpenOptions::default()).unwrap();
        contents.push(std::fs::read(&path).unwrap());
    }
    assert_eq!(contents[0], contents[1]);
    assert_eq!(contents[0], contents[2]);
}

#[test]
fn create_refuses_an_existing_file_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.wsp");
    std::fs::write(&path, b"keep me").unwrap();
    let err =
        WhisperFile::create(&path, &[spec(10, 6)], &CreateOptions::default(), OpenOptions::default()).unwrap_err();
    assert!(matches!(err, WhisperError::AlreadyExists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[test]
fn create_rejects_bad_xff_and_archive_lists_before_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.wsp");
    let bad_xff = CreateOptions { x_files_factor: 1.5, ..CreateOptions::default() };
    let err = WhisperFile::create(&path, &[spec(10, 6)], &bad_xff, OpenOptions::default()).unwrap_err();
    assert!(err.to_string().contains("1.5"), "{err}");
    let err =
        WhisperFile::create(&path, &[spec(10, 6), spec(10, 7)], &CreateOptions::default(), OpenOptions::default())
            .unwrap_err();
    assert!(matches!(err, WhisperError::InvalidArchives(_)), "{err}");
    assert!(!path.exists());
}

#[test]
fn truncated_files_open_as_corrupt_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = new_file(&dir, &[spec(10, 6), spec(60, 10)], AggregationMethod::Average, 0.5);
    let full = std::fs::read(&path).unwrap();
    for len in [0, 3, 16, 20, 39, 40, 100, full.len() - 1] {
        std::fs::write(&path, &full[..len]).unwrap();
        let err = WhisperFile::open(&path, OpenOptions::default()).unwrap_err();
        assert!(matches!(err, WhisperError::Corrupt { .. }), "len {len}: {err}");
        assert!(err.to_string().contains("m.wsp"), "{err}");
    }
}

#[test]
fn a_header_longer_than_the_first_read_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    // 25 archives (316 header bytes): more than the first pread on open covers.
    let archives: Vec<ArchiveSpec> = (0..25).map(|k| spec(1 << k, 2)).collect();
    assert!(header::header_size(archives.len()) > HEADER_READ as u64);
    let (path, _) = new_file(&dir, &archives, AggregationMethod::Max, 0.5);
    let wf = WhisperFile::open(&path, OpenOptions::default()).unwrap();
    assert_eq!(wf.header().archives.len(), 25);
    assert_eq!(wf.header().archives[24].seconds_per_point, 1 << 24);
    assert_eq!(wf.header().aggregation, AggregationMethod::Max);
}

#[test]
fn a_run_crossing_the_ring_end_is_split_in_two_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut wf) = new_file(&dir, &[spec(10, 6)], AggregationMethod::Average, 0.5);
    let mut scratch = UpdateScratch::default();
    // Base = NOW - 50: the ring holds NOW-50 ..= NOW in slots 0..=5.
    let first = wf.update_many(&mut [p(NOW - 50, 1.0)], NOW, &mut scratch).unwrap();
    assert_eq!(first, UpdateStats { points_written: 1, writes: 1, propagated: 0, dropped: 0 });
    // NOW+10 and NOW+20 wrap to slots 0 and 1, after NOW-10 and NOW in slots 4 and 5.
    let mut batch = [p(NOW - 10, 2.0), p(NOW, 3.0), p(NOW + 10, 4.0), p(NOW + 20, 5.0)];
    let stats = wf.update_many(&mut batch, NOW, &mut scratch).unwrap();
    assert_eq!(stats.writes, 2);
    let ring = wf.archive_points(&wf.header().archives[0]).unwrap();
    let intervals: Vec<u32> = ring.iter().map(|r| r.interval).collect();
    assert_eq!(intervals, [NOW + 10, NOW + 20, 0, 0, NOW - 10, NOW]);
}

#[test]
fn a_future_run_longer_than_the_ring_keeps_its_newest_points_inside_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut wf) = new_file(&dir, &[spec(10, 4), spec(20, 10)], AggregationMethod::Last, 0.0);
    let mut batch: Vec<Point> = (0..7).map(|i| p(NOW + 10 * i, f64::from(i))).collect();
    wf.update_many(&mut batch, NOW, &mut UpdateScratch::default()).unwrap();
    let values: Vec<f64> = slots(&wf, 0).iter().map(|s| s.1).collect();
    // Base NOW: slots hold NOW+40, NOW+50, NOW+60, NOW+30.
    assert_eq!(values, [4.0, 5.0, 6.0, 3.0]);
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(len, 16 + 24 + 48 + 120, "nothing written past the last archive");
}

#[test]
fn duplicate_timestamps_keep_the_first_given_and_an_interval_keeps_its_newest_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut wf) = new_file(&dir, &[spec(10, 60)], AggregationMethod::Average, 0.5);
    let t = NOW - NOW % 10 - 100;
    let mut batch = [p(t, 1.0), p(t, 2.0), p(t + 13, 3.0), p(t + 17, 4.0), p(t + 17, 5.0), p(t + 11, 6.0)];
    wf.update_many(&mut batch, NOW, &mut UpdateScratch::default()).unwrap();
    assert_eq!(slots(&wf, 0), [(t, 1.0), (t + 10, 4.0)]);
}

#[test]
fn points_older_than_every_archive_are_dropped_and_future_points_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut wf) = new_file(&dir, &[spec(10, 6), spec(60, 10)], AggregationMethod::Average, 0.0);
    let mut batch = [p(NOW - 601, 1.0), p(NOW - 7000, 2.0), p(NOW + 5, 3.0)];
    let stats = wf.update_many(&mut batch, NOW, &mut UpdateScratch::default()).unwrap();
    assert_eq!(stats.dropped, 2);
    assert_eq!(stats.points_written, 1);
    assert_eq!(slots(&wf, 0), [(NOW + 5 - (NOW + 5) % 10, 3.0)]);
}

#[test]
fn propagation_aggregates_with_each_method() {
    // Window of 4 slots with one unknown: values 3, -5, (missing), 5.
    let expected = [
        (AggregationMethod::Average, 1.0),
        (AggregationMethod::Sum, 3.0),
        (AggregationMethod::Last, 5.0),
        (AggregationMethod::Max, 5.0),
        (AggregationMethod::Min, -5.0),
        (AggregationMethod::AvgZero, 0.75),
        (AggregationMethod::AbsMax, -5.0),
        (AggregationMethod::AbsMin, 3.0),
    ];
    for (method, want) in expected {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut wf) = new_file(&dir, &[spec(1, 8), spec(4, 10)], method, 0.5);
        let t = NOW - NOW % 4 - 4;
        let mut batch = [p(t, 3.0), p(t + 1, -5.0), p(t + 3, 5.0)];
        let stats = wf.update_many(&mut batch, NOW, &mut UpdateScratch::default()).unwrap();
        assert_eq!(stats.propagated, 1, "{method}");
        assert_eq!(slots(&wf, 1), [(t, want)], "{method}");
    }
}

#[test]
fn propagation_waits_for_x_files_factor_of_known_points() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut wf) = new_file(&dir, &[spec(1, 8), spec(4, 10)], AggregationMethod::Sum, 0.75);
    let t = NOW - NOW % 4 - 4;
    let mut scratch = UpdateScratch::default();
    let stats = wf.update_many(&mut [p(t, 1.0), p(t + 1, 2.0)], NOW, &mut scratch).unwrap();
    assert_eq!(stats.propagated, 0);
    assert!(slots(&wf, 1).is_empty());
    wf.update_many(&mut [p(t + 2, 4.0)], NOW, &mut scratch).unwrap();
    assert_eq!(slots(&wf, 1), [(t, 7.0)]);
}

/// The propagation after an update reads back only the window slots the update did not write: these cases put
/// the written slots at a window's start, its end, both ends, and across the ring's end, with older known values
/// in the rest of the window, which the sums must include (a read skipped or misplaced loses or repeats them).
#[test]
fn propagation_sums_the_written_slots_with_the_unwritten_rest_of_the_window() {
    const T0: u32 = 1_699_999_800; // a multiple of 60
    let window = |base: u32| (0..6).map(move |i| p(base + 10 * i, f64::from(i + 1))).collect::<Vec<_>>();
    // (points of the second update, their values, the window's sum afterwards: 21 = 1 + .. + 6 before)
    let cases: [(&[u32], f64); 4] = [
        (&[T0, T0 + 10], 21.0 - 1.0 - 2.0 + 100.0 + 200.0),
        (&[T0 + 40, T0 + 50], 21.0 - 5.0 - 6.0 + 100.0 + 200.0),
        (&[T0, T0 + 50], 21.0 - 1.0 - 6.0 + 100.0 + 200.0),
        (&[T0 + 20, T0 + 30], 21.0 - 3.0 - 4.0 + 100.0 + 200.0),
    ];
    for (k, (second, sum)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let (path, wf) = new_file(&dir, &[spec(10, 60), spec(60, 20)], AggregationMethod::Sum, 0.0);
        drop(wf);
        let mut scratch = UpdateScratch::default();
        let mut wf = WhisperFile::open(&path, OpenOptions::default()).unwrap();
        wf.update_many(&mut window(T0), T0 + 100, &mut scratch).unwrap();
        assert_eq!(slots(&wf, 1), vec![(T0, 21.0)], "case {k}");
        let mut batch = vec![p(second[0], 100.0), p(second[1], 200.0)];
        let mut wf = WhisperFile::open(&path, OpenOptions::default()).unwrap();
        // A fresh scratch: a reused one holds the window from the first update's propagation, so a skipped read
        // would find the right bytes there by chance.
        wf.update_many(&mut batch, T0 + 100, &mut UpdateScratch::default()).unwrap();
        assert_eq!(slots(&wf, 1), vec![(T0, sum)], "case {k}");
    }
    // Across the ring's end: the higher archive's base is T0 + 20, so the window's slots are 58, 59, 0, 1, 2, 3
    // and the second update (T0 + 10, T0 + 20) is one run written in two pieces, slot 59 and slot 0.
    let dir = tempfile::tempdir().unwrap();
    let (path, mut wf) = new_file(&dir, &[spec(10, 60), spec(60, 20)], AggregationMethod::Sum, 0.0);
    let mut scratch = UpdateScratch::default();
    wf.update_many(&mut [p(T0 + 20, 0.0)], T0 + 100, &mut scratch).unwrap();
    wf.update_many(&mut window(T0), T0 + 100, &mut scratch).unwrap();
    let higher = wf.archive_points(&wf.header().archives[0]).unwrap();
    let at = |slot: usize| (higher[slot].interval, higher[slot].value);
    assert_eq!((at(58), at(59), at(0), at(3)), ((T0, 1.0), (T0 + 10, 2.0), (T0 + 20, 3.0), (T0 + 50, 6.0)));
    let mut wf = WhisperFile::open(&path, OpenOptions::default()).unwrap();
    let batch = &mut [p(T0 + 10, 200.0), p(T0 + 20, 300.0)];
    let stats = wf.update_many(batch, T0 + 100, &mut UpdateScratch::default()).unwrap();
    assert_eq!(stats.writes, 2);
    assert_eq!(slots(&wf, 1), vec![(T0, 1.0 + 200.0 + 300.0 + 4.0 + 5.0 + 6.0)]);
}

#[test]
fn single_update_outside_max_retention_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut wf) = new_file(&dir, &[spec(10, 6), spec(60, 10)], AggregationMethod::Average, 0.5);
    for t in [NOW + 1, NOW - 600] {
        let err = wf.update(p(t, 1.0), NOW).unwrap_err();
        assert!(matches!(err, WhisperError::TimestampNotCovered { .. }), "{err}");
        assert!(err.to_string().contains(&t.to_string()), "{err}");
    }
    wf.update(p(NOW - 599, 1.0), NOW).unwrap();
    assert_eq!(slots(&wf, 1), [(NOW - 599 - (NOW - 599) % 60, 1.0)]);
    assert!(slots(&wf, 0).is_empty());
}

#[test]
fn single_update_propagates_down_every_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut wf) = new_file(&dir, &[spec(10, 6), spec(60, 10), spec(600, 10)], AggregationMethod::Max, 0.0);
    wf.update(p(NOW, 7.0), NOW).unwrap();
    assert_eq!(slots(&wf, 0), [(NOW - NOW % 10, 7.0)]);
    assert_eq!(slots(&wf, 1), [(NOW - NOW % 60, 7.0)]);
    assert_eq!(slots(&wf, 2), [(NOW - NOW % 600, 7.0)]);
}

#[test]
fn fetch_window_starts_one_step_after_from() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut wf) = new_file(&dir, &[spec(10, 60), spec(60, 100)], AggregationMethod::Average, 0.5);
    let t = NOW - NOW % 10;
    wf.update_many(&mut [p(t - 20, 1.0), p(t - 10, 2.0), p(t, 3.0)], NOW, &mut UpdateScratch::default()).unwrap();
    let r = wf.fetch(i64::from(t - 30), None, i64::from(NOW), None).unwrap().unwrap();
    assert_eq!((r.from, r.until, r.step), (t - 20, t + 10, 10));
    assert_eq!(r.values, [Some(1.0), Some(2.0), Some(3.0)]);
    // An empty window still returns the next step.
    let r = wf.fetch(i64::from(t - 20), Some(i64::from(t - 20)), i64::from(NOW), None).unwrap().unwrap();
    assert_eq!((r.from, r.until), (t - 10, t));
    assert_eq!(r.values, [Some(2.0)]);
    // Older than the first archive's retention: the 60 s archive.
    let r = wf.fetch(i64::from(NOW) - 3600, None, i64::from(NOW), None).unwrap().unwrap();
    assert_eq!(r.step, 60);
    // By requested step.
    let r = wf.fetch(i64::from(NOW) - 60, None, i64::from(NOW), Some(60)).unwrap().unwrap();
    assert_eq!(r.step, 60);
}

#[test]
fn fetch_outside_the_data_returns_none_or_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, wf) = new_file(&dir, &[spec(10, 6)], AggregationMethod::Average, 0.5);
    let now = i64::from(NOW);
    assert_eq!(
        wf.fetch(now + 1, None, now, None).unwrap_err().to_string(),
        format!("invalid time interval: from time {} is after until time {now}", now + 1)
    );
    assert_eq!(wf.fetch(now + 1, Some(now + 5), now, None).unwrap(), None);
    assert_eq!(wf.fetch(now - 100, Some(now - 61), now, None).unwrap(), None);
    let err = wf.fetch(now - 30, None, now, Some(60)).unwrap_err();
    assert!(matches!(err, WhisperError::InvalidGranularity { step: 60, .. }), "{err}");
    let empty = wf.fetch(now - 30, None, now, None).unwrap().unwrap();
    assert_eq!(empty.values, [None, None, None]);
}

/// Found by the `whisper_file` fuzz target: a corrupt max_retention (or an explicit archive step) made a fetch of
/// an empty archive allocate one value per step of a window of up to 2^32 seconds (68 GB), aborting the process.
#[test]
fn fetch_of_an_empty_archive_returns_at_most_its_ring() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.wsp");
    let mut bytes = Vec::new();
    for word in [1u32, u32::MAX, 0.5f32.to_bits(), 1, 28, 1, 1] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.extend_from_slice(&[0; 12]);
    std::fs::write(&path, &bytes).unwrap();
    let wf = WhisperFile::open(&path, OpenOptions::default()).unwrap();
    let now = i64::from(u32::MAX - 15);
    let r = wf.fetch(0, None, now, None).unwrap().unwrap();
    assert_eq!((r.step, r.values), (1, vec![None]));

    let (_, wf) = new_file(&dir, &[spec(1, 60), spec(60, 1000)], AggregationMethod::Average, 0.5);
    let now = i64::from(NOW);
    let r = wf.fetch(now - 60_000, None, now, Some(1)).unwrap().unwrap();
    assert_eq!(r.step, 1);
    assert!(r.values.len() <= 60 && r.values.iter().all(Option::is_none), "{} values", r.values.len());
}

#[test]
fn set_aggregation_rewrites_only_the_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut wf) = new_file(&dir, &[spec(10, 6)], AggregationMethod::Average, 0.5);
    wf.update(p(NOW, 1.0), NOW).unwrap();
    let before = std::fs::read(&path).unwrap();
    let old = wf.set_aggregation(Some(AggregationMethod::AbsMin), None).unwrap();
    assert_eq!(old, (AggregationMethod::Average, 0.5));
    assert!(wf.set_aggregation(None, Some(-0.1)).is_err());
    wf.set_aggregation(None, Some(0.1)).unwrap();
    let after = std::fs::read(&path).unwrap();
    assert_eq!(before[16..], after[16..]);
    let reopened = WhisperFile::open(&path, OpenOptions::default()).unwrap();
    assert_eq!(reopened.header().aggregation, AggregationMethod::AbsMin);
    assert_eq!(reopened.header().x_files_factor, 0.1);
}

#[test]
fn locked_and_autoflushed_updates_work() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = new_file(&dir, &[spec(10, 6)], AggregationMethod::Average, 0.5);
    let mut wf = WhisperFile::open(&path, OpenOptions { lock: true, autoflush: true }).unwrap();
    wf.update_many(&mut [p(NOW, 1.0)], NOW, &mut UpdateScratch::default()).unwrap();
    // The lock is released after the update: another handle can take it.
    let other = std::fs::File::open(&path).unwrap();
    assert!(other.try_lock().is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Within one archive's ring, what fetch returns is the newest point of each interval (first given on equal
    /// timestamps), later batches overriding earlier ones.
    #[test]
    fn update_many_then_fetch_matches_a_last_writer_wins_model(
        batches in proptest::collection::vec(
            proptest::collection::vec((0u32..=290, -1e6f64..1e6), 1..40), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut wf) = new_file(&dir, &[spec(10, 30)], AggregationMethod::Average, 0.5);
        let mut scratch = UpdateScratch::default();
        let mut model: BTreeMap<u32, f64> = BTreeMap::new();
        for batch in &batches {
            let mut newest: BTreeMap<u32, (u32, f64)> = BTreeMap::new();
            for &(age, value) in batch {
                let t = NOW - age;
                let e = newest.entry(t - t % 10).or_insert((t, value));
                if t > e.0 {
                    *e = (t, value);
                }
            }
            model.extend(newest.into_iter().map(|(i, (_, v))| (i, v)));
            let mut points: Vec<Point> = batch.iter().map(|&(age, v)| p(NOW - age, v)).collect();
            wf.update_many(&mut points, NOW, &mut scratch).unwrap();
        }
        let r = wf.fetch(i64::from(NOW) - 300, None, i64::from(NOW), None).unwrap().unwrap();
        for (i, value) in r.values.iter().enumerate() {
            let interval = r.from + 10 * i as u32;
            prop_assert_eq!(*value, model.get(&interval).copied(), "interval {}", interval);
        }
    }

    /// The window always starts one step after `from` (aligned) and holds one value per step.
    #[test]
    fn fetch_window_shape(from_age in 0i64..600, span in 0i64..600) {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut wf) = new_file(&dir, &[spec(10, 60)], AggregationMethod::Average, 0.5);
        wf.update(p(NOW - 5, 1.0), NOW).unwrap();
        let now = i64::from(NOW);
        let from = now - from_age;
        let until = (from + span).min(now);
        let r = wf.fetch(from, Some(until), now, None).unwrap().unwrap();
        prop_assert_eq!(i64::from(r.from), from - from.rem_euclid(10) + 10);
        prop_assert!(r.until > r.from);
        prop_assert_eq!(r.values.len() as u32, (r.until - r.from) / 10);
    }

    /// The same updates through a file and through memory leave the same bytes and fetch the same values (the
    /// fuzzer's `whisper_file` target runs on memory; this keeps it honest about files).
    #[test]
    fn memory_storage_writes_the_bytes_a_file_gets(
        batches in proptest::collection::vec(
            proptest::collection::vec((0u32..=4000, -1e6f64..1e6), 1..40), 1..4),
        single in proptest::option::of((0u32..=4000, -1e6f64..1e6)),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let archives = [spec(10, 30), spec(60, 20), spec(600, 10)];
        let (path, mut on_disk) = new_file(&dir, &archives, AggregationMethod::Average, 0.3);
        let mem = MemStorage::new(std::fs::read(&path).unwrap());
        let mut in_mem = WhisperFile::from_storage(mem, &path, OpenOptions::default()).unwrap();
        prop_assert_eq!(in_mem.header(), on_disk.header());
        let (mut a, mut b) = (UpdateScratch::default(), UpdateScratch::default());
        for batch in &batches {
            let mut points: Vec<Point> = batch.iter().map(|&(age, v)| p(NOW - age, v)).collect();
            let mut same = points.clone();
            prop_assert_eq!(on_disk.update_many(&mut points, NOW, &mut a).is_ok(), in_mem.update_many(&mut same, NOW, &mut b).is_ok());
        }
        if let Some((age, v)) = single {
            prop_assert_eq!(on_disk.update(p(NOW - age, v), NOW).is_ok(), in_mem.update(p(NOW - age, v), NOW).is_ok());
        }
        for step in [None, Some(60), Some(600)] {
            let from = i64::from(NOW) - 5000;
            let got = |f: &dyn Fn() -> Result<Option<FetchResult>, WhisperError>| f().unwrap().map(|r| (r.from, r.until, r.step, r.values));
            prop_assert_eq!(
                got(&|| on_disk.fetch(from, None, i64::from(NOW), step)),
                got(&|| in_mem.fetch(from, None, i64::from(NOW), step))
            );
        }
        drop(on_disk);
        prop_assert_eq!(in_mem.into_storage().into_bytes(), std::fs::read(&path).unwrap());
    }

    /// Two handles kept open on one file, one mapped, writing it in turn (as warren's writer and a whisper tool or
    /// another carbon would), leave the bytes and fetch the values that a fresh open for every operation gives: a handle's
    /// remembered archive bases stay right while the other moves them (the small rings wrap often, so the first
    /// slots are rewritten many times, and the archives start empty).
    #[test]
    fn long_lived_handles_writing_one_file_in_turn_agree_with_a_fresh_open_per_operation(
        ops in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec((0u32..=1500, -1e6f64..1e6), 1..8), any::<bool>()), 1..30),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let archives = [spec(10, 7), spec(30, 5), spec(120, 4)];
        let opts = CreateOptions { x_files_factor: 0.0, aggregation: AggregationMethod::Sum, mode: CreateMode::Sparse };
        let (kept, fresh) = (dir.path().join("kept.wsp"), dir.path().join("fresh.wsp"));
        let laid_down = CreateOptions { mode: CreateMode::Fallocate, ..opts };
        WhisperFile::create(&kept, &archives, &laid_down, OpenOptions::default()).unwrap();
        WhisperFile::create(&fresh, &archives, &opts, OpenOptions::default()).unwrap();
        let mut handles = [
            WhisperFile::open(&kept, OpenOptions::default()).unwrap(),
            WhisperFile::open(&kept, OpenOptions::default()).unwrap(),
        ];
        // The first writes through a mapping (as warren's writer does), the second through syscalls.
        prop_assert!(handles[0].map_for_updates());
        let mut scratch = UpdateScratch::default();
        for (i, (second, batch, many)) in ops.iter().enumerate() {
            // Time moves on, so later points overwrite earlier ones around the rings.
            let now = NOW + 40 * i as u32;
            let mut points: Vec<Point> = batch.iter().map(|&(age, v)| p(now - age, v)).collect();
            let mut same = points.clone();
            let mut reference = WhisperFile::open(&fresh, OpenOptions::default()).unwrap();
            let handle = &mut handles[usize::from(*second)];
            if *many {
                prop_assert_eq!(
                    handle.update_many(&mut points, now, &mut scratch).is_ok(),
                    reference.update_many(&mut same, now, &mut scratch).is_ok()
                );
            } else {
                prop_assert_eq!(handle.update(points[0], now).is_ok(), reference.update(same[0], now).is_ok());
            }
            let reference = WhisperFile::open(&fresh, OpenOptions::default()).unwrap();
            for (step, h) in [(None, 0), (Some(30), 1), (Some(120), 0)] {
                let from = i64::from(now) - 600;
                let got = |f: &WhisperFile| f.fetch(from, None, i64::from(now), step).unwrap().map(|r| (r.from, r.values));
                prop_assert_eq!(got(&handles[h]), got(&reference), "after op {}, step {:?}", i, step);
            }
            prop_assert_eq!(std::fs::read(&kept).unwrap(), std::fs::read(&fresh).unwrap(), "after op {}", i);
        }
    }

    // Arbitrary bytes opened as a whisper file: `tests/fuzz_properties.rs` runs them through the whisper_file
    // invariants of `fuzz/checks.rs` (open gives a file or Corrupt, fetch bounded, updates keep length and header).
}
