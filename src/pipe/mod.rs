//! The pipe from producers to the writer: the [`batch::Batch`] a producer fills and the [`ring::Rings`] that carry
//! it to the writer and carry "durable" completions back.
//!
//! Owns: the hand-off types and their flow control. Never touches: sockets, AMQP, files, the cache.

pub mod batch;
pub mod ring;
