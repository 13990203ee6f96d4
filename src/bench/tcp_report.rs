//! What a socket run found ([`TcpReport`]): one [`TcpRow`] per pairing, phase and system, the warren/go-carbon
//! [`Ratio`] of each pairing and phase, and its plain-text [`table`]. The JSON report is the serde form.
//!
//! Owns: nothing. Never touches: processes, files.

use super::load::Load;
use super::verify::Verification;
use super::wire::Protocol;

/// Create-mode pairings (warren / go-carbon).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pairing {
    /// Both write zeros into every new file.
    Zero,
    /// Both create sparse files.
    Sparse,
    /// Each side's own default (warren: fallocate; go-carbon: zero-filled).
    Default,
}

impl Pairing {
    /// Every pairing, in report order.
    pub const ALL: [Pairing; 3] = [Pairing::Zero, Pairing::Sparse, Pairing::Default];

    /// The name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Pairing::Zero => "zero",
            Pairing::Sparse => "sparse",
            Pairing::Default => "default",
        }
    }

    /// The pairing called `name`.
    pub fn by_name(name: &str) -> Option<Pairing> {
        Pairing::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Cold: every file is created by the run. Steady: the same points again into the files the cold run left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Cold,
    Steady,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Cold => "cold",
            Phase::Steady => "steady",
        }
    }
}

/// One system's run of one pairing and phase.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TcpRow {
    pub pairing: Pairing,
    pub phase: Phase,
    /// `warren` or `go-carbon`.
    pub system: String,
    /// The create mode the system actually ran with (`fallocate (default)` when left to its default).
    pub create_mode: String,
    /// From the first byte sent until the system's last write (see `bench::lastwrite`).
    pub seconds: f64,
    /// From the first byte sent until the harness saw the system's committed counter reach the total (an upper
    /// bound of `seconds`, at the counter's resolution).
    pub seconds_by_counter: f64,
    /// Points / `seconds`.
    pub points_per_sec: f64,
    /// The process's user + system CPU from the first byte sent until the counter reached the total (its
    /// start-up excluded).
    pub cpu_seconds: f64,
    pub cpu_s_per_million_points: f64,
    pub peak_rss_kib: u64,
    /// `/proc/loadavg` (1, 5, 15 min) before the run's `sync` and after its verification.
    pub load_before: [f64; 3],
    pub load_after: [f64; 3],
    pub verification: Verification,
}

/// warren against go-carbon on one pairing and phase.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Ratio {
    pub pairing: Pairing,
    pub phase: Phase,
    pub warren_points_per_sec: f64,
    pub peer_points_per_sec: f64,
    /// warren's points/s ÷ go-carbon's.
    pub ratio: f64,
    /// go-carbon's CPU s ÷ warren's for the same points (how many times less CPU warren used).
    pub cpu_ratio: f64,
    /// The goal: at least 2× go-carbon.
    pub at_least_2x: bool,
}

/// The whole result of `warren bench plaintext|pickle`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TcpReport {
    pub scenario: Protocol,
    pub load: Load,
    pub total_points: u64,
    /// go-carbon's version and setup, when it ran.
    pub peer: Option<String>,
    /// How the rows were timed.
    pub timing: String,
    pub rows: Vec<TcpRow>,
    pub ratios: Vec<Ratio>,
}

/// warren/go-carbon for every pairing and phase that has a row of both.
pub fn ratios(rows: &[TcpRow]) -> Vec<Ratio> {
    let find =
        |p: Pairing, ph: Phase, sys: &str| rows.iter().find(|r| r.pairing == p && r.phase == ph && r.system == sys);
    let mut out = Vec::new();
    for p in Pairing::ALL {
        for ph in [Phase::Cold, Phase::Steady] {
            let (Some(w), Some(g)) = (find(p, ph, "warren"), find(p, ph, "go-carbon")) else { continue };
            if g.points_per_sec <= 0.0 || w.cpu_seconds <= 0.0 {
                continue;
            }
            let ratio = w.points_per_sec / g.points_per_sec;
            out.push(Ratio {
                pairing: p,
                phase: ph,
                warren_points_per_sec: w.points_per_sec,
                peer_points_per_sec: g.points_per_sec,
                ratio,
                cpu_ratio: g.cpu_seconds / w.cpu_seconds,
                at_least_2x: ratio >= 2.0,
            });
        }
    }
    out
}

fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else {
        format!("{:.0} k", x / 1e3)
    }
}

