//! The HTTP server under warren's HTTP API: `tiny_http` reads requests and frames responses (keep-alive,
//! `Expect: 100-continue`, chunked bodies, HEAD); this module puts bounds around it and runs the handlers on a
//! small fixed pool of threads.
//!
//! tiny_http 0.12 has no timeouts of its own, so they are set on the listening socket, whose options Linux copies
//! into every accepted connection: `SO_RCVTIMEO` (an idle keep-alive connection, or a client that stops sending
//! mid-request, is closed after `idle_timeout`) and `SO_SNDTIMEO` (a client that stops reading is dropped after
//! `write_timeout`). A listening socket with `SO_RCVTIMEO` also makes `accept` give up after that long without a
//! new connection, which would end tiny_http's accept loop; a keeper thread therefore opens and closes one
//! loopback connection every quarter of `idle_timeout`, and if the accept loop dies anyway (`EMFILE`, …) the
//! server is rebuilt on the same socket. Request bodies are capped at `max_body` bytes (413 beyond).
//!
//! Owns: the listening socket, the handler threads, the keeper. Never touches: what a request means (the handler
//! passed to [`HttpServer::start`] answers it).

use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Bounds of the HTTP server.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Handler threads (requests answered at once).
    pub threads: usize,
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

struct Shared {
    listener: TcpListener,
    server: Mutex<Arc<tiny_http::Server>>,
    generation: AtomicU64,
    stop: AtomicBool,
    handler: Box<Handler>,
    options: HttpOptions,
}

/// A running HTTP server.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl HttpServer {
    /// Bind `addr` (port 0 picks a free port) and answer every request with `handler` on `options.threads`
    /// threads. Errors: binding, or setting the socket options.
    pub fn start<F>(addr: SocketAddr, options: HttpOptions, handler: F) -> io::Result<HttpServer>
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        set_timeout(&listener, libc::SO_RCVTIMEO, options.idle_timeout)?;
        set_timeout(&listener, libc::SO_SNDTIMEO, options.write_timeout)?;
        let server = tiny_server(&listener)?;
        let shared = Arc::new(Shared {
            listener,
            server: Mutex::new(Arc::new(server)),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            handler: Box::new(handler),
            options,
        });
        let mut threads = Vec::new();
        for i in 0..shared.options.threads.max(1) {
            let s = shared.clone();
            threads.push(std::thread::Builder::new().name(format!("http-{i}")).spawn(move || serve(&s))?);
        }
        let s = shared.clone();
        threads.push(std::thread::Builder::new().name("http-keeper".into()).spawn(move || keep_accepting(&s, addr))?);
        tracing::info!(address = %addr, threads = shared.options.threads, "HTTP API listening");
        Ok(HttpServer { addr, shared, threads })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop answering, wait for the handler threads. Connections still open are closed by their read timeout.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // The threads are joined: dropping `shared` with `self` drops tiny_http's server, which ends its accept
        // loop.
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown();
        }
    }
}

fn tiny_server(listener: &TcpListener) -> io::Result<tiny_http::Server> {
    tiny_http::Server::from_listener(listener.try_clone()?, None).map_err(io::Error::other)
}

fn set_timeout(listener: &TcpListener, option: libc::c_int, d: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_usec: libc::suseconds_t::from(d.subsec_micros() as i32),
    };
    // SAFETY: the fd is a live socket owned by `listener`; `tv` is a valid timeval and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One loopback connection every quarter of the idle timeout keeps `accept` from timing out.
fn keep_accepting(shared: &Shared, addr: SocketAddr) {
    let mut wake = addr;
    if wake.ip().is_unspecified() {
        wake.set_ip(if wake.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
    }
    let period = (shared.options.idle_timeout / 4).max(Duration::from_millis(50));
    let tick = Duration::from_millis(50).min(period);
    let mut waited = Duration::ZERO;
    while !shared.stop.load(Ordering::Acquire) {
        std::thread::sleep(tick);
        waited += tick;
        if waited >= period {
            waited = Duration::ZERO;
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        }
    }
}

fn current(shared: &Shared) -> (Arc<tiny_http::Server>, u64) {
    let s = shared.server.lock().unwrap_or_else(|p| p.into_inner());
    (s.clone(), shared.generation.load(Ordering::Acquire))
}

fn serve(shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        let (server, generation) = current(shared);
        match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(rq)) => answer(shared, rq),
            Ok(None) => {}
            Err(e) => rebuild(shared, generation, &e),
        }
    }
}

/// tiny_http's accept loop ended (it stops at the first accept error): serve the same socket anew.
fn rebuild(shared: &Shared, generation: u64, e: &io::Error) {
    let mut s = shared.server.lock().unwrap_or_else(|p| p.into_inner());
    if shared.generation.load(Ordering::Acquire) != generation {
        return; // another handler already did
    }
    tracing::warn!(error = %e, "HTTP API: accept loop ended; serving the socket anew");
    match tiny_server(&shared.listener) {
        Ok(new) => {
            *s = Arc::new(new);
            shared.generation.fetch_add(1, Ordering::AcqRel);
        }
        Err(e) => {
            tracing::error!(error = %e, "HTTP API: cannot serve the socket anew; retrying");
            drop(s);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn answer(shared: &Shared, mut rq: tiny_http::Request) {
    let request = match read_request(&mut rq, shared.options.max_body) {
        Ok(r) => r,
        Err(resp) => return respond(rq, resp),
    };
    let resp = (shared.handler)(&request);
    respond(rq, resp);
}

fn respond(rq: tiny_http::Request, r: Response) {
    let mut resp = tiny_http::Response::from_data(r.body).with_status_code(r.status);
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], r.content_type.as_bytes()) {
        resp.add_header(h);
    }
    if let Err(e) = rq.respond(resp) {
        tracing::debug!(error = %e, "HTTP API: response not delivered");
    }
}

/// The method, path and parameters of `rq`, its form body read (at most `max_body` bytes).
fn read_request(rq: &mut tiny_http::Request, max_body: usize) -> Result<Request, Response> {
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut params = parse_query(query);
    let method = rq.method().as_str().to_string();
    if rq.body_length().is_some_and(|n| n > max_body) {
        return Err(Response::text(413, format!("request body over {max_body} bytes\n")));
    }
    let content_type = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    let mut body = Vec::new();
    rq.as_reader()
        .take(max_body as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Response::text(400, format!("cannot read the request body: {e}\n")))?;
    if body.len() > max_body {
        return Err(Response::text(413, format!("request body over {max_body} bytes\n")));
    }
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("multipart/form-data") {
        // What graphite-web's RemoteFinder sends with REMOTE_STORE_USE_POST (urllib3 encodes fields so).
        let boundary = content_type
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim_matches('"').to_string())
            .ok_or_else(|| Response::text(400, "multipart/form-data without a boundary\n"))?;
        params.extend(parse_multipart(&body, &boundary)?);
    } else if lower.starts_with("application/x-www-form-urlencoded") || (method == "POST" && !body.is_empty()) {
        params.extend(parse_query(&String::from_utf8_lossy(&body)));
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
