//! What every bench step shares: the run's configuration ([`RunConfig`], [`WarrenKnobs`], [`Peer`]), the
//! [`Observer`] that shows progress, unique broker names, temporary directories, the storage schema, and
//! publishing the load with progress.
//!
//! Owns: nothing that outlives a call but a [`TempDir`]. Never touches: warren's internals.

use super::error::{io, BenchError};
use super::load::Load;
use super::publish::{self, LoadSource, PublishConfig, PublishError, PublishProgress, PublishSummary};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// warren's knobs under test.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WarrenKnobs {
    /// AMQP consumer workers (and the ceiling's consumer connections).
    pub workers: usize,
    /// basic.qos prefetch per worker.
    pub prefetch: u16,
    /// Write strategy (`sorted`, `max`, `naive`, `timesorted`).
    pub strategy: String,
    /// Create mode (`fallocate`, `sparse`, `zero`).
    pub create_mode: String,
    /// Batches per producer ring.
    pub ring_capacity: usize,
    /// New files per minute; 0 = unlimited (the bench default, so creation speed is measured, not the limit).
    pub max_creates_per_minute: u32,
    /// `[whisper] sync` (`none`, `batch`) of the first warren row.
    pub sync: String,
    /// Declare the bench queue as a quorum queue (`queue_type = "quorum"`) instead of a classic one.
    pub quorum: bool,
    /// `[whisper] mmap`: update kept files through mappings.
    pub mmap: bool,
    /// `[amqp] linger_us` and `[cache] linger_us`; `None`: warren's defaults.
    pub linger_us: Option<u64>,
}

/// Everything one run needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Scenario name (for the report).
    pub scenario: String,
    /// The load.
    pub load: Load,
    /// Broker URL.
    pub url: String,
    /// The `warren` executable.
    pub warren_bin: PathBuf,
    /// Where the temporary data directory goes (the system temp dir when `None`).
    pub work_dir: Option<PathBuf>,
    /// Knobs passed to warren.
    pub knobs: WarrenKnobs,
    /// Publisher connections.
    pub publish_connections: usize,
    /// Unconfirmed messages per publisher connection.
    pub publish_window: usize,
    /// Measure the null-consumer ceiling.
    pub ceiling: bool,
    /// Run warren on a published backlog.
    pub backlog: bool,
    /// Run warren while publishing.
    pub live: bool,
    /// Give up on a step after this long.
    pub timeout: Duration,
    /// Keep the data directory (its path is logged).
    pub keep_data: bool,
    /// Use (and keep) this directory instead of a fresh one: a second run into the files the first created
    /// measures steady state (every file exists) instead of a burst of creates. The peer keeps its own tree in
    /// the subdirectory named after it ([`Peer::reuse_tree`]).
    pub reuse_dir: Option<PathBuf>,
    /// After warren's rows, run the same scenario against this peer.
    pub peer: Option<Peer>,
    /// Publish the live run's load at this many points per second (all connections together); `None` = as fast
    /// as the broker confirms. The ceiling's and the backlog's publishes are never paced.
    pub live_rate: Option<f64>,
    /// More `[whisper] sync` settings to run the backlog with, each in its own row after the first (side by side
    /// in one run: `--sync none,batch`).
    pub more_sync: Vec<String>,
    /// Run the ceiling and the backlog this many times in turn and report the median repetition (1: once).
    pub reps: usize,
}

/// A system `warren bench --peer` can compare warren with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Peer {
    /// Graphite's carbon-cache 1.1.x (Python, Twisted, txAMQP).
    PythonCarbon,
}

impl Peer {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Peer::PythonCarbon => "python-carbon",
        }
    }

    /// The peer called `name`.
    pub fn by_name(name: &str) -> Option<Peer> {
        [Peer::PythonCarbon].into_iter().find(|p| p.name() == name)
    }

    /// The peer's own tree in a `--reuse-dir` (`D/python-carbon`), apart from warren's files in `D`.
    pub fn reuse_tree(self, reuse_dir: &Path) -> PathBuf {
        reuse_dir.join(self.name())
    }
}

/// What the caller is shown while a run progresses.
pub trait Observer: Sync {
    /// A new phase begins; `total` is its unit count (0 when unknown).
    fn phase(&self, _name: &str, _total: u64) {}
    /// Units done in the current phase.
    fn progress(&self, _done: u64) {}
    /// The phase is over.
    fn finish(&self, _summary: &str) {}
}

/// An observer that shows nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// Names no other run uses.
pub fn names(what: &str) -> (String, String) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let base = format!("warren-bench-{what}-{}-{}", std::process::id(), nanos % 1_000_000_000);
    (base.clone(), format!("{base}.q"))
}

/// Publish the load on `exchange`, reporting confirmed messages to `obs` every 100 ms.
pub fn publish_with_progress(
    cfg: &RunConfig,
    exchange: &str,
    obs: &dyn Observer,
    progress: &PublishProgress,
) -> Result<PublishSummary, PublishError> {
    publish_paced_with_progress(cfg, exchange, obs, progress, None)
}

