//! `warren whisper …`: create, update, fetch, info, dump and set-aggregation on single files, mirroring the
//! reference's whisper-create.py, whisper-update.py, whisper-fetch.py, whisper-info.py, whisper-dump.py and
//! whisper-set-aggregation-method.py (same outputs where they are meant to be read by scripts); fill, merge, diff
//! and set-xff live in `tools`, resize in `resize`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::Serialize;

mod pyfmt;
mod resize;
mod tools;

use crate::config::retention::parse_retentions;
use crate::whisper::{
    AggregationMethod, CreateMode, CreateOptions, Header, OpenOptions, Point, UpdateScratch, WhisperFile,
};

/// The `warren whisper` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum WhisperCmd {
    /// Create a whisper file (like whisper-create.py).
    Create {
        /// File to create.
        path: PathBuf,
        /// Retentions `precision:duration`, comma-separated or as several arguments (e.g. `10s:6h,1m:7d`).
        #[arg(required = true)]
        retentions: Vec<String>,
        /// Fraction of known points needed to propagate (0..=1).
        #[arg(long, visible_alias = "xFilesFactor", default_value_t = 0.5)]
        xff: f32,
        /// Aggregation method: average, sum, last, max, min, avg_zero, absmax, absmin.
        #[arg(long, visible_alias = "aggregationMethod", default_value = "average")]
        aggregation: AggregationMethod,
        /// How the data area is laid down.
        #[arg(long, value_enum, default_value_t = ModeArg::Fallocate)]
        mode: ModeArg,
        /// Replace an existing file.
        #[arg(long)]
        overwrite: bool,
    },
    /// Write points (like whisper-update.py): one point is a single update, several an update_many.
    Update {
        /// File to update.
        path: PathBuf,
        /// Points `timestamp:value`; a timestamp of `N` means now.
        #[arg(required = true)]
        points: Vec<String>,
        /// The current time, in epoch seconds (default: the clock).
        #[arg(long)]
        now: Option<u32>,
    },
    /// Print a time range (like whisper-fetch.py): `timestamp<TAB>value` lines, `None` for no value.
    Fetch {
        /// File to read.
        path: PathBuf,
        /// Start, epoch seconds (default: 24 hours before now).
        #[arg(long, allow_hyphen_values = true)]
        from: Option<i64>,
        /// End, epoch seconds (default: now).
        #[arg(long, allow_hyphen_values = true)]
        until: Option<i64>,
        /// The current time, in epoch seconds (default: the clock).
        #[arg(long, allow_hyphen_values = true)]
        now: Option<i64>,
        /// Read the archive with this many seconds per point instead of choosing by retention.
        #[arg(long)]
        step: Option<u32>,
        /// Print `{"start", "end", "step", "values"}` JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Print the header (like whisper-info.py).
    Info {
        /// File to read.
        path: PathBuf,
        /// Print JSON instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
    /// Print the header and every archive's raw slots (like whisper-dump.py).
    Dump {
        /// File to read.
        path: PathBuf,
    },
    /// Change the aggregation method and optionally the xFilesFactor, rewriting only the header
    /// (like whisper-set-aggregation-method.py).
    SetAggregation {
        /// File to change.
        path: PathBuf,
        /// New aggregation method.
        method: AggregationMethod,
        /// New xFilesFactor (0..=1); unchanged when omitted.
        xff: Option<f32>,
    },
    /// Copy into DST the values it lacks from SRC, never overwriting (like whisper-fill.py).
    Fill(tools::FillArgs),
    /// Overwrite DST with every value SRC has in an interval; same archives needed (like whisper-merge.py).
    Merge(tools::MergeArgs),
    /// Compare two files with the same archives (like whisper-diff.py).
    Diff(tools::DiffArgs),
    /// Change the xFilesFactor, rewriting only the header (like whisper-set-xfilesfactor.py).
    SetXff {
        /// File to change.
        path: PathBuf,
        /// New xFilesFactor, a float between 0 and 1.
        #[arg(allow_hyphen_values = true)]
        xff: f64,
    },
    /// Change a file's archives, migrating its data (like whisper-resize.py).
    Resize(resize::ResizeArgs),
}

/// `--mode` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ModeArg {
    /// posix_fallocate (reserve space, write nothing).
    Fallocate,
    /// A file with holes.
    Sparse,
    /// Write zeros, as the reference does by default.
    Zero,
}

impl From<ModeArg> for CreateMode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Fallocate => CreateMode::Fallocate,
            ModeArg::Sparse => CreateMode::Sparse,
            ModeArg::Zero => CreateMode::Zero,
        }
    }
}

