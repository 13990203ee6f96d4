use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "warren", version, about = "A carbon-cache for Graphite fed by RabbitMQ")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the carbon-cache: consume from RabbitMQ, write whisper files.
    Cache(warren::cli::cache::CacheArgs),
    /// Relay classic carbon inputs (plaintext, pickle) to RabbitMQ: routing key = metric name, with confirms.
    Relay(warren::cli::relay::RelayArgs),
    /// Plan a cluster: how metrics spread over instances by bind patterns or consistent hash.
    #[command(subcommand)]
    Cluster(warren::cli::cluster::ClusterCmd),
    /// Whisper file tools (like the reference's whisper-*.py scripts).
    #[command(subcommand)]
    Whisper(warren::cli::whisper::WhisperCmd),
    /// Publish plaintext lines or a synthetic load to RabbitMQ, with publisher confirms.
    Publish(warren::cli::publish::PublishArgs),
    /// Benchmark a scenario end to end: broker ceiling, warren, verification of every point; or the socket
    /// scenarios (plaintext, pickle) against go-carbon. Boxed: its arguments outweigh every other command's.
    Bench(Box<warren::cli::bench::BenchArgs>),
}

fn main() -> anyhow::Result<()> {
    warren::logging::init();
    match Cli::parse().command {
        Command::Cache(a) => warren::cli::cache::run(a),
        Command::Relay(a) => warren::cli::relay::run(a),
        Command::Cluster(c) => warren::cli::cluster::run(c),
        Command::Whisper(cmd) => warren::cli::whisper::run(cmd),
        Command::Publish(a) => warren::cli::publish::run(a),
        Command::Bench(a) => warren::cli::bench::run(*a),
    }
}
