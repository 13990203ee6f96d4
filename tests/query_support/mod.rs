//! Helpers for the query-side integration tests: a tiny HTTP GET, CarbonLink framing, pickles built by Python.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
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

/// A real graphite-web 1.1.8 (tests/support/graphite_web.sh) serving a whisper tree, asking `carbonlink` for
/// cached points; `extra` is appended to its settings module (e.g. `CLUSTER_SERVERS = [...]`).
pub struct GraphiteWeb {
    child: Child,
    pub addr: SocketAddr,
    pub work: tempfile::TempDir,
}

impl GraphiteWeb {
    pub fn start(whisper: &std::path::Path, carbonlink: SocketAddr) -> GraphiteWeb {
        GraphiteWeb::start_with(whisper, carbonlink, "")
    }

    pub fn start_with(whisper: &std::path::Path, carbonlink: SocketAddr, extra: &str) -> GraphiteWeb {
        let work = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/graphite_web.sh");
        let child = Command::new("bash")
            .arg(script)
            .arg(work.path())
            .arg(whisper)
            .arg(carbonlink.port().to_string())
            .arg(port.to_string())
            .env("GW_EXTRA_SETTINGS", extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.path().join("server.log")).unwrap())
            .spawn()
            .expect("bash runs");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut gw = GraphiteWeb { child, addr, work };
        // Generous: the first run may install the package.
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let up = loop {
            if matches!(http_get(addr, "/version/"), Ok((200, _))) {
                break true;
            }
            if gw.child.try_wait().ok().flatten().is_some() || std::time::Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let log = std::fs::read_to_string(gw.work.path().join("server.log")).unwrap_or_default();
        assert!(up && gw.child.try_wait().ok().flatten().is_none(), "graphite-web did not come up: {log}");
        gw
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = http_get(self.addr, path).unwrap();
        assert_eq!(status, 200, "graphite-web {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The environment a Python process needs to import graphite-web's modules with this instance's settings.
    pub fn python_env(&self) -> Vec<(String, String)> {
        vec![
            ("PYTHONPATH".into(), self.work.path().display().to_string()),
            ("GRAPHITE_SETTINGS_MODULE".into(), format!("wtest_settings_{}", self.child.id())),
            ("DJANGO_SETTINGS_MODULE".into(), "graphite.settings".into()),
        ]
    }
}

impl Drop for GraphiteWeb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
