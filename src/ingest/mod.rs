//! Inputs: AMQP workers and socket receivers, their parsers (carbon lines, safe pickle), the batch they produce
//! and the rings that carry it to the writer. Never touches: files.

pub mod amqp;
pub mod line;
pub mod parse;
pub mod selfmetrics;
pub mod socket;
pub mod topology;
