//! warren's own configuration (TOML), with embedded defaults that work with no file at all.
//!
//! Every knob is documented in `warren.example.toml` at the repository root. Unknown keys are errors, so a typo
//! never silently falls back to a default.

use serde::Deserialize;
use std::path::PathBuf;

/// When a delivery is acknowledged to the broker.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AckMode {
    /// Only once every point it carried is written to whisper (or rejected as bad input). The default.
    #[default]
    AfterPersist,
    /// As soon as it is parsed and queued for the writer (carbon's behaviour: a crash loses the cache).
    OnReceive,
}

/// The kind of queue warren declares.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// A classic durable queue.
    #[default]
    Classic,
    /// A quorum queue (Raft-replicated over the broker cluster).
    Quorum,
}

/// The order in which the writer drains cached metrics (carbon's CACHE_WRITE_STRATEGY).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum WriteStrategy {
    /// Each pass writes every cached metric once, those with the most points first (carbon's default).
    Sorted,
    /// Always the metric with the most points.
    Max,
    /// In the order metrics became dirty: the oldest unwritten points first, so deliveries complete (and are
    /// acked) in about the order they arrived. warren's default: with ack-after-persist it drained body-100
    /// backlogs 1.4–6× faster than `sorted` in side-by-side runs (tuning/README.md).
    #[default]
    Naive,
    /// Each pass writes every cached metric once, the one with the oldest point first.
    Timesorted,
}

pub use super::whisper_settings::{CreateModeSetting, SyncMode, WhisperSettings};

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Instance name: names the default queue (`warren.<instance>`) and the self-metrics.
    pub instance: String,
    /// Root of the whisper tree.
    pub data_dir: PathBuf,
    /// storage-schemas.conf; carbon's default (60 s for 7 days) for every metric when absent.
    pub storage_schemas: Option<PathBuf>,
    /// storage-aggregation.conf; average with xFilesFactor 0.5 when absent.
    pub storage_aggregation: Option<PathBuf>,
    /// Write the log here instead of stderr (journald under systemd); reopened on SIGHUP, for logrotate.
    pub log_file: Option<PathBuf>,
    /// Log one line per new whisper file, with the schema and aggregation it got (carbon's LOG_CREATES).
    pub log_creates: bool,
    /// Where those lines go (carbon's creates.log); the main log when absent. Reopened on SIGHUP.
    pub creates_log: Option<PathBuf>,
    pub amqp: AmqpSettings,
    pub cache: CacheSettings,
    pub whisper: WhisperSettings,
    pub receivers: ReceiverSettings,
    pub stats: StatsSettings,
    pub query: QuerySettings,
    pub tags: TagSettings,
    /// carbon's filter/rewrite stage (`[filter]`), applied by every input.
    pub filter: super::front::FilterSettings,
    /// `warren relay`'s publisher (`[relay]`).
    pub relay: super::front::RelaySettings,
}

/// Graphite 1.1 tagged series: registration with graphite-web's tag database and the file names of tagged series
/// (carbon's ENABLE_TAGS, GRAPHITE_URL, TAG_UPDATE_INTERVAL, TAG_BATCH_SIZE, TAG_QUEUE_SIZE, TAG_HASH_FILENAMES).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TagSettings {
    /// Register series with graphite-web's tag database (`POST <graphite_url>/tags/tagMultiSeries`): every new
    /// file, and every `update_interval`-th write. Default false (carbon's default is true; see the README).
    pub enabled: bool,
    /// graphite-web's base URL, `http://` only. Default `http://127.0.0.1:80` (carbon's).
    pub graphite_url: String,
    /// Re-register one write in this many (carbon's TAG_UPDATE_INTERVAL). Default 100.
    pub update_interval: u32,
    /// Series per POST (carbon's TAG_BATCH_SIZE). Default 100.
    pub batch_size: usize,
    /// Bound of the queue of series waiting to be registered; beyond it they are dropped and counted
    /// (carbon's TAG_QUEUE_SIZE). Default 10000.
    pub queue_size: usize,
    /// Name tagged series' files by the sha256 of the name (true, carbon's default) or by the name with `.` as
    /// `_DOT_` (false). carbon's TAG_HASH_FILENAMES.
    pub hash_filenames: bool,
}

