//! Invariants of warren's own HTTP/1.1 request framing (`query::http_parse`): where a head ends, what it says,
//! where a body ends and what it holds, on a connection carrying requests one after another. Part of `checks.rs`
//! (same rules: a violated invariant panics).
//!
//! Two oracles, neither sharing code with the library: a reference framer written from RFC 9112 and the
//! documented leniencies (lines end at LF with their CRs dropped, empty lines before a request skipped; httparse's
//! byte classes for tokens, targets and field values), which predicts every outcome of arbitrary bytes, status
//! and bytes consumed included; and a generator of well-formed pipelined requests whose heads and bodies are
//! known before they are written.

use super::read::Bytes;
use std::io::{self, BufRead, Read};
use warren::query::http_parse::{
    read_body, read_head, Body, Caps, Head, ReadError, CONTINUE, MAX_CHUNK_LINE, MAX_HEAD, MAX_HEADERS,
};

/// Requests read from one input at most (each read is cheap; this bounds a run on a long stream of tiny ones).
const MAX_REQUESTS: usize = 64;

/// Bytes in memory as a socket hands them out: at most `piece` bytes per fill, so every read of the library
/// meets piece boundaries. `pos` is what the library consumed.
struct Pieces<'a> {
    data: &'a [u8],
    pos: usize,
    piece: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Pieces<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let end = self.data.len().min(self.pos + self.piece);
        Ok(&self.data[self.pos..end])
    }
    fn consume(&mut self, n: usize) {
        assert!(self.pos + n <= self.data.len().min(self.pos + self.piece), "consumed more than was filled");
        self.pos += n;
    }
}

/// What reading one request gave.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// A whole request: method, target, minor version, fields, body.
    Request(String, String, u8, Vec<(String, String)>, Vec<u8>),
    /// A `Content-Length` body over the cap, discarded (413); the connection carries on.
    Skipped,
    /// Refused with this status; the connection closes.
    Refused(u16),
    /// The input ended first; the connection closes.
    Closed,
}

/// The library's reading of the next request: its outcome and what it wrote back (`100 Continue`).
fn library_next(r: &mut Pieces, caps: &Caps) -> (Outcome, Vec<u8>) {
    let mut out = Vec::new();
    let refused = |e: ReadError| match e {
        ReadError::Closed => Outcome::Closed,
        ReadError::Refused(r) => {
            assert!(r.reason.ends_with('\n') && r.reason.len() > 1, "a refusal says why: {r:?}");
            Outcome::Refused(r.status)
        }
    };
    let head = match read_head(r, caps) {
        Ok(h) => h,
        Err(e) => return (refused(e), out),
    };
    let outcome = match read_body(r, &mut out, &head, caps) {
        Ok(Body::Read(body)) => {
            assert!(body.len() <= caps.max_body, "a body of {} bytes over the cap {}", body.len(), caps.max_body);
            let Head { method, target, minor, headers } = head;
            Outcome::Request(method, target, minor, headers, body)
        }
        Ok(Body::Skipped(r)) => {
            assert_eq!(r.status, 413, "only an over-long body is skipped");
            Outcome::Skipped
        }
        Err(e) => refused(e),
    };
    (outcome, out)
}

/// The reference's prediction: the outcome, whether `100 Continue` was sent, and (for a request read whole or
/// skipped) how many bytes it took.
struct Prediction {
    outcome: Outcome,
    continued: bool,
    len: usize,
}

