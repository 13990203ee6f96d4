//! The whisper file format (see `../shared/spec/whisper.md`): header, create, update_many, fetch, propagate.
//!
//! Owns: the bytes of one `.wsp` file. Never touches: threads, the cache, AMQP, metric names.
//! SKELETON: the public API below is the contract the writer codes against; bodies are filled by the
//! whisper engine work (issue 3).

use std::path::Path;

/// Errors from reading or writing a whisper file.
#[derive(Debug, thiserror::Error)]
pub enum WhisperError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("not implemented yet")]
    Todo,
}

/// The eight aggregation methods, with the reference's on-disk codes (1..=8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregationMethod {
    Average,
    Sum,
    Last,
    Max,
    Min,
    AvgZero,
    AbsMax,
    AbsMin,
}

/// One archive of an archive list: `seconds_per_point` precision, `points` slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArchiveSpec {
    pub seconds_per_point: u32,
    pub points: u32,
}

/// How a new file's data area is laid down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CreateMode {
    /// posix_fallocate: space reserved, no zeros written (warren's default).
    #[default]
    Fallocate,
    /// ftruncate only: a file with holes.
    Sparse,
    /// zeros written, as the reference does by default.
    Zero,
}

/// Options for creating a file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CreateOptions {
    pub x_files_factor: f32,
    pub aggregation: AggregationMethod,
    pub mode: CreateMode,
}

/// Options for opening a file for updates (carbon's WHISPER_LOCK_WRITES / WHISPER_AUTOFLUSH).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    pub lock: bool,
    pub autoflush: bool,
}

/// A point to write: whisper stores intervals as u32 seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub timestamp: u32,
    pub value: f64,
}

/// Reusable buffers for [`WhisperFile::update_many`], so the writer allocates nothing per update.
#[derive(Default, Debug)]
pub struct UpdateScratch {}

/// What one update_many did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateStats {
    pub points_written: usize,
    pub writes: usize,
}

/// An open whisper file.
pub struct WhisperFile {}

impl WhisperFile {
    /// Create a new file (fails if it exists).
    pub fn create(
        _path: &Path,
        _archives: &[ArchiveSpec],
        _opts: &CreateOptions,
        _open: OpenOptions,
    ) -> Result<Self, WhisperError> {
        Err(WhisperError::Todo)
    }
    /// Open an existing file and read its header.
    pub fn open(_path: &Path, _open: OpenOptions) -> Result<Self, WhisperError> {
        Err(WhisperError::Todo)
    }
    /// Rewrite the header's aggregation method and/or xFilesFactor.
    pub fn set_aggregation(
        &mut self,
        _method: Option<AggregationMethod>,
        _xff: Option<f32>,
    ) -> Result<(), WhisperError> {
        Err(WhisperError::Todo)
    }
    /// Batch update as the reference's update_many.
    pub fn update_many(
        &mut self,
        _points: &mut [Point],
        _now: u32,
        _scratch: &mut UpdateScratch,
    ) -> Result<UpdateStats, WhisperError> {
        Err(WhisperError::Todo)
    }
}
