//! [`BenchError`]: the one error type of the bench harness, for warren's runs and the peer's alike.

use super::broker::BrokerError;
use super::publish::PublishError;

/// Why a bench step failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Declaring, draining or deleting broker objects failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// Publishing the load failed.
    #[error("publishing: {0}")]
    Publish(#[from] PublishError),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// warren's generated settings do not load.
    #[error("warren's settings: {0}")]
    Settings(#[from] crate::config::ConfigError),
    /// warren exited while it should have been running.
    #[error("warren exited early ({status}); last log lines:\n{log}")]
    WarrenExited { status: String, log: String },
    /// warren did not make the load durable in time.
    #[error(
        "warren did not make everything durable within {secs} s (committed {committed} of {total} points, acked \
         {acked} of {messages} messages); last log lines:\n{log}"
    )]
    Timeout { secs: u64, committed: u64, total: u64, acked: u64, messages: u64, log: String },
    /// `--reuse-dir` names a tree made for another load: its files are sized for other retentions, so the run
    /// would not rewrite the same points (and would lose the oldest ones).
    #[error(
        "{dir} was made for another load (its storage-schemas.conf says {had:?}, this run needs {needs:?}): \
         reuse it only with the same --metrics, --points and --interval, or give another directory"
    )]
    ReuseMismatch { dir: String, had: String, needs: String },
    /// `--reuse-dir`: the peer's tree already holds points of this run's load (the run before started in the same
    /// interval step), so the completion poll and the verification would find that run's points.
    #[error(
        "{dir} already holds {points} of this load's points (the run before ended at the same step, {end}): the \
         peer's row would time and verify that run's points; run again after the next {interval} s step"
    )]
    ReuseStale { dir: String, points: u64, end: u32, interval: u32 },
    /// The peer's software is missing (checked before anything else).
    #[error("python-carbon is not installed ({why}): run tuning/python-carbon/setup.sh")]
    PeerNotInstalled { why: String },
    /// The broker URL cannot be turned into the peer's settings.
    #[error("broker URL {url:?}: {why}")]
    Url { url: String, why: &'static str },
    /// Carbon never bound its queue to the run's exchange.
    #[error("carbon did not bind a queue to {exchange} within {secs} s; last log lines:\n{log}")]
    NoBinding { exchange: String, secs: u64, log: String },
    /// Carbon exited while it should have been running.
    #[error("carbon exited early ({status}); last log lines:\n{log}")]
    PeerExited { status: String, log: String },
    /// Not every point reached the peer's disk in time.
    #[error("carbon did not write every point within {secs} s ({complete} of {metrics} metrics complete); last log lines:\n{log}")]
    PeerTimeout { secs: u64, complete: u32, metrics: u32, log: String },
    /// The go-carbon binary is not there (checked before anything else).
    #[error("go-carbon not found ({why}): set GO_CARBON to the go-carbon binary or put go-carbon on PATH")]
    GoCarbonNotFound { why: String },
    /// A socket run's system never accepted a connection on its receiver.
    #[error("{system} did not listen on 127.0.0.1:{port} within {secs} s; last log lines:\n{log}")]
    NoListener { system: String, port: u16, secs: u64, log: String },
    /// A socket run's system exited while it should have been running.
    #[error("{system} exited early ({status}); last log lines:\n{log}")]
    SystemExited { system: String, status: String, log: String },
    /// A socket run's system did not report every point committed in time.
    #[error("{system} did not commit every point within {secs} s ({committed} of {total}); last log lines:\n{log}")]
    SocketTimeout { system: String, secs: u64, committed: u64, total: u64, log: String },
    /// The load could not be encoded.
    #[error("encoding the load: {0}")]
    Encode(#[from] crate::pickle::EncodeError),
}

/// Maps an I/O error to [`BenchError::Io`] saying what was being done.
pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Io { what, source }
}
