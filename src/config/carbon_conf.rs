//! carbon.conf's `[cache]` section, read so that an existing carbon-cache site can start warren on its own
//! configuration.
//!
//! Owns: reading the settings warren understands into typed, optional fields, as carbon's `Settings.readFrom`
//! reads them (keys case-insensitive; booleans as Python's `getboolean`: `1/yes/true/on`, `0/no/false/off`, any
//! case; numbers, with `inf` for "no limit"; lists separated by commas). A setting that is absent stays `None`:
//! the caller applies its defaults (carbon's or warren's). Never touches: defaults, other sections, logs.
//!
//! Settings warren does not know are kept, raw, in [`CarbonCacheSettings::unknown`]; `super::carbon_policy`
//! decides, key by key, whether each is harmless, unsupported (warned once) or refused (warren does not start).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ini::{Entry, Ini};
use super::ConfigError;

/// A count that may be unlimited (`inf` in carbon.conf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `inf`: no limit.
    Unlimited,
    /// At most this many.
    Max(u64),
}

/// CACHE_WRITE_STRATEGY: the order in which the writer picks metrics (carbon.conf's `[cache]` section,
/// <https://graphite.readthedocs.io/en/latest/config-carbon.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheWriteStrategy {
    /// `sorted`: each pass writes the metrics with most points first, each once per pass.
    Sorted,
    /// `max`: always the metric with most points.
    Max,
    /// `naive`: any order.
    Naive,
    /// `timesorted`: the metric whose oldest point is oldest first.
    TimeSorted,
}

