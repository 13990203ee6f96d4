//! CarbonLink (carbon's cache query port, 7002): how graphite-web reads points that are still in the cache.
//!
//! Frames are a 4-byte big-endian length and a pickle, both ways. Requests are decoded with the safe decoder (any
//! protocol 0-5, never a global); a frame over the cap or a pickle that does not decode closes that connection
//! only. Many requests per connection: graphite-web pools its connections and keeps them open for as long as it
//! runs, and does not retry a query on a pooled connection the server closed (that query gets no cached points).
//! So, as carbon-cache does, a connection may stay idle between requests for as long as its client likes; but one
//! that stalls inside a request for `carbonlink_idle_timeout`, or takes no answer bytes for as long, is closed,
//! and when every slot (`max_connections`) is taken a newcomer takes the slot of the connection idle longest if
//! that one has been idle for `carbonlink_idle_timeout` (it is closed). Both are counted
//! (`carbonlink_idle_timeouts`) and logged at most once per
//! [`REFUSED_LOG_INTERVAL`](super::server::REFUSED_LOG_INTERVAL), so a stalled or vanished client gives its slot
//! back. Answers are protocol-2 pickles, as carbon's:
//! - `cache-query` → `{'datapoints': [(t, v), ...]}`
//! - `cache-query-bulk` → `{'datapointsByMetric': {name: [(t, v), ...]}}`
//! - `get-metadata` (key `aggregationMethod`, read from the file header) → `{'value': name}` or `{'error': msg}`
//! - `set-metadata` (through the writer, which may hold the file open) → `{'old_value': o, 'new_value': n}` or
//!   `{'error': msg}`
//! - anything else → `{'error': 'Invalid request type "..."'}`
//!
//! Owns: the protocol. Never touches: the cache itself (it asks the writer through [`CacheHandle`]), file writes.

use super::server::{Admission, EveryInterval, Idle, Server};
use super::QueryContext;
use crate::metric;
use crate::pickle::{check_frame_len, decode, read_frame_len, Value};
use crate::pickle::{encode, encode_datapoints, encode_datapoints_by_metric};
use crate::stats::Stats;
use crate::whisper::{AggregationMethod, WhisperFile};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

/// Start a CarbonLink server on `addr` (port 0 picks a free port; see [`Server::local_addr`]).
pub fn start(addr: SocketAddr, ctx: Arc<QueryContext>) -> io::Result<Server> {
    let (max, stats) = (ctx.max_connections, ctx.stats.clone());
    let refused = move || Stats::add(&stats.carbonlink_connections_refused, 1);
    let timeouts = Arc::new(TimeoutLog::default());
    let admission = Admission { max_connections: max, reclaim_idle_after: Some(ctx.carbonlink_idle_timeout) };
    let reclaimed = {
        let (timeouts, ctx) = (timeouts.clone(), ctx.clone());
        move || timeouts.closed(&ctx)
    };
    Server::start(addr, "carbonlink", admission, refused, reclaimed, move |stream, idle: &Idle| {
        serve_connection(stream, idle, &ctx, &timeouts)
    })
}

/// Connections closed for idleness since the last log line, and when that line was written: shared by the
/// connection threads so the log says at most one line per [`REFUSED_LOG_INTERVAL`](super::server::REFUSED_LOG_INTERVAL) however many stall.
#[derive(Default)]
struct TimeoutLog(Mutex<EveryInterval>);

impl TimeoutLog {
    fn closed(&self, ctx: &QueryContext) {
        // Counted before the close, so a client that sees its connection closed also sees it counted.
        Stats::add(&ctx.stats.carbonlink_idle_timeouts, 1);
        let due = self.0.lock().unwrap_or_else(|p| p.into_inner()).note();
        if let Some(closed) = due {
            tracing::warn!(
                idle_timeout_ms = ctx.carbonlink_idle_timeout.as_millis() as u64,
                closed,
                "carbonlink: stalled connections closed, or idle ones closed to make room (logged at most every 10 s)"
            );
        }
    }
}