impl Prediction {
    fn end(outcome: Outcome) -> Prediction {
        Prediction { outcome, continued: false, len: 0 }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_blanks(mut v: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = v {
        if !is_blank(*first) {
            break;
        }
        v = rest;
    }
    while let [rest @ .., last] = v {
        if !is_blank(*last) {
            break;
        }
        v = rest;
    }
    v
}

/// Lines from `s` (each through its LF, CRs before the LF dropped) until `done` says a line ends the block;
/// `Ok((lines, bytes taken))`, or `Err` with the outcome when the block is not whole within `cap` bytes: 'too
/// long' (`over`) if at least `cap` bytes are there, else the input ended (closed).
fn lines_until(
    s: &[u8],
    cap: usize,
    over: u16,
    mut done: impl FnMut(&[u8], usize) -> bool,
) -> Result<(Vec<&[u8]>, usize), Outcome> {
    let mut lines = Vec::new();
    let mut p = 0;
    loop {
        let Some(lf) = s[p..].iter().position(|&b| b == b'\n') else {
            return Err(if s.len() >= cap { Outcome::Refused(over) } else { Outcome::Closed });
        };
        let end = p + lf + 1;
        if end > cap {
            return Err(Outcome::Refused(over));
        }
        let mut line = &s[p..p + lf];
        while let [rest @ .., b'\r'] = line {
            line = rest;
        }
        p = end;
        if done(line, lines.len()) {
            return Ok((lines, p));
        }
        lines.push(line);
    }
}

/// A head as the reference reads it: method, target, minor version, fields (values without blanks around).
type RefHead = (String, String, u8, Vec<(Vec<u8>, Vec<u8>)>);

/// The reference's request line and fields; `Err(status)` for a head httparse refuses.
fn reference_parse(lines: &[&[u8]]) -> Result<RefHead, u16> {
    let line = lines[0];
    let sp = line.iter().position(|&b| b == b' ').ok_or(400u16)?;
    let (method, rest) = (&line[..sp], &line[sp + 1..]);
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(400);
    }
    let sp = rest.iter().position(|&b| b == b' ').ok_or(400u16)?;
    let (target, version) = (&rest[..sp], &rest[sp + 1..]);
    let uri_byte = |b: u8| (0x21..=0x7e).contains(&b) || b >= 0x80;
    if target.is_empty() || !target.iter().all(|&b| uri_byte(b)) {
        return Err(400);
    }
    let target = std::str::from_utf8(target).map_err(|_| 400u16)?;
    let minor = match version.get(..8) {
        Some(b"HTTP/1.0") => 0,
        Some(b"HTTP/1.1") => 1,
        _ => return Err(505),
    };
    if version.len() > 8 {
        return Err(400);
    }
    let mut fields = Vec::new();
    for (i, f) in lines[1..].iter().enumerate() {
        let colon = f.iter().position(|&b| b == b':');
        let valid = colon.is_some_and(|c| {
            c > 0
                && f[..c].iter().all(|&b| is_tchar(b))
                && f[c + 1..].iter().all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80)
        });
        if !valid {
            return Err(400);
        }
        if i == MAX_HEADERS {
            return Err(431);
        }
        let c = colon.expect("valid");
        fields.push((f[..c].to_vec(), trim_blanks(&f[c + 1..]).to_vec()));
    }
    Ok((String::from_utf8(method.to_vec()).expect("tchars are ASCII"), target.to_string(), minor, fields))
}

/// The comma-separated elements of every field `name`, blanks trimmed.
fn elements<'a>(fields: &'a [(Vec<u8>, Vec<u8>)], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    fields
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(trim_blanks)
}

