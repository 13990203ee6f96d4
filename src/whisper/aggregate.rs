//! Aggregation methods and the arithmetic of propagation, bit-for-bit as the reference (CPython 3.11) computes it.

use std::fmt;
use std::str::FromStr;

/// The eight aggregation methods, with the reference's on-disk codes (1..=8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregationMethod {
    /// Code 1: sum of the known values divided by their count.
    Average,
    /// Code 2: sum of the known values.
    Sum,
    /// Code 3: the last known value (in time order).
    Last,
    /// Code 4: the largest known value (the first one on ties).
    Max,
    /// Code 5: the smallest known value (the first one on ties).
    Min,
    /// Code 6: sum of the known values divided by the number of *all* slots (unknown count as 0).
    AvgZero,
    /// Code 7: the known value with the largest absolute value (the first one on ties).
    AbsMax,
    /// Code 8: the known value with the smallest absolute value (the first one on ties).
    AbsMin,
}

/// An aggregation method name that is not one of [`AggregationMethod::ALL`]'s names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown aggregation method '{0}' (expected one of average, sum, last, max, min, avg_zero, absmax, absmin)")]
pub struct UnknownAggregationMethod(pub String);

impl AggregationMethod {
    /// Every method, in on-disk code order.
    pub const ALL: [AggregationMethod; 8] = [
        AggregationMethod::Average,
        AggregationMethod::Sum,
        AggregationMethod::Last,
        AggregationMethod::Max,
        AggregationMethod::Min,
        AggregationMethod::AvgZero,
        AggregationMethod::AbsMax,
        AggregationMethod::AbsMin,
    ];

    /// The on-disk code (1..=8).
    pub fn code(self) -> u32 {
        match self {
            AggregationMethod::Average => 1,
            AggregationMethod::Sum => 2,
            AggregationMethod::Last => 3,
            AggregationMethod::Max => 4,
            AggregationMethod::Min => 5,
            AggregationMethod::AvgZero => 6,
            AggregationMethod::AbsMax => 7,
            AggregationMethod::AbsMin => 8,
        }
    }

    /// The method stored as `code`, or `None` for a code outside 1..=8.
    pub fn from_code(code: u32) -> Option<Self> {
        let index = usize::try_from(code.checked_sub(1)?).ok()?;
        Self::ALL.get(index).copied()
    }

    /// The reference's name ("average", "sum", "last", "max", "min", "avg_zero", "absmax", "absmin").
    pub fn name(self) -> &'static str {
        match self {
            AggregationMethod::Average => "average",
            AggregationMethod::Sum => "sum",
            AggregationMethod::Last => "last",
            AggregationMethod::Max => "max",
            AggregationMethod::Min => "min",
            AggregationMethod::AvgZero => "avg_zero",
            AggregationMethod::AbsMax => "absmax",
            AggregationMethod::AbsMin => "absmin",
        }
    }
}

impl fmt::Display for AggregationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AggregationMethod {
    type Err = UnknownAggregationMethod;

    /// Accepts exactly the reference's names (case-sensitive, as the reference is).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| UnknownAggregationMethod(s.to_string()))
    }
}

/// Python's `sum()` over floats in CPython 3.11: plain left-to-right addition from 0.
/// (CPython 3.12+ switched to compensated summation; the reference here is Debian's 3.11.)
fn py_sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |acc, v| acc + v)
}

/// First element winning ties, as Python's `max`/`min` (replace only on a strict comparison).
fn pick(known: &[f64], better: impl Fn(f64, f64) -> bool) -> f64 {
    let mut best = known[0];
    for &v in &known[1..] {
        if better(v, best) {
            best = v;
        }
    }
    best
}

