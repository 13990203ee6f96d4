//! One benchmark run, end to end on one broker: the broker's ceiling, warren on a backlog (and optionally live),
//! then the peer on the same load, into one [`Report`].
//!
//! The harness's modules depend one way: `run` → [`super::warren`], [`super::peer`] → [`super::report`],
//! [`super::child`], [`super::harness`] → [`super::error`] and the load tools.
//!
//! Owns: the order of the steps. Never touches: broker objects or processes itself (its steps do).

use super::error::BenchError;
use super::harness::{Observer, Peer, RunConfig};
use super::peer;
use super::report::{median_rep, Ceiling, Rep, Report, Row};
use super::warren;

/// Run the configured steps and return the report. Broker objects are deleted even when a step fails.
pub fn run(cfg: &RunConfig, obs: &dyn Observer) -> Result<Report, BenchError> {
    let mut report = Report {
        scenario: cfg.scenario.clone(),
        load: cfg.load.clone(),
        messages: cfg.load.messages(),
        total_points: cfg.load.total_points(),
        knobs: cfg.knobs.clone(),
        publish_connections: cfg.publish_connections,
        ceiling: None,
        rows: Vec::new(),
        reps: Vec::new(),
        peer: None,
        warren_over_peer: None,
        peer_error: None,
    };
    // A missing peer, or a --reuse-dir tree the peer cannot use, fails the run before anything is measured.
    let peer_version = match cfg.peer {
        Some(p) => {
            let version = peer::check_installed(p)?;
            peer::check_reuse(p, cfg)?;
            Some((p, version))
        }
        None => None,
    };
    let (ceiling, backlog) = alternate(cfg, obs, &mut report.reps)?;
    report.ceiling = ceiling;
    let drain_pps = report.ceiling.map(|c| c.drain_points_per_sec);
    report.rows.extend(backlog);
    if cfg.live {
        report.rows.push(warren_row(cfg, true, drain_pps, obs)?);
    }
    // The same backlog again with each other sync setting: the cost of durable acks, side by side.
    for sync in &cfg.more_sync {
        let mut other = cfg.clone();
        other.knobs.sync = sync.clone();
        report.rows.push(warren_row(&other, false, drain_pps, obs)?);
    }
    if let Some((p, version)) = peer_version {
        report.peer = Some(peer::info(p, version, cfg));
        let result = match p {
            Peer::PythonCarbon => peer::python_carbon(cfg, obs),
        };
        match result {
            Ok(mut row) => {
                row.ratio_to_ceiling = ratio(row.points_per_sec, drain_pps);
                report.warren_over_peer = report
                    .rows
                    .iter()
                    .find(|r| r.system == "warren")
                    .filter(|_| row.points_per_sec > 0.0)
                    .map(|w| w.points_per_sec / row.points_per_sec);
                report.rows.push(row);
            }
            Err(e) => report.peer_error = Some(e.to_string()),
        }
    }
    Ok(report)
}

/// The ceiling and warren's backlog (each when enabled), `cfg.reps` times in turn, each backlog's ratio taken to
/// the ceiling just before it. Returns the median repetition ([`median_rep`]) and, when there were several,
/// records every one in `reps`: single runs on a shared box spread by ±15 %, which one pair cannot tell from a
/// change.
fn alternate(
    cfg: &RunConfig,
    obs: &dyn Observer,
    reps: &mut Vec<Rep>,
) -> Result<(Option<Ceiling>, Option<Row>), BenchError> {
    let mut runs = Vec::new();
    for _ in 0..cfg.reps.max(1) {
        let ceiling = if cfg.ceiling { Some(warren::ceiling(cfg, obs)?) } else { None };
        let backlog = if cfg.backlog {
            Some(warren_row(cfg, false, ceiling.map(|c| c.drain_points_per_sec), obs)?)
        } else {
            None
        };
        runs.push((ceiling, backlog));
    }
    let all: Vec<Rep> = runs.iter().map(|(c, r)| Rep::of(c.as_ref(), r.as_ref())).collect();
    // Invariant: at least one repetition ran.
    let median = median_rep(&all).expect("at least one repetition");
    if all.len() > 1 {
        *reps = all;
    }
    Ok(runs.swap_remove(median))
}

/// warren's row on `cfg` (its backlog, or live), with its ratio to a ceiling of `ceiling_pps` points/s, named by
/// its sync setting when the run compares several (`--sync none,batch`).
fn warren_row(cfg: &RunConfig, live: bool, ceiling_pps: Option<f64>, obs: &dyn Observer) -> Result<Row, BenchError> {
    let mut row = warren::row(cfg, live, obs)?;
    row.ratio_to_ceiling = ratio(row.points_per_sec, ceiling_pps);
    if !cfg.more_sync.is_empty() {
        row.system = format!("warren sync={}", cfg.knobs.sync);
    }
    Ok(row)
}

/// `points_per_sec` over a ceiling of `ceiling_pps` (none without a ceiling, or with an empty one).
fn ratio(points_per_sec: f64, ceiling_pps: Option<f64>) -> Option<f64> {
    ceiling_pps.filter(|&c| c > 0.0).map(|c| points_per_sec / c)
}
