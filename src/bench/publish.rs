//! Publishing a stream of messages to a topic exchange as fast as the broker confirms them.
//!
//! `connections` threads, each with its own connection and channel in confirm mode, pull messages from one shared
//! [`Source`] and publish them persistent (delivery mode 2). Each keeps at most `window` messages unconfirmed:
//! confirms are read as they come (smoothed into order) and the thread blocks only when the window is full. A
//! nack is an error: a publisher must not report as sent what the broker refused.
//!
//! Owns: its connections. Never touches: files, the cache.

use super::load::{Load, Message};
use amiquip::{AmqpProperties, Confirm, ConfirmSmoother, Connection, Publish};
use std::io::BufRead;
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
    let start = Instant::now();
    let results: Vec<Result<(), PublishError>> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..cfg.connections.max(1)).map(|i| s.spawn(move || publish_one(cfg, i, source, progress))).collect();
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

    while source.next(&mut msg)? {
        channel
            .basic_publish(cfg.exchange.as_str(), Publish::with_properties(&msg.body, msg.key.as_str(), props.clone()))
            .map_err(amqp)?;
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
}
