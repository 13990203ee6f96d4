//! The writer's intake knobs: new file rules arriving on SIGHUP, and the drop-at-max rule when flow control is
//! off (carbon's USE_FLOW_CONTROL = False).
//!
//! Owns: nothing of its own (methods of [`Writer`]). Never touches: files.

use super::{NewRules, Writer};
use crate::stats::Stats;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Writer {
    /// Take new file rules from `rx` (each loop turn): files created after that follow them.
    pub fn with_rule_updates(mut self, rx: crossbeam::channel::Receiver<NewRules>) -> Self {
        self.rule_updates = Some(rx);
        self
    }

    pub(super) fn take_rule_updates(&mut self) {
        let Some(rx) = &self.rule_updates else { return };
        while let Ok(new) = rx.try_recv() {
            (self.cfg.rules, self.cfg.log_creates) = (new.rules, new.log_creates);
            tracing::info!("new storage-schemas / storage-aggregation rules in effect for new files");
        }
    }

    /// How many of `n` arriving points the cache takes: all of them with flow control (inputs pause instead),
    /// else what fits under `max_size`; the rest are dropped and counted, as carbon does without flow control.
    pub(super) fn room_for(&mut self, n: usize) -> usize {
        if self.cfg.flow_control {
            return n;
        }
        let keep = self.cfg.max_size.saturating_sub(self.cache.total_points()).min(n);
        if keep < n {
            Stats::add(&self.stats.overflow_dropped, (n - keep) as u64);
            if self.overflow_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                self.overflow_logged = Some(Instant::now());
                let dropped_total = self.stats.overflow_dropped.load(Ordering::Relaxed);
                tracing::warn!(
                    cap = self.cfg.max_size,
                    dropped_total,
                    "cache full (flow control off): dropping points"
                );
            }
        }
        keep
    }
}
