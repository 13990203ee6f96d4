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
    /// The AMQP delivery tag on that connection's channel (of the batch's first delivery if it has [`Part`]s).
    pub tag: u64,
}

/// One delivery of a batch that gathers several: its tag, and where its points end in [`Batch::points`] (they
/// start where the previous part's end). Each part is completed on its own, as if it were a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub tag: u64,
    pub end: u32,
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
    /// Empty: the batch is one delivery (`ack`'s tag). Else the deliveries it gathers, in order, covering every
    /// point; `ack` then names the producer and generation, and each part is completed with its own tag.
    pub parts: Vec<Part>,
    /// When the producer received the data: the start of the receive→durable latency.
    pub received: Instant,
}

impl Batch {
    /// Append `other`'s points (in order) to this batch: its body is copied after this one's, and names in its
    /// routing key become ranges of the body unless the key is this batch's. `self.ack` and `self.received`
    /// are kept; `other.points` is left empty (its buffer can be reused), its body and key are left as they were.
    ///
    /// The caller keeps the merged body under `u32::MAX` bytes (names are `u32` offsets).
    pub fn append(&mut self, other: &mut Batch) {
        let base = self.body.len();
        self.body.extend_from_slice(&other.body);
        let mut key_at = None;
        let same_key = other.key == self.key;
        for p in &mut other.points {
            p.name = match p.name {
                NameRef::Body { start, len } => NameRef::Body { start: start + base as u32, len },
                NameRef::Key if same_key => NameRef::Key,
                NameRef::Key => {
                    let start = *key_at.get_or_insert_with(|| {
                        let at = self.body.len();
                        self.body.extend_from_slice(other.key.as_bytes());
                        at
                    });
                    NameRef::Body { start: start as u32, len: other.key.len() as u32 }
                }
            };
        }
        self.points.append(&mut other.points);
    }

    /// The name bytes of `p` (valid UTF-8, validated by the producer).
    #[inline]
    pub fn name_of(&self, p: &BatchPoint) -> &[u8] {
        match p.name {
            NameRef::Key => self.key.as_bytes(),
            NameRef::Body { start, len } => &self.body[start as usize..(start + len) as usize],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(key: &str, body: &[u8], points: Vec<BatchPoint>) -> Batch {
        Batch { ack: None, key: key.into(), body: body.to_vec(), points, parts: Vec::new(), received: Instant::now() }
    }

    fn pt(name: NameRef, timestamp: u32) -> BatchPoint {
        BatchPoint { name, timestamp, value: f64::from(timestamp) }
    }

    fn names(b: &Batch) -> Vec<(String, u32)> {
        b.points.iter().map(|p| (String::from_utf8(b.name_of(p).to_vec()).unwrap(), p.timestamp)).collect()
    }

    #[test]
    fn appended_points_keep_their_names_and_order() {
        let mut a =
            batch("a.key", b"x.y 1 10\n", vec![pt(NameRef::Body { start: 0, len: 3 }, 10), pt(NameRef::Key, 11)]);
        let mut same = batch("a.key", b"", vec![pt(NameRef::Key, 12)]);
        let mut other =
            batch("b.key", b"zz.w 1 13\n", vec![pt(NameRef::Key, 14), pt(NameRef::Body { start: 0, len: 4 }, 13)]);
        a.append(&mut same);
        a.append(&mut other);
        assert!(same.points.is_empty() && other.points.is_empty());
        let want = [("x.y", 10), ("a.key", 11), ("a.key", 12), ("b.key", 14), ("zz.w", 13)];
        assert_eq!(names(&a), want.iter().map(|&(n, t)| (n.to_string(), t)).collect::<Vec<_>>());
        // The shared key stays a key reference; the other batch's key is copied once.
        assert_eq!(a.points[2].name, NameRef::Key);
        assert_eq!(a.body, b"x.y 1 10\nzz.w 1 13\nb.key");
    }
}
