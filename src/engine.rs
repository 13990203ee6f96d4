//! Wires the threads together: N pinned AMQP workers, the socket receivers' event loop and the self-metrics
//! emitter (one producer ring each) → one writer, beside the query servers and the Prometheus endpoint.
//! `warren cache` and the integration tests both start the engine through [`Engine::start`].
//!
//! Start and stop have one shape, as go-carbon's `Stoppable`: [`Engine::start`] binds everything first and, if a
//! later part fails, stops and joins what it already started; [`Engine::stop`] (or dropping the engine) stops and
//! joins every thread and reports the ones that panicked. Owns: its threads. Never touches: what they own.

#[cfg(feature = "test-hooks")]
use crate::cache::creators::HoldCreates;
use crate::cache::query::CacheHandle;
#[cfg(feature = "test-hooks")]
use crate::cache::writer::HoldWrites;
use crate::cache::writer::{FileRules, Writer, WriterConfig};
use crate::config::settings::Settings;
use crate::ingest::amqp::{run_worker, AmqpWorkerConfig};
use crate::ingest::selfmetrics::{self, SelfMetricsConfig};
use crate::ingest::socket::{BoundAddrs, ReceiverConfig, Receivers};
use crate::lifecycle::Shutdown;
use crate::pipe::ring::{Producer, Rings};
use crate::stats::Stats;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A running engine.
pub struct Engine {
    /// Counters, readable while running.
    pub stats: Arc<Stats>,
    /// Test hook (cargo feature `test-hooks`, not part of the public API): set to make the writer hold all
    /// writes (tests of ack-after-persist).
    #[cfg(feature = "test-hooks")]
    pub hold_writes: HoldWrites,
    /// Test hook (cargo feature `test-hooks`): every write, sync and completion of the writer, in order.
    #[cfg(feature = "test-hooks")]
    pub journal: Arc<crate::cache::durable::journal::Journal>,
    /// Test hook (feature `test-hooks`): set to make the creator pool hold new files (tests of writes beside
    /// pending creates).
    #[cfg(feature = "test-hooks")]
    pub hold_creates: HoldCreates,
    /// Ask the writer for cached points (CarbonLink, render).
    pub cache: CacheHandle,
    /// Where the socket receivers listen (all `None` when they are off).
    pub receivers: BoundAddrs,
    /// With `[receivers] forward = "amqp"`: the counters of the publisher the socket receivers feed.
    pub relay_stats: Option<Arc<crate::relay::stats::RelayStats>>,
    /// Where the Prometheus endpoint listens (`None` when it is off).
    pub prometheus: Option<std::net::SocketAddr>,
    /// CarbonLink and the HTTP API (see `[query]`); their bound addresses are `query.carbonlink_addr()` and
    /// `query.http_addr()`.
    pub query: crate::query::QueryServers,
    shutdown: Arc<Shutdown>,
    threads: Vec<JoinHandle<()>>,
    stopped: bool,
    reloader: crate::reload::Reloader,
}