/// The report as a plain-text table.
pub fn table(r: &TcpReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let l = &r.load;
    // Invariant (every writeln! below): writing to a String cannot fail.
    writeln!(
        s,
        "scenario {}: {} metrics × {} points = {} points over one TCP connection{}, interval {} s",
        r.scenario.name(),
        l.metrics,
        l.points,
        r.total_points,
        if r.scenario == Protocol::Pickle { format!(", {} points per pickle frame", l.per_msg) } else { String::new() },
        l.interval
    )
    .expect("fmt");
    if let Some(p) = &r.peer {
        writeln!(s, "peer: {p}").expect("fmt");
    }
    writeln!(s, "timing: {}\n", r.timing).expect("fmt");
    writeln!(
        s,
        "{:<8} {:<7} {:<10} {:<19} {:>8} {:>9} {:>11} {:>7} {:>8} {:>8} {:>16} {:>8}",
        "pairing",
        "phase",
        "system",
        "create mode",
        "seconds",
        "counter s",
        "points/s",
        "CPU s",
        "CPU s/M",
        "peak MiB",
        "load before/after",
        "verified"
    )
    .expect("fmt");
    for row in &r.rows {
        writeln!(
            s,
            "{:<8} {:<7} {:<10} {:<19} {:>8.3} {:>9.3} {:>11} {:>7.2} {:>8.2} {:>8.1} {:>16} {:>8}",
            row.pairing.name(),
            row.phase.name(),
            row.system,
            row.create_mode,
            row.seconds,
            row.seconds_by_counter,
            si(row.points_per_sec),
            row.cpu_seconds,
            row.cpu_s_per_million_points,
            row.peak_rss_kib as f64 / 1024.0,
            format!("{:.2}/{:.2}", row.load_before[0], row.load_after[0]),
            if row.verification.passed() {
                "PASS".to_string()
            } else {
                format!("FAIL {}/{}", row.verification.missing, row.verification.mismatched)
            }
        )
        .expect("fmt");
    }
    if !r.ratios.is_empty() {
        writeln!(
            s,
            "\n{:<8} {:<7} {:>14} {:>17} {:>8} {:>10} {:>6}",
            "pairing", "phase", "warren pts/s", "go-carbon pts/s", "ratio", "CPU ratio", ">=2x"
        )
        .expect("fmt");
        for x in &r.ratios {
            writeln!(
                s,
                "{:<8} {:<7} {:>14} {:>17} {:>8.2} {:>10.2} {:>6}",
                x.pairing.name(),
                x.phase.name(),
                si(x.warren_points_per_sec),
                si(x.peer_points_per_sec),
                x.ratio,
                x.cpu_ratio,
                if x.at_least_2x { "yes" } else { "NO" }
            )
            .expect("fmt");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairing: Pairing, phase: Phase, system: &str, pps: f64, cpu: f64) -> TcpRow {
        TcpRow {
            pairing,
            phase,
            system: system.into(),
            create_mode: "zero".into(),
            seconds: 1.0,
            seconds_by_counter: 1.0,
            points_per_sec: pps,
            cpu_seconds: cpu,
            cpu_s_per_million_points: cpu,
            peak_rss_kib: 0,
            load_before: [0.0; 3],
            load_after: [0.0; 3],
            verification: Verification::default(),
        }
    }

    #[test]
    fn ratios_pair_warren_with_go_carbon_per_pairing_and_phase() {
        let rows = [
            row(Pairing::Zero, Phase::Cold, "warren", 300.0, 1.0),
            row(Pairing::Zero, Phase::Cold, "go-carbon", 200.0, 4.0),
            row(Pairing::Zero, Phase::Steady, "go-carbon", 100.0, 2.0),
            row(Pairing::Zero, Phase::Steady, "warren", 500.0, 0.5),
            row(Pairing::Sparse, Phase::Cold, "warren", 1.0, 1.0),
        ];
        let r = ratios(&rows);
        assert_eq!(r.len(), 2, "sparse has no go-carbon row");
        assert_eq!((r[0].phase, r[0].ratio, r[0].cpu_ratio, r[0].at_least_2x), (Phase::Cold, 1.5, 4.0, false));
        assert_eq!((r[1].phase, r[1].ratio, r[1].cpu_ratio, r[1].at_least_2x), (Phase::Steady, 5.0, 4.0, true));
    }

    #[test]
    fn pairings_are_found_by_name() {
        for p in Pairing::ALL {
            assert_eq!(Pairing::by_name(p.name()), Some(p));
        }
        assert_eq!(Pairing::by_name("fallocate"), None);
    }
}
