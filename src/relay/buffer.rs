//! The relay's bounded buffer: points grouped per metric until the next flush, then messages waiting to be
//! published, then messages published and not yet confirmed. Every point the relay accepted is in exactly one of
//! the three until the broker confirms it.
//!
//! A flush appends a metric's points to the message of that metric still waiting in the outbox (up to the
//! per-message cap) instead of queueing one more message: while the broker keeps up a message holds one flush
//! interval of points, and when it falls behind (a reconnect, a slow broker) the waiting messages grow instead of
//! multiplying, so the backlog drains in a few large messages rather than one tiny message per metric per
//! interval (the broker's cost is per message: persisting and confirming a 5-point message costs about what a
//! 1,000-point one does).
//!
//! Owns: the grouping and the accounting of held points. Never touches: sockets, the broker.

use crate::pipe::batch::Batch;
use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::time::Instant;

/// One message: routing key = metric name, body = `value timestamp\n` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    pub key: String,
    pub body: Vec<u8>,
    pub points: u32,
    /// Published before (on an earlier connection, or nacked): counts as republished when sent again.
    pub retry: bool,
}

/// A published message waiting for its confirm.
#[derive(Debug)]
pub struct InFlight {
    pub tag: u64,
    pub msg: Msg,
    pub sent: Instant,
}

/// Points grouped per metric, the publish queue and the unconfirmed window.
#[derive(Debug, Default)]
pub struct Buffer {
    pending: HashMap<String, (Vec<u8>, u32)>,
    pending_points: usize,
    /// Messages published before (requeued after a lost connection or a nack), oldest first: published first,
    /// never grown.
    retries: VecDeque<Msg>,
    /// Messages never published, oldest first; a flush grows the last one of each metric.
    fresh: VecDeque<Msg>,
    /// How many messages ever left the front of `fresh`: the message with sequence number `s` is at index
    /// `s - fresh_popped`.
    fresh_popped: u64,
    /// The sequence number of each metric's last message in `fresh` (absent once it left the queue).
    last_fresh: HashMap<String, u64>,
    outbox_points: usize,
    /// Published, unconfirmed, in tag order.
    unconfirmed: VecDeque<InFlight>,
    unconfirmed_points: usize,
}

impl Buffer {
    /// Points held in all three stages.
    pub fn held(&self) -> usize {
        self.pending_points + self.outbox_points + self.unconfirmed_points
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held() == 0 && self.outbox_len() == 0 && self.unconfirmed.is_empty()
    }

    /// Points waiting for the next flush.
    pub fn pending_points(&self) -> usize {
        self.pending_points
    }

    /// Messages waiting to be published.
    pub fn outbox_len(&self) -> usize {
        self.retries.len() + self.fresh.len()
    }

    /// The messages waiting to be published, in publishing order.
    pub fn outbox(&self) -> impl Iterator<Item = &Msg> {
        self.retries.iter().chain(self.fresh.iter())
    }

    /// Messages published and not yet confirmed.
    pub fn unconfirmed_len(&self) -> usize {
        self.unconfirmed.len()
    }

    /// Group every point of `batch` under its metric. Returns how many points were taken.
    pub fn absorb(&mut self, batch: &Batch) -> usize {
        for p in &batch.points {
            // Invariant: producers put only validated (hence UTF-8) names in batches.
            let key = std::str::from_utf8(batch.name_of(p)).unwrap_or_default();
            if !self.pending.contains_key(key) {
                self.pending.insert(key.to_string(), (Vec::with_capacity(32), 0));
            }
            // Invariant: inserted just above when absent.
            let Some(entry) = self.pending.get_mut(key) else { continue };
            push_point(&mut entry.0, p.value, p.timestamp);
            entry.1 += 1;
        }
        self.pending_points += batch.points.len();
        batch.points.len()
    }

    /// Add one point (self-metrics).
    pub fn add(&mut self, name: &str, value: f64, timestamp: u32) {
        let e = self.pending.entry(name.to_string()).or_default();
        push_point(&mut e.0, value, timestamp);
        e.1 += 1;
        self.pending_points += 1;
    }

