//! Configuration read at start and again on SIGHUP: retention definitions, storage-schemas.conf, storage-aggregation.conf,
//! carbon.conf and warren's own TOML. Owns: parsing and matching rules. Never touches: files being written,
//! threads, sockets.

pub mod aggregation;
pub mod aggregation_name;
pub mod archive_list;
mod carbon_apply;
pub mod carbon_conf;
pub mod carbon_policy;
pub mod front;
mod ini;
pub mod retention;
pub mod schemas;
pub mod settings;
pub mod whisper_settings;

pub use aggregation::StorageAggregation;
pub use aggregation_name::parse_aggregation_method;
pub use archive_list::validate_archive_list;
pub use carbon_conf::CarbonCacheSettings;
pub use schemas::StorageSchemas;

use std::path::Path;

/// A configuration error, naming the source and the offending text.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A retention definition such as `10x:1d` that cannot be parsed.
    #[error("invalid retention '{def}': {reason}")]
    Retention { def: String, reason: String },
    /// Any other problem in a configuration file, with its source and line.
    #[error("{source_name} line {line}: {message}")]
    File { source_name: String, line: usize, message: String },
    /// A configuration file that could not be read.
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A setting whose value has the wrong type or range (carbon.conf), with its source, line and key.
    #[error("{source_name} line {line}: {key} = '{value}': {expected}")]
    Value { source_name: String, line: usize, key: String, value: String, expected: String },
    /// carbon.conf asks for something warren cannot do safely (DATABASE = ceres, …): warren does not start.
    #[error("carbon.conf refused: {message}")]
    Refused { message: String },
}

/// Read a whole configuration file as UTF-8 (as Python reads it); errors name the path.
fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.display().to_string(), source })
}

impl settings::AmqpSettings {
    /// The broker nodes to connect to: `urls`, or `url` alone. Worker `i` starts at node `i mod N` and, when its
    /// connection fails, moves on to the next node (backing off once every node failed in a row); the relay's
    /// publisher moves on the same way.
    pub fn nodes(&self) -> Vec<String> {
        if self.urls.is_empty() {
            vec![self.url.clone()]
        } else {
            self.urls.clone()
        }
    }
}
