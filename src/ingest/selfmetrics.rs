//! Self-metrics: every interval, warren's counters become points named
//! `<prefix>.agents.<host>-<instance>.<stat>` and enter the cache through a producer ring like any input.
//!
//! Carbon's names and meanings (carbon/instrumentation.py) are kept: counts are per interval (the difference
//! since the last emission), `cache.size`/`cache.queues`/`activeConnections` are gauges, `pointsPerUpdate` and
//! `avgUpdateTime` (seconds) are emitted only for intervals that wrote something, `cpuUsage` is the percentage of
//! one core used over the interval, `memUsage` the resident set in bytes. warren adds its own: AMQP deliveries,
//! bad input, socket receiver figures, connections refused by CarbonLink and the HTTP API at their caps, ring
//! occupancy and receive→durable latency percentiles (microseconds).
//!
//! Owns: the previous interval's totals. Never touches: files other than `/proc/self/status`, the cache.

use crate::ingest::parse::parse_body;
use crate::lifecycle::{unix_now, Shutdown};
use crate::pipe::batch::Batch;
use crate::pipe::ring::{Producer, Rings};
use crate::stats::Stats;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a stat is reported.
#[derive(Clone, Copy)]
enum Kind {
    /// Per-interval difference of a total.
    Delta,
    /// The current value.
    Gauge,
}

/// (emitted name, counter, kind), in emission order.
type Entry = (&'static str, fn(&Stats) -> &AtomicU64, Kind);

const TABLE: &[Entry] = &[
    ("metricsReceived", |s| &s.points_received, Kind::Delta),
    ("committedPoints", |s| &s.committed_points, Kind::Delta),
    ("updateOperations", |s| &s.update_operations, Kind::Delta),
    ("syncs", |s| &s.syncs, Kind::Delta),
    ("creates", |s| &s.creates, Kind::Delta),
    ("droppedCreates", |s| &s.dropped_creates, Kind::Delta),
    ("errors", |s| &s.errors, Kind::Delta),
    ("cache.size", |s| &s.cache_size, Kind::Gauge),
    ("cache.queues", |s| &s.cache_queues, Kind::Gauge),
    ("cache.overflow", |s| &s.cache_overflow, Kind::Delta),
    ("cache.overflowDropped", |s| &s.overflow_dropped, Kind::Delta),
    ("activeConnections", |s| &s.active_connections, Kind::Gauge),
    ("deliveries", |s| &s.deliveries, Kind::Delta),
    ("redelivered", |s| &s.redelivered, Kind::Delta),
    ("acked", |s| &s.acked, Kind::Delta),
    ("badLines", |s| &s.bad_lines, Kind::Delta),
    ("nanDropped", |s| &s.nan_dropped, Kind::Delta),
    ("rejectedNames", |s| &s.rejected_names, Kind::Delta),
    ("droppedPoints", |s| &s.dropped_points, Kind::Delta),
    ("linesTooLong", |s| &s.lines_too_long, Kind::Delta),
    ("connectionsAccepted", |s| &s.connections_accepted, Kind::Delta),
    ("connectionsRefused", |s| &s.connections_refused, Kind::Delta),
    ("carbonlink.connectionsRefused", |s| &s.carbonlink_connections_refused, Kind::Delta),
    ("http.connectionsRefused", |s| &s.http_connections_refused, Kind::Delta),
    ("carbonlink.idleTimeouts", |s| &s.carbonlink_idle_timeouts, Kind::Delta),
    ("udpDatagrams", |s| &s.udp_datagrams, Kind::Delta),
    ("pickleErrors", |s| &s.pickle_errors, Kind::Delta),
    ("pickleFramesTooLarge", |s| &s.pickle_frames_too_large, Kind::Delta),
    ("brokerConnects", |s| &s.connects, Kind::Delta),
    ("tags.queued", |s| &s.tags_queued, Kind::Delta),
    ("tags.dropped", |s| &s.tags_dropped, Kind::Delta),
    ("tags.registered", |s| &s.tags_registered, Kind::Delta),
    ("tags.requests", |s| &s.tag_requests, Kind::Delta),
    ("tags.errors", |s| &s.tag_errors, Kind::Delta),
    ("blacklistMatches", |s| &s.blacklist_matches, Kind::Delta),
    ("whitelistRejects", |s| &s.whitelist_rejects, Kind::Delta),
    ("namesRewritten", |s| &s.names_rewritten, Kind::Delta),
    ("rewriteRefused", |s| &s.rewrite_refused, Kind::Delta),
    ("latency.p50Micros", |s| &s.latency_p50_us, Kind::Gauge),
    ("latency.p99Micros", |s| &s.latency_p99_us, Kind::Gauge),
    ("latency.p999Micros", |s| &s.latency_p999_us, Kind::Gauge),
];

/// Where and how often self-metrics are emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfMetricsConfig {
    /// Time between emissions (> 0).
    pub interval: Duration,
    /// Full name prefix, e.g. `carbon.agents.web01-a` (see [`agent_prefix`]).
    pub prefix: String,
}

