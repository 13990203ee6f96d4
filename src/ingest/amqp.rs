//! An AMQP consumer worker: one blocking connection and channel, one producer ring, acks after persist.
//!
//! The worker declares the topic exchange and its queue, binds the patterns, consumes with manual ack and a
//! basic.qos prefetch, parses each body in place into a [`Batch`], and hands it to the writer: the deliveries
//! waiting at the consumer when it wakes (up to 256) go as one batch, each delivery a [`Part`] the writer
//! completes on its own, so the ring, the writer's wake-up and the counters are paid once per burst, not once
//! per delivery. It keeps every delivery it has not acked in tag order; when the writer reports deliveries
//! durable, the longest finished prefix is acked with one `ack_multiple`. Connection loss drops that table (the broker requeues what was not
//! acked; rewriting is idempotent) and reconnects with capped exponential back-off.
//!
//! Over a cluster (`urls` with N nodes) worker `i` starts at node `i mod N`, so the workers spread over the
//! nodes; when a session ends or a connect fails it moves on to the next node at once, and backs off only
//! after every node failed in a row. The node of each session is logged and counted in
//! [`Stats::node_connects`].
//!
//! Owns: its connection, channel and the deliveries in flight. Never touches: files, the cache.

use super::gather::{Gather, Tally, GATHER_DELIVERIES};
use super::topology::{HashFanout, LivePatterns, Topology};
use crate::config::settings::AckMode;
use crate::lifecycle::{unix_now, Shutdown};
use crate::pipe::ring::{Completion, Producer};
use crate::stats::{BadInputLog, Stats};
use amiquip::{Channel, ConsumerMessage, ConsumerOptions, Delivery};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a worker needs to know about the broker side.
#[derive(Clone, Debug)]
pub struct AmqpWorkerConfig {
    /// The broker nodes (one URL for a single broker); never empty.
    pub urls: Vec<String>,
    pub exchange: String,
    /// `""` = an exclusive server-named queue (carbon's behaviour).
    pub queue: String,
    /// The patterns in force (changed by a reload while the workers run).
    pub bind_patterns: LivePatterns,
    pub name_in_body: bool,
    pub prefetch: u16,
    pub ack: AckMode,
    /// How long a finished delivery may wait for its ack (see [`AckWindow::ack_due`]).
    pub ack_interval: Duration,
    /// The pause after a light burst (`[amqp] linger_us`; zero: none).
    pub linger: Duration,
    pub max_reconnect_delay: Duration,
    /// Consistent-hash partitioning instead of binding the queue to the topic exchange directly.
    pub hash: Option<HashFanout>,
    /// Declare the queue as a quorum queue.
    pub quorum: bool,
    /// Where worker 0 remembers the bound patterns, to unbind those dropped from the configuration.
    pub binding_state: Option<std::path::PathBuf>,
    /// carbon's filter/rewrite stage, applied to every delivery's points (`None`: no rules).
    pub filter: crate::filter::live::LiveFilter,
}

/// The broker topology of `cfg` (exchange, queue, bindings, optional consistent-hash fan-out), with the
/// patterns in force now.
pub fn topology(cfg: &AmqpWorkerConfig) -> Topology {
    topology_with(cfg, cfg.bind_patterns.get())
}

/// As [`topology`], with `bind_patterns`.
pub fn topology_with(cfg: &AmqpWorkerConfig, bind_patterns: Vec<String>) -> Topology {
    Topology {
        exchange: cfg.exchange.clone(),
        queue: cfg.queue.clone(),
        bind_patterns,
        hash: cfg.hash.clone(),
        quorum: cfg.quorum,
        state_file: cfg.binding_state.clone(),
    }
}

/// Declare the durable topic exchange and the queue, and bind every pattern. Returns the queue's name (the
/// server's choice for `""`). Idempotent, so every worker may call it.
pub fn declare_topology(channel: &Channel, cfg: &AmqpWorkerConfig) -> amiquip::Result<String> {
    topology(cfg).declare(channel)
}

