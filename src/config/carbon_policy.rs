//! What warren does with each carbon.conf `[cache]` key: every key is applied, refused (warren does not start)
//! or listed once at start as unsupported, never silently ignored.
//!
//! Owns: the verdict for keys warren does not turn into a setting (those live in [`super::carbon_conf`] and are
//! applied by `Settings::apply_carbon_conf`, through [`apply_carbon_conf`]: the AMQP, cache, whisper, receiver, tag (ENABLE_TAGS, TAG_*,
//! GRAPHITE_URL), filter (USE_WHITELIST) and log (LOG_DIR, LOG_CREATES) keys). A key is *refused* when running
//! without it would store data somewhere else or in another format (DATABASE = ceres), or its value is not
//! what the key takes; it is
//! *unsupported* when warren runs correctly without it and the operator should know (USER, PID_DIR, LOG_UPDATES,
//! manhole, …). A key whose value asks for what warren does anyway (LOG_UPDATES = False, USE_INSECURE_UNPICKLER =
//! False, MIN_TIMESTAMP_RESOLUTION = 1, …) is applied: it changes nothing. Never touches: files, logs.

use super::carbon_conf::CarbonCacheSettings;
use super::settings::Settings;
use super::ConfigError;

/// Overlay carbon.conf's `[cache]` settings on `s`: refuse the file if any key is refused (nothing applied),
/// else apply every key warren honours and return those it does not, for the caller to list once.
/// `conf_path` locates the rule files beside carbon.conf (see `Settings::apply_carbon_conf`).
pub fn apply_carbon_conf(
    s: &mut Settings,
    c: &CarbonCacheSettings,
    conf_path: &std::path::Path,
) -> Result<Vec<Verdict>, ConfigError> {
    let unsupported = review(c).into_result()?;
    s.apply_carbon_conf(c, conf_path);
    apply(s, c);
    Ok(unsupported)
}

/// The keys judged here that map onto a setting: USE_FLOW_CONTROL, USE_WHITELIST, PICKLE_RECEIVER_MAX_LENGTH,
/// LOG_DIR (console.log there) and LOG_CREATES (creates.log in LOG_DIR, or the main log without it).
fn apply(s: &mut Settings, c: &CarbonCacheSettings) {
    if let Some(v) = c.use_flow_control {
        s.cache.flow_control = v;
    }
    if let Some(v) = c.use_whitelist {
        s.filter.use_whitelist = v;
    }
    if let Some(n) = c.pickle_receiver_max_length {
        s.receivers.max_pickle_frame = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(dir) = &c.log_dir {
        s.log_file = Some(dir.join("console.log"));
    }
    if let Some(v) = c.log_creates {
        s.log_creates = v;
        s.creates_log = if v { c.log_dir.as_ref().map(|d| d.join("creates.log")) } else { None };
    }
}

/// One key warren will not honour: the key, its value as written, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub key: String,
    pub value: String,
    pub reason: &'static str,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}: {}", self.key, self.value, self.reason)
    }
}

/// The keys of one carbon.conf that warren refuses and those it only warns about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Review {
    /// Keys that stop warren from starting.
    pub refused: Vec<Verdict>,
    /// Keys listed once at start.
    pub unsupported: Vec<Verdict>,
}

impl Review {
    /// `Err` naming every refused key (one message), else the unsupported keys to warn about.
    pub fn into_result(self) -> Result<Vec<Verdict>, ConfigError> {
        if self.refused.is_empty() {
            return Ok(self.unsupported);
        }
        let list: Vec<String> = self.refused.iter().map(Verdict::to_string).collect();
        Err(ConfigError::Refused { message: list.join("; ") })
    }
}

