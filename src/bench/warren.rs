//! warren's rows: the broker's null-consumer ceiling, and warren as a subprocess (`warren cache --config <tmp>
//! --stats-every-ms N`, so its peak RSS and CPU time are its own) on a backlog or live, until every point is
//! durable and acked, then verified on disk. The bench reads warren's counters from the JSON lines it prints.
//! Every run uses its own exchange, queue and data directory, and deletes them afterwards.
//!
//! Owns: the child process, the temporary directory, its broker objects. Never touches: other queues.

use super::broker::{self, DrainConfig};
use super::child::ChildProcess;
use super::error::{io, BenchError};
use super::harness::{check_reuse_schemas, files_before, RunConfig, TempDir};
use super::harness::{names, publish_paced_with_progress, publish_with_progress, schemas_text, Observer};
use super::probe::{self, ProbeConfig, ProbeResult};
use super::procstat;
use super::publish::{rate, PublishProgress};
use super::report::{Ceiling, Latency, Probed, Row};
use super::verify;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The broker's own delivery rate with a consumer that does nothing but ack.
pub fn ceiling(cfg: &RunConfig, obs: &dyn Observer) -> Result<Ceiling, BenchError> {
    let (exchange, queue) = names("ceiling");
    let patterns = ["#".to_string()];
    broker::declare_typed(&cfg.url, &exchange, Some((&queue, &patterns)), cfg.knobs.quorum)?;
    let result = (|| {
        obs.phase("ceiling: publish", cfg.load.messages());
        let publish = publish_with_progress(cfg, &exchange, obs, &PublishProgress::default())?;
        obs.finish(&format!("{:.0} msg/s", publish.msgs_per_sec()));
        obs.phase("ceiling: null-consumer drain", 0);
        // The publish is over: from here to the last ack the only work in this process is the null consumer.
        let cpu_before = procstat::usage(std::process::id()).map(|u| u.cpu_seconds);
        let broker_before = procstat::broker_cpu_seconds();
        let d = broker::drain(&DrainConfig {
            url: cfg.url.clone(),
            queue: queue.clone(),
            connections: cfg.knobs.workers,
            prefetch: cfg.knobs.prefetch,
            expect: publish.messages,
            timeout: cfg.timeout,
            // Consuming as the warren it is compared with: the same pauses (`--linger-us`, else warren's default).
            linger: Duration::from_micros(
                cfg.knobs.linger_us.unwrap_or(crate::config::settings::AmqpSettings::default().linger_us),
            ),
        })?;
        let cpu_after = procstat::usage(std::process::id()).map(|u| u.cpu_seconds);
        let broker_after = procstat::broker_cpu_seconds();
        let secs = d.as_secs_f64();
        obs.finish(&format!("{:.0} msg/s", rate(publish.messages, secs)));
        Ok(Ceiling {
            publish,
            drain_seconds: secs,
            drain_msgs_per_sec: rate(publish.messages, secs),
            drain_points_per_sec: rate(publish.points, secs),
            drain_cpu_seconds: cpu_before.zip(cpu_after).map(|(b, a)| a - b),
            broker_cpu_seconds: broker_before.zip(broker_after).map(|(b, a)| a - b),
        })
    })();
    let _ = broker::delete(&cfg.url, &exchange, Some(&queue));
    result
}

/// The warren subprocess and what it reports.
struct Warren {
    child: ChildProcess,
    /// The latest counters line, and (elapsed since spawn, committed_points) samples.
    latest: Arc<Mutex<Latest>>,
    spawned: Instant,
}

#[derive(Default)]
struct Latest {
    counters: BTreeMap<String, u64>,
    committed_curve: Vec<(Duration, u64)>,
    /// When the first counters line showing every point settled and every message acked arrived (see
    /// [`settled`]).
    settled_at: Option<Instant>,
}

/// Whether a counters line shows the load settled: every point committed (or refused by whisper as too old:
/// the verification then reports it missing) and every message acked.
fn settled(counters: &BTreeMap<String, u64>, (total, messages): (u64, u64)) -> bool {
    let c = |k: &str| counters.get(k).copied().unwrap_or(0);
    c("committed_points") + c("dropped_points") >= total && c("acked") >= messages
}

