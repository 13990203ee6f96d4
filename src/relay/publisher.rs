//! The relay's publisher thread: takes batches from the receivers' ring, groups their points per metric for one
//! flush interval, and publishes each group as one persistent, `mandatory` message (routing key = metric name,
//! body = `value timestamp\n` lines) on one connection in confirm mode. A group whose metric still has a message
//! waiting in the outbox joins that message (up to `max_points_per_message`), so a backlog goes out in few large
//! messages (see [`super::buffer`]).
//!
//! Nothing accepted is dropped: a point leaves the buffer only when the broker confirms its message (a message
//! the broker returns as unroutable is counted in `returned`, then confirmed). A nacked message, and every
//! unconfirmed message when the connection fails, goes back to the head of the outbox and is published again on
//! the next connection (at least once: whisper rewrites are idempotent). At most `confirm_window` messages are
//! unconfirmed; at `max_buffer_points` held points the ring is paused, so the receivers stop reading and TCP
//! pushes back on the senders. At shutdown (every producer finished) it flushes, waits for the last confirms up
//! to `shutdown_timeout`, and reports what it had to abandon.
//!
//! Owns: its broker connection, the buffer, the latency histogram. Never touches: sockets, files.

use super::buffer::Buffer;
use super::confirms::Confirms;
use super::stats::RelayStats;
use crate::config::front::RelaySettings;
use crate::ingest::amqp::node_label;
use crate::lifecycle::unix_now;
use crate::pipe::ring::Rings;
use amiquip::{AmqpProperties, Channel, Confirm, Connection, ExchangeDeclareOptions, ExchangeType, Publish, Return};
use crossbeam::channel::Receiver;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the publisher needs to know.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// The broker nodes (one URL for a single broker); never empty. The publisher starts at the first and moves
    /// on to the next node whenever a connection fails or is lost.
    pub urls: Vec<String>,
    /// The topic exchange (declared durable, as `warren cache` declares it).
    pub exchange: String,
    /// `[relay]` knobs.
    pub relay: RelaySettings,
    /// Self-metrics: (interval, name prefix `<prefix>.agents.<host>-<instance>`); `None` = off.
    pub self_metrics: Option<(Duration, String)>,
    /// The bound UDP receiver, whose kernel drops are reported (`udp_drops`).
    pub udp: Option<std::net::SocketAddr>,
}

/// The end state of a publisher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Points still unconfirmed when the shutdown timeout ran out.
    pub abandoned: u64,
}

struct Link {
    conn: Connection,
    channel: Channel,
    returns: Receiver<Return>,
    /// Tags, smoother and confirms received while idle: dropped with the connection.
    confirms: Confirms,
}

impl Link {
    fn open(cfg: &PublisherConfig, url: &str) -> amiquip::Result<Link> {
        let mut conn = Connection::insecure_open(url)?;
        let channel = conn.open_channel(None)?;
        channel.exchange_declare(
            ExchangeType::Topic,
            cfg.exchange.as_str(),
            ExchangeDeclareOptions { durable: true, ..Default::default() },
        )?;
        let returns = channel.listen_for_returns()?;
        let confirms = channel.listen_for_publisher_confirms()?;
        channel.enable_publisher_confirms()?;
        Ok(Link { conn, channel, returns, confirms: Confirms::new(confirms) })
    }
}

struct State {
    cfg: PublisherConfig,
    rings: Arc<Rings>,
    stats: Arc<RelayStats>,
    recv_stats: Arc<crate::stats::Stats>,
    buf: Buffer,
    link: Option<Link>,
    paused_since: Option<Instant>,
    latency: hdrhistogram::Histogram<u64>,
    next_connect: Instant,
    backoff: Duration,
    /// Index in `cfg.urls` of the node connected to (or tried next).
    node: usize,
    /// Failed connects in a row (the back-off grows once every node failed).
    failures: usize,
    last_error_log: Option<Instant>,
    /// Confirms drained on this turn (kept for its allocation).
    settled: Vec<Confirm>,
}

/// Run until every producer of `rings` has finished and the buffer is confirmed (or `shutdown_timeout_secs`
/// passed since they finished).
pub fn run(
    cfg: PublisherConfig,
    rings: Arc<Rings>,
    stats: Arc<RelayStats>,
    recv_stats: Arc<crate::stats::Stats>,
) -> Outcome {
    let latency = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| {
        // Invariant: the bounds above are valid; fall back to an auto-resizing histogram regardless.
        hdrhistogram::Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures are valid"))
    });
    let mut st = State {
        cfg,
        rings,
        stats,
        recv_stats,
        buf: Buffer::default(),
        link: None,
        paused_since: None,
        latency,
        next_connect: Instant::now(),
        backoff: Duration::from_millis(100),
        node: 0,
        failures: 0,
        last_error_log: None,
        settled: Vec::new(),
    };
    st.rings.set_writer(std::thread::current());
    st.run()
}

