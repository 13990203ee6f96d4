//! Point lists straight out of the arena: [`Decoder::decode_points`] walks `(name, (timestamp, value))` entries
//! without building [`crate::pickle::Value`]s (the pickle receiver's hot path).

use super::{Decoder, Kind, Slot};
use crate::pickle::{Limits, PickleError};

/// What [`decode_points`](crate::pickle::decode_points) did with one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PointCounts {
    /// Entries handed to the sink.
    pub points: usize,
    /// Entries of the wrong shape, skipped (each reported to the error callback).
    pub bad_entries: usize,
}

impl Decoder {
    /// As [`decode_points`](crate::pickle::decode_points), reusing this decoder's buffers: no allocation per point once they are warm.
    pub fn decode_points(
        &mut self,
        frame: &[u8],
        limits: &Limits,
        sink: &mut impl FnMut(&[u8], f64, f64),
        on_bad: &mut impl FnMut(usize, &'static str),
    ) -> Result<PointCounts, PickleError> {
        let (root, stop) = self.run(frame, limits)?;
        let root = match root {
            Slot::Node(n) if self.nodes[n].kind != Kind::Dict => n,
            _ => return Err(PickleError::NotASequence { offset: stop }),
        };
        // The byte budget, checked before the first point reaches the sink (a refused frame yields no points).
        // Without sharing, every string is read once: at most the frame plus the unescaped protocol-0 text.
        let budget = limits.byte_budget(frame.len());
        if self.shared || frame.len().saturating_add(self.owned.len()) > budget {
            let mut bytes = 0usize;
            for entry in self.items(root) {
                bytes = bytes.saturating_add(self.point_bytes(entry));
                if bytes > budget {
                    return Err(PickleError::TooManyBytes { max: budget });
                }
            }
        }
        let mut counts = PointCounts::default();
        for (index, entry) in self.items(root).enumerate() {
            match self.point(frame, entry) {
                Ok((name, ts, value)) => {
                    sink(name, ts, value);
                    counts.points += 1;
                }
                Err(reason) => {
                    on_bad(index, reason);
                    counts.bad_entries += 1;
                }
            }
        }
        Ok(counts)
    }

    /// The two items of a 2-item list or tuple.
    fn pair(&self, slot: Slot) -> Option<(Slot, Slot)> {
        match slot {
            Slot::Node(n) if self.nodes[n].kind != Kind::Dict && self.nodes[n].len == 2 => {
                let mut it = self.items(n);
                Some((it.next()?, it.next()?))
            }
            _ => None,
        }
    }

    /// A number the way carbon's `float()` takes it.
    fn number(&self, frame: &[u8], slot: Slot) -> Result<f64, &'static str> {
        match slot {
            Slot::Int(i) => Ok(i as f64),
            Slot::Float(f) => Ok(f),
            Slot::Bool(b) => Ok(f64::from(u8::from(b))),
            Slot::Big(i) => {
                let f = self.bigs[i].to_f64();
                if f.is_finite() {
                    Ok(f)
                } else {
                    Err("integer too large for a float")
                }
            }
            Slot::Atom(i) => std::str::from_utf8(self.atom_bytes(frame, &self.atoms[i]))
                .ok()
                .and_then(|s| s.trim_matches(|c: char| c.is_ascii_whitespace()).parse::<f64>().ok())
                .ok_or("text is not a number"),
            Slot::None | Slot::Node(_) => Err("not a number"),
        }
    }

    /// Bytes of text [`Decoder::point`] reads for `entry`: the name and numbers given as text.
    fn point_bytes(&self, entry: Slot) -> usize {
        let Some((Slot::Atom(name), datapoint)) = self.pair(entry) else { return 0 };
        let text = |slot: Slot| if let Slot::Atom(i) = slot { self.atoms[i].len } else { 0 };
        self.atoms[name].len + self.pair(datapoint).map_or(0, |(ts, value)| text(ts) + text(value))
    }

    fn point<'a>(&'a self, frame: &'a [u8], entry: Slot) -> Result<(&'a [u8], f64, f64), &'static str> {
        let (name, datapoint) = self.pair(entry).ok_or("entry is not a 2-item tuple or list")?;
        let Slot::Atom(name) = name else {
            return Err("metric name is not a string");
        };
        let name = self.atom_bytes(frame, &self.atoms[name]);
        let (ts, value) = self.pair(datapoint).ok_or("datapoint is not a 2-item tuple or list")?;
        let ts = self.number(frame, ts).map_err(|_| "timestamp is not a number")?;
        let value = self.number(frame, value).map_err(|_| "value is not a number")?;
        Ok((name, ts, value))
    }
}
