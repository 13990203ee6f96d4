//! The unit that travels from a producer (AMQP worker, socket receiver) to the writer.
//!
//! A batch owns the delivery body it was parsed from (moved out of the AMQP delivery, not copied) and the parsed
//! points, whose names are byte ranges of that body or, in routing-key mode, the routing key. Names in a batch
//! have already passed [`crate::metric::validate`].

use std::time::Instant;

/// Who must be told when every point of a batch is durable, and how to name the batch to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckTicket {
    /// Index of the producer (its ring and completion channel).
    pub producer: u16,
    /// The producer's connection generation: completions for an older connection are ignored.
    pub generation: u32,
    /// The AMQP delivery tag on that connection's channel.
    pub tag: u64,
}

/// Where a point's metric name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRef {
    /// The batch's routing key.
    Key,
    /// `body[start..start + len]`.
    Body { start: u32, len: u32 },
}

/// One parsed, validated point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchPoint {
    pub name: NameRef,
    pub timestamp: u32,
    pub value: f64,
}

/// Points parsed from one delivery (or one read from a socket), in arrival order.
#[derive(Debug)]
pub struct Batch {
    /// `Some` when a producer waits for this batch to be durable before acking.
    pub ack: Option<AckTicket>,
    /// The AMQP routing key (the metric name in routing-key mode); empty otherwise.
    pub key: String,
    /// The body the points' names point into.
    pub body: Vec<u8>,
    pub points: Vec<BatchPoint>,
    /// When the producer received the data: the start of the receive→durable latency.
    pub received: Instant,
}

impl Batch {
    /// The name bytes of `p` (valid UTF-8, validated by the producer).
    #[inline]
    pub fn name_of(&self, p: &BatchPoint) -> &[u8] {
        match p.name {
            NameRef::Key => self.key.as_bytes(),
            NameRef::Body { start, len } => &self.body[start as usize..(start + len) as usize],
        }
    }
}
