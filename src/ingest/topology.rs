//! The broker-side shape warren consumes from, and the routing rules it relies on.
//!
//! Default: a durable topic exchange, one queue bound once per bind pattern. Optional consistent-hash fan-out
//! (plugin `rabbitmq_consistent_hash_exchange`): topic exchange → (bound per pattern) → an `x-consistent-hash`
//! exchange → this instance's queue, bound with its weight as routing key, so N instances share the metric space
//! in proportion to their weights and an operator adds a node by starting one more instance.
//!
//! Owns: declaring, binding and unbinding. Never touches: deliveries, files.

use amiquip::{Channel, ExchangeDeclareOptions, ExchangeType, FieldTable, QueueDeclareOptions};
use std::path::PathBuf;

/// Consistent-hash partitioning: the hash exchange's name and this instance's weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashFanout {
    pub exchange: String,
    pub weight: u32,
}

/// Exchanges, queue and bindings of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// The topic exchange publishers send to.
    pub exchange: String,
    /// `""` = an exclusive server-named queue.
    pub queue: String,
    /// Topic patterns (to the queue, or to the hash exchange when `hash` is set).
    pub bind_patterns: Vec<String>,
    pub hash: Option<HashFanout>,
    /// Where the patterns bound last time are remembered, so patterns dropped from the configuration are
    /// unbound at the next start (named queues only).
    pub state_file: Option<PathBuf>,
}

fn durable() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() }
}

impl Topology {
    /// Declare everything and bind every pattern; returns the queue's name (the server's choice for `""`).
    /// Idempotent: every worker calls it on every connect.
    pub fn declare(&self, channel: &Channel) -> amiquip::Result<String> {
        channel.exchange_declare(ExchangeType::Topic, self.exchange.as_str(), durable())?;
        let exclusive = self.queue.is_empty();
        let queue = channel.queue_declare(
            self.queue.as_str(),
            QueueDeclareOptions { durable: !exclusive, exclusive, ..QueueDeclareOptions::default() },
        )?;
        match &self.hash {
            None => {
                for p in &self.bind_patterns {
                    channel.queue_bind(queue.name(), self.exchange.as_str(), p.as_str(), FieldTable::new())?;
                }
            }
            Some(h) => {
                channel.exchange_declare(
                    ExchangeType::Custom("x-consistent-hash".into()),
                    h.exchange.as_str(),
                    durable(),
                )?;
                for p in &self.bind_patterns {
                    channel.exchange_bind(
                        h.exchange.as_str(),
                        self.exchange.as_str(),
                        p.as_str(),
                        FieldTable::new(),
                    )?;
                }
                channel.queue_bind(queue.name(), h.exchange.as_str(), h.weight.to_string(), FieldTable::new())?;
            }
        }
        Ok(queue.name().to_string())
    }

    /// Unbind patterns remembered from the previous run that are no longer configured, then remember the
    /// current ones. Only for a named queue bound directly to the topic exchange.
    pub fn unbind_stale(&self, channel: &Channel) -> amiquip::Result<Vec<String>> {
        let (Some(path), false, None) = (&self.state_file, self.queue.is_empty(), &self.hash) else {
            return Ok(Vec::new());
        };
        let previous: Vec<String> = std::fs::read_to_string(path)
            .map(|t| t.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
            .unwrap_or_default();
        let stale: Vec<String> = previous.into_iter().filter(|p| !self.bind_patterns.contains(p)).collect();
        for p in &stale {
            channel.queue_unbind(self.queue.as_str(), self.exchange.as_str(), p.as_str(), FieldTable::new())?;
            tracing::info!(queue = %self.queue, pattern = %p, "unbound a pattern no longer configured");
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(path, self.bind_patterns.join("\n") + "\n") {
            tracing::warn!(path = %path.display(), error = %e, "cannot remember the bind patterns");
        }
        Ok(stale)
    }
}

/// AMQP topic matching, as the broker does it: words separated by `.`, `*` matches exactly one word, `#` zero
/// or more words.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    // match_from[i][j]: does p[i..] match k[j..]? Filled backwards; small inputs, no recursion blow-up.
    let mut m = vec![vec![false; k.len() + 1]; p.len() + 1];
    m[p.len()][k.len()] = true;
    for i in (0..p.len()).rev() {
        for j in (0..=k.len()).rev() {
            m[i][j] = match p[i] {
                "#" => m[i + 1][j] || (j < k.len() && m[i][j + 1]),
                "*" => j < k.len() && m[i + 1][j + 1],
                w => j < k.len() && k[j] == w && m[i + 1][j + 1],
            };
        }
    }
    m[0][0]
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn star_is_one_word_and_hash_is_zero_or_more() {
        assert!(topic_matches("#", "a"));
        assert!(topic_matches("#", "a.b.c"));
        assert!(topic_matches("servers.*.cpu", "servers.web01.cpu"));
        assert!(!topic_matches("servers.*.cpu", "servers.a.b.cpu"));
        assert!(!topic_matches("servers.*.cpu", "servers.cpu"));
        assert!(topic_matches("apps.#", "apps"));
        assert!(topic_matches("apps.#", "apps.x.y"));
        assert!(!topic_matches("apps.#", "application.x"));
        assert!(topic_matches("a.#.z", "a.z"));
        assert!(topic_matches("a.#.z", "a.b.c.z"));
        assert!(!topic_matches("a.#.z", "a.b.c"));
        assert!(topic_matches("*.#", "a"));
        assert!(!topic_matches("*", "a.b"));
    }
}
