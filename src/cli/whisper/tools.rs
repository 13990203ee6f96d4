//! `warren whisper fill | merge | diff | set-xff`: the reference's whisper-fill.py, whisper-merge.py,
//! whisper-diff.py and whisper-set-xfilesfactor.py, writing the same bytes and printing the same text.
//!
//! Owns: argument handling and the scripts' output formats (text columns, Python's `json.dumps` layout). Never
//! touches: the file format (the engine's `whisper::{fill, merge, diff}` do the work).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::pyfmt;
use crate::whisper::{ArchiveDiff, OpenOptions, WhisperFile};

/// Arguments of `warren whisper fill`.
#[derive(clap::Args, Debug)]
pub struct FillArgs {
    /// File to copy from.
    pub src: PathBuf,
    /// File to fill: only its gaps are written.
    pub dst: PathBuf,
    /// Hold an exclusive flock on the destination while writing (as whisper-fill.py --lock).
    #[arg(long)]
    pub lock: bool,
    /// The current time, in (fractional) epoch seconds (default: the clock).
    #[arg(long)]
    pub now: Option<f64>,
}

/// Arguments of `warren whisper merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// File to copy from.
    pub src: PathBuf,
    /// File to overwrite with every value `src` knows in the interval (same archives as `src`).
    pub dst: PathBuf,
    /// Beginning of the interval, epoch seconds (default: the epoch).
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<i64>,
    /// End of the interval, epoch seconds (default: now).
    #[arg(long, allow_hyphen_values = true)]
    pub until: Option<i64>,
    /// The current time, in epoch seconds (default: the clock).
    #[arg(long, allow_hyphen_values = true)]
    pub now: Option<i64>,
}

/// Arguments of `warren whisper diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// First file (`value_a`).
    pub path_a: PathBuf,
    /// Second file (`value_b`), with the same archives.
    pub path_b: PathBuf,
    /// Show a summary of differences per archive.
    #[arg(long)]
    pub summary: bool,
    /// Skip comparison if either value is undefined.
    #[arg(long)]
    pub ignore_empty: bool,
    /// Print output in simple columns.
    #[arg(long)]
    pub columns: bool,
    /// Do not print column headers.
    #[arg(long)]
    pub no_headers: bool,
    /// End of the compared interval, epoch seconds (default: now).
    #[arg(long, allow_hyphen_values = true)]
    pub until: Option<i64>,
    /// Output results as JSON.
    #[arg(long)]
    pub json: bool,
    /// The current time, in epoch seconds (default: the clock).
    #[arg(long, allow_hyphen_values = true)]
    pub now: Option<i64>,
}

/// Seconds since the epoch, with the fraction (Python's `time.time()`).
fn clock_f64() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// `warren whisper fill`.
pub fn fill(a: FillArgs) -> anyhow::Result<()> {
    let src = WhisperFile::open_read_only(&a.src)?;
    let mut dst = WhisperFile::open(&a.dst, OpenOptions { lock: a.lock, autoflush: false })?;
    crate::whisper::fill(&src, &mut dst, a.now.unwrap_or_else(clock_f64))?;
    Ok(())
}

/// `warren whisper merge`.
pub fn merge(a: MergeArgs) -> anyhow::Result<()> {
    for p in [&a.src, &a.dst] {
        if !p.exists() {
            bail!("[ERROR] File \"{}\" does not exist!", p.display());
        }
    }
    let src = WhisperFile::open_read_only(&a.src)?;
    let mut dst = WhisperFile::open(&a.dst, OpenOptions::default())?;
    let now = a.now.unwrap_or_else(|| clock_f64() as i64);
    crate::whisper::merge(&src, &mut dst, a.from, a.until, now)?;
    Ok(())
}

/// `warren whisper set-xff`: prints `Updated xFilesFactor: PATH (OLD -> NEW)` as whisper-set-xfilesfactor.py.
/// A NaN factor is refused (the reference stores it, and no propagation ever happens again).
pub fn set_xff(path: &Path, xff: f64) -> anyhow::Result<()> {
    if !path.exists() {
        bail!("[ERROR] File '{}' does not exist!", path.display());
    }
    if !(0.0..=1.0).contains(&xff) {
        bail!("[ERROR] Invalid xFilesFactor {}, not between 0 and 1", pyfmt::repr(xff));
    }
    let mut wf = WhisperFile::open(path, OpenOptions::default())?;
    let (_, old) = wf.set_aggregation(None, Some(xff as f32))?;
    println!("Updated xFilesFactor: {} ({} -> {})", path.display(), pyfmt::repr(f64::from(old)), pyfmt::repr(xff));
    Ok(())
}

