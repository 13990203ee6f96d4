//! HTTP/1.1 request framing: where a request's head ends, what its fields say, and where its body ends, read from
//! any [`BufRead`] (a socket's buffered reader in [`super::http_server`], bytes in memory in the fuzz target
//! `http_head`). The request line and header fields are parsed by `httparse` (hyper's parser), and so are chunk
//! sizes; what is warren's own is the framing around them:
//!
//! - a head is read line by line (a line ends at LF; the CRs before it are dropped) up to the first empty line,
//!   after skipping empty lines before the request line (RFC 9112 2.2); it may take at most `max_head` bytes,
//!   leading empty lines included (431 beyond), and at most [`MAX_HEADERS`] fields (431 beyond);
//! - a body is chunked when the request has a `Transfer-Encoding` field (501 unless its codings, over every such
//!   field, are exactly one `chunked`: any other coding, e.g. `gzip, chunked`, would leave the body encoded), else `Content-Length` bytes long (every such field all digits and all the same number, else 400;
//!   none: no body); it may be at most `max_body` bytes (413 beyond). A `Content-Length` body over the cap is
//!   read and discarded, so the next request on the connection can still be read, unless the client waits for
//!   `100 Continue` (`Expect: 100-continue`, HTTP/1.1), which it then never gets;
//! - a chunk-size line is at most [`MAX_CHUNK_LINE`] bytes, one to sixteen hex digits, optional blanks, an
//!   optional `;extension` (400 otherwise); chunk data ends with CRLF (400 otherwise); trailer fields after the
//!   last chunk are skipped up to the empty line (at most `max_head` bytes, 431 beyond).
//!
//! A refusal is one of 400, 413, 431, 501, 505 ([`Refusal`]); input that ends, fails or times out before a request
//! is complete is [`ReadError::Closed`]. Nothing is read past the end of the request being read.
//!
//! Owns: request framing. Never touches: sockets, threads, what a request means.

use std::io::{self, BufRead, Read, Write};

/// Longest request line plus headers accepted by default, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;

/// Most header fields in one request head (431 beyond).
pub const MAX_HEADERS: usize = 100;

/// Longest chunk-size line (size, extensions, line end), in bytes (400 beyond).
pub const MAX_CHUNK_LINE: usize = 1024;

/// The one interim response sent, to a client that asked for it before sending its body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Bounds on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Longest head (request line, fields, empty lines before it, the empty line ending it), in bytes; also the
    /// bound on a chunked body's trailer fields.
    pub max_head: usize,
    /// Largest body, in bytes.
    pub max_body: usize,
}

/// A request's head: method, target, HTTP minor version, header fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The method token as sent (`GET`, `POST`, …).
    pub method: String,
    /// The request target as sent (path and query string).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Field names as sent; values without the blanks (SP, HTAB) around them, lossily decoded as UTF-8.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of field `name` (case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True if a comma-separated element of any `name` field is `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name).flat_map(|v| v.split(',')).any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
    }

    /// True if the `Transfer-Encoding` codings (every such field, comma-separated, empty elements skipped) are
    /// exactly one `chunked`.
    pub fn only_chunked(&self) -> bool {
        let mut codings = self
            .values("Transfer-Encoding")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim_matches([' ', '\t']))
            .filter(|t| !t.is_empty());
        matches!((codings.next(), codings.next()), (Some(c), None) if c.eq_ignore_ascii_case("chunked"))
    }

    /// Whether the connection may carry another request after this one: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if self.minor >= 1 {
            !self.has_token("Connection", "close")
        } else {
            self.has_token("Connection", "keep-alive")
        }
    }
}

/// A request refused with an HTTP status (400, 413, 431, 501 or 505) and a one-line plain-text reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status to answer with.
    pub status: u16,
    /// Why, ending with a newline (the response body).
    pub reason: String,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal { status, reason: reason.into() }
    }
}

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The input ended, failed or timed out before the request was complete: close without answering.
    Closed,
    /// Answer with this and close: what follows on the input cannot be framed.
    Refused(Refusal),
}

impl From<Refusal> for ReadError {
    fn from(r: Refusal) -> Self {
        ReadError::Refused(r)
    }
}

