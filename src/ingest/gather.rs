//! Gathering deliveries: consecutive AMQP deliveries parsed into one batch for the writer, and the counters of
//! one burst, added to [`Stats`] once per burst.
//!
//! Owns: the parse buffers of one worker. Never touches: the channel (acks are [`super::amqp`]'s), files.

use super::parse::{parse_body, BadInput};
use crate::pipe::batch::{AckTicket, Batch, BatchPoint, Part};
use crate::pipe::ring::Producer;
use crate::stats::{BadInputLog, Stats};
use amiquip::Delivery;
use std::time::Instant;

/// Most deliveries taken into one batch.
pub(super) const GATHER_DELIVERIES: usize = 256;
/// A batch stops gathering at this many body bytes (names are `u32` offsets into the body).
const GATHER_BYTES: usize = 1 << 20;
/// A delivery with at least this many points goes to the writer as a batch of its own. Gathering pays for
/// deliveries of a few points (rk-1's one point each: one ring push and one writer wake-up serve hundreds of
/// them); appending a large one copies its body and points for nothing: the copies (and the growing buffers'
/// reallocations) were 4-7 % of warren's CPU samples in the steady body-100 drain (100 points per delivery).
const TRAVELS_ALONE_POINTS: usize = 32;

/// The counters of one burst of deliveries, added to [`Stats`] once per burst instead of once per delivery.
#[derive(Default)]
pub(super) struct Tally {
    deliveries: u64,
    redelivered: u64,
    points: u64,
    bad_lines: u64,
    nan_dropped: u64,
    rejected_names: u64,
}

impl Tally {
    pub(super) fn publish(&self, stats: &Stats) {
        Stats::add(&stats.deliveries, self.deliveries);
        Stats::add(&stats.points_received, self.points);
        for (c, n) in [
            (&stats.redelivered, self.redelivered),
            (&stats.bad_lines, self.bad_lines),
            (&stats.nan_dropped, self.nan_dropped),
            (&stats.rejected_names, self.rejected_names),
        ] {
            if n > 0 {
                Stats::add(c, n);
            }
        }
    }
}

/// Consecutive deliveries parsed into one batch for the writer: one ring push and one writer wake-up for all of
/// them (a delivery of many points is a batch of its own). Each delivery with points is a [`Part`] of it and is
/// completed on its own.
#[derive(Default)]
pub(super) struct Gather {
    batch: Option<Batch>,
    parts: Vec<Part>,
    /// Parse buffers, reused from delivery to delivery.
    points: Vec<BatchPoint>,
    renamed: Vec<u8>,
    /// Points of the last delivery parsed: the capacity a fresh points buffer starts with (when the last one
    /// left in a batch of its own).
    last_points: usize,
}

impl Gather {
    /// Parse `d`'s body into a batch of its own (body and key moved out of the delivery, not copied).
    pub(super) fn parse(
        &mut self,
        mut d: Delivery,
        name_in_body: bool,
        now: u32,
        tally: &mut Tally,
        log: &mut BadInputLog,
    ) -> (Delivery, Batch) {
        tally.deliveries += 1;
        tally.redelivered += u64::from(d.redelivered);
        let mut body = std::mem::take(&mut d.body);
        let key = std::mem::take(&mut d.routing_key);
        let mut points = std::mem::take(&mut self.points);
        points.clear();
        points.reserve(self.last_points);
        self.renamed.clear();
        let counts =
            parse_body(key.as_bytes(), &body, name_in_body, now, &mut points, &mut self.renamed, |b| match b {
                BadInput::Line { error, line } => log.report(error.reason(), line),
                BadInput::Name { error, name } => log.report(&error.to_string(), name),
            });
        body.extend_from_slice(&self.renamed);
        self.last_points = points.len();
        tally.points += counts.points as u64;
        tally.bad_lines += counts.bad_lines as u64;
        tally.nan_dropped += counts.nan_dropped as u64;
        tally.rejected_names += counts.rejected_names as u64;
        let received = match &self.batch {
            Some(b) => b.received,
            None => Instant::now(),
        };
        (d, Batch { ack: None, key, body, points, parts: Vec::new(), received })
    }

    /// Take back the point buffer of a batch that is not kept.
    pub(super) fn recycle(&mut self, b: Batch) {
        self.points = b.points;
    }

    /// True when the gathered batch must go before `b` is added: `b` does not fit in it any more, or one of the
    /// two is a delivery that travels alone ([`TRAVELS_ALONE_POINTS`]).
    pub(super) fn must_flush_before(&self, b: &Batch) -> bool {
        self.batch.as_ref().is_some_and(|g| {
            g.body.len() + b.body.len() + b.key.len() > GATHER_BYTES
                || b.points.len() >= TRAVELS_ALONE_POINTS
                || (self.parts.len() == 1 && g.points.len() >= TRAVELS_ALONE_POINTS)
        })
    }

    /// Add delivery `tag`'s batch `b`.
    pub(super) fn add(&mut self, tag: u64, mut b: Batch) {
        let end = match &mut self.batch {
            Some(g) => {
                g.append(&mut b);
                self.points = b.points;
                g.points.len()
            }
            None => {
                self.parts.clear();
                self.batch.insert(b).points.len()
            }
        };
        self.parts.push(Part { tag, end: end as u32 });
    }

    /// Hand the gathered batch (if any) to the writer, with a ticket when acking after persist. Fails only when
    /// `give_up()` became true while the ring was full (shutdown).
    pub(super) fn flush(
        &mut self,
        producer: &Producer,
        generation: u32,
        after_persist: bool,
        give_up: impl FnMut() -> bool,
    ) -> Result<(), ()> {
        let Some(mut b) = self.batch.take() else { return Ok(()) };
        let tag = self.parts.first().map_or(0, |p| p.tag);
        b.ack = after_persist.then_some(AckTicket { producer: producer.id, generation, tag });
        if self.parts.len() > 1 {
            b.parts = std::mem::take(&mut self.parts);
        }
        producer.push(b, give_up).map_err(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipe::batch::NameRef;

    fn delivery(points: usize, body_bytes: usize) -> Batch {
        Batch {
            ack: None,
            key: "k".into(),
            body: vec![b'x'; body_bytes],
            points: (0..points).map(|i| BatchPoint { name: NameRef::Key, timestamp: i as u32, value: 0.0 }).collect(),
            parts: Vec::new(),
            received: Instant::now(),
        }
    }

    #[test]
    fn small_deliveries_gather_and_a_large_one_travels_alone() {
        let large = TRAVELS_ALONE_POINTS;
        let mut g = Gather::default();
        assert!(!g.must_flush_before(&delivery(large, 10)), "nothing gathered yet");
        g.add(1, delivery(1, 10));
        assert!(!g.must_flush_before(&delivery(large - 1, 10)), "small ones gather");
        g.add(2, delivery(large - 1, 10));
        assert!(!g.must_flush_before(&delivery(1, 10)), "small ones gathered past a large one's size still gather");
        assert!(g.must_flush_before(&delivery(large, 10)), "a large one does not join them");
        assert!(g.must_flush_before(&delivery(1, GATHER_BYTES)), "nor one the batch's body has no room for");
        let mut g = Gather::default();
        g.add(1, delivery(large, 10));
        assert!(g.must_flush_before(&delivery(1, 10)), "nothing joins a large one");
    }
}
