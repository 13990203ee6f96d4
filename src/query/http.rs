//! warren's HTTP API: graphite-web's read endpoints (so a graphite-web with `CLUSTER_SERVERS` pointing at warren
//! nodes, Grafana, or a script can read them) plus the operator's endpoints:
//! - `/metrics/find/`, `/metrics/` with `query` — graphite-web's find (see [`super::graphite`])
//! - `/render/` — graphite-web's render of path expressions (see [`super::graphite`])
//! - `/metrics/index.json` (also `/metrics/list/`) — every metric name, cache-only ones included
//! - `/tags/autoComplete/tags`, `/tags/autoComplete/values` — `[]` (warren keeps no tags; graphite-web asks)
//! - `/info/?target=a.b.c` — the file header as JSON
//! - `/health` — 200 when every AMQP worker consumes and the writer answers, else 503; JSON either way
//! - `/metrics` without `query` — every counter as Prometheus text
//! - `/version/`
//!
//! GET, HEAD and POST (form bodies) everywhere; the server itself is [`super::http_server`].
//!
//! Owns: routing and the operator endpoints. Never touches: the cache itself (asks the writer).

use super::http_server::{HttpServer, Request, Response};
use super::{graphite, series, tree, QueryContext};
use crate::metric;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Start the HTTP API on `addr` (port 0 picks a free port; see [`HttpServer::local_addr`]).
pub fn start(addr: SocketAddr, ctx: Arc<QueryContext>) -> io::Result<HttpServer> {
    let (options, stats) = (ctx.http.clone(), ctx.stats.clone());
    let refused = move || crate::stats::Stats::add(&stats.http_connections_refused, 1);
    HttpServer::start(addr, options, refused, move |req| handle(req, &ctx))
}

/// Answer one request. Public for tests.
pub fn handle(req: &Request, ctx: &QueryContext) -> Response {
    if !matches!(req.method.as_str(), "GET" | "HEAD" | "POST") {
        return Response::text(405, "only GET, HEAD and POST\n");
    }
    match req.path.trim_end_matches('/') {
        "/metrics/find" => graphite::find(req, ctx),
        "/metrics" if req.has("query") => graphite::find(req, ctx),
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            body: super::prometheus::render(&ctx.stats).into_bytes(),
        },
        "/render" => graphite::render(req, ctx),
        "/metrics/index.json" | "/metrics/list" => index(ctx),
        "/tags/autoComplete/tags" | "/tags/autoComplete/values" => Response::json(&serde_json::json!([])),
        "/info" => info(req.get("target"), ctx),
        "/health" => health(ctx),
        "/version" => Response::text(200, format!("warren {}\n", env!("CARGO_PKG_VERSION"))),
        _ => Response::text(404, "not found\n"),
    }
}

fn index(ctx: &QueryContext) -> Response {
    let mut all = tree::list_all(&ctx.data_dir);
    if let Ok(names) = ctx.cache.unwritten(ctx.cache_timeout) {
        all.extend(names);
        all.sort();
        all.dedup();
    }
    Response::json(&all.into())
}

fn info(target: Option<&str>, ctx: &QueryContext) -> Response {
    let Some(name) = target.and_then(|t| metric::validate(t.as_bytes()).ok()) else {
        return Response::text(400, "info needs a valid metric name in 'target'\n");
    };
    let path = super::locate(&ctx.data_dir, &name);
    match crate::whisper::WhisperFile::open_read_only(&path) {
        Ok(f) => {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            Response::json(&series::info_json(f.header(), size))
        }
        Err(e) => Response::text(404, format!("{e}\n")),
    }
}

/// Ready when every AMQP worker is consuming and the writer answers a question within a second.
fn health(ctx: &QueryContext) -> Response {
    let consuming = ctx.stats.workers_consuming.load(Ordering::Acquire) as usize;
    let writer = ctx.cache.points(Vec::new(), ctx.cache_timeout.min(Duration::from_secs(1))).is_ok();
    let ready = writer && consuming >= ctx.workers;
    let body = serde_json::json!({
        "ready": ready,
        "writer": writer,
        "workers": ctx.workers,
        "workers_consuming": consuming,
    });
    Response {
        status: if ready { 200 } else { 503 },
        content_type: "application/json",
        body: body.to_string().into_bytes(),
    }
}
