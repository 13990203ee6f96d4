//! Command-line front ends (clap); anyhow lives here and nowhere below.

pub mod backfill;
pub mod bench;
pub mod cache;
pub mod cluster;
pub mod publish;
pub mod relay;
pub mod whisper;
