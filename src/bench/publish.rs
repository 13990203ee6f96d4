//! Publishing a stream of messages to a topic exchange as fast as the broker confirms them.
//!
//! `connections` threads, each with its own connection and channel in confirm mode, pull messages from one shared
//! [`Source`] and publish them persistent (delivery mode 2). Each keeps at most `window` messages unconfirmed:
//! confirms are read as they come (smoothed into order) and the thread blocks only when the window is full. A
//! nack is an error: a publisher must not report as sent what the broker refused.
//!
//! [`publish_paced`] sends at a set rate instead of as fast as confirms allow: each connection schedules its
//! messages by deadline ([`Pacer`]), sleeps until the next one is due (reading confirms meanwhile, never spinning)
//! and sends what is due within a millisecond as one small burst.
//!
//! Owns: its connections. Never touches: files, the cache.

use super::load::{Load, Message};
use amiquip::{AmqpProperties, Confirm, ConfirmSmoother, Connection, Publish};
use std::io::BufRead;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker connection or a channel operation failed.
    #[error("AMQP ({url}): {source}")]
    Amqp { url: String, source: Box<amiquip::Error> },
    /// The broker refused (nacked) a message.
    #[error("the broker nacked message {tag} on connection {connection}")]
    Nacked { connection: usize, tag: u64 },
    /// No confirm arrived for a long time.
    #[error("no publisher confirm within {0:?}")]
    ConfirmTimeout(Duration),
    /// Reading the input failed.
    #[error("reading input: {0}")]
    Input(#[from] std::io::Error),
    /// A publisher thread panicked (a bug).
    #[error("publisher thread {0} panicked")]
    Panicked(usize),
}

/// Where messages come from; shared by every publisher thread.
pub trait Source: Sync {
    /// Fill `msg` with the next message; `Ok(false)` when there are no more.
    fn next(&self, msg: &mut Message) -> std::io::Result<bool>;
}

/// A [`Load`] as a source: messages in index order, handed out by an atomic counter.
pub struct LoadSource<'a> {
    load: &'a Load,
    next: AtomicU64,
}

impl<'a> LoadSource<'a> {
    /// Every message of `load`, from the first.
    pub fn new(load: &'a Load) -> Self {
        LoadSource { load, next: AtomicU64::new(0) }
    }
}

impl Source for LoadSource<'_> {
    fn next(&self, msg: &mut Message) -> std::io::Result<bool> {
        Ok(self.load.message(self.next.fetch_add(1, Ordering::Relaxed), msg))
    }
}

/// Plaintext `metric value timestamp` lines as a source. In routing-key mode up to `per_msg` *consecutive* lines
/// of the same metric make one message (key = metric, body = `value timestamp` lines); in name-in-body mode up to
/// `per_msg` consecutive lines make one message, unchanged (key = the first line's metric). Blank lines are
/// skipped; lines are not validated here (the consumer counts what it refuses), except that in routing-key mode a
/// line without a space has no name to route by: it is skipped and counted in [`LinesSource::skipped`].
pub struct LinesSource<R> {
    state: Mutex<LinesState<R>>,
    per_msg: u32,
    name_in_body: bool,
    skipped: AtomicU64,
}

struct LinesState<R> {
    reader: R,
    /// A line read but not yet used (it belonged to the next message).
    pending: Option<String>,
    buf: String,
}

impl<R: BufRead + Send> LinesSource<R> {
    /// Messages of up to `per_msg` lines read from `reader`.
    pub fn new(reader: R, per_msg: u32, name_in_body: bool) -> Self {
        LinesSource {
            state: Mutex::new(LinesState { reader, pending: None, buf: String::new() }),
            per_msg: per_msg.max(1),
            name_in_body,
            skipped: AtomicU64::new(0),
        }
    }

