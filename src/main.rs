use clap::Parser;

#[derive(Parser)]
#[command(
    name = "warren",
    version,
    about = "A carbon-cache for Graphite fed by RabbitMQ"
)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _ = Cli::parse();
    Ok(())
}