impl Engine {
    /// Start the writer, the AMQP workers, the socket receivers and the self-metrics emitter described by
    /// `settings`; new files are shaped by `rules`. Everything that can fail to bind is bound before any thread
    /// starts; if a later part still fails (a thread cannot be spawned), what already started is stopped and
    /// joined before the error is returned, as go-carbon's `StartFunc` does.
    pub fn start(settings: &Settings, rules: Box<dyn FileRules>) -> std::io::Result<Engine> {
        std::fs::create_dir_all(&settings.data_dir)?;
        let filter = crate::filter::Filter::load(&settings.filter).map_err(std::io::Error::other)?.map(Arc::new);
        let filter = crate::filter::live::LiveFilter::new(filter);
        let receiver_cfg = ReceiverConfig::from_settings(&settings.receivers).map_err(std::io::Error::other)?;
        let receivers = if receiver_cfg.is_empty() {
            None
        } else {
            Some(Receivers::bind(&receiver_cfg).map_err(std::io::Error::other)?.with_live_filter(&filter))
        };
        let bound = receivers.as_ref().map(Receivers::local_addrs).unwrap_or_default();
        let prometheus = match settings.stats.prometheus.as_deref().filter(|a| !a.trim().is_empty()) {
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr.trim()).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("stats.prometheus: cannot bind '{addr}': {e}"))
                })?;
                tracing::info!(address = %l.local_addr()?, "prometheus endpoint bound");
                Some(l)
            }
            None => None,
        };
        let prometheus_addr = prometheus.as_ref().and_then(|l| l.local_addr().ok());
        let self_metrics = (settings.stats.metric_interval_secs > 0).then(|| SelfMetricsConfig {
            interval: Duration::from_secs(settings.stats.metric_interval_secs),
            prefix: selfmetrics::agent_prefix(
                &settings.stats.metric_prefix,
                settings.stats.host.as_deref(),
                &settings.instance,
            ),
        });
        let stats = Arc::new(Stats::default());
        let shutdown = Arc::new(Shutdown::default());
        #[cfg(feature = "test-hooks")]
        let hold_writes: HoldWrites = Arc::new(std::sync::atomic::AtomicBool::new(false));
        #[cfg(feature = "test-hooks")]
        let hold_creates: HoldCreates = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers = if settings.amqp.enabled { settings.worker_count() } else { 0 };
        // `forward = "amqp"`: the socket receivers feed a relay publisher (their own ring), not the writer.
        let forward = receivers.is_some() && settings.receivers.forward == crate::config::front::Forward::Amqp;
        let local_sockets = receivers.is_some() && !forward;
        let extra = usize::from(local_sockets) + usize::from(self_metrics.is_some());
        let (rings, mut producers) = Rings::new(workers + extra, settings.cache.ring_capacity);
        // Producers 0..workers are the AMQP workers; the socket loop and the self-metrics emitter come after.
        let metrics_producer = self_metrics.as_ref().and_then(|_| producers.pop());
        let (forward, socket_producer) = if forward {
            let (fwd_rings, mut p) = Rings::new(1, settings.cache.ring_capacity);
            let relay_stats = Arc::new(crate::relay::stats::RelayStats::default());
            (
                Some((
                    crate::relay::publisher::PublisherConfig {
                        udp: bound.line_udp,
                        ..crate::relay::publisher_config(settings)
                    },
                    fwd_rings,
                    relay_stats,
                )),
                p.pop(),
            )
        } else {
            (None, if local_sockets { producers.pop() } else { None })
        };
        let relay_stats = forward.as_ref().map(|f| f.2.clone());
        let cores = if settings.amqp.pin_threads { core_affinity::get_core_ids().unwrap_or_default() } else { vec![] };

        let (cache, queries) = CacheHandle::new(rings.clone());
        let (rules_tx, rules_rx) = crossbeam::channel::unbounded();
        // Bound before any thread starts, so a taken port fails the start cleanly.
        let query = crate::query::QueryServers::start(settings, cache.clone(), stats.clone())?;
        let writer = Writer::new(
            WriterConfig::from_settings(settings, rules),
            settings.cache.write_strategy,
            rings.clone(),
            stats.clone(),
            shutdown.clone(),
        )
        .with_queries(queries)
        .with_rule_updates(rules_rx);
        #[cfg(feature = "test-hooks")]
        let writer = writer.with_hold(hold_writes.clone()).with_create_hold(hold_creates.clone());
        #[cfg(feature = "test-hooks")]
        let journal = Arc::new(crate::cache::durable::journal::Journal::default());
        #[cfg(feature = "test-hooks")]
        let writer = writer.with_journal(journal.clone());
        let amqp = AmqpWorkerConfig {
            urls: settings.amqp.nodes(),
            exchange: settings.amqp.exchange.clone(),
            queue: settings.queue_name(),
            bind_patterns: crate::ingest::topology::LivePatterns::new(settings.amqp.bind_patterns.clone()),
            name_in_body: settings.amqp.metric_name_in_body,
            prefetch: settings.amqp.prefetch,
            ack: settings.amqp.ack,
            ack_interval: Duration::from_millis(settings.amqp.ack_interval_ms),
            linger: Duration::from_micros(settings.amqp.linger_us),
            max_reconnect_delay: Duration::from_secs(settings.amqp.max_reconnect_delay_secs),
            hash: settings.amqp.consistent_hash_exchange.clone().map(|exchange| crate::ingest::topology::HashFanout {
                exchange,
                weight: settings.amqp.consistent_hash_weight,
            }),
            quorum: settings.amqp.queue_type == crate::config::settings::QueueType::Quorum,
            filter,
            binding_state: Some(settings.data_dir.join(".warren").join(format!("bindings-{}", settings.queue_name()))),
        };
        let mut engine = Engine {
            stats,
            #[cfg(feature = "test-hooks")]
            hold_writes,
            #[cfg(feature = "test-hooks")]
            journal,
            #[cfg(feature = "test-hooks")]
            hold_creates,
            cache,
            receivers: bound,
            relay_stats,
            prometheus: prometheus_addr,
            query,
            shutdown,
            threads: Vec::new(),
            stopped: false,
            reloader: crate::reload::Reloader::new(settings.clone(), rules_tx, amqp.clone()),
        };
        // On error, what `spawn_threads` did not start has been dropped with its arguments (a dropped producer
        // counts as finished), and dropping `engine` here stops and joins what it did start.
        engine.spawn_threads(Parts {
            writer,
            amqp,
            producers,
            cores,
            sockets: receivers.zip(socket_producer),
            self_metrics: self_metrics.zip(metrics_producer),
            prometheus,
            rings,
            forward,
            tags: settings.tags.enabled.then(|| settings.tags.clone()),
        })?;
        Ok(engine)
    }

    fn spawn(&mut self, name: String, body: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        self.threads.push(std::thread::Builder::new().name(name).spawn(body)?);
        Ok(())
    }

    fn spawn_threads(&mut self, parts: Parts) -> std::io::Result<()> {
        let Parts { mut writer, amqp, producers, cores, sockets, self_metrics, prometheus, rings, forward, tags } =
            parts;
        if let Some(tags) = tags {
            // Ends by itself once the writer (holding the queue's sending end) is gone.
            let (thread, queue) = crate::tagdb::start(&tags, self.stats.clone(), self.shutdown.clone())?;
            self.threads.push(thread);
            writer = writer.with_tags(queue);
        }
        // The writer takes the last core, the workers the others (see `worker_core`).
        let writer_core = cores.last().copied();
        self.spawn("writer".into(), move || {
            if let Some(c) = writer_core {
                core_affinity::set_for_current(c);
            }
            writer.run()
        })?;
        for p in producers {
            let (cfg, stats, shutdown) = (amqp.clone(), self.stats.clone(), self.shutdown.clone());
            let core = worker_core(&cores, p.id as usize);
            self.spawn(format!("amqp-{}", p.id), move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                run_worker(cfg, p, stats, shutdown)
            })?;
        }
        if let Some((r, p)) = sockets {
            let (stats, shutdown) = (self.stats.clone(), self.shutdown.clone());
            self.spawn("sockets".into(), move || r.run(p, stats, shutdown))?;
        }
        if let Some((cfg, fwd_rings, relay_stats)) = forward {
            // Ends once the socket loop has finished (shutdown) and every point it read is confirmed.
            let stats = self.stats.clone();
            self.spawn("relay-publisher".into(), move || {
                let out = crate::relay::publisher::run(cfg, fwd_rings, relay_stats, stats);
                if out.abandoned > 0 {
                    tracing::error!(points = out.abandoned, "forward = amqp: points not confirmed at shutdown");
                }
            })?;
        }
        if let Some((cfg, p)) = self_metrics {
            let (stats, shutdown) = (self.stats.clone(), self.shutdown.clone());
            self.spawn("selfmetrics".into(), move || selfmetrics::run(cfg, p, stats, rings, shutdown))?;
        }
        if let Some(l) = prometheus {
            let (stats, shutdown) = (self.stats.clone(), self.shutdown.clone());
            self.spawn("prometheus".into(), move || crate::query::prometheus::serve(l, stats, shutdown))?;
        }
        Ok(())
    }

    /// Apply a re-read configuration live (SIGHUP): rule files for new files, bind patterns on the live queue;
    /// a part that fails keeps its old configuration. See [`crate::reload`].
    pub fn reload(&mut self, new: &Settings) -> crate::reload::Reloaded {
        self.reloader.reload(new)
    }

    /// The settings in force (those started with, with the reloaded parts updated).
    pub fn settings(&self) -> &Settings {
        self.reloader.current()
    }

    /// Ask every thread to stop: workers stop consuming, the writer flushes, workers ack and close.
    pub fn request_stop(&self) {
        self.shutdown.stop.store(true, Ordering::Release);
    }

    /// Stop and wait for every thread: the query servers close, producers stop taking input, the writer flushes
    /// the cache, AMQP workers ack what became durable and close. Errors: [`EngineError::Panicked`] names every
    /// thread that panicked (the others were still joined).
    pub fn stop(mut self) -> Result<(), EngineError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), EngineError> {
        if std::mem::replace(&mut self.stopped, true) {
            return Ok(());
        }
        std::mem::take(&mut self.query).stop();
        self.request_stop();
        join_all(std::mem::take(&mut self.threads))
    }

    /// True once a stop was requested.
    pub fn stopping(&self) -> bool {
        self.shutdown.stop.load(Ordering::Acquire)
    }

    /// The shutdown flags (for signal handlers).
    pub fn shutdown_flag(&self) -> Arc<Shutdown> {
        self.shutdown.clone()
    }
}