/// Why a session with the broker ended.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("AMQP: {0}")]
    Amqp(#[from] amiquip::Error),
    #[error("consumer ended: {0}")]
    ConsumerEnded(String),
}

/// One in-flight delivery, in tag order.
struct InFlight {
    tag: u64,
    /// `None` once acked on its own.
    delivery: Option<Delivery>,
    done: bool,
}

/// How long the oldest unacked delivery must stay unfinished before the finished ones behind it are acked one by
/// one. Finishing out of tag order is normal (a delivery is finished when the last of its metrics is written, up
/// to one pass of the writer later), and one-by-one acks are expensive for the broker: on RabbitMQ 3.10 a burst
/// of ~5,000 of them on a classic queue of persistent messages kept it busy for 7-12 s with no delivery to anyone
/// (tuning/README.md, "Acks"). So they are kept for a front that is really stuck (its metric's file waits for the
/// create limit, or its writes fail) and would otherwise hold the window.
const STUCK_FRONT: Duration = Duration::from_secs(5);

/// Deliveries acked by one [`AckWindow::ack_ready`]: in all, and of those one by one; and the frames sent.
struct Acked {
    all: u64,
    singly: u64,
    frames: u64,
}

impl Acked {
    fn count(self, stats: &Stats) {
        Stats::add(&stats.acked, self.all);
        Stats::add(&stats.acked_singly, self.singly);
        Stats::add(&stats.ack_frames, self.frames);
    }
}

/// The deliveries of one channel that are not yet acked, indexed by tag.
struct AckWindow {
    q: VecDeque<InFlight>,
    done_not_acked: usize,
    /// The unfinished front's tag and when [`AckWindow::ack_ready`] first saw it there.
    stuck: Option<(u64, Instant)>,
    /// A finished prefix this long is acked at once, without waiting for `every`: a quarter of the prefetch
    /// window, so the broker always has most of the window to send into.
    batch: usize,
    /// The prefetch window (0: none).
    prefetch: usize,
    /// When [`AckWindow::ack_ready`] last ran.
    last: Instant,
    /// `[amqp] ack_interval_ms`: acks are paced. Every ack frame costs the broker, and acking whatever was
    /// finished at each writer turn sent one frame per ~8 deliveries in rk-1 (one point per message); paced at
    /// 2 ms it is one per ~58, for ~12 % more throughput at ~9 % less CPU per message (tuning/README.md, "Ack
    /// pacing"). What is acked is unchanged: only finished deliveries, at most this much later.
    every: Duration,
}

impl AckWindow {
    fn new(prefetch: u16, every: Duration) -> Self {
        // Prefetch 0 is no limit: a batch as large as a gathered burst.
        let batch = if prefetch == 0 { GATHER_DELIVERIES } else { usize::from(prefetch / 4).max(1) };
        let prefetch = usize::from(prefetch);
        AckWindow { q: VecDeque::new(), done_not_acked: 0, stuck: None, batch, prefetch, last: Instant::now(), every }
    }

    /// Whether [`AckWindow::ack_ready`] should run at `now`: something finished waits and either `every`
    /// passed since the last run, or a whole batch is finished at the front (ready for one multiple ack), or the
    /// front is finished and the window is nearly full (the broker is about to stop sending until it hears an ack:
    /// when the writer is the bottleneck, as with 100 points per message, a late ack is a stalled broker).
    fn ack_due(&self, now: Instant) -> bool {
        if self.done_not_acked == 0 {
            return false;
        }
        if now.saturating_duration_since(self.last) >= self.every {
            return true;
        }
        if self.front_done() && self.prefetch > 0 && self.q.len() + self.batch > self.prefetch {
            return true;
        }
        self.done_not_acked >= self.batch
            && self.q.len() >= self.batch
            && self.q.iter().take(self.batch).all(|e| e.done)
    }

    /// The oldest unacked delivery is finished (a multiple ack can start from it).
    fn front_done(&self) -> bool {
        self.q.front().is_some_and(|e| e.done)
    }