    /// Lines skipped because they had no metric name to route by (routing-key mode).
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

impl<R: BufRead> LinesState<R> {
    fn next_line(&mut self) -> std::io::Result<Option<String>> {
        if let Some(l) = self.pending.take() {
            return Ok(Some(l));
        }
        loop {
            self.buf.clear();
            if self.reader.read_line(&mut self.buf)? == 0 {
                return Ok(None);
            }
            let t = self.buf.trim();
            if !t.is_empty() {
                return Ok(Some(t.to_string()));
            }
        }
    }
}

impl<R: BufRead + Send> Source for LinesSource<R> {
    fn next(&self, msg: &mut Message) -> std::io::Result<bool> {
        msg.key.clear();
        msg.body.clear();
        msg.points = 0;
        // A poisoned lock means another publisher thread panicked; its error is reported by `publish`.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while msg.points < self.per_msg {
            let Some(line) = st.next_line()? else { break };
            let (name, rest) = match line.split_once([' ', '\t']) {
                Some((n, r)) => (n, r.trim_start()),
                None if self.name_in_body => (line.as_str(), ""),
                None => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            if msg.points == 0 {
                msg.key.push_str(name);
            } else if !self.name_in_body && name != msg.key {
                st.pending = Some(line);
                break;
            }
            msg.body.extend_from_slice(if self.name_in_body { line.as_bytes() } else { rest.as_bytes() });
            msg.body.push(b'\n');
            msg.points += 1;
        }
        Ok(msg.points > 0)
    }
}

/// Where and how to publish.
#[derive(Clone, Debug)]
pub struct PublishConfig {
    /// `amqp://user:password@host:port/vhost`.
    pub url: String,
    /// The topic exchange (declared durable by [`super::broker::declare`] beforehand, or by the caller).
    pub exchange: String,
    /// Publisher threads, each with its own connection.
    pub connections: usize,
    /// Most unconfirmed messages per connection.
    pub window: usize,
}

/// Live counts, readable while publishing (for a progress bar or a live benchmark).
#[derive(Debug, Default)]
pub struct PublishProgress {
    /// Messages handed to the broker.
    pub published: AtomicU64,
    /// Messages the broker confirmed.
    pub confirmed: AtomicU64,
    /// Points in the confirmed messages.
    pub confirmed_points: AtomicU64,
    /// Set by a latency probe that wants the next message sent: the publisher that sends it clears the flag and
    /// leaves a copy in [`PublishProgress::sample`].
    pub sample_wanted: AtomicBool,
    /// The message sent after [`PublishProgress::sample_wanted`] was set, and when it was handed to the broker.
    pub sample: Mutex<Option<(Message, Instant)>>,
}

impl PublishProgress {
    /// Take the sampled message, if one was sent since the last request.
    pub fn take_sample(&self) -> Option<(Message, Instant)> {
        self.sample.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn offer_sample(&self, msg: &Message) {
        if self.sample_wanted.load(Ordering::Relaxed) && self.sample_wanted.swap(false, Ordering::Relaxed) {
            *self.sample.lock().unwrap_or_else(|e| e.into_inner()) = Some((msg.clone(), Instant::now()));
        }
    }
}

/// A send schedule at a fixed rate of points per second, by deadline: message `k` is due when the points before
/// it would have been sent at that rate. [`Pacer::wait`] says how long to wait before the next message; messages
/// due within [`Pacer::BURST`] go at once (one small burst per wake-up rather than a sleep per message). A sender
/// that fell more than [`Pacer::MAX_LAG`] behind does not catch up in one burst: the schedule slips to that lag,
/// and the slip is counted, so the achieved rate shows it. Time is passed in (the time since the schedule
/// started), so the schedule is tested without a clock.
#[derive(Clone, Debug)]
pub struct Pacer {
    points_per_sec: f64,
    /// Points scheduled so far (the next message is due when these would have been sent).
    scheduled: u64,
    /// Seconds the schedule slipped because the sender fell behind.
    slipped: f64,
}

impl Pacer {
    /// Messages due within this much are sent without waiting.
    pub const BURST: Duration = Duration::from_millis(1);
    /// Most a sender may be behind its schedule; beyond, the schedule slips.
    pub const MAX_LAG: Duration = Duration::from_millis(50);

    /// A schedule of `points_per_sec` (> 0) points per second, starting now.
    pub fn new(points_per_sec: f64) -> Self {
        Pacer { points_per_sec: points_per_sec.max(f64::MIN_POSITIVE), scheduled: 0, slipped: 0.0 }
    }

    /// `now` is the time since the schedule started. Returns how long to wait before sending the next message,
    /// of `points` points, and counts it as scheduled.
    pub fn wait(&mut self, now: Duration, points: u32) -> Duration {
        let now = now.as_secs_f64();
        let due = self.slipped + self.scheduled as f64 / self.points_per_sec;
        let lag = now - due - Self::MAX_LAG.as_secs_f64();
        if lag > 0.0 {
            self.slipped += lag;
        }
        let due = self.slipped + self.scheduled as f64 / self.points_per_sec;
        self.scheduled += u64::from(points);
        let wait = due - now;
        if wait > Self::BURST.as_secs_f64() {
            Duration::from_secs_f64(wait)
        } else {
            Duration::ZERO
        }
    }

