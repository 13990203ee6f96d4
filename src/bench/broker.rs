//! Broker-side helpers for load tools: declare and delete the exchange and queue, count what a queue holds, and
//! drain a queue with a null consumer (the broker's delivery ceiling).
//!
//! Owns: short-lived connections of its own. Never touches: files, the cache.

use amiquip::{
    Connection, ConsumerMessage, ConsumerOptions, ExchangeDeclareOptions, ExchangeType, FieldTable,
    QueueDeclareOptions, QueueDeleteOptions,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A broker operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Connection or channel failure, with what was being done.
    #[error("AMQP {what}: {source}")]
    Amqp { what: String, source: Box<amiquip::Error> },
    /// The drain did not see every message in time.
    #[error("drain of {queue}: {got} of {want} messages after {secs} s")]
    DrainTimeout { queue: String, got: u64, want: u64, secs: u64 },
    /// A consumer thread panicked (a bug).
    #[error("consumer thread {0} panicked")]
    Panicked(usize),
}

fn amqp(what: impl Into<String>) -> impl FnOnce(amiquip::Error) -> BrokerError {
    let what = what.into();
    move |source| BrokerError::Amqp { what, source: Box::new(source) }
}

/// Declare the durable topic `exchange`; with `queue`, also the durable queue, bound with every pattern.
pub fn declare(url: &str, exchange: &str, queue: Option<(&str, &[String])>) -> Result<(), BrokerError> {
    declare_typed(url, exchange, queue, false)
}

/// [`declare`], the queue a quorum queue when `quorum` (as `warren cache` declares it with
/// `queue_type = "quorum"`).
pub fn declare_typed(
    url: &str,
    exchange: &str,
    queue: Option<(&str, &[String])>,
    quorum: bool,
) -> Result<(), BrokerError> {
    let mut conn = Connection::insecure_open(url).map_err(amqp(format!("connect {url}")))?;
    let ch = conn.open_channel(None).map_err(amqp("open channel"))?;
    ch.exchange_declare(ExchangeType::Topic, exchange, ExchangeDeclareOptions { durable: true, ..Default::default() })
        .map_err(amqp(format!("declare exchange {exchange}")))?;
    if let Some((q, patterns)) = queue {
        let mut arguments = FieldTable::new();
        if quorum {
            arguments.insert("x-queue-type".into(), amiquip::AmqpValue::LongString("quorum".into()));
        }
        ch.queue_declare(q, QueueDeclareOptions { durable: true, arguments, ..Default::default() })
            .map_err(amqp(format!("declare queue {q}")))?;
        for p in patterns {
            ch.queue_bind(q, exchange, p.as_str(), FieldTable::new())
                .map_err(amqp(format!("bind {q} to {exchange} with {p}")))?;
        }
    }
    conn.close().map_err(amqp("close"))
}

/// Delete `queue` (if given) and `exchange`; missing ones are not an error.
pub fn delete(url: &str, exchange: &str, queue: Option<&str>) -> Result<(), BrokerError> {
    let mut conn = Connection::insecure_open(url).map_err(amqp(format!("connect {url}")))?;
    if let Some(q) = queue {
        // A failed delete closes the channel, so each delete gets its own.
        let ch = conn.open_channel(None).map_err(amqp("open channel"))?;
        let _ = ch.queue_delete(q, QueueDeleteOptions::default());
    }
    let ch = conn.open_channel(None).map_err(amqp("open channel"))?;
    let _ = ch.exchange_delete(exchange, false);
    conn.close().map_err(amqp("close"))
}

/// Messages ready in `queue` (not counting those delivered and not yet acked).
pub fn ready_messages(url: &str, queue: &str) -> Result<u64, BrokerError> {
    let mut conn = Connection::insecure_open(url).map_err(amqp(format!("connect {url}")))?;
    let ch = conn.open_channel(None).map_err(amqp("open channel"))?;
    let q = ch.queue_declare_passive(queue).map_err(amqp(format!("inspect queue {queue}")))?;
    let n = q.declared_message_count().unwrap_or(0);
    conn.close().map_err(amqp("close"))?;
    Ok(u64::from(n))
}