    /// How long the worker may wait for a delivery or a completion before an ack falls due by time alone: only a
    /// finished front can be acked (the next completion wakes the worker anyway), else the idle tick that also
    /// watches for a stuck front ([`STUCK_FRONT`]).
    fn ack_wait(&self, now: Instant) -> Duration {
        if self.done_not_acked == 0 || !self.front_done() {
            return Duration::from_millis(100);
        }
        self.every.saturating_sub(now.saturating_duration_since(self.last))
    }

    fn push(&mut self, d: Delivery, done: bool) {
        if done {
            self.done_not_acked += 1;
        }
        self.q.push_back(InFlight { tag: d.delivery_tag(), delivery: Some(d), done });
    }

    /// Tags `tag .. tag + tags` are finished (those already acked, or already done, are skipped).
    fn mark_done(&mut self, tag: u64, tags: u32) {
        let Some(first) = self.q.front().map(|e| e.tag) else { return };
        // Tags on one channel are consecutive, so the index is the distance from the front.
        let end = tag.saturating_add(u64::from(tags));
        let from = tag.max(first) - first;
        let Some(to) = end.checked_sub(first) else { return };
        for i in from..to.min(self.q.len() as u64) {
            let e = &mut self.q[i as usize];
            debug_assert_eq!(e.tag, first + i);
            if !e.done {
                e.done = true;
                self.done_not_acked += 1;
            }
        }
    }

    /// Whether the finished deliveries behind the unfinished front should be acked one by one at `now`: the same
    /// delivery has been the unfinished front for [`STUCK_FRONT`].
    fn singles_due(&mut self, now: Instant) -> bool {
        let Some(front) = self.q.front().map(|e| e.tag) else {
            self.stuck = None;
            return false;
        };
        match self.stuck {
            Some((tag, since)) if tag == front => now.duration_since(since) >= STUCK_FRONT,
            _ => {
                self.stuck = Some((front, now));
                false
            }
        }
    }

    /// Ack the finished prefix with one ack_multiple; if many finished deliveries wait behind an unfinished one
    /// that stays stuck ([`STUCK_FRONT`]), ack those individually so the broker's prefetch window keeps moving.
    fn ack_ready(&mut self, channel: &Channel) -> amiquip::Result<Acked> {
        let now = Instant::now();
        self.last = now;
        let mut last: Option<Delivery> = None;
        let mut acked = 0u64;
        while self.front_done() {
            // Invariant: the loop condition saw a front element.
            let e = self.q.pop_front().expect("front checked");
            if let Some(d) = e.delivery {
                self.done_not_acked -= 1;
                acked += 1;
                last = Some(d);
            }
        }
        let mut frames = 0u64;
        if let Some(d) = last {
            d.ack_multiple(channel)?;
            frames += 1;
        }
        let mut singly = 0u64;
        if self.singles_due(now) && self.done_not_acked > 0 {
            for e in self.q.iter_mut().filter(|e| e.done) {
                if let Some(d) = e.delivery.take() {
                    d.ack(channel)?;
                    singly += 1;
                }
            }
            self.done_not_acked = 0;
        }
        Ok(Acked { all: acked + singly, singly, frames: frames + singly })
    }

    fn all_done(&self) -> bool {
        self.q.iter().all(|e| e.done)
    }
}

/// A burst of fewer deliveries than this is light: the worker lingers after it (`[amqp] linger_us`). At
/// 64 per 2 ms pause a worker still takes 32 k deliveries/s while pausing; above that, bursts are not light.
const LIGHT_BURST: usize = 64;

/// Whether a worker pauses after taking a burst of `taken` deliveries: lingering is on and the burst was light.
/// (The bench's null consumer pauses by the same rule, so its ceiling consumes the way warren does.)
pub fn lingers_after_burst(linger: Duration, taken: usize) -> bool {
    !linger.is_zero() && taken < LIGHT_BURST
}

/// Counts a worker in `workers_consuming` for as long as it lives (one consume session).
struct Consuming<'a>(&'a Stats);