/// Aggregate one propagation window. `neighbors` are all the window's slots (`None` = unknown), `known` the known
/// values in time order. Contract: `known` is non-empty (the caller writes nothing when no value is known).
pub(crate) fn aggregate(method: AggregationMethod, known: &[f64], neighbors: &[Option<f64>]) -> f64 {
    debug_assert!(!known.is_empty());
    match method {
        AggregationMethod::Average => py_sum(known.iter().copied()) / known.len() as f64,
        AggregationMethod::Sum => py_sum(known.iter().copied()),
        // Contract above: `known` is non-empty.
        AggregationMethod::Last => known[known.len() - 1],
        AggregationMethod::Max => pick(known, |v, best| v > best),
        AggregationMethod::Min => pick(known, |v, best| v < best),
        // `x or 0` in the reference: unknown and zero both count as 0.
        AggregationMethod::AvgZero => py_sum(neighbors.iter().map(|v| v.unwrap_or(0.0))) / neighbors.len() as f64,
        AggregationMethod::AbsMax => pick(known, |v, best| v.abs() > best.abs()),
        AggregationMethod::AbsMin => pick(known, |v, best| v.abs() < best.abs()),
    }
}

/// [`aggregate`] one slot at a time, in time order, without collecting the slots: the same additions in the same
/// order and the same first-wins comparisons, so the same bits. Propagation aggregates every window this way.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Streaming {
    method: AggregationMethod,
    /// Slots seen, known values seen.
    slots: usize,
    known: usize,
    /// The running sum (of known values; of every slot, unknown as 0, for avg_zero) or the value picked so far.
    acc: f64,
}

impl Streaming {
    pub(crate) fn new(method: AggregationMethod) -> Self {
        Streaming { method, slots: 0, known: 0, acc: 0.0 }
    }

    /// Add the next slot of the window (`None`: unknown).
    #[inline]
    pub(crate) fn push(&mut self, value: Option<f64>) {
        self.slots += 1;
        let Some(v) = value else {
            if self.method == AggregationMethod::AvgZero {
                // `x or 0`: the reference adds 0 for an unknown slot (which turns a -0.0 sum into 0.0).
                self.acc += 0.0;
            }
            return;
        };
        self.known += 1;
        let first = self.known == 1;
        self.acc = match self.method {
            AggregationMethod::Average | AggregationMethod::Sum | AggregationMethod::AvgZero => self.acc + v,
            AggregationMethod::Last => v,
            AggregationMethod::Max => pick_next(first, self.acc, v, v > self.acc),
            AggregationMethod::Min => pick_next(first, self.acc, v, v < self.acc),
            AggregationMethod::AbsMax => pick_next(first, self.acc, v, v.abs() > self.acc.abs()),
            AggregationMethod::AbsMin => pick_next(first, self.acc, v, v.abs() < self.acc.abs()),
        };
    }

    /// (known slots, all slots) so far.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.known, self.slots)
    }

    /// What [`aggregate`] returns for the slots pushed; `None` when none was known (its contract).
    pub(crate) fn finish(&self) -> Option<f64> {
        if self.known == 0 {
            return None;
        }
        Some(match self.method {
            AggregationMethod::Average => self.acc / self.known as f64,
            AggregationMethod::AvgZero => self.acc / self.slots as f64,
            _ => self.acc,
        })
    }
}

/// The value [`pick`] holds after looking at `v`: `v` if it is the first or `better`.
#[inline]
fn pick_next(first: bool, best: f64, v: f64, better: bool) -> f64 {
    if first || better {
        v
    } else {
        best
    }
}

