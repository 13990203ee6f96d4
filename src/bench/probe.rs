//! The latency probe of a live run: every `every`, it asks the publisher for a copy of the next message it sends
//! (and when it handed it to the broker; see [`PublishProgress::sample_wanted`]), then polls, every `poll`, until
//! that message's first point is
//! - *queryable*: warren's HTTP render API (whisper file and the writer's cache merged, as graphite-web reads)
//!   returns its value at its timestamp, and
//! - *durable*: the whisper file holds it (read straight from disk, without warren).
//!
//! Each delay, from the send to the first poll that saw it, goes into an hdrhistogram (microseconds). A message is
//! polled `poll` after it was sent, then again after a tenth of its age (at least `poll`): the resolution is
//! `poll` or 10 % of the delay, whichever is larger, and the probe's own load stays small even when warren falls
//! behind and many messages are followed at once. Messages are sampled at a steady pace whatever the delays (a
//! slow stretch is not under-sampled); beyond `max_in_flight` followed messages, sampling pauses and the pause is
//! counted in [`ProbeResult::skipped`].
//!
//! Owns: its HTTP agent. Never touches: the broker, warren's files for writing.

use super::load::Message;
use super::publish::PublishProgress;
use super::verify::read_archive0;
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to probe and how often.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// warren's HTTP API.
    pub http: SocketAddr,
    /// The whisper tree warren writes.
    pub data_dir: PathBuf,
    /// Seconds per point of the load (the render window around a probed point).
    pub interval: u32,
    /// Messages carry `metric value timestamp` lines (else the routing key is the metric).
    pub name_in_body: bool,
    /// Time between two probed messages (at least).
    pub every: Duration,
    /// Shortest time between two polls of a followed message.
    pub poll: Duration,
    /// Most messages followed at once.
    pub max_in_flight: usize,
    /// After the publisher finished, how long to wait for the messages still followed.
    pub give_up: Duration,
}

impl ProbeConfig {
    /// The defaults for `http` and `data_dir`: a message every 20 ms, polled at least 2 ms apart, up to 1000 at once.
    pub fn new(http: SocketAddr, data_dir: PathBuf, interval: u32, name_in_body: bool) -> Self {
        ProbeConfig {
            http,
            data_dir,
            interval: interval.max(1),
            name_in_body,
            every: Duration::from_millis(20),
            poll: Duration::from_millis(2),
            max_in_flight: 1000,
            give_up: Duration::from_secs(30),
        }
    }
}

/// The two delays, over every probed message.
pub struct ProbeResult {
    /// Send → the render API returns the point (µs).
    pub queryable: Histogram<u64>,
    /// Send → the whisper file holds the point (µs).
    pub durable: Histogram<u64>,
    /// Messages still not seen when the probe gave up.
    pub unresolved: u64,
    /// Render requests that failed (not counted as "not yet").
    pub errors: u64,
    /// Samples not taken because `max_in_flight` messages were followed already.
    pub skipped: u64,
    /// Poll interval (the resolution of both delays).
    pub poll: Duration,
}

impl ProbeResult {
    /// p50, p99 and p99.9 of `h`, in milliseconds.
    pub fn percentiles_ms(h: &Histogram<u64>) -> [f64; 3] {
        [0.5, 0.99, 0.999].map(|q| h.value_at_quantile(q) as f64 / 1000.0)
    }
}

struct Followed {
    metric: String,
    path: PathBuf,
    timestamp: u32,
    value: f64,
    sent: Instant,
    next_poll: Instant,
    queryable: bool,
    durable: bool,
}

