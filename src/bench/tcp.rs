//! The socket scenarios (`warren bench plaintext|pickle [--peer go-carbon]`): warren, and optionally go-carbon,
//! fed the same load over one TCP connection, every create-mode pairing, cold then steady, every point verified.
//!
//! For each pairing every system gets a fresh directory with the same storage schema (`<interval>s:7d`, average,
//! one archive, so every point has its own slot). Per phase and system: an untimed `sync` (no run pays for the
//! write-back of the one before) and a settle pause, the system is started and waited for until it listens, then
//! the whole load is written to one connection: `metrics × points` plaintext lines, or pickle frames of
//! `per_msg` points (carbon-relay's batch is 500). The clock starts at the first byte; the finish is the
//! system's last write ([`super::lastwrite`]), after its committed counter reached the total. CPU is the process's
//! own (utime + stime) between the first byte and that moment. Then the system is stopped and every point read
//! back ([`super::verify`]). "cold": every file is created by the run; "steady": the same points again into the
//! files cold left. Every pairing's directories stay until the whole run is over and are deleted (and `sync`ed)
//! only then: a cold phase that follows a mass deletion measures the filesystem, not the system (on an ext4
//! without a journal, inode allocation skips inodes freed in the last one to six minutes, one buffer lookup each:
//! `recently_deleted` in the kernel's `fs/ext4/ialloc.c`, 78 % of a cold run's samples after the previous
//! pairing's 40,000 files were deleted; see tuning/README.md). The trees of a full run coexist on disk
//! (about 6 × `metrics` × the file size).
//!
//! Owns: the order of the steps, the run's directories. Never touches: other processes.

use super::error::{io, BenchError};
use super::gocarbon;
use super::harness::{names, Observer, TempDir};
use super::lastwrite::{self, Sampler};
use super::load::Load;
use super::procstat;
use super::publish::rate;
use super::tcp_report::{self, Pairing, Phase, TcpReport, TcpRow};
use super::tcp_systems::{self, Running};
use super::verify;
use super::wire::{self, Protocol};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Everything a socket run needs.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    pub protocol: Protocol,
    pub load: Load,
    pub warren_bin: PathBuf,
    /// The go-carbon binary, when it is the peer.
    pub go_carbon: Option<PathBuf>,
    pub pairings: Vec<Pairing>,
    /// Run go-carbon before warren in each phase.
    pub peer_first: bool,
    /// Where the run's directories go (the system temp dir when `None`).
    pub work_dir: Option<PathBuf>,
    pub timeout: Duration,
    /// Pause after each untimed `sync`, before a system starts.
    pub settle: Duration,
    pub keep_data: bool,
}

/// How both systems are timed (for the report).
pub const TIMING: &str =
    "from the first byte sent until the system's last write: /proc/<pid>/io wchar minus the bytes of \
    its own reports and log, sampled every 10 ms, once its committed counter reached the total (warren: \
    committed_points of its 100 ms stats lines; go-carbon: persister.committedPoints of its self-metrics, which \
    arrive about once a second); `counter s` is the counter's own moment (resolution 100 ms warren, ~1 s \
    go-carbon). CPU: the process's utime + stime over the same span (start-up excluded)";

/// The storage schema of a socket run: one archive at the load's interval, 7 days, average.
pub fn schemas_text(load: &Load) -> String {
    format!(
        "[bench]\npattern = ^{}\\.\nretentions = {}s:7d\n\n[default]\npattern = .*\nretentions = 60s:1d\n",
        regex::escape(&load.prefix),
        load.interval
    )
}

/// `/proc/loadavg`'s three averages (zeros when unreadable).
pub fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut f = text.split_whitespace().map(|x| x.parse().unwrap_or(0.0));
    [f.next().unwrap_or(0.0), f.next().unwrap_or(0.0), f.next().unwrap_or(0.0)]
}

fn sync() -> Result<(), BenchError> {
    std::process::Command::new("sync").status().map_err(io("running sync"))?;
    Ok(())
}

