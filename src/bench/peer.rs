//! Peers: the same scenario against another carbon-cache, for a warren/peer ratio. The one peer so far is Python
//! carbon (Debian's `graphite-carbon`, carbon 1.1.x, with txAMQP from PyPI; `tuning/python-carbon/setup.sh`
//! installs both).
//!
//! Carbon's AMQP listener declares an *exclusive server-named* queue and binds it itself, so whatever is
//! published before it binds is lost: the peer run starts carbon first, waits until `rabbitmqctl list_bindings`
//! shows a binding from the run's exchange to a server-named (`amq.gen-…`) queue, then publishes the load while
//! carbon consumes, and times from the first publish until every point verifies on disk (polled on the whisper
//! files: each pass re-reads only the metrics not yet complete). Carbon consumes with no_ack — the broker forgets
//! a message as soon as it is sent — whereas warren acks after persist; the report says so.
//!
//! carbon.conf is written to the run's directory with the same storage schema as warren's run, the same
//! write strategy and create mode, no rate limits (MAX_UPDATES_PER_SECOND, MAX_CREATES_PER_MINUTE and
//! MAX_CACHE_SIZE all `inf`, so carbon competes at full speed), its socket receivers off (port 0), its
//! CarbonLink port on an ephemeral loopback port, tags off (carbon would otherwise POST every new metric to a
//! graphite-web on port 80) and per-update logging off.
//!
//! With `--reuse-dir D` carbon runs in `D/python-carbon/` (apart from warren's files in `D`), created on first
//! use and kept: a second run rewrites existing files (its row says `steady`, the first `cold`). As for warren, a
//! tree made for other retentions is refused; so is one that already holds points of this run's load (the run
//! before ended at the same interval step), since the completion poll and the verification would then find that
//! run's points instead of this one's. Checked before anything is measured.
//!
//! Owns: the carbon child process, its directory (temporary, or its part of `--reuse-dir`), its exchange (carbon's
//! exclusive queue disappears with its connection). Never touches: other queues, the system's carbon service.

use super::broker;
use super::child::ChildProcess;
use super::error::{io, BenchError};
use super::harness::{check_reuse_schemas, files_before, names, publish_with_progress, schemas_text};
use super::harness::{Observer, Peer, RunConfig, TempDir};
use super::load::{value_of, Load};
use super::procstat::{self, ProcUsage};
use super::publish::{rate, PublishProgress};
use super::report::{PeerInfo, Row};
use super::verify::{self, Verification};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The interpreter carbon runs under (Debian's, where graphite-carbon and txAMQP are installed).
pub const PYTHON: &str = "/usr/bin/python3";
/// Debian's carbon-cache script.
pub const CARBON_CACHE: &str = "/usr/bin/carbon-cache";

/// Check that the peer can run, before anything else is done.
pub fn check_installed(peer: Peer) -> Result<String, BenchError> {
    match peer {
        Peer::PythonCarbon => {
            if !Path::new(CARBON_CACHE).is_file() {
                return Err(BenchError::PeerNotInstalled { why: format!("{CARBON_CACHE} is missing") });
            }
            let out = Command::new(PYTHON)
                .args(["-c", "import carbon.amqp_listener, txamqp, whisper"])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| BenchError::PeerNotInstalled { why: format!("{PYTHON}: {e}") })?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err.lines().last().unwrap_or("").to_string();
                return Err(BenchError::PeerNotInstalled { why: format!("import carbon.amqp_listener: {last}") });
            }
            Ok(package_version("graphite-carbon").unwrap_or_else(|| "unknown".into()))
        }
    }
}

fn package_version(pkg: &str) -> Option<String> {
    let out = Command::new("dpkg-query").args(["-W", "-f=${Version}", pkg]).stderr(Stdio::null()).output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then(|| format!("graphite-carbon {v}"))
}

