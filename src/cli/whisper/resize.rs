//! `warren whisper resize`: whisper-resize.py — read every archive, create a new file with the new archives, copy
//! the data in (plainly, or aggregated into the new steps with `--aggregate`), then swap the files, keeping a
//! `.bak`. Same bytes written and same lines printed as the reference.
//!
//! `--aggregate` follows what the script does under the Python 2 it was written for; under Debian's Python 3 the
//! script stops with a TypeError after creating the new file (it slices a `zip` and bisects a `map`). warren
//! behaves as the script does once those iterators are made lists, and prints the range as Python 3 prints one.
//!
//! Owns: the `.tmp`/`.bak` file dance and the `--aggregate` migration. Never touches: files other than the one
//! resized, its `.tmp`/`.bak` siblings and `--newfile`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::config::retention::parse_retention_def;
use crate::whisper::{
    aggregate_values, AggregationMethod, CreateMode, CreateOptions, FetchResult, OpenOptions, Point, UpdateScratch,
    WhisperFile,
};

/// Arguments of `warren whisper resize`.
#[derive(clap::Args, Debug)]
pub struct ResizeArgs {
    /// File to resize.
    pub path: PathBuf,
    /// New archives, `timePerPoint:timeToStore` each (e.g. `60:1440`, `1h:7d`).
    #[arg(required = true)]
    pub retentions: Vec<String>,
    /// Change the xFilesFactor.
    #[arg(long = "xFilesFactor", visible_alias = "xff")]
    pub x_files_factor: Option<f64>,
    /// Change the aggregation function.
    #[arg(long = "aggregationMethod", visible_alias = "aggregation")]
    pub aggregation_method: Option<AggregationMethod>,
    /// Accepted for compatibility: the reference declares it and never reads it.
    #[arg(long)]
    pub force: bool,
    /// Create a new database file without removing the existing one.
    #[arg(long)]
    pub newfile: Option<PathBuf>,
    /// Delete the .bak file after successful execution.
    #[arg(long)]
    pub nobackup: bool,
    /// Aggregate the values into the new archives' steps (slower, more memory).
    #[arg(long)]
    pub aggregate: bool,
    /// The current time, in epoch seconds (default: the clock).
    #[arg(long, allow_hyphen_values = true)]
    pub now: Option<i64>,
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A progress bar on stderr (drawn only on a terminal, so outputs stay comparable).
fn progress(len: u64, what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}") {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

/// `warren whisper resize`.
pub fn resize(a: ResizeArgs) -> anyhow::Result<()> {
    let now = a.now.unwrap_or_else(|| i64::from(crate::lifecycle::unix_now()));
    if !a.path.exists() {
        bail!("[ERROR] File '{}' does not exist!", a.path.display());
    }
    let old = WhisperFile::open_read_only(&a.path)?;
    let new_archives =
        a.retentions.iter().map(|r| parse_retention_def(r)).collect::<Result<Vec<_>, _>>().context("retentions")?;
    let header = old.header().clone();
    let xff = a.x_files_factor.unwrap_or(f64::from(header.x_files_factor));
    let aggregation = a.aggregation_method.unwrap_or(header.aggregation);
    // Lowest precision first (a stable sort, reversed as Python's sort(reverse=True)).
    let mut old_archives = header.archives.clone();
    old_archives.sort_by_key(|x| std::cmp::Reverse(x.seconds_per_point));

    println!("Retrieving all data from the archives");
    let bar = progress(old_archives.len() as u64 * 2, "resize");
    let mut data = Vec::new();
    for archive in &old_archives {
        let from = now - archive.retention() as i64 + i64::from(archive.seconds_per_point);
        let r =
            old.fetch(from, Some(now), now, None)?.with_context(|| format!("{}: nothing to read", a.path.display()))?;
        data.push(r);
        bar.inc(1);
    }
    drop(old);

    let tmpfile = with_suffix(&a.path, ".tmp");
    let newfile = match &a.newfile {
        Some(p) => p.clone(),
        None => {
            if tmpfile.exists() {
                println!("Removing previous temporary database file: {}", tmpfile.display());
                std::fs::remove_file(&tmpfile).with_context(|| format!("removing {}", tmpfile.display()))?;
            }
            tmpfile.clone()
        }
    };
    println!("Creating new whisper database: {}", newfile.display());
    if !(0.0..=1.0).contains(&xff) {
        bail!("Invalid xFilesFactor {xff}, not between 0 and 1");
    }
    let opts = CreateOptions { x_files_factor: xff as f32, aggregation, mode: CreateMode::Zero };
    let mut new = WhisperFile::create(&newfile, &new_archives, &opts, OpenOptions::default())?;
    let size = std::fs::metadata(&newfile).with_context(|| newfile.display().to_string())?.len();
    println!("Created: {} ({size} bytes)", newfile.display());

    let now_u32 = u32::try_from(now).context("now does not fit whisper's 32-bit seconds")?;
    let mut scratch = UpdateScratch::default();
    if a.aggregate {
        println!("Migrating data with aggregation...");
        migrate_aggregated(&mut new, &data, now, xff, aggregation, &mut scratch, &bar)?;
    } else {
        println!("Migrating data without aggregation...");
        for r in &data {
            let mut points = known_points(r);
            new.update_many(&mut points, now_u32, &mut scratch)?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    drop(new);
    if a.newfile.is_some() {
        return Ok(());
    }
    let backup = with_suffix(&a.path, ".bak");
    println!("Renaming old database to: {}", backup.display());
    std::fs::rename(&a.path, &backup)
        .with_context(|| format!("renaming {} to {}", a.path.display(), backup.display()))?;
    println!("Renaming new database to: {}", a.path.display());
    if let Err(e) = std::fs::rename(&tmpfile, &a.path) {
        eprintln!("{e}");
        println!("\nOperation failed, restoring backup");
        std::fs::rename(&backup, &a.path).with_context(|| format!("restoring {}", backup.display()))?;
        bail!("renaming {} to {}: {e}", tmpfile.display(), a.path.display());
    }
    if a.nobackup {
        println!("Unlinking backup: {}", backup.display());
        std::fs::remove_file(&backup).with_context(|| format!("removing {}", backup.display()))?;
    }
    Ok(())
}

/// The `(timestamp, value)` pairs of a fetch, `None`s included: `zip(range(*timeinfo), values)`.
fn pairs(r: &FetchResult) -> impl Iterator<Item = (i64, Option<f64>)> + '_ {
    (i64::from(r.from)..i64::from(r.until)).step_by(r.step as usize).zip(r.values.iter().copied())
}

fn known_points(r: &FetchResult) -> Vec<Point> {
    // Fetch windows are u32 intervals, so every timestamp fits.
    pairs(r).filter_map(|(t, v)| Some(Point { timestamp: t as u32, value: v? })).collect()
}

/// Python's `bisect.bisect_left(a, x, lo)` (on any list, sorted or not: the same probes).
fn bisect_left(a: &[i64], x: i64, mut lo: usize) -> usize {
    let mut hi = a.len();
    while lo < hi {
        let mid = (lo + hi) / 2;
        if a[mid] < x {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Python's `repr` of a list of ints.
fn py_int_list(v: &[i64]) -> String {
    let items: Vec<String> = v.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// The script's `--aggregate` migration: all old points (coarse archives first, each finer one from past the
/// last timestamp so far), then for each new archive every step window aggregated when enough values are known.
fn migrate_aggregated(
    new: &mut WhisperFile,
    data: &[FetchResult],
    now: i64,
    xff: f64,
    aggregation: AggregationMethod,
    scratch: &mut UpdateScratch,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    let mut all: Vec<(i64, Option<f64>)> = Vec::new();
    // The script's loop variable `i` outlives its loop: an archive with no points reuses the previous value
    // (or, for the very first one, fails with NameError).
    let mut i: Option<usize> = None;
    for r in data {
        let new_points: Vec<_> = pairs(r).collect();
        if let Some(&(last, _)) = all.last() {
            for (k, &(t, _)) in new_points.iter().enumerate() {
                i = Some(k);
                if t > last {
                    break;
                }
            }
            let from = i.context("the reference fails here (NameError: i)")?;
            all.extend_from_slice(new_points.get(from..).unwrap_or(&[]));
        } else {
            all.extend(new_points);
        }
    }
    let stamps: Vec<i64> = all.iter().map(|p| p.0).collect();
    let values: Vec<Option<f64>> = all.iter().map(|p| p.1).collect();
    println!("oldtimestamps: {}", py_int_list(&stamps));
    drop(all);
    let now_u32 = u32::try_from(now).context("now does not fit whisper's 32-bit seconds")?;
    for archive in new.header().archives.clone() {
        let step = i64::from(archive.seconds_per_point);
        let from = now - archive.retention() as i64 + now.rem_euclid(step);
        let until = now + now.rem_euclid(step) + step;
        println!("({from},{until},{step})");
        if step == 1 {
            println!("timepoints_to_update: range({from}, {until})");
        } else {
            println!("timepoints_to_update: range({from}, {until}, {step})");
        }
        let mut points = Vec::new();
        let mut t0 = from;
        while t0 + step < until {
            let t1 = t0 + step;
            let left = bisect_left(&stamps, t0, 0);
            let right = bisect_left(&stamps, t1, left);
            let window = &values[left..right.max(left)];
            if !window.is_empty() {
                let known: Vec<f64> = window.iter().flatten().copied().collect();
                if known.len() as f64 / window.len() as f64 >= xff {
                    let v = aggregate_values(aggregation, &known, window)
                        .with_context(|| format!("the reference fails aggregating no known value ({aggregation})"))?;
                    let timestamp =
                        u32::try_from(t0).with_context(|| format!("timestamp {t0} does not fit 32-bit seconds"))?;
                    points.push(Point { timestamp, value: v });
                }
            }
            t0 = t1;
        }
        new.update_many(&mut points, now_u32, scratch)?;
    }
    bar.inc(data.len() as u64);
    Ok(())
}
