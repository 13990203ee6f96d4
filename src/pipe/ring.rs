//! The bounded hand-off from producers to the writer: one lock-free ring per producer, plus flow control.
//!
//! Each producer (AMQP worker, socket receiver) owns one `crossbeam::queue::ArrayQueue`; only the writer pops.
//! A full ring makes the producer wait, which (for AMQP) stops it acking, which makes the broker stop at the
//! prefetch limit. The writer raises `paused` while the cache is over its cap; producers do not push while it is
//! raised. Completions (batch durable) go back on one unbounded channel per producer: never more than the
//! producer's in-flight batches, so bounded by prefetch.

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
    pub fn push(&self, batch: Batch, mut give_up: impl FnMut() -> bool) -> Result<(), Box<Batch>> {
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
