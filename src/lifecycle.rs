//! Lifecycle and clock: the shared shutdown flags every thread watches, and the wall clock in whole seconds.
//!
//! Owns: nothing but these two small things. Never touches: any other module of the crate (it is the bottom layer).

use std::sync::atomic::AtomicBool;
use std::time::{SystemTime, UNIX_EPOCH};

/// Shared shutdown flags.
#[derive(Debug, Default)]
pub struct Shutdown {
    /// Set by the signal handler: stop consuming.
    pub stop: AtomicBool,
    /// Set by the writer once it has flushed everything after every producer finished.
    pub writer_done: AtomicBool,
}

/// Seconds since the epoch, for `-1` timestamps.
pub fn unix_now() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}
