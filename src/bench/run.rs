//! One benchmark run, end to end on one broker: the broker's ceiling, warren on a backlog (and optionally live),
//! resource use, and verification of every point on disk.
//!
//! warren runs as a subprocess (`warren cache --config <tmp> --stats-every-ms N`) so its peak RSS and CPU time are
//! its own; the bench reads its counters from the JSON lines it prints. Every run uses its own exchange, queue and
//! data directory, and deletes them afterwards.
//!
//! Owns: the child process, the temporary directory, its broker objects. Never touches: other queues.

use super::broker::{self, BrokerError, DrainConfig};
use super::load::Load;
use super::peer::{self, Peer, PeerError, PeerInfo};
use super::procstat::{self, ProcUsage};
use super::publish::{self, rate, LoadSource, PublishConfig, PublishError, PublishProgress, PublishSummary};
use super::verify::{self, Verification};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("publishing: {0}")]
    Publish(#[from] PublishError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("warren's settings: {0}")]
    Settings(#[from] crate::config::ConfigError),
    #[error("warren exited early ({status}); last log lines:\n{log}")]
    WarrenExited { status: String, log: String },
    #[error(
        "warren did not make everything durable within {secs} s (committed {committed} of {total} points, acked \
         {acked} of {messages} messages); last log lines:\n{log}"
    )]
    Timeout { secs: u64, committed: u64, total: u64, acked: u64, messages: u64, log: String },
    /// The peer cannot run at all (checked before anything else).
    #[error(transparent)]
    Peer(Box<PeerError>),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

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
}

/// The broker's own delivery rate with a consumer that does nothing but ack.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Ceiling {
    pub publish: PublishSummary,
    pub drain_seconds: f64,
    pub drain_msgs_per_sec: f64,
    pub drain_points_per_sec: f64,
}

/// Latency percentiles, milliseconds, and how they were obtained.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// `receive→durable (writer histogram)` or `publish-confirm→durable (curve, ±stats interval)`.
    pub source: String,
}

/// One system's result on one mode (warren backlog, warren live, later peers such as python-carbon).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    /// `warren`, or a peer's name.
    pub system: String,
    /// `backlog` (queue filled first) or `live` (consumer running while publishing).
    pub mode: String,
    pub publish: PublishSummary,
    /// From the consumer's start (backlog) or the first publish (live) until every point was durable and acked.
    pub seconds_to_durable: f64,
    /// total points / seconds_to_durable.
    pub points_per_sec: f64,
    /// points_per_sec / ceiling drain points per second.
    pub ratio_to_ceiling: Option<f64>,
    /// Writer histogram (receive→durable) for every mode.
    pub latency_receive: Option<Latency>,
    /// Publish-confirm→durable, live mode only.
    pub latency_publish: Option<Latency>,
    pub usage: ProcUsage,
    pub cpu_s_per_million_points: f64,
    pub verification: Verification,
    /// The consumer's last counters.
    pub counters: BTreeMap<String, u64>,
}

/// The whole result of `warren bench`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub scenario: String,
    pub load: Load,
    pub messages: u64,
    pub total_points: u64,
    pub knobs: WarrenKnobs,
    pub publish_connections: usize,
    pub ceiling: Option<Ceiling>,
    pub rows: Vec<Row>,
    /// The peer's setup, when one ran.
    pub peer: Option<PeerInfo>,
    /// warren's points/s (its first row) ÷ the peer's: how many times faster warren made the load durable.
    pub warren_over_peer: Option<f64>,
    /// Why the peer's run failed, when it did (warren's rows are still reported; the bench then fails).
    pub peer_error: Option<String>,
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

