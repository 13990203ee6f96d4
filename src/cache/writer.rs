//! The writer thread: drains the rings into the cache, writes metrics to whisper in strategy order, and tells
//! producers when their batches are durable.
//!
//! One loop, no locks: pop every batch waiting, write a slice of dirty metrics (one `update_many` each: one
//! positioned write per contiguous run), send completions, sleep when idle. Files are created on first write
//! from the schema and aggregation rules (within the create rate limit) by the creator pool
//! ([`super::creators`]), so the writer keeps updating existing files meanwhile, and kept open up to the
//! descriptor budget (over it, a random open file is closed: see [`Writer::evict`]).
//!
//! Owns: the cache and every open whisper file. Never touches: sockets, AMQP channels.

mod create;
mod files;
mod flush;
mod intake;

use super::creators::{self, Creators, HoldCreates};
use super::durable::Durability;
use super::query::{CacheRequest, CachedPoints};
use super::ratelimit::TokenBucket;
use super::store::{self, Cache, Held, MetricId};
use super::tickets::Tickets;
use crate::config::settings::{CreateModeSetting, Settings, SyncMode};
use crate::lifecycle::{unix_now, Shutdown};
use crate::metric;
use crate::pipe::ring::{Completion, Rings};
use crate::stats::Stats;
use crate::tagdb::TagQueue;
use crate::whisper::{AggregationMethod, CreateMode, OpenOptions, Point, UpdateScratch, WhisperError, WhisperFile};
use hdrhistogram::Histogram;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::rules::{ConfRules, DefaultRules, FileRules, NewRules};
pub use flush::{FINAL_FLUSH_ATTEMPTS, FINAL_FLUSH_DEADLINE};

/// A turn that took fewer batches than this from the rings is light: with every dirty metric written, the
/// writer lingers after it (`[cache] linger_us`).
const LIGHT_TURN: usize = 8;

/// Everything the writer is configured with.
pub struct WriterConfig {
    pub data_dir: PathBuf,
    pub rules: Box<dyn FileRules>,
    pub create_mode: CreateMode,
    pub open: OpenOptions,
    pub max_size: usize,
    pub low_watermark: usize,
    /// Pause inputs when full (`true`) or drop and count new points (carbon's USE_FLOW_CONTROL = False).
    pub flow_control: bool,
    /// Log each create on target `warren::creates` (carbon's LOG_CREATES).
    pub log_creates: bool,
    pub max_updates_per_second: u32,
    pub max_creates_per_minute: u32,
    pub open_files: usize,
    /// Creator threads; 0 creates on the writer thread.
    pub creators: usize,
    /// How tagged series' files are named (carbon's TAG_HASH_FILENAMES).
    pub tag_files: metric::TagFileNames,
    /// Sync written files before completing their deliveries (see [`super::durable`]).
    pub sync: SyncMode,
    /// Files kept mapped without a descriptor (`[whisper] mmap`; 0: none are mapped).
    pub mapped_files: usize,
    /// The pause after a light turn (`[cache] linger_us`; zero: none).
    pub linger: Duration,
}

impl WriterConfig {
    /// The writer settings of `s`, with `rules` for new files.
    pub fn from_settings(s: &Settings, rules: Box<dyn FileRules>) -> Self {
        WriterConfig {
            data_dir: s.data_dir.clone(),
            rules,
            create_mode: match s.whisper.create_mode {
                CreateModeSetting::Fallocate => CreateMode::Fallocate,
                CreateModeSetting::Sparse => CreateMode::Sparse,
                CreateModeSetting::Zero => CreateMode::Zero,
            },
            // Syncing is the writer's (once per file per loop turn), not each update's.
            open: OpenOptions { lock: s.whisper.lock_writes, autoflush: false },
            max_size: s.cache.max_size.max(1),
            low_watermark: s.cache.low_watermark.min(s.cache.max_size),
            flow_control: s.cache.flow_control,
            log_creates: s.log_creates,
            max_updates_per_second: s.cache.max_updates_per_second,
            max_creates_per_minute: s.cache.max_creates_per_minute,
            open_files: super::fdlimit::open_file_budget(s.cache.open_files.max(1)),
            creators: s.whisper.creators.unwrap_or_else(creators::default_size),
            tag_files: metric::TagFileNames::from_hash_filenames(s.tags.hash_filenames),
            sync: if s.whisper.autoflush { SyncMode::Batch } else { s.whisper.sync },
            linger: Duration::from_micros(s.cache.linger_us),
            mapped_files: if s.whisper.mmap { super::fdlimit::mapping_budget(s.cache.open_files.max(1)) } else { 0 },
        }
    }
}

