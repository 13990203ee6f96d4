//! A small read-only HTTP/1.1 API over the whisper tree and the cache, shaped like graphite-web's endpoints so
//! scripts (and a Grafana "Graphite" data source for plain metric paths) can use it without graphite-web:
//! - `GET /metrics/find/?query=a.b.*[&format=treejson|json|completer]` — graphite-web's find output
//! - `GET /render/?target=a.b.c[&target=...][&from=-1h][&until=now][&format=json]` — whisper + cache merged
//!   (targets are paths or globs, no functions); `format=raw` and `csv` as graphite-web writes them
//! - `GET /metrics/list/` (also `/metrics/index.json`) — every metric name
//! - `GET /info/?target=a.b.c` — the file header as JSON
//!
//! std only: one thread per connection (see [`super::server`]), keep-alive, GET/HEAD only, bounded request head.
//!
//! Owns: HTTP parsing and formatting. Never touches: the cache itself (asks the writer through the context).

use super::server::Server;
use super::{attime, series, tree, QueryContext};
use crate::lifecycle::unix_now;
use crate::metric;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Longest request head (request line + headers) accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;

/// How long an idle keep-alive connection is kept.
const IDLE: Duration = Duration::from_secs(60);

/// Start the HTTP API on `addr` (port 0 picks a free port; see [`Server::local_addr`]).
pub fn start(addr: SocketAddr, ctx: Arc<QueryContext>) -> io::Result<Server> {
    let max = ctx.max_connections;
    Server::start(addr, "http", max, move |stream| serve_connection(stream, &ctx))
}

/// An HTTP response: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content-Type header.
    pub content_type: &'static str,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    fn json(v: &serde_json::Value) -> Response {
        Response { status: 200, content_type: "application/json", body: v.to_string().into_bytes() }
    }
    fn text(status: u16, body: impl Into<String>) -> Response {
        Response { status, content_type: "text/plain; charset=utf-8", body: body.into().into_bytes() }
    }
}

fn serve_connection(stream: TcpStream, ctx: &QueryContext) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let Ok(mut out) = stream.try_clone() else { return };
    let mut input = BufReader::new(stream);
    loop {
        let head = match read_head(&mut input) {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(status) => {
                let _ = write_response(&mut out, &Response::text(status, "bad request\n"), false, false);
                return;
            }
        };
        let mut lines = head.lines();
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (method, target, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
        let mut keep_alive = version == Some("HTTP/1.1");
        for h in lines {
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("connection") {
                    keep_alive =
                        !v.eq_ignore_ascii_case("close") && (keep_alive || v.eq_ignore_ascii_case("keep-alive"));
                } else if k.eq_ignore_ascii_case("content-length") && v != "0" {
                    // No request bodies are read: refuse rather than misread the next request.
                    let _ = write_response(
                        &mut out,
                        &Response::text(400, "request bodies are not accepted\n"),
                        false,
                        false,
                    );
                    return;
                }
            }
        }
        let response = match method {
            "GET" | "HEAD" => handle(target, ctx),
            _ => Response::text(405, "only GET and HEAD\n"),
        };
        if write_response(&mut out, &response, keep_alive, method == "HEAD").is_err() || !keep_alive {
            return;
        }
    }
}

/// The request head, without the blank line; `Ok(None)` at a clean end of stream; `Err(status)` when too long or
/// not text.
fn read_head(input: &mut BufReader<TcpStream>) -> Result<Option<String>, u16> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n =
            input.by_ref().take((MAX_HEAD - head.len()) as u64 + 1).read_until(b'\n', &mut line).map_err(|_| 400u16)?;
        if n == 0 {
            return if head.is_empty() { Ok(None) } else { Err(400) };
        }
        if head.len() + line.len() > MAX_HEAD {
            return Err(431);
        }
        if line == b"\r\n" || line == b"\n" {
            if head.is_empty() {
                continue; // tolerate stray blank lines between requests
            }
            return String::from_utf8(head).map(Some).map_err(|_| 400);
        }
        head.extend_from_slice(&line);
    }
}