/// carbon's `<prefix>.agents.<host>-<instance>`; `host` defaults to this machine's hostname with `.` → `_`.
pub fn agent_prefix(prefix: &str, host: Option<&str>, instance: &str) -> String {
    let host = host.map(str::to_string).unwrap_or_else(hostname).replace('.', "_");
    format!("{prefix}.agents.{host}-{instance}")
}

/// This machine's hostname (`/proc/sys/kernel/hostname`, then `$HOSTNAME`, then `localhost`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Turns successive snapshots of [`Stats`] into carbon's per-interval figures.
pub struct Sampler {
    prefix: String,
    last: Vec<u64>,
    last_update_micros: u64,
    last_cpu: Option<Duration>,
    last_at: Instant,
    last_nodes: [u64; crate::stats::MAX_NODES],
}

impl Sampler {
    /// A sampler whose first interval starts now, with `stats` as the baseline.
    pub fn new(prefix: String, stats: &Stats) -> Sampler {
        Sampler {
            prefix,
            last: TABLE.iter().map(|(_, f, _)| f(stats).load(Ordering::Relaxed)).collect(),
            last_update_micros: stats.update_micros.load(Ordering::Relaxed),
            last_cpu: cpu_time(),
            last_at: Instant::now(),
            last_nodes: node_totals(stats),
        }
    }

    /// Append one plaintext line `<prefix>.<stat> <value> <timestamp>\n` per figure of the interval that ends
    /// now to `out`. `ring_occupancy` is the number of batches waiting in the rings.
    pub fn sample(&mut self, stats: &Stats, ring_occupancy: usize, timestamp: u32, out: &mut Vec<u8>) {
        let mut text = String::new();
        let mut line = |name: &str, value: f64| {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "{}.{name} {value} {timestamp}", self.prefix);
        };
        let mut now_values = Vec::with_capacity(TABLE.len());
        for (i, (name, f, kind)) in TABLE.iter().enumerate() {
            let v = f(stats).load(Ordering::Relaxed);
            now_values.push(v);
            let shown = match kind {
                Kind::Delta => v.saturating_sub(self.last[i]),
                Kind::Gauge => v,
            };
            line(name, shown as f64);
        }
        let delta = |name: &str| {
            // Invariant: the names looked up here are in TABLE.
            let i = TABLE.iter().position(|(n, _, _)| *n == name).expect("name in TABLE");
            now_values[i].saturating_sub(self.last[i])
        };
        let (committed, updates) = (delta("committedPoints"), delta("updateOperations"));
        let update_micros = stats.update_micros.load(Ordering::Relaxed);
        if updates > 0 {
            line("pointsPerUpdate", committed as f64 / updates as f64);
            let secs = update_micros.saturating_sub(self.last_update_micros) as f64 / 1e6;
            line("avgUpdateTime", secs / updates as f64);
        }
        let elapsed = self.last_at.elapsed();
        let cpu = cpu_time();
        if let (Some(now), Some(before)) = (cpu, self.last_cpu) {
            let used = now.saturating_sub(before).as_secs_f64();
            line("cpuUsage", 100.0 * used / elapsed.as_secs_f64().max(1e-6));
        }
        if let Some(rss) = rss_bytes() {
            line("memUsage", rss as f64);
        }
        line("ringOccupancy", ring_occupancy as f64);
        // Per broker node (`[amqp] urls` position): only nodes ever connected to, so one URL adds one line.
        let nodes = node_totals(stats);
        for (i, (now, before)) in nodes.iter().zip(self.last_nodes).enumerate() {
            if *now > 0 {
                line(&format!("brokerConnects.node{i}"), now.saturating_sub(before) as f64);
            }
        }
        self.last_nodes = nodes;
        self.last = now_values;
        self.last_update_micros = update_micros;
        self.last_cpu = cpu;
        self.last_at = Instant::now();
        out.extend_from_slice(text.as_bytes());
    }
}

