//! go-carbon as a peer of the socket scenarios: finding the binary, its configuration, its self-metrics.
//!
//! The binary is `$GO_CARBON`, else `go-carbon` on `PATH`. The configuration is the recipe that gives go-carbon
//! its best showing on a small box, derived from its own defaults: start from `go-carbon -config-print-default`
//! (so every key of the installed version is there) and change only
//! - `[common] user = ""` (do not switch users), `max-cpu = 2` (GOMAXPROCS: every core of the bench box);
//! - `[whisper] workers = 2` (persister goroutines), `max-updates-per-second = 0` (no write rate limit),
//!   `sparse-create` true/false for the sparse/zero pairings, and left at its default (false: zero-filled files)
//!   for the "default" pairing; data-dir and schemas-file into the run's directory;
//! - `[cache] max-size = 0`: unlimited. The default 1,000,000 points would silently drop most of a 2 M-point
//!   burst (go-carbon drops on a full cache, where warren pauses its inputs);
//! - every listener (`[tcp] [udp] [pickle] [carbonlink] [grpc] [carbonserver] [pprof]`) on a free loopback port,
//!   and all but the tcp and pickle receivers disabled, so nothing collides with another daemon on the box;
//! - self-metrics (`[common] metric-endpoint`) sent in plaintext over TCP to a listener of the harness every
//!   100 ms (`metric-interval`), prefix `gostats`; go-carbon's reports reach the listener about once a second
//!   whatever the interval says. The listener sums `*.persister.committedPoints` (a per-report count) into the
//!   committed total and counts the bytes (see [`super::lastwrite`] for how the finish is timed);
//! - `[[logging]] level = "warn"`: at "info" it logs every self-metric it collects (20 lines per 100 ms).
//!
//! The storage schema is the harness's (the same file for both systems), no create rate limit exists in
//! go-carbon 0.19 (files are created by the persister as points arrive).
//!
//! Owns: the listener thread and its connections. Never touches: the go-carbon process (the caller runs it).

use super::error::{io, BenchError};
use super::lastwrite::Reports;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The environment variable naming the go-carbon binary.
pub const ENV: &str = "GO_CARBON";

/// The go-carbon binary: `$GO_CARBON`, else `go-carbon` found on `PATH`.
pub fn binary() -> Result<PathBuf, BenchError> {
    if let Some(p) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(BenchError::GoCarbonNotFound { why: format!("${ENV} = {} is not a file", p.display()) })
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("go-carbon"))
        .find(|p| p.is_file())
        .ok_or_else(|| BenchError::GoCarbonNotFound { why: format!("${ENV} is unset and PATH has no go-carbon") })
}

/// `go-carbon -version`'s first line.
pub fn version(bin: &Path) -> Result<String, BenchError> {
    let out = Command::new(bin).arg("-version").stdin(Stdio::null()).output().map_err(io("go-carbon -version"))?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("unknown").trim().to_string())
}

