//! carbon.conf's `[cache]` keys applied to warren's settings: the AMQP URL and exchange, data and rule file
//! locations, cache limits, write strategy, whisper options, receivers, self-metrics and tags. Entered through
//! [`super::carbon_policy::apply_carbon_conf`], which first refuses the file if a key is refused and afterwards
//! applies the keys it judges itself.
//!
//! Owns: the mapping of carbon's keys onto [`Settings`]. Never touches: files, logs.

use super::carbon_conf::CarbonCacheSettings;
use super::settings::{CreateModeSetting, Settings, SyncMode, WriteStrategy};

impl Settings {
    /// Overlay carbon.conf's `[cache]` settings (read from `conf_path`) on these settings. Schema files default to
    /// the storage-schemas.conf and storage-aggregation.conf beside carbon.conf (or in CONF_DIR). The keys this
    /// does not apply are judged by [`super::carbon_policy::apply_carbon_conf`], the entry point that calls it.
    pub fn apply_carbon_conf(&mut self, c: &CarbonCacheSettings, conf_path: &std::path::Path) {
        use super::carbon_conf::{CacheWriteStrategy, Limit};
        let limit = |l: &Limit| match l {
            Limit::Unlimited => None,
            Limit::Max(n) => Some(*n),
        };
        if let Some(v) = c.enable_amqp {
            self.amqp.enabled = v;
        }
        let amqp_url_keys = [c.amqp_host.is_some(), c.amqp_port.is_some(), c.amqp_user.is_some()];
        if amqp_url_keys.contains(&true) || c.amqp_vhost.is_some() || c.amqp_password.is_some() {
            let vhost = c.amqp_vhost.clone().unwrap_or_else(|| "/".into());
            self.amqp.url = format!(
                "amqp://{}:{}@{}:{}/{}",
                pct(c.amqp_user.as_deref().unwrap_or("guest")),
                pct(c.amqp_password.as_deref().unwrap_or("guest")),
                c.amqp_host.as_deref().unwrap_or("127.0.0.1"),
                c.amqp_port.unwrap_or(5672),
                pct(&vhost)
            );
        }
        if let Some(v) = &c.amqp_exchange {
            self.amqp.exchange = v.clone();
        }
        if let Some(v) = c.amqp_metric_name_in_body {
            self.amqp.metric_name_in_body = v;
        }
        if let Some(v) = &c.bind_patterns {
            self.amqp.bind_patterns = v.clone();
        }
        if let Some(v) = &c.local_data_dir {
            self.data_dir = v.clone();
        } else if let Some(v) = &c.storage_dir {
            self.data_dir = v.join("whisper");
        }
        if let Some(l) = &c.max_cache_size {
            self.cache.max_size = limit(l).map(|n| n as usize).unwrap_or(usize::MAX);
            self.cache.low_watermark = self.cache.max_size / 100 * 95;
        }
        if let Some(Limit::Max(n)) = &c.cache_size_low_watermark {
            self.cache.low_watermark = (*n as usize).min(self.cache.max_size);
        }
        if let Some(l) = &c.max_updates_per_second {
            self.cache.max_updates_per_second = limit(l).map(|n| n.min(u32::MAX as u64) as u32).unwrap_or(0);
        }
        if let Some(l) = &c.max_creates_per_minute {
            self.cache.max_creates_per_minute = limit(l).map(|n| n.min(u32::MAX as u64) as u32).unwrap_or(0);
        }
        if let Some(s) = c.cache_write_strategy {
            self.cache.write_strategy = match s {
                CacheWriteStrategy::Sorted => WriteStrategy::Sorted,
                CacheWriteStrategy::Max => WriteStrategy::Max,
                CacheWriteStrategy::Naive => WriteStrategy::Naive,
                CacheWriteStrategy::TimeSorted => WriteStrategy::Timesorted,
            };
        }
        if c.whisper_fallocate_create == Some(true) {
            self.whisper.create_mode = CreateModeSetting::Fallocate;
        } else if c.whisper_sparse_create == Some(true) {
            self.whisper.create_mode = CreateModeSetting::Sparse;
        } else if c.whisper_fallocate_create == Some(false) && c.whisper_sparse_create != Some(true) {
            self.whisper.create_mode = CreateModeSetting::Zero;
        }
        if let Some(v) = c.whisper_autoflush {
            self.whisper.sync = if v { SyncMode::Batch } else { SyncMode::None };
        }
        if let Some(v) = c.whisper_lock_writes {
            self.whisper.lock_writes = v;
        }
        self.apply_carbon_receivers(c);
        if let Some(v) = c.enable_tags {
            self.tags.enabled = v;
        }
        if let Some(v) = &c.graphite_url {
            self.tags.graphite_url = v.clone();
        }
        if let Some(v) = c.tag_update_interval {
            self.tags.update_interval = v.clamp(1, u64::from(u32::MAX)) as u32;
        }
        if let Some(v) = c.tag_batch_size {
            self.tags.batch_size = v.max(1) as usize;
        }
        if let Some(v) = c.tag_queue_size {
            self.tags.queue_size = v as usize;
        }
        if let Some(v) = c.tag_hash_filenames {
            self.tags.hash_filenames = v;
        }
        if c.cache_query_interface.is_some() || c.cache_query_port.is_some() {
            let iface = c.cache_query_interface.clone().unwrap_or_else(|| "0.0.0.0".into());
            let host = if iface.contains(':') { format!("[{iface}]") } else { iface };
            self.query.carbonlink = Some(format!("{host}:{}", c.cache_query_port.unwrap_or(7002)));
        }
        let dir = c.conf_dir.clone().or_else(|| conf_path.parent().map(|p| p.to_path_buf())).unwrap_or_default();
        for (slot, file) in [
            (&mut self.storage_schemas, "storage-schemas.conf"),
            (&mut self.storage_aggregation, "storage-aggregation.conf"),
        ] {
            if slot.is_none() && dir.join(file).exists() {
                *slot = Some(dir.join(file));
            }
        }
        if self.filter.conf_dir.is_none() {
            self.filter.conf_dir = Some(dir);
        }
    }
}

