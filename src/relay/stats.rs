//! The relay's own counters (relaxed atomics, like `crate::stats::Stats`), readable while it runs, emitted as
//! self-metrics (`<prefix>.agents.<host>-<instance>.relay.<name>`) through the relay itself and printed by
//! `warren relay --stats-every-ms`. Owns: numbers. Never touches: sockets, the broker.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! relay_counters {
    ($($(#[$doc:meta])* $name:ident => $metric:literal),* $(,)?) => {
        /// Relay counters: totals since start unless the doc says gauge. Points, not messages, unless named so.
        #[derive(Debug, Default)]
        pub struct RelayStats { $($(#[$doc])* pub $name: AtomicU64,)* }

        impl RelayStats {
            /// Every counter as (name, value).
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }

            /// Every counter as (self-metric name, value).
            pub fn metrics(&self) -> Vec<(&'static str, u64)> {
                vec![$(($metric, self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

relay_counters! {
    /// Points taken from the receivers into the buffer.
    received => "received",
    /// Points published for the first time.
    published => "published",
    /// Messages published for the first time.
    messages_published => "messagesPublished",
    /// Points the broker confirmed (routed or returned).
    confirmed => "confirmed",
    /// Points in messages the broker returned as unroutable (no queue bound for the name).
    returned => "returned",
    /// Messages returned as unroutable.
    messages_returned => "messagesReturned",
    /// Points published again after a reconnect or a nack.
    republished => "republished",
    /// Points in messages the broker nacked (they are republished).
    nacked => "nacked",
    /// Gauge: points held (waiting for a flush, to be published, or for a confirm).
    buffer_points => "buffer.points",
    /// Gauge: messages published and not yet confirmed.
    unconfirmed_messages => "buffer.unconfirmedMessages",
    /// Microseconds the receivers were paused because the buffer was full.
    paused_micros => "pausedMicros",
    /// Times the buffer filled and the receivers paused.
    pauses => "pauses",
    /// Broker connections established (more than one means reconnects).
    connects => "brokerConnects",
    /// Gauge: publish→confirm latency, 50th percentile, microseconds (over the last stats interval).
    confirm_p50_us => "confirmLatency.p50Micros",
    /// Gauge: publish→confirm latency, 99th percentile, microseconds.
    confirm_p99_us => "confirmLatency.p99Micros",
    /// Gauge: publish→confirm latency, 99.9th percentile, microseconds.
    confirm_p999_us => "confirmLatency.p999Micros",
    /// Gauge: UDP datagrams the kernel dropped on the relay's UDP receiver (buffer full while paused or behind).
    udp_drops => "udpDrops",
    /// Points still unconfirmed when the shutdown timeout ran out (lost to this relay: logged).
    abandoned => "abandoned",
}

impl RelayStats {
    /// Add `n` to a counter.
    #[inline]
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Read a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
