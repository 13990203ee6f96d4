//! `warren cache`: run the carbon-cache until SIGINT/SIGTERM.

use crate::cache::writer::DefaultRules;
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
}

/// Load the configuration, start the engine, wait for a signal, shut down cleanly.
pub fn run(args: CacheArgs) -> anyhow::Result<()> {
    let settings = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Settings::from_toml(&text, &p.display().to_string())?
        }
        None => Settings::default(),
    };
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        url = %settings.amqp.url,
        exchange = %settings.amqp.exchange,
        queue = %settings.queue_name(),
        patterns = ?settings.amqp.bind_patterns,
        workers = settings.worker_count(),
        "starting warren cache"
    );
    let engine = Engine::start(&settings, Box::new(DefaultRules)).context("starting the engine")?;
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
