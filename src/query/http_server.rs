//! The HTTP server under warren's HTTP API: HTTP/1.1 requests read and answered on the connection-capped
//! [`Server`] (one thread per open connection, at most `max_connections` of them; further connections are
//! closed at once and counted), handlers run at most `threads` at a time.
//!
//! Why not tiny_http any more: tiny_http 0.12 starts a thread per concurrently open connection with no upper
//! bound (its internal `TaskPool` adds a thread whenever none is idle), and gives no hook to refuse a
//! connection: `Server::from_listener` accepts on its own thread from a listener it owns (`Listener` is a closed
//! enum of TCP and Unix listeners), `num_connections` is unimplemented. A flood of idle connections therefore
//! meant unbounded threads. Gating it from outside would mean proxying every accepted connection into it; the
//! maintained synchronous servers that bound workers (astra, on hyper) queue connections past the bound and bring
//! a large dependency tree. What graphite-web, Grafana and curl need is small: request line and headers (capped at
//! [`MAX_HEAD`] bytes, 431 beyond), a body by `Content-Length` (with `Expect: 100-continue`) or chunked (capped at
//! `max_body`, 413 beyond), keep-alive (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `keep-alive`),
//! HEAD. That is this module and [`super::http_parse`]: this one owns the connections and the responses, that one
//! the framing (where a head and a body end, their caps; the request line, header fields and chunk sizes are
//! parsed by `httparse`, hyper's parser), on any `BufRead`, so the fuzz target `http_head` feeds it from memory.
//!
//! Timeouts are per connection: a connection that sends nothing for `idle_timeout` (idle keep-alive, or a request
//! that stalls half-way) is closed, and a client that takes no response bytes for `write_timeout` is dropped.
//! Memory per connection: the read buffer, a head of at most [`MAX_HEAD`], a body of at most `max_body`.
//!
//! Owns: the connections, the handler permits, writing responses. Never touches: what a request means (the handler passed to
//! [`HttpServer::start`] answers it).

use super::http_parse::{read_body, read_head, Body, Caps, Head, ReadError, Refusal, MAX_HEAD};
use super::server::{Admission, Idle, Server};
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Bounds of the HTTP server.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Handler threads (requests answered at once).
    pub threads: usize,
    /// Most connections open at once (a thread each); further ones are closed at once and counted.
    pub max_connections: usize,
    /// A connection that sends nothing for this long (between or inside requests) is closed.
    pub idle_timeout: Duration,
    /// A response that cannot be written for this long is abandoned and its connection closed.
    pub write_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
}

/// A request as the handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, `HEAD`, …
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Query-string pairs, then form-body pairs (`application/x-www-form-urlencoded`), in order.
    pub params: Vec<(String, String)>,
}

impl Request {
    /// The last value given for `key` (as Django's `QueryDict.get`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value given for `key`, in order (as `QueryDict.getlist`).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.params.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// True if `key` was given at all.
    pub fn has(&self, key: &str) -> bool {
        self.params.iter().any(|(k, _)| k == key)
    }
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
    /// 200 with a JSON body.
    pub fn json(v: &serde_json::Value) -> Response {
        Response { status: 200, content_type: "application/json", body: v.to_string().into_bytes() }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response { status, content_type: "text/plain; charset=utf-8", body: body.into().into_bytes() }
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// At most `n` handlers run at once.
struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Permits {
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        drop(free);
        // Given back even if the handler panics (the connection thread ends, the permit must not leak).
        struct Back<'a>(&'a Permits);
        impl Drop for Back<'_> {
            fn drop(&mut self) {
                *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                self.0.freed.notify_one();
            }
        }
        let _back = Back(self);
        f()
    }
}

struct Shared {
    handler: Box<Handler>,
    options: HttpOptions,
    permits: Permits,
}

/// A running HTTP server.
pub struct HttpServer {
    server: Server,
}

impl HttpServer {
    /// Bind `addr` (port 0 picks a free port) and answer every request with `handler`, at most `options.threads`
    /// at once, on at most `options.max_connections` connections; each connection refused over that is reported
    /// to `refused`. Errors: binding.
    pub fn start<F, R>(addr: SocketAddr, options: HttpOptions, refused: R, handler: F) -> io::Result<HttpServer>
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
        R: Fn() + Send + 'static,
    {
        let threads = options.threads.max(1);
        let max = options.max_connections.max(1);
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            options,
            permits: Permits { free: Mutex::new(threads), freed: Condvar::new() },
        });
        // Keep-alive clients (urllib3, browsers) open a new connection when the server closed one, so HTTP keeps
        // its plain idle timeout and never reclaims.
        let admission = Admission { max_connections: max, reclaim_idle_after: None };
        let server = Server::start(
            addr,
            "http",
            admission,
            refused,
            || {},
            move |stream, _: &Idle| serve_connection(stream, &shared),
        )?;
        tracing::info!(address = %server.local_addr(), threads, max_connections = max, "HTTP API listening");
        Ok(HttpServer { server })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.server.open_connections()
    }

    /// Stop accepting and close every open connection.
    pub fn stop(self) {
        self.server.stop();
    }
}

