//! The front-door settings: `[filter]` (carbon's whitelist/blacklist/rewrite stage) and `[relay]` (the publisher
//! of `warren relay` and of `[receivers] forward = "amqp"`). Owns: their shape and defaults. Never touches:
//! sockets, the broker.

use serde::Deserialize;
use std::path::PathBuf;

/// carbon's filter and rewrite rules, as written (compiled by `crate::filter::Filter::load`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterSettings {
    /// carbon's USE_WHITELIST: consult the white- and blacklists at all (carbon reads neither file without it).
    pub use_whitelist: bool,
    /// A name must match (Python `re.search`) one of these, when the list is not empty.
    pub whitelist: Vec<String>,
    /// A name matching one of these is dropped.
    pub blacklist: Vec<String>,
    /// `[pattern, replacement]` rules (Python `re.sub` syntax) run first, in order.
    pub rewrite_pre: Vec<[String; 2]>,
    /// `[pattern, replacement]` rules run after `rewrite_pre`.
    pub rewrite_post: Vec<[String; 2]>,
    /// A carbon configuration directory whose whitelist.conf, blacklist.conf (with `use_whitelist`) and
    /// rewrite-rules.conf are added after the lists above. `--carbon-conf` sets it to carbon.conf's directory
    /// (and `use_whitelist` from its USE_WHITELIST).
    pub conf_dir: Option<PathBuf>,
}

/// Where the socket receivers of `warren cache` send what they read.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Forward {
    /// This node's writer.
    #[default]
    Local,
    /// The broker, as `warren relay` publishes.
    Amqp,
}

/// The relay's publisher: one connection in confirm mode, a bounded buffer, per-metric messages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    /// Points of one metric received within this many milliseconds go out in one message. Default 200.
    pub flush_interval_ms: u64,
    /// Most points in one message (a longer run of one metric is split). Default 1000.
    pub max_points_per_message: usize,
    /// Most messages published and not yet confirmed by the broker. Default 2000.
    pub confirm_window: usize,
    /// Most points held (waiting for their flush, or published and unconfirmed). Above it the receivers stop
    /// reading (TCP pushes back on senders; UDP datagrams wait in, or overflow, the kernel buffer). Default
    /// 500,000. Memory bound: see the README's relay section.
    pub max_buffer_points: usize,
    /// Longest wait for the last confirms at shutdown, in seconds. Default 30.
    pub shutdown_timeout_secs: u64,
    /// Longest back-off between reconnect attempts, in seconds. Default 5.
    pub max_reconnect_delay_secs: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            flush_interval_ms: 200,
            max_points_per_message: 1000,
            confirm_window: 2000,
            max_buffer_points: 500_000,
            shutdown_timeout_secs: 30,
            max_reconnect_delay_secs: 5,
        }
    }
}