/// A request body as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The whole body (chunked: the chunks' data, concatenated).
    Read(Vec<u8>),
    /// A `Content-Length` body over the cap, read and discarded: answer with this (413); the next request
    /// follows on the input.
    Skipped(Refusal),
}

/// How reading one line failed.
enum LineError {
    /// The input ended (or failed) first.
    Eof,
    /// The budget ran out first.
    TooLong,
}

/// Read one line (through LF) into `line` without its line end (the LF and every CR before it), spending at most
/// `*budget` bytes of it.
fn read_line_capped(r: &mut impl BufRead, line: &mut Vec<u8>, budget: &mut usize) -> Result<(), LineError> {
    line.clear();
    if *budget == 0 {
        return Err(LineError::TooLong);
    }
    let n = r.by_ref().take(*budget as u64).read_until(b'\n', line).map_err(|_| LineError::Eof)?;
    *budget -= n;
    if line.last() != Some(&b'\n') {
        return Err(if *budget == 0 { LineError::TooLong } else { LineError::Eof });
    }
    line.pop();
    while line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(())
}

/// Read one request head (see the module documentation for the framing and its refusals): 431 when it needs
/// more than `caps.max_head` bytes or has more than [`MAX_HEADERS`] fields, 505 for a version other than HTTP/1.0
/// and HTTP/1.1, 400 for anything else `httparse` refuses. Reads exactly through the empty line ending the head.
pub fn read_head(r: &mut impl BufRead, caps: &Caps) -> Result<Head, ReadError> {
    let too_long = || Refusal::new(431, "request head too long\n");
    let eof_or = |e: LineError| match e {
        LineError::Eof => ReadError::Closed,
        LineError::TooLong => too_long().into(),
    };
    let mut budget = caps.max_head;
    let mut line = Vec::new();
    loop {
        read_line_capped(r, &mut line, &mut budget).map_err(eof_or)?;
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
        read_line_capped(r, &mut line, &mut budget).map_err(eof_or)?;
    }
    parse_head(&raw).map_err(ReadError::Refused)
}

/// Parse a complete request head (request line, fields, empty line; CRLF line ends).
fn parse_head(raw: &[u8]) -> Result<Head, Refusal> {
    let bad = |why: String| Refusal::new(400, format!("bad request: {why}\n"));
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad("incomplete request head".into())),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(431, format!("more than {MAX_HEADERS} header fields\n")))
        }
        Err(httparse::Error::Version) => return Err(Refusal::new(505, "HTTP/1.0 and HTTP/1.1 only\n")),
        Err(e) => return Err(bad(e.to_string())),
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(bad("malformed request line".into()));
    };
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let trim = |v: &[u8]| {
        let start = v.iter().position(|b| !blank(b)).unwrap_or(v.len());
        let end = v.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
        String::from_utf8_lossy(&v[start..end]).into_owned()
    };
    let headers = req.headers.iter().map(|h| (h.name.to_string(), trim(h.value))).collect();
    Ok(Head { method: method.to_string(), target: target.to_string(), minor, headers })
}

