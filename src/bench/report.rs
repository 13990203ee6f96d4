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
    /// consumer threads, pausing as warren's workers do unless `--linger-us 0`) and nothing else, as the publish
    /// is over. What consuming alone costs on this machine.
    pub drain_cpu_seconds: Option<f64>,
    /// CPU time of the broker (every `beam.smp` on this machine) over the drain; `None` if none is seen.
    pub broker_cpu_seconds: Option<f64>,
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
    /// CPU time of the broker (every `beam.smp` on this machine) from the consumer's start to the end of the
    /// drain, backlog mode only (in a live run the broker is taking the publishes too); `None` if none is seen.
    pub broker_cpu_seconds: Option<f64>,
    pub cpu_s_per_million_points: f64,
    pub verification: Verification,
    /// Whether the run created its files (`cold`) or rewrote files a `--reuse-dir` run left (`steady`).
    pub files: FilesBefore,
    /// The consumer's last counters.
    pub counters: BTreeMap<String, u64>,
}

/// One repetition of `--reps`: the broker's ceiling, then warren's backlog drain, on the same load.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Rep {
    /// The null consumer's points/s (`None` with `--no-ceiling`).
    pub ceiling_points_per_sec: Option<f64>,
    /// warren's backlog points/s (0 with `--no-backlog`).
    pub warren_points_per_sec: f64,
    /// warren's points/s ÷ this repetition's own ceiling.
    pub ratio_to_ceiling: Option<f64>,
    /// warren's CPU seconds over the drain.
    pub cpu_seconds: f64,
    /// The broker's CPU seconds over the ceiling's drain and over warren's.
    pub broker_cpu_seconds: (Option<f64>, Option<f64>),
    /// Every point of the repetition verified on disk.
    pub passed: bool,
}

impl Rep {
    /// The repetition made of this ceiling and this backlog row.
    pub fn of(ceiling: Option<&Ceiling>, row: Option<&Row>) -> Rep {
        Rep {
            ceiling_points_per_sec: ceiling.map(|c| c.drain_points_per_sec),
            warren_points_per_sec: row.map_or(0.0, |r| r.points_per_sec),
            ratio_to_ceiling: row.and_then(|r| r.ratio_to_ceiling),
            cpu_seconds: row.map_or(0.0, |r| r.usage.cpu_seconds),
            broker_cpu_seconds: (ceiling.and_then(|c| c.broker_cpu_seconds), row.and_then(|r| r.broker_cpu_seconds)),
            passed: row.is_none_or(|r| r.verification.passed()),
        }
    }

    /// What repetitions are ranked by: the ratio to the ceiling, else warren's points/s, else the ceiling's.
    pub fn rank(&self) -> f64 {
        self.ratio_to_ceiling.unwrap_or(if self.warren_points_per_sec > 0.0 {
            self.warren_points_per_sec
        } else {
            self.ceiling_points_per_sec.unwrap_or(0.0)
        })
    }
}

