//! Counters shared by every thread (relaxed atomics: each is a monotonic count or a gauge), and the
//! rate-limited bad-input log. Components increment the counters; readers (the self-metrics emitter in
//! `ingest::selfmetrics`, the Prometheus endpoint in `query::prometheus`, `warren cache --stats-every-ms`) only
//! take a [`Stats::snapshot`].
//!
//! Owns: numbers. Never touches: files, sockets, threads, or any other module of the crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Broker nodes counted one by one in [`Stats::node_connects`].
pub const MAX_NODES: usize = 16;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Process-wide counters. All are totals since start unless the doc says gauge.
        #[derive(Debug, Default)]
        pub struct Stats {
            $($(#[$doc])* pub $name: AtomicU64,)*
            /// Broker connections established per node of `[amqp] urls` (index = position in the list; nodes
            /// past [`MAX_NODES`] count in the last slot).
            pub node_connects: [AtomicU64; MAX_NODES],
        }

        impl Stats {
            /// Every counter as (name, value), for self-metrics and the bench report.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

counters! {
    /// AMQP deliveries received.
    deliveries,
    /// Deliveries that the broker marked as redelivered.
    redelivered,
    /// Deliveries acked to the broker.
    acked,
    /// Of those, deliveries acked one by one: finished behind an older delivery that stayed unfinished (its
    /// metric's file waiting for the create limit, or failing writes). Each costs the broker far more than its
    /// share of a multiple ack.
    acked_singly,
    /// `basic.ack` frames sent (a multiple ack is one frame however many deliveries it covers): `acked /
    /// ack_frames` is how many deliveries the broker settles per ack it handles.
    ack_frames,
    /// Pauses of the AMQP workers after a light burst (`[amqp] linger_us`).
    worker_lingers,
    /// Pauses of the AMQP connections' readers (amiquip's I/O threads) after a light read (`[amqp] linger_us`).
    reader_lingers,
    /// Pauses of the writer after a light turn (`[cache] linger_us`).
    writer_lingers,
    /// Points accepted from any input.
    points_received,
    /// Lines that did not parse (bad field count, bad number, out-of-range timestamp).
    bad_lines,
    /// NaN values dropped.
    nan_dropped,
    /// Points refused for their metric name.
    rejected_names,
    /// Points written to whisper.
    committed_points,
    /// Points whisper did not store: older than the file's longest retention.
    dropped_points,
    /// update_many calls.
    update_operations,
    /// Microseconds spent writing metrics (a metric's points out of the cache, then update_many), total.
    update_micros,
    /// `fdatasync` calls made for `[whisper] sync = "batch"`.
    syncs,
    /// Microseconds spent in those syncs, total.
    sync_micros,
    /// Files created.
    creates,
    /// Files the writer mapped for their updates, each time one was kept open (`[whisper] mmap`).
    files_mapped,
    /// Existing files the creator pool opened for the writer because their bytes were not in memory (a disk
    /// read the writer did not wait for).
    cold_opens,
    /// Creates postponed by MAX_CREATES_PER_MINUTE.
    dropped_creates,
    /// Write errors (the points stay cached and are retried).
    errors,
    /// Points from inputs without acks (the socket receivers) that the final flush at stop could not write
    /// (disk full, read-only …): lost. Points of AMQP deliveries left unwritten are not counted: those deliveries
    /// stay unacked and the broker redelivers them.
    stop_dropped_points,
    /// Gauge: points in the cache.
    cache_size,
    /// Gauge: metrics with points in the cache.
    cache_queues,
    /// Times flow control paused the inputs.
    cache_overflow,
    /// Points dropped because the cache was full and flow control is off (carbon's USE_FLOW_CONTROL = False).
    overflow_dropped,
    /// Gauge: receive→durable latency, 50th percentile, microseconds.
    latency_p50_us,
    /// Gauge: receive→durable latency, 99th percentile, microseconds.
    latency_p99_us,
    /// Gauge: receive→durable latency, 99.9th percentile, microseconds.
    latency_p999_us,
    /// Gauge: AMQP workers consuming from their queue now.
    workers_consuming,
    /// Broker connections established (more than the worker count means reconnects).
    connects,
    /// Plaintext lines longer than `ingest::socket::MAX_LINE` bytes, dropped (the connection carries on).
    lines_too_long,
    /// TCP connections accepted by the socket receivers.
    connections_accepted,
    /// TCP connections closed at once because `receivers.max_connections` were open.
    connections_refused,
    /// Gauge: TCP connections open on the socket receivers.
    active_connections,
    /// CarbonLink connections closed at once because `[query] max_connections` were open.
    carbonlink_connections_refused,
    /// CarbonLink connections closed because the client stalled inside a request (or took no answer) for
    /// `[query] carbonlink_idle_timeout_ms`, or had been idle that long when a newcomer needed its slot.
    carbonlink_idle_timeouts,
    /// HTTP API connections closed at once because `[query] http_max_connections` were open.
    http_connections_refused,
    /// UDP datagrams received.
    udp_datagrams,
    /// Pickle frames refused (forbidden opcode, truncation, bad shape …); each closes its connection.
    pickle_errors,
    /// Pickle frames announcing more than `receivers.max_pickle_frame` bytes; each closes its connection.
    pickle_frames_too_large,
    /// Series queued for registration with graphite-web's tag database.
    tags_queued,
    /// Series not registered: the tag queue was full, or their POST failed for good.
    tags_dropped,
    /// Series registered (in POSTs graphite-web answered with 200).
    tags_registered,
    /// POSTs to graphite-web's `/tags/tagMultiSeries` (retries included).
    tag_requests,
    /// Failed POSTs (each retry counts).
    tag_errors,
    /// Points dropped because their name matched the blacklist (carbon's blacklistMatches).
    blacklist_matches,
    /// Points dropped because their name matched no whitelist pattern (carbon's whitelistRejects).
    whitelist_rejects,
    /// Points renamed by a rewrite rule.
    names_rewritten,
    /// Points dropped because a rewrite rule turned their name into one warren refuses.
    rewrite_refused,
}

impl Stats {
    /// Count a connection established to node `i` of the URL list.
    pub fn node_connected(&self, i: usize) {
        Stats::add(&self.node_connects[i.min(MAX_NODES - 1)], 1);
    }

    /// Add `n` to a counter.
    #[inline]
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// A per-thread log for bad input: every event is counted by the caller; at most `per_interval` lines are
/// logged each interval, and the number suppressed is reported when the interval ends.
pub struct BadInputLog {
    what: &'static str,
    per_interval: u32,
    interval: Duration,
    window_start: Instant,
    logged: u32,
    suppressed: u64,
}

impl BadInputLog {
    /// `what` names the input in every line ("amqp worker 0").
    pub fn new(what: &'static str) -> Self {
        BadInputLog {
            what,
            per_interval: 10,
            interval: Duration::from_secs(10),
            window_start: Instant::now(),
            logged: 0,
            suppressed: 0,
        }
    }

    /// Report one bad input: `reason` and the offending text (truncated to 120 bytes, escaped).
    pub fn report(&mut self, reason: &str, text: &[u8]) {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= self.interval {
            if self.suppressed > 0 {
                tracing::warn!(input = self.what, suppressed = self.suppressed, "more bad input not logged");
            }
            self.window_start = now;
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < self.per_interval {
            self.logged += 1;
            let shown = &text[..text.len().min(120)];
            tracing::warn!(
                input = self.what,
                reason,
                text = %shown.escape_ascii(),
                truncated = text.len() > 120,
                "bad input"
            );
        } else {
            self.suppressed += 1;
        }
    }
}
