//! Registration of series with graphite-web's tag database, as carbon 1.1 does it (`TagQueue`,
//! `writeTagsForever` and `TimeSeriesDatabase.tag` in carbon's writer.py and database.py).
//!
//! The writer calls [`TagQueue::created`] for every file it creates and [`TagQueue::updated`] after every write;
//! one in `update_interval` writes is queued again (carbon's `TAG_UPDATE_INTERVAL`), so a series whose
//! registration was lost is registered again while it is written. Both queues are bounded (`TAG_QUEUE_SIZE`
//! each, as carbon's two `Queue(maxsize)`); a full queue drops the series and counts it (`tagsDropped`), so the
//! writer never waits. The [`Registrar`] thread takes up to `TAG_BATCH_SIZE` series (new ones first) and POSTs
//! them as a form (`path=…&path=…`) to `<GRAPHITE_URL>/tags/tagMultiSeries`. carbon logs and forgets a failed
//! POST; warren retries it with back-off (0.2 s doubling to 10 s, [`MAX_ATTEMPTS`] attempts for transport
//! errors and 5xx answers), then counts the batch as dropped. A 4xx answer is not retried.
//!
//! Owns: the two queues, the registration thread and its HTTP client. Never touches: the cache, files, sockets
//! other than its own HTTP connection.

use crate::config::settings::TagSettings;
use crate::lifecycle::Shutdown;
use crate::stats::Stats;
use crossbeam::channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Attempts of one batch before it is given up (transport errors and 5xx answers).
pub const MAX_ATTEMPTS: u32 = 8;

/// How long the thread sleeps when both queues are empty (carbon: 0.2 s).
const IDLE: Duration = Duration::from_millis(200);

/// Timeout of one POST (carbon's `httpRequest` default: 5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer's end: non-blocking, bounded.
pub struct TagQueue {
    add: Sender<String>,
    update: Sender<String>,
    update_interval: u32,
    update_counter: u32,
    stats: Arc<Stats>,
}

impl TagQueue {
    /// A series whose file was just created: queue it (dropped and counted when the queue is full).
    pub fn created(&mut self, metric: &str) {
        self.offer(true, metric);
    }

    /// A series just written: queue one in `update_interval` (carbon's counter runs over every metric).
    pub fn updated(&mut self, metric: &str) {
        self.update_counter = self.update_counter % self.update_interval + 1;
        if self.update_counter == 1 {
            self.offer(false, metric);
        }
    }

    fn offer(&self, new: bool, metric: &str) {
        let q = if new { &self.add } else { &self.update };
        match q.try_send(metric.to_string()) {
            Ok(()) => Stats::add(&self.stats.tags_queued, 1),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Stats::add(&self.stats.tags_dropped, 1),
        }
    }
}

/// Start the registration thread for `settings`; returns it and the writer's end of the queues. The thread stops
/// once the [`TagQueue`] is dropped (with the writer) and what was queued by then has been sent; after
/// `shutdown.stop` a failed POST is not retried, so stopping never waits on an absent graphite-web for long.
pub fn start(
    settings: &TagSettings,
    stats: Arc<Stats>,
    shutdown: Arc<Shutdown>,
) -> std::io::Result<(JoinHandle<()>, TagQueue)> {
    let cap = settings.queue_size.max(1);
    let (add_tx, add_rx) = bounded(cap);
    let (update_tx, update_rx) = bounded(cap);
    let queue = TagQueue {
        add: add_tx,
        update: update_tx,
        update_interval: settings.update_interval.max(1),
        update_counter: 0,
        stats: stats.clone(),
    };
    let url = format!("{}/tags/tagMultiSeries", settings.graphite_url.trim_end_matches('/'));
    let client = Client { url, agent: ureq::AgentBuilder::new().timeout(REQUEST_TIMEOUT).build(), stats };
    let batch_size = settings.batch_size.max(1);
    let thread = std::thread::Builder::new()
        .name("tagdb".into())
        .spawn(move || run(client, add_rx, update_rx, batch_size, shutdown))?;
    Ok((thread, queue))
}

struct Client {
    url: String,
    agent: ureq::Agent,
    stats: Arc<Stats>,
}

/// Why one POST failed.
#[derive(Debug, thiserror::Error)]
enum PostError {
    /// graphite-web refused the request: retrying would not help.
    #[error("graphite-web answered {0}")]
    Refused(u16),
    /// Transport error or a 5xx answer: worth retrying.
    #[error("{0}")]
    Transient(String),
}

