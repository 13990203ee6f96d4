//! Batches waiting to become durable: one slot per batch acked after persist, counting its points not yet
//! written. When the count reaches zero the producer is told (and acks the delivery).

use crate::pipe::batch::AckTicket;
use std::time::Instant;

/// A batch in flight.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub ticket: AckTicket,
    pub remaining: u32,
    pub received: Instant,
}

/// A slab of pending batches with a free list: slot numbers are small and reused.
#[derive(Debug, Default)]
pub struct Tickets {
    slots: Vec<Option<Pending>>,
    free: Vec<u32>,
    live: usize,
}

impl Tickets {
    /// Register a batch of `points` points; returns its slot.
    pub fn open(&mut self, ticket: AckTicket, points: u32, received: Instant) -> u32 {
        let p = Some(Pending { ticket, remaining: points, received });
        self.live += 1;
        match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = p;
                s
            }
            None => {
                self.slots.push(p);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// `n` points of `slot` are resolved (durable or dropped); returns the batch if that was its last.
    pub fn resolve(&mut self, slot: u32, n: u32) -> Option<Pending> {
        let p = self.slots.get_mut(slot as usize)?.as_mut()?;
        p.remaining = p.remaining.saturating_sub(n);
        if p.remaining > 0 {
            return None;
        }
        let done = self.slots[slot as usize].take();
        self.free.push(slot);
        self.live -= 1;
        done
    }

    /// Batches still waiting.
    pub fn live(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_completes_when_its_last_point_is_resolved_and_its_slot_is_reused() {
        let mut t = Tickets::default();
        let tk = AckTicket { producer: 0, generation: 1, tag: 9 };
        let s = t.open(tk, 3, Instant::now());
        assert!(t.resolve(s, 2).is_none());
        assert_eq!(t.resolve(s, 1).unwrap().ticket, tk);
        assert_eq!(t.live(), 0);
        assert!(t.resolve(s, 1).is_none(), "a resolved slot is free");
        assert_eq!(t.open(tk, 1, Instant::now()), s);
    }
}
