//! `warren relay`: take classic carbon inputs and publish every point to the broker, until SIGINT/SIGTERM.

use crate::cli::cache::{read_settings, warn_unsupported, CacheArgs};
use crate::relay::Relay;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Arguments of `warren relay`.
#[derive(clap::Args, Debug)]
pub struct RelayArgs {
    /// warren's TOML configuration: `[amqp]` url/exchange, `[receivers]`, `[relay]`, `[filter]`, `[stats]`.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Read carbon's carbon.conf (AMQP and receiver settings, USE_WHITELIST) and the whitelist.conf,
    /// blacklist.conf and rewrite-rules.conf beside it.
    #[arg(long)]
    pub carbon_conf: Option<PathBuf>,
    /// With --carbon-conf: also apply its `[cache:INSTANCE]` section; names the self-metrics.
    #[arg(long)]
    pub instance: Option<String>,
    /// Print every counter as one JSON object per line on stdout this often (milliseconds), and once more at exit.
    #[arg(long, value_name = "MS")]
    pub stats_every_ms: Option<u64>,
}

/// Start the relay, wait for a signal, flush, wait for the last confirms, exit.
pub fn run(args: RelayArgs) -> anyhow::Result<()> {
    let cache_args = CacheArgs {
        config: args.config,
        carbon_conf: args.carbon_conf,
        instance: args.instance,
        stats_every_ms: args.stats_every_ms,
    };
    let (settings, unsupported) = read_settings(&cache_args)?;
    let logs = crate::logging::init();
    logs.configure(settings.log_file.as_deref(), settings.creates_log.as_deref())?;
    warn_unsupported(&unsupported);
    // Before the relay starts (a SIGTERM during its start stops it cleanly once it runs). SIGHUP reopens log_file
    // (logrotate); the relay's rules change at restart.
    let (term, hup) = super::cache::signal_flags()?;
    let relay = Relay::start(&settings).context("starting the relay")?;
    let every = args.stats_every_ms.map(Duration::from_millis);
    let mut last_line = Instant::now();
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(every.map_or(Duration::from_millis(100), |e| e.min(Duration::from_millis(100))));
        if hup.swap(false, Ordering::Relaxed) {
            match logs.reopen() {
                Ok(()) => tracing::info!("SIGHUP: log files reopened"),
                Err(e) => tracing::error!(error = %e, "SIGHUP: cannot reopen the log files"),
            }
        }
        if every.is_some_and(|e| last_line.elapsed() >= e) {
            last_line = Instant::now();
            print_stats(&relay)?;
        }
    }
    tracing::info!("signal received: closing the receivers, flushing, waiting for confirms");
    relay.request_stop();
    let (stats, recv_stats) = (relay.stats.clone(), relay.recv_stats.clone());
    let outcome = relay.stop()?;
    if every.is_some() {
        print_line(&stats, &recv_stats)?;
    }
    anyhow::ensure!(
        outcome.abandoned == 0,
        "{} points were not confirmed by the broker before the timeout",
        outcome.abandoned
    );
    Ok(())
}

fn print_stats(relay: &Relay) -> anyhow::Result<()> {
    print_line(&relay.stats, &relay.recv_stats)
}

/// One JSON object of every relay and receiver counter, on its own line, flushed.
fn print_line(stats: &crate::relay::stats::RelayStats, recv: &crate::stats::Stats) -> anyhow::Result<()> {
    use std::io::Write;
    let mut map = serde_json::Map::new();
    for (k, v) in recv.snapshot().into_iter().chain(stats.snapshot()) {
        map.insert(k.to_string(), v.into());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::Value::Object(map))?;
    out.flush()?;
    Ok(())
}
