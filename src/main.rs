use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "warren",
    version,
    about = "A carbon-cache for Graphite fed by RabbitMQ"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Whisper file tools (like the reference's whisper-*.py scripts).
    #[command(subcommand)]
    Whisper(warren::cli::whisper::WhisperCmd),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Whisper(cmd) => warren::cli::whisper::run(cmd),
    }
}