/// Dropping a running engine stops it as [`Engine::stop`] does; a panicked thread is logged, since `drop` cannot
/// return it.
impl Drop for Engine {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            tracing::error!(error = %e, "engine stopped on drop");
        }
    }
}

/// The core AMQP worker `id` is pinned to: the writer has the last core to itself, the workers share the others
/// in turn (all of them on one core when there are two); with a single core, everyone is on it. Sharing the
/// writer's core cost it CPU and the drain its pace (tuning/README.md "Workers off the writer's core").
fn worker_core(cores: &[core_affinity::CoreId], id: usize) -> Option<core_affinity::CoreId> {
    let others = if cores.len() > 1 { &cores[..cores.len() - 1] } else { cores };
    (!others.is_empty()).then(|| others[id % others.len()])
}

/// What [`Engine::start`] spawns threads from.
struct Parts {
    writer: Writer,
    amqp: AmqpWorkerConfig,
    producers: Vec<Producer>,
    cores: Vec<core_affinity::CoreId>,
    sockets: Option<(Receivers, Producer)>,
    self_metrics: Option<(SelfMetricsConfig, Producer)>,
    prometheus: Option<std::net::TcpListener>,
    rings: Arc<Rings>,
    /// `forward = "amqp"`: the publisher's config, the sockets' own ring and its counters.
    forward: Option<(crate::relay::publisher::PublisherConfig, Arc<Rings>, Arc<crate::relay::stats::RelayStats>)>,
    /// Tag registration settings, when it is enabled.
    tags: Option<crate::config::settings::TagSettings>,
}

