//! Helpers for the query-side integration tests: a tiny HTTP GET, CarbonLink framing, pickles built by Python.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// GET `path` from `addr` (HTTP/1.0, connection closed): (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Pickle frames (4-byte big-endian length + body) built by Debian's Python: `exprs` are Python expressions,
/// pickled with `protocol`.
pub fn python_frames(exprs: &[&str], protocol: u8) -> Vec<Vec<u8>> {
    let script = format!(
        "import pickle, struct, sys, datetime\n\
         for e in sys.argv[1:]:\n    b = pickle.dumps(eval(e), protocol={protocol})\n    \
         print((struct.pack('!L', len(b)) + b).hex())"
    );
    let out = Command::new("/usr/bin/python3").arg("-c").arg(&script).args(exprs).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(hex).collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Send one frame and read the answer's body (without its length prefix); `None` if the server closed.
pub fn exchange(s: &mut TcpStream, frame: &[u8]) -> Option<Vec<u8>> {
    s.write_all(frame).ok()?;
    read_frame(s)
}

/// Read one length-prefixed frame's body; `None` at end of stream.
pub fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut hdr = [0u8; 4];
    s.read_exact(&mut hdr).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(hdr) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// Connect to a CarbonLink address with a read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}
