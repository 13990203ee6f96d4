//! The relay's bounded buffer: points grouped per metric until the next flush, then messages waiting to be
//! published, then messages published and not yet confirmed. Every point the relay accepted is in exactly one of
//! the three until the broker confirms it.
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
    /// Messages to publish, oldest first.
    pub outbox: VecDeque<Msg>,
    outbox_points: usize,
    /// Published, unconfirmed, in tag order.
    pub unconfirmed: VecDeque<InFlight>,
    unconfirmed_points: usize,
}

impl Buffer {
    /// Points held in all three stages.
    pub fn held(&self) -> usize {
        self.pending_points + self.outbox_points + self.unconfirmed_points
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held() == 0 && self.outbox.is_empty() && self.unconfirmed.is_empty()
    }

    /// Points waiting for the next flush.
    pub fn pending_points(&self) -> usize {
        self.pending_points
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

    /// Turn everything pending into messages of at most `max_points` points each, appended to the outbox.
    pub fn flush(&mut self, max_points: usize) {
        let max_points = max_points.max(1) as u32;
        for (key, (body, points)) in self.pending.drain() {
            if points <= max_points {
                self.outbox.push_back(Msg { key, body, points, retry: false });
                continue;
            }
            let mut start = 0;
            let mut n = 0;
            for (i, _) in body.iter().enumerate().filter(|(_, &b)| b == b'\n') {
                n += 1;
                if n == max_points {
                    self.outbox.push_back(Msg {
                        key: key.clone(),
                        body: body[start..=i].to_vec(),
                        points: n,
                        retry: false,
                    });
                    start = i + 1;
                    n = 0;
                }
            }
            if n > 0 {
                self.outbox.push_back(Msg { key, body: body[start..].to_vec(), points: n, retry: false });
            }
        }
        self.outbox_points += self.pending_points;
        self.pending_points = 0;
    }

    /// Take the next message to publish.
    pub fn next_to_publish(&mut self) -> Option<Msg> {
        let m = self.outbox.pop_front()?;
        self.outbox_points -= m.points as usize;
        Some(m)
    }

    /// Put a message back at the head of the outbox (its publish failed).
    pub fn unpublish(&mut self, m: Msg) {
        self.outbox_points += m.points as usize;
        self.outbox.push_front(m);
    }

    /// Record `msg` as published with delivery tag `tag`.
    pub fn published(&mut self, tag: u64, msg: Msg, sent: Instant) {
        self.unconfirmed_points += msg.points as usize;
        self.unconfirmed.push_back(InFlight { tag, msg, sent });
    }

    /// The broker settled `tag` (ack or nack): remove it from the window. `None` when the tag is unknown.
    pub fn settle(&mut self, tag: u64) -> Option<InFlight> {
        let i = if self.unconfirmed.front().is_some_and(|f| f.tag == tag) {
            0
        } else {
            self.unconfirmed.iter().position(|f| f.tag == tag)?
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
            b.outbox.iter().map(|m| (m.key.clone(), String::from_utf8(m.body.clone()).unwrap(), m.points)).collect();
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
        let keys: Vec<_> = b.outbox.iter().map(|m| (m.key.as_str(), m.retry)).collect();
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|(_, r)| *r));
        while let Some(m) = b.next_to_publish() {
            b.published(9, m, now);
            b.settle(9);
        }
        assert!(b.is_empty());
    }
}