/// `warren whisper diff`: the text (or JSON) whisper-diff.py prints.
pub fn diff(a: DiffArgs) -> anyhow::Result<()> {
    let fa = WhisperFile::open_read_only(&a.path_a)?;
    let fb = WhisperFile::open_read_only(&a.path_b)?;
    let now = a.now.unwrap_or_else(|| clock_f64() as i64);
    let diffs = crate::whisper::diff(&fa, &fb, a.ignore_empty, a.until, now)?;
    let (pa, pb) = (a.path_a.to_string_lossy(), a.path_b.to_string_lossy());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let text = match (a.summary, a.json) {
        (true, true) => summary_json(&diffs, &pa, &pb),
        (true, false) => summary_text(&diffs, !a.columns, !a.no_headers),
        (false, true) => diffs_json(&diffs, &pa, &pb),
        (false, false) => diffs_text(&diffs, !a.columns, !a.no_headers),
    };
    out.write_all(text.as_bytes()).context("writing to stdout")?;
    out.flush()?;
    Ok(())
}

/// Python's `"%s" % v` for a fetched value.
fn py_value(v: Option<f64>) -> String {
    v.map_or_else(|| "None".to_string(), pyfmt::repr)
}

fn diffs_text(diffs: &[ArchiveDiff], pretty: bool, headers: bool) -> String {
    let mut s = String::new();
    let header = |s: &mut String, a: &str| {
        if pretty {
            s.push_str(&format!("{a:>7} {:>11} {:>13} {:>13}\n", "timestamp", "value_a", "value_b"));
        } else {
            s.push_str(&format!("{a} timestamp value_a value_b\n"));
        }
    };
    if headers {
        header(&mut s, "archive");
    }
    for d in diffs {
        if pretty {
            s.push_str(&format!("Archive {} ({} of {} datapoints differ)\n", d.archive, d.diffs.len(), d.total));
            header(&mut s, "");
        }
        for &(t, va, vb) in &d.diffs {
            if pretty {
                s.push_str(&format!("{:>7} {t:>11} {:>13} {:>13}\n", "", py_value(va), py_value(vb)));
            } else {
                s.push_str(&format!("{} {t} {} {}\n", d.archive, py_value(va), py_value(vb)));
            }
        }
    }
    s
}

fn summary_text(diffs: &[ArchiveDiff], pretty: bool, headers: bool) -> String {
    let line = |a: &str, b: &str, c: &str| {
        if pretty {
            format!("{a:>7} {b:>9} {c:>9}\n")
        } else {
            format!("{a} {b} {c}\n")
        }
    };
    let mut s = String::new();
    if headers {
        s.push_str(&line("archive", "total", "differing"));
    }
    for d in diffs {
        s.push_str(&line(&d.archive.to_string(), &d.total.to_string(), &d.diffs.len().to_string()));
    }
    s
}

/// A JSON string as Python's `json.dumps` writes it (ASCII only, `\uXXXX` escapes).
fn py_json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float as Python's `json.dumps` writes it.
fn py_json_value(v: Option<f64>) -> String {
    match v {
        None => "null".into(),
        Some(v) if v.is_nan() => "NaN".into(),
        Some(f64::INFINITY) => "Infinity".into(),
        Some(f64::NEG_INFINITY) => "-Infinity".into(),
        Some(v) => pyfmt::repr(v),
    }
}

/// `json.dumps(…, sort_keys=True, indent=2, separators=(',', ' : '))` of the script's dictionaries.
fn archives_json(diffs: &[ArchiveDiff], pa: &str, pb: &str, points: bool) -> String {
    let mut s = String::from("{\n  \"archives\" : [");
    for (i, d) in diffs.iter().enumerate() {
        s.push_str(if i == 0 { "\n" } else { ",\n" });
        s.push_str(&format!("    {{\n      \"archive\" : {},\n", d.archive));
        if points {
            s.push_str("      \"datapoint\" : [");
            for (j, &(t, va, vb)) in d.diffs.iter().enumerate() {
                s.push_str(if j == 0 { "\n" } else { ",\n" });
                s.push_str(&format!(
                    "        {{\n          \"timestamp\" : {t},\n          \"value_a\" : {},\n          \"value_b\" : {}\n        }}",
                    py_json_value(va),
                    py_json_value(vb)
                ));
            }
            s.push_str(if d.diffs.is_empty() { "],\n" } else { "\n      ],\n" });
        }
        s.push_str(&format!("      \"points\" : {},\n      \"total\" : {}\n    }}", d.diffs.len(), d.total));
    }
    s.push_str(if diffs.is_empty() { "],\n" } else { "\n  ],\n" });
    s.push_str(&format!("  \"path_a\" : {},\n  \"path_b\" : {}\n}}\n", py_json_str(pa), py_json_str(pb)));
    s
}

fn summary_json(diffs: &[ArchiveDiff], pa: &str, pb: &str) -> String {
    archives_json(diffs, pa, pb, false)
}

fn diffs_json(diffs: &[ArchiveDiff], pa: &str, pb: &str) -> String {
    archives_json(diffs, pa, pb, true)
}