/// How a null consumer drains a queue.
#[derive(Clone, Debug)]
pub struct DrainConfig {
    pub url: String,
    pub queue: String,
    /// Consumer connections (one channel each), as warren's workers.
    pub connections: usize,
    /// basic.qos prefetch per channel.
    pub prefetch: u16,
    /// Stop once this many messages were received and acked.
    pub expect: u64,
    /// Give up after this long.
    pub timeout: Duration,
    /// Consume as warren's workers do with `[amqp] linger_us` = this (its connection's reader pauses after a
    /// light read, the consumer takes every delivery waiting and pauses after a light burst); zero: a plain
    /// amiquip consumer that blocks for each delivery.
    pub linger: Duration,
}

/// Deliveries the null consumer takes in one burst at most before it looks at its acks again.
const BURST_CAP: usize = 1024;

/// Consume `expect` messages from `queue`, doing nothing with them but acking (ack_multiple every
/// prefetch/2 messages, or when the consumer has nothing more waiting). Returns the wall time from the first
/// connection to the last ack.
pub fn drain(cfg: &DrainConfig) -> Result<Duration, BrokerError> {
    let received = AtomicU64::new(0);
    let start = Instant::now();
    let results: Vec<Result<(), BrokerError>> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..cfg.connections.max(1)).map(|_| s.spawn(|| drain_one(cfg, &received, start))).collect();
        handles.into_iter().enumerate().map(|(i, h)| h.join().unwrap_or(Err(BrokerError::Panicked(i)))).collect()
    });
    let elapsed = start.elapsed();
    for r in results {
        r?;
    }
    Ok(elapsed)
}

fn drain_one(cfg: &DrainConfig, received: &AtomicU64, start: Instant) -> Result<(), BrokerError> {
    let stats = Arc::new(crate::stats::Stats::default());
    let (mut conn, reader_lingers) =
        crate::ingest::connect::open(&cfg.url, cfg.linger, &stats).map_err(amqp(format!("connect {}", cfg.url)))?;
    let ch = conn.open_channel(None).map_err(amqp("open channel"))?;
    ch.qos(0, cfg.prefetch, false).map_err(amqp("qos"))?;
    let consumer = ch.basic_consume(cfg.queue.as_str(), ConsumerOptions::default()).map_err(amqp("consume"))?;
    // As a worker: only the stream of deliveries and acks from here on, so the reader may pause.
    reader_lingers.store(true, Ordering::Relaxed);
    let batch = u64::from(cfg.prefetch / 2).max(1);
    let mut unacked = 0u64;
    let mut last = None;
    let mut ended = false;
    while !ended {
        let done = received.load(Ordering::Relaxed) >= cfg.expect;
        if done && last.is_none() {
            break;
        }
        if start.elapsed() > cfg.timeout {
            return Err(BrokerError::DrainTimeout {
                queue: cfg.queue.clone(),
                got: received.load(Ordering::Relaxed),
                want: cfg.expect,
                secs: cfg.timeout.as_secs(),
            });
        }
        let mut next = match consumer.receiver().recv_timeout(Duration::from_millis(20)) {
            Ok(ConsumerMessage::Delivery(d)) => Some(d),
            Ok(_) => break,
            Err(_) => None,
        };
        // Lingering, every delivery waiting is taken in one go (up to a cap); without, one per turn.
        let mut taken = 0usize;
        while let Some(d) = next.take() {
            received.fetch_add(1, Ordering::Relaxed);
            unacked += 1;
            taken += 1;
            last = Some(d);
            if unacked >= batch {
                ack_up_to(&mut last, &mut unacked, &ch)?;
            }
            if cfg.linger.is_zero() || taken >= BURST_CAP {
                break;
            }
            match consumer.receiver().try_recv() {
                Ok(ConsumerMessage::Delivery(d)) => next = Some(d),
                Ok(_) => ended = true,
                Err(_) => {}
            }
        }
        if unacked >= batch || (last.is_some() && (ended || consumer.receiver().is_empty())) {
            ack_up_to(&mut last, &mut unacked, &ch)?;
        }
        if crate::ingest::amqp::lingers_after_burst(cfg.linger, taken) {
            std::thread::sleep(cfg.linger);
        }
    }
    let _ = consumer.cancel();
    conn.close().map_err(amqp("close"))
}

/// Ack every delivery up to `last` (ack_multiple) and start counting again.
fn ack_up_to(
    last: &mut Option<amiquip::Delivery>,
    unacked: &mut u64,
    ch: &amiquip::Channel,
) -> Result<(), BrokerError> {
    if let Some(d) = last.take() {
        d.ack_multiple(ch).map_err(amqp("ack"))?;
    }
    *unacked = 0;
    Ok(())
}
