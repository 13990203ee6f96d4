//! How new whisper files are shaped: the [`FileRules`] the writer asks at create time (storage-schemas.conf and
//! storage-aggregation.conf, or carbon's defaults), the [`NewRules`] a reload sends it, and the creates log line.
//! Owns: rule lookup for one metric. Never touches: files, the cache.

use crate::config::settings::Settings;
use crate::whisper::{AggregationMethod, ArchiveSpec};

/// How new files are shaped: storage-schemas.conf and storage-aggregation.conf, or anything else that answers.
pub trait FileRules: Send {
    /// The archive list for a new file of `metric`.
    fn archives(&self, metric: &str) -> Vec<ArchiveSpec>;
    /// Aggregation method and xFilesFactor for a new file of `metric`.
    fn aggregation(&self, metric: &str) -> (AggregationMethod, f32);
    /// The names of the schema and aggregation rules `metric` matches, for the creates log.
    fn rule_names(&self, _metric: &str) -> (&str, &str) {
        ("default", "default")
    }
}

/// Rules sent to a running writer (SIGHUP): they shape the files created from then on, as in carbon.
pub struct NewRules {
    pub rules: Box<dyn FileRules>,
    /// Log each create (carbon's LOG_CREATES).
    pub log_creates: bool,
}

/// carbon's defaults: 60 s points for 7 days, average, xff 0.5.
pub struct DefaultRules;

impl FileRules for DefaultRules {
    fn archives(&self, _metric: &str) -> Vec<ArchiveSpec> {
        vec![ArchiveSpec { seconds_per_point: 60, points: 10080 }]
    }
    fn aggregation(&self, _metric: &str) -> (AggregationMethod, f32) {
        (AggregationMethod::Average, 0.5)
    }
}

/// storage-schemas.conf + storage-aggregation.conf.
pub struct ConfRules {
    pub schemas: crate::config::StorageSchemas,
    pub aggregation: crate::config::StorageAggregation,
}

impl ConfRules {
    /// Load the files named in `s` (carbon's defaults for those not named), logging their warnings.
    pub fn load(s: &Settings) -> Result<ConfRules, crate::config::ConfigError> {
        let schemas = match &s.storage_schemas {
            Some(p) => crate::config::StorageSchemas::load(p)?,
            None => crate::config::StorageSchemas::default(),
        };
        let aggregation = match &s.storage_aggregation {
            Some(p) => crate::config::StorageAggregation::load(p)?,
            None => crate::config::StorageAggregation::default(),
        };
        for w in schemas.warnings().iter().chain(aggregation.warnings()) {
            tracing::warn!("{w}");
        }
        Ok(ConfRules { schemas, aggregation })
    }
}

impl FileRules for ConfRules {
    fn archives(&self, metric: &str) -> Vec<ArchiveSpec> {
        self.schemas.archives_for(metric).to_vec()
    }
    fn aggregation(&self, metric: &str) -> (AggregationMethod, f32) {
        self.aggregation.for_metric(metric)
    }
    fn rule_names(&self, metric: &str) -> (&str, &str) {
        (self.schemas.rule_for(metric).0, self.aggregation.rule_for(metric).0)
    }
}

/// Log one create on target `warren::creates` (carbon's LOG_CREATES): the metric, the rules it matched and
/// what the file got.
pub fn log_create(rules: &dyn FileRules, name: &str, archives: &[ArchiveSpec], method: AggregationMethod, xff: f32) {
    let (schema, agg_rule) = rules.rule_names(name);
    let retentions: Vec<String> = archives.iter().map(|a| format!("{}:{}", a.seconds_per_point, a.points)).collect();
    tracing::info!(
        target: "warren::creates",
        metric = %name,
        schema = %schema,
        aggregation_rule = %agg_rule,
        archives = %retentions.join(","),
        x_files_factor = xff,
        aggregation = %method.name(),
        "creating whisper file"
    );
}