/// The body of the request whose head is `head` (see the module documentation). Writes [`CONTINUE`] to `out`
/// first when the client waits for it and a body is coming. Reads exactly through the end of the body (or of
/// the trailer fields); on a refusal, the input is left where the refusal was found.
pub fn read_body(r: &mut impl BufRead, out: &mut impl Write, head: &Head, caps: &Caps) -> Result<Body, ReadError> {
    let max = caps.max_body;
    let too_big = || Refusal::new(413, format!("request body over {max} bytes\n"));
    let chunked = head.header("Transfer-Encoding").is_some();
    if chunked && !head.only_chunked() {
        return Err(Refusal::new(501, "only the chunked transfer coding is supported\n").into());
    }
    let length = if chunked { None } else { Some(content_length(head)?) };
    let expects_continue = head.minor >= 1 && head.has_token("Expect", "100-continue");
    if let Some(n) = length.filter(|&n| n > max) {
        if expects_continue {
            return Err(too_big().into());
        }
        let skipped = io::copy(&mut r.by_ref().take(n as u64), &mut io::sink()).map_err(|_| ReadError::Closed)?;
        return if skipped == n as u64 { Ok(Body::Skipped(too_big())) } else { Err(ReadError::Closed) };
    }
    if length != Some(0) && expects_continue {
        out.write_all(CONTINUE).and_then(|()| out.flush()).map_err(|_| ReadError::Closed)?;
    }
    let mut body = Vec::new();
    if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).map_err(|_| ReadError::Closed)?;
        return Ok(Body::Read(body));
    }
    let mut line = Vec::new();
    loop {
        let mut budget = MAX_CHUNK_LINE;
        read_line_capped(r, &mut line, &mut budget).map_err(|e| match e {
            LineError::Eof => ReadError::Closed,
            LineError::TooLong => Refusal::new(400, "chunk-size line too long\n").into(),
        })?;
        // httparse reads an empty size as 0 (the last chunk): RFC 9112 7.1 wants at least one hex digit.
        if !line.first().is_some_and(u8::is_ascii_hexdigit) {
            return Err(Refusal::new(400, "bad chunk size\n").into());
        }
        line.extend_from_slice(b"\r\n");
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => usize::try_from(size).map_err(|_| too_big())?,
            _ => return Err(Refusal::new(400, "bad chunk size\n").into()),
        };
        if size == 0 {
            // Trailer fields, up to the empty line.
            let mut budget = caps.max_head;
            loop {
                read_line_capped(r, &mut line, &mut budget).map_err(|e| match e {
                    LineError::Eof => ReadError::Closed,
                    LineError::TooLong => Refusal::new(431, "trailer fields too long\n").into(),
                })?;
                if line.is_empty() {
                    return Ok(Body::Read(body));
                }
            }
        }
        if size > max - body.len() {
            return Err(too_big().into());
        }
        let at = body.len();
        body.resize(at + size, 0);
        r.read_exact(&mut body[at..]).map_err(|_| ReadError::Closed)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(|_| ReadError::Closed)?;
        if &crlf != b"\r\n" {
            return Err(Refusal::new(400, "chunk without CRLF\n").into());
        }
    }
}