/// A test hook (cargo feature `test-hooks`): while set, the writer drains rings into the cache but writes nothing.
#[cfg(feature = "test-hooks")]
pub type HoldWrites = Arc<std::sync::atomic::AtomicBool>;

/// Why one metric's write did not happen.
enum WriteFailure {
    /// The create rate limit is spent: retry at the given instant.
    CreateLimited(Instant),
    /// Disk trouble: keep the points, retry later.
    Retry(WhisperError),
    /// The file is being created by the pool: the points wait in the cache, off the dirty order.
    Creating,
    /// The file is unusable (corrupt header, bad archive rules): the points are dropped and counted.
    Reject(WhisperError),
}

/// The writer.
pub struct Writer {
    cfg: WriterConfig,
    cache: Cache,
    tickets: Tickets,
    rings: Arc<Rings>,
    stats: Arc<Stats>,
    shutdown: Arc<Shutdown>,
    /// Always false unless a test set it through [`Writer::with_hold`] (feature `test-hooks`).
    hold: Arc<std::sync::atomic::AtomicBool>,
    scratch: UpdateScratch,
    /// Buffers of [`Writer::write_metric`], kept for their capacity: a metric's held points, the points to write
    /// and the ticket runs they resolve.
    held: Vec<Held>,
    points: Vec<Point>,
    owned_tickets: Vec<(u32, u32)>,
    /// The metrics whose file is open and holds a descriptor (each entry's `open_slot` is its index here).
    open_ids: Vec<MetricId>,
    /// The metrics whose file is mapped and holds no descriptor (`open_slot` is the index here).
    mapped_ids: Vec<MetricId>,
    /// xorshift state for choosing which open file to close.
    evict_rng: u64,
    updates: TokenBucket,
    creates: TokenBucket,
    latency: Histogram<u64>,
    paused: bool,
    last_stats: Instant,
    errors_logged: u32,
    queries: Option<crossbeam::channel::Receiver<CacheRequest>>,
    /// New file rules (SIGHUP): they shape files created from then on.
    rule_updates: Option<crossbeam::channel::Receiver<NewRules>>,
    /// Rate limit for the "cache full, dropping" warning (flow control off).
    overflow_logged: Option<Instant>,
    /// Completions of this loop turn, sent together after the write slice: the worker wakes once per turn
    /// instead of once per batch, and acks the whole finished prefix with one frame.
    outbox: Vec<(u16, Completion)>,
    /// The creator pool (started by [`Writer::run`] when `cfg.creators > 0`).
    creators: Option<Creators>,
    hold_creates: HoldCreates,
    /// Series to register with graphite-web's tag database (when `[tags] enabled`).
    tags: Option<TagQueue>,
    /// Unsynced files, synced before completions (`[whisper] sync`).
    durable: Durability,
    /// Set by [`Writer::flush_all`]: failed writes and creates are retried a bounded number of times.
    final_flush: Option<flush::FinalFlush>,
}

impl Writer {
    /// A writer over `rings`, counting into `stats`, stopping on `shutdown`.
    pub fn new(
        cfg: WriterConfig,
        strategy: crate::config::settings::WriteStrategy,
        rings: Arc<Rings>,
        stats: Arc<Stats>,
        shutdown: Arc<Shutdown>,
    ) -> Self {
        let updates = TokenBucket::new(cfg.max_updates_per_second, Duration::from_secs(1));
        let creates = TokenBucket::new(cfg.max_creates_per_minute, Duration::from_secs(60));
        let durable = Durability::new(cfg.sync, &cfg.data_dir);
        Writer {
            cfg,
            cache: Cache::new(strategy),
            tickets: Tickets::default(),
            rings,
            stats,
            shutdown,
            hold: Arc::default(),
            scratch: UpdateScratch::default(),
            held: Vec::new(),
            points: Vec::new(),
            owned_tickets: Vec::new(),
            open_ids: Vec::new(),
            mapped_ids: Vec::new(),
            evict_rng: 0x9E37_79B9_7F4A_7C15,
            updates,
            creates,
            // Invariant: 1 µs .. 1 h with 3 significant figures is a valid histogram configuration.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            paused: false,
            last_stats: Instant::now(),
            errors_logged: 0,
            queries: None,
            rule_updates: None,
            overflow_logged: None,
            outbox: Vec::new(),
            creators: None,
            hold_creates: HoldCreates::default(),
            tags: None,
            durable,
            final_flush: None,
        }
    }