/// The reference's `whisper.aggregate(method, known, neighbors)` for callers outside propagation
/// (whisper-resize.py --aggregate, which may pass no known value): `None` where the reference raises (no known
/// value, for every method but sum and avg_zero; avg_zero without neighbors).
pub fn aggregate_values(method: AggregationMethod, known: &[f64], neighbors: &[Option<f64>]) -> Option<f64> {
    match method {
        AggregationMethod::Sum if known.is_empty() => Some(0.0),
        AggregationMethod::AvgZero if neighbors.is_empty() => None,
        AggregationMethod::AvgZero => Some(aggregate(method, &[0.0], neighbors)),
        _ if known.is_empty() => None,
        _ => Some(aggregate(method, known, neighbors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes_and_names_round_trip_for_every_method() {
        for (i, m) in AggregationMethod::ALL.into_iter().enumerate() {
            assert_eq!(m.code(), i as u32 + 1);
            assert_eq!(AggregationMethod::from_code(m.code()), Some(m));
            assert_eq!(m.name().parse::<AggregationMethod>(), Ok(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(AggregationMethod::from_code(0), None);
        assert_eq!(AggregationMethod::from_code(9), None);
        assert_eq!(AggregationMethod::from_code(u32::MAX), None);
    }

    #[test]
    fn unknown_method_name_is_rejected_with_the_name() {
        let err = "mean".parse::<AggregationMethod>().unwrap_err();
        assert!(err.to_string().contains("'mean'"), "{err}");
        assert!("Average".parse::<AggregationMethod>().is_err());
    }

    #[test]
    fn each_method_aggregates_like_the_reference() {
        let neighbors = [Some(3.0), None, Some(-5.0), Some(5.0), Some(0.0), None];
        let known = [3.0, -5.0, 5.0, 0.0];
        let agg = |m| aggregate(m, &known, &neighbors);
        assert_eq!(agg(AggregationMethod::Average), 0.75);
        assert_eq!(agg(AggregationMethod::Sum), 3.0);
        assert_eq!(agg(AggregationMethod::Last), 0.0);
        assert_eq!(agg(AggregationMethod::Max), 5.0);
        assert_eq!(agg(AggregationMethod::Min), -5.0);
        assert_eq!(agg(AggregationMethod::AvgZero), 0.5);
        // -5 and 5 tie on |x|: the first one wins, as with Python's max(key=abs).
        assert_eq!(agg(AggregationMethod::AbsMax), -5.0);
        assert_eq!(agg(AggregationMethod::AbsMin), 0.0);
    }

    /// The bits of `v`, every NaN as one: which NaN an addition of two NaNs returns is not specified (Rust leaves
    /// NaN payloads and signs of arithmetic results open, and the compiler may swap the operands of `+`), so
    /// `[NaN₁, NaN₂]` averages to either NaN; what must match is that it is NaN.
    fn bits(v: f64) -> u64 {
        if v.is_nan() {
            f64::NAN.to_bits()
        } else {
            v.to_bits()
        }
    }

    proptest! {
        /// Streaming gives the bits `aggregate` gives, for every method, infinities and signed zeros included (a
        /// NaN result as any NaN).
        #[test]
        fn streaming_matches_aggregate_bit_for_bit(
            slots in proptest::collection::vec(proptest::option::of(prop_oneof![
                proptest::num::f64::ANY,
                Just(-0.0),
                Just(0.0),
                (-3i8..3).prop_map(f64::from),
            ]), 1..12),
        ) {
            let known: Vec<f64> = slots.iter().flatten().copied().collect();
            for m in AggregationMethod::ALL {
                let mut s = Streaming::new(m);
                for &v in &slots {
                    s.push(v);
                }
                prop_assert_eq!(s.counts(), (known.len(), slots.len()));
                let expected = (!known.is_empty()).then(|| aggregate(m, &known, &slots));
                prop_assert_eq!(s.finish().map(bits), expected.map(bits), "{:?} {:?}", m, slots);
            }
        }
    }

    #[test]
    fn streaming_avg_zero_adds_the_zero_of_an_unknown_slot() {
        // -0.0 + 0.0 is 0.0: the unknown slot's 0 must be added, not skipped, to match the reference.
        let slots = [Some(-0.0), None];
        let mut s = Streaming::new(AggregationMethod::AvgZero);
        slots.iter().for_each(|&v| s.push(v));
        assert_eq!(s.finish().map(f64::to_bits), Some(0.0f64.to_bits()));
        assert_eq!(aggregate(AggregationMethod::AvgZero, &[-0.0], &slots).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn sum_adds_left_to_right_without_compensation() {
        // Compensated summation would give 2.0; CPython 3.11's sum() gives 0.0.
        let known = [1e16, 1.0, 1.0, -1e16];
        assert_eq!(aggregate(AggregationMethod::Sum, &known, &[]), 0.0);
    }
}