/// The `[cache]` settings of a carbon.conf that warren understands; `None` where the file does not set them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CarbonCacheSettings {
    /// ENABLE_AMQP.
    pub enable_amqp: Option<bool>,
    /// AMQP_HOST.
    pub amqp_host: Option<String>,
    /// AMQP_PORT.
    pub amqp_port: Option<u16>,
    /// AMQP_VHOST.
    pub amqp_vhost: Option<String>,
    /// AMQP_USER.
    pub amqp_user: Option<String>,
    /// AMQP_PASSWORD.
    pub amqp_password: Option<String>,
    /// AMQP_EXCHANGE.
    pub amqp_exchange: Option<String>,
    /// AMQP_METRIC_NAME_IN_BODY.
    pub amqp_metric_name_in_body: Option<bool>,
    /// AMQP_VERBOSE.
    pub amqp_verbose: Option<bool>,
    /// BIND_PATTERNS: comma-separated, each trimmed; empty items dropped.
    pub bind_patterns: Option<Vec<String>>,
    /// LOCAL_DATA_DIR: the whisper tree.
    pub local_data_dir: Option<PathBuf>,
    /// STORAGE_DIR.
    pub storage_dir: Option<PathBuf>,
    /// CONF_DIR: where storage-schemas.conf and storage-aggregation.conf live.
    pub conf_dir: Option<PathBuf>,
    /// MAX_CACHE_SIZE, in points.
    pub max_cache_size: Option<Limit>,
    /// MAX_UPDATES_PER_SECOND (file updates).
    pub max_updates_per_second: Option<Limit>,
    /// MAX_CREATES_PER_MINUTE (file creations).
    pub max_creates_per_minute: Option<Limit>,
    /// CACHE_WRITE_STRATEGY.
    pub cache_write_strategy: Option<CacheWriteStrategy>,
    /// USE_FLOW_CONTROL.
    pub use_flow_control: Option<bool>,
    /// CACHE_SIZE_LOW_WATERMARK, in points. Note: carbon 1.1 ignores the configured value and always uses
    /// 95 % of MAX_CACHE_SIZE.
    pub cache_size_low_watermark: Option<Limit>,
    /// WHISPER_SPARSE_CREATE.
    pub whisper_sparse_create: Option<bool>,
    /// WHISPER_FALLOCATE_CREATE.
    pub whisper_fallocate_create: Option<bool>,
    /// WHISPER_AUTOFLUSH (fsync after each update).
    pub whisper_autoflush: Option<bool>,
    /// WHISPER_LOCK_WRITES (flock).
    pub whisper_lock_writes: Option<bool>,
    /// LINE_RECEIVER_INTERFACE (an address, as written).
    pub line_receiver_interface: Option<String>,
    /// LINE_RECEIVER_PORT; 0 disables the receiver, as in carbon.
    pub line_receiver_port: Option<u16>,
    /// ENABLE_UDP_LISTENER.
    pub enable_udp_listener: Option<bool>,
    /// UDP_RECEIVER_INTERFACE.
    pub udp_receiver_interface: Option<String>,
    /// UDP_RECEIVER_PORT; 0 disables the receiver.
    pub udp_receiver_port: Option<u16>,
    /// PICKLE_RECEIVER_INTERFACE.
    pub pickle_receiver_interface: Option<String>,
    /// PICKLE_RECEIVER_PORT; 0 disables the receiver.
    pub pickle_receiver_port: Option<u16>,
    /// CACHE_QUERY_INTERFACE (CarbonLink).
    pub cache_query_interface: Option<String>,
    /// CACHE_QUERY_PORT (CarbonLink).
    pub cache_query_port: Option<u16>,
    /// MAX_RECEIVER_CONNECTIONS.
    pub max_receiver_connections: Option<Limit>,
    /// CARBON_METRIC_PREFIX.
    pub carbon_metric_prefix: Option<String>,
    /// CARBON_METRIC_INTERVAL, seconds; 0 disables self-metrics, as in carbon.
    pub carbon_metric_interval: Option<u64>,
    /// DATABASE (`whisper` or `ceres`), lower-cased.
    pub database: Option<String>,
    /// LOG_DIR: carbon's console.log and creates.log go there.
    pub log_dir: Option<PathBuf>,
    /// LOG_CREATES: one line per new file.
    pub log_creates: Option<bool>,
    /// PICKLE_RECEIVER_MAX_LENGTH, bytes.
    pub pickle_receiver_max_length: Option<u64>,
    /// USE_WHITELIST: filter names through whitelist.conf / blacklist.conf.
    pub use_whitelist: Option<bool>,
    /// ENABLE_TAGS.
    pub enable_tags: Option<bool>,
    /// GRAPHITE_URL (graphite-web, for tag registration).
    pub graphite_url: Option<String>,
    /// TAG_UPDATE_INTERVAL.
    pub tag_update_interval: Option<u64>,
    /// TAG_BATCH_SIZE.
    pub tag_batch_size: Option<u64>,
    /// TAG_QUEUE_SIZE.
    pub tag_queue_size: Option<u64>,
    /// TAG_HASH_FILENAMES.
    pub tag_hash_filenames: Option<bool>,
    /// Every other key of the section, upper-cased, with its raw value.
    pub unknown: BTreeMap<String, String>,
}

/// The section carbon-cache reads.
const SECTION: &str = "cache";

