//! The cleanup of the broker objects a test declares, as a Drop guard: a [`Declared`] owns exchange and queue
//! names on one broker and deletes them when it drops, at the end of the test or while the test unwinds from a
//! failed assertion, so that a test failing mid-way leaves nothing on the shared broker (`.ci/run` compares the
//! broker's exchanges and queues before and after the suite).
//!
//! Create it before the engines that consume from its queues: locals drop in reverse order, so the engines stop
//! (and can no longer re-declare a queue) before their queues are deleted. In a fixture struct, put it after the
//! engine: fields drop in declaration order.

use amiquip::Connection;
use std::cell::RefCell;

/// Exchanges and queues on the broker at `url`, deleted (queues first) when this drops.
pub struct Declared {
    url: String,
    exchanges: RefCell<Vec<String>>,
    queues: RefCell<Vec<String>>,
}

impl Declared {
    /// Own `exchanges` and `queues` (declared by the test, a publisher or an engine; before or after this call).
    pub fn new(url: &str, exchanges: &[&str], queues: &[&str]) -> Declared {
        let owned = |names: &[&str]| RefCell::new(names.iter().map(|n| n.to_string()).collect());
        Declared { url: url.to_string(), exchanges: owned(exchanges), queues: owned(queues) }
    }

    /// Own one more exchange.
    pub fn exchange(&self, name: &str) {
        self.exchanges.borrow_mut().push(name.to_string());
    }

    /// Own one more queue.
    pub fn queue(&self, name: &str) {
        self.queues.borrow_mut().push(name.to_string());
    }

    /// Delete every queue, then every exchange, each on a channel of its own (a failed delete closes its
    /// channel, and must not skip the next one). RabbitMQ deletes idempotently: one already gone is no error.
    fn delete_all(&self) -> Result<(), String> {
        let mut conn = Connection::insecure_open(&self.url).map_err(|e| format!("connect {}: {e}", self.url))?;
        let mut failed = Vec::new();
        for q in self.queues.borrow().iter() {
            let deleted = conn.open_channel(None).and_then(|ch| ch.queue_delete(q.as_str(), Default::default()));
            if let Err(e) = deleted {
                failed.push(format!("queue {q}: {e}"));
            }
        }
        for x in self.exchanges.borrow().iter() {
            let deleted = conn.open_channel(None).and_then(|ch| ch.exchange_delete(x.as_str(), false));
            if let Err(e) = deleted {
                failed.push(format!("exchange {x}: {e}"));
            }
        }
        let _ = conn.close();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }
}

impl Drop for Declared {
    /// A delete that fails fails the test, unless it is failing already (a second panic would abort the
    /// process and hide the first message).
    fn drop(&mut self) {
        if let Err(e) = self.delete_all() {
            if std::thread::panicking() {
                eprintln!("cleanup after a failed test: deleting {e}");
            } else {
                panic!("cleanup: deleting {e}");
            }
        }
    }
}

/// Whether exchange `name` exists on the broker at `url`: a passive declare on a channel of its own, which the
/// broker closes with 404 when there is no such exchange. Any other answer panics (it would prove nothing).
pub fn exchange_exists(url: &str, name: &str) -> bool {
    passive(url, name, |ch, n| ch.exchange_declare_passive(n).map(drop))
}

/// Whether queue `name` exists on the broker at `url` (a passive declare, as [`exchange_exists`]).
pub fn queue_exists(url: &str, name: &str) -> bool {
    passive(url, name, |ch, n| ch.queue_declare_passive(n).map(drop))
}

fn passive(url: &str, name: &str, declare: impl FnOnce(&amiquip::Channel, &str) -> amiquip::Result<()>) -> bool {
    let mut conn = Connection::insecure_open(url).expect("broker reachable");
    let found = match declare(&conn.open_channel(None).unwrap(), name) {
        Ok(()) => true,
        Err(amiquip::Error::ServerClosedChannel { code: 404, .. }) => false,
        Err(e) => panic!("passive declare of {name}: {e}"),
    };
    let _ = conn.close();
    found
}