impl Default for TagSettings {
    fn default() -> Self {
        TagSettings {
            enabled: false,
            graphite_url: "http://127.0.0.1:80".into(),
            update_interval: 100,
            batch_size: 100,
            queue_size: 10_000,
            hash_filenames: true,
        }
    }
}

/// The read side: CarbonLink (for graphite-web) and the HTTP API.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QuerySettings {
    /// CarbonLink `host:port` (carbon's CACHE_QUERY_INTERFACE:CACHE_QUERY_PORT); `""` turns it off. Port 0 picks a
    /// free port (tests). Default `127.0.0.1:7002`.
    pub carbonlink: Option<String>,
    /// HTTP API `host:port` (graphite-web's find/render and cluster protocol, index, info, health, Prometheus
    /// text); `""` turns it off. Default `127.0.0.1:8070`.
    pub http: Option<String>,
    /// HTTP handler threads (requests answered at once).
    pub http_threads: usize,
    /// Most HTTP connections open at once (a thread each); further ones are closed at once and counted as
    /// `http_connections_refused`.
    pub http_max_connections: usize,
    /// An HTTP connection that sends nothing for this long, in milliseconds, is closed (idle keep-alive, or a
    /// stalled request).
    pub http_idle_timeout_ms: u64,
    /// An HTTP response the client does not take within this long, in milliseconds, is dropped.
    pub http_write_timeout_ms: u64,
    /// Longest wait, in milliseconds, for the writer to answer a cache question (graphite-web's own
    /// CARBONLINK_TIMEOUT is 1 s).
    pub cache_timeout_ms: u64,
    /// Largest CarbonLink request frame and largest HTTP request body, in bytes; a longer frame closes its
    /// connection, a longer body gets 413.
    pub max_request_bytes: usize,
    /// Most CarbonLink connections served at once (a thread each).
    pub max_connections: usize,
    /// A CarbonLink connection that stalls inside a request for this long, in milliseconds, or takes no answer
    /// bytes for as long, is closed; one idle between requests for this long gives its slot to a newcomer when
    /// all `max_connections` are taken (and is closed). Both are counted as `carbonlink_idle_timeouts`. Idle
    /// connections are otherwise kept for as long as their client likes, as carbon-cache does: graphite-web pools
    /// them and does not retry a query on one the server closed. Default 60000.
    pub carbonlink_idle_timeout_ms: u64,
}

impl Default for QuerySettings {
    fn default() -> Self {
        QuerySettings {
            carbonlink: Some("127.0.0.1:7002".into()),
            http: Some("127.0.0.1:8070".into()),
            http_threads: 4,
            http_max_connections: 256,
            http_idle_timeout_ms: 30_000,
            http_write_timeout_ms: 30_000,
            cache_timeout_ms: 1000,
            max_request_bytes: 1 << 20,
            max_connections: 256,
            carbonlink_idle_timeout_ms: 60_000,
        }
    }
}

impl QuerySettings {
    /// The CarbonLink address to bind, `None` when off. Errors: an address that does not resolve.
    pub fn carbonlink_addr(&self) -> std::io::Result<Option<std::net::SocketAddr>> {
        resolve(self.carbonlink.as_deref())
    }

    /// The HTTP API address to bind, `None` when off. Errors: an address that does not resolve.
    pub fn http_addr(&self) -> std::io::Result<Option<std::net::SocketAddr>> {
        resolve(self.http.as_deref())
    }
}

fn resolve(addr: Option<&str>) -> std::io::Result<Option<std::net::SocketAddr>> {
    use std::net::ToSocketAddrs;
    match addr.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(a) => a.to_socket_addrs()?.next().map(Some).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("query address '{a}' resolves to nothing"))
        }),
    }
}