impl Settings {
    /// carbon.conf's receiver and self-metric keys: a port of 0 turns a receiver off, as in carbon; an interface
    /// without a port keeps carbon's default port.
    fn apply_carbon_receivers(&mut self, c: &CarbonCacheSettings) {
        use super::carbon_conf::Limit;
        let addr = |iface: &Option<String>, port: Option<u16>, default_port: u16, current: &Option<String>| {
            if iface.is_none() && port.is_none() {
                return current.clone();
            }
            let port = port.unwrap_or(default_port);
            if port == 0 {
                return None;
            }
            let iface = iface.as_deref().unwrap_or("0.0.0.0");
            Some(if iface.contains(':') { format!("[{iface}]:{port}") } else { format!("{iface}:{port}") })
        };
        let r = &mut self.receivers;
        r.line_tcp = addr(&c.line_receiver_interface, c.line_receiver_port, 2003, &r.line_tcp);
        r.pickle = addr(&c.pickle_receiver_interface, c.pickle_receiver_port, 2004, &r.pickle);
        match c.enable_udp_listener {
            Some(true) => {
                let current = r.line_udp.clone().or_else(|| Some("0.0.0.0:2003".into()));
                r.line_udp = addr(&c.udp_receiver_interface, c.udp_receiver_port, 2003, &current);
            }
            Some(false) => r.line_udp = None,
            None if r.line_udp.is_some() => {
                r.line_udp = addr(&c.udp_receiver_interface, c.udp_receiver_port, 2003, &r.line_udp);
            }
            None => {}
        }
        match &c.max_receiver_connections {
            Some(Limit::Unlimited) => r.max_connections = 0,
            Some(Limit::Max(n)) => r.max_connections = usize::try_from(*n).unwrap_or(usize::MAX).max(1),
            None => {}
        }
        if let Some(p) = &c.carbon_metric_prefix {
            self.stats.metric_prefix = p.clone();
        }
        if let Some(i) = c.carbon_metric_interval {
            self.stats.metric_interval_secs = i;
        }
    }
}

/// Percent-encode the characters that cannot stand in an AMQP URL's user, password or vhost.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