/// Why [`Engine::stop`] failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// These threads panicked (their panic message was logged when it happened); every thread was joined.
    #[error("engine threads panicked: {}", .0.join(", "))]
    Panicked(Vec<String>),
}

/// Joins every thread, even after one panicked; names the ones that did.
fn join_all(threads: Vec<JoinHandle<()>>) -> Result<(), EngineError> {
    let mut panicked = Vec::new();
    for t in threads {
        let name = t.thread().name().unwrap_or("unnamed").to_string();
        if t.join().is_err() {
            panicked.push(name);
        }
    }
    if panicked.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Panicked(panicked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_all_joins_every_thread_and_names_the_ones_that_panicked() {
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let spawn = |name: &str, panics: bool| {
            let done = done.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    if panics {
                        panic!("test thread {} panics on purpose", std::thread::current().name().unwrap_or(""));
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap()
        };
        let threads = vec![spawn("a", false), spawn("b", true), spawn("c", false), spawn("d", true)];
        match join_all(threads) {
            Err(EngineError::Panicked(names)) => assert_eq!(names, ["b", "d"]),
            other => panic!("expected two panicked threads, got {other:?}"),
        }
        assert_eq!(done.load(Ordering::SeqCst), 2, "the threads after a panicked one were joined too");
        // Negative control: no panic, no error.
        assert!(join_all(vec![spawn("e", false)]).is_ok());
    }

    #[test]
    fn workers_are_pinned_off_the_writers_core() {
        let cores = |n: usize| (0..n).map(|id| core_affinity::CoreId { id }).collect::<Vec<_>>();
        let placed = |n: usize, workers: usize| {
            (0..workers).map(|w| worker_core(&cores(n), w).map(|c| c.id)).collect::<Vec<_>>()
        };
        // Two cores: the writer has core 1, both workers core 0.
        assert_eq!(placed(2, 2), [Some(0), Some(0)]);
        // Four cores: the workers take turns on 0, 1, 2; core 3 is the writer's.
        assert_eq!(placed(4, 5), [Some(0), Some(1), Some(2), Some(0), Some(1)]);
        // One core is everyone's; no cores (pin_threads = false) pins nobody.
        assert_eq!(placed(1, 2), [Some(0), Some(0)]);
        assert_eq!(placed(0, 2), [None, None]);
    }
}
