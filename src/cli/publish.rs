//! `warren publish`: send carbon plaintext lines, or a synthetic load, to a RabbitMQ topic exchange with publisher
//! confirms. The synthetic load is [`crate::bench::load`]: values are `value_of(metric, point)`, so `warren bench`
//! and tests can verify what arrived.

use crate::bench::broker;
use crate::bench::load::Load;
use crate::bench::publish::{self, LinesSource, LoadSource, PublishConfig, PublishProgress, Source};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Arguments of `warren publish`.
#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// Files of `metric value timestamp` lines (`-` = stdin). Without files and without --metrics: stdin.
    pub files: Vec<PathBuf>,
    /// Broker URL.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub url: String,
    /// Topic exchange (declared durable).
    #[arg(long, default_value = "graphite")]
    pub exchange: String,
    /// Also declare this durable queue and bind it (with --bind), so nothing is lost before a consumer binds.
    #[arg(long)]
    pub queue: Option<String>,
    /// Bind patterns for --queue (repeatable).
    #[arg(long, default_value = "#")]
    pub bind: Vec<String>,
    /// Body lines are `metric value timestamp` (else routing key = metric, body lines `value timestamp`).
    #[arg(long)]
    pub name_in_body: bool,
    /// Points per message (routing-key mode: consecutive points of one metric).
    #[arg(long, short = 'k', default_value_t = 1)]
    pub per_msg: u32,
    /// Synthetic load: this many metrics (instead of reading lines).
    #[arg(long)]
    pub metrics: Option<u32>,
    /// Synthetic load: points per metric.
    #[arg(long, default_value_t = 1)]
    pub points: u32,
    /// Synthetic load: seconds between a metric's points; the last point is at now rounded down to it.
    #[arg(long, default_value_t = 10)]
    pub interval: u32,
    /// Synthetic load: metric name prefix (names are PREFIX.m000123).
    #[arg(long, default_value = "bench")]
    pub prefix: String,
    /// Publisher threads, each with its own connection.
    #[arg(long, short = 'c', default_value_t = 1)]
    pub connections: usize,
    /// Most unconfirmed messages per connection.
    #[arg(long, default_value_t = 10_000)]
    pub window: usize,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// A progress bar on stderr, hidden when stderr is not a terminal or `quiet`.
pub(crate) fn bar(total: u64, quiet: bool, what: &str) -> ProgressBar {
    let pb = if total > 0 { ProgressBar::new(total) } else { ProgressBar::new_spinner() };
    if quiet || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = if total > 0 {
        "{msg:<36} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}"
    } else {
        "{msg:<36} {spinner} {human_pos} {per_sec} {elapsed}"
    };
    // Invariant: the templates above are valid.
    pb.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    pb.set_message(what.to_string());
    pb
}

/// Publish, print the summary line.
pub fn run(args: PublishArgs) -> anyhow::Result<()> {
    let queue = args.queue.as_deref().map(|q| (q, args.bind.as_slice()));
    broker::declare(&args.url, &args.exchange, queue).context("declaring the exchange")?;
    let cfg = PublishConfig {
        url: args.url.clone(),
        exchange: args.exchange.clone(),
        connections: args.connections,
        window: args.window,
    };
    let progress = PublishProgress::default();
    let load;
    let mut lines = None;
    let (source, total): (&dyn Source, u64) = if let Some(metrics) = args.metrics {
        anyhow::ensure!(args.points > 0, "--points must be at least 1");
        load = Load::ending_at(
            &args.prefix,
            metrics,
            args.points,
            args.per_msg,
            args.interval,
            crate::lifecycle::unix_now(),
            args.name_in_body,
        );
        (&LoadSource::new(&load) as &dyn Source, load.messages())
    } else {
        let l = lines.insert(LinesSource::new(open_inputs(&args.files)?, args.per_msg, args.name_in_body));
        (&*l as &dyn Source, 0)
    };
    let pb = bar(total, args.quiet, "publishing (confirmed messages)");
    let done = AtomicBool::new(false);
    let summary = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                pb.set_position(progress.confirmed.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = publish::publish(&cfg, source, &progress);
        done.store(true, Ordering::Relaxed);
        r
    });
    pb.finish_and_clear();
    let summary = summary?;
    if let Some(skipped) = lines.as_ref().map(|l| l.skipped()).filter(|&n| n > 0) {
        tracing::warn!(lines = skipped, "lines without a metric name skipped");
    }
    println!(
        "published {} messages, {} points in {:.2} s: {:.0} msg/s, {:.0} points/s",
        summary.messages,
        summary.points,
        summary.seconds,
        summary.msgs_per_sec(),
        summary.points_per_sec()
    );
    Ok(())
}

/// Every input file in order (`-` or none: stdin) as one reader.
fn open_inputs(files: &[PathBuf]) -> anyhow::Result<Box<dyn BufRead + Send>> {
    if files.is_empty() {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let mut chain: Box<dyn std::io::Read + Send> = Box::new(std::io::empty());
    for f in files {
        let r: Box<dyn std::io::Read + Send> = if f.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?)
        };
        chain = Box::new(std::io::Read::chain(chain, r));
    }
    Ok(Box::new(BufReader::with_capacity(1 << 16, chain)))
}
