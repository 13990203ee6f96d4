//! The names of the eight aggregation methods as written in storage-aggregation.conf and whisper's tools.
//!
//! Owns: name → [`AggregationMethod`]. Kept apart so that config does not depend on how the whisper module
//! chooses to parse names.

use crate::whisper::AggregationMethod;

/// The method called `name` (exactly, lowercase, as the reference spells them: `average`, `sum`, `last`, `max`,
/// `min`, `avg_zero`, `absmax`, `absmin`); `None` for anything else.
pub fn parse_aggregation_method(name: &str) -> Option<AggregationMethod> {
    Some(match name {
        "average" => AggregationMethod::Average,
        "sum" => AggregationMethod::Sum,
        "last" => AggregationMethod::Last,
        "max" => AggregationMethod::Max,
        "min" => AggregationMethod::Min,
        "avg_zero" => AggregationMethod::AvgZero,
        "absmax" => AggregationMethod::AbsMax,
        "absmin" => AggregationMethod::AbsMin,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eight_reference_names_are_known_and_nothing_else() {
        let names = ["average", "sum", "last", "max", "min", "avg_zero", "absmax", "absmin"];
        let methods: Vec<_> = names.iter().filter_map(|n| parse_aggregation_method(n)).collect();
        assert_eq!(methods.len(), 8);
        for (i, a) in methods.iter().enumerate() {
            assert!(methods[i + 1..].iter().all(|b| a != b));
        }
        for bad in ["Average", "avg", "median", "", " sum"] {
            assert_eq!(parse_aggregation_method(bad), None, "{bad}");
        }
    }
}