fn write_response(out: &mut TcpStream, r: &Response, keep_alive: bool, head_only: bool) -> io::Result<()> {
    let reason = match r.status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    };
    let mut buf = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        r.status,
        r.content_type,
        r.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    if !head_only {
        buf.extend_from_slice(&r.body);
    }
    out.write_all(&buf)
}

/// Answer one request target (`/path?query`). Public for tests.
pub fn handle(target: &str, ctx: &QueryContext) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = parse_query(query);
    let get = |k: &str| params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match path.trim_end_matches('/') {
        "/metrics/find" | "/metrics" => find(get("query"), get("format"), ctx),
        "/metrics/list" | "/metrics/index.json" => Response::json(&tree::list_all(&ctx.data_dir).into()),
        "/render" => {
            let targets: Vec<&str> = params.iter().filter(|(k, _)| k == "target").map(|(_, v)| v.as_str()).collect();
            render(&targets, get("from"), get("until"), get("format"), ctx)
        }
        "/info" => info(get("target"), ctx),
        "/version" => Response::text(200, format!("warren {}\n", env!("CARGO_PKG_VERSION"))),
        _ => Response::text(404, "not found\n"),
    }
}

fn find(query: Option<&str>, format: Option<&str>, ctx: &QueryContext) -> Response {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Response::text(400, "Missing required parameter 'query'\n");
    };
    let nodes = match tree::find(&ctx.data_dir, query) {
        Ok(n) => n,
        Err(e) => return Response::text(400, format!("{e}\n")),
    };
    let base = query.rsplit_once('.').map(|(b, _)| format!("{b}.")).unwrap_or_default();
    let mut nodes = nodes;
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    match format.unwrap_or("treejson") {
        // graphite-web's tree_json: branches first, then leaves, each name once.
        "treejson" => {
            let mut seen = std::collections::HashSet::new();
            let (mut branches, mut leaves) = (Vec::new(), Vec::new());
            for n in &nodes {
                if !seen.insert(n.name.clone()) {
                    continue;
                }
                let (leaf, expand) = if n.is_leaf { (1, 0) } else { (0, 1) };
                let v = serde_json::json!({"text": n.name, "id": format!("{base}{}", n.name), "leaf": leaf,
                    "expandable": expand, "allowChildren": expand});
                if n.is_leaf {
                    leaves.push(v)
                } else {
                    branches.push(v)
                }
            }
            branches.extend(leaves);
            Response::json(&branches.into())
        }
        // graphite-web's json_nodes (intervals omitted: warren does not track them).
        "json" => {
            nodes.sort_by(|a, b| a.path.cmp(&b.path));
            let v: Vec<_> = nodes.iter().map(|n| serde_json::json!({"path": n.path, "is_leaf": n.is_leaf})).collect();
            Response::json(&v.into())
        }
        "completer" => {
            let v: Vec<_> = nodes
                .iter()
                .map(|n| {
                    let path = if n.is_leaf { n.path.clone() } else { format!("{}.", n.path) };
                    serde_json::json!({"path": path, "name": n.name, "is_leaf": if n.is_leaf { "1" } else { "0" }})
                })
                .collect();
            Response::json(&serde_json::json!({ "metrics": v }))
        }
        other => Response::text(400, format!("unsupported format '{other}'\n")),
    }
}