/// The AMQP input.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpSettings {
    pub enabled: bool,
    /// `amqp://user:password@host:port/vhost` (vhost `/` is `%2f`).
    pub url: String,
    /// The nodes of a RabbitMQ cluster (`amqp://` URLs); when set, `url` is not used (see [`AmqpSettings::nodes`]).
    pub urls: Vec<String>,
    /// The topic exchange (declared durable).
    pub exchange: String,
    /// Queue name; `None` means `warren.<instance>`; `Some("")` means carbon's exclusive server-named queue
    /// (one worker only, lost on disconnect).
    pub queue: Option<String>,
    /// Topic bind patterns (`*` one word, `#` zero or more).
    pub bind_patterns: Vec<String>,
    /// Lines are `metric value timestamp` instead of `value timestamp` with the routing key as the name.
    pub metric_name_in_body: bool,
    /// Consumer workers (each its own connection and channel); 0 = one per core.
    pub workers: usize,
    /// basic.qos prefetch count per worker: the most unacked deliveries each worker holds.
    pub prefetch: u16,
    /// When deliveries are acked.
    pub ack: AckMode,
    /// Finished deliveries wait at most this long for their (multiple) ack, unless a quarter of the prefetch
    /// window is finished at the front or the window is nearly full. 0 = ack whatever is finished at once.
    pub ack_interval_ms: u64,
    /// After a burst of fewer than 64 deliveries a worker sleeps this long before taking the next, so that
    /// deliveries arriving one by one are taken in bursts: one writer hand-off, one wake-up and one ack frame
    /// for many. A lone delivery is not delayed (it is handed on before the pause); a stream of them waits at
    /// most this long. The same pause for the worker's connection: once consuming, its reader (amiquip's I/O
    /// thread) sleeps this long when the socket runs dry after a read of less than 64 KiB, so it wakes once per
    /// pause, not once every few deliveries. 0 = never pause. See docs/ARCHITECTURE.md "Lingering".
    pub linger_us: u64,
    /// Pin the writer to the last core and the AMQP workers to the others.
    pub pin_threads: bool,
    /// Longest back-off between reconnect attempts, in seconds.
    pub max_reconnect_delay_secs: u64,
    /// Partition by consistent hashing: the bind patterns bind the topic exchange to this `x-consistent-hash`
    /// exchange (plugin rabbitmq_consistent_hash_exchange), and the queue binds to it with
    /// `consistent_hash_weight`. Unset: the queue binds to the topic exchange directly.
    pub consistent_hash_exchange: Option<String>,
    /// `classic` (default) or `quorum`: a quorum queue is replicated over the nodes of a RabbitMQ cluster, so the
    /// backlog survives the loss of a broker node. A queue's type is fixed when it is first declared.
    pub queue_type: QueueType,
    /// This instance's share of the hash ring (relative to the other instances' weights).
    pub consistent_hash_weight: u32,
}

/// The writer and its cache.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    pub write_strategy: WriteStrategy,
    /// Most points held in the cache; above it inputs pause (never drop). carbon's MAX_CACHE_SIZE.
    pub max_size: usize,
    /// Inputs resume once the cache is below this many points.
    pub low_watermark: usize,
    /// `true`: a full cache pauses the inputs. `false` (carbon's USE_FLOW_CONTROL = False): points arriving
    /// while the cache is full are dropped and counted (`overflow_dropped`); their deliveries are acked.
    pub flow_control: bool,
    /// whisper update operations per second; 0 = unlimited.
    pub max_updates_per_second: u32,
    /// New whisper files per minute; 0 = unlimited. Metrics over the limit stay cached and are retried.
    pub max_creates_per_minute: u32,
    /// Batches each producer ring holds.
    pub ring_capacity: usize,
    /// Most whisper files kept open (an LRU of descriptors). The descriptor limit is raised to fit at start;
    /// when it cannot be, the LRU shrinks to what the limit allows (logged).
    pub open_files: usize,
    /// After a light turn (a few batches, every dirty metric written) the writer sleeps this long instead of
    /// parking, so points arriving in a trickle are written in batches and producers do not wake it one batch
    /// at a time. 0 = never linger. See docs/ARCHITECTURE.md "Lingering".
    pub linger_us: u64,
}

