//! The two systems of a socket run, started the same way: a child process with its receiver on a free loopback
//! port, its log in the run's directory, and a [`Reports`] the harness fills from what the system tells it.
//!
//! warren: `warren cache --config <dir>/warren.toml --stats-every-ms 100`, AMQP off, the receiver of the
//! scenario on a free port (the other off), CarbonLink and HTTP off, self-metrics off (they would be whisper
//! writes of its own), cache 10⁹ points (never full; warren pauses its inputs rather than drop), no create or
//! update rate limit, `[whisper] create_mode` per pairing (left out for "default"). Its stdout JSON lines fill the
//! committed counter. go-carbon: see [`super::gocarbon`].
//!
//! Owns: the child processes (stopped on drop). Never touches: anything outside the run's directory.

use super::child::ChildProcess;
use super::error::{io, BenchError};
use super::gocarbon::{self, Setup, StatsListener, DISABLED};
use super::lastwrite::Reports;
use super::wire::Protocol;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A system of a socket run, started and listening.
pub struct Running {
    /// `warren` or `go-carbon`.
    pub system: &'static str,
    pub child: ChildProcess,
    pub reports: Arc<Reports>,
    /// Where its stdout/stderr go (its size is subtracted from its writes).
    pub log: PathBuf,
    /// Its receiver for the scenario's protocol.
    pub port: u16,
    /// go-carbon's self-metrics listener (kept open while it runs).
    _stats: Option<StatsListener>,
}

impl Running {
    /// Connect to its receiver, retrying until it listens (fails if it exits or `within` passes).
    pub fn connect(&mut self, within: Duration) -> Result<TcpStream, BenchError> {
        let start = Instant::now();
        loop {
            if let Ok(c) = TcpStream::connect(("127.0.0.1", self.port)) {
                return Ok(c);
            }
            if let Some(status) = self.child.exited() {
                return Err(self.exited(status));
            }
            if start.elapsed() > within {
                return Err(BenchError::NoListener {
                    system: self.system.into(),
                    port: self.port,
                    secs: within.as_secs(),
                    log: self.child.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The error for an early exit with `status`.
    pub fn exited(&self, status: String) -> BenchError {
        BenchError::SystemExited { system: self.system.into(), status, log: self.child.log_tail() }
    }
}

/// A free loopback port (bound, read, released: another process could take it in between, rarely).
pub fn free_port() -> Result<u16, BenchError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(l.local_addr().map_err(io("finding a free port"))?.port())
}

/// warren's configuration for a socket run (`create_mode` `None`: its default).
pub fn warren_config(dir: &Path, protocol: Protocol, port: u16, create_mode: Option<&str>) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let addr = q(&format!("127.0.0.1:{port}"));
    let (line, pickle) = match protocol {
        Protocol::Plaintext => (addr.as_str(), "\"\""),
        Protocol::Pickle => ("\"\"", addr.as_str()),
    };
    let mode = create_mode.map_or(String::new(), |m| format!("create_mode = {}\n", q(m)));
    format!(
        "instance = \"bench\"\ndata_dir = {data}\nstorage_schemas = {schemas}\n\n[amqp]\nenabled = false\n\n\
         [receivers]\nline_tcp = {line}\npickle = {pickle}\n\n[query]\ncarbonlink = \"\"\nhttp = \"\"\n\n\
         [stats]\nmetric_interval_secs = 0\n\n[cache]\nmax_size = 1000000000\nmax_creates_per_minute = 0\n\
         max_updates_per_second = 0\n\n[whisper]\n{mode}",
        data = q(&dir.join("whisper").display().to_string()),
        schemas = q(&dir.join("storage-schemas.conf").display().to_string()),
    )
}

fn log_file(dir: &Path, name: &str) -> Result<(PathBuf, std::fs::File), BenchError> {
    let path = dir.join(name);
    let f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(format!("opening {name}")))?;
    Ok((path, f))
}

/// Start warren on `dir` (which holds storage-schemas.conf).
pub fn warren(bin: &Path, dir: &Path, protocol: Protocol, create_mode: Option<&str>) -> Result<Running, BenchError> {
    let port = free_port()?;
    let text = warren_config(dir, protocol, port, create_mode);
    let config = dir.join("warren.toml");
    // Fail here, with warren's own message, rather than in the child.
    crate::config::settings::Settings::from_toml(&text, &config.display().to_string())?;
    std::fs::write(&config, text).map_err(io("writing warren.toml"))?;
    let (log, file) = log_file(dir, "warren.log")?;
    let mut child = ChildProcess::spawn(
        Command::new(bin)
            .arg("cache")
            .arg("--config")
            .arg(&config)
            .args(["--stats-every-ms", "100"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file),
        log.clone(),
        &bin.display().to_string(),
    )?;
    let reports = Arc::new(Reports::default());
    // Invariant: stdout was configured as piped just above.
    let stdout = child.child_mut().stdout.take().expect("piped stdout");
    let r = reports.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if let Ok(map) = serde_json::from_str::<std::collections::BTreeMap<String, u64>>(&line) {
                if let Some(&c) = map.get("committed_points") {
                    r.committed.store(c, Ordering::Release);
                }
            }
            r.bytes.fetch_add(line.len() as u64, Ordering::AcqRel);
            line.clear();
        }
    });
    Ok(Running { system: "warren", child, reports, log, port, _stats: None })
}

