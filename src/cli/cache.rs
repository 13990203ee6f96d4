//! `warren cache`: run the carbon-cache until SIGINT/SIGTERM.

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
}

/// The settings `args` describe: embedded defaults, then --config, then --carbon-conf.
pub fn load_settings(args: &CacheArgs) -> anyhow::Result<Settings> {
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
        let unused = settings.apply_carbon_conf(&c, p);
        if !unused.is_empty() {
            tracing::info!(keys = ?unused, "carbon.conf keys warren does not use");
        }
    }
    if let Some(i) = &args.instance {
        settings.instance = i.clone();
    }
    Ok(settings)
}

/// Load the configuration, start the engine, wait for a signal, shut down cleanly.
pub fn run(args: CacheArgs) -> anyhow::Result<()> {
    let settings = load_settings(&args)?;
    let rules = ConfRules::load(&settings)?;
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        url = %settings.amqp.url,
        exchange = %settings.amqp.exchange,
        queue = %settings.queue_name(),
        patterns = ?settings.amqp.bind_patterns,
        workers = settings.worker_count(),
        "starting warren cache"
    );
    let engine = Engine::start(&settings, Box::new(rules)).context("starting the engine")?;
    tracing::info!(carbonlink = ?engine.query.carbonlink_addr(), http = ?engine.query.http_addr(), "query servers");
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, term.clone())?;
    }
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!("signal received: flushing the cache");
    engine.stop();
    Ok(())
}
