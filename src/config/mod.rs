//! Configuration read once at start: retention definitions, storage-schemas.conf, storage-aggregation.conf,
//! carbon.conf and warren's own TOML. Owns: parsing and matching rules. Never touches: files being written,
//! threads, sockets.

pub mod retention;
pub mod settings;

/// A configuration error, naming the source and the offending text.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A retention definition such as `10x:1d` that cannot be parsed.
    #[error("invalid retention '{def}': {reason}")]
    Retention { def: String, reason: String },
    /// Any other problem in a configuration file, with its source and line.
    #[error("{source_name} line {line}: {message}")]
    File {
        source_name: String,
        line: usize,
        message: String,
    },
    /// A configuration file that could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}