    /// While `hold` is set, the creator pool creates nothing (tests of writes beside pending creates).
    #[cfg(feature = "test-hooks")]
    pub fn with_create_hold(mut self, hold: HoldCreates) -> Self {
        self.hold_creates = hold;
        self
    }

    /// Queue created and written series for registration with graphite-web's tag database.
    pub fn with_tags(mut self, tags: TagQueue) -> Self {
        self.tags = Some(tags);
        self
    }

    /// Record writes, syncs and completions in `journal` (tests of the ack ordering).
    #[cfg(feature = "test-hooks")]
    pub fn with_journal(mut self, journal: Arc<super::durable::journal::Journal>) -> Self {
        self.durable.set_journal(journal);
        self
    }

    /// Test hook: while `hold` is set, write nothing (rings are still drained into the cache).
    #[cfg(feature = "test-hooks")]
    pub fn with_hold(mut self, hold: HoldWrites) -> Self {
        self.hold = hold;
        self
    }

    /// Answer [`CacheRequest`]s arriving on `rx` (see [`super::query::CacheHandle`]).
    pub fn with_queries(mut self, rx: crossbeam::channel::Receiver<CacheRequest>) -> Self {
        self.queries = Some(rx);
        self
    }

    /// Answer every waiting request. Returns whether there was any.
    fn answer_queries(&mut self) -> bool {
        // Taken out for the loop (the handlers borrow `self` mutably) and put back: no clone per loop turn.
        let Some(rx) = self.queries.take() else { return false };
        let mut any = false;
        while let Ok(req) = rx.try_recv() {
            any = true;
            match req {
                CacheRequest::Points { metrics, reply } => {
                    let answer: Vec<CachedPoints> = metrics.iter().map(|m| self.cached_points(m)).collect();
                    let _ = reply.send(answer);
                }
                CacheRequest::Unwritten { reply } => {
                    let _ = reply.send(self.cache.unwritten().map(String::from).collect());
                }
                CacheRequest::Rules { metrics, reply } => {
                    let r = &self.cfg.rules;
                    let _ = reply.send(metrics.iter().map(|m| (r.archives(m), r.aggregation(m).0)).collect());
                }
                CacheRequest::SetAggregation { metric, method, x_files_factor, reply } => {
                    let _ = reply.send(self.set_aggregation(&metric, method, x_files_factor));
                }
            }
        }
        self.queries = Some(rx);
        any
    }

    /// The cached points of `metric`, sorted, the newest value per timestamp.
    fn cached_points(&self, metric: &str) -> CachedPoints {
        let mut pts: Vec<Point> = self.cache.points_of(metric).collect();
        dedupe_last_wins(&mut pts);
        pts.into_iter().map(|p| (p.timestamp, p.value)).collect()
    }