/// [`publish_with_progress`] at `points_per_sec` points per second when given (see [`publish::Pacer`]).
pub fn publish_paced_with_progress(
    cfg: &RunConfig,
    exchange: &str,
    obs: &dyn Observer,
    progress: &PublishProgress,
    points_per_sec: Option<f64>,
) -> Result<PublishSummary, PublishError> {
    let pcfg = PublishConfig {
        url: cfg.url.clone(),
        exchange: exchange.to_string(),
        connections: cfg.publish_connections,
        window: cfg.publish_window,
    };
    let source = LoadSource::new(&cfg.load);
    let done = std::sync::atomic::AtomicBool::new(false);
    let summary = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                obs.progress(progress.confirmed.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = publish::publish_paced(&pcfg, points_per_sec, &source, progress);
        done.store(true, Ordering::Relaxed);
        r
    })?;
    obs.progress(summary.messages);
    Ok(summary)
}

/// A directory removed on drop when `.1` is set.
pub struct TempDir(pub PathBuf, pub bool);

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Refuse to reuse `dir` (a `--reuse-dir` tree, or the peer's part of one) when it was made for another load:
/// its `storage-schemas.conf`, when it has one, must be `schemas` exactly (a tree without one is new).
pub fn check_reuse_schemas(dir: &Path, schemas: &str) -> Result<(), BenchError> {
    let path = dir.join("storage-schemas.conf");
    let had = match std::fs::read_to_string(&path) {
        Ok(had) => had,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    };
    if had == schemas {
        return Ok(());
    }
    let line = |t: &str| t.lines().find(|l| l.starts_with("retentions")).unwrap_or_default().to_string();
    Err(BenchError::ReuseMismatch { dir: dir.display().to_string(), had: line(&had), needs: line(schemas) })
}

/// How many of the load's whisper files existed when a run started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FilesBefore {
    /// `cold` when none did (the run creates every file), `steady` when all did (a `--reuse-dir` tree an earlier
    /// run filled), `partial` in between.
    pub state: &'static str,
    /// Metrics whose file existed.
    pub existed: u32,
    /// Metrics of the load.
    pub metrics: u32,
}

/// Count the load's metrics that have a file under `data_dir` (one `stat` each, before anything is timed).
pub fn files_before(load: &Load, data_dir: &Path) -> FilesBefore {
    let mut name = String::new();
    let existed = (0..load.metrics)
        .filter(|&m| {
            name.clear();
            load.write_name(m, &mut name);
            crate::metric::file_path(data_dir, &name).is_file()
        })
        .count() as u32;
    let state = match existed {
        0 => "cold",
        n if n == load.metrics => "steady",
        _ => "partial",
    };
    FilesBefore { state, existed, metrics: load.metrics }
}

/// The storage-schemas.conf of a bench run (warren's and its peers' alike): one archive at the load's interval,
/// long enough for every point plus an hour of run time, so each point gets its own slot and none ages out of the
/// archive while the bench runs.
pub fn schemas_text(load: &Load) -> String {
    let slack = 3600 / load.interval + 1;
    format!(
        "[bench]\npattern = ^{}\\.\nretentions = {}s:{}\n\n[default]\npattern = .*\nretentions = 60s:1d\n",
        regex::escape(&load.prefix),
        load.interval,
        load.points + slack
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load() -> Load {
        Load::ending_at("bench.reuse", 3, 5, 1, 10, 1_000_000, false)
    }

    #[test]
    fn a_reused_tree_must_have_been_made_for_the_same_retentions() {
        let dir = tempfile::tempdir().unwrap();
        let schemas = schemas_text(&load());
        check_reuse_schemas(dir.path(), &schemas).expect("a tree without a schema file is new");
        std::fs::write(dir.path().join("storage-schemas.conf"), &schemas).unwrap();
        check_reuse_schemas(dir.path(), &schemas).expect("the same load reuses its tree");
        let other = schemas_text(&Load::ending_at("bench.reuse", 3, 50, 1, 10, 1_000_000, false));
        match check_reuse_schemas(dir.path(), &other) {
            Err(BenchError::ReuseMismatch { dir: d, had, needs }) => {
                assert_eq!(d, dir.path().display().to_string());
                assert_eq!(had, "retentions = 10s:366");
                assert_eq!(needs, "retentions = 10s:411");
            }
            r => panic!("expected ReuseMismatch, got {r:?}"),
        }
    }

    #[test]
    fn files_before_tells_cold_partial_and_steady_apart() {
        let dir = tempfile::tempdir().unwrap();
        let l = load();
        assert_eq!(files_before(&l, dir.path()), FilesBefore { state: "cold", existed: 0, metrics: 3 });
        let touch = |m: u32| {
            let path = crate::metric::file_path(dir.path(), &l.name(m));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        };
        touch(1);
        assert_eq!(files_before(&l, dir.path()), FilesBefore { state: "partial", existed: 1, metrics: 3 });
        touch(0);
        touch(2);
        assert_eq!(files_before(&l, dir.path()), FilesBefore { state: "steady", existed: 3, metrics: 3 });
    }
}
