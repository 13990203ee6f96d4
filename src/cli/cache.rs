//! `warren cache`: run the carbon-cache until SIGINT/SIGTERM; SIGHUP re-reads the configuration (rule files,
//! bind patterns) and reopens the log files.

use crate::cache::writer::ConfRules;
use crate::config::settings::Settings;
use crate::engine::Engine;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `warren cache`.
#[derive(clap::Args, Debug)]
pub struct CacheArgs {
    /// warren's TOML configuration (embedded defaults when omitted; see warren.example.toml).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Read carbon's carbon.conf `[cache]` section (and the schema files beside it) on top of the defaults
    /// or of --config.
    #[arg(long)]
    pub carbon_conf: Option<PathBuf>,
    /// With --carbon-conf: also apply its `[cache:INSTANCE]` section.
    #[arg(long)]
    pub instance: Option<String>,
    /// Print every counter as one JSON object per line on stdout, this often (milliseconds), and once more after
    /// the final flush. For `warren bench` and other supervisors; off by default.
    #[arg(long, value_name = "MS")]
    pub stats_every_ms: Option<u64>,
}

/// The settings `args` describe: embedded defaults, then --config, then --carbon-conf. carbon.conf keys warren
/// does not honour are logged (once); a refused key is an error.
pub fn load_settings(args: &CacheArgs) -> anyhow::Result<Settings> {
    let (settings, unsupported) = read_settings(args)?;
    warn_unsupported(&unsupported);
    Ok(settings)
}

/// Log each carbon.conf key warren does not honour, once.
pub fn warn_unsupported(keys: &[crate::config::carbon_policy::Verdict]) {
    for v in keys {
        tracing::warn!(key = %v.key, value = %v.value, reason = v.reason, "carbon.conf key not supported");
    }
}

/// As [`load_settings`], returning the unsupported carbon.conf keys instead of logging them.
pub fn read_settings(args: &CacheArgs) -> anyhow::Result<(Settings, Vec<crate::config::carbon_policy::Verdict>)> {
    let mut unsupported = Vec::new();
    let mut settings = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Settings::from_toml(&text, &p.display().to_string())?
        }
        None => Settings::default(),
    };
    if let Some(p) = &args.carbon_conf {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let c = crate::config::CarbonCacheSettings::parse_instance(
            &text,
            &p.display().to_string(),
            args.instance.as_deref(),
        )?;
        unsupported = crate::config::carbon_policy::apply_carbon_conf(&mut settings, &c, p)?;
    }
    if let Some(i) = &args.instance {
        settings.instance = i.clone();
    }
    Ok((settings, unsupported))
}

/// Flags raised by SIGINT/SIGTERM (stop) and SIGHUP (reload, reopen logs), replacing their default actions.
pub(crate) fn signal_flags() -> anyhow::Result<(Arc<AtomicBool>, Arc<AtomicBool>)> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, term.clone())?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())?;
    Ok((term, hup))
}

/// Load the configuration, start the engine, serve SIGHUP (reload, reopen logs), stop cleanly on SIGINT/SIGTERM.
pub fn run(args: CacheArgs) -> anyhow::Result<()> {
    let (settings, unsupported) = read_settings(&args)?;
    let logs = crate::logging::init();
    logs.configure(settings.log_file.as_deref(), settings.creates_log.as_deref())?;
    warn_unsupported(&unsupported);
    let rules = ConfRules::load(&settings)?;
    // Before anything starts: a SIGTERM that arrives while the engine starts stops it cleanly once it runs (the
    // default action would end the process with nothing flushed and the queue's deliveries unacked).
    let (term, hup) = signal_flags()?;
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        brokers = ?settings.amqp.nodes().iter().map(|u| crate::ingest::amqp::node_label(u)).collect::<Vec<_>>(),
        exchange = %settings.amqp.exchange,
        queue = %settings.queue_name(),
        patterns = ?settings.amqp.bind_patterns,
        workers = settings.worker_count(),
        "starting warren cache"
    );
    let mut engine = Engine::start(&settings, Box::new(rules)).context("starting the engine")?;
    tracing::info!(carbonlink = ?engine.query.carbonlink_addr(), http = ?engine.query.http_addr(), "query servers");
    let stats = engine.stats.clone();
    let every = args.stats_every_ms.map(Duration::from_millis);
    let mut last_line = std::time::Instant::now();
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(every.map_or(Duration::from_millis(100), |e| e.min(Duration::from_millis(100))));
        if hup.swap(false, Ordering::Relaxed) {
            on_hangup(&args, &mut engine, logs);
        }
        if every.is_some_and(|e| last_line.elapsed() >= e) {
            last_line = std::time::Instant::now();
            print_stats_line(&stats)?;
        }
    }
    tracing::info!("signal received: flushing the cache");
    engine.stop().context("stopping the engine")?;
    if every.is_some() {
        print_stats_line(&stats)?;
    }
    Ok(())
}

/// SIGHUP: reopen the log files (at their new paths, if the configuration moved them) and reload what can be
/// reloaded. A configuration that does not read keeps everything as it was.
fn on_hangup(args: &CacheArgs, engine: &mut Engine, logs: &crate::logging::Logs) {
    match read_settings(args) {
        Ok((new, _)) => {
            if let Err(e) = logs.configure(new.log_file.as_deref(), new.creates_log.as_deref()) {
                tracing::error!(error = %e, "SIGHUP: cannot open the new log files; reopening the old ones");
                let _ = logs.reopen();
            }
            tracing::info!("SIGHUP: reloading");
            engine.reload(&new).log();
        }
        Err(e) => {
            if let Err(e) = logs.reopen() {
                tracing::error!(error = %e, "SIGHUP: cannot reopen the log files");
            }
            tracing::error!(error = format!("{e:#}"), "SIGHUP: configuration not read; nothing reloaded");
        }
    }
}

/// One JSON object of every counter, on its own line, flushed.
fn print_stats_line(stats: &crate::stats::Stats) -> anyhow::Result<()> {
    use std::io::Write;
    let map: serde_json::Map<String, serde_json::Value> =
        stats.snapshot().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::Value::Object(map))?;
    out.flush()?;
    Ok(())
}