/// The reference framer: what reading one request from `s` must give.
fn reference_next(s: &[u8], caps: &Caps) -> Prediction {
    // Empty lines before the request line are skipped, and count against the head's cap.
    let mut started = false;
    let (lines, head_len) = match lines_until(s, caps.max_head, 431, |line, _| {
        let end = started && line.is_empty();
        started |= !line.is_empty();
        end
    }) {
        Ok((lines, n)) => (lines.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>(), n),
        Err(o) => return Prediction::end(o),
    };
    let (method, target, minor, fields) = match reference_parse(&lines) {
        Ok(h) => h,
        Err(status) => return Prediction::end(Outcome::Refused(status)),
    };
    let headers: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    let request = |body: Vec<u8>| Outcome::Request(method.clone(), target.clone(), minor, headers.clone(), body);
    let rest = &s[head_len..];
    let chunked = fields.iter().any(|(k, _)| k.eq_ignore_ascii_case(b"transfer-encoding"));
    let codings: Vec<&[u8]> = elements(&fields, "transfer-encoding").filter(|e| !e.is_empty()).collect();
    if chunked && !(codings.len() == 1 && codings[0].eq_ignore_ascii_case(b"chunked")) {
        return Prediction::end(Outcome::Refused(501));
    }
    let waits = minor == 1 && elements(&fields, "expect").any(|e| e.eq_ignore_ascii_case(b"100-continue"));
    if !chunked {
        let mut length: Option<u128> = None;
        for (_, v) in fields.iter().filter(|(k, _)| k.eq_ignore_ascii_case(b"content-length")) {
            let n = (!v.is_empty() && v.iter().all(u8::is_ascii_digit))
                .then(|| v.iter().try_fold(0u128, |n, &d| n.checked_mul(10)?.checked_add(u128::from(d - b'0'))))
                .flatten()
                .filter(|&n| n <= usize::MAX as u128);
            match (n, length) {
                (None, _) => return Prediction::end(Outcome::Refused(400)),
                (Some(n), Some(l)) if n != l => return Prediction::end(Outcome::Refused(400)),
                (Some(n), _) => length = Some(n),
            }
        }
        let n = length.unwrap_or(0) as usize;
        if n > caps.max_body {
            if waits {
                return Prediction::end(Outcome::Refused(413));
            }
            return match rest.len() >= n {
                true => Prediction { outcome: Outcome::Skipped, continued: false, len: head_len + n },
                false => Prediction::end(Outcome::Closed),
            };
        }
        let continued = waits && n > 0;
        return match rest.get(..n) {
            Some(body) => Prediction { outcome: request(body.to_vec()), continued, len: head_len + n },
            None => Prediction { outcome: Outcome::Closed, continued, len: 0 },
        };
    }
    // Chunked: size lines, data, CRLF, until the last chunk and its trailer fields.
    let ended = |outcome| Prediction { outcome, continued: waits, len: 0 };
    let mut body = Vec::new();
    let mut p = 0;
    loop {
        let (size_line, taken) = match lines_until(&rest[p..], MAX_CHUNK_LINE, 400, |_, _| true) {
            // The closure ends the block at its first line, which is therefore not in `lines`: read it back.
            Ok((_, n)) => {
                let mut l = &rest[p..p + n - 1];
                while let [r @ .., b'\r'] = l {
                    l = r;
                }
                (l, n)
            }
            Err(o) => return ended(o),
        };
        p += taken;
        let digits = size_line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 || digits > 16 {
            return ended(Outcome::Refused(400));
        }
        let after = trim_blanks_start(&size_line[digits..]);
        if !(after.is_empty() || (after[0] == b';' && !after.contains(&b'\r'))) {
            return ended(Outcome::Refused(400));
        }
        let size = size_line[..digits]
            .iter()
            .fold(0u64, |n, &d| n * 16 + u64::from((d as char).to_digit(16).expect("a hex digit")));
        if size == 0 {
            return match lines_until(&rest[p..], caps.max_head, 431, |line, _| line.is_empty()) {
                Ok((_, n)) => Prediction { outcome: request(body), continued: waits, len: head_len + p + n },
                Err(o) => ended(o),
            };
        }
        if size > (caps.max_body - body.len()) as u64 {
            return ended(Outcome::Refused(413));
        }
        let size = size as usize;
        let Some(data) = rest.get(p..p + size) else { return ended(Outcome::Closed) };
        body.extend_from_slice(data);
        p += size;
        match rest.get(p..p + 2) {
            Some(b"\r\n") => p += 2,
            Some(_) => return ended(Outcome::Refused(400)),
            None => return ended(Outcome::Closed),
        }
    }
}

fn trim_blanks_start(mut v: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = v {
        if !is_blank(*first) {
            break;
        }
        v = rest;
    }
    v
}

/// `http_head`: byte 0 picks the mode (bit 0: generated requests), byte 1 the piece size the input is handed out
/// in (1-256 bytes per read), bytes 2-3 the caps (raw mode). Raw mode: the rest is a connection's bytes, read
/// request after request as `http_server` does; every outcome (request, skipped body, refusal status, close)
/// is the reference framer's, heads and bodies equal its own, the bytes consumed by each request read whole are
/// exactly the reference's (so pipelined requests come back one after the other, nothing lost or duplicated),
/// `100 Continue` is written exactly when the reference says, bodies stay within `max_body`. Generated mode: the
/// rest describes requests; written out with CRLF or bare LF ends, pipelined, they are read back in order, each
/// exactly as generated, and the input is consumed to its end.
pub fn http_head(data: &[u8]) {
    let Some((&[mode, piece, head_cap, body_cap], rest)) = data.split_first_chunk::<4>() else { return };
    let piece = usize::from(piece) + 1;
    if mode & 1 == 1 {
        return generated(rest, piece);
    }
    let caps = Caps { max_head: 1 + usize::from(head_cap) * 16, max_body: usize::from(body_cap) * 4 };
    let mut r = Pieces { data: rest, pos: 0, piece };
    for i in 0..MAX_REQUESTS {
        let start = r.pos;
        let want = reference_next(&rest[start..], &caps);
        let (got, out) = library_next(&mut r, &caps);
        assert_eq!(got, want.outcome, "request {i} at byte {start}, caps {caps:?}, piece {piece}");
        assert_eq!(out, if want.continued { CONTINUE } else { b"" }, "100 Continue for request {i}");
        assert!(r.pos <= rest.len());
        match got {
            Outcome::Request(..) | Outcome::Skipped => {
                assert_eq!(r.pos - start, want.len, "bytes taken by request {i}");
            }
            Outcome::Refused(_) | Outcome::Closed => return,
        }
    }
}

