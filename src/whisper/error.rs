//! The one error type of the whisper engine: every variant names the file or the offending value.

/// Errors from reading or writing a whisper file. Messages carry the offending path and values; nothing in this
/// module panics on file contents or caller input.
#[derive(Debug, thiserror::Error)]
pub enum WhisperError {
    /// An I/O call on `path` failed.
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// `create` refused to replace an existing file.
    #[error("{path}: file already exists")]
    AlreadyExists { path: String },
    /// The header or layout of `path` cannot be a whisper file (truncated, zero archives, archive past the end…).
    #[error("{path}: corrupt whisper file: {reason}")]
    Corrupt { path: String, reason: String },
    /// An archive list that breaks the reference's rules (see [`super::validate_archives`]).
    #[error("invalid archive list: {0}")]
    InvalidArchives(String),
    /// An xFilesFactor outside `0.0..=1.0` (or NaN).
    #[error("invalid xFilesFactor {0}: must be between 0 and 1")]
    InvalidXFilesFactor(f32),
    /// A single update whose age (`now - timestamp`) is negative or not below the file's max retention.
    #[error("{path}: timestamp {timestamp} not covered by any archive (now {now}, max retention {max_retention}s)")]
    TimestampNotCovered { path: String, timestamp: u32, now: u32, max_retention: u32 },
    /// A fetch whose `from` is after its `until`.
    #[error("invalid time interval: from time {from} is after until time {until}")]
    InvalidTimeInterval { from: i64, until: i64 },
    /// A fetch asked for an archive step that the file does not have.
    #[error("{path}: invalid granularity: no archive has {step} seconds per point")]
    InvalidGranularity { path: String, step: u32 },
    /// A time that whisper cannot store: intervals are unsigned 32-bit seconds.
    #[error("{what} {value} does not fit a whisper interval (0..=4294967295)")]
    OutOfRange { what: &'static str, value: i64 },
}

impl WhisperError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        WhisperError::Io { path: path.display().to_string(), source }
    }

    pub(crate) fn corrupt(path: &std::path::Path, reason: impl Into<String>) -> Self {
        WhisperError::Corrupt { path: path.display().to_string(), reason: reason.into() }
    }
}