/// Run the configured steps and return the report. Broker objects are deleted even when a step fails.
pub fn run(cfg: &RunConfig, obs: &dyn Observer) -> Result<Report, RunError> {
    let mut report = Report {
        scenario: cfg.scenario.clone(),
        load: cfg.load.clone(),
        messages: cfg.load.messages(),
        total_points: cfg.load.total_points(),
        knobs: cfg.knobs.clone(),
        publish_connections: cfg.publish_connections,
        ceiling: None,
        rows: Vec::new(),
        peer: None,
        warren_over_peer: None,
        peer_error: None,
    };
    // A missing peer fails the run before anything is measured, not after.
    let peer_version = match cfg.peer {
        Some(p) => Some((p, peer::check_installed(p).map_err(|e| RunError::Peer(Box::new(e)))?)),
        None => None,
    };
    if cfg.ceiling {
        report.ceiling = Some(ceiling(cfg, obs)?);
    }
    let drain_pps = report.ceiling.map(|c| c.drain_points_per_sec);
    for (enabled, live) in [(cfg.backlog, false), (cfg.live, true)] {
        if enabled {
            let mut row = warren(cfg, live, obs)?;
            row.ratio_to_ceiling = drain_pps.filter(|&c| c > 0.0).map(|c| row.points_per_sec / c);
            report.rows.push(row);
        }
    }
    if let Some((p, version)) = peer_version {
        report.peer = Some(peer::info(p, version, cfg));
        let result = match p {
            Peer::PythonCarbon => peer::python_carbon(cfg, obs),
        };
        match result {
            Ok(mut row) => {
                row.ratio_to_ceiling = drain_pps.filter(|&c| c > 0.0).map(|c| row.points_per_sec / c);
                report.warren_over_peer = report
                    .rows
                    .iter()
                    .find(|r| r.system == "warren")
                    .filter(|_| row.points_per_sec > 0.0)
                    .map(|w| w.points_per_sec / row.points_per_sec);
                report.rows.push(row);
            }
            Err(e) => report.peer_error = Some(e.to_string()),
        }
    }
    Ok(report)
}

/// Names no other run uses.
pub(super) fn names(what: &str) -> (String, String) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let base = format!("warren-bench-{what}-{}-{}", std::process::id(), nanos % 1_000_000_000);
    (base.clone(), format!("{base}.q"))
}

pub(super) fn publish_with_progress(
    cfg: &RunConfig,
    exchange: &str,
    obs: &dyn Observer,
    progress: &PublishProgress,
) -> Result<PublishSummary, RunError> {
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
        let r = publish::publish(&pcfg, &source, progress);
        done.store(true, Ordering::Relaxed);
        r
    })?;
    obs.progress(summary.messages);
    Ok(summary)
}

fn ceiling(cfg: &RunConfig, obs: &dyn Observer) -> Result<Ceiling, RunError> {
    let (exchange, queue) = names("ceiling");
    let patterns = ["#".to_string()];
    broker::declare(&cfg.url, &exchange, Some((&queue, &patterns)))?;
    let result = (|| {
        obs.phase("ceiling: publish", cfg.load.messages());
        let publish = publish_with_progress(cfg, &exchange, obs, &PublishProgress::default())?;
        obs.finish(&format!("{:.0} msg/s", publish.msgs_per_sec()));
        obs.phase("ceiling: null-consumer drain", 0);
        let d = broker::drain(&DrainConfig {
            url: cfg.url.clone(),
            queue: queue.clone(),
            connections: cfg.knobs.workers,
            prefetch: cfg.knobs.prefetch,
            expect: publish.messages,
            timeout: cfg.timeout,
        })?;
        let secs = d.as_secs_f64();
        obs.finish(&format!("{:.0} msg/s", rate(publish.messages, secs)));
        Ok(Ceiling {
            publish,
            drain_seconds: secs,
            drain_msgs_per_sec: rate(publish.messages, secs),
            drain_points_per_sec: rate(publish.points, secs),
        })
    })();
    let _ = broker::delete(&cfg.url, &exchange, Some(&queue));
    result
}

/// The warren subprocess and what it reports.
struct Child2 {
    child: Child,
    /// The latest counters line, and (elapsed since spawn, committed_points) samples.
    latest: Arc<Mutex<Latest>>,
    log: PathBuf,
    spawned: Instant,
}

#[derive(Default)]
struct Latest {
    counters: BTreeMap<String, u64>,
    committed_curve: Vec<(Duration, u64)>,
}

