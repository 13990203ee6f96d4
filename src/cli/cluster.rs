//! `warren cluster plan`: check how metrics would spread over N instances before deploying them; `warren cluster
//! backfill` (in `super::backfill`): give a node the history of the metrics it took over.

use crate::ingest::topology::{plan_patterns, probe_hash_spread};
use anyhow::{bail, Context};
use std::io::BufRead;
use std::path::PathBuf;

/// `warren cluster …`
#[derive(clap::Subcommand, Debug)]
pub enum ClusterCmd {
    /// Show how a sample of metric names spreads over instances, by bind patterns or by consistent hash.
    Plan(PlanArgs),
    /// Give a node that joined (or took over) the history of the metrics it now owns, from the old owner's data
    /// dir: `whisper fill` for each (only gaps written), or a copy when it has no file yet.
    Backfill(super::backfill::BackfillArgs),
}

/// Arguments of `warren cluster plan`.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Metric names, one per line ("-" = stdin). Lines in plaintext form ("name value ts") use their first field.
    #[arg(long, default_value = "-")]
    pub metrics: PathBuf,
    /// An instance bound by topic patterns: NAME=PATTERN[,PATTERN…] (repeat per instance).
    #[arg(long = "patterns", value_name = "NAME=PATTERNS")]
    pub patterns: Vec<String>,
    /// An instance on the consistent-hash exchange: NAME=WEIGHT (repeat per instance). Asks the real broker.
    #[arg(long = "hash", value_name = "NAME=WEIGHT")]
    pub hash: Vec<String>,
    /// Broker used for --hash.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub url: String,
}

fn split(spec: &str) -> anyhow::Result<(&str, &str)> {
    spec.split_once('=').with_context(|| format!("'{spec}': expected NAME=VALUE"))
}

/// Run a cluster subcommand.
pub fn run(cmd: ClusterCmd) -> anyhow::Result<()> {
    let a = match cmd {
        ClusterCmd::Plan(a) => a,
        ClusterCmd::Backfill(a) => return super::backfill::run(a),
    };
    super::end_quietly_when_stdout_closes();
    if a.patterns.is_empty() == a.hash.is_empty() {
        bail!("give either --patterns NAME=P,… per instance or --hash NAME=WEIGHT per instance");
    }
    let reader: Box<dyn BufRead> = if a.metrics.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&a.metrics).with_context(|| format!("opening {}", a.metrics.display()))?,
        ))
    };
    let mut names = Vec::new();
    for line in reader.lines() {
        if let Some(n) = line?.split_whitespace().next() {
            names.push(n.to_string());
        }
    }
    let total = names.len() as f64;
    println!("{} metrics", names.len());
    println!("{:<20} {:>10} {:>8}", "instance", "metrics", "share");
    if !a.patterns.is_empty() {
        let mut labels = Vec::new();
        let mut instances = Vec::new();
        for spec in &a.patterns {
            let (name, pats) = split(spec)?;
            labels.push(name.to_string());
            instances.push(pats.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect());
        }
        let plan = plan_patterns(&instances, names.iter().map(String::as_str));
        for (l, n) in labels.iter().zip(&plan.per_instance) {
            println!("{l:<20} {n:>10} {:>7.1}%", *n as f64 * 100.0 / total.max(1.0));
        }
        println!("{:<20} {:>10}", "(unrouted)", plan.unrouted);
        println!("{:<20} {:>10}", "(replicated)", plan.replicated);
    } else {
        let mut labels = Vec::new();
        let mut weights = Vec::new();
        for spec in &a.hash {
            let (name, w) = split(spec)?;
            labels.push(name.to_string());
            weights.push(w.parse::<u32>().with_context(|| format!("'{spec}': weight must be a whole number"))?);
        }
        let counts = probe_hash_spread(&a.url, &weights, names.iter().map(String::as_str))
            .context("asking the broker (is rabbitmq_consistent_hash_exchange enabled?)")?;
        let wsum: u32 = weights.iter().sum();
        for ((l, n), w) in labels.iter().zip(&counts).zip(&weights) {
            let expected = total * f64::from(*w) / f64::from(wsum.max(1));
            println!(
                "{l:<20} {n:>10} {:>7.1}%   (weight {w}: expected {:.0}, {:+.1}%)",
                *n as f64 * 100.0 / total.max(1.0),
                expected,
                (*n as f64 - expected) * 100.0 / expected.max(1.0)
            );
        }
    }
    Ok(())
}
