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
use std::sync::{Arc, Mutex, MutexGuard};

/// The bind patterns in force, shared by the workers (which bind them on every connect) and the reload
/// (which changes them on the live queue). Both bind while holding the lock, so a worker reconnecting during a
/// reload never binds a pattern the reload has just removed.
#[derive(Clone, Debug, Default)]
pub struct LivePatterns(Arc<Mutex<Vec<String>>>);

impl LivePatterns {
    /// Patterns starting as `patterns`.
    pub fn new(patterns: Vec<String>) -> Self {
        LivePatterns(Arc::new(Mutex::new(patterns)))
    }

    /// Hold the patterns (to bind them, or to change them).
    pub fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        // Poisoned only if a thread panicked while holding it; the list itself is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the patterns now in force.
    pub fn get(&self) -> Vec<String> {
        self.lock().clone()
    }
}

/// What a live rebind did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindChange {
    /// Patterns bound that were not before.
    pub added: Vec<String>,
    /// Patterns unbound.
    pub removed: Vec<String>,
    /// Patterns dropped from the configuration but left bound: the topic → hash-exchange bindings are shared by
    /// every instance of a consistent-hash cluster, so one instance must not remove them.
    pub left_shared: Vec<String>,
}

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
    /// Declare the named queue as a quorum queue (`x-queue-type = quorum`, replicated over a RabbitMQ cluster)
    /// instead of a classic one.
    pub quorum: bool,
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
        let mut arguments = FieldTable::new();
        if self.quorum && !exclusive {
            arguments.insert("x-queue-type".into(), amiquip::AmqpValue::LongString("quorum".into()));
        }
        let queue = channel.queue_declare(
            self.queue.as_str(),
            QueueDeclareOptions { durable: !exclusive, exclusive, arguments, ..QueueDeclareOptions::default() },
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

    /// Change the bindings of the live queue from `previous` to `self.bind_patterns`: bind the new patterns
    /// first, then unbind the removed ones, so a metric matched by both the old and the new set is routed to the
    /// queue at every instant (the queue is never left unbound). Consumers keep consuming throughout. Remembers
    /// the new set for the next start. Named queues only (an exclusive queue belongs to its worker's connection).
    pub fn rebind(&self, channel: &Channel, previous: &[String]) -> amiquip::Result<BindChange> {
        let mut change = BindChange::default();
        let added: Vec<String> = self.bind_patterns.iter().filter(|p| !previous.contains(p)).cloned().collect();
        let removed: Vec<String> = previous.iter().filter(|p| !self.bind_patterns.contains(p)).cloned().collect();
        for p in &added {
            match &self.hash {
                None => {
                    channel.queue_bind(self.queue.as_str(), self.exchange.as_str(), p.as_str(), FieldTable::new())?
                }
                Some(h) => {
                    channel.exchange_bind(h.exchange.as_str(), self.exchange.as_str(), p.as_str(), FieldTable::new())?
                }
            }
            tracing::info!(queue = %self.queue, pattern = %p, "bound a new pattern");
        }
        change.added = added;
        for p in removed {
            if self.hash.is_some() {
                tracing::warn!(pattern = %p, "pattern left bound: hash fan-out bindings are shared by every instance");
                change.left_shared.push(p);
                continue;
            }
            channel.queue_unbind(self.queue.as_str(), self.exchange.as_str(), p.as_str(), FieldTable::new())?;
            tracing::info!(queue = %self.queue, pattern = %p, "unbound a pattern no longer configured");
            change.removed.push(p);
        }
        self.remember();
        Ok(change)
    }

    /// Write the bound patterns to the state file (named queues bound directly only).
    fn remember(&self) {
        let (Some(path), false, None) = (&self.state_file, self.queue.is_empty(), &self.hash) else { return };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = crate::atomicfile::write_atomically(path, (self.bind_patterns.join("\n") + "\n").as_bytes()) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remember the bind patterns");
        }
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
        self.remember();
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

/// How a set of metric names spreads over instances that bind topic patterns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatternPlan {
    /// Metrics routed to each instance, in the order the instances were given.
    pub per_instance: Vec<u64>,
    /// Metrics no instance binds (the broker drops them).
    pub unrouted: u64,
    /// Metrics routed to more than one instance (replicated).
    pub replicated: u64,
}

