//! Command-line front ends (clap): each subcommand module parses its arguments, calls the library, prints.
//! anyhow lives here, at the edge; library modules return typed errors.

pub mod whisper;