impl<'a> Consuming<'a> {
    fn new(stats: &'a Stats) -> Self {
        stats.workers_consuming.fetch_add(1, Ordering::AcqRel);
        Consuming(stats)
    }
}

impl Drop for Consuming<'_> {
    fn drop(&mut self) {
        self.0.workers_consuming.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `host:port/vhost` of an `amqp://user:password@host:port/vhost` URL: names a node in logs without the
/// credentials.
pub fn node_label(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.rsplit_once('@').map_or(rest, |(_, r)| r)
}

/// Run one worker until shutdown: connect, consume, reconnect on failure with capped back-off (moving on to
/// the next node of `cfg.urls` after every failure).
pub fn run_worker(cfg: AmqpWorkerConfig, producer: Producer, stats: Arc<Stats>, shutdown: Arc<Shutdown>) {
    let nodes = cfg.urls.len().max(1);
    let mut node = usize::from(producer.id) % nodes;
    let mut generation = 0u32;
    let mut delay = Duration::from_millis(200);
    let mut log = BadInputLog::new("amqp");
    let mut failures = 0u32;
    while !shutdown.stop.load(Ordering::Acquire) {
        generation += 1;
        let mut connected = false;
        let r = session(&cfg, node, &producer, generation, &stats, &shutdown, &mut log, &mut connected);
        match r {
            Ok(()) => return,
            Err(e) => {
                if connected {
                    delay = Duration::from_millis(200);
                    failures = 0;
                }
                failures += 1;
                let failed = node;
                node = (node + 1) % nodes;
                // Straight on to the next node; the back-off grows only once every node failed in a row.
                let wait = if (failures as usize).is_multiple_of(nodes) { delay } else { Duration::from_millis(50) };
                // One warning per attempt, but attempts back off, so a dead broker never floods the log.
                tracing::warn!(
                    worker = producer.id,
                    node = %node_label(cfg.urls.get(failed).map_or("", String::as_str)),
                    error = %e,
                    next_node = %node_label(cfg.urls.get(node).map_or("", String::as_str)),
                    retry_in_ms = wait.as_millis() as u64,
                    attempt = failures,
                    "AMQP connection failed; reconnecting"
                );
                let until = Instant::now() + wait;
                while Instant::now() < until && !shutdown.stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if (failures as usize).is_multiple_of(nodes) {
                    delay = (delay * 2).min(cfg.max_reconnect_delay.max(Duration::from_millis(200)));
                }
            }
        }
    }
    producer.finish();
}

#[allow(clippy::too_many_arguments)]
fn session(
    cfg: &AmqpWorkerConfig,
    node: usize,
    producer: &Producer,
    generation: u32,
    stats: &Arc<Stats>,
    shutdown: &Shutdown,
    log: &mut BadInputLog,
    connected: &mut bool,
) -> Result<(), WorkerError> {
    let url = cfg.urls.get(node).map_or("", String::as_str);
    let (mut conn, reader_lingers) = super::connect::open(url, cfg.linger, stats)?;
    let channel = conn.open_channel(None)?;
    channel.qos(0, cfg.prefetch, false)?;
    let queue_name = {
        // Held while binding: a reload changing the patterns waits, and this worker binds the current set.
        let patterns = cfg.bind_patterns.lock();
        let topology = topology_with(cfg, patterns.clone());
        let name = topology.declare(&channel)?;
        if producer.id == 0 && generation == 1 {
            topology.unbind_stale(&channel)?;
        }
        name
    };
    let consumer = channel.basic_consume(queue_name.as_str(), ConsumerOptions::default())?;
    // From here on the connection only streams deliveries in and acks out: its reader may linger.
    reader_lingers.store(true, Ordering::Relaxed);
    *connected = true;
    Stats::add(&stats.connects, 1);
    stats.node_connected(node);
    let _consuming = Consuming::new(stats);
    tracing::info!(
        worker = producer.id,
        node = node,
        broker = %node_label(url),
        queue = %queue_name,
        prefetch = cfg.prefetch,
        "consuming"
    );

    let mut window = AckWindow::new(cfg.prefetch, cfg.ack_interval);
    let mut filter = cfg.filter.view();
    let mut gather = Gather::default();
    let after_persist = cfg.ack == AckMode::AfterPersist;
    let stop = || shutdown.stop.load(Ordering::Acquire);
    let on_completion = |c: Completion, window: &mut AckWindow| {
        if c.generation == generation {
            window.mark_done(c.tag, c.tags);
        }
    };

    'consume: loop {
        crossbeam::select! {
            recv(consumer.receiver()) -> msg => {
                let Ok(mut msg) = msg else {
                    return Err(WorkerError::ConsumerEnded("consumer channel closed".into()));
                };
                // Take every delivery waiting (up to a cap) into one batch: one ring push, one writer wake-up,
                // one ticket and one completion for all of them (a delivery of many points goes as its own
                // batch: see `Gather::must_flush_before`).
                let now = unix_now();
                let mut taken = 0usize;
                let mut tally = Tally::default();
                loop {
                    let ConsumerMessage::Delivery(d) = msg else {
                        return Err(WorkerError::ConsumerEnded(format!("{msg:?}")));
                    };
                    let (d, mut cur) = gather.parse(d, cfg.name_in_body, now, &mut tally, log);
                    if let Some(f) = filter.current() {
                        f.apply(&mut cur, stats);
                    }
                    if cur.points.is_empty() {
                        gather.recycle(cur);
                        window.push(d, true);
                    } else {
                        if gather.must_flush_before(&cur)
                            && gather.flush(producer, generation, after_persist, stop).is_err()
                        {
                            break 'consume;
                        }
                        gather.add(d.delivery_tag(), cur);
                        window.push(d, !after_persist);
                    }
                    taken += 1;
                    if taken >= GATHER_DELIVERIES {
                        break;
                    }
                    match consumer.receiver().try_recv() {
                        Ok(m) => msg = m,
                        Err(_) => break,
                    }
                }
                tally.publish(stats);
                if gather.flush(producer, generation, after_persist, stop).is_err() {
                    break 'consume;
                }
                // On-receive (and fully rejected) deliveries are acked paced like the others.
                if window.ack_due(Instant::now()) {
                    window.ack_ready(&channel)?.count(stats);
                }
                if lingers_after_burst(cfg.linger, taken) {
                    // Deliveries and completions queue meanwhile; both are taken in one go after it.
                    Stats::add(&stats.worker_lingers, 1);
                    std::thread::sleep(cfg.linger);
                }
            },
            recv(producer.completions) -> c => {
                if let Ok(c) = c {
                    on_completion(c, &mut window);
                    while let Ok(c) = producer.completions.try_recv() {
                        on_completion(c, &mut window);
                    }
                    if window.ack_due(Instant::now()) {
                        window.ack_ready(&channel)?.count(stats);
                    }
                }
            },
            default(window.ack_wait(Instant::now())) => {
                if stop() {
                    break 'consume;
                }
                // Nothing arrived for a while: ack what finished (the front may also have become stuck).
                if window.ack_due(Instant::now()) {
                    window.ack_ready(&channel)?.count(stats);
                }
            }
        }
    }

    // Shutdown: take nothing more (unprocessed deliveries are requeued when the channel closes), let the
    // writer flush, ack what became durable, close.
    let _ = consumer.cancel();
    producer.finish();
    loop {
        let c = producer.completions.recv_timeout(Duration::from_millis(50));
        if let Ok(c) = c {
            on_completion(c, &mut window);
        }
        window.ack_ready(&channel)?.count(stats);
        if window.all_done() || (shutdown.writer_done.load(Ordering::Acquire) && producer.completions.is_empty()) {
            break;
        }
    }
    drop(consumer);
    let _ = conn.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{lingers_after_burst, node_label, AckWindow, InFlight, LIGHT_BURST, STUCK_FRONT};
    use std::time::{Duration, Instant};

    const ACK_EVERY: Duration = Duration::from_millis(10);

    fn window(tags: std::ops::Range<u64>) -> AckWindow {
        let mut w = AckWindow::new(8, ACK_EVERY);
        w.q.extend(tags.map(|tag| InFlight { tag, delivery: None, done: false }));
        w
    }

    #[test]
    fn one_by_one_acks_wait_until_the_same_front_has_been_stuck_for_the_whole_delay() {
        let t0 = Instant::now();
        let mut w = window(5..9);
        assert!(!w.singles_due(t0), "first sight of the front starts the clock");
        assert!(!w.singles_due(t0 + STUCK_FRONT - Duration::from_millis(1)));
        assert!(w.singles_due(t0 + STUCK_FRONT));
        assert!(w.singles_due(t0 + STUCK_FRONT * 3), "and stays due while that front is stuck");
        // The front moves on (5 acked): the clock starts again for 6.
        w.q.pop_front();
        let t1 = t0 + STUCK_FRONT * 3;
        assert!(!w.singles_due(t1));
        assert!(!w.singles_due(t1 + STUCK_FRONT / 2));
        assert!(w.singles_due(t1 + STUCK_FRONT));
        // Nothing in flight: nothing due, and no clock left running.
        w.q.clear();
        assert!(!w.singles_due(t1 + STUCK_FRONT * 2));
        assert_eq!(w.stuck, None);
    }

    #[test]
    fn acks_wait_for_a_finished_quarter_window_at_the_front_or_for_the_pacing_delay() {
        let mut w = window(1..9);
        let t0 = w.last;
        assert_eq!(w.batch, 2, "a quarter of prefetch 8");
        assert!(!w.ack_due(t0 + ACK_EVERY * 10), "nothing finished: nothing to ack, however long");
        assert_eq!(w.ack_wait(t0), Duration::from_millis(100));
        // Two finished behind the unfinished front: a batch's worth, but not at the front.
        w.mark_done(2, 2);
        assert!(!w.ack_due(t0));
        assert!(!w.ack_due(t0 + ACK_EVERY - Duration::from_millis(1)));
        assert_eq!(w.ack_wait(t0), Duration::from_millis(100), "nothing ackable: the idle tick");
        assert!(w.ack_due(t0 + ACK_EVERY), "finished ones wait no longer than the delay");
        // The front finishes: 1, 2, 3 are a whole batch at the front, due at once.
        w.mark_done(1, 1);
        assert!(w.ack_due(t0));
    }

    #[test]
    fn a_nearly_full_window_is_acked_as_soon_as_its_front_finishes() {
        // 7 of prefetch 8 unacked: fewer than a batch (2) of room left for the broker.
        let mut w = window(1..8);
        let t0 = w.last;
        w.mark_done(3, 1);
        assert!(!w.ack_due(t0), "finished, but behind the unfinished front");
        w.mark_done(1, 1);
        assert!(w.ack_due(t0), "a finished front in a nearly full window is acked at once");
        // With room in the window the same single finished front waits for the delay, and no longer.
        let mut w = window(1..6);
        w.mark_done(1, 1);
        assert!(!w.ack_due(w.last));
        assert_eq!(w.ack_wait(w.last + ACK_EVERY / 4), ACK_EVERY * 3 / 4);
        assert!(w.ack_due(w.last + ACK_EVERY));
    }

    #[test]
    fn a_worker_lingers_only_after_a_light_burst() {
        let ms = Duration::from_millis(2);
        assert!(lingers_after_burst(ms, 1));
        assert!(lingers_after_burst(ms, LIGHT_BURST - 1));
        assert!(!lingers_after_burst(ms, LIGHT_BURST), "a full burst: more are waiting, take them at once");
        assert!(!lingers_after_burst(Duration::ZERO, 1), "linger_us = 0 turns it off");
    }

    #[test]
    fn a_node_label_drops_the_credentials() {
        assert_eq!(node_label("amqp://guest:s3cr@t@10.0.0.1:5672/%2f"), "10.0.0.1:5672/%2f");
        assert_eq!(node_label("amqp://mq:5672"), "mq:5672");
        assert_eq!(node_label("mq:5672"), "mq:5672");
    }
}