/// What carbon needs from an `amqp://user:password@host:port/vhost` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmqpParts {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Split a broker URL into carbon's AMQP settings (defaults as RabbitMQ's: guest/guest, port 5672, vhost `/`).
pub fn amqp_parts(url: &str) -> Result<AmqpParts, BenchError> {
    let bad = |why| BenchError::Url { url: url.to_string(), why };
    let rest = url.strip_prefix("amqp://").ok_or_else(|| bad("only amqp:// URLs are supported for carbon"))?;
    let (authority, vhost) = match rest.split_once('/') {
        Some((a, v)) => {
            (a, if v.is_empty() { "/".to_string() } else { percent_decode(v).ok_or_else(|| bad("bad %-escape"))? })
        }
        None => (rest, "/".to_string()),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
        Some((u, p)) => (
            percent_decode(u).ok_or_else(|| bad("bad %-escape"))?,
            percent_decode(p).ok_or_else(|| bad("bad %-escape"))?,
        ),
        None => ("guest".to_string(), "guest".to_string()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad("bad port"))?),
        None => (hostport.to_string(), 5672),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(AmqpParts { host, port, user, password, vhost })
}

/// The carbon.conf text for a run in `dir` on `exchange`.
pub fn carbon_conf(cfg: &RunConfig, dir: &Path, exchange: &str) -> Result<String, BenchError> {
    let a = amqp_parts(&cfg.url)?;
    let (fallocate, sparse) = match cfg.knobs.create_mode.as_str() {
        "fallocate" => (true, false),
        "sparse" => (false, true),
        _ => (false, false),
    };
    let d = |p: &str| dir.join(p).display().to_string();
    let cap = |b: bool| if b { "True" } else { "False" };
    Ok(format!(
        "[cache]\n\
         STORAGE_DIR = {storage}\nLOCAL_DATA_DIR = {data}\nLOG_DIR = {log}\nPID_DIR = {pid}\n\
         ENABLE_AMQP = True\nAMQP_HOST = {host}\nAMQP_PORT = {port}\nAMQP_USER = {user}\nAMQP_PASSWORD = {pw}\n\
         AMQP_VHOST = {vhost}\nAMQP_EXCHANGE = {exchange}\nAMQP_METRIC_NAME_IN_BODY = {nib}\nBIND_PATTERNS = #\n\
         LINE_RECEIVER_PORT = 0\nPICKLE_RECEIVER_PORT = 0\nENABLE_UDP_LISTENER = False\n\
         CACHE_QUERY_INTERFACE = 127.0.0.1\nCACHE_QUERY_PORT = 0\n\
         MAX_CACHE_SIZE = inf\nMAX_UPDATES_PER_SECOND = inf\nMAX_CREATES_PER_MINUTE = inf\n\
         CACHE_WRITE_STRATEGY = {strategy}\n\
         WHISPER_FALLOCATE_CREATE = {fallocate}\nWHISPER_SPARSE_CREATE = {sparse}\n\
         ENABLE_TAGS = False\nLOG_UPDATES = False\nLOG_CREATES = False\nLOG_CACHE_HITS = False\n\
         LOG_CACHE_QUEUE_SORTS = False\n",
        storage = d("storage"),
        data = d("whisper"),
        log = d("log"),
        pid = dir.display(),
        host = a.host,
        port = a.port,
        user = a.user,
        pw = a.password,
        vhost = a.vhost,
        nib = cap(cfg.load.name_in_body),
        strategy = cfg.knobs.strategy,
        fallocate = cap(fallocate),
        sparse = cap(sparse),
    ))
}

/// True when `rabbitmqctl list_bindings` shows a binding from `exchange` to a server-named queue.
fn carbon_bound(vhost: &str, exchange: &str) -> bool {
    let Ok(out) = Command::new("rabbitmqctl")
        .args(["-q", "-p", vhost, "list_bindings", "source_name", "destination_name", "routing_key"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        let mut f = l.split('\t');
        f.next() == Some(exchange) && f.next().is_some_and(|q| q.starts_with("amq.gen-"))
    })
}

/// How many of metric `m`'s points of `load` its file under `data_dir` holds in place (exact slot and value; 0
/// without a readable file). Reads only the first archive (the cheap, independent reader).
fn points_in_file(load: &Load, data_dir: &Path, m: u32, name: &mut String) -> u32 {
    name.clear();
    load.write_name(m, name);
    let Ok(a) = verify::read_archive0(&crate::metric::file_path(data_dir, name)) else { return 0 };
    (0..load.points)
        .filter(|&p| a.value_at(load.timestamp_of(p)).map(f64::to_bits) == Some(value_of(m, p).to_bits()))
        .count() as u32
}

/// Is metric `m` complete on disk?
fn metric_complete(load: &Load, data_dir: &Path, m: u32, name: &mut String) -> bool {
    points_in_file(load, data_dir, m, name) == load.points
}