impl Warren {
    fn counter(&self, name: &str) -> u64 {
        self.lock().counters.get(name).copied().unwrap_or(0)
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Latest> {
        // The reader thread never panics while holding the lock; if it did, the data is still usable.
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// warren's config for a run. Socket receivers and CarbonLink are off: the bench measures the AMQP path, and a
/// run must not collide with another warren on the machine holding ports 2003/2004/7002. The HTTP API is on an
/// ephemeral port when `http` (the live run's probe reads through it), else off.
fn write_config(cfg: &RunConfig, dir: &Path, exchange: &str, queue: &str, http: bool) -> Result<PathBuf, BenchError> {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let load = &cfg.load;
    let schemas = schemas_text(load);
    let schemas_path = dir.join("storage-schemas.conf");
    if cfg.reuse_dir.is_some() {
        check_reuse_schemas(dir, &schemas)?;
    }
    std::fs::write(&schemas_path, schemas).map_err(io("writing storage-schemas.conf"))?;
    let k = &cfg.knobs;
    let text = format!(
        "instance = \"bench\"\ndata_dir = {data}\nstorage_schemas = {schemas}\n\n[amqp]\nurl = {url}\nexchange = {ex}\n\
         queue = {queue}\nbind_patterns = [\"#\"]\nmetric_name_in_body = {nib}\nworkers = {w}\nprefetch = {p}\n\
         max_reconnect_delay_secs = 2\nqueue_type = {qt}\n{al}\n[cache]\nwrite_strategy = {ws}\nring_capacity = {rc}\nmax_creates_per_minute = {mc}\n{al}\n\
         [whisper]\ncreate_mode = {cm}\nsync = {sync}\nmmap = {mmap}\n\n[receivers]\nenabled = false\n\n[query]\ncarbonlink = \"\"\nhttp = {http}\n",
        data = q(&dir.join("whisper").display().to_string()),
        schemas = q(&schemas_path.display().to_string()),
        url = q(&cfg.url),
        ex = q(exchange),
        queue = q(queue),
        nib = load.name_in_body,
        w = k.workers,
        p = k.prefetch,
        qt = q(if k.quorum { "quorum" } else { "classic" }),
        ws = q(&k.strategy),
        rc = k.ring_capacity,
        mc = k.max_creates_per_minute,
        cm = q(&k.create_mode),
        sync = q(&k.sync),
        mmap = k.mmap,
        al = k.linger_us.map_or(String::new(), |us| format!("linger_us = {us}\n")),
        http = q(if http { "127.0.0.1:0" } else { "" }),
    );
    let path = dir.join("warren.toml");
    // Fail here, with warren's own message, rather than in the child.
    crate::config::settings::Settings::from_toml(&text, &path.display().to_string())?;
    std::fs::write(&path, text).map_err(io("writing warren.toml"))?;
    Ok(path)
}

/// Start warren, reading its counters lines as they come; `load` = (points, messages) of the run, to note when
/// the first line showing them settled arrived.
fn spawn(cfg: &RunConfig, dir: &Path, config: &Path, every_ms: u64, load: (u64, u64)) -> Result<Warren, BenchError> {
    let log = dir.join("warren.log");
    let log_file = std::fs::File::create(&log).map_err(io("creating warren.log"))?;
    let mut child = ChildProcess::spawn(
        Command::new(&cfg.warren_bin)
            .arg("cache")
            .arg("--config")
            .arg(config)
            .arg("--stats-every-ms")
            .arg(every_ms.to_string())
            // The one info line kept says where the query servers listen (see `http_addr`).
            .env("RUST_LOG", "warn,warren::cli::cache=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file),
        log,
        &cfg.warren_bin.display().to_string(),
    )?;
    let spawned = Instant::now();
    let latest = Arc::new(Mutex::new(Latest::default()));
    // Invariant: stdout was configured as piped just above.
    let stdout = child.child_mut().stdout.take().expect("piped stdout");
    let l = latest.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(map) = serde_json::from_str::<BTreeMap<String, u64>>(&line) else { continue };
            let mut g = l.lock().unwrap_or_else(|e| e.into_inner());
            let c = map.get("committed_points").copied().unwrap_or(0);
            g.committed_curve.push((spawned.elapsed(), c));
            if g.settled_at.is_none() && settled(&map, load) {
                g.settled_at = Some(Instant::now());
            }
            g.counters = map;
        }
    });
    Ok(Warren { child, latest, spawned })
}

/// warren's row on the load: on a published backlog, or `live` (consuming while the load is published).
pub fn row(cfg: &RunConfig, live: bool, obs: &dyn Observer) -> Result<Row, BenchError> {
    let mode = if live { "live" } else { "backlog" };
    let (exchange, queue) = names(mode);
    let parent = cfg.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = match &cfg.reuse_dir {
        Some(d) => TempDir(d.clone(), false),
        None => TempDir(parent.join(&exchange), !cfg.keep_data),
    };
    std::fs::create_dir_all(&tmp.0).map_err(io(format!("creating {}", tmp.0.display())))?;
    let patterns = ["#".to_string()];
    broker::declare_typed(&cfg.url, &exchange, Some((&queue, &patterns)), cfg.knobs.quorum)?;
    let result = warren_steps(cfg, live, obs, &tmp.0, &exchange, &queue);
    let _ = broker::delete(&cfg.url, &exchange, Some(&queue));
    if cfg.keep_data || cfg.reuse_dir.is_some() {
        tracing::info!(dir = %tmp.0.display(), "bench data kept");
    }
    result
}

fn warren_steps(
    cfg: &RunConfig,
    live: bool,
    obs: &dyn Observer,
    dir: &Path,
    exchange: &str,
    queue: &str,
) -> Result<Row, BenchError> {
    let load = &cfg.load;
    let (total, messages) = (load.total_points(), load.messages());
    let config = write_config(cfg, dir, exchange, queue, live)?;
    let files = files_before(load, &dir.join("whisper"));
    let progress = PublishProgress::default();
    // The backlog's end is seen on the first stats line after it, on average half an interval late, where the
    // ceiling's drain is timed to its last ack: at 100 ms a one-second drain (2 M points at the broker's limit)
    // read up to a tenth slower than it was; at 10 ms half a second's drain reads ~1 % slow.
    let every_ms = if live { 50 } else { 10 };

    let mut publish_curve: Vec<(Duration, u64)> = Vec::new();
    // The broker's CPU time when warren starts on a backlog (a live run's broker is publishing too: none).
    let mut broker_cpu_before = None;
    let mut probed: Option<ProbeResult> = None;
    let (mut child, publish, start) = if live {
        let mut child = spawn(cfg, dir, &config, every_ms, (total, messages))?;
        // Wait until every worker is consuming, so "publish→durable" does not include warren's start.
        wait_for(&mut child, cfg.timeout, (total, messages), |c| c.counter("connects") >= cfg.knobs.workers as u64)?;
        let http = http_addr(&dir.join("warren.log"))?;
        let probe_cfg = ProbeConfig::new(http, dir.join("whisper"), load.interval, load.name_in_body);
        let probe_stop = AtomicBool::new(false);
        obs.phase("warren live: publish while consuming", messages);
        let start = Instant::now();
        let summary = std::thread::scope(|s| {
            let prober = s.spawn(|| probe::run(&probe_cfg, &progress, &probe_stop));
            let sampler = s.spawn(|| {
                let mut curve = Vec::new();
                while progress.confirmed_points.load(Ordering::Relaxed) < total {
                    curve.push((child.spawned.elapsed(), progress.confirmed_points.load(Ordering::Relaxed)));
                    std::thread::sleep(Duration::from_millis(10));
                    if start.elapsed() > cfg.timeout {
                        break;
                    }
                }
                curve.push((child.spawned.elapsed(), progress.confirmed_points.load(Ordering::Relaxed)));
                curve
            });
            let r = publish_paced_with_progress(cfg, exchange, obs, &progress, cfg.live_rate);
            if r.is_err() {
                // Let the sampler end.
                progress.confirmed_points.store(total, Ordering::Relaxed);
            }
            publish_curve = sampler.join().unwrap_or_default();
            probe_stop.store(true, Ordering::Relaxed);
            probed = prober.join().ok();
            r
        });
        let summary = match summary {
            Ok(s) => s,
            Err(e) => {
                child.child.stop(Duration::from_secs(10));
                return Err(e.into());
            }
        };
        obs.finish(&format!("{:.0} msg/s", summary.msgs_per_sec()));
        (child, summary, start)
    } else {
        obs.phase("warren backlog: publish", messages);
        let summary = publish_with_progress(cfg, exchange, obs, &progress)?;
        obs.finish(&format!("{:.0} msg/s", summary.msgs_per_sec()));
        broker_cpu_before = procstat::broker_cpu_seconds();
        let child = spawn(cfg, dir, &config, every_ms, (total, messages))?;
        let start = child.spawned;
        (child, summary, start)
    };

    obs.phase(&format!("warren {}: until durable", if live { "live" } else { "backlog" }), total);
    // Points whisper refused as too old count as settled (the verification then reports them missing), so a
    // load that does not fit its files ends the wait instead of running into the timeout.
    let durable = wait_for(&mut child, cfg.timeout, (total, messages), |c| {
        obs.progress(c.counter("committed_points"));
        // Not holding the lock while asking the broker: the reader thread takes it for every line.
        let settled = c.lock().settled_at.is_some();
        settled && broker::ready_messages(&cfg.url, queue).map(|n| n == 0).unwrap_or(false)
    });
    // The drain ends when the counters line showing it settled arrived, not when this loop saw it: polling every
    // 20 ms, then asking the broker over a new connection, came 9-23 ms later (once 99 ms) on half-second to
    // one-second drains (the debug line below; tuning/README.md "An eighth VM").
    let end = child.lock().settled_at.unwrap_or_else(Instant::now);
    tracing::debug!(lag_ms = end.elapsed().as_secs_f64() * 1e3, "drain end seen after the settled line");
    let seconds = end.duration_since(start).as_secs_f64();
    let broker_cpu_seconds = broker_cpu_before.zip(procstat::broker_cpu_seconds()).map(|(b, a)| a - b);
    let usage = procstat::usage(child.child.id()).unwrap_or_default();
    child.child.stop(Duration::from_secs(120));
    durable?;
    obs.finish(&format!("{:.0} points/s", rate(total, seconds)));

    let last = child.lock();
    let counters = last.counters.clone();
    let gauge = |k: &str| counters.get(k).copied().unwrap_or(0) as f64 / 1000.0;
    let latency_receive = Some(Latency {
        p50_ms: gauge("latency_p50_us"),
        p99_ms: gauge("latency_p99_us"),
        p999_ms: gauge("latency_p999_us"),
        source: "receive→durable (writer histogram)".into(),
    });
    let latency_publish =
        if live { curve_latency(&publish_curve, &last.committed_curve, total, every_ms) } else { None };
    drop(last);
    let probe = probed.map(|p| {
        let lat = |h, what: &str| {
            let [p50_ms, p99_ms, p999_ms] = ProbeResult::percentiles_ms(h);
            let source = format!("{what} (probe: {} messages, ±max({} ms, 10 %))", h.len(), p.poll.as_millis());
            Latency { p50_ms, p99_ms, p999_ms, source }
        };
        Probed {
            target_rate: cfg.live_rate,
            achieved_rate: publish.points_per_sec(),
            queryable: lat(&p.queryable, "publish→queryable (HTTP render)"),
            durable: lat(&p.durable, "publish→durable (whisper file)"),
            unresolved: p.unresolved,
            errors: p.errors,
            skipped: p.skipped,
        }
    });

    obs.phase("verify", u64::from(load.metrics));
    let verification = verify::verify(load, &dir.join("whisper"), |m| {
        if m % 1000 == 0 {
            obs.progress(u64::from(m));
        }
    });
    obs.finish(&format!(
        "{} ok, {} missing, {} mismatched",
        verification.ok, verification.missing, verification.mismatched
    ));

    Ok(Row {
        system: "warren".into(),
        mode: if live { "live" } else { "backlog" }.into(),
        publish,
        seconds_to_durable: seconds,
        points_per_sec: rate(total, seconds),
        ratio_to_ceiling: None,
        latency_receive,
        latency_publish,
        probe,
        usage,
        broker_cpu_seconds,
        cpu_s_per_million_points: if total > 0 { usage.cpu_seconds * 1e6 / total as f64 } else { 0.0 },
        verification,
        files,
        counters,
    })
}

/// Where warren's HTTP API listens, from its log line `query servers carbonlink=.. http=Some(<addr>)` (it binds
/// port 0, so the port is known only to it). Waits up to 10 s for the line.
fn http_addr(log: &Path) -> Result<SocketAddr, BenchError> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text
            .split("http=Some(")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|a| a.parse::<SocketAddr>().ok())
        {
            return Ok(addr);
        }
        if start.elapsed() > Duration::from_secs(10) {
            let what = format!("reading warren's HTTP address from {}", log.display());
            return Err(BenchError::Io { what, source: std::io::Error::other("no `query servers` line in 10 s") });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Poll (every 20 ms) until `done` holds; fail if the child exits or `timeout` passes.
fn wait_for(
    child: &mut Warren,
    timeout: Duration,
    (total, messages): (u64, u64),
    mut done: impl FnMut(&Warren) -> bool,
) -> Result<(), BenchError> {
    let start = Instant::now();
    loop {
        if done(child) {
            return Ok(());
        }
        if let Some(status) = child.child.exited() {
            return Err(BenchError::WarrenExited { status, log: child.child.log_tail() });
        }
        if start.elapsed() > timeout {
            let c = |k: &str| child.counter(k);
            let err = BenchError::Timeout {
                secs: timeout.as_secs(),
                committed: c("committed_points"),
                total,
                acked: c("acked"),
                messages,
                log: child.child.log_tail(),
            };
            child.child.stop(Duration::from_secs(10));
            return Err(err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Publish→durable latency from two cumulative curves, assuming points become durable in the order they were
/// confirmed (FIFO): the k-th point was confirmed when the publish curve first reached k and durable when the
/// committed curve first reached k. Evaluated at 10 000 evenly spaced ranks; resolution is the sampling interval
/// of the curves (10 ms publish side, `every_ms` consumer side).
fn curve_latency(
    publish: &[(Duration, u64)],
    committed: &[(Duration, u64)],
    total: u64,
    every_ms: u64,
) -> Option<Latency> {
    let first_at = |curve: &[(Duration, u64)], k: u64| curve.iter().find(|(_, n)| *n >= k).map(|(t, _)| *t);
    let ranks = 10_000u64.min(total.max(1));
    let mut lat: Vec<f64> = Vec::with_capacity(ranks as usize);
    for i in 1..=ranks {
        let k = (i * total).div_ceil(ranks).max(1);
        let (Some(p), Some(d)) = (first_at(publish, k), first_at(committed, k)) else { continue };
        lat.push(d.saturating_sub(p).as_secs_f64() * 1000.0);
    }
    if lat.is_empty() {
        return None;
    }
    lat.sort_by(f64::total_cmp);
    let q = |x: f64| lat[((lat.len() - 1) as f64 * x).round() as usize];
    Some(Latency {
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        source: format!("publish-confirm→durable (FIFO curve estimate, ±{every_ms} ms)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_is_settled_once_every_point_is_committed_or_refused_and_every_message_acked() {
        let line = |committed: u64, dropped: u64, acked: u64| {
            BTreeMap::from([
                ("committed_points".to_string(), committed),
                ("dropped_points".to_string(), dropped),
                ("acked".to_string(), acked),
            ])
        };
        assert!(settled(&line(200, 0, 10), (200, 10)));
        assert!(settled(&line(190, 10, 10), (200, 10)), "points whisper refused count as settled");
        assert!(!settled(&line(200, 0, 9), (200, 10)), "a message not acked yet");
        assert!(!settled(&line(199, 0, 10), (200, 10)), "a point not written yet");
        assert!(!settled(&BTreeMap::new(), (200, 10)), "a line without the counters");
    }
}