    /// Move everything pending to the outbox: each metric's points are appended to its last waiting (never
    /// published) message while it has fewer than `max_points` points, the rest goes into new messages of at
    /// most `max_points` points each. A metric's points stay in the order they were received.
    pub fn flush(&mut self, max_points: usize) {
        let max_points = max_points.max(1) as u32;
        // Taken out and put back (emptied) so that its allocation is reused.
        let mut pending = std::mem::take(&mut self.pending);
        for (key, (body, points)) in pending.drain() {
            self.enqueue(key, &body, points, max_points);
        }
        self.pending = pending;
        self.outbox_points += self.pending_points;
        self.pending_points = 0;
    }

    /// Append `points` lines of `body` for `key` to the fresh queue (see [`Buffer::flush`]).
    fn enqueue(&mut self, key: String, mut body: &[u8], mut points: u32, max_points: u32) {
        if let Some(&seq) = self.last_fresh.get(&key) {
            // Invariant: `last_fresh` only names messages still in `fresh` (removed when they leave it).
            if let Some(last) = self.fresh.get_mut((seq - self.fresh_popped) as usize) {
                let room = max_points.saturating_sub(last.points);
                let (head, tail) = split_lines(body, room.min(points));
                let taken = points.min(room);
                last.body.extend_from_slice(head);
                last.points += taken;
                (body, points) = (tail, points - taken);
            }
        }
        while points > 0 {
            let n = points.min(max_points);
            let (head, tail) = split_lines(body, n);
            let seq = self.fresh_popped + self.fresh.len() as u64;
            self.fresh.push_back(Msg { key: key.clone(), body: head.to_vec(), points: n, retry: false });
            self.last_fresh.insert(key.clone(), seq);
            (body, points) = (tail, points - n);
        }
    }

    /// Take the next message to publish: messages published before come first.
    pub fn next_to_publish(&mut self) -> Option<Msg> {
        let m = match self.retries.pop_front() {
            Some(m) => m,
            None => {
                let m = self.fresh.pop_front()?;
                if self.last_fresh.get(&m.key) == Some(&self.fresh_popped) {
                    self.last_fresh.remove(&m.key);
                }
                self.fresh_popped += 1;
                m
            }
        };
        self.outbox_points -= m.points as usize;
        Some(m)
    }

    /// Put a message back at the head of the outbox (its publish failed, or the broker nacked it); it is not
    /// grown any more.
    pub fn unpublish(&mut self, m: Msg) {
        self.outbox_points += m.points as usize;
        if m.retry {
            self.retries.push_front(m);
        } else {
            // It left the front of `fresh` last (`last_fresh` no longer names it): it takes its place back.
            self.fresh_popped -= 1;
            self.fresh.push_front(m);
        }
    }

    /// Record `msg` as published with delivery tag `tag`.
    pub fn published(&mut self, tag: u64, msg: Msg, sent: Instant) {
        debug_assert!(self.unconfirmed.back().is_none_or(|b| b.tag < tag), "tags grow on one connection");
        self.unconfirmed_points += msg.points as usize;
        self.unconfirmed.push_back(InFlight { tag, msg, sent });
    }

    /// The broker settled `tag` (ack or nack): remove it from the window. `None` when the tag is unknown.
    pub fn settle(&mut self, tag: u64) -> Option<InFlight> {
        let i = if self.unconfirmed.front().is_some_and(|f| f.tag == tag) {
            0
        } else {
            // In tag order (see the field): a binary search, not a scan of the window.
            self.unconfirmed.binary_search_by_key(&tag, |f| f.tag).ok()?
        };
        let f = self.unconfirmed.remove(i)?;
        self.unconfirmed_points -= f.msg.points as usize;
        Some(f)
    }