impl State {
    fn run(&mut self) -> Outcome {
        let flush_every = Duration::from_millis(self.cfg.relay.flush_interval_ms.max(1));
        let mut next_flush = Instant::now() + flush_every;
        let mut next_gauges = Instant::now() + Duration::from_secs(1);
        let mut next_metrics = self.cfg.self_metrics.as_ref().map(|(every, _)| Instant::now() + *every);
        let mut finish_deadline: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if self.link.is_none() && now >= self.next_connect {
                self.connect();
            }
            let mut busy = self.intake();
            self.flow_control();
            let finishing = self.rings.finished_producers() == self.rings.len() && self.rings.occupancy() == 0;
            if now >= next_flush || finishing || self.buf.pending_points() >= self.cfg.relay.max_buffer_points / 2 {
                self.buf.flush(self.cfg.relay.max_points_per_message);
                next_flush = now + flush_every;
            }
            busy |= self.publish();
            busy |= self.settle();
            if now >= next_gauges {
                next_gauges = now + Duration::from_secs(1);
                self.gauges();
            }
            if let (Some(at), Some((every, prefix))) = (next_metrics, self.cfg.self_metrics.clone()) {
                if now >= at && !finishing {
                    next_metrics = Some(now + every);
                    self.emit_self_metrics(&prefix);
                }
            }
            if finishing {
                let deadline = *finish_deadline.get_or_insert_with(|| {
                    tracing::info!(held = self.buf.held(), "relay: inputs closed, flushing and waiting for confirms");
                    now + Duration::from_secs(self.cfg.relay.shutdown_timeout_secs)
                });
                if self.buf.is_empty() {
                    break;
                }
                if now >= deadline {
                    let lost = self.buf.held() as u64;
                    RelayStats::add(&self.stats.abandoned, lost);
                    tracing::error!(points = lost, "relay: shutdown timeout with points not confirmed by the broker");
                    break;
                }
            }
            if !busy {
                self.idle_wait();
            }
        }
        self.gauges();
        if let Some(l) = self.link.take() {
            let _ = l.conn.close();
        }
        Outcome { abandoned: RelayStats::get(&self.stats.abandoned) }
    }

    fn url(&self) -> &str {
        self.cfg.urls.get(self.node).map_or("", String::as_str)
    }

    /// Move on to the next node; the back-off applies once every node failed in a row.
    fn next_node(&mut self) {
        let nodes = self.cfg.urls.len().max(1);
        self.node = (self.node + 1) % nodes;
        self.failures += 1;
        if self.failures.is_multiple_of(nodes) {
            self.next_connect = Instant::now() + self.backoff;
            self.backoff = (self.backoff * 2).min(Duration::from_secs(self.cfg.relay.max_reconnect_delay_secs.max(1)));
        } else {
            self.next_connect = Instant::now();
        }
    }

    fn connect(&mut self) {
        match Link::open(&self.cfg, self.url()) {
            Ok(l) => {
                RelayStats::add(&self.stats.connects, 1);
                self.recv_stats.node_connected(self.node);
                tracing::info!(
                    node = self.node,
                    broker = %node_label(self.url()),
                    exchange = %self.cfg.exchange,
                    "relay: connected"
                );
                self.link = Some(l);
                self.backoff = Duration::from_millis(100);
                self.failures = 0;
            }
            Err(e) => {
                self.log_error(&format!("relay: cannot connect to {}: {e}", node_label(self.url())));
                self.next_node();
            }
        }
    }

    fn disconnect(&mut self, why: &str) {
        if let Some(l) = self.link.take() {
            let _ = l.conn.close();
        }
        let n = self.buf.requeue_unconfirmed();
        self.log_error(&format!(
            "relay: broker connection to {} lost ({why}); {n} unconfirmed messages will be republished",
            node_label(self.url())
        ));
        self.next_node();
    }

    fn log_error(&mut self, msg: &str) {
        let now = Instant::now();
        if self.last_error_log.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(5)) {
            self.last_error_log = Some(now);
            tracing::warn!("{msg}");
        }
    }

    /// Take batches while the buffer has room. Returns whether any were taken.
    fn intake(&mut self) -> bool {
        let mut any = false;
        for i in 0..self.rings.len() {
            while self.buf.held() < self.cfg.relay.max_buffer_points {
                let Some(batch) = self.rings.pop(i) else { break };
                let n = self.buf.absorb(&batch);
                self.rings.give_back(i, batch);
                RelayStats::add(&self.stats.received, n as u64);
                any = true;
            }
        }
        any
    }

    /// Pause the receivers at the cap, resume below 90 % of it.
    fn flow_control(&mut self) {
        let held = self.buf.held();
        let cap = self.cfg.relay.max_buffer_points;
        if self.paused_since.is_none() && held >= cap {
            self.paused_since = Some(Instant::now());
            self.rings.set_paused(true);
            RelayStats::add(&self.stats.pauses, 1);
            tracing::debug!(points = held, cap, "relay buffer full: pausing the receivers");
        } else if held <= cap / 10 * 9 {
            if let Some(since) = self.paused_since.take() {
                self.rings.set_paused(false);
                RelayStats::add(&self.stats.paused_micros, since.elapsed().as_micros() as u64);
                tracing::debug!(points = held, "relay buffer drained: resuming the receivers");
            }
        }
    }

    /// Publish from the outbox while the confirm window has room. Returns whether anything was published.
    fn publish(&mut self) -> bool {
        let Some(link) = self.link.as_mut() else { return false };
        let mut any = false;
        while self.buf.unconfirmed_len() < self.cfg.relay.confirm_window.max(1) {
            let Some(msg) = self.buf.next_to_publish() else { break };
            let props = AmqpProperties::default().with_delivery_mode(2);
            let publish = Publish {
                body: &msg.body,
                routing_key: msg.key.clone(),
                mandatory: true,
                immediate: false,
                properties: props,
            };
            if let Err(e) = link.channel.basic_publish(self.cfg.exchange.as_str(), publish) {
                self.buf.unpublish(msg);
                self.disconnect(&e.to_string());
                return any;
            }
            let tag = link.confirms.take_tag();
            if msg.retry {
                RelayStats::add(&self.stats.republished, msg.points as u64);
            } else {
                RelayStats::add(&self.stats.published, msg.points as u64);
                RelayStats::add(&self.stats.messages_published, 1);
            }
            self.buf.published(tag, msg, Instant::now());
            any = true;
        }
        any
    }

    /// Read confirms and returns. Returns whether there were any.
    fn settle(&mut self) -> bool {
        let Some(link) = self.link.as_mut() else { return false };
        let mut any = false;
        while let Ok(r) = link.returns.try_recv() {
            let points = r.content.iter().filter(|&&b| b == b'\n').count() as u64;
            RelayStats::add(&self.stats.returned, points);
            RelayStats::add(&self.stats.messages_returned, 1);
            any = true;
        }
        let mut settled = std::mem::take(&mut self.settled);
        let drained = link.confirms.drain(&mut settled);
        any |= drained.raw > 0;
        for c in settled.drain(..) {
            match c {
                Confirm::Ack(p) => {
                    if let Some(f) = self.buf.settle(p.delivery_tag) {
                        RelayStats::add(&self.stats.confirmed, f.msg.points as u64);
                        let _ = self.latency.record(f.sent.elapsed().as_micros().max(1) as u64);
                    }
                }
                Confirm::Nack(p) => {
                    if let Some(mut f) = self.buf.settle(p.delivery_tag) {
                        RelayStats::add(&self.stats.nacked, f.msg.points as u64);
                        f.msg.retry = true;
                        self.buf.unpublish(f.msg);
                    }
                }
            }
        }
        self.settled = settled;
        if drained.closed {
            self.disconnect("confirm channel closed");
        }
        any
    }

    /// Nothing to do right now: wait a little for a confirm, or for a batch (a push unparks this thread).
    fn idle_wait(&mut self) {
        let wait = Duration::from_millis(2);
        match self.link.as_mut() {
            Some(l) if self.buf.unconfirmed_len() > 0 => l.confirms.wait(wait),
            _ => std::thread::park_timeout(wait),
        }
    }

    fn gauges(&mut self) {
        if let Some(drops) = self.cfg.udp.and_then(super::udpdrops::kernel_drops) {
            self.stats.udp_drops.store(drops, Ordering::Relaxed);
        }
        self.stats.buffer_points.store(self.buf.held() as u64, Ordering::Relaxed);
        self.stats.unconfirmed_messages.store(self.buf.unconfirmed_len() as u64, Ordering::Relaxed);
        if let Some(since) = self.paused_since {
            // Account paused time as it passes, so a long pause shows before it ends.
            RelayStats::add(&self.stats.paused_micros, since.elapsed().as_micros() as u64);
            self.paused_since = Some(Instant::now());
        }
        if !self.latency.is_empty() {
            self.stats.confirm_p50_us.store(self.latency.value_at_quantile(0.5), Ordering::Relaxed);
            self.stats.confirm_p99_us.store(self.latency.value_at_quantile(0.99), Ordering::Relaxed);
            self.stats.confirm_p999_us.store(self.latency.value_at_quantile(0.999), Ordering::Relaxed);
        }
    }

    /// The relay's counters (and the receivers' bad-input counters) as points through the relay itself.
    fn emit_self_metrics(&mut self, prefix: &str) {
        self.gauges();
        let now = unix_now();
        for (name, v) in self.stats.metrics() {
            self.buf.add(&format!("{prefix}.relay.{name}"), v as f64, now);
        }
        for (name, v) in self.recv_stats.snapshot() {
            self.buf.add(&format!("{prefix}.relay.receivers.{name}"), v as f64, now);
        }
        self.latency.reset();
    }
}