impl Child2 {
    fn counter(&self, name: &str) -> u64 {
        self.lock().counters.get(name).copied().unwrap_or(0)
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Latest> {
        // The reader thread never panics while holding the lock; if it did, the data is still usable.
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
    /// SIGTERM (graceful: flush, ack, close), then SIGKILL after `grace`.
    fn stop(&mut self, grace: Duration) {
        super::procstat::terminate(&mut self.child, grace);
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

/// warren's config for a run. Socket receivers and CarbonLink are off: the bench measures the AMQP path, and a
/// run must not collide with another warren on the machine holding ports 2003/2004/7002.
fn write_config(cfg: &RunConfig, dir: &Path, exchange: &str, queue: &str) -> Result<PathBuf, RunError> {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let load = &cfg.load;
    let schemas = schemas_text(load);
    let schemas_path = dir.join("storage-schemas.conf");
    std::fs::write(&schemas_path, schemas).map_err(io("writing storage-schemas.conf"))?;
    let k = &cfg.knobs;
    let text = format!(
        "instance = \"bench\"\ndata_dir = {data}\nstorage_schemas = {schemas}\n\n[amqp]\nurl = {url}\nexchange = {ex}\n\
         queue = {queue}\nbind_patterns = [\"#\"]\nmetric_name_in_body = {nib}\nworkers = {w}\nprefetch = {p}\n\
         max_reconnect_delay_secs = 2\n\n[cache]\nwrite_strategy = {ws}\nring_capacity = {rc}\nmax_creates_per_minute = {mc}\n\n\
         [whisper]\ncreate_mode = {cm}\n\n[receivers]\nenabled = false\n\n[query]\ncarbonlink = \"\"\nhttp = \"\"\n",
        data = q(&dir.join("whisper").display().to_string()),
        schemas = q(&schemas_path.display().to_string()),
        url = q(&cfg.url),
        ex = q(exchange),
        queue = q(queue),
        nib = load.name_in_body,
        w = k.workers,
        p = k.prefetch,
        ws = q(&k.strategy),
        rc = k.ring_capacity,
        mc = k.max_creates_per_minute,
        cm = q(&k.create_mode),
    );
    let path = dir.join("warren.toml");
    // Fail here, with warren's own message, rather than in the child.
    crate::config::settings::Settings::from_toml(&text, &path.display().to_string())?;
    std::fs::write(&path, text).map_err(io("writing warren.toml"))?;
    Ok(path)
}

fn spawn(cfg: &RunConfig, dir: &Path, config: &Path, every_ms: u64) -> Result<Child2, RunError> {
    let log = dir.join("warren.log");
    let log_file = std::fs::File::create(&log).map_err(io("creating warren.log"))?;
    let mut child = Command::new(&cfg.warren_bin)
        .arg("cache")
        .arg("--config")
        .arg(config)
        .arg("--stats-every-ms")
        .arg(every_ms.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(io(format!("starting {}", cfg.warren_bin.display())))?;
    let spawned = Instant::now();
    let latest = Arc::new(Mutex::new(Latest::default()));
    // Invariant: stdout was configured as piped just above.
    let stdout = child.stdout.take().expect("piped stdout");
    let l = latest.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(map) = serde_json::from_str::<BTreeMap<String, u64>>(&line) else { continue };
            let mut g = l.lock().unwrap_or_else(|e| e.into_inner());
            let c = map.get("committed_points").copied().unwrap_or(0);
            g.committed_curve.push((spawned.elapsed(), c));
            g.counters = map;
        }
    });
    Ok(Child2 { child, latest, log, spawned })
}

fn warren(cfg: &RunConfig, live: bool, obs: &dyn Observer) -> Result<Row, RunError> {
    let mode = if live { "live" } else { "backlog" };
    let (exchange, queue) = names(mode);
    let parent = cfg.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = match &cfg.reuse_dir {
        Some(d) => TempDir(d.clone(), false),
        None => TempDir(parent.join(&exchange), !cfg.keep_data),
    };
    std::fs::create_dir_all(&tmp.0).map_err(io(format!("creating {}", tmp.0.display())))?;
    let patterns = ["#".to_string()];
    broker::declare(&cfg.url, &exchange, Some((&queue, &patterns)))?;
    let result = warren_steps(cfg, live, obs, &tmp.0, &exchange, &queue);
    let _ = broker::delete(&cfg.url, &exchange, Some(&queue));
    if cfg.keep_data || cfg.reuse_dir.is_some() {
        tracing::info!(dir = %tmp.0.display(), "bench data kept");
    }
    result
}

/// A directory removed on drop when `.1` is set.
pub(super) struct TempDir(pub(super) PathBuf, pub(super) bool);

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn warren_steps(
    cfg: &RunConfig,
    live: bool,
    obs: &dyn Observer,
    dir: &Path,
    exchange: &str,
    queue: &str,
) -> Result<Row, RunError> {
    let load = &cfg.load;
    let (total, messages) = (load.total_points(), load.messages());
    let config = write_config(cfg, dir, exchange, queue)?;
    let progress = PublishProgress::default();
    let every_ms = if live { 50 } else { 100 };

    let mut publish_curve: Vec<(Duration, u64)> = Vec::new();
    let (mut child, publish, start) = if live {
        let mut child = spawn(cfg, dir, &config, every_ms)?;
        // Wait until every worker is consuming, so "publish→durable" does not include warren's start.
        wait_for(&mut child, cfg.timeout, (total, messages), |c| c.counter("connects") >= cfg.knobs.workers as u64)?;
        obs.phase("warren live: publish while consuming", messages);
        let start = Instant::now();
        let summary = std::thread::scope(|s| {
            let sampler = s.spawn(|| {
                let mut curve = Vec::new();
                while progress.confirmed_points.load(Ordering::Relaxed) < total {
                    curve.push((child.spawned.elapsed(), progress.confirmed_points.load(Ordering::Relaxed)));
                    std::thread::sleep(Duration::from_millis(10));
                    if start.elapsed() > cfg.timeout {
                        break;
                    }
                }
                curve.push((child.spawned.elapsed(), progress.confirmed_points.load(Ordering::Relaxed)));
                curve
            });
            let r = publish_with_progress(cfg, exchange, obs, &progress);
            if r.is_err() {
                // Let the sampler end.
                progress.confirmed_points.store(total, Ordering::Relaxed);
            }
            publish_curve = sampler.join().unwrap_or_default();
            r
        });
        let summary = match summary {
            Ok(s) => s,
            Err(e) => {
                child.stop(Duration::from_secs(10));
                return Err(e);
            }
        };
        obs.finish(&format!("{:.0} msg/s", summary.msgs_per_sec()));
        (child, summary, start)
    } else {
        obs.phase("warren backlog: publish", messages);
        let summary = publish_with_progress(cfg, exchange, obs, &progress)?;
        obs.finish(&format!("{:.0} msg/s", summary.msgs_per_sec()));
        let child = spawn(cfg, dir, &config, every_ms)?;
        let start = child.spawned;
        (child, summary, start)
    };

    obs.phase(&format!("warren {}: until durable", if live { "live" } else { "backlog" }), total);
    let durable = wait_for(&mut child, cfg.timeout, (total, messages), |c| {
        let committed = c.counter("committed_points");
        obs.progress(committed);
        committed >= total
            && c.counter("acked") >= messages
            && broker::ready_messages(&cfg.url, queue).map(|n| n == 0).unwrap_or(false)
    });
    let seconds = start.elapsed().as_secs_f64();
    let usage = procstat::usage(child.child.id()).unwrap_or_default();
    child.stop(Duration::from_secs(120));
    durable?;
    obs.finish(&format!("{:.0} points/s", rate(total, seconds)));

    let last = child.lock();
    let counters = last.counters.clone();
    let gauge = |k: &str| counters.get(k).copied().unwrap_or(0) as f64 / 1000.0;
    let latency_receive = Some(Latency {
        p50_ms: gauge("latency_p50_us"),
        p99_ms: gauge("latency_p99_us"),
        p999_ms: gauge("latency_p999_us"),
        source: "receive→durable (writer histogram)".into(),
    });
    let latency_publish =
        if live { curve_latency(&publish_curve, &last.committed_curve, total, every_ms) } else { None };
    drop(last);

    obs.phase("verify", u64::from(load.metrics));
    let verification = verify::verify(load, &dir.join("whisper"), |m| {
        if m % 1000 == 0 {
            obs.progress(u64::from(m));
        }
    });
    obs.finish(&format!(
        "{} ok, {} missing, {} mismatched",
        verification.ok, verification.missing, verification.mismatched
    ));

    Ok(Row {
        system: "warren".into(),
        mode: if live { "live" } else { "backlog" }.into(),
        publish,
        seconds_to_durable: seconds,
        points_per_sec: rate(total, seconds),
        ratio_to_ceiling: None,
        latency_receive,
        latency_publish,
        usage,
        cpu_s_per_million_points: if total > 0 { usage.cpu_seconds * 1e6 / total as f64 } else { 0.0 },
        verification,
        counters,
    })
}

/// Poll (every 20 ms) until `done` holds; fail if the child exits or `timeout` passes.
fn wait_for(
    child: &mut Child2,
    timeout: Duration,
    (total, messages): (u64, u64),
    mut done: impl FnMut(&Child2) -> bool,
) -> Result<(), RunError> {
    let start = Instant::now();
    loop {
        if done(child) {
            return Ok(());
        }
        if let Some(status) = child.exited() {
            return Err(RunError::WarrenExited { status, log: child.log_tail() });
        }
        if start.elapsed() > timeout {
            let c = |k: &str| child.counter(k);
            let err = RunError::Timeout {
                secs: timeout.as_secs(),
                committed: c("committed_points"),
                total,
                acked: c("acked"),
                messages,
                log: child.log_tail(),
            };
            child.stop(Duration::from_secs(10));
            return Err(err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Publish→durable latency from two cumulative curves, assuming points become durable in the order they were
/// confirmed (FIFO): the k-th point was confirmed when the publish curve first reached k and durable when the
/// committed curve first reached k. Evaluated at 10 000 evenly spaced ranks; resolution is the sampling interval
/// of the curves (10 ms publish side, `every_ms` consumer side).
fn curve_latency(
    publish: &[(Duration, u64)],
    committed: &[(Duration, u64)],
    total: u64,
    every_ms: u64,
) -> Option<Latency> {
    let first_at = |curve: &[(Duration, u64)], k: u64| curve.iter().find(|(_, n)| *n >= k).map(|(t, _)| *t);
    let ranks = 10_000u64.min(total.max(1));
    let mut lat: Vec<f64> = Vec::with_capacity(ranks as usize);
    for i in 1..=ranks {
        let k = (i * total).div_ceil(ranks).max(1);
        let (Some(p), Some(d)) = (first_at(publish, k), first_at(committed, k)) else { continue };
        lat.push(d.saturating_sub(p).as_secs_f64() * 1000.0);
    }
    if lat.is_empty() {
        return None;
    }
    lat.sort_by(f64::total_cmp);
    let q = |x: f64| lat[((lat.len() - 1) as f64 * x).round() as usize];
    Some(Latency {
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        source: format!("publish-confirm→durable (FIFO curve estimate, ±{every_ms} ms)"),
    })
}

/// The report as a plain-text table.
pub fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let l = &r.load;
    let k = &r.knobs;
    // Invariant (every writeln! below): writing to a String cannot fail.
    writeln!(
        s,
        "scenario {}: {} metrics × {} points = {} points in {} messages ({} per message, {}), interval {} s",
        r.scenario,
        l.metrics,
        l.points,
        r.total_points,
        r.messages,
        l.per_msg,
        if l.name_in_body { "name in body" } else { "routing key" },
        l.interval
    )
    .expect("fmt");
    writeln!(
        s,
        "warren: {} workers, prefetch {}, strategy {}, create mode {}, ring {}, creates/min {}; {} publisher connections",
        k.workers,
        k.prefetch,
        k.strategy,
        k.create_mode,
        k.ring_capacity,
        if k.max_creates_per_minute == 0 { "unlimited".to_string() } else { k.max_creates_per_minute.to_string() },
        r.publish_connections
    )
    .expect("fmt");
    if let Some(p) = &r.peer {
        writeln!(
            s,
            "{}: {}, strategy {}, create mode {}, {}; {}",
            p.system, p.version, p.write_strategy, p.create_mode, p.limits, p.timing
        )
        .expect("fmt");
    }
    writeln!(s).expect("fmt");
    writeln!(
        s,
        "{:<22} {:>11} {:>12} {:>10} {:>12} {:>7} {:>25} {:>9} {:>9} {:>8} {:>12}",
        "system",
        "publish/s",
        "points/s",
        "seconds",
        "drain msg/s",
        "ratio",
        "latency p50/p99/p999 ms",
        "peak MiB",
        "CPU s",
        "CPU s/M",
        "missing/bad"
    )
    .expect("fmt");
    if let Some(c) = &r.ceiling {
        writeln!(
            s,
            "{:<22} {:>11.0} {:>12.0} {:>10.2} {:>12.0} {:>7} {:>25} {:>9} {:>9} {:>8} {:>12}",
            "broker ceiling (null)",
            c.publish.msgs_per_sec(),
            c.drain_points_per_sec,
            c.drain_seconds,
            c.drain_msgs_per_sec,
            "1.00",
            "-",
            "-",
            "-",
            "-",
            "-"
        )
        .expect("fmt");
    }
    for row in &r.rows {
        let lat = row.latency_publish.as_ref().or(row.latency_receive.as_ref());
        let lat = lat.map_or("-".to_string(), |l| format!("{:.0}/{:.0}/{:.0}", l.p50_ms, l.p99_ms, l.p999_ms));
        writeln!(
            s,
            "{:<22} {:>11.0} {:>12.0} {:>10.2} {:>12.0} {:>7} {:>25} {:>9.1} {:>9.2} {:>8.2} {:>12}",
            format!("{} {}", row.system, row.mode),
            row.publish.msgs_per_sec(),
            row.points_per_sec,
            row.seconds_to_durable,
            rate(row.counters.get("deliveries").copied().unwrap_or(0), row.seconds_to_durable),
            row.ratio_to_ceiling.map_or("-".to_string(), |x| format!("{x:.2}")),
            lat,
            row.usage.peak_rss_kib as f64 / 1024.0,
            row.usage.cpu_seconds,
            row.cpu_s_per_million_points,
            format!("{}/{}", row.verification.missing, row.verification.mismatched)
        )
        .expect("fmt");
    }
    writeln!(s).expect("fmt");
    for row in &r.rows {
        for lat in [&row.latency_receive, &row.latency_publish].into_iter().flatten() {
            writeln!(
                s,
                "{} {} latency {}: p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms",
                row.system, row.mode, lat.source, lat.p50_ms, lat.p99_ms, lat.p999_ms
            )
            .expect("fmt");
        }
        let v = &row.verification;
        writeln!(
            s,
            "{} {} verification: {} of {} points ok, {} missing, {} mismatched, {} files missing, {} reader \
             disagreements → {}",
            row.system,
            row.mode,
            v.ok,
            v.expected,
            v.missing,
            v.mismatched,
            v.missing_files,
            v.reader_disagreements,
            if v.passed() { "PASS" } else { "FAIL" }
        )
        .expect("fmt");
    }
    if let Some(p) = &r.peer {
        match (r.warren_over_peer, &r.peer_error) {
            (Some(x), _) => {
                writeln!(s, "warren/{}: {x:.2}× (warren's points/s ÷ {}'s); note: {}", p.system, p.system, p.ack)
            }
            (None, Some(e)) => writeln!(s, "{} FAILED: {e}", p.system),
            (None, None) => writeln!(s, "warren/{}: no ratio (no warren row)", p.system),
        }
        .expect("fmt");
    }
    s
}
