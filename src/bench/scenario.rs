//! The named benchmark scenarios: shapes of load that stress different parts of the pipeline.

/// One scenario: a default load shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Scenario {
    /// The name used on the command line.
    pub name: &'static str,
    /// Default number of metrics.
    pub metrics: u32,
    /// Default points per metric.
    pub points: u32,
    /// Points per message.
    pub per_msg: u32,
    /// Name-in-body messages (else routing key = metric name).
    pub name_in_body: bool,
    /// What it stresses.
    pub about: &'static str,
}

/// Every scenario `warren bench` knows.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "rk-1",
        metrics: 20_000,
        points: 5,
        per_msg: 1,
        name_in_body: false,
        about: "routing key = metric, one point per message: per-message overhead (broker and worker)",
    },
    Scenario {
        name: "rk-100",
        metrics: 20_000,
        points: 100,
        per_msg: 100,
        name_in_body: false,
        about: "routing key = metric, 100 consecutive points of one metric per message: one file update per message",
    },
    Scenario {
        name: "body-100",
        metrics: 20_000,
        points: 100,
        per_msg: 100,
        name_in_body: true,
        about: "name in body, 100 lines of consecutive metrics per message: parser and cache throughput",
    },
    Scenario {
        name: "many-metrics",
        metrics: 100_000,
        points: 2,
        per_msg: 1,
        name_in_body: false,
        about: "100k new files with few points: file creation and the descriptor LRU",
    },
    Scenario {
        name: "few-metrics",
        metrics: 100,
        points: 10_000,
        per_msg: 100,
        name_in_body: false,
        about: "100 metrics with 10k points each, 100 per message: long update_many runs",
    },
];

/// The scenario called `name`.
pub fn by_name(name: &str) -> Option<Scenario> {
    SCENARIOS.iter().copied().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_scenario_is_found_by_its_name() {
        for s in super::SCENARIOS {
            assert_eq!(super::by_name(s.name), Some(*s));
        }
        assert_eq!(super::by_name("nope"), None);
    }
}