/// Probe until `stop` is set (the publisher finished) and every followed message was seen, or `give_up` passed.
pub fn run(cfg: &ProbeConfig, progress: &PublishProgress, stop: &AtomicBool) -> ProbeResult {
    // Invariant: 1 µs .. 1 h with 3 significant figures is a valid histogram configuration.
    let hist = || Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
    let mut r =
        ProbeResult { queryable: hist(), durable: hist(), unresolved: 0, errors: 0, skipped: 0, poll: cfg.poll };
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
    let mut followed: Vec<Followed> = Vec::new();
    let mut last_request: Option<Instant> = None;
    let mut stopped_at: Option<Instant> = None;
    loop {
        if stopped_at.is_none() && stop.load(Ordering::Relaxed) {
            stopped_at = Some(Instant::now());
            progress.sample_wanted.store(false, Ordering::Relaxed);
        }
        match stopped_at {
            Some(t) if followed.is_empty() || t.elapsed() > cfg.give_up => break,
            Some(_) => {}
            None => {
                if last_request.is_none_or(|t| t.elapsed() >= cfg.every) {
                    if followed.len() < cfg.max_in_flight {
                        progress.sample_wanted.store(true, Ordering::Relaxed);
                    } else {
                        r.skipped += 1;
                    }
                    last_request = Some(Instant::now());
                }
            }
        }
        if let Some((msg, sent)) = progress.take_sample() {
            if let Some(f) = follow(cfg, &msg, sent) {
                followed.push(f);
            }
        }
        let now = Instant::now();
        for f in followed.iter_mut().filter(|f| f.next_poll <= now) {
            f.next_poll = now + cfg.poll.max(now.duration_since(f.sent) / 10);
            if !f.queryable {
                match rendered(&agent, cfg, f) {
                    Ok(true) => {
                        f.queryable = true;
                        let _ = r.queryable.record((f.sent.elapsed().as_micros() as u64).max(1));
                    }
                    Ok(false) => {}
                    Err(()) => r.errors += 1,
                }
            }
            if !f.durable && read_archive0(&f.path).ok().and_then(|a| a.value_at(f.timestamp)) == Some(f.value) {
                f.durable = true;
                let _ = r.durable.record((f.sent.elapsed().as_micros() as u64).max(1));
            }
        }
        followed.retain(|f| !(f.queryable && f.durable));
        std::thread::sleep(cfg.poll);
    }
    r.unresolved = followed.len() as u64;
    r
}

/// The first point of `msg`: its metric, timestamp and value.
fn first_point(msg: &Message, name_in_body: bool) -> Option<(String, u32, f64)> {
    let line = std::str::from_utf8(&msg.body).ok()?.lines().next()?;
    let mut words = line.split_ascii_whitespace();
    let metric = if name_in_body { words.next()?.to_string() } else { msg.key.clone() };
    let value = words.next()?.parse().ok()?;
    let timestamp = words.next()?.parse().ok()?;
    Some((metric, timestamp, value))
}

fn follow(cfg: &ProbeConfig, msg: &Message, sent: Instant) -> Option<Followed> {
    let (metric, timestamp, value) = first_point(msg, cfg.name_in_body)?;
    let path = crate::metric::file_path(&cfg.data_dir, &crate::metric::validate(metric.as_bytes()).ok()?);
    let next_poll = sent + cfg.poll;
    Some(Followed { metric, path, timestamp, value, sent, next_poll, queryable: false, durable: false })
}

/// Whether the render API returns `f`'s value at its timestamp. `Err` when the request failed.
fn rendered(agent: &ureq::Agent, cfg: &ProbeConfig, f: &Followed) -> Result<bool, ()> {
    let (from, until) = (f.timestamp.saturating_sub(cfg.interval), f.timestamp + cfg.interval);
    let url = format!("http://{}/render?target={}&from={from}&until={until}&format=json", cfg.http, f.metric);
    let body = agent.get(&url).call().map_err(|_| ())?.into_string().map_err(|_| ())?;
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|_| ())?;
    Ok(holds(&json, f.timestamp, f.value))
}

/// Whether a render JSON answer (`[{"target": .., "datapoints": [[value, t], ..]}]`) has `value` at `t`.
fn holds(json: &serde_json::Value, t: u32, value: f64) -> bool {
    let Some(series) = json.as_array() else { return false };
    series.iter().filter_map(|s| s.get("datapoints")?.as_array()).flatten().any(|dp| {
        dp.get(1).and_then(|x| x.as_u64()) == Some(u64::from(t)) && dp.get(0).and_then(|x| x.as_f64()) == Some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_point_is_read_in_both_message_forms() {
        let rk = Message { key: "a.b".into(), body: b"1.25 100\n2.25 110\n".to_vec(), points: 2 };
        assert_eq!(first_point(&rk, false), Some(("a.b".into(), 100, 1.25)));
        let nib = Message { key: "a.b".into(), body: b"c.d 3.25 120\na.b 1 1\n".to_vec(), points: 2 };
        assert_eq!(first_point(&nib, true), Some(("c.d".into(), 120, 3.25)));
        let bad = Message { key: "a.b".into(), body: b"nonsense\n".to_vec(), points: 1 };
        assert_eq!(first_point(&bad, false), None);
    }

    #[test]
    fn a_render_answer_holds_a_point_only_with_its_value_at_its_time() {
        let json = serde_json::json!([{"target": "a.b", "datapoints": [[null, 90], [1.25, 100], [7.0, 110]]}]);
        assert!(holds(&json, 100, 1.25));
        assert!(!holds(&json, 90, 1.25), "a gap is not the point");
        assert!(!holds(&json, 110, 1.25), "another value at the time is not the point");
        assert!(!holds(&serde_json::json!([]), 100, 1.25));
    }
}