/// `go-carbon -config-print-default`.
pub fn default_config(bin: &Path) -> Result<String, BenchError> {
    let out = Command::new(bin)
        .arg("-config-print-default")
        .stdin(Stdio::null())
        .output()
        .map_err(io("go-carbon -config-print-default"))?;
    if !out.status.success() {
        return Err(BenchError::GoCarbonNotFound { why: format!("-config-print-default exited {}", out.status) });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a run changes in go-carbon's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    pub data_dir: PathBuf,
    pub schemas: PathBuf,
    /// `Some(true)` sparse files, `Some(false)` zero-filled, `None` go-carbon's default.
    pub sparse: Option<bool>,
    /// Plaintext receiver port.
    pub tcp: u16,
    /// Pickle receiver port.
    pub pickle: u16,
    /// Where the self-metrics go.
    pub stats: u16,
    /// Free loopback ports for the disabled listeners, in the order of [`DISABLED`].
    pub spare: [u16; 5],
}

/// The listeners a run turns off (each still gets a free loopback port).
pub const DISABLED: [&str; 5] = ["udp", "carbonlink", "grpc", "carbonserver", "pprof"];

/// go-carbon's configuration: `default` (its `-config-print-default`) with the recipe's changes.
pub fn config(default: &str, s: &Setup) -> String {
    let q = |v: String| format!("{v:?}");
    let mut section = String::new();
    let mut out = String::with_capacity(default.len() + 256);
    for line in default.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
        }
        let key = t.split_once('=').map(|(k, _)| k.trim()).unwrap_or("");
        let value: Option<String> = match (section.as_str(), key) {
            ("common", "user") => Some(q(String::new())),
            ("common", "max-cpu") => Some("2".into()),
            ("common", "metric-interval") => Some(q("100ms".into())),
            ("common", "metric-endpoint") => Some(q(format!("tcp://127.0.0.1:{}", s.stats))),
            ("common", "graph-prefix") => Some(q("gostats".into())),
            ("whisper", "data-dir") => Some(q(s.data_dir.display().to_string())),
            ("whisper", "schemas-file") => Some(q(s.schemas.display().to_string())),
            ("whisper", "workers") => Some("2".into()),
            ("whisper", "max-updates-per-second") => Some("0".into()),
            ("whisper", "sparse-create") => s.sparse.map(|b| b.to_string()),
            ("cache", "max-size") => Some("0".into()),
            ("tcp", "listen") => Some(q(format!("127.0.0.1:{}", s.tcp))),
            ("tcp", "enabled") | ("pickle", "enabled") => Some("true".into()),
            ("pickle", "listen") => Some(q(format!("127.0.0.1:{}", s.pickle))),
            (sect, "listen") if DISABLED.contains(&sect) => {
                let i = DISABLED.iter().position(|d| *d == sect).unwrap_or(0);
                Some(q(format!("127.0.0.1:{}", s.spare[i])))
            }
            (sect, "enabled") if DISABLED.contains(&sect) => Some("false".into()),
            ("logging", "level") => Some(q("warn".into())),
            _ => None,
        };
        match value {
            Some(v) => out.push_str(&format!("{key} = {v}\n")),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The harness's end of go-carbon's self-metrics: a loopback listener whose connections are summed into a
/// [`Reports`]. Stops accepting on drop (connections end when go-carbon exits).
pub struct StatsListener {
    pub port: u16,
    pub reports: Arc<Reports>,
    stop: Arc<AtomicBool>,
}

impl StatsListener {
    /// Listen on a free loopback port.
    pub fn start() -> Result<StatsListener, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding the self-metrics listener"))?;
        listener.set_nonblocking(true).map_err(io("self-metrics listener"))?;
        let port = listener.local_addr().map_err(io("self-metrics listener"))?.port();
        let reports = Arc::new(Reports::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (reports.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let r = r.clone();
                        std::thread::spawn(move || serve(conn, &r));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(StatsListener { port, reports, stop })
    }
}

impl Drop for StatsListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Read one self-metrics connection to its end: count its bytes, add up its committed points.
fn serve(mut conn: std::net::TcpStream, reports: &Reports) {
    let _ = conn.set_nonblocking(false);
    let (mut buf, mut pending) = (vec![0u8; 65536], Vec::new());
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            return;
        }
        pending.extend_from_slice(&buf[..n]);
        let end = pending.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let committed: u64 = pending[..end].split(|&b| b == b'\n').filter_map(committed_points).sum();
        pending.drain(..end);
        reports.committed.fetch_add(committed, Ordering::AcqRel);
        // Bytes after points: a sampler that sees these bytes also sees the points they carried.
        reports.bytes.fetch_add(n as u64, Ordering::AcqRel);
    }
}

/// The count of a `<prefix>.persister.committedPoints <value> <timestamp>` line.
fn committed_points(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let mut f = text.split_whitespace();
    let (name, value) = (f.next()?, f.next()?);
    name.ends_with(".persister.committedPoints").then(|| value.parse::<f64>().ok().map(|v| v as u64))?
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "[common]\nuser = \"carbon\"\ngraph-prefix = \"carbon.agents.{host}\"\n\
        metric-interval = \"1m0s\"\nmetric-endpoint = \"local\"\nmax-cpu = 1\n\n[whisper]\n\
        data-dir = \"/var/lib/graphite/whisper/\"\nschemas-file = \"/etc/go-carbon/storage-schemas.conf\"\n\
        workers = 1\nmax-updates-per-second = 0\nsparse-create = false\n\n[cache]\nmax-size = 1000000\n\
        write-strategy = \"max\"\n\n[udp]\nlisten = \":2003\"\nenabled = true\n\n[tcp]\nlisten = \":2003\"\n\
        enabled = true\n\n[pickle]\nlisten = \":2004\"\nenabled = true\n\n[carbonlink]\nlisten = \"127.0.0.1:7002\"\n\
        enabled = true\n\n[grpc]\nlisten = \"127.0.0.1:7003\"\nenabled = true\n\n[carbonserver]\n\
        listen = \"127.0.0.1:8080\"\nenabled = false\n[carbonserver.grpc]\nlisten = \"\"\nenabled = false\n\n\
        [pprof]\nlisten = \"127.0.0.1:7007\"\nenabled = false\n\n[[logging]]\nfile = \"stdout\"\nlevel = \"info\"\n";

    fn setup(sparse: Option<bool>) -> Setup {
        Setup {
            data_dir: "/d/whisper".into(),
            schemas: "/d/s.conf".into(),
            sparse,
            tcp: 1,
            pickle: 2,
            stats: 3,
            spare: [4, 5, 6, 7, 8],
        }
    }

    fn section<'a>(conf: &'a str, name: &str) -> Vec<&'a str> {
        let header = format!("[{name}]\n");
        let start = conf.match_indices(&header).find(|(i, _)| *i == 0 || conf.as_bytes()[i - 1] == b'\n').unwrap().0
            + header.len();
        conf[start..].lines().take_while(|l| !l.is_empty() && !l.starts_with('[')).collect()
    }

    #[test]
    fn the_recipe_changes_exactly_what_it_says() {
        let c = config(DEFAULT, &setup(Some(true)));
        assert_eq!(
            section(&c, "common"),
            [
                "user = \"\"",
                "graph-prefix = \"gostats\"",
                "metric-interval = \"100ms\"",
                "metric-endpoint = \"tcp://127.0.0.1:3\"",
                "max-cpu = 2"
            ]
        );
        assert_eq!(
            section(&c, "whisper"),
            [
                "data-dir = \"/d/whisper\"",
                "schemas-file = \"/d/s.conf\"",
                "workers = 2",
                "max-updates-per-second = 0",
                "sparse-create = true"
            ]
        );
        assert_eq!(section(&c, "cache"), ["max-size = 0", "write-strategy = \"max\""]);
        assert_eq!(section(&c, "tcp"), ["listen = \"127.0.0.1:1\"", "enabled = true"]);
        assert_eq!(section(&c, "pickle"), ["listen = \"127.0.0.1:2\"", "enabled = true"]);
        for (i, name) in DISABLED.iter().enumerate() {
            let want = format!("listen = \"127.0.0.1:{}\"", 4 + i);
            assert_eq!(section(&c, name), [want.as_str(), "enabled = false"], "[{name}]");
        }
        // A sub-table keeps its own (empty, disabled) settings, and unknown sections pass through.
        assert_eq!(section(&c, "carbonserver.grpc"), ["listen = \"\"", "enabled = false"]);
        assert!(c.ends_with("[[logging]]\nfile = \"stdout\"\nlevel = \"warn\"\n"));
    }

    #[test]
    fn the_default_pairing_keeps_go_carbons_create_mode() {
        assert!(config(DEFAULT, &setup(None)).contains("\nsparse-create = false\n"));
        assert!(config(DEFAULT, &setup(Some(false))).contains("\nsparse-create = false\n"));
        assert!(!config(DEFAULT, &setup(None)).contains("sparse-create = true"));
    }

    #[test]
    fn committed_points_lines_are_summed_and_others_ignored() {
        assert_eq!(committed_points(b"gostats.persister.committedPoints 1500 1700000000"), Some(1500));
        assert_eq!(committed_points(b"gostats.persister.updateOperations 7 1700000000"), None);
        assert_eq!(committed_points(b"garbage"), None);
    }
}
