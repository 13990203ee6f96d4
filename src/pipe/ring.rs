//! The bounded hand-off from producers to the writer: one lock-free ring per producer, plus flow control.
//!
//! Each producer (AMQP worker, socket receiver) owns one `crossbeam::queue::ArrayQueue`; only the writer pops.
//! A full ring makes the producer wait, which (for AMQP) stops it acking, which makes the broker stop at the
//! prefetch limit. The writer raises `paused` while the cache is over its cap; producers do not push while it is
//! raised. Completions (batch durable) go back on one unbounded channel per producer: never more than the
//! producer's in-flight batches, so bounded by prefetch.
//!
//! A batch the writer has taken in goes back to its producer to be freed ([`Rings::give_back`]; the producer
//! frees what came back at its next push). Its memory came from the producer's threads (the body from
//! amiquip's connection thread, the points from the worker), and glibc frees a chunk into the arena it came
//! from, under that arena's lock: freed by the writer, on the other core, each batch took a lock the producer's
//! threads were taking at the same time, and the writer slept on it ~50 times a drain (tuning/README.md, "A
//! fifth VM: what the writer waited for").

use super::batch::Batch;
use crossbeam::channel::{Receiver, Sender};
use crossbeam::queue::ArrayQueue;
use crossbeam::utils::Backoff;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

/// A completed batch, sent from the writer to its producer: delivery tags `tag .. tag + tags` are durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub generation: u32,
    pub tag: u64,
    pub tags: u32,
}

impl From<super::batch::AckTicket> for Completion {
    fn from(t: super::batch::AckTicket) -> Self {
        Completion { generation: t.generation, tag: t.tag, tags: 1 }
    }
}

/// The rings between all producers and the one writer.
pub struct Rings {
    rings: Vec<ArrayQueue<Batch>>,
    /// Batches taken in, back to their producer to be freed there (see the module's doc).
    spent: Vec<ArrayQueue<Batch>>,
    completions: Vec<Sender<Completion>>,
    writer: OnceLock<Thread>,
    paused: AtomicBool,
    /// Producers that have stopped for good (shutdown).
    finished: AtomicUsize,
}

/// A producer's end: push batches, receive completions.
pub struct Producer {
    pub id: u16,
    rings: Arc<Rings>,
    pub completions: Receiver<Completion>,
    finished: AtomicBool,
}

/// Spent batches waiting for their producer's next push, per producer; past it the consumer frees them itself.
pub const SPENT_CAPACITY: usize = 256;

impl Rings {
    /// `producers` rings of `capacity` batches each; returns the shared rings and each producer's end.
    pub fn new(producers: usize, capacity: usize) -> (Arc<Rings>, Vec<Producer>) {
        let mut senders = Vec::with_capacity(producers);
        let mut receivers = Vec::with_capacity(producers);
        for _ in 0..producers {
            let (s, r) = crossbeam::channel::unbounded();
            senders.push(s);
            receivers.push(r);
        }
        let rings = Arc::new(Rings {
            rings: (0..producers).map(|_| ArrayQueue::new(capacity.max(1))).collect(),
            spent: (0..producers).map(|_| ArrayQueue::new(SPENT_CAPACITY)).collect(),
            completions: senders,
            writer: OnceLock::new(),
            paused: AtomicBool::new(false),
            finished: AtomicUsize::new(0),
        });
        let ends = receivers
            .into_iter()
            .enumerate()
            .map(|(i, r)| Producer {
                id: i as u16,
                rings: rings.clone(),
                completions: r,
                finished: AtomicBool::new(false),
            })
            .collect();
        (rings, ends)
    }

    /// Number of producers.
    pub fn len(&self) -> usize {
        self.rings.len()
    }

    /// True when there are no producers.
    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// Called once by the writer thread so producers can wake it.
    pub fn set_writer(&self, t: Thread) {
        let _ = self.writer.set(t);
    }

    /// Pop one batch from producer `i`'s ring (writer only).
    #[inline]
    pub fn pop(&self, i: usize) -> Option<Batch> {
        self.rings[i].pop()
    }

    /// Hand `batch`, popped from ring `i` and done with, back to its producer to be freed on its thread; when
    /// [`SPENT_CAPACITY`] batches already wait there (a producer that stopped pushing), it is freed here.
    #[inline]
    pub fn give_back(&self, i: usize, batch: Batch) {
        if let Err(batch) = self.spent[i].push(batch) {
            drop(batch);
        }
    }