/// How many points of `load` the files under `data_dir` already hold.
fn points_in_place(load: &Load, data_dir: &Path) -> u64 {
    let mut name = String::new();
    (0..load.metrics).map(|m| u64::from(points_in_file(load, data_dir, m, &mut name))).sum()
}

/// With `--reuse-dir`, check the peer's tree in it before anything is measured: made for this load's retentions
/// (or new), and holding no point of this load yet. The load's points end at the interval step the bench started
/// in and their values depend on the point's index, so the previous run's points sit in this run's slots only
/// when it started in the same step; then the completion poll and the verification would find them.
pub fn check_reuse(peer: Peer, cfg: &RunConfig) -> Result<(), BenchError> {
    let Some(reuse) = &cfg.reuse_dir else { return Ok(()) };
    let dir = peer.reuse_tree(reuse);
    check_reuse_schemas(&dir, &schemas_text(&cfg.load))?;
    let points = points_in_place(&cfg.load, &dir.join("whisper"));
    if points > 0 {
        let (dir, end, interval) = (dir.display().to_string(), cfg.load.end, cfg.load.interval);
        return Err(BenchError::ReuseStale { dir, points, end, interval });
    }
    Ok(())
}

/// Run the scenario against Python carbon and return its row (system `python-carbon`, mode `live`).
pub fn python_carbon(cfg: &RunConfig, obs: &dyn Observer) -> Result<Row, BenchError> {
    let (exchange, _) = names("carbon");
    let tmp = match &cfg.reuse_dir {
        Some(d) => TempDir(Peer::PythonCarbon.reuse_tree(d), false),
        None => TempDir(cfg.work_dir.clone().unwrap_or_else(std::env::temp_dir).join(&exchange), !cfg.keep_data),
    };
    check_reuse(Peer::PythonCarbon, cfg)?;
    std::fs::create_dir_all(&tmp.0).map_err(io(format!("creating {}", tmp.0.display())))?;
    let result = carbon_steps(cfg, obs, &tmp.0, &exchange);
    // Carbon's exclusive queue went with its connection; the exchange is ours to delete.
    let _ = broker::delete(&cfg.url, &exchange, None);
    if cfg.keep_data || cfg.reuse_dir.is_some() {
        tracing::info!(dir = %tmp.0.display(), "carbon's bench data kept");
    }
    result
}