fn render(
    targets: &[&str],
    from: Option<&str>,
    until: Option<&str>,
    format: Option<&str>,
    ctx: &QueryContext,
) -> Response {
    let now = i64::from(unix_now());
    let parse = |v: Option<&str>, default: i64| match v.filter(|s| !s.is_empty()) {
        Some(s) => attime::parse(s, now),
        None => Ok(default),
    };
    let (from, until) = match (parse(from, now - 86_400), parse(until, now)) {
        (Ok(f), Ok(u)) => (f, u),
        (Err(e), _) | (_, Err(e)) => return Response::text(400, format!("{e}\n")),
    };
    if from >= until {
        return Response::text(400, format!("from ({from}) must be before until ({until})\n"));
    }
    let mut names = Vec::new();
    for t in targets {
        match tree::find_leaves(&ctx.data_dir, t) {
            Ok(found) => names.extend(found),
            Err(e) => return Response::text(400, format!("{e}\n")),
        }
    }
    let cached = match ctx.cache.points(names.clone(), ctx.cache_timeout) {
        Ok(c) => c,
        Err(e) => {
            // As graphite-web with the cache down: serve what is on disk, say so in the log.
            tracing::warn!(error = %e, "render: no answer from the cache; serving disk only");
            vec![Vec::new(); names.len()]
        }
    };
    let mut out = Vec::new();
    for (name, cached) in names.iter().zip(&cached) {
        let path = metric::file_path(&ctx.data_dir, name);
        match series::read(&path, from, until, now, cached) {
            Ok(Some(s)) => out.push((name.as_str(), s)),
            Ok(None) => {}
            Err(e) => tracing::warn!(metric = %name, error = %e, "render: cannot read"),
        }
    }
    match format.unwrap_or("json") {
        "json" => {
            let v: Vec<_> = out
                .iter()
                .map(|(name, s)| {
                    let dps: Vec<_> = s.datapoints().map(|(t, v)| serde_json::json!([v, t])).collect();
                    serde_json::json!({"target": name, "tags": {"name": name}, "datapoints": dps})
                })
                .collect();
            Response::json(&v.into())
        }
        "raw" => {
            let mut body = String::new();
            for (name, s) in &out {
                let vals: Vec<String> =
                    s.values.iter().map(|v| v.map(py_float).unwrap_or_else(|| "None".into())).collect();
                body.push_str(&format!("{name},{},{},{}|{}\n", s.start, s.end, s.step, vals.join(",")));
            }
            Response::text(200, body)
        }
        "csv" => {
            let mut body = String::new();
            for (name, s) in &out {
                for (t, v) in s.datapoints() {
                    let ts = format_utc(i64::from(t));
                    body.push_str(&format!("{name},{ts},{}\r\n", v.map(py_float).unwrap_or_default()));
                }
            }
            Response { status: 200, content_type: "text/csv", body: body.into_bytes() }
        }
        other => Response::text(400, format!("unsupported format '{other}'\n")),
    }
}

fn info(target: Option<&str>, ctx: &QueryContext) -> Response {
    let Some(name) = target.and_then(|t| metric::validate(t.as_bytes()).ok()) else {
        return Response::text(400, "info needs a valid metric name in 'target'\n");
    };
    let path = metric::file_path(&ctx.data_dir, name);
    match crate::whisper::WhisperFile::open_read_only(&path) {
        Ok(f) => {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            Response::json(&series::info_json(f.header(), size))
        }
        Err(e) => Response::text(404, format!("{e}\n")),
    }
}

/// `application/x-www-form-urlencoded` pairs, in order (`+` is a space, `%XX` a byte; bad escapes kept as-is).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = (b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
                    .then(|| u8::from_str_radix(&s[i + 1..i + 3], 16).ok())
                    .flatten();
                match hex {
                    Some(x) => {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Python's `repr(float)` for the common cases (shortest round-trip, `.0` on integers).
fn py_float(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC (graphite-web uses its TIME_ZONE; warren has no zone database).
fn format_utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_plus_and_percent_escapes() {
        let p = parse_query("target=a.%7Bb%2Cc%7D.*&from=-1h&x=a+b&bad=%zz&t=%4&plus=%+1");
        assert_eq!(p[0], ("target".into(), "a.{b,c}.*".into()));
        assert_eq!(p[1], ("from".into(), "-1h".into()));
        assert_eq!(p[2], ("x".into(), "a b".into()));
        assert_eq!(p[3], ("bad".into(), "%zz".into()));
        assert_eq!(p[4], ("t".into(), "%4".into()));
        assert_eq!(p[5], ("plus".into(), "% 1".into()), "a bad escape stays, its + is still a space");
    }

    #[test]
    fn csv_timestamps_are_utc_calendar_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00");
    }
}