/// The classic socket inputs (carbon's plaintext and pickle receivers), served by one event-loop thread.
///
/// An address is `host:port` (`"0.0.0.0:2003"`, `"[::]:2003"`, `"localhost:2003"`); `None` or `""` turns that
/// receiver off; port 0 binds an ephemeral port (tests). Bound addresses are logged at start.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverSettings {
    /// Master switch: `false` starts no socket receiver at all, whatever the addresses say.
    pub enabled: bool,
    /// Plaintext `metric value timestamp\n` over TCP (carbon's LINE_RECEIVER_*). Default `"0.0.0.0:2003"`.
    pub line_tcp: Option<String>,
    /// Plaintext over UDP, whole lines per datagram (carbon's UDP_RECEIVER_*). Default off, as carbon's
    /// ENABLE_UDP_LISTENER = False.
    pub line_udp: Option<String>,
    /// Pickle over TCP: 4-byte big-endian length + pickled list of `(metric, (timestamp, value))` (carbon's
    /// PICKLE_RECEIVER_*). Default `"0.0.0.0:2004"`.
    pub pickle: Option<String>,
    /// Most TCP connections open at once over both TCP receivers; further connections are accepted and closed
    /// at once (counted as `connections_refused`). 0 = unlimited (carbon's MAX_RECEIVER_CONNECTIONS = inf).
    /// Default 4096: each connection holds up to 68 KiB of plaintext buffer (or one pickle frame).
    pub max_connections: usize,
    /// Largest pickle frame accepted, in bytes; a connection announcing a larger one is closed (counted as
    /// `pickle_frames_too_large`). Default 1 MiB, carbon's cap.
    pub max_pickle_frame: usize,
    /// Where points read from these sockets go: `"local"` (this node's writer, the default) or `"amqp"`
    /// (published to `[amqp] exchange` with routing key = metric name, like `warren relay`, so that any node can
    /// be the front door of a broker-partitioned cluster).
    pub forward: super::front::Forward,
}

/// Self-metrics (`<prefix>.agents.<host>-<instance>.<stat>`, carbon's CARBON_METRIC_*) and the optional
/// Prometheus endpoint.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StatsSettings {
    /// Seconds between self-metric emissions (carbon's CARBON_METRIC_INTERVAL); 0 = no self-metrics.
    /// Default 60.
    pub metric_interval_secs: u64,
    /// First component of every self-metric name (carbon's CARBON_METRIC_PREFIX). Default `"carbon"`.
    pub metric_prefix: String,
    /// Host part of the names; `None` = this machine's hostname with `.` replaced by `_`, as carbon does.
    pub host: Option<String>,
    /// Serve every counter as Prometheus text on `http://<address>/metrics` (any path answers). Default off.
    pub prometheus: Option<String>,
}

impl Default for ReceiverSettings {
    fn default() -> Self {
        ReceiverSettings {
            enabled: true,
            line_tcp: Some("0.0.0.0:2003".into()),
            line_udp: None,
            pickle: Some("0.0.0.0:2004".into()),
            max_connections: 4096,
            max_pickle_frame: 1 << 20,
            forward: Default::default(),
        }
    }
}

impl Default for StatsSettings {
    fn default() -> Self {
        StatsSettings { metric_interval_secs: 60, metric_prefix: "carbon".into(), host: None, prometheus: None }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            instance: "a".into(),
            data_dir: PathBuf::from("./storage/whisper"),
            storage_schemas: None,
            storage_aggregation: None,
            log_file: None,
            log_creates: false,
            creates_log: None,
            amqp: AmqpSettings::default(),
            cache: CacheSettings::default(),
            whisper: WhisperSettings::default(),
            receivers: ReceiverSettings::default(),
            stats: StatsSettings::default(),
            query: QuerySettings::default(),
            tags: TagSettings::default(),
            filter: Default::default(),
            relay: Default::default(),
        }
    }
}

