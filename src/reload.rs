//! SIGHUP: apply a re-read configuration to the running engine, without a restart and without losing a delivery.
//!
//! - storage-schemas.conf and storage-aggregation.conf are read again and handed to the writer; they shape the
//!   files created from then on (existing files keep their archives, as in carbon). A file that does not parse
//!   keeps the old rules, and the reason is reported.
//! - bind patterns: the new ones are bound first, then the removed ones unbound, on the live queue, while the
//!   workers keep consuming (see [`crate::ingest::topology::Topology::rebind`]).
//! - log_creates: switched with the rules. The log files themselves are reopened by the caller
//!   ([`crate::logging::Logs`]).
//! - filter/rewrite rules (`[filter]`, and whitelist.conf / blacklist.conf / rewrite-rules.conf in its
//!   `conf_dir`): compiled again and swapped in for every input (see [`crate::filter::live`]); a rule that does
//!   not compile keeps the old filter.
//! - Everything else needs a restart and is named in the report.
//!
//! Owns: the settings in force. Never touches: files being written, deliveries.

use crate::cache::writer::{ConfRules, NewRules};
use crate::config::settings::Settings;
use crate::ingest::amqp::{topology_with, AmqpWorkerConfig};
use crate::ingest::topology::BindChange;

/// Why part of a reload did not happen (the old configuration of that part stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// A rule file that does not parse or cannot be read.
    #[error("{0}")]
    Rules(#[from] crate::config::ConfigError),
    /// The writer has stopped.
    #[error("the writer has stopped")]
    WriterGone,
    /// The broker refused or could not be reached.
    #[error("broker: {0}")]
    Broker(#[from] amiquip::Error),
    /// A filter or rewrite rule that does not compile, or a rules file that cannot be read.
    #[error("{0}")]
    Filter(#[from] crate::filter::FilterError),
    /// An exclusive server-named queue belongs to its worker's connection: another cannot bind it.
    #[error("the queue is carbon's exclusive server-named queue (queue = \"\"): bind patterns change at restart")]
    ExclusiveQueue,
}

/// What one reload did.
#[derive(Debug)]
pub struct Reloaded {
    /// The new rule files are in force for new files.
    pub rules: Result<(), ReloadError>,
    /// The new filter/rewrite rules are in force for every input.
    pub filter: Result<(), ReloadError>,
    /// The bindings changed (or nothing to change).
    pub bindings: Result<BindChange, ReloadError>,
    /// Settings that changed but only take effect at the next start.
    pub need_restart: Vec<&'static str>,
}

impl Reloaded {
    /// True when every reloadable part was applied.
    pub fn ok(&self) -> bool {
        self.rules.is_ok() && self.filter.is_ok() && self.bindings.is_ok()
    }

    /// Log the outcome: one line per part.
    pub fn log(&self) {
        match &self.rules {
            Ok(()) => tracing::info!("reload: storage-schemas and storage-aggregation rules re-read"),
            Err(e) => tracing::error!(error = %e, "reload: rule files not applied; the previous rules stay in force"),
        }
        match &self.filter {
            Ok(()) => tracing::info!("reload: filter and rewrite rules re-read"),
            Err(e) => tracing::error!(error = %e, "reload: filter rules not applied; the previous ones stay in force"),
        }
        match &self.bindings {
            Ok(c) => {
                tracing::info!(added = ?c.added, removed = ?c.removed, left_shared = ?c.left_shared, "reload: bindings")
            }
            Err(e) => tracing::error!(error = %e, "reload: bind patterns not changed; the previous ones stay bound"),
        }
        if !self.need_restart.is_empty() {
            tracing::warn!(settings = ?self.need_restart, "reload: these changed settings take effect at the next start");
        }
    }
}

/// The reloadable state of a running engine.
pub struct Reloader {
    current: Settings,
    rules: crossbeam::channel::Sender<NewRules>,
    amqp: AmqpWorkerConfig,
    filter: crate::filter::live::LiveFilter,
}

impl Reloader {
    /// A reloader for an engine started with `settings`, whose writer takes rules from `rules` and whose
    /// workers bind `amqp.bind_patterns` and filter with `amqp.filter`.
    pub fn new(settings: Settings, rules: crossbeam::channel::Sender<NewRules>, amqp: AmqpWorkerConfig) -> Self {
        let filter = amqp.filter.clone();
        Reloader { current: settings, rules, amqp, filter }
    }

    /// The settings in force (the reloaded parts updated).
    pub fn current(&self) -> &Settings {
        &self.current
    }

    /// Apply `new` where it can be applied live; see the module doc.
    pub fn reload(&mut self, new: &Settings) -> Reloaded {
        let need_restart = restart_needed(&self.current, new);
        let rules = self.reload_rules(new);
        let filter = self.reload_filter(new);
        let bindings = self.rebind(&new.amqp.bind_patterns);
        Reloaded { rules, filter, bindings, need_restart }
    }

    fn reload_filter(&mut self, new: &Settings) -> Result<(), ReloadError> {
        let f = crate::filter::Filter::load(&new.filter)?;
        self.filter.set(f.map(std::sync::Arc::new));
        self.current.filter = new.filter.clone();
        Ok(())
    }

    fn reload_rules(&mut self, new: &Settings) -> Result<(), ReloadError> {
        let rules = ConfRules::load(new)?;
        self.rules
            .send(NewRules { rules: Box::new(rules), log_creates: new.log_creates })
            .map_err(|_| ReloadError::WriterGone)?;
        self.current.storage_schemas = new.storage_schemas.clone();
        self.current.storage_aggregation = new.storage_aggregation.clone();
        self.current.log_creates = new.log_creates;
        self.current.log_file = new.log_file.clone();
        self.current.creates_log = new.creates_log.clone();
        Ok(())
    }

    fn rebind(&mut self, new: &[String]) -> Result<BindChange, ReloadError> {
        let mut patterns = self.amqp.bind_patterns.lock();
        if patterns.as_slice() == new {
            return Ok(BindChange::default());
        }
        if self.current.amqp.enabled {
            if self.amqp.queue.is_empty() {
                return Err(ReloadError::ExclusiveQueue);
            }
            // Any reachable node of the cluster will do: bindings are cluster-wide.
            let mut conn = first_reachable(&self.amqp.urls)?;
            let result = conn.open_channel(None).and_then(|ch| {
                let topology = topology_with(&self.amqp, new.to_vec());
                topology.rebind(&ch, &patterns)
            });
            let _ = conn.close();
            let change = result?;
            *patterns = new.to_vec();
            self.current.amqp.bind_patterns = new.to_vec();
            return Ok(change);
        }
        *patterns = new.to_vec();
        self.current.amqp.bind_patterns = new.to_vec();
        Ok(BindChange { added: new.to_vec(), ..BindChange::default() })
    }
}

/// A connection to the first node of `urls` that accepts one (the last error when none does).
fn first_reachable(urls: &[String]) -> amiquip::Result<amiquip::Connection> {
    let (last, others) = urls.split_last().map_or(("", &[][..]), |(l, o)| (l.as_str(), o));
    others
        .iter()
        .find_map(|u| amiquip::Connection::insecure_open(u).ok())
        .map_or_else(|| amiquip::Connection::insecure_open(last), Ok)
}

/// The parts of `new` that differ from `current` and are not applied live.
pub fn restart_needed(current: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut probe = new.clone();
    probe.storage_schemas = current.storage_schemas.clone();
    probe.storage_aggregation = current.storage_aggregation.clone();
    probe.log_file = current.log_file.clone();
    probe.log_creates = current.log_creates;
    probe.creates_log = current.creates_log.clone();
    probe.amqp.bind_patterns = current.amqp.bind_patterns.clone();
    probe.filter = current.filter.clone();
    let mut out = Vec::new();
    let sections: [(&'static str, bool); 8] = [
        ("instance", probe.instance != current.instance),
        ("data_dir", probe.data_dir != current.data_dir),
        ("[amqp]", probe.amqp != current.amqp),
        ("[cache]", probe.cache != current.cache),
        ("[whisper]", probe.whisper != current.whisper),
        ("[receivers]", probe.receivers != current.receivers),
        ("[stats]", probe.stats != current.stats),
        ("[query]", probe.query != current.query),
    ];
    out.extend(sections.iter().filter(|(_, changed)| *changed).map(|(name, _)| *name));
    if out.is_empty() && probe != *current {
        out.push("other settings");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_settings_that_cannot_change_live_need_a_restart() {
        let cur = Settings::default();
        let mut new = cur.clone();
        new.amqp.bind_patterns = vec!["a.#".into()];
        new.storage_schemas = Some("/x".into());
        new.log_file = Some("/y".into());
        assert!(restart_needed(&cur, &new).is_empty());
        new.amqp.prefetch = 7;
        new.cache.max_size = 5;
        assert_eq!(restart_needed(&cur, &new), vec!["[amqp]", "[cache]"]);
    }
}