    fn set_aggregation(&mut self, metric: &str, method: AggregationMethod, xff: Option<f32>) -> Result<(), String> {
        let name = metric::validate(metric.as_bytes()).map_err(|e| e.to_string())?;
        let path = metric::file_path_as(&self.cfg.data_dir, &name, self.cfg.tag_files);
        // Close our descriptor first so the next write re-reads the new header.
        if let Some(id) = self.cache.lookup(name.as_bytes()) {
            self.close_file(id);
        }
        let mut f = WhisperFile::open(&path, self.cfg.open).map_err(|e| e.to_string())?;
        f.set_aggregation(Some(method), xff).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Run until shutdown: every producer finished, every cached point written (or given up), `writer_done` set.
    pub fn run(mut self) {
        self.rings.set_writer(std::thread::current());
        self.start_creators();
        loop {
            self.take_rule_updates();
            let asked = self.answer_queries();
            let absorbed = self.drain_rings();
            let drained = (absorbed > 0) | asked | self.adopt_created();
            let wrote =
                if self.hold.load(Ordering::Acquire) { false } else { self.write_some(Duration::from_millis(2)) };
            self.send_completions();
            self.flow_control();
            self.publish_stats(false);
            if !drained && !wrote {
                if self.stopping() && self.rings.finished_producers() == self.rings.len() && self.rings.occupancy() == 0
                {
                    break;
                }
                std::thread::park_timeout(Duration::from_millis(5));
            } else if lingers(self.cfg.linger, absorbed, self.cache.dirty_metrics(), self.stopping()) {
                // Producers pushing meanwhile find the writer not parked: no wake-up each, and the next turn
                // takes what they pushed at once.
                Stats::add(&self.stats.writer_lingers, 1);
                std::thread::sleep(self.cfg.linger);
            }
        }
        self.flush_all();
        self.send_completions();
        // Joins the creator threads (every job was collected by flush_all, or given up with it).
        self.creators = None;
        self.publish_stats(true);
        self.shutdown.writer_done.store(true, Ordering::Release);
        tracing::info!(left_in_cache = self.cache.total_points(), "writer stopped");
    }

    /// Shutdown was asked for.
    fn stopping(&self) -> bool {
        self.shutdown.stop.load(Ordering::Acquire)
    }

    /// Send this turn's completions, after syncing what they depend on (`sync = "batch"`). If a sync failed,
    /// they are withheld: those deliveries stay unacked and are redelivered after a reconnect or restart.
    fn send_completions(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        if let Err(e) = self.durable.before_completing(&self.cache, &self.stats) {
            let deliveries: u64 = self.outbox.iter().map(|(_, c)| u64::from(c.tags)).sum();
            tracing::error!(deliveries, error = %e, "a sync failed: not acking this turn's deliveries");
            self.outbox.clear();
            return;
        }
        for (producer, c) in self.outbox.drain(..) {
            for tag in c.tag..c.tag + u64::from(c.tags) {
                self.durable.completing(producer, tag);
            }
            self.rings.complete(producer, c);
        }
    }

    /// Move every waiting batch into the cache. Returns how many batches there were.
    fn drain_rings(&mut self) -> usize {
        let mut batches = 0;
        for i in 0..self.rings.len() {
            // Bounded per ring so one busy producer cannot starve the writes.
            for _ in 0..4096 {
                let Some(batch) = self.rings.pop(i) else { break };
                self.absorb(&batch);
                self.rings.give_back(i, batch);
                batches += 1;
            }
        }
        batches
    }

    fn flow_control(&mut self) {
        let size = self.cache.total_points();
        // Without flow control the inputs never pause: `room_for` drops what does not fit.
        if self.cfg.flow_control && !self.paused && size >= self.cfg.max_size {
            self.paused = true;
            self.rings.set_paused(true);
            Stats::add(&self.stats.cache_overflow, 1);
            tracing::warn!(points = size, cap = self.cfg.max_size, "cache full: pausing inputs");
        } else if self.paused && size <= self.cfg.low_watermark {
            self.paused = false;
            self.rings.set_paused(false);
            tracing::info!(points = size, "cache below low watermark: resuming inputs");
        }
    }

    /// Write dirty metrics for up to `budget`. Returns whether anything was written or attempted.
    /// One clock read per metric written (it ends that metric's update and starts the next): with one point per
    /// update, clock reads were 9 % of the writer's samples (rk-1).
    fn write_some(&mut self, budget: Duration) -> bool {
        let start = Instant::now();
        let wall = unix_now();
        let mut now = start;
        let mut any = false;
        while now.duration_since(start) < budget {
            if !self.updates.try_take(now) {
                break;
            }
            let Some(id) = self.cache.next(now) else { break };
            self.look_ahead();
            now = self.write_metric(id, false, now, wall).1;
            any = true;
        }
        any
    }

    /// Before a metric's update, hint the memory the next ones will need, each a step further along its chain
    /// of loads: the entry three metrics ahead; its held points and its file's archive list two ahead (the entry
    /// is cached by now); the mapped slot one ahead (its archive list is). With one point per update (rk-1) and
    /// thousands of files, each of those loads otherwise misses the CPU's caches in turn.
    #[inline]
    fn look_ahead(&self) {
        if let Some(id) = self.cache.upcoming(2) {
            self.cache.prefetch_entry(id);
        }
        if let Some(id) = self.cache.upcoming(1) {
            let e = self.cache.entry(id);
            crate::whisper::prefetch(e.points.as_ptr());
            if let Some(f) = e.file.as_ref() {
                f.prefetch_header();
            }
        }
        if let Some(id) = self.cache.upcoming(0) {
            let e = self.cache.entry(id);
            if let (Some(f), Some(p)) = (e.file.as_ref(), e.points.first()) {
                f.prefetch_slot(p.timestamp);
            }
        }
    }

    /// Write all pending points of `id`, taken from the cache at `started` (`wall`: the Unix time whisper's
    /// retention is measured from). Returns whether they were resolved (written or rejected), and the time
    /// the metric was done with.
    fn write_metric(&mut self, id: MetricId, unlimited: bool, started: Instant, wall: u32) -> (bool, Instant) {
        let mut held = std::mem::take(&mut self.held);
        let mut points = std::mem::take(&mut self.points);
        let mut tickets = std::mem::take(&mut self.owned_tickets);
        self.cache.take(id, &mut held);
        store::split(&held, &mut points, &mut tickets);
        dedupe_last_wins(&mut points);
        let result = self.update(id, &mut points, unlimited, wall);
        let done = Instant::now();
        let resolved = match result {
            Ok(written) => {
                Stats::add(&self.stats.update_operations, 1);
                Stats::add(&self.stats.update_micros, done.duration_since(started).as_micros() as u64);
                Stats::add(&self.stats.committed_points, written as u64);
                self.cache.entry_mut(id).retry_at = None;
                self.durable.wrote(id, &self.cache.entry(id).name);
                if let Some(tags) = self.tags.as_mut() {
                    tags.updated(&self.cache.entry(id).name);
                }
                true
            }
            Err(WriteFailure::Creating) => {
                // Parked: back in the cache (queries see them), handed out again once the file exists.
                self.cache.park(id, &mut held);
                false
            }
            Err(WriteFailure::CreateLimited(at)) => {
                Stats::add(&self.stats.dropped_creates, 1);
                self.cache.entry_mut(id).retry_at = Some(at);
                false
            }
            Err(WriteFailure::Retry(e)) => {
                Stats::add(&self.stats.errors, 1);
                self.log_error(id, &e, "keeping points, will retry");
                self.close_file(id);
                let at = self.retry_after_failure(id);
                self.cache.entry_mut(id).retry_at = Some(at);
                false
            }
            Err(WriteFailure::Reject(e)) => {
                Stats::add(&self.stats.errors, 1);
                self.log_error(id, &e, "dropping points");
                self.close_file(id);
                true
            }
        };
        if resolved {
            self.resolve_tickets(&tickets, done);
            held.clear();
        } else if !held.is_empty() {
            // (A parked metric's points are back already.) Back as they were taken, duplicates and all: each
            // point's ticket counts it once.
            self.cache.restore(id, &mut held);
        }
        points.clear();
        tickets.clear();
        self.held = held;
        self.points = points;
        self.owned_tickets = tickets;
        (resolved, done)
    }

    /// The points of these tickets are written (or rejected): complete the batches that are now whole.
    /// `now`: when they were.
    fn resolve_tickets(&mut self, tickets: &[(u32, u32)], now: Instant) {
        for &(slot, count) in tickets {
            if let Some(done) = self.tickets.resolve(slot, count) {
                let micros = now.saturating_duration_since(done.received).as_micros() as u64;
                let _ = self.latency.record(micros.max(1));
                self.complete(done.ticket);
            }
        }
    }

    fn log_error(&mut self, id: MetricId, e: &WhisperError, action: &str) {
        // At most 20 error lines a minute; the errors counter has the rest.
        if self.errors_logged < 20 {
            self.errors_logged += 1;
            tracing::error!(metric = %self.cache.entry(id).name, error = %e, action, "whisper write failed");
        }
    }

    fn update(&mut self, id: MetricId, points: &mut [Point], unlimited: bool, now: u32) -> Result<usize, WriteFailure> {
        self.ensure_open(id, unlimited)?;
        self.map_kept_file(id);
        let e = self.cache.entry_mut(id);
        // Invariant: ensure_open succeeded, so the file is open.
        let file = e.file.as_mut().expect("file opened by ensure_open");
        let stats = file.update_many(points, now, &mut self.scratch).map_err(classify)?;
        e.updates_open = e.updates_open.saturating_add(1);
        Stats::add(&self.stats.dropped_points, stats.dropped as u64);
        Ok(stats.points_written)
    }

    fn publish_stats(&mut self, force: bool) {
        if !force && self.last_stats.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_stats = Instant::now();
        self.errors_logged = self.errors_logged.saturating_sub(1);
        let s = &self.stats;
        s.cache_size.store(self.cache.total_points() as u64, Ordering::Relaxed);
        s.cache_queues.store(self.cache.dirty_metrics() as u64, Ordering::Relaxed);
        s.latency_p50_us.store(self.latency.value_at_quantile(0.5), Ordering::Relaxed);
        s.latency_p99_us.store(self.latency.value_at_quantile(0.99), Ordering::Relaxed);
        s.latency_p999_us.store(self.latency.value_at_quantile(0.999), Ordering::Relaxed);
    }
}

/// Whether the writer lingers after a turn that took `absorbed` batches and left `dirty` metrics unwritten:
/// lingering is on, the turn was light, everything is written, and no shutdown is under way.
fn lingers(linger: Duration, absorbed: usize, dirty: usize, stopping: bool) -> bool {
    !linger.is_zero() && absorbed < LIGHT_TURN && dirty == 0 && !stopping
}

fn classify(e: WhisperError) -> WriteFailure {
    match e {
        // AlreadyExists: another process created the file first; the retry opens it.
        WhisperError::Io { .. } | WhisperError::AlreadyExists { .. } => WriteFailure::Retry(e),
        other => WriteFailure::Reject(other),
    }
}

/// Sort points by timestamp and keep, for each timestamp, the one that arrived last (carbon's cache is a dict
/// keyed by timestamp: a newer value replaces the older).
pub fn dedupe_last_wins(points: &mut Vec<Point>) {
    // Points of one stream arrive in time order, without repeats: one pass, no sort (the sort was 4 % of the
    // writer in the steady body-100 drain, whose two publishers interleave each metric's points).
    if points.windows(2).all(|w| w[0].timestamp < w[1].timestamp) {
        return;
    }
    // A stable sort keeps arrival order among equal timestamps.
    points.sort_by_key(|p| p.timestamp);
    let mut w = 0;
    for r in 0..points.len() {
        if r + 1 < points.len() && points[r + 1].timestamp == points[r].timestamp {
            continue;
        }
        points[w] = points[r];
        w += 1;
    }
    points.truncate(w);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_lingers_only_after_a_light_turn_that_left_nothing_to_write() {
        let ms = Duration::from_millis(2);
        assert!(lingers(ms, 0, 0, false), "a turn that only answered a query or adopted a file");
        assert!(lingers(ms, LIGHT_TURN - 1, 0, false));
        assert!(!lingers(ms, LIGHT_TURN, 0, false), "a heavy turn goes straight on to the next");
        assert!(!lingers(ms, 1, 1, false), "a metric left dirty (write budget spent) is written first");
        assert!(!lingers(ms, 1, 0, true), "no pause while stopping");
        assert!(!lingers(Duration::ZERO, 1, 0, false), "linger_us = 0 turns it off");
    }

    #[test]
    fn the_last_value_for_a_timestamp_wins() {
        let p = |t, v| Point { timestamp: t, value: v };
        let mut v = vec![p(20, 1.0), p(10, 2.0), p(20, 3.0), p(10, 4.0), p(30, 5.0)];
        dedupe_last_wins(&mut v);
        assert_eq!(v, vec![p(10, 4.0), p(20, 3.0), p(30, 5.0)]);
        // In order with a repeat (the fast path must not take it), and in order without one (kept as is).
        let mut v = vec![p(10, 1.0), p(20, 2.0), p(20, 3.0), p(30, 4.0)];
        dedupe_last_wins(&mut v);
        assert_eq!(v, vec![p(10, 1.0), p(20, 3.0), p(30, 4.0)]);
        let mut v = vec![p(10, 1.0), p(20, 2.0), p(30, 3.0)];
        dedupe_last_wins(&mut v);
        assert_eq!(v, vec![p(10, 1.0), p(20, 2.0), p(30, 3.0)]);
    }
}