/// True for the error a read or write gives when its socket timeout expired.
fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Serve one connection until the peer closes it, sends a bad frame, stalls inside a request for the idle
/// timeout, or the server takes its slot while it is idle between requests.
fn serve_connection(stream: TcpStream, idle: &Idle, ctx: &QueryContext, timeouts: &TimeoutLog) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let stall = Some(ctx.carbonlink_idle_timeout);
    if stream.set_write_timeout(stall).is_err() {
        return;
    }
    let Ok(mut out) = stream.try_clone() else { return };
    let mut input = BufReader::new(stream);
    let mut frame = Vec::new();
    let mut reply = Vec::new();
    // Every read and write below ends the connection on error; a timeout is also counted and logged.
    let fail = |e: io::Error| {
        if timed_out(&e) {
            timeouts.closed(ctx);
        }
    };
    loop {
        // Between requests: no timeout; the server may take the slot (see the module doc).
        idle.idle();
        if input.get_ref().set_read_timeout(None).is_err() {
            return;
        }
        let request_started = loop {
            match input.fill_buf() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r.is_ok_and(|b| !b.is_empty()),
            }
        };
        if !request_started {
            return;
        }
        if !idle.busy() || input.get_ref().set_read_timeout(stall).is_err() {
            return;
        }
        let mut hdr = [0u8; 4];
        if let Err(e) = input.read_exact(&mut hdr) {
            return fail(e);
        }
        let len = match check_frame_len(read_frame_len(hdr), &ctx.limits) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(?peer, error = %e, "carbonlink: closing connection");
                return;
            }
        };
        frame.resize(len, 0);
        if let Err(e) = input.read_exact(&mut frame) {
            return fail(e);
        }
        let request = match decode(&frame, &ctx.limits) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(?peer, error = %e, "carbonlink: undecodable request, closing connection");
                return;
            }
        };
        let body = respond(&request, ctx);
        reply.clear();
        // An answer over the 4-byte length (4 GiB) cannot be framed: send an error instead.
        match u32::try_from(body.len()) {
            Ok(n) => {
                reply.extend_from_slice(&n.to_be_bytes());
                reply.extend_from_slice(&body);
            }
            Err(_) => {
                let body = error_response("response too large");
                reply.extend_from_slice(&(body.len() as u32).to_be_bytes());
                reply.extend_from_slice(&body);
            }
        }
        if let Err(e) = out.write_all(&reply) {
            return fail(e);
        }
    }
}

/// The pickled (protocol 2, no length prefix) answer to one decoded request.
pub fn respond(request: &Value, ctx: &QueryContext) -> Vec<u8> {
    let kind = request.get("type");
    match kind.and_then(Value::as_str) {
        Some("cache-query") => match request.get("metric").and_then(text) {
            Some(m) => {
                let pts = cached(ctx, vec![m.to_string()]);
                match pts {
                    Ok(mut p) => encode_datapoints(&widen(&p.pop().unwrap_or_default())),
                    Err(e) => error_response(&e),
                }
            }
            None => error_response("cache-query needs a string 'metric'"),
        },
        Some("cache-query-bulk") => {
            let names: Option<Vec<&str>> =
                request.get("metrics").and_then(Value::as_items).map(|items| items.iter().filter_map(text).collect());
            let Some(names) = names else { return error_response("cache-query-bulk needs a list 'metrics'") };
            match cached(ctx, names.iter().map(|s| s.to_string()).collect()) {
                Ok(points) => {
                    let wide: Vec<Vec<(i64, f64)>> = points.iter().map(|p| widen(p)).collect();
                    let pairs = names.iter().copied().zip(wide.iter().map(|w| w.as_slice()));
                    encode_datapoints_by_metric(pairs).unwrap_or_else(|e| error_response(&e.to_string()))
                }
                Err(e) => error_response(&e),
            }
        }
        Some("get-metadata") => match metadata_target(request) {
            Ok(name) => match read_aggregation(ctx, &name) {
                Ok(m) => dict(vec![("value", Value::str(m.name()))]),
                Err(e) => error_response(&e),
            },
            Err(e) => error_response(&e),
        },
        Some("set-metadata") => set_metadata(request, ctx),
        _ => {
            let shown = match kind {
                Some(v) => show(v),
                None => "None".to_string(),
            };
            error_response(&format!("Invalid request type \"{shown}\""))
        }
    }
}

fn set_metadata(request: &Value, ctx: &QueryContext) -> Vec<u8> {
    let name = match metadata_target(request) {
        Ok(n) => n,
        Err(e) => return error_response(&e),
    };
    let Some(value) = request.get("value").and_then(text) else {
        return error_response("set-metadata needs a string 'value'");
    };
    let method: AggregationMethod = match value.parse() {
        Ok(m) => m,
        Err(e) => return error_response(&format!("{e}")),
    };
    let old = match read_aggregation(ctx, &name) {
        Ok(m) => m,
        Err(e) => return error_response(&e),
    };
    match ctx.cache.set_aggregation(name, method, None, ctx.cache_timeout) {
        Ok(Ok(())) => dict(vec![("old_value", Value::str(old.name())), ("new_value", Value::str(method.name()))]),
        Ok(Err(e)) => error_response(&e),
        Err(e) => error_response(&e.to_string()),
    }
}

/// The metric of a get/set-metadata request, checked; only `aggregationMethod` exists (as in carbon).
fn metadata_target(request: &Value) -> Result<String, String> {
    let name = request.get("metric").and_then(text).ok_or("metadata requests need a string 'metric'")?;
    let key = request.get("key").map(show).unwrap_or_else(|| "None".into());
    if key != "aggregationMethod" {
        return Err(format!("Unsupported metadata key \"{key}\""));
    }
    metric::validate(name.as_bytes()).map(|n| n.into_owned()).map_err(|e| e.to_string())
}