/// The index of the median of `reps` by [`Rep::rank`] (the lower of the two middle ones for an even count);
/// `None` when there are none.
pub fn median_rep(reps: &[Rep]) -> Option<usize> {
    let mut order: Vec<usize> = (0..reps.len()).collect();
    order.sort_by(|&a, &b| reps[a].rank().total_cmp(&reps[b].rank()));
    order.get(reps.len().saturating_sub(1) / 2).copied()
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
    /// With `--reps N` (N > 1): every repetition of the ceiling and the backlog, in order; `ceiling` and the
    /// backlog row are the median one's ([`median_rep`]).
    pub reps: Vec<Rep>,
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
    broker_cpu_line(&mut s, r);
    writeln!(s).expect("fmt");
    reps_table(&mut s, &r.reps);
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

/// The broker's CPU time over each drain of the rows above, and how many of the machine's cores that kept busy
/// on average: what the consumer left the broker.
fn broker_cpu_line(s: &mut String, r: &Report) {
    use std::fmt::Write;
    let ceiling = r.ceiling.as_ref().and_then(|c| c.broker_cpu_seconds.map(|cpu| ("ceiling", cpu, c.drain_seconds)));
    let rows =
        r.rows.iter().filter_map(|w| w.broker_cpu_seconds.map(|cpu| (w.system.as_str(), cpu, w.seconds_to_durable)));
    let parts: Vec<String> = ceiling
        .into_iter()
        .chain(rows)
        .map(|(who, cpu, secs)| format!("{who} {cpu:.2} s ({:.2} cores)", if secs > 0.0 { cpu / secs } else { 0.0 }))
        .collect();
    if !parts.is_empty() {
        writeln!(s, "broker CPU over each drain (beam.smp): {}", parts.join(", ")).expect("fmt");
    }
}

/// The repetitions of `--reps`, one line each, and the spread of their ratios.
fn reps_table(s: &mut String, reps: &[Rep]) {
    use std::fmt::Write;
    let Some(median) = median_rep(reps) else { return };
    if reps.len() < 2 {
        return;
    }
    let num = |x: Option<f64>, digits: usize| x.map_or("-".to_string(), |x| format!("{x:.digits$}"));
    writeln!(s, "repetitions (the ceiling, then warren's backlog; the rows above are the median one, *):")
        .expect("fmt");
    writeln!(
        s,
        "{:<5} {:>16} {:>16} {:>7} {:>7} {:>19} {:>6}",
        "rep", "ceiling points/s", "warren points/s", "ratio", "CPU s", "broker CPU s c / w", "verify"
    )
    .expect("fmt");
    for (i, rep) in reps.iter().enumerate() {
        writeln!(
            s,
            "{:<5} {:>16} {:>16.0} {:>7} {:>7.2} {:>19} {:>6}",
            format!("{}{}", i + 1, if i == median { "*" } else { "" }),
            num(rep.ceiling_points_per_sec, 0),
            rep.warren_points_per_sec,
            num(rep.ratio_to_ceiling, 2),
            rep.cpu_seconds,
            format!("{} / {}", num(rep.broker_cpu_seconds.0, 2), num(rep.broker_cpu_seconds.1, 2)),
            if rep.passed { "PASS" } else { "FAIL" }
        )
        .expect("fmt");
    }
    let ratios: Vec<f64> = reps.iter().filter_map(|r| r.ratio_to_ceiling).collect();
    if let (Some(lo), Some(hi)) = (ratios.iter().copied().reduce(f64::min), ratios.iter().copied().reduce(f64::max)) {
        writeln!(
            s,
            "ratio to the ceiling: median {} (min {lo:.2}, max {hi:.2}, {} repetitions)",
            num(reps[median].ratio_to_ceiling, 2),
            reps.len()
        )
        .expect("fmt");
    }
    writeln!(s).expect("fmt");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(ratio: Option<f64>, warren: f64) -> Rep {
        Rep {
            ceiling_points_per_sec: ratio.map(|r| warren / r),
            warren_points_per_sec: warren,
            ratio_to_ceiling: ratio,
            cpu_seconds: 1.0,
            broker_cpu_seconds: (Some(0.5), None),
            passed: true,
        }
    }

    #[test]
    fn the_median_repetition_is_ranked_by_its_ratio_to_its_own_ceiling() {
        // By ratio, not by points/s: the fastest warren (300) had the fastest ceiling too.
        let reps = [rep(Some(0.9), 100.0), rep(Some(0.7), 300.0), rep(Some(0.8), 50.0)];
        assert_eq!(median_rep(&reps), Some(2));
        // Even count: the lower middle one.
        assert_eq!(median_rep(&reps[..2]), Some(1));
        // Without a ceiling, warren's points/s.
        let reps = [rep(None, 100.0), rep(None, 300.0), rep(None, 50.0)];
        assert_eq!(median_rep(&reps), Some(0));
        assert_eq!(median_rep(&[]), None);
    }

    #[test]
    fn the_repetitions_table_marks_the_median_and_gives_the_spread() {
        let reps = [rep(Some(0.9), 100.0), rep(Some(0.7), 300.0), rep(Some(0.8), 50.0)];
        let mut s = String::new();
        reps_table(&mut s, &reps);
        assert!(s.contains("\n3*  "), "{s}");
        assert!(s.contains(" 0.50 / - "), "the broker's CPU over the ceiling's drain, none seen over warren's: {s}");
        assert!(s.contains("ratio to the ceiling: median 0.80 (min 0.70, max 0.90, 3 repetitions)"), "{s}");
        let mut one = String::new();
        reps_table(&mut one, &reps[..1]);
        assert!(one.is_empty(), "a single run prints no repetitions table");
    }
}
