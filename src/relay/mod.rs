//! `warren relay`: the front door of a broker-partitioned cluster. The same socket receivers as `warren cache`
//! (plaintext TCP/UDP, pickle; with carbon's filter/rewrite stage) feed, through one bounded ring, a publisher
//! thread that sends every point to the topic exchange with routing key = metric name, persistent, `mandatory`,
//! with publisher confirms (see [`publisher`] for the guarantees). `warren cache` with
//! `[receivers] forward = "amqp"` runs the same publisher behind its own receivers.
//!
//! Owns: the receivers' and the publisher's threads. Never touches: files, the writer.

pub mod buffer;
pub mod confirms;
pub mod publisher;
pub mod stats;
pub mod udpdrops;

use crate::config::settings::Settings;
use crate::filter::{Filter, FilterError};
use crate::ingest::selfmetrics;
use crate::ingest::socket::{BoundAddrs, ReceiverConfig, Receivers, SocketError};
use crate::lifecycle::Shutdown;
use crate::pipe::ring::Rings;
use crate::stats::Stats;
use publisher::{Outcome, PublisherConfig};
use stats::RelayStats;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Why the relay could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// A filter or rewrite rule that is refused.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A receiver address that does not resolve or cannot be bound.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// No receiver is configured: the relay would have nothing to relay.
    #[error("no receiver configured: set [receivers] line_tcp, line_udp or pickle")]
    NoReceivers,
    /// A thread could not be started.
    #[error("starting a relay thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// A relay thread panicked (a bug).
    #[error("the relay's {0} thread panicked")]
    Panicked(&'static str),
}

/// The publisher's settings from the whole configuration.
pub fn publisher_config(settings: &Settings) -> PublisherConfig {
    let self_metrics = (settings.stats.metric_interval_secs > 0).then(|| {
        let prefix = selfmetrics::agent_prefix(
            &settings.stats.metric_prefix,
            settings.stats.host.as_deref(),
            &settings.instance,
        );
        (Duration::from_secs(settings.stats.metric_interval_secs), prefix)
    });
    PublisherConfig {
        urls: settings.amqp.nodes(),
        exchange: settings.amqp.exchange.clone(),
        relay: settings.relay.clone(),
        self_metrics,
        udp: None,
    }
}

/// Start a publisher thread draining `rings` (used by the relay and by `forward = "amqp"`).
pub fn spawn_publisher(
    cfg: PublisherConfig,
    rings: Arc<Rings>,
    stats: Arc<RelayStats>,
    recv_stats: Arc<Stats>,
) -> std::io::Result<JoinHandle<Outcome>> {
    std::thread::Builder::new()
        .name("relay-publisher".into())
        .spawn(move || publisher::run(cfg, rings, stats, recv_stats))
}

/// A running relay.
pub struct Relay {
    /// The publisher's counters.
    pub stats: Arc<RelayStats>,
    /// The receivers' counters (points read, bad input, filter verdicts, connections).
    pub recv_stats: Arc<Stats>,
    /// Where the receivers listen.
    pub receivers: BoundAddrs,
    shutdown: Arc<Shutdown>,
    sockets: Option<JoinHandle<()>>,
    publisher: Option<JoinHandle<Outcome>>,
}

impl Relay {
    /// Bind the receivers of `settings.receivers` and start the receivers' and the publisher's threads.
    /// Nothing is left running when it fails.
    pub fn start(settings: &Settings) -> Result<Relay, RelayError> {
        let filter = Filter::load(&settings.filter)?.map(Arc::new);
        let cfg = ReceiverConfig::from_settings(&settings.receivers)?;
        if cfg.is_empty() {
            return Err(RelayError::NoReceivers);
        }
        let receivers = Receivers::bind(&cfg)?.with_filter(filter);
        let bound = receivers.local_addrs();
        let (rings, mut producers) = Rings::new(1, settings.cache.ring_capacity);
        // Invariant: Rings::new(1, _) returns one producer.
        let producer = producers.pop().ok_or(RelayError::Panicked("start"))?;
        let stats = Arc::new(RelayStats::default());
        let recv_stats = Arc::new(Stats::default());
        let shutdown = Arc::new(Shutdown::default());
        let publisher_cfg = PublisherConfig { udp: bound.line_udp, ..publisher_config(settings) };
        let publisher = spawn_publisher(publisher_cfg, rings, stats.clone(), recv_stats.clone())?;
        let (rs, sd) = (recv_stats.clone(), shutdown.clone());
        let sockets =
            match std::thread::Builder::new().name("sockets".into()).spawn(move || receivers.run(producer, rs, sd)) {
                Ok(t) => t,
                Err(e) => {
                    // The producer was moved into the failed closure and dropped unfinished: the publisher would
                    // wait for it forever, so it is detached (it holds nothing yet).
                    drop(publisher);
                    return Err(e.into());
                }
            };
        tracing::info!(
            line_tcp = ?bound.line_tcp, line_udp = ?bound.line_udp, pickle = ?bound.pickle,
            exchange = %settings.amqp.exchange, "relay started"
        );
        Ok(Relay { stats, recv_stats, receivers: bound, shutdown, sockets: Some(sockets), publisher: Some(publisher) })
    }

    /// Stop accepting: the receivers close; the publisher flushes and waits for the last confirms.
    pub fn request_stop(&self) {
        self.shutdown.stop.store(true, Ordering::Release);
    }

    /// Stop and wait: returns how many points had to be abandoned unconfirmed (0 after a clean stop).
    pub fn stop(mut self) -> Result<Outcome, RelayError> {
        self.join()
    }

    fn join(&mut self) -> Result<Outcome, RelayError> {
        self.request_stop();
        if let Some(t) = self.sockets.take() {
            t.join().map_err(|_| RelayError::Panicked("sockets"))?;
        }
        match self.publisher.take() {
            Some(t) => t.join().map_err(|_| RelayError::Panicked("publisher")),
            None => Ok(Outcome::default()),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.join();
    }
}
