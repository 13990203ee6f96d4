//! Command-line front ends (clap); anyhow lives here and nowhere below.

pub mod cache;
pub mod cluster;
pub mod whisper;