    /// The connection is gone: every unconfirmed message goes back to the head of the outbox, in order, marked
    /// for republishing. Returns how many messages.
    pub fn requeue_unconfirmed(&mut self) -> usize {
        let n = self.unconfirmed.len();
        while let Some(mut f) = self.unconfirmed.pop_back() {
            self.unconfirmed_points -= f.msg.points as usize;
            f.msg.retry = true;
            self.unpublish(f.msg);
        }
        n
    }
}

/// The first `n` lines of `body` (`\n`-terminated) and the rest.
fn split_lines(body: &[u8], n: u32) -> (&[u8], &[u8]) {
    if n == 0 {
        return (&[], body);
    }
    let end =
        body.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(n as usize - 1).map_or(body.len(), |(i, _)| i + 1);
    body.split_at(end)
}

/// Append `value timestamp\n`; the value in Rust's shortest round-trip form (the cache parses it back exactly).
fn push_point(body: &mut Vec<u8>, value: f64, timestamp: u32) {
    // Writing to a Vec cannot fail.
    let _ = writeln!(body, "{value} {timestamp}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::parse_body;

    fn batch(text: &[u8]) -> Batch {
        let (mut points, mut renamed) = (Vec::new(), Vec::new());
        parse_body(b"", text, true, 0, &mut points, &mut renamed, |_| {});
        let mut body = text.to_vec();
        body.extend_from_slice(&renamed);
        Batch { ack: None, key: String::new(), body, points, parts: Vec::new(), received: Instant::now() }
    }

    #[test]
    fn points_of_one_metric_go_in_one_message_split_at_the_cap() {
        let mut b = Buffer::default();
        b.absorb(&batch(b"a.b 1 10\nc.d 2.5 10\na.b 3 20\na.b -4e-7 30\n"));
        assert_eq!(b.held(), 4);
        b.flush(2);
        let mut msgs: Vec<_> =
            b.outbox().map(|m| (m.key.clone(), String::from_utf8(m.body.clone()).unwrap(), m.points)).collect();
        msgs.sort();
        assert_eq!(
            msgs,
            vec![
                ("a.b".into(), "-0.0000004 30\n".into(), 1),
                ("a.b".into(), "1 10\n3 20\n".into(), 2),
                ("c.d".into(), "2.5 10\n".into(), 1)
            ]
        );
        assert_eq!(b.held(), 4);
    }

    #[test]
    fn unconfirmed_messages_return_to_the_outbox_in_order_on_reconnect() {
        let mut b = Buffer::default();
        b.absorb(&batch(b"a 1 10\nb 2 10\nc 3 10\n"));
        b.flush(10);
        let now = Instant::now();
        for tag in 1..=3 {
            let m = b.next_to_publish().unwrap();
            b.published(tag, m, now);
        }
        assert_eq!(b.settle(2).map(|f| f.msg.points), Some(1));
        assert!(b.settle(2).is_none());
        assert_eq!(b.requeue_unconfirmed(), 2);
        assert_eq!(b.held(), 2);
        let keys: Vec<_> = b.outbox().map(|m| (m.key.as_str(), m.retry)).collect();
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|(_, r)| *r));
        while let Some(m) = b.next_to_publish() {
            b.published(9, m, now);
            b.settle(9);
        }
        assert!(b.is_empty());
    }

    /// `metrics` metrics × `points` points each, values `first..first + points` (timestamp = value).
    fn interval(metrics: usize, points: u32, first: u32) -> Batch {
        let mut text = String::new();
        for v in first..first + points {
            for m in 0..metrics {
                text.push_str(&format!("m{m} {v} {v}\n"));
            }
        }
        batch(text.as_bytes())
    }

    /// (key, points) of every waiting message, in publishing order.
    fn shape(b: &Buffer) -> Vec<(String, u32)> {
        b.outbox().map(|m| (m.key.clone(), m.points)).collect()
    }

    #[test]
    fn a_backlog_of_flush_intervals_grows_the_waiting_messages_instead_of_multiplying_them() {
        // The broker-restart incident: 200 metrics, 5 points each per 50 ms flush, nothing published for 25 s
        // (500 flushes, 500,000 points). One message per metric per flush would be 100,000 messages of 5 points.
        let mut b = Buffer::default();
        for i in 0..500 {
            b.absorb(&interval(200, 5, i * 5));
            b.flush(1000);
        }
        assert_eq!(b.held(), 500_000);
        assert_eq!(b.outbox_len(), 600);
        for m in 0..200 {
            let key = format!("m{m}");
            let msgs: Vec<&Msg> = b.outbox().filter(|x| x.key == key).collect();
            assert_eq!(msgs.iter().map(|x| x.points).collect::<Vec<_>>(), [1000, 1000, 500], "{key}");
            // Every point once, in the order received.
            let body: Vec<u8> = msgs.iter().flat_map(|x| x.body.iter().copied()).collect();
            let want: String = (0..2500).map(|v| format!("{v} {v}\n")).collect();
            assert_eq!(String::from_utf8(body).unwrap(), want, "{key}");
        }
        let mut n = 0;
        while let Some(m) = b.next_to_publish() {
            b.published(n, m, Instant::now());
            assert!(b.settle(n).is_some());
            n += 1;
        }
        assert_eq!(n, 600);
        assert!(b.is_empty());
    }

    #[test]
    fn published_requeued_and_unpublished_messages_are_never_grown() {
        let mut b = Buffer::default();
        let now = Instant::now();
        b.absorb(&interval(1, 1, 0));
        b.flush(10);
        // In flight: a later flush starts a new message.
        let m = b.next_to_publish().unwrap();
        b.published(1, m, now);
        b.absorb(&interval(1, 1, 1));
        b.flush(10);
        assert_eq!(shape(&b), [("m0".into(), 1)]);
        // Requeued after a lost connection: published first, not grown; the next flush joins the fresh message.
        assert_eq!(b.requeue_unconfirmed(), 1);
        b.absorb(&interval(1, 2, 2));
        b.flush(10);
        assert_eq!(shape(&b), [("m0".into(), 1), ("m0".into(), 3)]);
        // A publish that failed: the message goes back to the head and is not grown either.
        let retry = b.next_to_publish().unwrap();
        assert!(retry.retry);
        assert_eq!(retry.body, b"0 0\n");
        let fresh = b.next_to_publish().unwrap();
        assert!(!fresh.retry);
        b.unpublish(fresh);
        b.unpublish(retry);
        b.absorb(&interval(1, 1, 4));
        b.flush(10);
        let order: Vec<(String, bool)> =
            b.outbox().map(|m| (String::from_utf8(m.body.clone()).unwrap(), m.retry)).collect();
        assert_eq!(order, [("0 0\n".into(), true), ("1 1\n2 2\n3 3\n".into(), false), ("4 4\n".into(), false)]);
        assert_eq!(b.held(), 5);
    }

    #[test]
    fn a_flush_fills_the_waiting_message_to_the_cap_then_starts_new_ones() {
        let mut b = Buffer::default();
        b.absorb(&interval(2, 3, 0));
        b.flush(4);
        b.absorb(&interval(2, 6, 3));
        b.flush(4);
        // m0 and m1 each: 3 points, then 1 more fills the first message to 4, then 4 and 1.
        let mut got = shape(&b);
        got.sort();
        assert_eq!(
            got,
            [
                ("m0".into(), 1),
                ("m0".into(), 4),
                ("m0".into(), 4),
                ("m1".into(), 1),
                ("m1".into(), 4),
                ("m1".into(), 4)
            ]
        );
        let m0: Vec<Vec<u8>> = b.outbox().filter(|m| m.key == "m0").map(|m| m.body.clone()).collect();
        assert_eq!(m0, [b"0 0\n1 1\n2 2\n3 3\n".to_vec(), b"4 4\n5 5\n6 6\n7 7\n".to_vec(), b"8 8\n".to_vec()]);
        assert_eq!(b.held(), 18);
    }
}
