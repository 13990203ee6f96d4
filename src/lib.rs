//! warren: a carbon-cache for Graphite that ingests metrics from RabbitMQ.
//!
//! Data flows one way, and the module tree follows it (see `docs/ARCHITECTURE.md` for the layering, the
//! invariants and the threads): [`ingest`] (AMQP workers, socket receivers, parsers, self-metrics) → [`pipe`]
//! (rings) → [`cache`] (the writer thread) → [`whisper`] (the file format) on disk; [`query`] reads files and
//! asks the writer for cached points; [`engine`] starts and stops all of it. [`stats`] holds the counters and
//! uses nothing else; [`pickle`] is the codec both ingest and query use; [`lifecycle`] and [`atomicfile`] are
//! the small leaves everyone may use. [`config`] is read once at start; [`metric`] is the one place that decides
//! which metric names are acceptable and where their files live; [`tagdb`] registers series with graphite-web's
//! tag database.

pub mod atomicfile;
pub mod bench;
pub mod cache;
pub mod cli;
pub mod config;
pub mod cpus;
pub mod engine;
pub mod filter;
pub mod ingest;
pub mod lifecycle;
pub mod logging;
pub mod metric;
pub mod pickle;
pub mod pipe;
pub mod query;
pub mod relay;
pub mod reload;
pub mod stats;
pub mod tagdb;
pub mod whisper;