/// Run every pairing and phase; the report has a row per system, and ratios when go-carbon ran.
pub fn run(cfg: &TcpConfig, obs: &dyn Observer) -> Result<TcpReport, BenchError> {
    let load = &cfg.load;
    check_fits(load)?;
    let peer = match &cfg.go_carbon {
        Some(bin) => Some((bin.clone(), gocarbon::version(bin)?, gocarbon::default_config(bin)?)),
        None => None,
    };
    obs.phase(&format!("encode {} load", cfg.protocol.name()), 0);
    let payload = wire::payload(load, cfg.protocol)?;
    obs.finish(&format!("{} MiB", payload.len() >> 20));
    let mut systems = vec!["warren"];
    if peer.is_some() {
        systems.insert(usize::from(!cfg.peer_first), "go-carbon");
    }
    let parent = cfg.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut rows = Vec::new();
    let mut all_dirs = Vec::new();
    for &pairing in &cfg.pairings {
        let dirs: Vec<TempDir> = systems
            .iter()
            .map(|s| {
                let d = TempDir(parent.join(names(&format!("{}-{}", s, pairing.name())).0), !cfg.keep_data);
                std::fs::create_dir_all(d.0.join("whisper")).map_err(io(format!("creating {}", d.0.display())))?;
                std::fs::write(d.0.join("storage-schemas.conf"), schemas_text(load))
                    .map_err(io("writing storage-schemas.conf"))?;
                Ok(d)
            })
            .collect::<Result<_, BenchError>>()?;
        for phase in [Phase::Cold, Phase::Steady] {
            for (system, dir) in systems.iter().zip(&dirs) {
                let row = one(cfg, peer.as_ref(), system, pairing, phase, &dir.0, &payload, obs)?;
                rows.push(row);
            }
        }
        all_dirs.extend(dirs);
    }
    obs.phase("delete the data, sync", 0);
    drop(all_dirs);
    sync()?;
    obs.finish("done");
    let ratios = tcp_report::ratios(&rows);
    Ok(TcpReport {
        scenario: cfg.protocol,
        load: load.clone(),
        total_points: load.total_points(),
        peer: peer.map(|(bin, version, _)| {
            format!(
                "go-carbon {version} ({}): -config-print-default with user \"\", max-cpu 2, whisper workers 2, \
                 max-updates-per-second 0, cache max-size 0 (unlimited), sparse-create per pairing, every \
                 listener on a free loopback port or disabled",
                bin.display()
            )
        }),
        timing: TIMING.into(),
        rows,
        ratios,
    })
}