/// Route every name through every instance's patterns as the broker would.
pub fn plan_patterns<'a>(instances: &[Vec<String>], names: impl IntoIterator<Item = &'a str>) -> PatternPlan {
    let mut plan = PatternPlan { per_instance: vec![0; instances.len()], ..PatternPlan::default() };
    for name in names {
        let mut hits = 0;
        for (i, patterns) in instances.iter().enumerate() {
            if patterns.iter().any(|p| topic_matches(p, name)) {
                plan.per_instance[i] += 1;
                hits += 1;
            }
        }
        match hits {
            0 => plan.unrouted += 1,
            1 => {}
            _ => plan.replicated += 1,
        }
    }
    plan
}

/// Ask the real broker how an `x-consistent-hash` exchange spreads `names` over queues bound with `weights`:
/// declares a temporary hash exchange and one temporary queue per weight, publishes each name as a routing key
/// (empty body), counts each queue's messages, and deletes everything. Exact, because the broker's own hash
/// decides. Needs the rabbitmq_consistent_hash_exchange plugin.
pub fn probe_hash_spread<'a>(
    url: &str,
    weights: &[u32],
    names: impl IntoIterator<Item = &'a str>,
) -> amiquip::Result<Vec<u64>> {
    use amiquip::{AmqpProperties, Connection, Publish, QueueDeleteOptions};
    let mut conn = Connection::insecure_open(url)?;
    let channel = conn.open_channel(None)?;
    let tag = format!(
        "warren.plan.{}.{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    );
    let ex = channel.exchange_declare(
        ExchangeType::Custom("x-consistent-hash".into()),
        tag.as_str(),
        ExchangeDeclareOptions { auto_delete: true, ..ExchangeDeclareOptions::default() },
    )?;
    let mut queues = Vec::new();
    for (i, w) in weights.iter().enumerate() {
        let q = channel.queue_declare(format!("{tag}.{i}"), QueueDeclareOptions::default())?;
        q.bind(&ex, w.to_string(), FieldTable::new())?;
        queues.push(q.name().to_string());
    }
    channel.enable_publisher_confirms()?;
    let confirms = channel.listen_for_publisher_confirms()?;
    let mut sent = 0u64;
    for name in names {
        ex.publish(Publish::with_properties(b"", name, AmqpProperties::default()))?;
        sent += 1;
    }
    // Every tag confirmed, counted one by one: a single confirm of a high tag says nothing of the lower ones.
    let mut confirmed = vec![false; sent as usize + 1];
    let (mut through, mut count) = (0u64, 0u64);
    while count < sent {
        let p = match confirms.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(amiquip::Confirm::Ack(p)) | Ok(amiquip::Confirm::Nack(p)) => p,
            Err(_) => break,
        };
        let tags = if p.multiple { through + 1..=p.delivery_tag } else { p.delivery_tag..=p.delivery_tag };
        for t in tags {
            if let Some(c) = confirmed.get_mut(t as usize).filter(|c| !**c) {
                *c = true;
                count += 1;
            }
        }
        if p.multiple {
            through = through.max(p.delivery_tag);
        }
    }
    // Each name is routed to exactly one queue: wait (bounded) until the queues' counts add up to what was sent,
    // so no message still on its way is missed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let counts = loop {
        let mut counts = Vec::new();
        for q in &queues {
            counts.push(u64::from(channel.queue_declare_passive(q.as_str())?.declared_message_count().unwrap_or(0)));
        }
        if counts.iter().sum::<u64>() >= sent || std::time::Instant::now() >= deadline {
            break counts;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    for q in queues {
        channel.queue_delete(q, QueueDeleteOptions::default())?;
    }
    channel.exchange_delete(tag, false)?;
    let _ = conn.close();
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::{plan_patterns, topic_matches};

    #[test]
    fn a_pattern_plan_counts_unrouted_and_replicated_metrics() {
        let inst = vec![vec!["web.#".to_string()], vec!["db.#".to_string(), "web.*.cpu".to_string()]];
        let names = ["web.a.cpu", "web.a.mem", "db.x", "other"];
        let p = plan_patterns(&inst, names.iter().copied());
        assert_eq!(p.per_instance, vec![2, 2]);
        assert_eq!((p.unrouted, p.replicated), (1, 1));
    }

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