/// go-carbon's create mode as the report names it.
pub fn go_carbon_mode(default: &str, sparse: Option<bool>) -> String {
    match sparse {
        Some(true) => "sparse".into(),
        Some(false) => "zero".into(),
        None if default.contains("\nsparse-create = true") => "sparse (default)".into(),
        None => "zero (default)".into(),
    }
}

/// Start go-carbon on `dir` (which holds storage-schemas.conf) with the recipe of [`super::gocarbon`].
pub fn go_carbon(
    bin: &Path,
    default: &str,
    dir: &Path,
    protocol: Protocol,
    sparse: Option<bool>,
) -> Result<Running, BenchError> {
    let stats = StatsListener::start()?;
    let mut spare = [0u16; DISABLED.len()];
    for p in &mut spare {
        *p = free_port()?;
    }
    let setup = Setup {
        data_dir: dir.join("whisper"),
        schemas: dir.join("storage-schemas.conf"),
        sparse,
        tcp: free_port()?,
        pickle: free_port()?,
        stats: stats.port,
        spare,
    };
    let config = dir.join("go-carbon.conf");
    std::fs::write(&config, gocarbon::config(default, &setup)).map_err(io("writing go-carbon.conf"))?;
    let (log, file) = log_file(dir, "go-carbon.log")?;
    let err = file.try_clone().map_err(io("opening go-carbon.log"))?;
    let child = ChildProcess::spawn(
        Command::new(bin).arg("-config").arg(&config).stdin(Stdio::null()).stdout(file).stderr(err),
        log.clone(),
        &bin.display().to_string(),
    )?;
    let port = match protocol {
        Protocol::Plaintext => setup.tcp,
        Protocol::Pickle => setup.pickle,
    };
    Ok(Running { system: "go-carbon", child, reports: stats.reports.clone(), log, port, _stats: Some(stats) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::Settings;
    use crate::config::whisper_settings::CreateModeSetting;

    #[test]
    fn warrens_config_loads_with_only_the_scenarios_receiver() {
        let dir = Path::new("/tmp/x");
        let s = Settings::from_toml(&warren_config(dir, Protocol::Pickle, 7, Some("zero")), "t").unwrap();
        assert_eq!(s.receivers.pickle.as_deref(), Some("127.0.0.1:7"));
        assert!(s.receivers.line_tcp.as_deref().unwrap_or("").is_empty());
        assert_eq!(s.whisper.create_mode, CreateModeSetting::Zero);
        assert_eq!((s.cache.max_creates_per_minute, s.cache.max_updates_per_second), (0, 0));
        let d = Settings::from_toml(&warren_config(dir, Protocol::Plaintext, 8, None), "t").unwrap();
        assert_eq!(d.receivers.line_tcp.as_deref(), Some("127.0.0.1:8"));
        assert_eq!(d.whisper.create_mode, CreateModeSetting::default(), "default pairing: warren's own default");
    }

    #[test]
    fn go_carbons_mode_names_its_default() {
        assert_eq!(go_carbon_mode("[whisper]\nsparse-create = false\n", None), "zero (default)");
        assert_eq!(go_carbon_mode("", Some(true)), "sparse");
    }
}