fn carbon_steps(cfg: &RunConfig, obs: &dyn Observer, dir: &Path, exchange: &str) -> Result<Row, BenchError> {
    let load = &cfg.load;
    let (total, messages) = (load.total_points(), load.messages());
    let conf = dir.join("carbon.conf");
    std::fs::write(&conf, carbon_conf(cfg, dir, exchange)?).map_err(io("writing carbon.conf"))?;
    std::fs::write(dir.join("storage-schemas.conf"), schemas_text(load)).map_err(io("writing storage-schemas.conf"))?;
    let vhost = amqp_parts(&cfg.url)?.vhost;
    let files = files_before(load, &dir.join("whisper"));

    let log = dir.join("carbon.log");
    let log_file = std::fs::File::create(&log).map_err(io("creating carbon.log"))?;
    let log_err = log_file.try_clone().map_err(io("creating carbon.log"))?;
    // --debug keeps the logs on stdout (the log file here) instead of LOG_DIR; with per-update, create and
    // queue-sort logging off there is little of it.
    let mut carbon = ChildProcess::spawn(
        Command::new(PYTHON)
            .arg(CARBON_CACHE)
            .arg(format!("--config={}", conf.display()))
            .args(["--nodaemon", "--debug", "start"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err),
        log,
        &format!("{PYTHON} {CARBON_CACHE}"),
    )?
    .with_log_noise("CryptographyDeprecationWarning");
    // Carbon exited while it should have been running.
    let exited = |carbon: &mut ChildProcess| {
        carbon.exited().map(|status| BenchError::PeerExited { status, log: carbon.log_tail() })
    };

    obs.phase("python-carbon: start, wait for its queue binding", 0);
    let bind_timeout = Duration::from_secs(60).min(cfg.timeout);
    let t0 = Instant::now();
    loop {
        if let Some(e) = exited(&mut carbon) {
            return Err(e);
        }
        if carbon_bound(&vhost, exchange) {
            break;
        }
        if t0.elapsed() > bind_timeout {
            return Err(BenchError::NoBinding {
                exchange: exchange.to_string(),
                secs: bind_timeout.as_secs(),
                log: carbon.log_tail(),
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    obs.finish("bound");
    // Python's imports and Twisted's start cost carbon ~0.3 s of CPU before it consumes anything: not counted.
    let startup_cpu = procstat::usage(carbon.id()).map_or(0.0, |u| u.cpu_seconds);

    obs.phase("python-carbon live: publish while consuming", messages);
    let start = Instant::now();
    let publish = publish_with_progress(cfg, exchange, obs, &PublishProgress::default())?;
    obs.finish(&format!("{:.0} msg/s", publish.msgs_per_sec()));

    obs.phase("python-carbon live: until every point is on disk", total);
    let data_dir = dir.join("whisper");
    let mut pending: Vec<u32> = (0..load.metrics).collect();
    let mut name = String::new();
    let mut usage = ProcUsage::default();
    loop {
        pending.retain(|&m| !metric_complete(load, &data_dir, m, &mut name));
        obs.progress((u64::from(load.metrics) - pending.len() as u64) * u64::from(load.points));
        if let Some(u) = procstat::usage(carbon.id()) {
            usage = ProcUsage { cpu_seconds: (u.cpu_seconds - startup_cpu).max(0.0), ..u };
        }
        if pending.is_empty() {
            break;
        }
        if let Some(e) = exited(&mut carbon) {
            return Err(e);
        }
        if start.elapsed() > cfg.timeout {
            return Err(BenchError::PeerTimeout {
                secs: cfg.timeout.as_secs(),
                complete: load.metrics - pending.len() as u32,
                metrics: load.metrics,
                log: carbon.log_tail(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let seconds = start.elapsed().as_secs_f64();
    // Carbon flushes its cache on SIGTERM, slowly; nothing is left to flush once every point verified.
    carbon.stop(Duration::from_secs(20));
    obs.finish(&format!("{:.0} points/s", rate(total, seconds)));

    obs.phase("verify python-carbon", u64::from(load.metrics));
    let verification: Verification = verify::verify(load, &data_dir, |m| {
        if m % 1000 == 0 {
            obs.progress(u64::from(m));
        }
    });
    obs.finish(&format!(
        "{} ok, {} missing, {} mismatched",
        verification.ok, verification.missing, verification.mismatched
    ));

    let mut counters = BTreeMap::new();
    counters.insert("deliveries".to_string(), publish.messages);
    Ok(Row {
        system: Peer::PythonCarbon.name().into(),
        mode: "live".into(),
        publish,
        seconds_to_durable: seconds,
        points_per_sec: rate(total, seconds),
        ratio_to_ceiling: None,
        latency_receive: None,
        latency_publish: None,
        probe: None,
        usage,
        // Carbon consumes while the load is published: the broker's time is not the drain's alone.
        broker_cpu_seconds: None,
        cpu_s_per_million_points: if total > 0 { usage.cpu_seconds * 1e6 / total as f64 } else { 0.0 },
        verification,
        files,
        counters,
    })
}

/// The report's description of the peer's setup.
pub fn info(peer: Peer, version: String, cfg: &RunConfig) -> PeerInfo {
    PeerInfo {
        system: peer.name().into(),
        version,
        create_mode: cfg.knobs.create_mode.clone(),
        write_strategy: cfg.knobs.strategy.clone(),
        limits: "MAX_UPDATES_PER_SECOND = MAX_CREATES_PER_MINUTE = MAX_CACHE_SIZE = inf (full speed)".into(),
        ack: "carbon consumes with no_ack (acked on receive, lost on a crash); warren acks after persist".into(),
        timing: "carbon started first (exclusive server-named queue), load published while it consumes; timed from \
                 the first publish until every point verified on disk (polled every 100 ms); CPU excludes its \
                 start-up"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whisper::Point;

    #[test]
    fn broker_urls_split_into_carbon_settings() {
        let a = amqp_parts("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(
            a,
            AmqpParts {
                host: "127.0.0.1".into(),
                port: 5672,
                user: "guest".into(),
                password: "guest".into(),
                vhost: "/".into()
            }
        );
        let b = amqp_parts("amqp://u%40x:p%3A@h/v").unwrap();
        assert_eq!((b.user.as_str(), b.password.as_str(), b.port, b.vhost.as_str()), ("u@x", "p:", 5672, "v"));
        assert_eq!(amqp_parts("amqp://h").unwrap().vhost, "/");
        assert!(amqp_parts("amqps://h").is_err());
        assert!(amqp_parts("amqp://h:x/").is_err());
        assert!(amqp_parts("amqp://h/%zz").is_err());
        assert!(amqp_parts("amqp:///").is_err());
    }

    fn cfg(load: Load, reuse_dir: Option<&Path>) -> RunConfig {
        RunConfig {
            scenario: "test".into(),
            load,
            url: "amqp://127.0.0.1".into(),
            warren_bin: "warren".into(),
            work_dir: None,
            knobs: super::super::harness::WarrenKnobs {
                workers: 1,
                prefetch: 1,
                strategy: "sorted".into(),
                create_mode: "fallocate".into(),
                ring_capacity: 1,
                max_creates_per_minute: 0,
                sync: "none".into(),
                quorum: false,
                mmap: false,
                linger_us: None,
            },
            publish_connections: 1,
            publish_window: 1,
            ceiling: false,
            backlog: false,
            live: false,
            timeout: Duration::from_secs(1),
            keep_data: false,
            reuse_dir: reuse_dir.map(Path::to_path_buf),
            peer: Some(Peer::PythonCarbon),
            live_rate: None,
            more_sync: Vec::new(),
            reps: 1,
        }
    }

    #[test]
    fn a_reused_peer_tree_is_its_own_and_must_not_hold_this_loads_points_yet() {
        let d = tempfile::tempdir().unwrap();
        let tree = Peer::PythonCarbon.reuse_tree(d.path());
        assert_eq!(tree, d.path().join("python-carbon"));
        let load_at = |now| Load::ending_at("bench.pc", 2, 4, 1, 10, now, true);
        let first = load_at(1_000_000);
        check_reuse(Peer::PythonCarbon, &cfg(first.clone(), Some(d.path()))).expect("a new tree");

        // What the first run left: its schema, and metric 0 with every point of its load.
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("storage-schemas.conf"), schemas_text(&first)).unwrap();
        let path = crate::metric::file_path(&tree.join("whisper"), &first.name(0));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let archive = [crate::whisper::ArchiveSpec { seconds_per_point: 10, points: 4 + 361 }];
        let opts = crate::whisper::CreateOptions::default();
        let mut file = crate::whisper::WhisperFile::create(&path, &archive, &opts, Default::default()).unwrap();
        let mut points: Vec<Point> =
            (0..4).map(|p| Point { timestamp: first.timestamp_of(p), value: value_of(0, p) }).collect();
        file.update_many(&mut points, first.end, &mut Default::default()).unwrap();

        // A run that starts one step later writes other slots and values: nothing of it is on disk yet.
        check_reuse(Peer::PythonCarbon, &cfg(load_at(1_000_010), Some(d.path()))).expect("next step");
        // A run started within the same step would find the first run's points in its own slots.
        match check_reuse(Peer::PythonCarbon, &cfg(load_at(1_000_009), Some(d.path()))) {
            Err(BenchError::ReuseStale { dir, points, end, interval }) => {
                assert_eq!((dir, points, end, interval), (tree.display().to_string(), 4, 1_000_000, 10));
            }
            r => panic!("expected ReuseStale, got {r:?}"),
        }
        // Other retentions: refused as for warren's tree.
        let longer = Load::ending_at("bench.pc", 2, 40, 1, 10, 1_000_010, true);
        let r = check_reuse(Peer::PythonCarbon, &cfg(longer, Some(d.path())));
        assert!(matches!(r, Err(BenchError::ReuseMismatch { .. })), "{r:?}");
        // Without --reuse-dir the tree is not looked at.
        check_reuse(Peer::PythonCarbon, &cfg(load_at(1_000_009), None)).expect("fresh tree");
        // warren's own tree (D itself) is not the peer's: its schema file does not count.
        std::fs::write(d.path().join("storage-schemas.conf"), "other").unwrap();
        check_reuse(Peer::PythonCarbon, &cfg(load_at(1_000_010), Some(d.path()))).expect("warren's files apart");
    }

    #[test]
    fn peers_are_found_by_name() {
        assert_eq!(Peer::by_name("python-carbon"), Some(Peer::PythonCarbon));
        assert_eq!(Peer::by_name("go-carbon"), None);
    }
}
