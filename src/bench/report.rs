//! What a bench run found: the [`Report`] (one [`Row`] per system and mode, the broker's [`Ceiling`], the peer's
//! setup) and its plain-text [`table`]. The JSON report is the serde form of [`Report`].

use super::harness::{FilesBefore, WarrenKnobs};
use super::load::Load;
use super::procstat::ProcUsage;
use super::publish::{rate, PublishSummary};
use super::verify::Verification;
use std::collections::BTreeMap;

/// The broker's own delivery rate with a consumer that does nothing but ack.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Ceiling {
    pub publish: PublishSummary,
    pub drain_seconds: f64,
    pub drain_msgs_per_sec: f64,
    pub drain_points_per_sec: f64,
    /// CPU time of the bench process during the drain: the null consumer (amiquip's I/O threads and the
    /// consumer threads) and nothing else, as the publish is over. What consuming alone costs on this machine.
    pub drain_cpu_seconds: Option<f64>,
}

impl Ceiling {
    /// The null consumer's CPU seconds per million points (one point per message: per million deliveries).
    pub fn cpu_s_per_million_points(&self) -> Option<f64> {
        let points = self.publish.points as f64;
        self.drain_cpu_seconds.filter(|_| points > 0.0).map(|cpu| cpu * 1e6 / points)
    }
}

/// Latency percentiles, milliseconds, and how they were obtained.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// `receive→durable (writer histogram)` or `publish-confirm→durable (curve, ±stats interval)`.
    pub source: String,
}

/// What a live run's probe measured (see [`super::probe`]), at the publish rate it ran at.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Probed {
    /// Points per second asked (`--rate`); `None` = as fast as the broker confirms.
    pub target_rate: Option<f64>,
    /// Points per second the publisher achieved (points ÷ first connection to last confirm).
    pub achieved_rate: f64,
    /// Send → the HTTP render API returns the point.
    pub queryable: Latency,
    /// Send → the whisper file holds the point (read by the bench, not by warren).
    pub durable: Latency,
    /// Probed messages never seen before the probe gave up (0 expected).
    pub unresolved: u64,
    /// Render requests that failed.
    pub errors: u64,
    /// Samples skipped because the probe followed its maximum of messages already.
    pub skipped: u64,
}

/// One system's result on one mode (warren backlog, warren live, later peers such as python-carbon).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    /// `warren`, or a peer's name.
    pub system: String,
    /// `backlog` (queue filled first) or `live` (consumer running while publishing).
    pub mode: String,
    pub publish: PublishSummary,
    /// From the consumer's start (backlog) or the first publish (live) until every point was durable and acked.
    pub seconds_to_durable: f64,
    /// total points / seconds_to_durable.
    pub points_per_sec: f64,
    /// points_per_sec / ceiling drain points per second.
    pub ratio_to_ceiling: Option<f64>,
    /// Writer histogram (receive→durable) for every mode.
    pub latency_receive: Option<Latency>,
    /// Publish-confirm→durable, live mode only.
    pub latency_publish: Option<Latency>,
    /// Live mode: the publish rate asked and achieved, and the probe's send→queryable and send→durable delays.
    pub probe: Option<Probed>,
    pub usage: ProcUsage,
    pub cpu_s_per_million_points: f64,
    pub verification: Verification,
    /// Whether the run created its files (`cold`) or rewrote files a `--reuse-dir` run left (`steady`).
    pub files: FilesBefore,
    /// The consumer's last counters.
    pub counters: BTreeMap<String, u64>,
}

/// The whole result of `warren bench`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub scenario: String,
    pub load: Load,
    pub messages: u64,
    pub total_points: u64,
    pub knobs: WarrenKnobs,
    pub publish_connections: usize,
    pub ceiling: Option<Ceiling>,
    pub rows: Vec<Row>,
    /// The peer's setup, when one ran.
    pub peer: Option<PeerInfo>,
    /// warren's points/s (its first row) ÷ the peer's: how many times faster warren made the load durable.
    pub warren_over_peer: Option<f64>,
    /// Why the peer's run failed, when it did (warren's rows are still reported; the bench then fails).
    pub peer_error: Option<String>,
}

/// How the peer was set up, for the report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PeerInfo {
    /// The peer's name.
    pub system: String,
    /// Its version, as its package reports it.
    pub version: String,
    /// Create mode (the same as warren's): `fallocate` = WHISPER_FALLOCATE_CREATE, `sparse` =
    /// WHISPER_SPARSE_CREATE, `zero` = neither.
    pub create_mode: String,
    /// CACHE_WRITE_STRATEGY (the same as warren's).
    pub write_strategy: String,
    /// The settings that would otherwise throttle it.
    pub limits: String,
    /// When it acknowledges deliveries.
    pub ack: String,
    /// How its row was measured.
    pub timing: String,
}