const TCHARS: &[u8] = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TARGET: &[u8] = b"/?=&%+.*{},:;@!$'()~-_abcxyzAZ09";
const VALUE: &[u8] = b" \t!\"#(),/:;<=>?@[\\]{}abcXYZ019-._~\x80\xc3\xa9\xff";

/// Generated mode: well-formed requests (known before they are written) read back in order, exactly.
fn generated(data: &[u8], piece: usize) {
    let mut c = Bytes(data);
    let mut wire = Vec::new();
    let mut want = Vec::new();
    while !c.0.is_empty() && want.len() < MAX_REQUESTS {
        let flags = c.u8();
        let eol: &[u8] = if flags & 1 == 1 { b"\n" } else { b"\r\n" };
        for _ in 0..(flags >> 1) % 3 {
            wire.extend_from_slice(eol); // empty lines before a request are skipped
        }
        let method = match c.u8() % 4 {
            0 => b"GET".to_vec(),
            1 => b"POST".to_vec(),
            2 => b"HEAD".to_vec(),
            _ => [&b"X"[..], &c.text(TCHARS, 12)].concat(),
        };
        let target = [&b"/"[..], &c.text(TARGET, 40)].concat();
        let minor = (flags >> 3) & 1;
        wire.extend_from_slice(&[&method[..], b" ", &target, b" HTTP/1.", &[b'0' + minor], eol].concat());
        let mut headers = Vec::new();
        for _ in 0..c.u8() % 6 {
            let name = [&b"X-"[..], &c.text(TCHARS, 10)].concat();
            let value = trim_blanks(&c.text(VALUE, 30)).to_vec();
            let pad: &[u8] = [&b""[..], b" ", b"\t ", b"  "][usize::from(c.u8() % 4)];
            wire.extend_from_slice(&[&name[..], b":", pad, &value, pad, eol].concat());
            headers.push((String::from_utf8_lossy(&name).into_owned(), String::from_utf8_lossy(&value).into_owned()));
        }
        let mut body = Vec::new();
        match (flags >> 4) % 3 {
            0 => {}
            1 => {
                let n = usize::from(c.u8());
                body = c.take(n).to_vec();
                let field = format!("{}", body.len());
                wire.extend_from_slice(&[&b"Content-Length: "[..], field.as_bytes(), eol].concat());
                headers.push(("Content-Length".into(), field));
            }
            _ => {
                wire.extend_from_slice(&[&b"transfer-encoding: chunked"[..], eol].concat());
                headers.push(("transfer-encoding".into(), "chunked".into()));
            }
        }
        wire.extend_from_slice(eol);
        wire.extend_from_slice(&body);
        if (flags >> 4) % 3 == 2 {
            for _ in 0..c.u8() % 4 {
                let n = usize::from(c.u8() % 64) + 1;
                let chunk = c.take(n);
                if chunk.is_empty() {
                    break; // the input ran out: a zero-size chunk would be the last one
                }
                let ext: &[u8] = if c.u8() & 1 == 1 { b" ;name=\"v\\\"x\"" } else { b"" };
                let size = if flags & 0x80 != 0 { format!("{:X}", chunk.len()) } else { format!("{:x}", chunk.len()) };
                wire.extend_from_slice(&[size.as_bytes(), ext, eol, chunk, b"\r\n"].concat());
                body.extend_from_slice(chunk);
            }
            wire.extend_from_slice(&[&b"0"[..], eol].concat());
            if flags & 0x40 != 0 {
                wire.extend_from_slice(&[&b"Trailer-Field: t"[..], eol].concat());
            }
            wire.extend_from_slice(eol);
        }
        let method = String::from_utf8(method).expect("ASCII");
        let target = String::from_utf8(target).expect("ASCII");
        want.push(Outcome::Request(method, target, minor, headers, body));
    }
    let caps = Caps { max_head: MAX_HEAD, max_body: 1 << 20 };
    let mut r = Pieces { data: &wire, pos: 0, piece };
    for (i, w) in want.iter().enumerate() {
        let (got, out) = library_next(&mut r, &caps);
        assert_eq!(&got, w, "generated request {i} of {}", want.len());
        assert!(out.is_empty(), "nobody asked for 100 Continue");
    }
    assert_eq!(r.pos, wire.len(), "every byte of {} requests read, none left over", want.len());
    assert_eq!(library_next(&mut r, &caps).0, Outcome::Closed, "nothing more after the last request");
}
