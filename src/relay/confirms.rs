//! The confirm side of one broker connection: the delivery tags of its channel, the smoother that turns the
//! broker's out-of-order and `multiple` confirms into one confirm per tag, and the confirms received while the
//! publisher waited idle. A delivery tag means something only on the channel that assigned it, so all of this
//! lives and dies with its connection: a confirm received on a connection that is then lost must never reach the
//! next connection's smoother, where it would settle (as acked) messages that connection published under the same
//! tags, and make the smoother skip the broker's real confirms for them (those messages then stay unconfirmed
//! for good).
//!
//! Owns: the per-connection confirm state. Never touches: the buffer, sockets.

use amiquip::{Confirm, ConfirmSmoother};
use crossbeam::channel::{Receiver, TryRecvError};
use std::time::Duration;

/// Confirms of one channel in confirm mode.
pub struct Confirms {
    rx: Receiver<Confirm>,
    smoother: ConfirmSmoother,
    /// Received by [`Confirms::wait`], handed out by the next [`Confirms::drain`] (the smoother must see
    /// every confirm, in the order received).
    stashed: Vec<Confirm>,
    next_tag: u64,
}

/// What one [`Confirms::drain`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Confirms as the broker sent them (a `multiple` one counts once).
    pub raw: usize,
    /// The channel is gone (the connection failed): no confirm will come any more.
    pub closed: bool,
}

impl Confirms {
    /// A fresh channel: the first publish gets tag 1.
    pub fn new(rx: Receiver<Confirm>) -> Confirms {
        Confirms { rx, smoother: ConfirmSmoother::new(), stashed: Vec::new(), next_tag: 1 }
    }

    /// The delivery tag of a message just published on this channel.
    pub fn take_tag(&mut self) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        tag
    }

    /// Wait up to `wait` for a confirm, kept for the next [`Confirms::drain`].
    pub fn wait(&mut self, wait: Duration) {
        if let Ok(c) = self.rx.recv_timeout(wait) {
            self.stashed.push(c);
        }
    }

    /// Append to `out` every confirm received so far (the stashed ones first), one per tag, in tag order.
    pub fn drain(&mut self, out: &mut Vec<Confirm>) -> Drained {
        let mut d = Drained::default();
        let mut stashed = std::mem::take(&mut self.stashed).into_iter();
        loop {
            let c = match stashed.next() {
                Some(c) => c,
                None => match self.rx.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        d.closed = true;
                        break;
                    }
                },
            };
            d.raw += 1;
            out.extend(self.smoother.process(c));
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::buffer::Buffer;
    use amiquip::ConfirmPayload;
    use std::time::Instant;

    fn ack(delivery_tag: u64, multiple: bool) -> Confirm {
        Confirm::Ack(ConfirmPayload { delivery_tag, multiple })
    }

    /// Publish everything in the outbox on `conn` (as the publisher does, tags from the connection).
    fn publish_all(b: &mut Buffer, conn: &mut Confirms) {
        while let Some(m) = b.next_to_publish() {
            b.published(conn.take_tag(), m, Instant::now());
        }
    }

    /// Settle what `conn` drained; returns the settled tags.
    fn settle(b: &mut Buffer, conn: &mut Confirms) -> Vec<u64> {
        let mut out = Vec::new();
        conn.drain(&mut out);
        out.iter()
            .filter_map(|c| match c {
                Confirm::Ack(p) => b.settle(p.delivery_tag).map(|f| f.tag),
                Confirm::Nack(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_confirm_received_idle_on_a_lost_connection_never_settles_what_the_next_one_published() {
        let mut b = Buffer::default();
        for k in ["a", "b", "c"] {
            b.add(k, 1.0, 10);
        }
        b.flush(10);
        // Connection 1: three messages published; the broker's confirm of all three arrives while the publisher
        // waits idle, then the connection fails before the next settle (a publish fails: broker restart).
        let (tx1, rx1) = crossbeam::channel::unbounded();
        let mut conn1 = Confirms::new(rx1);
        publish_all(&mut b, &mut conn1);
        tx1.send(ack(3, true)).unwrap();
        conn1.wait(Duration::from_secs(5));
        assert_eq!(b.requeue_unconfirmed(), 3);
        drop(conn1);
        // Connection 2 republishes them under tags 1..=3: nothing is settled until this broker confirms.
        let (tx2, rx2) = crossbeam::channel::unbounded();
        let mut conn2 = Confirms::new(rx2);
        publish_all(&mut b, &mut conn2);
        assert_eq!(settle(&mut b, &mut conn2), Vec::<u64>::new());
        assert_eq!((b.unconfirmed_len(), b.held()), (3, 3));
        // Negative control: the stale confirm fed to connection 2's smoother would have settled all three.
        assert_eq!(ConfirmSmoother::new().process(ack(3, true)).count(), 3);
        // The broker's own confirms, out of order: each message settles exactly once.
        tx2.send(ack(2, false)).unwrap();
        assert_eq!(settle(&mut b, &mut conn2), Vec::<u64>::new());
        tx2.send(ack(1, false)).unwrap();
        assert_eq!(settle(&mut b, &mut conn2), [1, 2]);
        tx2.send(ack(3, true)).unwrap();
        assert_eq!(settle(&mut b, &mut conn2), [3]);
        assert!(b.is_empty());
    }

    #[test]
    fn stashed_confirms_come_first_and_a_closed_channel_is_reported_after_them() {
        let (tx, rx) = crossbeam::channel::unbounded();
        let mut conn = Confirms::new(rx);
        assert_eq!((conn.take_tag(), conn.take_tag()), (1, 2));
        tx.send(ack(1, false)).unwrap();
        conn.wait(Duration::from_secs(5));
        tx.send(ack(2, false)).unwrap();
        drop(tx);
        let mut out = Vec::new();
        assert_eq!(conn.drain(&mut out), Drained { raw: 2, closed: true });
        assert_eq!(out, [ack(1, false), ack(2, false)]);
    }
}