/// The report as a plain-text table.
pub fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let l = &r.load;
    let k = &r.knobs;
    // Invariant (every writeln! below): writing to a String cannot fail.
    writeln!(
        s,
        "scenario {}: {} metrics × {} points = {} points in {} messages ({} per message, {}), interval {} s",
        r.scenario,
        l.metrics,
        l.points,
        r.total_points,
        r.messages,
        l.per_msg,
        if l.name_in_body { "name in body" } else { "routing key" },
        l.interval
    )
    .expect("fmt");
    writeln!(
        s,
        "warren: {} workers, prefetch {}, strategy {}, create mode {}{}{}, ring {}, creates/min {}; {} publisher connections",
        k.workers,
        k.prefetch,
        k.strategy,
        k.create_mode,
        if k.mmap { ", mmap" } else { "" },
        k.linger_us.map_or(String::new(), |us| format!(", linger {us} µs")),
        k.ring_capacity,
        if k.max_creates_per_minute == 0 { "unlimited".to_string() } else { k.max_creates_per_minute.to_string() },
        r.publish_connections
    )
    .expect("fmt");
    if let Some(p) = &r.peer {
        writeln!(
            s,
            "{}: {}, strategy {}, create mode {}, {}; {}",
            p.system, p.version, p.write_strategy, p.create_mode, p.limits, p.timing
        )
        .expect("fmt");
    }
    writeln!(s).expect("fmt");
    writeln!(
        s,
        "{:<22} {:>11} {:>12} {:>10} {:>12} {:>7} {:>25} {:>9} {:>9} {:>8} {:>12} {:>7}",
        "system",
        "publish/s",
        "points/s",
        "seconds",
        "drain msg/s",
        "ratio",
        "latency p50/p99/p999 ms",
        "peak MiB",
        "CPU s",
        "CPU s/M",
        "missing/bad",
        "files"
    )
    .expect("fmt");
    if let Some(c) = &r.ceiling {
        writeln!(
            s,
            "{:<22} {:>11.0} {:>12.0} {:>10.2} {:>12.0} {:>7} {:>25} {:>9} {:>9} {:>8} {:>12} {:>7}",
            "broker ceiling (null)",
            c.publish.msgs_per_sec(),
            c.drain_points_per_sec,
            c.drain_seconds,
            c.drain_msgs_per_sec,
            "1.00",
            "-",
            "-",
            c.drain_cpu_seconds.map_or("-".to_string(), |x| format!("{x:.2}")),
            c.cpu_s_per_million_points().map_or("-".to_string(), |x| format!("{x:.2}")),
            "-",
            "-"
        )
        .expect("fmt");
    }
    for row in &r.rows {
        let probe = row.probe.as_ref().map(|p| &p.durable);
        let lat = probe.or(row.latency_publish.as_ref()).or(row.latency_receive.as_ref());
        let lat = lat.map_or("-".to_string(), |l| format!("{:.0}/{:.0}/{:.0}", l.p50_ms, l.p99_ms, l.p999_ms));
        writeln!(
            s,
            "{:<22} {:>11.0} {:>12.0} {:>10.2} {:>12.0} {:>7} {:>25} {:>9.1} {:>9.2} {:>8.2} {:>12} {:>7}",
            format!("{} {}", row.system, row.mode),
            row.publish.msgs_per_sec(),
            row.points_per_sec,
            row.seconds_to_durable,
            rate(row.counters.get("deliveries").copied().unwrap_or(0), row.seconds_to_durable),
            row.ratio_to_ceiling.map_or("-".to_string(), |x| format!("{x:.2}")),
            lat,
            row.usage.peak_rss_kib as f64 / 1024.0,
            row.usage.cpu_seconds,
            row.cpu_s_per_million_points,
            format!("{}/{}", row.verification.missing, row.verification.mismatched),
            row.files.state
        )
        .expect("fmt");
    }
    writeln!(s).expect("fmt");
    for row in &r.rows {
        if let Some(p) = &row.probe {
            writeln!(
                s,
                "{} {} publish rate: {}, achieved {:.0} points/s; probe: {} unresolved, {} render errors, {} skipped",
                row.system,
                row.mode,
                p.target_rate.map_or("unpaced".to_string(), |t| format!("target {t:.0} points/s")),
                p.achieved_rate,
                p.unresolved,
                p.errors,
                p.skipped
            )
            .expect("fmt");
        }
        let probed = row.probe.iter().flat_map(|p| [&p.queryable, &p.durable]);
        for lat in [&row.latency_receive, &row.latency_publish].into_iter().flatten().chain(probed) {
            writeln!(
                s,
                "{} {} latency {}: p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms",
                row.system, row.mode, lat.source, lat.p50_ms, lat.p99_ms, lat.p999_ms
            )
            .expect("fmt");
        }
        let f = &row.files;
        if f.state == "partial" {
            writeln!(s, "{} {} files: {} of {} existed before the run", row.system, row.mode, f.existed, f.metrics)
                .expect("fmt");
        }
        let v = &row.verification;
        writeln!(
            s,
            "{} {} verification: {} of {} points ok, {} missing, {} mismatched, {} files missing, {} reader \
             disagreements → {}",
            row.system,
            row.mode,
            v.ok,
            v.expected,
            v.missing,
            v.mismatched,
            v.missing_files,
            v.reader_disagreements,
            if v.passed() { "PASS" } else { "FAIL" }
        )
        .expect("fmt");
    }
    if let Some(p) = &r.peer {
        match (r.warren_over_peer, &r.peer_error) {
            (Some(x), _) => {
                writeln!(s, "warren/{}: {x:.2}× (warren's points/s ÷ {}'s); note: {}", p.system, p.system, p.ack)
            }
            (None, Some(e)) => writeln!(s, "{} FAILED: {e}", p.system),
            (None, None) => writeln!(s, "warren/{}: no ratio (no warren row)", p.system),
        }
        .expect("fmt");
    }
    s
}