fn node_totals(stats: &Stats) -> [u64; crate::stats::MAX_NODES] {
    std::array::from_fn(|i| stats.node_connects[i].load(Ordering::Relaxed))
}

/// User + system CPU time of this process so far.
pub fn cpu_time() -> Option<Duration> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete `rusage` into the pointer it is given, which points at a zeroed
    // `rusage` (a plain C struct of integers, valid when zeroed) that outlives the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: zero-initialised above, and every bit pattern is a valid `rusage`.
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.clamp(0, 999_999) as u32) * 1000);
    Some(tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// Resident set size of this process in bytes (`VmRSS` of `/proc/self/status`).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Emit self-metrics through `producer` every `cfg.interval` until shutdown, then finish the producer. The
/// points go through the same parser and name validation as plaintext input (and count as received points in
/// the next interval, as in carbon, whose own metrics pass through its cache).
pub fn run(cfg: SelfMetricsConfig, producer: Producer, stats: Arc<Stats>, rings: Arc<Rings>, shutdown: Arc<Shutdown>) {
    let stop = || shutdown.stop.load(Ordering::Acquire);
    // A zero baseline: the first interval reports everything since the engine started, even what happened
    // before this thread got to run.
    let mut sampler = Sampler::new(cfg.prefix.clone(), &Stats::default());
    let step = cfg.interval.as_secs().clamp(1, u64::from(u32::MAX)) as u32;
    let mut next = Instant::now() + cfg.interval;
    // Emissions are stamped on a grid `step` seconds apart, so two never share a whisper slot even when one is
    // late; the grid is re-anchored when it strays from the wall clock (clock step, suspended machine).
    let mut stamp = unix_now().saturating_add(step);
    let mut logged_bad = false;
    while !stop() {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(100)));
            continue;
        }
        next += cfg.interval;
        if next < now {
            // Fell behind: skip the missed intervals rather than burst.
            next = now + cfg.interval;
        }
        let wall = unix_now();
        if wall.abs_diff(stamp) >= step {
            stamp = wall;
        }
        let mut body = Vec::new();
        sampler.sample(&stats, rings.occupancy(), stamp, &mut body);
        stamp = stamp.saturating_add(step);
        let mut points = Vec::new();
        let counts = parse_body(b"", &body, true, unix_now(), &mut points, &mut Vec::new(), |b| {
            if !logged_bad {
                logged_bad = true;
                tracing::error!(bad = ?b, prefix = %cfg.prefix, "self-metric refused: check stats.metric_prefix / host");
            }
        });
        Stats::add(&stats.points_received, counts.points as u64);
        if points.is_empty() {
            continue;
        }
        let batch = Batch { ack: None, key: String::new(), body, points, parts: Vec::new(), received: Instant::now() };
        if producer.push(batch, stop).is_err() {
            break;
        }
    }
    producer.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(text: &str, stat: &str) -> Option<f64> {
        text.lines().find_map(|l| {
            let mut f = l.split(' ');
            let name = f.next()?;
            (name == format!("carbon.agents.h-a.{stat}")).then(|| f.next()?.parse().ok())?
        })
    }

    #[test]
    fn counts_are_per_interval_and_gauges_are_current() {
        let stats = Stats::default();
        Stats::add(&stats.points_received, 100);
        let mut s = Sampler::new(agent_prefix("carbon", Some("h"), "a"), &stats);
        Stats::add(&stats.points_received, 7);
        Stats::add(&stats.committed_points, 10);
        Stats::add(&stats.update_operations, 4);
        Stats::add(&stats.update_micros, 2_000);
        stats.cache_size.store(42, Ordering::Relaxed);
        let mut out = Vec::new();
        s.sample(&stats, 3, 1000, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(value_of(&text, "metricsReceived"), Some(7.0));
        assert_eq!(value_of(&text, "cache.size"), Some(42.0));
        assert_eq!(value_of(&text, "pointsPerUpdate"), Some(2.5));
        assert_eq!(value_of(&text, "avgUpdateTime"), Some(0.0005));
        assert_eq!(value_of(&text, "ringOccupancy"), Some(3.0));
        assert!(value_of(&text, "memUsage").is_some_and(|m| m > 0.0));
        assert!(value_of(&text, "cpuUsage").is_some());
        let mut out = Vec::new();
        s.sample(&stats, 0, 1001, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(value_of(&text, "metricsReceived"), Some(0.0));
        assert_eq!(value_of(&text, "cache.size"), Some(42.0));
        assert_eq!(value_of(&text, "pointsPerUpdate"), None, "carbon omits it for intervals without updates");
    }

    #[test]
    fn connections_refused_by_the_query_servers_are_counted_per_interval() {
        let stats = Stats::default();
        Stats::add(&stats.carbonlink_connections_refused, 5);
        let mut s = Sampler::new(agent_prefix("carbon", Some("h"), "a"), &stats);
        Stats::add(&stats.carbonlink_connections_refused, 3);
        Stats::add(&stats.http_connections_refused, 2);
        let mut out = Vec::new();
        s.sample(&stats, 0, 1000, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(value_of(&text, "carbonlink.connectionsRefused"), Some(3.0), "{text}");
        assert_eq!(value_of(&text, "http.connectionsRefused"), Some(2.0), "{text}");
        // Control: the socket receivers' own refusals are a different counter.
        assert_eq!(value_of(&text, "connectionsRefused"), Some(0.0), "{text}");
        let mut out = Vec::new();
        s.sample(&stats, 0, 1060, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(value_of(&text, "carbonlink.connectionsRefused"), Some(0.0), "per interval: {text}");
        assert_eq!(value_of(&text, "http.connectionsRefused"), Some(0.0), "per interval: {text}");
    }

    #[test]
    fn carbonlink_connections_closed_idle_are_counted_per_interval() {
        let stats = Stats::default();
        Stats::add(&stats.carbonlink_idle_timeouts, 2);
        let mut s = Sampler::new(agent_prefix("carbon", Some("h"), "a"), &stats);
        Stats::add(&stats.carbonlink_idle_timeouts, 4);
        let mut out = Vec::new();
        s.sample(&stats, 0, 1000, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(value_of(&text, "carbonlink.idleTimeouts"), Some(4.0), "{text}");
        assert_eq!(value_of(&text, "carbonlink.connectionsRefused"), Some(0.0), "a different counter: {text}");
        let mut out = Vec::new();
        s.sample(&stats, 0, 1060, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(value_of(&text, "carbonlink.idleTimeouts"), Some(0.0), "per interval: {text}");
    }

    #[test]
    fn broker_connects_are_counted_per_node_once_a_node_was_connected_to() {
        let stats = Stats::default();
        stats.node_connected(1);
        let mut s = Sampler::new("p".into(), &stats);
        stats.node_connected(1);
        stats.node_connected(2);
        let mut out = Vec::new();
        s.sample(&stats, 0, 1000, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("p.brokerConnects.node1 1 1000\n"), "{text}");
        assert!(text.contains("p.brokerConnects.node2 1 1000\n"), "{text}");
        assert!(!text.contains("brokerConnects.node0"), "a node never connected to has no line: {text}");
        let mut out = Vec::new();
        s.sample(&stats, 0, 1060, &mut out);
        assert!(String::from_utf8(out).unwrap().contains("p.brokerConnects.node1 0 1060\n"), "per interval");
    }

    #[test]
    fn every_self_metric_name_passes_name_validation() {
        let stats = Stats::default();
        let mut s = Sampler::new(agent_prefix("carbon", Some("web01.example.com"), "a"), &stats);
        Stats::add(&stats.update_operations, 1);
        let mut out = Vec::new();
        s.sample(&stats, 0, 1000, &mut out);
        let mut points = Vec::new();
        let c = parse_body(b"", &out, true, 0, &mut points, &mut Vec::new(), |b| panic!("refused: {b:?}"));
        assert_eq!(c.points, out.iter().filter(|&&b| b == b'\n').count());
        assert!(String::from_utf8(out).unwrap().starts_with("carbon.agents.web01_example_com-a."));
    }
}
