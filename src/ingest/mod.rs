//! Inputs: AMQP workers, socket receivers and their parsers; never touches whisper files.

pub mod pickle;
