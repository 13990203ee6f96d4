//! Reads: CarbonLink and HTTP find/render, answering from whisper files and the writer's cache; and the
//! Prometheus text of the counters ([`prometheus`]), a read-only window on [`crate::stats::Stats`].
//!
//! Owns: the read side's servers and the arithmetic of merging cached points into fetched ones. Never touches:
//! the cache itself (every question goes to the writer through [`CacheHandle`], which answers between writes, so
//! reads never stall ingestion) or file writes (set-metadata goes through the writer too).

pub mod attime;
pub mod carbonlink;
pub mod glob;
pub mod graphite;
pub mod http;
pub mod http_parse;
pub mod http_server;
pub mod prometheus;
pub mod series;
pub mod server;
pub mod tree;
pub mod wire;

use crate::cache::query::CacheHandle;
use crate::config::settings::Settings;
use crate::pickle::Limits;
use crate::stats::Stats;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the query servers share: where the files are and how to ask the writer.
pub struct QueryContext {
    /// Root of the whisper tree.
    pub data_dir: PathBuf,
    /// The writer's query handle.
    pub cache: CacheHandle,
    /// Longest wait for the writer's answer.
    pub cache_timeout: Duration,
    /// Bounds on CarbonLink request frames.
    pub limits: Limits,
    /// Most connections the CarbonLink server serves at once.
    pub max_connections: usize,
    /// A CarbonLink connection that sends nothing (or takes no answer) for this long is closed.
    pub carbonlink_idle_timeout: Duration,
    /// Counters (Prometheus text, `/health`).
    pub stats: Arc<Stats>,
    /// AMQP workers that must be consuming for `/health` to say ready.
    pub workers: usize,
    /// The HTTP server's bounds.
    pub http: http_server::HttpOptions,
}

/// String bytes a CarbonLink request may expand to per byte of its frame (the pickle default, 128, is sized for
/// the pickle receiver's point lists). A request's strings are its metric names, each written out or shared once
/// when a name repeats: 16 leaves room for that and bounds a connection's decoded request at 16 times
/// `max_request_bytes` (plus 64 KiB) however its strings are memoized.
pub const CARBONLINK_BYTES_PER_INPUT_BYTE: usize = 16;

impl QueryContext {
    /// The context described by `settings`.
    pub fn from_settings(settings: &Settings, cache: CacheHandle, stats: Arc<Stats>) -> QueryContext {
        let q = &settings.query;
        QueryContext {
            data_dir: settings.data_dir.clone(),
            cache,
            cache_timeout: Duration::from_millis(q.cache_timeout_ms),
            limits: Limits {
                max_frame_len: q.max_request_bytes,
                bytes_per_input_byte: CARBONLINK_BYTES_PER_INPUT_BYTE,
                ..Limits::default()
            },
            max_connections: q.max_connections,
            carbonlink_idle_timeout: Duration::from_millis(q.carbonlink_idle_timeout_ms.max(1)),
            stats,
            workers: if settings.amqp.enabled { settings.worker_count() } else { 0 },
            http: http_server::HttpOptions {
                threads: q.http_threads.max(1),
                max_connections: q.http_max_connections.max(1),
                idle_timeout: Duration::from_millis(q.http_idle_timeout_ms.max(1)),
                write_timeout: Duration::from_millis(q.http_write_timeout_ms.max(1)),
                max_body: q.max_request_bytes,
            },
        }
    }
}

/// The file of a valid (normalised) metric name as a reader finds it: for a tagged name the hashed file, else the
/// readable one when only that exists (graphite-web's finder looks for both); for a plain name its one path.
pub fn locate(data_dir: &std::path::Path, valid_name: &str) -> PathBuf {
    let mut paths = crate::metric::file_paths(data_dir, valid_name);
    let found = paths.iter().position(|p| p.is_file()).unwrap_or(0);
    paths.swap_remove(found)
}

/// The running query servers (each optional).
#[derive(Default)]
pub struct QueryServers {
    /// CarbonLink, when enabled.
    pub carbonlink: Option<server::Server>,
    /// The HTTP API, when enabled.
    pub http: Option<http_server::HttpServer>,
}

impl QueryServers {
    /// Start the servers `settings.query` enables. Errors: an address that does not resolve, or binding.
    pub fn start(settings: &Settings, cache: CacheHandle, stats: Arc<Stats>) -> std::io::Result<QueryServers> {
        let ctx = Arc::new(QueryContext::from_settings(settings, cache, stats));
        let mut servers = QueryServers::default();
        if let Some(addr) = settings.query.carbonlink_addr()? {
            servers.carbonlink = Some(carbonlink::start(addr, ctx.clone())?);
        }
        if let Some(addr) = settings.query.http_addr()? {
            servers.http = Some(http::start(addr, ctx)?);
        }
        Ok(servers)
    }

    /// The bound CarbonLink address.
    pub fn carbonlink_addr(&self) -> Option<SocketAddr> {
        self.carbonlink.as_ref().map(|s| s.local_addr())
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|s| s.local_addr())
    }

    /// Stop both servers and close their connections.
    pub fn stop(self) {
        if let Some(s) = self.carbonlink {
            s.stop();
        }
        if let Some(s) = self.http {
            s.stop();
        }
    }
}