fn read_aggregation(ctx: &QueryContext, valid_name: &str) -> Result<AggregationMethod, String> {
    let path = super::locate(&ctx.data_dir, valid_name);
    let f = WhisperFile::open_read_only(&path).map_err(|e| e.to_string())?;
    Ok(f.header().aggregation)
}

/// Cached points for names as asked (tagged names are normalised as carbon stores them); names that are not
/// valid metric names have none.
fn cached(ctx: &QueryContext, names: Vec<String>) -> Result<Vec<Vec<(u32, f64)>>, String> {
    let normal: Vec<Option<String>> =
        names.iter().map(|n| metric::validate(n.as_bytes()).ok().map(|v| v.into_owned())).collect();
    let valid: Vec<bool> = normal.iter().map(Option::is_some).collect();
    let asked: Vec<String> = normal.into_iter().flatten().collect();
    let mut answers = ctx.cache.points(asked, ctx.cache_timeout).map_err(|e| e.to_string())?.into_iter();
    Ok(valid.iter().map(|ok| if *ok { answers.next().unwrap_or_default() } else { Vec::new() }).collect())
}

fn widen(points: &[(u32, f64)]) -> Vec<(i64, f64)> {
    points.iter().map(|&(t, v)| (i64::from(t), v)).collect()
}

/// A string, or bytes that are UTF-8 (Python 2 clients send `str` as bytes).
fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Str(s) => Some(s),
        Value::Bytes(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// Longest text [`show`] returns, in bytes, before its `…` (error messages quote request fields).
const SHOW_MAX: usize = 256;

/// Roughly Python's `str()` of a request field, for error messages, cut to [`SHOW_MAX`] bytes and `…`. A decoded
/// field can reference one long string many times (the memo): formatting stops at the cap instead of
/// flattening it.
fn show(v: &Value) -> String {
    use std::fmt::Write;
    let mut out = Capped { text: String::new(), full: false };
    // A write error only means the cap was reached.
    let _ = match v {
        Value::Str(s) => out.write_str(s),
        Value::None => out.write_str("None"),
        Value::Bool(b) => out.write_str(if *b { "True" } else { "False" }),
        Value::Int(i) => write!(out, "{i}"),
        Value::Float(f) => write!(out, "{f}"),
        Value::Bytes(b) => write!(out, "b{:?}", String::from_utf8_lossy(&b[..b.len().min(SHOW_MAX)])),
        other => write!(out, "{other:?}"),
    };
    if out.full {
        out.text.push('…');
    }
    out.text
}

/// A `fmt::Write` that keeps the first [`SHOW_MAX`] bytes (on a char boundary) and then fails, which stops the
/// formatting.
struct Capped {
    text: String,
    full: bool,
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = SHOW_MAX - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let cut = (0..=room).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        self.text.push_str(&s[..cut]);
        self.full = true;
        Err(std::fmt::Error)
    }
}

fn dict(pairs: Vec<(&str, Value)>) -> Vec<u8> {
    let v = Value::Dict(pairs.into_iter().map(|(k, v)| (Value::str(k), v)).collect());
    let mut out = Vec::new();
    // Plain short strings: encoding cannot fail (only >4 GiB strings or >256-deep nesting do).
    if encode(&v, &mut out).is_err() {
        out.clear();
    }
    out
}

fn error_response(msg: &str) -> Vec<u8> {
    dict(vec![("error", Value::str(msg))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn show_of_a_shared_string_referenced_many_times_is_cut() {
        // What a 1 MiB request can decode to: one long string referenced many times through the memo.
        let long: Arc<str> = Arc::from("x".repeat(100_000));
        let v = Value::List(vec![Value::Str(long.clone()); 100_000]);
        let shown = show(&v);
        assert_eq!(shown, format!("List([Str(\"{}…", "x".repeat(SHOW_MAX - 11)));
        assert_eq!(shown.len(), SHOW_MAX + '…'.len_utf8());
        assert_eq!(show(&Value::Str(long)), format!("{}…", "x".repeat(SHOW_MAX)));
        // Multi-byte characters are cut on a boundary; short values are shown whole.
        assert_eq!(show(&Value::str(&"é".repeat(200))), format!("{}…", "é".repeat(SHOW_MAX / 2)));
        assert_eq!(show(&Value::str(&"é".repeat(128))), "é".repeat(128));
        assert_eq!(show(&Value::List(vec![Value::Int(1), Value::None])), "List([Int(1), None])");
        assert_eq!(show(&Value::Bytes(Arc::from(&b"ab"[..]))), "b\"ab\"");
        assert_eq!(show(&Value::Float(1.5)), "1.5");
    }
}