    /// Seconds the schedule slipped because the sender could not keep up.
    pub fn slipped(&self) -> Duration {
        Duration::from_secs_f64(self.slipped)
    }
}

/// What a finished publish did.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct PublishSummary {
    /// Messages confirmed by the broker.
    pub messages: u64,
    /// Points in those messages.
    pub points: u64,
    /// Wall time from the first connection to the last confirm.
    pub seconds: f64,
}

impl PublishSummary {
    /// Messages per second.
    pub fn msgs_per_sec(&self) -> f64 {
        rate(self.messages, self.seconds)
    }
    /// Points per second.
    pub fn points_per_sec(&self) -> f64 {
        rate(self.points, self.seconds)
    }
}

/// `n / seconds`, 0 for an empty interval.
pub fn rate(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(120);

/// Publish every message of `source`, each confirmed by the broker. Blocks until done.
pub fn publish(
    cfg: &PublishConfig,
    source: &dyn Source,
    progress: &PublishProgress,
) -> Result<PublishSummary, PublishError> {
    publish_paced(cfg, None, source, progress)
}

/// [`publish`], at `points_per_sec` points per second in all (shared evenly by the connections) when given.
pub fn publish_paced(
    cfg: &PublishConfig,
    points_per_sec: Option<f64>,
    source: &dyn Source,
    progress: &PublishProgress,
) -> Result<PublishSummary, PublishError> {
    let start = Instant::now();
    let n = cfg.connections.max(1);
    let per_conn = points_per_sec.filter(|r| *r > 0.0).map(|r| r / n as f64);
    let results: Vec<Result<(), PublishError>> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..n).map(|i| s.spawn(move || publish_one(cfg, i, per_conn, source, progress))).collect();
        handles.into_iter().enumerate().map(|(i, h)| h.join().unwrap_or(Err(PublishError::Panicked(i)))).collect()
    });
    for r in results {
        r?;
    }
    Ok(PublishSummary {
        messages: progress.confirmed.load(Ordering::Relaxed),
        points: progress.confirmed_points.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn publish_one(
    cfg: &PublishConfig,
    conn_idx: usize,
    points_per_sec: Option<f64>,
    source: &dyn Source,
    progress: &PublishProgress,
) -> Result<(), PublishError> {
    let amqp = |source| PublishError::Amqp { url: cfg.url.clone(), source: Box::new(source) };
    let mut conn = Connection::insecure_open(&cfg.url).map_err(amqp)?;
    let channel = conn.open_channel(None).map_err(amqp)?;
    let confirms = channel.listen_for_publisher_confirms().map_err(amqp)?;
    channel.enable_publisher_confirms().map_err(amqp)?;
    let mut smoother = ConfirmSmoother::new();
    // Points of each unconfirmed message, in publish (= tag) order.
    let mut unconfirmed = std::collections::VecDeque::<u32>::new();
    let window = cfg.window.max(1);
    let mut msg = Message::default();
    let props = AmqpProperties::default().with_delivery_mode(2);

    let mut handle = |c: Confirm, unconfirmed: &mut std::collections::VecDeque<u32>| -> Result<(), PublishError> {
        for c in smoother.process(c) {
            match c {
                Confirm::Ack(_) => {
                    let pts = unconfirmed.pop_front().unwrap_or(0);
                    progress.confirmed.fetch_add(1, Ordering::Relaxed);
                    progress.confirmed_points.fetch_add(u64::from(pts), Ordering::Relaxed);
                }
                Confirm::Nack(p) => return Err(PublishError::Nacked { connection: conn_idx, tag: p.delivery_tag }),
            }
        }
        Ok(())
    };

    let mut pacer = points_per_sec.map(|r| (Pacer::new(r), Instant::now()));
    while source.next(&mut msg)? {
        if let Some((pacer, started)) = pacer.as_mut() {
            let due = Instant::now() + pacer.wait(started.elapsed(), msg.points);
            // Wait for the deadline reading confirms (a blocking receive with a timeout: no spinning).
            while let Some(left) = due.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
                match confirms.recv_timeout(left) {
                    Ok(c) => handle(c, &mut unconfirmed)?,
                    Err(crossbeam::channel::RecvTimeoutError::Timeout) => break,
                    Err(crossbeam::channel::RecvTimeoutError::Disconnected) => {
                        // The publish below reports the broken connection.
                        std::thread::sleep(left);
                        break;
                    }
                }
            }
        }
        channel
            .basic_publish(cfg.exchange.as_str(), Publish::with_properties(&msg.body, msg.key.as_str(), props.clone()))
            .map_err(amqp)?;
        progress.offer_sample(&msg);
        unconfirmed.push_back(msg.points);
        progress.published.fetch_add(1, Ordering::Relaxed);
        while let Ok(c) = confirms.try_recv() {
            handle(c, &mut unconfirmed)?;
        }
        while unconfirmed.len() >= window {
            let c =
                confirms.recv_timeout(CONFIRM_TIMEOUT).map_err(|_| PublishError::ConfirmTimeout(CONFIRM_TIMEOUT))?;
            handle(c, &mut unconfirmed)?;
        }
    }
    while !unconfirmed.is_empty() {
        let c = confirms.recv_timeout(CONFIRM_TIMEOUT).map_err(|_| PublishError::ConfirmTimeout(CONFIRM_TIMEOUT))?;
        handle(c, &mut unconfirmed)?;
    }
    drop(channel);
    conn.close().map_err(amqp)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(src: &dyn Source) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut m = Message::default();
        while src.next(&mut m).unwrap() {
            out.push((m.key.clone(), String::from_utf8(m.body.clone()).unwrap()));
        }
        out
    }

    #[test]
    fn routing_key_mode_groups_consecutive_lines_of_one_metric() {
        let input = "a.b 1 10\na.b 2 20\na.b 3 30\n\nc.d 4 10\nnospace\na.b 5 40\n";
        let src = LinesSource::new(input.as_bytes(), 2, false);
        let got = drain(&src);
        assert_eq!(
            got,
            [("a.b", "1 10\n2 20\n"), ("a.b", "3 30\n"), ("c.d", "4 10\n"), ("a.b", "5 40\n")]
                .map(|(k, b)| (k.to_string(), b.to_string()))
        );
        assert_eq!(src.skipped(), 1);
    }

    #[test]
    fn name_in_body_mode_keeps_lines_whole() {
        let src = LinesSource::new("a.b 1 10\nc.d 2 20\ne.f 3 30\n".as_bytes(), 2, true);
        let got = drain(&src);
        assert_eq!(got[0], ("a.b".to_string(), "a.b 1 10\nc.d 2 20\n".to_string()));
        assert_eq!(got[1], ("e.f".to_string(), "e.f 3 30\n".to_string()));
    }

    const MS: Duration = Duration::from_millis(1);

    /// Microseconds, rounded (the schedule is kept in f64 seconds).
    fn us(d: Duration) -> u128 {
        (d.as_secs_f64() * 1e6).round() as u128
    }

    #[test]
    fn pacer_spaces_messages_by_their_points() {
        // 1000 points/s, messages of 10 points: one message due every 10 ms.
        let mut p = Pacer::new(1000.0);
        assert_eq!(p.wait(Duration::ZERO, 10), Duration::ZERO, "the first message is due at once");
        assert_eq!(p.wait(Duration::ZERO, 10), 10 * MS);
        // Woken 10 ms in: the second message went, the third is due at 20 ms.
        assert_eq!(us(p.wait(10 * MS, 10)), 10_000);
        // Woken late (35 ms, within MAX_LAG): the fourth, due at 30 ms, goes at once.
        assert_eq!(p.wait(35 * MS, 10), Duration::ZERO);
        assert_eq!(us(p.wait(35 * MS, 10)), 5_000);
        assert_eq!(p.slipped(), Duration::ZERO);
    }

    #[test]
    fn pacer_sends_what_is_due_within_a_millisecond_as_one_burst() {
        // 10 000 points/s, 1 point per message: one every 100 µs, so ten go per 1 ms wake-up.
        let mut p = Pacer::new(10_000.0);
        let waits: Vec<Duration> = (0..12).map(|_| p.wait(Duration::ZERO, 1)).collect();
        assert!(waits[..11].iter().all(|w| w.is_zero()), "{waits:?}");
        assert_eq!(waits[11], Duration::from_micros(1100));
    }

    #[test]
    fn pacer_catches_up_at_most_its_lag_then_slips() {
        let mut p = Pacer::new(1000.0);
        assert_eq!(p.wait(Duration::ZERO, 10), Duration::ZERO);
        // 30 ms late (within MAX_LAG): no slip, the backlog goes out at once.
        assert_eq!(p.wait(40 * MS, 10), Duration::ZERO);
        assert_eq!(p.slipped(), Duration::ZERO);
        // Stalled until 1 s: 20 ms of schedule were used, so it is 980 ms behind; it keeps 50 ms of it.
        assert_eq!(p.wait(1000 * MS, 10), Duration::ZERO);
        assert_eq!(us(p.slipped()), 930_000);
        // It was due at 950 ms: five more messages (due 960..1000 ms) go at once, then one per 10 ms again.
        let waits: Vec<u128> = (0..7).map(|_| us(p.wait(1000 * MS, 10))).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 10_000, 20_000]);
    }

    #[test]
    fn pacer_rate_over_a_long_run_is_the_set_rate() {
        // Sleep exactly as told (a perfect clock): 1 M points at 50 000 points/s take 20 s.
        let mut p = Pacer::new(50_000.0);
        let mut now = Duration::ZERO;
        for _ in 0..10_000 {
            now += p.wait(now, 100);
        }
        // The last message (points 999 900..) is due at 999 900 / 50 000 s.
        assert_eq!(us(now), 19_998_000);
        assert_eq!(p.slipped(), Duration::ZERO);
    }
}