impl Client {
    fn post(&self, batch: &[String]) -> Result<(), PostError> {
        Stats::add(&self.stats.tag_requests, 1);
        let form: Vec<(&str, &str)> = batch.iter().map(|m| ("path", m.as_str())).collect();
        match self.agent.post(&self.url).send_form(&form) {
            Ok(resp) => {
                // Read the body so the connection can be reused.
                let _ = resp.into_string();
                Ok(())
            }
            Err(ureq::Error::Status(code, _)) if code < 500 => Err(PostError::Refused(code)),
            Err(ureq::Error::Status(code, _)) => Err(PostError::Transient(format!("graphite-web answered {code}"))),
            Err(e) => Err(PostError::Transient(e.to_string())),
        }
    }
}

/// Up to `max` series, new ones first; and whether both queues are empty with their sender gone.
fn take_batch(add: &Receiver<String>, update: &Receiver<String>, max: usize) -> (Vec<String>, bool) {
    let mut batch = Vec::new();
    let mut gone = 0;
    for q in [add, update] {
        while batch.len() < max {
            match q.try_recv() {
                Ok(m) => batch.push(m),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    gone += 1;
                    break;
                }
            }
        }
    }
    (batch, gone == 2)
}

fn run(client: Client, add: Receiver<String>, update: Receiver<String>, batch_size: usize, shutdown: Arc<Shutdown>) {
    let done = || shutdown.stop.load(Ordering::Acquire);
    let mut errors_logged = LogLimit::default();
    loop {
        let (batch, gone) = take_batch(&add, &update, batch_size);
        if batch.is_empty() {
            if gone {
                return;
            }
            std::thread::sleep(IDLE);
            continue;
        }
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match client.post(&batch) {
                Ok(()) => {
                    Stats::add(&client.stats.tags_registered, batch.len() as u64);
                    break;
                }
                Err(e) => {
                    Stats::add(&client.stats.tag_errors, 1);
                    let give_up = matches!(e, PostError::Refused(_)) || attempt >= MAX_ATTEMPTS || done();
                    errors_logged.log(&client.url, &e, batch.len(), give_up);
                    if give_up {
                        Stats::add(&client.stats.tags_dropped, batch.len() as u64);
                        break;
                    }
                    sleep_unless(&shutdown, delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                    attempt += 1;
                }
            }
        }
    }
}

/// Sleep `d`, waking early once a stop is requested.
fn sleep_unless(shutdown: &Shutdown, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !shutdown.stop.load(Ordering::Acquire) {
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
}

/// At most 10 error lines a minute.
#[derive(Default)]
struct LogLimit {
    window: Option<Instant>,
    logged: u32,
}

impl LogLimit {
    fn log(&mut self, url: &str, e: &PostError, series: usize, giving_up: bool) {
        let now = Instant::now();
        if self.window.is_none_or(|w| now.duration_since(w) >= Duration::from_secs(60)) {
            self.window = Some(now);
            self.logged = 0;
        }
        if self.logged < 10 {
            self.logged += 1;
            tracing::warn!(url, error = %e, series, giving_up, "tag registration failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(size: usize, interval: u32) -> (TagQueue, Receiver<String>, Receiver<String>, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        let (add, add_rx) = bounded(size);
        let (update, update_rx) = bounded(size);
        (
            TagQueue { add, update, update_interval: interval, update_counter: 0, stats: stats.clone() },
            add_rx,
            update_rx,
            stats,
        )
    }

    #[test]
    fn one_update_in_interval_is_queued_and_new_series_come_first() {
        let (mut q, add, update, stats) = queue(100, 3);
        for i in 0..7 {
            q.updated(&format!("u{i}"));
        }
        q.created("new1");
        q.created("new2");
        // Counter 1, 2, 3, 1, 2, 3, 1: the 1st, 4th and 7th writes are queued (carbon's modulo counter).
        assert_eq!(take_batch(&add, &update, 10).0, ["new1", "new2", "u0", "u3", "u6"]);
        assert_eq!(stats.tags_queued.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (mut q, add, update, stats) = queue(2, 1);
        for i in 0..5 {
            q.created(&format!("m{i}"));
        }
        assert_eq!(stats.tags_queued.load(Ordering::Relaxed), 2);
        assert_eq!(stats.tags_dropped.load(Ordering::Relaxed), 3);
        assert_eq!(take_batch(&add, &update, 1).0, ["m0"]);
        assert_eq!(take_batch(&add, &update, 10).0, ["m1"]);
        assert_eq!(take_batch(&add, &update, 10), (vec![], false));
        drop(q);
        assert_eq!(
            take_batch(&add, &update, 10),
            (Vec::<String>::new(), true),
            "the writer is gone: the thread may end"
        );
    }
}
