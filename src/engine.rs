//! Wires the threads together: N pinned AMQP workers, the socket receivers' event loop and the self-metrics
//! emitter (one producer ring each) → one writer. `warren cache` and the integration
//! tests both start the engine through [`Engine::start`].

use crate::cache::query::CacheHandle;
use crate::cache::writer::{FileRules, HoldWrites, Writer, WriterConfig};
use crate::config::settings::Settings;
use crate::ingest::amqp::{run_worker, AmqpWorkerConfig};
use crate::ingest::selfmetrics::{self, SelfMetricsConfig};
use crate::ingest::socket::{BoundAddrs, ReceiverConfig, Receivers};
use crate::lifecycle::Shutdown;
use crate::pipe::ring::Rings;
use crate::stats::Stats;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A running engine.
pub struct Engine {
    /// Counters, readable while running.
    pub stats: Arc<Stats>,
    /// Set to make the writer hold all writes (tests of ack-after-persist).
    pub hold_writes: HoldWrites,
    /// Ask the writer for cached points (CarbonLink, render).
    pub cache: CacheHandle,
    /// Where the socket receivers listen (all `None` when they are off).
    pub receivers: BoundAddrs,
    /// Where the Prometheus endpoint listens (`None` when it is off).
    pub prometheus: Option<std::net::SocketAddr>,
    /// CarbonLink and the HTTP API (see `[query]`); their bound addresses are `query.carbonlink_addr()` and
    /// `query.http_addr()`.
    pub query: crate::query::QueryServers,
    shutdown: Arc<Shutdown>,
    threads: Vec<JoinHandle<()>>,
    reloader: crate::reload::Reloader,
}

impl Engine {
    /// Start the writer, the AMQP workers, the socket receivers and the self-metrics emitter described by
    /// `settings`; new files are shaped by `rules`. Fails (starting nothing) when a receiver cannot bind.
    pub fn start(settings: &Settings, rules: Box<dyn FileRules>) -> std::io::Result<Engine> {
        std::fs::create_dir_all(&settings.data_dir)?;
        let receiver_cfg = ReceiverConfig::from_settings(&settings.receivers).map_err(std::io::Error::other)?;
        let receivers = if receiver_cfg.is_empty() {
            None
        } else {
            Some(Receivers::bind(&receiver_cfg).map_err(std::io::Error::other)?)
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
        let hold_writes: HoldWrites = Arc::new(AtomicBool::new(false));
        let workers = if settings.amqp.enabled { settings.worker_count() } else { 0 };
        let extra = usize::from(receivers.is_some()) + usize::from(self_metrics.is_some());
        let (rings, mut producers) = Rings::new(workers + extra, settings.cache.ring_capacity);
        // Producers 0..workers are the AMQP workers; the socket loop and the self-metrics emitter come after.
        let metrics_producer = self_metrics.as_ref().and_then(|_| producers.pop());
        let socket_producer = receivers.as_ref().and_then(|_| producers.pop());
        let cores = if settings.amqp.pin_threads { core_affinity::get_core_ids().unwrap_or_default() } else { vec![] };
        let mut threads = Vec::new();

        let (cache, queries) = CacheHandle::new(rings.clone());
        let (rules_tx, rules_rx) = crossbeam::channel::unbounded();
        // Bound before any thread starts, so a taken port fails the start cleanly.
        let query = crate::query::QueryServers::start(settings, cache.clone())?;
        let writer = Writer::new(
            WriterConfig::from_settings(settings, rules),
            settings.cache.write_strategy,
            rings.clone(),
            stats.clone(),
            shutdown.clone(),
            hold_writes.clone(),
        )
        .with_queries(queries)
        .with_rule_updates(rules_rx);
        // The writer takes the last core, workers the others first: on 2 cores worker 0 and the writer are apart.
        let writer_core = cores.last().copied();
        threads.push(std::thread::Builder::new().name("writer".into()).spawn(move || {
            if let Some(c) = writer_core {
                core_affinity::set_for_current(c);
            }
            writer.run()
        })?);

        let cfg = AmqpWorkerConfig {
            url: settings.amqp.url.clone(),
            exchange: settings.amqp.exchange.clone(),
            queue: settings.queue_name(),
            bind_patterns: crate::ingest::topology::LivePatterns::new(settings.amqp.bind_patterns.clone()),
            name_in_body: settings.amqp.metric_name_in_body,
            prefetch: settings.amqp.prefetch,
            ack: settings.amqp.ack,
            max_reconnect_delay: Duration::from_secs(settings.amqp.max_reconnect_delay_secs),
            hash: settings.amqp.consistent_hash_exchange.clone().map(|exchange| crate::ingest::topology::HashFanout {
                exchange,
                weight: settings.amqp.consistent_hash_weight,
            }),
            quorum: settings.amqp.queue_type == crate::config::settings::QueueType::Quorum,
            binding_state: Some(settings.data_dir.join(".warren").join(format!("bindings-{}", settings.queue_name()))),
        };
        for p in producers {
            let (cfg, stats, shutdown) = (cfg.clone(), stats.clone(), shutdown.clone());
            let core = (!cores.is_empty()).then(|| cores[p.id as usize % cores.len()]);
            threads.push(std::thread::Builder::new().name(format!("amqp-{}", p.id)).spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                run_worker(cfg, p, stats, shutdown)
            })?);
        }
        if let (Some(r), Some(p)) = (receivers, socket_producer) {
            let (stats, shutdown) = (stats.clone(), shutdown.clone());
            threads.push(std::thread::Builder::new().name("sockets".into()).spawn(move || r.run(p, stats, shutdown))?);
        }
        if let (Some(cfg), Some(p)) = (self_metrics, metrics_producer) {
            let (stats, shutdown, rings) = (stats.clone(), shutdown.clone(), rings.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("selfmetrics".into())
                    .spawn(move || selfmetrics::run(cfg, p, stats, rings, shutdown))?,
            );
        }
        if let Some(l) = prometheus {
            let (stats, shutdown) = (stats.clone(), shutdown.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("prometheus".into())
                    .spawn(move || crate::query::prometheus::serve(l, stats, shutdown))?,
            );
        }
        let reloader = crate::reload::Reloader::new(settings.clone(), rules_tx, cfg);
        Ok(Engine {
            reloader,
            stats,
            hold_writes,
            cache,
            receivers: bound,
            prometheus: prometheus_addr,
            query,
            shutdown,
            threads,
        })
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

    /// Stop and wait for every thread.
    pub fn stop(mut self) {
        std::mem::take(&mut self.query).stop();
        self.request_stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
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
