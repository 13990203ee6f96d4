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
use super::report::Report;
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
    if cfg.ceiling {
        report.ceiling = Some(warren::ceiling(cfg, obs)?);
    }
    let drain_pps = report.ceiling.map(|c| c.drain_points_per_sec);
    for (enabled, live) in [(cfg.backlog, false), (cfg.live, true)] {
        if enabled {
            let mut row = warren::row(cfg, live, obs)?;
            row.ratio_to_ceiling = drain_pps.filter(|&c| c > 0.0).map(|c| row.points_per_sec / c);
            if !cfg.more_sync.is_empty() {
                row.system = format!("warren sync={}", cfg.knobs.sync);
            }
            report.rows.push(row);
        }
    }
    // The same backlog again with each other sync setting: the cost of durable acks, side by side.
    for sync in &cfg.more_sync {
        let mut other = cfg.clone();
        other.knobs.sync = sync.clone();
        let mut row = warren::row(&other, false, obs)?;
        row.ratio_to_ceiling = drain_pps.filter(|&c| c > 0.0).map(|c| row.points_per_sec / c);
        row.system = format!("warren sync={sync}");
        report.rows.push(row);
    }
    if let Some((p, version)) = peer_version {
        report.peer = Some(peer::info(p, version, cfg));
        let result = match p {
            Peer::PythonCarbon => peer::python_carbon(cfg, obs),
        };
        match result {
            Ok(mut row) => {
                row.ratio_to_ceiling = drain_pps.filter(|&c| c > 0.0).map(|c| row.points_per_sec / c);
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
