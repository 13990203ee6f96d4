//! What every bench step shares: the run's configuration ([`RunConfig`], [`WarrenKnobs`], [`Peer`]), the
//! [`Observer`] that shows progress, unique broker names, temporary directories, the storage schema, and
//! publishing the load with progress.
//!
//! Owns: nothing that outlives a call but a [`TempDir`]. Never touches: warren's internals.

use super::load::Load;
use super::publish::{self, LoadSource, PublishConfig, PublishError, PublishProgress, PublishSummary};
use std::path::PathBuf;
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
    /// measures steady state (every file exists) instead of a burst of creates.
    pub reuse_dir: Option<PathBuf>,
    /// After warren's rows, run the same scenario against this peer.
    pub peer: Option<Peer>,
    /// Publish the live run's load at this many points per second (all connections together); `None` = as fast
    /// as the broker confirms. The ceiling's and the backlog's publishes are never paced.
    pub live_rate: Option<f64>,
    /// More `[whisper] sync` settings to run the backlog with, each in its own row after the first (side by side
    /// in one run: `--sync none,batch`).
    pub more_sync: Vec<String>,
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
