//! Inputs, the producers of the pipe: AMQP workers (and the broker topology they declare), socket receivers, the
//! parsers they share (carbon lines; pickle comes from [`crate::pickle`]), and the self-metrics emitter, which
//! turns the counters into points like any other input. Each fills [`crate::pipe::batch::Batch`]es and pushes
//! them on its own ring.
//!
//! Never touches: whisper files or the cache. The only files it uses are the bind-pattern state file of the AMQP
//! topology (`<data_dir>/.warren/bindings-<queue>`, written atomically) and `/proc/self` for self-metrics.

pub mod amqp;
pub mod connect;
mod gather;
pub mod line;
pub mod parse;
pub mod selfmetrics;
pub mod socket;
pub mod topology;