/// Serve one connection: requests in turn until the client closes, times out, or asks to close.
fn serve_connection(stream: TcpStream, shared: &Shared) {
    let o = &shared.options;
    if stream.set_read_timeout(Some(o.idle_timeout)).is_err()
        || stream.set_write_timeout(Some(o.write_timeout)).is_err()
    {
        return;
    }
    let _ = stream.set_nodelay(true);
    let Ok(mut out) = stream.try_clone() else { return };
    let mut input = BufReader::with_capacity(8192, stream);
    let caps = Caps { max_head: MAX_HEAD, max_body: o.max_body };
    let refused = |r: Refusal| Response::text(r.status, r.reason);
    loop {
        let head = match read_head(&mut input, &caps) {
            Ok(h) => h,
            Err(e) => {
                if let ReadError::Refused(r) = e {
                    let _ = write_response(&mut out, &refused(r), false, false);
                }
                return;
            }
        };
        let keep_alive = head.keep_alive();
        let (request, keep_alive) = match read_body(&mut input, &mut out, &head, &caps) {
            Ok(Body::Read(body)) => (build_request(&head, &body), keep_alive),
            // Refused, its body read and discarded: the connection carries on.
            Ok(Body::Skipped(r)) => (Err(refused(r)), keep_alive),
            // The body was not read to its end: the connection cannot carry another request.
            Err(ReadError::Refused(r)) => (Err(refused(r)), false),
            Err(ReadError::Closed) => return,
        };
        let response = match request {
            Ok(r) => shared.permits.run(|| (shared.handler)(&r)),
            Err(resp) => resp,
        };
        if write_response(&mut out, &response, head.method == "HEAD", keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

fn write_response(out: &mut impl Write, r: &Response, head_only: bool, keep_alive: bool) -> io::Result<()> {
    let mut bytes = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        if keep_alive { "" } else { "Connection: close\r\n" }
    )
    .into_bytes();
    if !head_only {
        bytes.extend_from_slice(&r.body);
    }
    out.write_all(&bytes)?;
    out.flush()
}

/// The method, path and parameters of a request: the query string, then the form body.
fn build_request(head: &Head, body: &[u8]) -> Result<Request, Response> {
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let mut params = parse_query(query);
    let method = head.method.clone();
    let content_type = head.header("Content-Type").unwrap_or_default();
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("multipart/form-data") {
        // What graphite-web's RemoteFinder sends with REMOTE_STORE_USE_POST (urllib3 encodes fields so).
        let boundary = content_type
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim_matches('"').to_string())
            .ok_or_else(|| Response::text(400, "multipart/form-data without a boundary\n"))?;
        params.extend(parse_multipart(body, &boundary)?);
    } else if lower.starts_with("application/x-www-form-urlencoded") || (method == "POST" && !body.is_empty()) {
        params.extend(parse_query(&String::from_utf8_lossy(body)));
    }
    Ok(Request { method, path: path.to_string(), params })
}

/// The text fields of a `multipart/form-data` body, in order (RFC 7578: parts separated by `--boundary`, each a
/// header block naming the field in `Content-Disposition`, a blank line, the value). Errors: a malformed body.
pub fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<(String, String)>, Response> {
    let bad = |why: &str| Response::text(400, format!("malformed multipart/form-data body: {why}\n"));
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let find = |hay: &[u8], from: usize, needle: &[u8]| {
        hay.get(from..).and_then(|h| h.windows(needle.len()).position(|w| w == needle)).map(|p| p + from)
    };
    let mut out = Vec::new();
    let mut pos = find(body, 0, delim).ok_or_else(|| bad("no boundary"))? + delim.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Ok(out); // the closing delimiter
        }
        let head_start = find(body, pos, b"\r\n").ok_or_else(|| bad("part without headers"))? + 2;
        let head_end = find(body, head_start, b"\r\n\r\n").ok_or_else(|| bad("unterminated part headers"))?;
        let next = find(body, head_end + 4, delim).ok_or_else(|| bad("unterminated part"))?;
        let value = body[head_end + 4..next].strip_suffix(b"\r\n").ok_or_else(|| bad("part without CRLF"))?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let name = head
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .flat_map(|l| l.split(';'))
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("name"))
            .map(|(_, v)| v.trim_matches('"').to_string())
            .ok_or_else(|| bad("part without a name"))?;
        out.push((name, String::from_utf8_lossy(value).into_owned()));
        pos = next + delim.len();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_form_fields_come_out_in_order() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"target\"\r\n\r\na.*\r\n\
                     --XyZ\r\nContent-Disposition: form-data; name=\"target\"\r\nContent-Type: text/plain\r\n\r\nb.{c,d}\r\n\
                     --XyZ\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\n\r\n--XyZ--\r\n";
        let got = parse_multipart(body, "XyZ").unwrap();
        let want = [("target", "a.*"), ("target", "b.{c,d}"), ("from", "")];
        assert_eq!(got, want.map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(parse_multipart(b"--XyZ\r\nno end", "XyZ").unwrap_err().status, 400);
        assert_eq!(parse_multipart(b"garbage", "XyZ").unwrap_err().status, 400);
    }

    #[test]
    fn query_strings_decode_plus_and_percent_escapes() {
        let p = parse_query("target=a.%7Bb%2Cc%7D.*&from=-1h&x=a+b&bad=%zz&t=%4&plus=%+1&end=%41");
        assert_eq!(p[0], ("target".into(), "a.{b,c}.*".into()));
        assert_eq!(p[1], ("from".into(), "-1h".into()));
        assert_eq!(p[2], ("x".into(), "a b".into()));
        assert_eq!(p[3], ("bad".into(), "%zz".into()));
        assert_eq!(p[4], ("t".into(), "%4".into()));
        assert_eq!(p[5], ("plus".into(), "% 1".into()), "a bad escape stays, its + is still a space");
        assert_eq!(p[6], ("end".into(), "A".into()), "an escape at the very end decodes");
    }
}
