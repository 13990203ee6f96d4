//! `warren bench SCENARIO`: the broker's ceiling, then warren (a `warren cache` subprocess) on the same load,
//! verified point by point; prints a table and optionally writes JSON. See [`crate::bench::run`].

use crate::bench::harness::{Observer, Peer, RunConfig, WarrenKnobs};
use crate::bench::load::Load;
use crate::bench::report;
use crate::bench::run;
use crate::bench::scenario::{self, SCENARIOS};
use crate::bench::tcp::{self, TcpConfig};
use crate::bench::tcp_report::{self, Pairing};
use crate::bench::wire::Protocol;
use anyhow::Context;
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Arguments of `warren bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Scenario: rk-1, rk-100, body-100, many-metrics, few-metrics (AMQP), or plaintext, pickle (TCP sockets, against
    /// `--peer go-carbon`) (`--list` describes them).
    #[arg(required_unless_present = "list")]
    pub scenario: Option<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Metrics (default: the scenario's).
    #[arg(long)]
    pub metrics: Option<u32>,
    /// Points per metric (default: the scenario's).
    #[arg(long)]
    pub points: Option<u32>,
    /// Points per message, or per pickle frame (default: the scenario's; 500 for pickle, carbon-relay's batch).
    #[arg(long)]
    pub per_msg: Option<u32>,
    /// Seconds between a metric's points (default: 10; 60 for the socket scenarios).
    #[arg(long)]
    pub interval: Option<u32>,
    /// Metric name prefix.
    #[arg(long, default_value = "bench")]
    pub prefix: String,
    /// Broker URL.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub url: String,
    /// warren's AMQP workers (and the ceiling's consumer connections).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// The bench queue's type: `classic` or `quorum` (replicated over a RabbitMQ cluster; point `--url` at a
    /// cluster node).
    #[arg(long, default_value = "classic", value_parser = ["classic", "quorum"])]
    pub queue_type: String,
    /// basic.qos prefetch per worker (warren's default).
    #[arg(long, default_value_t = 10_000)]
    pub prefetch: u16,
    /// Write strategy: sorted, max, naive, timesorted (warren's default: naive).
    #[arg(long, default_value = "naive")]
    pub strategy: String,
    /// Create mode: fallocate, sparse, zero.
    #[arg(long, default_value = "fallocate")]
    pub create_mode: String,
    /// `[whisper] sync`: none, batch, or a list (`none,batch`) to run the backlog once per setting, side by side.
    #[arg(long, default_value = "none", value_delimiter = ',', value_parser = ["none", "batch", "syncfs"])]
    pub sync: Vec<String>,
    /// `[whisper] mmap = false` for the warren it runs (AMQP scenarios): one `pwrite` per update instead of
    /// updates through mappings (warren's default).
    #[arg(long)]
    pub no_mmap: bool,
    /// `[amqp] linger_us` and `[cache] linger_us` for the warren it runs (AMQP scenarios), and the pause of the
    /// ceiling's null consumer, which consumes the way warren's workers do; unset: warren's defaults. 0 turns
    /// lingering off on both sides (the ceiling is then a plain amiquip consumer that blocks for each delivery).
    #[arg(long, value_name = "MICROS")]
    pub linger_us: Option<u64>,
    /// Batches per producer ring.
    #[arg(long, default_value_t = 1024)]
    pub ring_capacity: usize,
    /// New files per minute (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub max_creates_per_minute: u32,
    /// Publisher connections.
    #[arg(long, default_value_t = 2)]
    pub publish_connections: usize,
    /// Unconfirmed messages per publisher connection.
    #[arg(long, default_value_t = 10_000)]
    pub window: usize,
    /// AMQP scenarios: run the ceiling and the backlog this many times in turn (each ratio to the ceiling just
    /// before it) and report the median repetition, every repetition listed: single runs on a shared 2-core box
    /// spread by ±15 %.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub reps: u32,
    /// Skip the null-consumer ceiling.
    #[arg(long)]
    pub no_ceiling: bool,
    /// Skip the backlog run (publish first, then start warren).
    #[arg(long)]
    pub no_backlog: bool,
    /// Also run warren while publishing, and measure publish→durable latency.
    #[arg(long)]
    pub live: bool,
    /// With --live: publish at this many points per second (e.g. half the measured capacity) instead of as fast
    /// as the broker confirms, and report latency at that load.
    #[arg(long, value_name = "POINTS_PER_S", requires = "live", value_parser = positive_rate)]
    pub rate: Option<f64>,
    /// Directory for the temporary whisper trees (system temp dir by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the whisper tree after the run.
    #[arg(long)]
    pub keep_data: bool,
    /// Run warren on this directory and keep it: run once to create the files, again to measure steady state
    /// (files exist, points are rewritten idempotently). With --peer python-carbon, carbon keeps its own tree in
    /// DIR/python-carbon the same way; each row says cold (files created) or steady (files existed).
    #[arg(long, value_name = "DIR")]
    pub reuse_dir: Option<std::path::PathBuf>,
    /// Give up on any step after this many seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// After warren, run the same scenario against a peer: python-carbon for the AMQP scenarios (install it with
    /// tuning/python-carbon/setup.sh), go-carbon for plaintext and pickle (the binary in $GO_CARBON, else
    /// go-carbon on PATH).
    #[arg(long, value_parser = ["python-carbon", "go-carbon"])]
    pub peer: Option<String>,
    /// Socket scenarios: the create-mode pairings (warren/go-carbon) to run: zero, sparse, default (each side's
    /// own default).
    #[arg(long, value_delimiter = ',', default_value = "zero,sparse,default", value_parser = ["zero", "sparse", "default"])]
    pub pairings: Vec<String>,
    /// Socket scenarios: run go-carbon before warren in each phase.
    #[arg(long)]
    pub peer_first: bool,
    /// Socket scenarios: seconds to wait after the untimed `sync` before each run.
    #[arg(long, default_value_t = 5)]
    pub settle_secs: u64,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The warren executable to benchmark (default: this one).
    #[arg(long)]
    pub warren_bin: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("{s:?} is not a positive number of points per second")),
    }
}

/// indicatif bars for each phase, plus a one-line summary per phase on stderr.
struct Bars {
    quiet: bool,
    current: Mutex<Option<(ProgressBar, String)>>,
}

impl Observer for Bars {
    fn phase(&self, name: &str, total: u64) {
        let pb = super::publish::bar(total, self.quiet, name);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((pb, name.to_string()));
    }
    fn progress(&self, done: u64) {
        if let Some((pb, _)) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            pb.set_position(done);
        }
    }
    fn finish(&self, summary: &str) {
        if let Some((pb, name)) = self.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let secs = pb.elapsed().as_secs_f64();
            pb.finish_and_clear();
            if !self.quiet {
                eprintln!("{name}: {summary} ({secs:.1} s)");
            }
        }
    }
}

/// Run the scenario, print the table, write JSON if asked.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.list {
        for s in SCENARIOS {
            println!(
                "{:<14} {:>7} metrics × {:>6} points, {:>3} per message, {:<12} {}",
                s.name,
                s.metrics,
                s.points,
                s.per_msg,
                if s.name_in_body { "name in body" } else { "routing key" },
                s.about
            );
        }
        for (p, about) in SOCKET_SCENARIOS {
            println!("{p:<14}  20000 metrics ×    100 points, over one TCP connection: {about}");
        }
        return Ok(());
    }
    // Invariant: clap requires the scenario unless --list, handled above.
    let name = args.scenario.as_deref().expect("scenario required by clap");
    if let Some(protocol) = [Protocol::Plaintext, Protocol::Pickle].into_iter().find(|p| p.name() == name) {
        return socket(args, protocol);
    }
    anyhow::ensure!(
        args.peer.as_deref() != Some("go-carbon"),
        "--peer go-carbon runs the plaintext and pickle scenarios"
    );
    let sc = scenario::by_name(name).with_context(|| {
        format!("unknown scenario {name:?}; known: {}", SCENARIOS.iter().map(|s| s.name).collect::<Vec<_>>().join(", "))
    })?;
    let points = args.points.unwrap_or(sc.points);
    anyhow::ensure!(points > 0, "--points must be at least 1");
    crate::metric::validate(format!("{}.m000000", args.prefix).as_bytes())
        .map_err(|e| anyhow::anyhow!("--prefix {:?} gives invalid metric names: {e}", args.prefix))?;
    let load = Load::ending_at(
        &args.prefix,
        args.metrics.unwrap_or(sc.metrics),
        points,
        args.per_msg.unwrap_or(sc.per_msg),
        args.interval.unwrap_or(10),
        crate::lifecycle::unix_now(),
        sc.name_in_body,
    );
    let warren_bin = match args.warren_bin {
        Some(p) => p,
        None => std::env::current_exe().context("locating the warren executable")?,
    };
    let cfg = RunConfig {
        scenario: sc.name.to_string(),
        load,
        url: args.url,
        warren_bin,
        work_dir: args.dir,
        knobs: WarrenKnobs {
            workers: args.workers.max(1),
            prefetch: args.prefetch.max(1),
            strategy: args.strategy,
            create_mode: args.create_mode,
            ring_capacity: args.ring_capacity,
            max_creates_per_minute: args.max_creates_per_minute,
            sync: args.sync.first().cloned().unwrap_or_else(|| "none".into()),
            quorum: args.queue_type == "quorum",
            mmap: !args.no_mmap,
            linger_us: args.linger_us,
        },
        publish_connections: args.publish_connections.max(1),
        publish_window: args.window,
        ceiling: !args.no_ceiling,
        backlog: !args.no_backlog,
        live: args.live,
        timeout: Duration::from_secs(args.timeout),
        keep_data: args.keep_data,
        reuse_dir: args.reuse_dir.clone(),
        more_sync: args.sync.iter().skip(1).cloned().collect(),
        live_rate: args.rate,
        reps: args.reps as usize,
        peer: match args.peer.as_deref() {
            Some(p) => Some(Peer::by_name(p).with_context(|| format!("unknown peer {p:?}"))?),
            None => None,
        },
    };
    let obs = Bars { quiet: args.quiet, current: Mutex::new(None) };
    let report = run::run(&cfg, &obs)?;
    print!("{}", report::table(&report));
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(p, text + "\n").with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(e) = &report.peer_error {
        anyhow::bail!("the peer's run failed: {e}");
    }
    let failed = report.rows.iter().any(|r| !r.verification.passed()) || report.reps.iter().any(|r| !r.passed);
    anyhow::ensure!(!failed, "verification failed: points missing or wrong on disk");
    Ok(())
}

/// The socket scenarios, for `--list`.
const SOCKET_SCENARIOS: [(&str, &str); 2] = [
    ("plaintext", "carbon's line protocol (TCP 2003); every create-mode pairing, cold then steady"),
    ("pickle", "carbon's pickle protocol (TCP 2004), 500 points per frame; every pairing, cold then steady"),
];

/// `warren bench plaintext|pickle`: warren (and go-carbon with `--peer go-carbon`) on one TCP connection.
fn socket(args: BenchArgs, protocol: Protocol) -> anyhow::Result<()> {
    let go_carbon = match args.peer.as_deref() {
        Some("go-carbon") => Some(crate::bench::gocarbon::binary()?),
        Some(p) => anyhow::bail!("--peer {p} runs the AMQP scenarios; the socket scenarios take --peer go-carbon"),
        None => None,
    };
    let points = args.points.unwrap_or(100);
    anyhow::ensure!(points > 0, "--points must be at least 1");
    crate::metric::validate(format!("{}.m000000", args.prefix).as_bytes())
        .map_err(|e| anyhow::anyhow!("--prefix {:?} gives invalid metric names: {e}", args.prefix))?;
    let load = Load::ending_at(
        &args.prefix,
        args.metrics.unwrap_or(20_000),
        points,
        args.per_msg.unwrap_or(500),
        args.interval.unwrap_or(60),
        crate::lifecycle::unix_now(),
        true,
    );
    let cfg = TcpConfig {
        protocol,
        load,
        warren_bin: match args.warren_bin {
            Some(p) => p,
            None => std::env::current_exe().context("locating the warren executable")?,
        },
        go_carbon,
        // Invariant: clap accepts only the pairing names.
        pairings: args.pairings.iter().map(|p| Pairing::by_name(p).expect("checked by clap")).collect(),
        peer_first: args.peer_first,
        work_dir: args.dir,
        timeout: Duration::from_secs(args.timeout),
        settle: Duration::from_secs(args.settle_secs),
        keep_data: args.keep_data,
    };
    let obs = Bars { quiet: args.quiet, current: Mutex::new(None) };
    let report = tcp::run(&cfg, &obs)?;
    print!("{}", tcp_report::table(&report));
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(p, text + "\n").with_context(|| format!("writing {}", p.display()))?;
    }
    let failed = report.rows.iter().any(|r| !r.verification.passed());
    anyhow::ensure!(!failed, "verification failed: points missing or wrong on disk");
    Ok(())
}