/// The load must fit the 7-day archive with an hour to spare.
fn check_fits(load: &Load) -> Result<(), BenchError> {
    let span = u64::from(load.points) * u64::from(load.interval) + 3600;
    if span > 7 * 86_400 {
        return Err(BenchError::Io {
            what: format!("a load of {} points {} s apart", load.points, load.interval),
            source: std::io::Error::other("does not fit the socket scenarios' 7-day archive"),
        });
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn one(
    cfg: &TcpConfig,
    peer: Option<&(PathBuf, String, String)>,
    system: &str,
    pairing: Pairing,
    phase: Phase,
    dir: &Path,
    payload: &[u8],
    obs: &dyn Observer,
) -> Result<TcpRow, BenchError> {
    let total = cfg.load.total_points();
    let load_before = loadavg();
    obs.phase(&format!("{system} {} {}: sync, settle", pairing.name(), phase.name()), 0);
    sync()?;
    std::thread::sleep(cfg.settle);
    obs.finish("");
    let (mut running, create_mode) = match (system, peer) {
        ("go-carbon", Some((bin, _, default))) => {
            let sparse = match pairing {
                Pairing::Zero => Some(false),
                Pairing::Sparse => Some(true),
                Pairing::Default => None,
            };
            let r = tcp_systems::go_carbon(bin, default, dir, cfg.protocol, sparse)?;
            (r, tcp_systems::go_carbon_mode(default, sparse))
        }
        _ => {
            let mode = match pairing {
                Pairing::Zero => Some("zero"),
                Pairing::Sparse => Some("sparse"),
                Pairing::Default => None,
            };
            let r = tcp_systems::warren(&cfg.warren_bin, dir, cfg.protocol, mode)?;
            let default = format!("{:?} (default)", crate::config::whisper_settings::CreateModeSetting::default());
            (r, mode.map_or(default.to_lowercase(), str::to_string))
        }
    };
    let mut conn = running.connect(Duration::from_secs(60).min(cfg.timeout))?;
    let startup_cpu = procstat::usage(running.child.id()).map_or(0.0, |u| u.cpu_seconds);
    let sampler = Sampler::start(running.child.id(), running.reports.clone(), running.log.clone());

    obs.phase(&format!("{system} {} {}", pairing.name(), phase.name()), total);
    let start = Instant::now();
    tracing::debug!(system, dir = %dir.display(), unix_start = ?std::time::SystemTime::now(), "first byte");
    let offset = start.duration_since(sampler.started);
    let sent = std::thread::scope(|s| {
        let sender = s.spawn(move || {
            let r = conn.write_all(payload);
            drop(conn);
            r
        });
        let r = wait_committed(&mut running, total, start, cfg.timeout, obs);
        if r.is_err() {
            // A sender blocked on a system that stopped reading ends when the system goes.
            running.child.stop(Duration::from_secs(5));
        }
        (sender.join(), r)
    });
    let usage = procstat::usage(running.child.id()).unwrap_or_default();
    match sent {
        (_, Err(e)) => return Err(e),
        (Ok(Err(e)), _) => return Err(io(format!("sending the load to {system}"))(e)),
        _ => {}
    }
    // Let a report written right after the last point reach the harness before the last sample.
    std::thread::sleep(Duration::from_millis(300));
    let samples = sampler.stop();
    // The raw samples, for whoever checks the finish by hand (`--keep-data`).
    let tsv: String = samples
        .iter()
        .map(|x| format!("{}\t{}\t{}\t{}\t{}\n", x.at.as_micros(), x.wchar, x.reports, x.log, x.committed))
        .collect();
    let _ = std::fs::write(
        dir.join(format!("probe-{}.tsv", phase.name())),
        format!("us\twchar\treports\tlog\tcommitted\n{tsv}"),
    );
    running.child.stop(Duration::from_secs(30));
    let f = lastwrite::finish(&samples, total).ok_or_else(|| BenchError::SocketTimeout {
        system: system.into(),
        secs: cfg.timeout.as_secs(),
        committed: running.reports.committed.load(Ordering::Acquire),
        total,
        log: running.child.log_tail(),
    })?;
    let seconds = f.last_write.saturating_sub(offset).as_secs_f64();
    let seconds_by_counter = f.counter.saturating_sub(offset).as_secs_f64();
    obs.finish(&format!("{:.0} points/s", rate(total, seconds)));

    obs.phase(&format!("verify {system}"), u64::from(cfg.load.metrics));
    let verification = verify::verify(&cfg.load, &dir.join("whisper"), |m| {
        if m % 1000 == 0 {
            obs.progress(u64::from(m));
        }
    });
    obs.finish(&format!(
        "{} ok, {} missing, {} mismatched",
        verification.ok, verification.missing, verification.mismatched
    ));
    let cpu_seconds = (usage.cpu_seconds - startup_cpu).max(0.0);
    Ok(TcpRow {
        pairing,
        phase,
        system: system.into(),
        create_mode,
        seconds,
        seconds_by_counter,
        points_per_sec: rate(total, seconds),
        cpu_seconds,
        cpu_s_per_million_points: if total > 0 { cpu_seconds * 1e6 / total as f64 } else { 0.0 },
        peak_rss_kib: usage.peak_rss_kib,
        load_before,
        load_after: loadavg(),
        verification,
    })
}

/// Poll (every 10 ms) until the system's committed counter reaches `total`.
fn wait_committed(
    running: &mut Running,
    total: u64,
    start: Instant,
    timeout: Duration,
    obs: &dyn Observer,
) -> Result<(), BenchError> {
    loop {
        let committed = running.reports.committed.load(Ordering::Acquire);
        obs.progress(committed);
        if committed >= total {
            return Ok(());
        }
        if let Some(status) = running.child.exited() {
            return Err(running.exited(status));
        }
        if start.elapsed() > timeout {
            return Err(BenchError::SocketTimeout {
                system: running.system.into(),
                secs: timeout.as_secs(),
                committed,
                total,
                log: running.child.log_tail(),
            });
        }
        std::thread::sleep(lastwrite::SAMPLE_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_gives_every_point_a_slot_for_seven_days() {
        let load = Load::ending_at("burst", 2, 100, 500, 60, 1_700_000_000, true);
        let text = schemas_text(&load);
        assert!(text.starts_with("[bench]\npattern = ^burst\\.\nretentions = 60s:7d\n"), "{text}");
        assert!(check_fits(&load).is_ok());
        assert!(check_fits(&Load::ending_at("b", 1, 10_080, 1, 60, 1_700_000_000, true)).is_err());
    }

    #[test]
    fn loadavg_reads_three_numbers() {
        let l = loadavg();
        assert!(l.iter().all(|x| *x >= 0.0));
    }
}