impl Default for AmqpSettings {
    fn default() -> Self {
        AmqpSettings {
            enabled: true,
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            urls: Vec::new(),
            exchange: "graphite".into(),
            queue: None,
            bind_patterns: vec!["#".into()],
            metric_name_in_body: false,
            workers: 0,
            prefetch: 10_000,
            ack: AckMode::AfterPersist,
            ack_interval_ms: 2,
            linger_us: 2000,
            pin_threads: true,
            max_reconnect_delay_secs: 30,
            consistent_hash_exchange: None,
            consistent_hash_weight: 1,
            queue_type: QueueType::Classic,
        }
    }
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            write_strategy: WriteStrategy::Naive,
            max_size: 10_000_000,
            low_watermark: 9_000_000,
            flow_control: true,
            max_updates_per_second: 0,
            max_creates_per_minute: 5000,
            ring_capacity: 1024,
            open_files: 100_000,
            linger_us: 2000,
        }
    }
}

impl Settings {
    /// Parse TOML text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Settings, super::ConfigError> {
        toml::from_str(text).map_err(|e| super::ConfigError::File {
            source_name: source.to_string(),
            line: e.span().map(|s| text[..s.start].matches('\n').count() + 1).unwrap_or(0),
            message: e.message().to_string(),
        })
    }

    /// The queue to declare: the configured name, or `warren.<instance>`.
    pub fn queue_name(&self) -> String {
        self.amqp.queue.clone().unwrap_or_else(|| format!("warren.{}", self.instance))
    }

    /// Workers to start: the configured count, or one per core; one for an exclusive server-named queue.
    pub fn worker_count(&self) -> usize {
        if self.queue_name().is_empty() {
            return 1;
        }
        match self.amqp.workers {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn carbon_conf_settings_map_onto_warren_settings() {
        let text = "[cache]\nLOCAL_DATA_DIR = /srv/whisper\nAMQP_HOST = mq\nAMQP_VHOST = /\nAMQP_USER = u\n\
                    AMQP_PASSWORD = p@ss\nAMQP_EXCHANGE = metrics\nBIND_PATTERNS = a.#, b.*\n\
                    AMQP_METRIC_NAME_IN_BODY = True\nMAX_CACHE_SIZE = inf\nMAX_CREATES_PER_MINUTE = 50\n\
                    CACHE_WRITE_STRATEGY = max\nWHISPER_SPARSE_CREATE = True\nWHISPER_FALLOCATE_CREATE = False\n";
        let c = crate::config::CarbonCacheSettings::parse(text, "carbon.conf").unwrap();
        let mut s = Settings::default();
        s.apply_carbon_conf(&c, std::path::Path::new("/nonexistent/carbon.conf"));
        assert_eq!(s.data_dir, PathBuf::from("/srv/whisper"));
        assert_eq!(s.amqp.url, "amqp://u:p%40ss@mq:5672/%2F");
        assert_eq!(s.amqp.exchange, "metrics");
        assert_eq!(s.amqp.bind_patterns, vec!["a.#", "b.*"]);
        assert!(s.amqp.metric_name_in_body);
        assert_eq!(s.cache.max_size, usize::MAX);
        assert_eq!(s.cache.max_creates_per_minute, 50);
        assert_eq!(s.cache.write_strategy, WriteStrategy::Max);
        assert_eq!(s.whisper.create_mode, CreateModeSetting::Sparse);
        assert_eq!(s.whisper.sync, SyncMode::None);
        let c = crate::config::CarbonCacheSettings::parse("[cache]\nWHISPER_AUTOFLUSH = True\n", "c").unwrap();
        s.apply_carbon_conf(&c, std::path::Path::new("/nonexistent/carbon.conf"));
        assert_eq!(s.whisper.sync, SyncMode::Batch);
    }

    #[test]
    fn whisper_sync_reads_none_and_batch_and_refuses_the_rest() {
        assert_eq!(Settings::from_toml("", "x").unwrap().whisper.sync, SyncMode::None);
        let s = Settings::from_toml("[whisper]\nsync = \"batch\"\n", "x").unwrap();
        assert_eq!(s.whisper.sync, SyncMode::Batch);
        assert!(Settings::from_toml("[whisper]\nsync = \"always\"\n", "x").is_err());
    }

    #[test]
    fn carbon_conf_and_toml_set_the_tag_settings() {
        let text = "[cache]\nENABLE_TAGS = True\nGRAPHITE_URL = http://gw:8080\nTAG_UPDATE_INTERVAL = 10\n\
                    TAG_BATCH_SIZE = 50\nTAG_QUEUE_SIZE = 200\nTAG_HASH_FILENAMES = False\n";
        let c = crate::config::CarbonCacheSettings::parse(text, "carbon.conf").unwrap();
        let mut s = Settings::default();
        assert!(!s.tags.enabled, "off unless asked for");
        s.apply_carbon_conf(&c, std::path::Path::new("/nonexistent/carbon.conf"));
        let want = TagSettings {
            enabled: true,
            graphite_url: "http://gw:8080".into(),
            update_interval: 10,
            batch_size: 50,
            queue_size: 200,
            hash_filenames: false,
        };
        assert_eq!(s.tags, want);
        let toml = "[tags]\nenabled = true\ngraphite_url = \"http://gw:8080\"\nupdate_interval = 10\n\
                    batch_size = 50\nqueue_size = 200\nhash_filenames = false\n";
        assert_eq!(Settings::from_toml(toml, "x").unwrap().tags, want);
        assert!(Settings::from_toml("[tags]\nenable = true\n", "x").is_err(), "a typo is an error");
    }

    #[test]
    fn carbon_conf_cache_query_interface_and_port_set_the_carbonlink_address() {
        let c = crate::config::CarbonCacheSettings::parse("[cache]\nCACHE_QUERY_PORT = 7102\n", "c").unwrap();
        let mut s = Settings::default();
        s.apply_carbon_conf(&c, std::path::Path::new("/nonexistent/carbon.conf"));
        assert_eq!(s.query.carbonlink.as_deref(), Some("0.0.0.0:7102"));
        let c = crate::config::CarbonCacheSettings::parse("[cache]\nCACHE_QUERY_INTERFACE = ::1\n", "c").unwrap();
        s.apply_carbon_conf(&c, std::path::Path::new("/nonexistent/carbon.conf"));
        assert_eq!(s.query.carbonlink_addr().unwrap(), Some("[::1]:7002".parse().unwrap()));
    }

    #[test]
    fn query_servers_default_to_carbonlink_and_http_on_loopback() {
        let s = Settings::from_toml("", "x").unwrap();
        assert_eq!(s.query.carbonlink_addr().unwrap(), Some("127.0.0.1:7002".parse().unwrap()));
        assert_eq!(s.query.http_addr().unwrap(), Some("127.0.0.1:8070".parse().unwrap()));
        assert_eq!(Settings::from_toml("[query]\nhttp = \"\"\n", "x").unwrap().query.http_addr().unwrap(), None);
        let s = Settings::from_toml("[query]\ncarbonlink = \"\"\nhttp = \"127.0.0.1:0\"\n", "x").unwrap();
        assert_eq!(s.query.carbonlink_addr().unwrap(), None);
        assert_eq!(s.query.http_addr().unwrap(), Some("127.0.0.1:0".parse().unwrap()));
        assert!(Settings::from_toml("[query]\ncarbonlink = \"nope\"\n", "x").unwrap().query.carbonlink_addr().is_err());
    }

    use super::*;

    #[test]
    fn carbon_conf_receiver_keys_map_onto_receiver_settings() {
        let text =
            "[cache]\nLINE_RECEIVER_INTERFACE = 127.0.0.1\nLINE_RECEIVER_PORT = 2103\nENABLE_UDP_LISTENER = True\n\
                    UDP_RECEIVER_PORT = 2105\nPICKLE_RECEIVER_PORT = 0\nMAX_RECEIVER_CONNECTIONS = inf\n\
                    CARBON_METRIC_PREFIX = graphite\nCARBON_METRIC_INTERVAL = 10\n";
        let c = crate::config::CarbonCacheSettings::parse(text, "carbon.conf").unwrap();
        let mut s = Settings::default();
        s.apply_carbon_conf(&c, std::path::Path::new("/nonexistent/carbon.conf"));
        assert_eq!(s.receivers.line_tcp.as_deref(), Some("127.0.0.1:2103"));
        assert_eq!(s.receivers.line_udp.as_deref(), Some("0.0.0.0:2105"));
        assert_eq!(s.receivers.pickle, None);
        assert_eq!(s.receivers.max_connections, 0);
        assert_eq!(s.stats.metric_prefix, "graphite");
        assert_eq!(s.stats.metric_interval_secs, 10);
    }

    #[test]
    fn receiver_defaults_are_carbons_ports_with_udp_off() {
        let s = Settings::from_toml("[receivers]\nline_tcp = \"127.0.0.1:0\"\n", "x").unwrap();
        assert_eq!(s.receivers.line_tcp.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(s.receivers.line_udp, None);
        assert_eq!(s.receivers.pickle.as_deref(), Some("0.0.0.0:2004"));
        assert_eq!(s.stats.metric_interval_secs, 60);
        assert_eq!(s.stats.metric_prefix, "carbon");
    }

    #[test]
    fn an_empty_file_gives_the_embedded_defaults() {
        let s = Settings::from_toml("", "x").unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.queue_name(), "warren.a");
        assert_eq!(s.amqp.bind_patterns, vec!["#"]);
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_line() {
        let e = Settings::from_toml("instance = \"b\"\n[amqp]\nprefetsh = 10\n", "w.toml").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("w.toml line 3") && m.contains("prefetsh"), "{m}");
    }

    #[test]
    fn urls_list_the_cluster_nodes_and_url_alone_is_one_node() {
        let s = Settings::from_toml("[amqp]\nurl = \"amqp://a:5672/%2f\"\n", "x").unwrap();
        assert_eq!(s.amqp.nodes(), vec!["amqp://a:5672/%2f"]);
        let s = Settings::from_toml("[amqp]\nurls = [\"amqp://a:5672/%2f\", \"amqp://b:5673/%2f\"]\n", "x").unwrap();
        assert_eq!(s.amqp.nodes(), vec!["amqp://a:5672/%2f", "amqp://b:5673/%2f"]);
        assert_eq!(Settings::default().amqp.nodes(), vec![Settings::default().amqp.url]);
    }

    #[test]
    fn an_empty_queue_name_means_one_worker_on_an_exclusive_queue() {
        let s = Settings::from_toml("[amqp]\nqueue = \"\"\nworkers = 4\n", "x").unwrap();
        assert_eq!(s.queue_name(), "");
        assert_eq!(s.worker_count(), 1);
    }

    #[test]
    fn enums_use_carbon_spellings() {
        let s = Settings::from_toml(
            "[amqp]\nack = \"on-receive\"\n[cache]\nwrite_strategy = \"timesorted\"\n[whisper]\ncreate_mode = \"sparse\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(s.amqp.ack, AckMode::OnReceive);
        assert_eq!(s.cache.write_strategy, WriteStrategy::Timesorted);
        assert_eq!(s.whisper.create_mode, CreateModeSetting::Sparse);
    }
}

#[cfg(test)]
mod example_file {
    #[test]
    fn the_documented_example_file_parses_to_the_defaults() {
        let text = include_str!("../../docs/warren.example.toml");
        let s = super::Settings::from_toml(text, "docs/warren.example.toml").unwrap();
        assert_eq!(s, super::Settings::default());
    }

    #[test]
    fn the_packaged_config_is_the_example_with_the_data_under_var_lib_warren() {
        let text = include_str!("../../debian/warren.toml");
        let s = super::Settings::from_toml(text, "debian/warren.toml").unwrap();
        let want = super::Settings { data_dir: "/var/lib/warren/whisper".into(), ..super::Settings::default() };
        assert_eq!(s, want);
        // Word for word the example below its header, but for the data directory.
        let example = include_str!("../../docs/warren.example.toml");
        let body = |t: &'static str| t.split_once("\ninstance = ").map(|(_, b)| b).unwrap_or_default();
        let expected =
            body(example).replace("data_dir = \"./storage/whisper\"", "data_dir = \"/var/lib/warren/whisper\"");
        assert!(!expected.is_empty());
        assert_eq!(body(text), expected, "regenerate debian/warren.toml from docs/warren.example.toml");
    }
}
