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
//! HEAD. That is this module: it owns the connections and the framing; the request line and header fields are
//! parsed by `httparse` (hyper's parser) and so are chunk sizes.
//!
//! Timeouts are per connection: a connection that sends nothing for `idle_timeout` (idle keep-alive, or a request
//! that stalls half-way) is closed, and a client that takes no response bytes for `write_timeout` is dropped.
//! Memory per connection: the read buffer, a head of at most [`MAX_HEAD`], a body of at most `max_body`.
//!
//! Owns: the HTTP/1.1 framing, the handler permits. Never touches: what a request means (the handler passed to
//! [`HttpServer::start`] answers it).

use super::server::Server;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Longest request line plus headers accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;

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
        let server = Server::start(addr, "http", max, refused, move |stream| serve_connection(stream, &shared))?;
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

/// A request's head: method, target, HTTP minor version, headers.
struct Head {
    method: String,
    target: String,
    minor: u8,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Why a request could not be read: answer with this status and close, or just close (`None`).
type Refusal = Option<Response>;

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
    loop {
        let head = match read_head(&mut input) {
            Ok(h) => h,
            Err(refusal) => {
                if let Some(r) = refusal {
                    let _ = write_response(&mut out, &r, false, false);
                }
                return;
            }
        };
        let keep_alive = if head.minor >= 1 {
            !head.has_token("Connection", "close")
        } else {
            head.has_token("Connection", "keep-alive")
        };
        let (request, keep_alive) = match read_body(&mut input, &mut out, &head, o.max_body) {
            Ok(Ok(body)) => (build_request(&head, &body), keep_alive),
            // Refused, its body read and discarded: the connection carries on.
            Ok(Err(resp)) => (Err(resp), keep_alive),
            // The body was not read to its end: the connection cannot carry another request.
            Err(Some(resp)) => (Err(resp), false),
            Err(None) => return,
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

/// Read one line (through `\n`) into `line`, at most `*budget` bytes, which it spends.
fn read_line_capped(r: &mut impl BufRead, line: &mut Vec<u8>, budget: &mut usize) -> Result<(), Refusal> {
    line.clear();
    let n = r.by_ref().take(*budget as u64).read_until(b'\n', line).map_err(|_| None)?;
    *budget -= n;
    if line.last() != Some(&b'\n') {
        // EOF (a clean close between requests, or a truncated request), or the head is too long.
        return Err(if n > 0 && *budget == 0 { Some(Response::text(431, "request head too long\n")) } else { None });
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(())
}

/// Most header fields in one request head (431 beyond).
const MAX_HEADERS: usize = 100;

/// The request line and headers (at most [`MAX_HEAD`] bytes, [`MAX_HEADERS`] fields), read line by line up to the
/// empty line and then parsed by `httparse` (token, target and field syntax as RFC 9112 has them). Empty lines
/// before the request line are skipped (RFC 9112 2.2).
fn read_head(r: &mut impl BufRead) -> Result<Head, Refusal> {
    let mut budget = MAX_HEAD;
    let mut line = Vec::new();
    loop {
        read_line_capped(r, &mut line, &mut budget)?;
        if !line.is_empty() {
            break;
        }
    }
    let mut raw = Vec::with_capacity(512);
    loop {
        raw.extend_from_slice(&line);
        raw.extend_from_slice(b"\r\n");
        if line.is_empty() {
            break;
        }
        read_line_capped(r, &mut line, &mut budget)?;
    }
    parse_head(&raw)
}

/// Parse a complete request head (request line, fields, empty line; CRLF line ends).
fn parse_head(raw: &[u8]) -> Result<Head, Refusal> {
    let bad = |why: String| Some(Response::text(400, format!("bad request: {why}\n")));
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad("incomplete request head".into())),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Some(Response::text(431, format!("more than {MAX_HEADERS} header fields\n"))))
        }
        Err(httparse::Error::Version) => return Err(Some(Response::text(505, "HTTP/1.0 and HTTP/1.1 only\n"))),
        Err(e) => return Err(bad(e.to_string())),
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(bad("malformed request line".into()));
    };
    let headers =
        req.headers.iter().map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string())).collect();
    Ok(Head { method: method.to_string(), target: target.to_string(), minor, headers })
}