    /// Spent batches waiting for producer `i`.
    #[cfg(test)]
    fn spent(&self, i: usize) -> usize {
        self.spent[i].len()
    }

    /// Batches waiting in all rings (for stats).
    pub fn occupancy(&self) -> usize {
        self.rings.iter().map(ArrayQueue::len).sum()
    }

    /// Tell producer `i` that a batch is durable. A producer that has gone away is ignored.
    #[inline]
    pub fn complete(&self, i: u16, c: Completion) {
        if let Some(s) = self.completions.get(i as usize) {
            let _ = s.send(c);
        }
    }

    /// Raise or lower flow control (writer only).
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
    }

    /// True while the cache is over its cap and producers must not push.
    #[inline]
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// How many producers have called [`Producer::finish`].
    pub fn finished_producers(&self) -> usize {
        self.finished.load(Ordering::Acquire)
    }

    /// Wake the writer if it is sleeping (after a push, or a query).
    pub fn wake_writer(&self) {
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }
}

impl Producer {
    /// Hand a batch to the writer, waiting while the ring is full or flow control is on. Returns the batch
    /// back if `give_up()` becomes true while waiting (shutdown).
    /// Frees the spent batches the consumer gave back first.
    pub fn push(&self, batch: Batch, mut give_up: impl FnMut() -> bool) -> Result<(), Box<Batch>> {
        let spent = &self.rings.spent[self.id as usize];
        while let Some(b) = spent.pop() {
            drop(b);
        }
        let ring = &self.rings.rings[self.id as usize];
        let backoff = Backoff::new();
        let mut batch = batch;
        loop {
            if !self.rings.paused() {
                match ring.push(batch) {
                    Ok(()) => {
                        self.rings.wake_writer();
                        return Ok(());
                    }
                    Err(b) => batch = b,
                }
            }
            self.rings.wake_writer();
            if give_up() {
                return Err(Box::new(batch));
            }
            if backoff.is_completed() {
                std::thread::sleep(Duration::from_micros(200));
            } else {
                backoff.snooze();
            }
        }
    }

    /// True while flow control asks producers to hold back.
    pub fn paused(&self) -> bool {
        self.rings.paused()
    }

    /// Declare that this producer will push nothing more (shutdown). Idempotent.
    pub fn finish(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        self.rings.finished.fetch_add(1, Ordering::AcqRel);
        self.rings.wake_writer();
    }
}

/// A producer that goes away pushes nothing more: dropping it finishes it, so the writer never waits for a
/// producer whose thread was never started or has died.
impl Drop for Producer {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn batch(body: &[u8]) -> Batch {
        Batch {
            ack: None,
            key: String::new(),
            body: body.to_vec(),
            points: Vec::new(),
            parts: Vec::new(),
            received: Instant::now(),
        }
    }

    #[test]
    fn a_batch_given_back_is_freed_by_its_producer_at_its_next_push() {
        let (rings, producers) = Rings::new(2, 4);
        let p = &producers[1];
        p.push(batch(b"a 1 10\n"), || false).unwrap();
        let b = rings.pop(1).unwrap();
        assert_eq!(b.body, b"a 1 10\n");
        rings.give_back(1, b);
        assert_eq!((rings.spent(0), rings.spent(1)), (0, 1), "waits for producer 1, not producer 0");
        producers[0].push(batch(b"b 1 10\n"), || false).unwrap();
        assert_eq!(rings.spent(1), 1, "another producer's push leaves it");
        p.push(batch(b"c 1 10\n"), || false).unwrap();
        assert_eq!(rings.spent(1), 0, "freed by producer 1's next push");
        assert_eq!(rings.pop(1).unwrap().body, b"c 1 10\n", "and that push went through");
    }

    #[test]
    fn past_the_spent_capacity_the_consumer_frees_batches_itself() {
        let (rings, _producers) = Rings::new(1, 4);
        for _ in 0..SPENT_CAPACITY + 10 {
            rings.give_back(0, batch(b"x 1 10\n"));
        }
        assert_eq!(rings.spent(0), SPENT_CAPACITY, "a producer that stopped pushing holds at most this many");
    }
}