/// Python's `getboolean`, for the flags judged here.
fn py_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Flags that only turn on extra logging or helpers carbon has and warren does not: False is applied (nothing
/// to do), True is unsupported, with the reason.
const FLAGS_FALSE_IS_APPLIED: &[(&str, &str)] = &[
    ("LOG_UPDATES", "warren logs no line per update (RUST_LOG=warren=debug for detail; updates are counted)"),
    ("LOG_CACHE_HITS", "warren logs no line per cache query"),
    ("LOG_CACHE_QUEUE_SORTS", "warren logs no line per cache sort"),
    ("LOG_LISTENER_CONN_SUCCESS", "warren logs no line per connection (connections are counted)"),
    ("LOG_AGGREGATOR_MISSES", "warren is not an aggregator"),
    ("ENABLE_LOGROTATION", "warren does not rotate its own logs: use logrotate and SIGHUP (which reopens log_file)"),
    ("ENABLE_MANHOLE", "warren has no manhole (SSH debug shell)"),
    ("USE_INSECURE_UNPICKLER", "warren's pickle decoder always refuses objects (GLOBAL, REDUCE, ...)"),
    ("WHISPER_FADVISE_RANDOM", "warren does not fadvise whisper files"),
    ("TAG_RELAY_NORMALIZED", "a relay setting; warren is a cache"),
    ("TCP_KEEPALIVE", "warren sets no keep-alive on receiver sockets"),
    ("USE_RATIO_RESET", "a relay setting; warren is a cache"),
    ("FORWARD_ALL", "an aggregator setting; warren is a cache"),
    ("DYNAMIC_ROUTER", "a relay setting; warren is a cache"),
    ("DIVERSE_REPLICAS", "a relay setting; warren is a cache"),
    ("DESTINATION_POOL_REPLICAS", "a relay setting; warren is a cache"),
];

/// Numbers where 0 (carbon's default) is applied and any other value is unsupported.
const ZERO_IS_APPLIED: &[(&str, &str)] = &[
    ("MIN_TIMESTAMP_LAG", "warren writes points as soon as it can (no minimum lag)"),
    ("CACHE_METRIC_NAMES_MAX", "warren keeps no separate metric-name cache"),
    ("CACHE_METRIC_NAMES_TTL", "warren keeps no separate metric-name cache"),
];

/// Keys that never change what warren does, listed so the operator knows.
const ALWAYS_UNSUPPORTED: &[(&str, &str)] = &[
    ("USER", "warren does not switch users: run it as that user (the Debian package's unit runs as 'warren')"),
    ("PID_DIR", "warren writes no pid file (systemd tracks the process)"),
    ("MAX_UPDATES_PER_SECOND_ON_SHUTDOWN", "warren flushes the whole cache at full speed on SIGTERM, then exits"),
    ("WRITE_BACK_FREQUENCY", "warren writes continuously in strategy order"),
    ("MANHOLE_INTERFACE", "warren has no manhole"),
    ("MANHOLE_PORT", "warren has no manhole"),
    ("MANHOLE_USER", "warren has no manhole"),
    ("MANHOLE_PUBLIC_KEY", "warren has no manhole"),
    ("MANHOLE_HOST_KEY_DIR", "warren has no manhole"),
    ("AMQP_SPEC", "warren speaks AMQP 0-9-1 natively; no spec file is read"),
    ("WHITELISTS_DIR", "warren reads whitelist.conf and blacklist.conf from CONF_DIR (beside carbon.conf)"),
    ("TCP_KEEPIDLE", "warren sets no keep-alive on receiver sockets"),
    ("TCP_KEEPINTVL", "warren sets no keep-alive on receiver sockets"),
    ("TCP_KEEPCNT", "warren sets no keep-alive on receiver sockets"),
    ("METRIC_CLIENT_IDLE_TIMEOUT", "warren does not close idle receiver connections"),
    ("CERES_MAX_SLICE_GAP", "warren writes whisper, not ceres"),
    ("CERES_NODE_CACHING_BEHAVIOR", "warren writes whisper, not ceres"),
    ("CERES_SLICE_CACHING_BEHAVIOR", "warren writes whisper, not ceres"),
    ("CERES_LOCK_WRITES", "warren writes whisper, not ceres"),
    ("RAVEN_DSN", "warren reports no errors to Sentry"),
];

/// Judge every key of `c` that carbon_conf did not turn into a setting, plus the few typed ones whose value
/// can ask for what warren cannot do.
pub fn review(c: &CarbonCacheSettings) -> Review {
    let mut r = Review::default();
    let refuse = |r: &mut Review, key: &str, value: String, reason| {
        r.refused.push(Verdict { key: key.into(), value, reason });
    };
    if let Some(db) = c.database.as_deref().filter(|d| *d != "whisper") {
        let reason = "warren writes whisper files only; keep carbon-cache for a ceres tree";
        refuse(&mut r, "DATABASE", db.into(), reason);
    }
    if c.amqp_verbose == Some(true) {
        let reason = "warren does not log AMQP frames (RUST_LOG=amiquip=debug does)";
        r.unsupported.push(Verdict { key: "AMQP_VERBOSE".into(), value: "True".into(), reason });
    }
    for (key, value) in &c.unknown {
        let v = value.trim();
        let verdict = |reason| Verdict { key: key.clone(), value: value.clone(), reason };
        if let Some((_, reason)) = FLAGS_FALSE_IS_APPLIED.iter().find(|(k, _)| k == key) {
            match py_bool(v) {
                Some(false) => {}
                Some(true) => r.unsupported.push(verdict(reason)),
                None => r.refused.push(verdict("expected a boolean (True/False, yes/no, on/off, 1/0)")),
            }
        } else if let Some((_, reason)) = ZERO_IS_APPLIED.iter().find(|(k, _)| k == key) {
            if v.parse::<f64>() != Ok(0.0) {
                r.unsupported.push(verdict(reason));
            }
        } else if key == "MIN_TIMESTAMP_RESOLUTION" {
            // Timestamps are whole seconds: a resolution of 0 or 1 s changes nothing.
            if !v.parse::<f64>().is_ok_and(|n| n <= 1.0) {
                r.unsupported.push(verdict("warren does not round timestamps to a coarser resolution"));
            }
        } else if let Some((_, reason)) = ALWAYS_UNSUPPORTED.iter().find(|(k, _)| k == key) {
            r.unsupported.push(verdict(reason));
        } else {
            r.unsupported.push(verdict("not a carbon-cache setting warren knows"));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review_of(text: &str) -> Review {
        review(&CarbonCacheSettings::parse(&format!("[cache]\n{text}\n"), "c").unwrap())
    }

    #[test]
    fn debians_shipped_carbon_conf_starts_with_user_and_pid_dir_listed() {
        let text = "DATABASE = whisper\nENABLE_LOGROTATION = False\nUSER = _graphite\nPID_DIR = /var/run/\n\
                    MIN_TIMESTAMP_RESOLUTION = 1\nUSE_INSECURE_UNPICKLER = False\nLOG_UPDATES = False\n\
                    LOG_CREATES = False\nLOG_CACHE_HITS = False\nLOG_CACHE_QUEUE_SORTS = False\n\
                    PICKLE_RECEIVER_MAX_LENGTH = 1048576\n";
        let r = review_of(text);
        assert!(r.refused.is_empty(), "{r:?}");
        let keys: Vec<_> = r.unsupported.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, vec!["PID_DIR", "USER"]);
    }

    #[test]
    fn ceres_and_malformed_flags_are_refused_in_one_message() {
        let e = review_of("DATABASE = Ceres\nLOG_CACHE_HITS = maybe").into_result().unwrap_err();
        let m = e.to_string();
        assert!(m.contains("DATABASE = ceres: warren writes whisper files only"), "{m}");
        assert!(m.contains("LOG_CACHE_HITS = maybe: expected a boolean"), "{m}");
        let applied = "DATABASE = whisper\nUSE_WHITELIST = yes\nENABLE_TAGS = True\nTAG_BATCH_SIZE = 10";
        assert!(review_of(applied).into_result().unwrap().is_empty());
    }

    #[test]
    fn flags_that_ask_for_more_than_warren_does_are_listed() {
        let r = review_of("LOG_UPDATES = True\nMIN_TIMESTAMP_LAG = 5\nMIN_TIMESTAMP_RESOLUTION = 10\nFOO_BAR = 1");
        let got: Vec<_> = r.unsupported.iter().map(Verdict::to_string).collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].starts_with("FOO_BAR = 1: not a carbon-cache setting warren knows"), "{got:?}");
        assert!(got.iter().any(|g| g.starts_with("LOG_UPDATES = True: warren logs no line per update")));
        assert!(review_of("MIN_TIMESTAMP_LAG = 0\nLOG_UPDATES = off").unsupported.is_empty());
    }

    #[test]
    fn a_flag_that_is_not_a_boolean_is_refused() {
        let r = review_of("LOG_UPDATES = sometimes");
        assert_eq!(r.refused.len(), 1);
        assert!(r.refused[0].to_string().contains("expected a boolean"));
    }
}