impl CarbonCacheSettings {
    /// Read the `[cache]` section of carbon.conf text. A file without that section gives all `None`.
    /// Errors name `source_name`, the line and the key: `carbon.conf line 9: AMQP_PORT = 'x': expected a port`.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        Self::parse_instance(text, source_name, None)
    }

    /// As [`parse`](Self::parse), then, if `instance` is given, overlay the `[cache:INSTANCE]` section as carbon
    /// does for `carbon-cache --instance=INSTANCE`.
    pub fn parse_instance(text: &str, source_name: &str, instance: Option<&str>) -> Result<Self, ConfigError> {
        let ini = Ini::parse(text, source_name)?;
        let mut settings = CarbonCacheSettings::default();
        let instance_section = instance.map(|i| format!("{SECTION}:{i}"));
        for name in std::iter::once(SECTION).chain(instance_section.as_deref()) {
            if let Some(section) = ini.section(name) {
                for entry in ini.entries(section) {
                    settings.set(entry, source_name)?;
                }
            }
        }
        Ok(settings)
    }

    /// Read and parse the file at `path` (errors name the path).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = super::read_config_file(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    fn set(&mut self, entry: &Entry, source_name: &str) -> Result<(), ConfigError> {
        let key = entry.key.to_uppercase();
        let v = Value { entry, key: &key, source_name };
        match key.as_str() {
            "ENABLE_AMQP" => self.enable_amqp = Some(v.boolean()?),
            "AMQP_HOST" => self.amqp_host = Some(v.string()),
            "AMQP_PORT" => self.amqp_port = Some(v.port()?),
            "AMQP_VHOST" => self.amqp_vhost = Some(v.string()),
            "AMQP_USER" => self.amqp_user = Some(v.string()),
            "AMQP_PASSWORD" => self.amqp_password = Some(v.string()),
            "AMQP_EXCHANGE" => self.amqp_exchange = Some(v.string()),
            "AMQP_METRIC_NAME_IN_BODY" => self.amqp_metric_name_in_body = Some(v.boolean()?),
            "AMQP_VERBOSE" => self.amqp_verbose = Some(v.boolean()?),
            "BIND_PATTERNS" => self.bind_patterns = Some(v.list()),
            "LOCAL_DATA_DIR" => self.local_data_dir = Some(v.path()?),
            "STORAGE_DIR" => self.storage_dir = Some(v.path()?),
            "CONF_DIR" => self.conf_dir = Some(v.path()?),
            "MAX_CACHE_SIZE" => self.max_cache_size = Some(v.limit()?),
            "MAX_UPDATES_PER_SECOND" => self.max_updates_per_second = Some(v.limit()?),
            "MAX_CREATES_PER_MINUTE" => self.max_creates_per_minute = Some(v.limit()?),
            "CACHE_WRITE_STRATEGY" => self.cache_write_strategy = Some(v.strategy()?),
            "USE_FLOW_CONTROL" => self.use_flow_control = Some(v.boolean()?),
            "CACHE_SIZE_LOW_WATERMARK" => self.cache_size_low_watermark = Some(v.limit()?),
            "WHISPER_SPARSE_CREATE" => self.whisper_sparse_create = Some(v.boolean()?),
            "WHISPER_FALLOCATE_CREATE" => self.whisper_fallocate_create = Some(v.boolean()?),
            "WHISPER_AUTOFLUSH" => self.whisper_autoflush = Some(v.boolean()?),
            "WHISPER_LOCK_WRITES" => self.whisper_lock_writes = Some(v.boolean()?),
            "LINE_RECEIVER_INTERFACE" => self.line_receiver_interface = Some(v.string()),
            "LINE_RECEIVER_PORT" => self.line_receiver_port = Some(v.port()?),
            "ENABLE_UDP_LISTENER" => self.enable_udp_listener = Some(v.boolean()?),
            "UDP_RECEIVER_INTERFACE" => self.udp_receiver_interface = Some(v.string()),
            "UDP_RECEIVER_PORT" => self.udp_receiver_port = Some(v.port()?),
            "PICKLE_RECEIVER_INTERFACE" => self.pickle_receiver_interface = Some(v.string()),
            "PICKLE_RECEIVER_PORT" => self.pickle_receiver_port = Some(v.port()?),
            "CACHE_QUERY_INTERFACE" => self.cache_query_interface = Some(v.string()),
            "CACHE_QUERY_PORT" => self.cache_query_port = Some(v.port()?),
            "MAX_RECEIVER_CONNECTIONS" => self.max_receiver_connections = Some(v.limit()?),
            "CARBON_METRIC_PREFIX" => self.carbon_metric_prefix = Some(v.string()),
            "CARBON_METRIC_INTERVAL" => self.carbon_metric_interval = Some(v.unsigned()?),
            "DATABASE" => self.database = Some(v.string().to_ascii_lowercase()),
            "LOG_DIR" => self.log_dir = Some(v.path()?),
            "LOG_CREATES" => self.log_creates = Some(v.boolean()?),
            "PICKLE_RECEIVER_MAX_LENGTH" => self.pickle_receiver_max_length = Some(v.unsigned()?),
            "USE_WHITELIST" => self.use_whitelist = Some(v.boolean()?),
            "ENABLE_TAGS" => self.enable_tags = Some(v.boolean()?),
            "GRAPHITE_URL" => self.graphite_url = Some(v.string()),
            "TAG_UPDATE_INTERVAL" => self.tag_update_interval = Some(v.unsigned()?),
            "TAG_BATCH_SIZE" => self.tag_batch_size = Some(v.unsigned()?),
            "TAG_QUEUE_SIZE" => self.tag_queue_size = Some(v.unsigned()?),
            "TAG_HASH_FILENAMES" => self.tag_hash_filenames = Some(v.boolean()?),
            _ => {
                self.unknown.insert(key.clone(), entry.value.clone());
            }
        }
        Ok(())
    }
}