/// The request body (`Content-Length` or chunked), at most `max`. `Ok(Err(_))`: answer that, the body was read
/// and discarded (a `Content-Length` body over `max`, unless the client waits for `100 Continue`: it is never
/// read into memory); `Err(Some(_))`: answer that and close; `Err(None)`: close.
fn read_body(
    r: &mut impl BufRead,
    out: &mut impl Write,
    head: &Head,
    max: usize,
) -> Result<Result<Vec<u8>, Response>, Refusal> {
    let too_big = || Some(Response::text(413, format!("request body over {max} bytes\n")));
    let chunked = head.header("Transfer-Encoding").is_some();
    if chunked && !head.has_token("Transfer-Encoding", "chunked") {
        return Err(Some(Response::text(501, "only the chunked transfer coding is supported\n")));
    }
    let length = match head.header("Content-Length") {
        _ if chunked => None,
        None => Some(0),
        // Digits only (RFC 9110 8.6): Rust's integer parser would also take a leading `+`.
        Some(v) => Some(
            Some(v)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| Some(Response::text(400, "bad Content-Length\n")))?,
        ),
    };
    let expects_continue = head.minor >= 1 && head.has_token("Expect", "100-continue");
    if let Some(n) = length.filter(|&n| n > max) {
        if expects_continue {
            return Err(too_big());
        }
        let skipped = io::copy(&mut r.by_ref().take(n as u64), &mut io::sink()).map_err(|_| None)?;
        return if skipped == n as u64 { Ok(Err(too_big().expect("a response"))) } else { Err(None) };
    }
    if length != Some(0) && expects_continue {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|_| None)?;
    }
    let mut body = Vec::new();
    if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).map_err(|_| None)?;
        return Ok(Ok(body));
    }
    let mut line = Vec::new();
    loop {
        let mut budget = 1024;
        read_line_capped(r, &mut line, &mut budget).map_err(|_| Some(Response::text(400, "bad chunk\n")))?;
        line.extend_from_slice(b"\r\n");
        let bad_size = || Some(Response::text(400, "bad chunk size\n"));
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => usize::try_from(size).map_err(|_| too_big())?,
            _ => return Err(bad_size()),
        };
        if size == 0 {
            // Trailer fields, up to the empty line.
            let mut budget = MAX_HEAD;
            loop {
                read_line_capped(r, &mut line, &mut budget)?;
                if line.is_empty() {
                    return Ok(Ok(body));
                }
            }
        }
        if size > max - body.len() {
            return Err(too_big());
        }
        let at = body.len();
        body.resize(at + size, 0);
        r.read_exact(&mut body[at..]).map_err(|_| None)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(|_| None)?;
        if &crlf != b"\r\n" {
            return Err(Some(Response::text(400, "chunk without CRLF\n")));
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

    fn head_of(raw: &[u8]) -> Result<Head, u16> {
        read_head(&mut io::Cursor::new(raw)).map_err(|r| r.map_or(0, |r| r.status))
    }

    fn body_of(head: &[u8], rest: &[u8], max: usize) -> Result<Vec<u8>, u16> {
        let head = head_of(head).expect("a valid head");
        let mut out = Vec::new();
        match read_body(&mut io::Cursor::new(rest), &mut out, &head, max) {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(r)) | Err(Some(r)) => Err(r.status),
            Err(None) => Err(0),
        }
    }

    #[test]
    fn request_heads_parse_and_malformed_ones_are_refused_with_their_status() {
        let h = head_of(b"\r\nPOST /render?target=a HTTP/1.1\r\nHost: x\r\nContent-Length:  5 \r\n\r\n").unwrap();
        assert_eq!((h.method.as_str(), h.target.as_str(), h.minor), ("POST", "/render?target=a", 1));
        assert_eq!(h.header("content-length"), Some("5"));
        assert_eq!(head_of(b"GET / HTTP/1.0\n\n").unwrap().minor, 0, "bare LF line ends are read");
        assert_eq!(head_of(b"GET / HTTP/2.0\r\n\r\n").err(), Some(505));
        assert_eq!(head_of(b"GET /\r\n\r\n").err(), Some(400));
        assert_eq!(head_of(b"G(T / HTTP/1.1\r\n\r\n").err(), Some(400));
        assert_eq!(head_of(b"GET / HTTP/1.1\r\nno colon\r\n\r\n").err(), Some(400));
        assert_eq!(head_of(b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n").err(), Some(400));
        let many: Vec<u8> = [&b"GET / HTTP/1.1\r\n"[..], &b"a: b\r\n".repeat(MAX_HEADERS + 1), b"\r\n"].concat();
        assert_eq!(head_of(&many).err(), Some(431));
        let long: Vec<u8> = [&b"GET /"[..], &vec![b'a'; MAX_HEAD], b" HTTP/1.1\r\n\r\n"].concat();
        assert_eq!(head_of(&long).err(), Some(431));
        assert_eq!(head_of(b"GET / HTTP/1.1\r\nHost: x\r\n").err(), Some(0), "a head cut short closes");
    }

    #[test]
    fn bodies_by_length_or_chunks_and_their_limits() {
        let cl = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(body_of(cl, b"hello", 100).unwrap(), b"hello");
        assert_eq!(body_of(cl, b"hello", 4).err(), Some(413));
        assert_eq!(body_of(b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", b"hello", 100).err(), Some(400));
        assert_eq!(body_of(b"POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n", b"hello", 100).err(), Some(400));
        let te = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(body_of(te, b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n", 100).unwrap(), b"abcde");
        assert_eq!(body_of(te, b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 4).err(), Some(413));
        // A size that would overflow the running total is refused, not wrapped round.
        assert_eq!(body_of(te, b"1\r\na\r\nffffffffffffffff\r\n", 100).err(), Some(413));
        assert_eq!(body_of(te, b"1ffffffffffffffffff\r\n", 100).err(), Some(400), "a chunk size over 64 bits");
        assert_eq!(body_of(te, b"zz\r\n", 100).err(), Some(400));
        assert_eq!(body_of(te, b"3\r\nabcXY0\r\n\r\n", 100).err(), Some(400), "a chunk not ended by CRLF");
    }
}