/// Run one subcommand, printing to stdout. Errors carry the file and the offending input.
pub fn run(cmd: WhisperCmd) -> anyhow::Result<()> {
    super::end_quietly_when_stdout_closes();
    match cmd {
        WhisperCmd::Create { path, retentions, xff, aggregation, mode, overwrite } => {
            let archives = parse_retentions(&retentions.join(","))?;
            if overwrite && path.exists() {
                println!("Overwriting existing file: {}", path.display());
                std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            }
            let opts = CreateOptions { x_files_factor: xff, aggregation, mode: mode.into() };
            WhisperFile::create(&path, &archives, &opts, OpenOptions::default())?;
            let size = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?.len();
            println!("Created: {} ({size} bytes)", path.display());
        }
        WhisperCmd::Update { path, points, now } => {
            let now = match now {
                Some(n) => n,
                None => crate::lifecycle::unix_now(),
            };
            let mut points = points.iter().map(|p| parse_point(p, now)).collect::<anyhow::Result<Vec<_>>>()?;
            let mut wf = WhisperFile::open(&path, OpenOptions::default())?;
            match points.as_mut_slice() {
                [single] => wf.update(*single, now)?,
                many => {
                    wf.update_many(many, now, &mut UpdateScratch::default())?;
                }
            }
        }
        WhisperCmd::Fetch { path, from, until, now, step, json } => {
            let now = now.unwrap_or_else(|| i64::from(crate::lifecycle::unix_now()));
            let from = from.unwrap_or(now - 86_400);
            let wf = WhisperFile::open_read_only(&path)?;
            let Some(r) = wf.fetch(from, Some(until.unwrap_or(now)), now, step)? else {
                bail!("No data in selected timerange");
            };
            if json {
                let out = FetchJson { start: r.from, end: r.until, step: r.step, values: &r.values };
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let mut t = u64::from(r.from);
                for v in &r.values {
                    match v {
                        Some(v) => println!("{t}\t{}", pyfmt::fixed6(*v)),
                        None => println!("{t}\tNone"),
                    }
                    t += u64::from(r.step);
                }
            }
        }
        WhisperCmd::Info { path, json } => {
            let wf = WhisperFile::open_read_only(&path)?;
            let size = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?.len();
            print_info(wf.header(), size, json)?;
        }
        WhisperCmd::Dump { path } => {
            let wf = WhisperFile::open_read_only(&path)?;
            print_dump(&wf)?;
        }
        WhisperCmd::Fill(a) => tools::fill(a)?,
        WhisperCmd::Merge(a) => tools::merge(a)?,
        WhisperCmd::Diff(a) => tools::diff(a)?,
        WhisperCmd::SetXff { path, xff } => tools::set_xff(&path, xff)?,
        WhisperCmd::Resize(a) => resize::resize(a)?,
        WhisperCmd::SetAggregation { path, method, xff } => {
            let mut wf = WhisperFile::open(&path, OpenOptions::default())?;
            let (old, _) = wf.set_aggregation(Some(method), xff)?;
            println!("Updated aggregation method: {} ({old} -> {method})", path.display());
        }
    }
    Ok(())
}

/// `timestamp:value`, timestamp `N` meaning `now`.
fn parse_point(s: &str, now: u32) -> anyhow::Result<Point> {
    let (t, v) = s.split_once(':').with_context(|| format!("point '{s}': expected timestamp:value"))?;
    let timestamp = if t == "N" {
        now
    } else {
        let t: i64 = t.trim().parse().with_context(|| format!("point '{s}': invalid timestamp '{t}'"))?;
        u32::try_from(t).with_context(|| format!("point '{s}': timestamp {t} does not fit 0..=4294967295"))?
    };
    let value = v.trim().parse().with_context(|| format!("point '{s}': invalid value '{v}'"))?;
    Ok(Point { timestamp, value })
}

#[derive(Serialize)]
struct FetchJson<'a> {
    start: u32,
    end: u32,
    step: u32,
    values: &'a [Option<f64>],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InfoJson {
    aggregation_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown_aggregation_code: Option<u32>,
    max_retention: u32,
    x_files_factor: f64,
    archives: Vec<ArchiveJson>,
    file_size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArchiveJson {
    offset: u32,
    seconds_per_point: u32,
    points: u32,
    retention: u64,
    size: u64,
}

fn print_info(h: &Header, file_size: u64, json: bool) -> anyhow::Result<()> {
    let archives: Vec<ArchiveJson> = h
        .archives
        .iter()
        .map(|a| ArchiveJson {
            offset: a.offset,
            seconds_per_point: a.seconds_per_point,
            points: a.points,
            retention: a.retention(),
            size: a.size(),
        })
        .collect();
    let info = InfoJson {
        aggregation_method: h.aggregation.name(),
        unknown_aggregation_code: h.unknown_aggregation_code(),
        max_retention: h.max_retention,
        x_files_factor: f64::from(h.x_files_factor),
        archives,
        file_size,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    println!("aggregationMethod: {}", info.aggregation_method);
    if let Some(code) = info.unknown_aggregation_code {
        println!("unknownAggregationCode: {code} (read as average)");
    }
    println!("maxRetention: {}", info.max_retention);
    println!("xFilesFactor: {}", pyfmt::repr(info.x_files_factor));
    println!("fileSize: {}", info.file_size);
    println!();
    for (i, a) in info.archives.iter().enumerate() {
        println!("Archive {i}");
        println!("offset: {}", a.offset);
        println!("secondsPerPoint: {}", a.seconds_per_point);
        println!("points: {}", a.points);
        println!("retention: {}", a.retention);
        println!("size: {}", a.size);
        println!();
    }
    Ok(())
}

fn print_dump(wf: &WhisperFile) -> anyhow::Result<()> {
    use std::io::Write;
    let h = wf.header();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "Meta data:")?;
    writeln!(out, "  aggregation method: {}", h.aggregation)?;
    writeln!(out, "  max retention: {}", h.max_retention)?;
    writeln!(out, "  xFilesFactor: {}", pyfmt::general(f64::from(h.x_files_factor), 6))?;
    writeln!(out)?;
    for (i, a) in h.archives.iter().enumerate() {
        writeln!(out, "Archive {i} info:")?;
        writeln!(out, "  offset: {}", a.offset)?;
        writeln!(out, "  seconds per point: {}", a.seconds_per_point)?;
        writeln!(out, "  points: {}", a.points)?;
        writeln!(out, "  retention: {}", a.retention())?;
        writeln!(out, "  size: {}", a.size())?;
        writeln!(out)?;
    }
    for (i, a) in h.archives.iter().enumerate() {
        writeln!(out, "Archive {i} data:")?;
        for (slot, p) in wf.archive_points(a)?.iter().enumerate() {
            writeln!(out, "{slot}: {}, {:>10}", p.interval, pyfmt::general(p.value, 35))?;
        }
    }
    out.flush()?;
    Ok(())
}