/// One value being converted, with what an error must name.
struct Value<'a> {
    entry: &'a Entry,
    key: &'a str,
    source_name: &'a str,
}

impl Value<'_> {
    fn error(&self, expected: &str) -> ConfigError {
        ConfigError::Value {
            source_name: self.source_name.to_string(),
            line: self.entry.line,
            key: self.key.to_string(),
            value: self.entry.value.clone(),
            expected: expected.to_string(),
        }
    }

    fn string(&self) -> String {
        self.entry.value.clone()
    }

    fn path(&self) -> Result<PathBuf, ConfigError> {
        if self.entry.value.is_empty() {
            return Err(self.error("expected a path"));
        }
        Ok(PathBuf::from(&self.entry.value))
    }

    fn list(&self) -> Vec<String> {
        self.entry.value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    /// Python's `ConfigParser.getboolean`.
    fn boolean(&self) -> Result<bool, ConfigError> {
        match self.entry.value.to_ascii_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => Ok(true),
            "0" | "no" | "false" | "off" => Ok(false),
            _ => Err(self.error("expected a boolean (True/False, yes/no, on/off, 1/0)")),
        }
    }

    fn port(&self) -> Result<u16, ConfigError> {
        self.entry
            .value
            .trim_start_matches('+')
            .parse::<u16>()
            .map_err(|_| self.error("expected a port number (0-65535)"))
    }

    /// A non-negative whole number, written as an integer or as an integral float (`1e6`, `500.0`).
    fn whole(&self) -> Option<u64> {
        let v = self.entry.value.as_str();
        if let Ok(n) = v.trim_start_matches('+').parse::<u64>() {
            return Some(n);
        }
        let f = v.parse::<f64>().ok()?;
        // u64::MAX as f64 rounds up to 2^64, so `<` keeps the conversion exact and in range.
        (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64).then_some(f as u64)
    }

    fn unsigned(&self) -> Result<u64, ConfigError> {
        self.whole().ok_or_else(|| self.error("expected a whole number >= 0"))
    }

    fn limit(&self) -> Result<Limit, ConfigError> {
        let lower = self.entry.value.to_ascii_lowercase();
        if matches!(lower.trim_start_matches('+'), "inf" | "infinity") {
            return Ok(Limit::Unlimited);
        }
        self.whole().map(Limit::Max).ok_or_else(|| self.error("expected a whole number >= 0 or inf"))
    }

    fn strategy(&self) -> Result<CacheWriteStrategy, ConfigError> {
        Ok(match self.entry.value.as_str() {
            "sorted" => CacheWriteStrategy::Sorted,
            "max" => CacheWriteStrategy::Max,
            "naive" => CacheWriteStrategy::Naive,
            "timesorted" => CacheWriteStrategy::TimeSorted,
            _ => return Err(self.error("expected one of sorted, max, naive, timesorted")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like Debian's shipped /etc/carbon/carbon.conf, plus AMQP settings.
    const DEBIAN_STYLE: &str = "
[cache]
STORAGE_DIR    = /var/lib/graphite/
LOCAL_DATA_DIR = /var/lib/graphite/whisper/
CONF_DIR       = /etc/carbon/
LOG_DIR        = /var/log/carbon/
ENABLE_LOGROTATION = False
USER = _graphite
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 500
MAX_CREATES_PER_MINUTE = 50
LINE_RECEIVER_INTERFACE = 0.0.0.0
LINE_RECEIVER_PORT = 2003
ENABLE_UDP_LISTENER = False
UDP_RECEIVER_INTERFACE = 0.0.0.0
UDP_RECEIVER_PORT = 2003
PICKLE_RECEIVER_INTERFACE = 0.0.0.0
PICKLE_RECEIVER_PORT = 2004
CACHE_QUERY_INTERFACE = 0.0.0.0
CACHE_QUERY_PORT = 7002
USE_FLOW_CONTROL = True
CACHE_WRITE_STRATEGY = sorted
WHISPER_AUTOFLUSH = False
WHISPER_FALLOCATE_CREATE = True
# ENABLE_AMQP = True
enable_amqp = True
AMQP_VERBOSE = off
AMQP_HOST = rabbit.example
AMQP_PORT = 5672
AMQP_VHOST = /
AMQP_USER = guest
AMQP_PASSWORD = guest
AMQP_EXCHANGE = graphite
AMQP_METRIC_NAME_IN_BODY = False
BIND_PATTERNS = servers.web*.#, carbon.#,
CARBON_METRIC_PREFIX = carbon
CARBON_METRIC_INTERVAL = 60

[relay]
LINE_RECEIVER_PORT = 2013
DESTINATIONS = 127.0.0.1:2004
";

    #[test]
    fn a_debian_style_carbon_conf_reads_into_typed_settings() {
        let s = CarbonCacheSettings::parse(DEBIAN_STYLE, "carbon.conf").unwrap();
        assert_eq!(s.local_data_dir, Some(PathBuf::from("/var/lib/graphite/whisper/")));
        assert_eq!(s.storage_dir, Some(PathBuf::from("/var/lib/graphite/")));
        assert_eq!(s.conf_dir, Some(PathBuf::from("/etc/carbon/")));
        assert_eq!(s.max_cache_size, Some(Limit::Unlimited));
        assert_eq!(s.max_updates_per_second, Some(Limit::Max(500)));
        assert_eq!(s.max_creates_per_minute, Some(Limit::Max(50)));
        assert_eq!(s.line_receiver_port, Some(2003));
        assert_eq!(s.line_receiver_interface.as_deref(), Some("0.0.0.0"));
        assert_eq!(s.enable_udp_listener, Some(false));
        assert_eq!(s.pickle_receiver_port, Some(2004));
        assert_eq!(s.cache_query_port, Some(7002));
        assert_eq!(s.use_flow_control, Some(true));
        assert_eq!(s.cache_write_strategy, Some(CacheWriteStrategy::Sorted));
        assert_eq!(s.whisper_autoflush, Some(false));
        assert_eq!(s.whisper_fallocate_create, Some(true));
        assert_eq!(s.whisper_sparse_create, None);
        assert_eq!(s.enable_amqp, Some(true));
        assert_eq!(s.amqp_verbose, Some(false));
        assert_eq!(s.amqp_host.as_deref(), Some("rabbit.example"));
        assert_eq!(s.amqp_port, Some(5672));
        assert_eq!(s.amqp_vhost.as_deref(), Some("/"));
        assert_eq!(s.amqp_exchange.as_deref(), Some("graphite"));
        assert_eq!(s.amqp_metric_name_in_body, Some(false));
        assert_eq!(s.bind_patterns, Some(vec!["servers.web*.#".to_string(), "carbon.#".to_string()]));
        assert_eq!(s.carbon_metric_prefix.as_deref(), Some("carbon"));
        assert_eq!(s.carbon_metric_interval, Some(60));
    }

    #[test]
    fn unknown_keys_are_kept_upper_cased_and_other_sections_ignored() {
        let s = CarbonCacheSettings::parse(DEBIAN_STYLE, "carbon.conf").unwrap();
        let keys: Vec<_> = s.unknown.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["ENABLE_LOGROTATION", "USER"]);
        assert_eq!(s.unknown["USER"], "_graphite");
        assert!(!s.unknown.contains_key("DESTINATIONS"));
    }

    #[test]
    fn booleans_read_as_python_getboolean() {
        for (text, want) in [
            ("True", true),
            ("yes", true),
            ("ON", true),
            ("1", true),
            ("false", false),
            ("No", false),
            ("off", false),
            ("0", false),
        ] {
            let s = CarbonCacheSettings::parse(&format!("[cache]\nWHISPER_LOCK_WRITES = {text}\n"), "c").unwrap();
            assert_eq!(s.whisper_lock_writes, Some(want), "{text}");
        }
    }

    #[test]
    fn limits_accept_inf_and_whole_numbers() {
        for (text, want) in [
            ("inf", Limit::Unlimited),
            ("Infinity", Limit::Unlimited),
            ("+inf", Limit::Unlimited),
            ("0", Limit::Max(0)),
            ("2000000", Limit::Max(2_000_000)),
            ("1e6", Limit::Max(1_000_000)),
            ("500.0", Limit::Max(500)),
        ] {
            let s = CarbonCacheSettings::parse(&format!("[cache]\nMAX_CACHE_SIZE = {text}\n"), "c").unwrap();
            assert_eq!(s.max_cache_size, Some(want), "{text}");
        }
    }

    #[test]
    fn bad_values_are_errors_naming_file_line_and_key() {
        for (line, expect) in [
            ("AMQP_PORT = 70000", "c.conf line 3: AMQP_PORT = '70000': expected a port"),
            ("amqp_port = x", "c.conf line 3: AMQP_PORT = 'x': expected a port"),
            ("ENABLE_AMQP = maybe", "c.conf line 3: ENABLE_AMQP = 'maybe': expected a boolean"),
            ("MAX_CACHE_SIZE = -1", "c.conf line 3: MAX_CACHE_SIZE = '-1': expected a whole number >= 0 or inf"),
            ("MAX_CACHE_SIZE = 1.5", "c.conf line 3: MAX_CACHE_SIZE = '1.5'"),
            ("MAX_CACHE_SIZE = nan", "c.conf line 3: MAX_CACHE_SIZE = 'nan'"),
            ("CARBON_METRIC_INTERVAL = inf", "c.conf line 3: CARBON_METRIC_INTERVAL = 'inf'"),
            ("CACHE_WRITE_STRATEGY = random", "c.conf line 3: CACHE_WRITE_STRATEGY = 'random': expected one of"),
            ("LOCAL_DATA_DIR =", "c.conf line 3: LOCAL_DATA_DIR = '': expected a path"),
        ] {
            let e = CarbonCacheSettings::parse(&format!("[cache]\n\n{line}\n"), "c.conf").unwrap_err().to_string();
            assert!(e.starts_with(expect), "{line}: {e}");
        }
    }

    #[test]
    fn an_instance_section_overlays_the_cache_section() {
        let text = "[cache]\nLINE_RECEIVER_PORT = 2003\nAMQP_HOST = h\n[cache:b]\nLINE_RECEIVER_PORT = 2103\n";
        let s = CarbonCacheSettings::parse_instance(text, "c", Some("b")).unwrap();
        assert_eq!(s.line_receiver_port, Some(2103));
        assert_eq!(s.amqp_host.as_deref(), Some("h"));
        let s = CarbonCacheSettings::parse_instance(text, "c", Some("zzz")).unwrap();
        assert_eq!(s.line_receiver_port, Some(2003));
        let s = CarbonCacheSettings::parse(text, "c").unwrap();
        assert_eq!(s.line_receiver_port, Some(2003));
    }

    #[test]
    fn a_file_without_a_cache_section_sets_nothing() {
        let s = CarbonCacheSettings::parse("[relay]\nLINE_RECEIVER_PORT = 2013\n", "c").unwrap();
        assert_eq!(s, CarbonCacheSettings::default());
    }

    #[test]
    fn load_reads_a_file_and_names_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("carbon.conf");
        std::fs::write(&path, DEBIAN_STYLE).unwrap();
        assert_eq!(CarbonCacheSettings::load(&path).unwrap().amqp_port, Some(5672));
        let e = CarbonCacheSettings::load(&dir.path().join("missing.conf")).unwrap_err().to_string();
        assert!(e.contains("missing.conf"), "{e}");
    }
}
