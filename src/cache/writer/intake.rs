//! The writer's intake: batches into the cache (one ticket per delivery), completions into this turn's outbox,
//! new file rules arriving on SIGHUP, and the drop-at-max rule when flow control is off (carbon's
//! USE_FLOW_CONTROL = False).
//!
//! Owns: nothing of its own (methods of [`Writer`]). Never touches: files.

use super::{NewRules, Writer};
use crate::cache::store::MetricId;
use crate::pipe::batch::{AckTicket, Batch};
use crate::pipe::ring::Completion;
use crate::stats::Stats;
use crate::whisper::Point;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Writer {
    /// Move `batch` into the cache. Each delivery it carries gets its own ticket (a batch gathering several
    /// deliveries has [`Batch::parts`]), so one delivery waiting for its file does not hold back the others' acks.
    pub(super) fn absorb(&mut self, batch: &Batch) {
        let keep = self.room_for(batch.points.len());
        let Some(t) = batch.ack else {
            self.cache_points(batch, 0, keep, None);
            return;
        };
        if batch.parts.is_empty() {
            self.open_part(batch, t, 0, keep);
            return;
        }
        let mut start = 0;
        for part in &batch.parts {
            let end = part.end as usize;
            self.open_part(batch, AckTicket { tag: part.tag, ..t }, start.min(keep), end.min(keep));
            start = end;
        }
    }

    /// Points `start..end` of `batch` are delivery `t`'s (after the drop-at-max rule): open its ticket, or
    /// complete it at once when none of its points is kept.
    fn open_part(&mut self, batch: &Batch, t: AckTicket, start: usize, end: usize) {
        if start == end {
            // Everything dropped (flow control off): the delivery is resolved, so it is acked.
            self.complete(t);
            return;
        }
        let slot = self.tickets.open(t, (end - start) as u32, batch.received);
        self.cache_points(batch, start, end, Some(slot));
    }

    fn cache_points(&mut self, batch: &Batch, start: usize, end: usize, slot: Option<u32>) {
        let mut last: Option<(&[u8], MetricId)> = None;
        for p in &batch.points[start..end] {
            let name = batch.name_of(p);
            let id = match last {
                Some((n, id)) if same_name(n, name) => id,
                _ => {
                    let id = self.cache.intern(name);
                    last = Some((name, id));
                    id
                }
            };
            self.cache.push(id, Point { timestamp: p.timestamp, value: p.value }, slot);
        }
    }

    /// Queue the completion of delivery `t` for this turn's [`Writer::send_completions`], joined to the previous
    /// one when it continues its run of tags (one message, one wake-up and one ack for a run).
    pub(super) fn complete(&mut self, t: AckTicket) {
        if let Some((p, c)) = self.outbox.last_mut() {
            if *p == t.producer && c.generation == t.generation && c.tag + u64::from(c.tags) == t.tag {
                c.tags += 1;
                return;
            }
        }
        self.outbox.push((t.producer, Completion::from(t)));
    }

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

/// Whether `a` and `b` are the same name: the same bytes in memory (every point of a routing-key batch) or equal
/// bytes, the last byte compared first (consecutive names in a body mostly differ at the end, `….m00012` after
/// `….m00011`; `memcmp`, this compare's and the name index's, was 5 % of warren's samples in the steady body-100
/// drain).
#[inline]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.as_ptr() == b.as_ptr() || (a.last() == b.last() && a == b))
}

#[cfg(test)]
mod tests {
    use super::same_name;

    #[test]
    fn names_are_the_same_by_their_bytes_wherever_they_are() {
        let body = b"a.b.c a.b.c a.b.d a.b";
        assert!(same_name(&body[0..5], &body[0..5]), "one slice");
        assert!(same_name(&body[0..5], &body[6..11]), "equal bytes elsewhere");
        assert!(!same_name(&body[0..5], &body[12..17]), "the last byte differs");
        assert!(!same_name(b"x.b.c", b"a.b.c"), "only the first byte differs");
        assert!(!same_name(&body[0..5], &body[18..21]), "a prefix");
    }
}
