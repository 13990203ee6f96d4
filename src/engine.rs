//! Wires the threads together: N pinned AMQP workers → rings → one writer. `warren cache` and the integration
//! tests both start the engine through [`Engine::start`].

use crate::cache::query::CacheHandle;
use crate::cache::writer::{FileRules, HoldWrites, Writer, WriterConfig};
use crate::config::settings::Settings;
use crate::ingest::amqp::{run_worker, AmqpWorkerConfig, Shutdown};
use crate::ingest::ring::Rings;
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
    /// CarbonLink and the HTTP API (see `[query]`); their bound addresses are `query.carbonlink_addr()` and
    /// `query.http_addr()`.
    pub query: crate::query::QueryServers,
    shutdown: Arc<Shutdown>,
    threads: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Start the writer and the AMQP workers described by `settings`; new files are shaped by `rules`.
    pub fn start(settings: &Settings, rules: Box<dyn FileRules>) -> std::io::Result<Engine> {
        std::fs::create_dir_all(&settings.data_dir)?;
        let stats = Arc::new(Stats::default());
        let shutdown = Arc::new(Shutdown::default());
        let hold_writes: HoldWrites = Arc::new(AtomicBool::new(false));
        let workers = if settings.amqp.enabled { settings.worker_count() } else { 0 };
        let (rings, producers) = Rings::new(workers, settings.cache.ring_capacity);
        let cores = if settings.amqp.pin_threads { core_affinity::get_core_ids().unwrap_or_default() } else { vec![] };
        let mut threads = Vec::new();

        let (cache, queries) = CacheHandle::new(rings.clone());
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
        .with_queries(queries);
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
            bind_patterns: settings.amqp.bind_patterns.clone(),
            name_in_body: settings.amqp.metric_name_in_body,
            prefetch: settings.amqp.prefetch,
            ack: settings.amqp.ack,
            max_reconnect_delay: Duration::from_secs(settings.amqp.max_reconnect_delay_secs),
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
        Ok(Engine { stats, hold_writes, cache, query, shutdown, threads })
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