/// The length every `Content-Length` field gives (0 without one). Digits only (RFC 9110 8.6: Rust's integer
/// parser would also take a leading `+`); several fields must agree (RFC 9112 6.3), else 400.
fn content_length(head: &Head) -> Result<usize, Refusal> {
    let bad = || Refusal::new(400, "bad Content-Length\n");
    let mut length = None;
    for v in head.values("Content-Length") {
        let n = Some(v)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(bad)?;
        if length.is_some_and(|l| l != n) {
            return Err(bad());
        }
        length = Some(n);
    }
    Ok(length.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps { max_head: MAX_HEAD, max_body: 100 };

    fn head_of(raw: &[u8]) -> Result<Head, u16> {
        read_head(&mut io::Cursor::new(raw), &CAPS).map_err(status)
    }

    fn status(e: ReadError) -> u16 {
        match e {
            ReadError::Closed => 0,
            ReadError::Refused(r) => r.status,
        }
    }

    fn body_of(head: &[u8], rest: &[u8], max_body: usize) -> Result<Vec<u8>, u16> {
        let head = head_of(head).expect("a valid head");
        let mut out = Vec::new();
        match read_body(&mut io::Cursor::new(rest), &mut out, &head, &Caps { max_body, ..CAPS }) {
            Ok(Body::Read(body)) => Ok(body),
            Ok(Body::Skipped(r)) => Err(r.status),
            Err(e) => Err(status(e)),
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
    fn a_head_of_exactly_the_cap_is_read_and_one_byte_more_is_431_even_at_a_line_end() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let read = |max_head: usize, input: &[u8]| {
            read_head(&mut io::Cursor::new(input), &Caps { max_head, max_body: 0 }).map_err(status)
        };
        assert!(read(head.len(), head).is_ok());
        assert_eq!(read(head.len() - 1, head).err(), Some(431));
        // The cap is spent exactly at the end of a field line: the head still needs its empty line, so 431 (it
        // used to read as a clean close).
        assert_eq!(read(head.len() - 2, head).err(), Some(431));
        assert_eq!(read(head.len() - 2, &head[..head.len() - 2]).err(), Some(431));
    }

    #[test]
    fn header_values_lose_only_blanks_around_them() {
        let h = head_of(b"GET / HTTP/1.1\r\nX: \t a b\t \r\nY: \xc2\xa0v\xc2\xa0\r\n\r\n").unwrap();
        assert_eq!(h.header("x"), Some("a b"));
        assert_eq!(h.header("y"), Some("\u{a0}v\u{a0}"), "a no-break space is not a blank (RFC 9110 5.6.3)");
        let te = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\xc2\xa0\r\n\r\n";
        assert_eq!(body_of(te, b"0\r\n\r\n", 100).err(), Some(501));
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
        assert_eq!(body_of(te, b"3\r\nab", 100).err(), Some(0), "a chunk cut short closes");
        assert_eq!(body_of(te, b"3", 100).err(), Some(0), "a size line cut short closes");
    }

    #[test]
    fn a_coding_other_than_one_chunked_is_not_implemented() {
        let with = |te: &str| format!("POST / HTTP/1.1\r\n{te}\r\n\r\n");
        for te in ["Transfer-Encoding: gzip, chunked", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"] {
            assert_eq!(body_of(with(te).as_bytes(), b"0\r\n\r\n", 100).err(), Some(501), "{te}");
        }
        for te in ["Transfer-Encoding: chunked, chunked", "Transfer-Encoding: identity", "Transfer-Encoding: ,"] {
            assert_eq!(body_of(with(te).as_bytes(), b"0\r\n\r\n", 100).err(), Some(501), "{te}");
        }
        for te in ["Transfer-Encoding: CHUNKED", "Transfer-Encoding: , chunked ,", "Transfer-Encoding: \t chunked"] {
            assert_eq!(body_of(with(te).as_bytes(), b"2\r\nab\r\n0\r\n\r\n", 100).unwrap(), b"ab", "{te}");
        }
    }

    #[test]
    fn an_empty_chunk_size_is_refused_not_read_as_the_last_chunk() {
        let te = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(body_of(te, b"\r\n\r\n", 100).err(), Some(400));
        assert_eq!(body_of(te, b";ext\r\n\r\n", 100).err(), Some(400));
        assert_eq!(body_of(te, b" 0\r\n\r\n", 100).err(), Some(400));
    }

    #[test]
    fn content_length_fields_must_agree() {
        let two = |a: &str, b: &str| format!("POST / HTTP/1.1\r\nContent-Length: {a}\r\nContent-Length: {b}\r\n\r\n");
        assert_eq!(body_of(two("3", "3").as_bytes(), b"abc", 100).unwrap(), b"abc");
        assert_eq!(body_of(two("3", "03").as_bytes(), b"abc", 100).unwrap(), b"abc", "the same number");
        assert_eq!(body_of(two("3", "4").as_bytes(), b"abcd", 100).err(), Some(400));
        assert_eq!(body_of(two("3", "x").as_bytes(), b"abc", 100).err(), Some(400));
    }

    #[test]
    fn continue_is_sent_only_to_a_client_waiting_with_a_body_within_the_cap() {
        let run = |head: &[u8], rest: &[u8]| {
            let head = head_of(head).unwrap();
            let mut out = Vec::new();
            let got = read_body(&mut io::Cursor::new(rest), &mut out, &head, &CAPS).map_err(status);
            (got, out)
        };
        let (got, out) = run(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", b"ab");
        assert_eq!((got, out.as_slice()), (Ok(Body::Read(b"ab".to_vec())), CONTINUE));
        let (got, out) = run(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n", b"");
        assert_eq!((got, out.len()), (Err(413), 0), "refused before the body comes");
        let (got, out) = run(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", b"ab");
        assert_eq!((got, out.len()), (Ok(Body::Read(b"ab".to_vec())), 0), "not to HTTP/1.0");
        let (got, out) = run(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", b"");
        assert_eq!((got, out.len()), (Ok(Body::Read(Vec::new())), 0), "no body: nothing to wait for");
    }
}
