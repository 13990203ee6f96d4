//! `warren cluster backfill`: after a node joins the cluster (or takes over the metrics of one that leaves), give it
//! the history of the metrics it now owns from the data dir of the node that owned them before, so that a series
//! has no gap where it moved.
//!
//! Ownership: with `--pattern` (the new node's bind patterns), every metric of the old node's tree that a pattern
//! matches; without (consistent-hash exchange, whose ring lives in the broker), every metric the new node already
//! has a file for, i.e. that the broker routed to it since it joined. For each owned metric: when the new node has
//! its file, `whisper fill` from the old one (only the gaps are written; the few recent points of the node's own
//! that whisper-fill can replace are put back, so running it again is harmless); when it has none yet (pattern
//! mode), the old file is copied in whole, published with a no-replace link so that a file the node creates
//! meanwhile is never clobbered (it is filled instead).
//!
//! Owns: walking two data dirs and the per-file fill or copy. Never touches: the old node's files (read only), the
//! broker, files outside the two data dirs (names come from `metric::name_from_relative_path`, symlinks are not
//! followed).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::ingest::topology::topic_matches;
use crate::metric::{file_path, name_from_relative_path};
use crate::whisper::{fill, OpenOptions, Point, UpdateScratch, WhisperFile};

/// Arguments of `warren cluster backfill`.
#[derive(clap::Args, Debug)]
pub struct BackfillArgs {
    /// Data dir of the node the metrics moved away from (read only).
    #[arg(long)]
    pub from: PathBuf,
    /// Data dir of the node that owns them now.
    #[arg(long)]
    pub to: PathBuf,
    /// The new node's bind patterns (AMQP topic syntax; repeat, or separate with commas). Without any: the new
    /// node owns the metrics it has a file for (consistent-hash exchange).
    #[arg(long = "pattern", value_delimiter = ',')]
    pub patterns: Vec<String>,
    /// List what would be filled or copied; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The current time, in (fractional) epoch seconds (default: the clock).
    #[arg(long)]
    pub now: Option<f64>,
}

/// What one backfill did.
#[derive(Debug, Default)]
struct Tally {
    owned: usize,
    filled: usize,
    points: usize,
    copied: usize,
    absent: usize,
    failed: usize,
}

/// Every metric with a file under `dir` (not following symlinks; dot-directories such as `.warren` skipped).
fn metrics_under(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let entries = std::fs::read_dir(&abs).with_context(|| format!("reading {}", abs.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("reading {}", abs.display()))?;
            let kind = e.file_type().with_context(|| format!("{}", e.path().display()))?;
            let child = rel.join(e.file_name());
            if kind.is_dir() && !e.file_name().to_string_lossy().starts_with('.') {
                stack.push(child);
            } else if kind.is_file() {
                if let Some(name) = name_from_relative_path(&child) {
                    names.push(name);
                }
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Copy `src` to `dst` without ever replacing a file at `dst`: a temporary copy beside it, then a hard link
/// (which fails if `dst` exists). Returns false when `dst` appeared meanwhile.
fn copy_no_replace(src: &Path, dst: &Path) -> anyhow::Result<bool> {
    let dir = dst.parent().context("destination has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file_name = dst.file_name().context("destination has no file name")?.to_string_lossy();
    // Not a .wsp name: finders and the tree never see the temporary copy.
    let tmp = dir.join(format!(".{file_name}.backfill-{}", std::process::id()));
    std::fs::copy(src, &tmp).with_context(|| format!("copying {} to {}", src.display(), tmp.display()))?;
    let linked = match std::fs::hard_link(&tmp, dst) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("linking {}", dst.display())),
    };
    let _ = std::fs::remove_file(&tmp);
    linked
}

/// The known points of the most precise archive's window at `now`.
fn recent_points(f: &WhisperFile, now: i64) -> anyhow::Result<Vec<Point>> {
    let r0 = f.header().archives[0].retention() as i64;
    let Some(r) = f.fetch(now - r0, None, now, None)? else { return Ok(Vec::new()) };
    let mut t = r.from;
    let mut out = Vec::new();
    for v in r.values {
        if let Some(value) = v {
            out.push(Point { timestamp: t, value });
        }
        t = t.saturating_add(r.step);
    }
    Ok(out)
}

/// Fill `dst` from `src` under an exclusive flock per update (the writer takes it too when `whisper.lock_writes`
/// is on), then put back any of `dst`'s own recent points the fill replaced. whisper-fill can replace two: the
/// first known point after a gap (its window reaches one step into the known values) and the newest slot (a
/// point exactly one first-archive retention old is written into the first archive's ring, on the newest
/// slot). The node's own points win.
fn fill_one(src: &Path, dst: &Path, now: f64) -> anyhow::Result<usize> {
    let src = WhisperFile::open_read_only(src)?;
    let mut dst = WhisperFile::open(dst, OpenOptions { lock: true, autoflush: false })?;
    let now_secs = now.trunc() as i64;
    let before = recent_points(&dst, now_secs)?;
    let copied = fill(&src, &mut dst, now)?.points;
    let after: std::collections::HashSet<(u32, u64)> =
        recent_points(&dst, now_secs)?.iter().map(|p| (p.timestamp, p.value.to_bits())).collect();
    let mut replaced: Vec<Point> =
        before.into_iter().filter(|p| !after.contains(&(p.timestamp, p.value.to_bits()))).collect();
    if !replaced.is_empty() {
        let now_u32 = u32::try_from(now_secs).context("now does not fit whisper's 32-bit seconds")?;
        dst.update_many(&mut replaced, now_u32, &mut UpdateScratch::default())?;
    }
    Ok(copied)
}

/// `warren cluster backfill`.
pub fn run(a: BackfillArgs) -> anyhow::Result<()> {
    for d in [&a.from, &a.to] {
        if !d.is_dir() {
            bail!("{} is not a directory", d.display());
        }
    }
    let now = a.now.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    });
    let owned: Vec<String> = if a.patterns.is_empty() {
        metrics_under(&a.to)?
    } else {
        metrics_under(&a.from)?.into_iter().filter(|m| a.patterns.iter().any(|p| topic_matches(p, m))).collect()
    };
    let mut t = Tally { owned: owned.len(), ..Tally::default() };
    let bar = indicatif::ProgressBar::new(owned.len() as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("backfill [{bar:30}] {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    for name in &owned {
        bar.inc(1);
        let (src, dst) = (file_path(&a.from, name), file_path(&a.to, name));
        if !src.is_file() {
            t.absent += 1;
            continue;
        }
        if a.dry_run {
            println!("{} {name}", if dst.exists() { "fill" } else { "copy" });
            continue;
        }
        let result = if dst.exists() {
            fill_one(&src, &dst, now).map(|p| {
                t.filled += 1;
                t.points += p;
            })
        } else {
            match copy_no_replace(&src, &dst) {
                Ok(true) => {
                    t.copied += 1;
                    Ok(())
                }
                // Created by the node meanwhile: fill it instead.
                Ok(false) => fill_one(&src, &dst, now).map(|p| {
                    t.filled += 1;
                    t.points += p;
                }),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = result {
            t.failed += 1;
            bar.suspend(|| eprintln!("{name}: {e:#}"));
        }
    }
    bar.finish_and_clear();
    println!(
        "{} metrics owned: {} filled ({} points copied), {} copied whole, {} not on the old node, {} failed",
        t.owned, t.filled, t.points, t.copied, t.absent, t.failed
    );
    if t.failed > 0 {
        bail!("{} metrics failed (listed above)", t.failed);
    }
    Ok(())
}
