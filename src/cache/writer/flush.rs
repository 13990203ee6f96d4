//! The final flush at stop: write everything still cached, ignoring rate limits, within bounds.
//!
//! Owns: nothing of its own (methods of [`Writer`]). Never touches: the rings.

use super::Writer;
use crate::cache::store::MetricId;
use crate::lifecycle::unix_now;
use crate::stats::Stats;
use std::time::{Duration, Instant};

/// Attempts the final flush gives a metric whose write or create fails with an I/O error (a full or read-only
/// disk) before leaving its points in the cache.
pub const FINAL_FLUSH_ATTEMPTS: u32 = 3;

/// The final flush gives up after this long even if writes still succeed (a very slow disk, a creator stuck on
/// a hung mount); what is left is handled as for a failed write.
pub const FINAL_FLUSH_DEADLINE: Duration = Duration::from_secs(600);

/// The state of the final flush at stop.
pub(super) struct FinalFlush {
    /// Metrics are handed out by `Cache::next(horizon)`, which ignores rate-limit and retry delays before it; a
    /// metric given up on is set to retry after it, so the flush never hands it out again.
    horizon: Instant,
    failures: std::collections::HashMap<MetricId, u32>,
}

impl Writer {
    /// Write everything still cached, ignoring rate limits (shutdown). Bounded: a metric whose write or create
    /// fails [`FINAL_FLUSH_ATTEMPTS`] times is given up, and the whole flush ends after [`FINAL_FLUSH_DEADLINE`].
    /// Points given up on stay in the cache: their AMQP deliveries are never completed, so they stay unacked and
    /// the broker redelivers them; points from the socket receivers (no ack to withhold) are lost, counted in
    /// `stop_dropped_points` and logged.
    pub(super) fn flush_all(&mut self) {
        let start = Instant::now();
        let horizon = start + Duration::from_secs(3600 * 24 * 365);
        self.final_flush = Some(FinalFlush { horizon, failures: Default::default() });
        while (self.cache.dirty_metrics() > 0 || self.creates_in_flight() > 0) && start.elapsed() < FINAL_FLUSH_DEADLINE
        {
            self.adopt_created();
            let Some(id) = self.cache.next(horizon) else {
                if self.creates_in_flight() > 0 {
                    self.wait_created(Duration::from_millis(50));
                    continue;
                }
                break;
            };
            self.write_metric(id, true, Instant::now(), unix_now());
        }
        let (metrics, unacked, lost) = self.cache.unwritten_points();
        if metrics > 0 {
            Stats::add(&self.stats.stop_dropped_points, lost as u64);
            tracing::error!(
                metrics,
                amqp_points_left_unacked = unacked,
                socket_points_lost = lost,
                "stop: cached points could not be written; AMQP deliveries stay unacked (the broker redelivers \
                 them), socket points are dropped"
            );
        }
    }

    /// When a metric whose write or create just failed may be tried again: in a second, or during the final
    /// flush at once, until its attempts are spent (then never, in this flush).
    pub(super) fn retry_after_failure(&mut self, id: MetricId) -> Instant {
        let Some(f) = self.final_flush.as_mut() else { return Instant::now() + Duration::from_secs(1) };
        let n = f.failures.entry(id).or_default();
        *n += 1;
        if *n >= FINAL_FLUSH_ATTEMPTS {
            f.horizon + Duration::from_secs(1)
        } else {
            Instant::now()
        }
    }
}
