//! Questions other threads ask the writer (CarbonLink, HTTP render): the cache belongs to the writer thread, so
//! readers send a request and wait for the answer instead of sharing the cache under a lock. The writer answers
//! between two metric writes, so a query waits at most one write slice (a few milliseconds).

use crate::whisper::{AggregationMethod, ArchiveSpec};
use crossbeam::channel::{Receiver, Sender};
use std::time::Duration;

/// Points of one metric: (timestamp, value), sorted by timestamp, one per timestamp (the newest value).
pub type CachedPoints = Vec<(u32, f64)>;

/// A request to the writer.
pub enum CacheRequest {
    /// The cached points of each metric, in the order asked.
    Points { metrics: Vec<String>, reply: Sender<Vec<CachedPoints>> },
    /// Names of the metrics that hold cached points and have no file open in the writer (new metrics, metrics
    /// held by the create rate limit, and metrics whose file was closed by the descriptor LRU).
    Unwritten { reply: Sender<Vec<String>> },
    /// The archives and aggregation method a new file of each metric would get, in the order asked.
    Rules { metrics: Vec<String>, reply: Sender<Vec<(Vec<ArchiveSpec>, AggregationMethod)>> },
    /// Change a file's aggregation method (and xFilesFactor), through the writer that may hold it open.
    SetAggregation {
        metric: String,
        method: AggregationMethod,
        x_files_factor: Option<f32>,
        reply: Sender<Result<(), String>>,
    },
}

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("the writer did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the writer has stopped")]
    Stopped,
}

/// A cloneable handle for asking the writer.
#[derive(Clone)]
pub struct CacheHandle {
    tx: Sender<CacheRequest>,
    wake: std::sync::Arc<crate::pipe::ring::Rings>,
}

impl CacheHandle {
    /// A handle and the writer's receiving end.
    pub fn new(wake: std::sync::Arc<crate::pipe::ring::Rings>) -> (CacheHandle, Receiver<CacheRequest>) {
        let (tx, rx) = crossbeam::channel::bounded(1024);
        (CacheHandle { tx, wake }, rx)
    }

    /// The cached points of `metrics` (empty for a metric the cache does not hold).
    pub fn points(&self, metrics: Vec<String>, timeout: Duration) -> Result<Vec<CachedPoints>, QueryError> {
        let (reply, answer) = crossbeam::channel::bounded(1);
        self.send(CacheRequest::Points { metrics, reply }, timeout)?;
        answer.recv_timeout(timeout).map_err(|_| QueryError::Timeout(timeout))
    }

    /// See [`CacheRequest::Unwritten`]. Also the cheapest question: an answer proves the writer loop turns.
    pub fn unwritten(&self, timeout: Duration) -> Result<Vec<String>, QueryError> {
        let (reply, answer) = crossbeam::channel::bounded(1);
        self.send(CacheRequest::Unwritten { reply }, timeout)?;
        answer.recv_timeout(timeout).map_err(|_| QueryError::Timeout(timeout))
    }

    /// See [`CacheRequest::Rules`].
    pub fn rules(
        &self,
        metrics: Vec<String>,
        timeout: Duration,
    ) -> Result<Vec<(Vec<ArchiveSpec>, AggregationMethod)>, QueryError> {
        let (reply, answer) = crossbeam::channel::bounded(1);
        self.send(CacheRequest::Rules { metrics, reply }, timeout)?;
        answer.recv_timeout(timeout).map_err(|_| QueryError::Timeout(timeout))
    }

    /// Set the aggregation method (and optionally xFilesFactor) of `metric`'s file.
    pub fn set_aggregation(
        &self,
        metric: String,
        method: AggregationMethod,
        x_files_factor: Option<f32>,
        timeout: Duration,
    ) -> Result<Result<(), String>, QueryError> {
        let (reply, answer) = crossbeam::channel::bounded(1);
        self.send(CacheRequest::SetAggregation { metric, method, x_files_factor, reply }, timeout)?;
        answer.recv_timeout(timeout).map_err(|_| QueryError::Timeout(timeout))
    }

    fn send(&self, r: CacheRequest, timeout: Duration) -> Result<(), QueryError> {
        self.tx.send_timeout(r, timeout).map_err(|e| match e {
            crossbeam::channel::SendTimeoutError::Timeout(_) => QueryError::Timeout(timeout),
            crossbeam::channel::SendTimeoutError::Disconnected(_) => QueryError::Stopped,
        })?;
        self.wake.wake_writer();
        Ok(())
    }
}
