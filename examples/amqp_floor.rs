//! The CPU floor of consuming with amiquip (not a test): what the bench's null consumer (`bench::broker::drain`,
//! the ceiling of `warren bench`) costs per message, so warren's own per-message cost can be read against it.
//! `LINGER_US` 0 (the default here) makes it the plain consumer that blocks for each delivery (the ceiling of
//! `warren bench --linger-us 0`); 2000 makes it consume as warren's workers do (the bench's default ceiling).
//!
//! Publishes a `warren bench`-shaped load (routing key = metric name, `PER_MSG` points per message) to its own
//! exchange and queue on the shared broker, then drains it with the ceiling's null consumer (`CONNECTIONS`
//! connections, prefetch 10000, ack_multiple) and prints the drain's wall time, messages/s and this process's CPU
//! (getrusage RUSAGE_SELF, user and system) per million messages. The publisher has finished (and closed its
//! connections) before the drain's CPU is read, so only the consumer's threads (amiquip's I/O thread included)
//! are in it. The exchange and queue are deleted afterwards.
//!
//!     cargo run --release --example amqp_floor -- [METRICS] [POINTS] [PER_MSG] [CONNECTIONS] [LINGER_US]
//!
//! Defaults: 20000 metrics × 10 points, 1 point per message (the rk-1 bench: 200,000 messages), 2 connections,
//! no lingering.

use std::time::{Duration, Instant};
use warren::bench::broker::{self, DrainConfig};
use warren::bench::load::Load;
use warren::bench::publish::{publish, LoadSource, PublishConfig, PublishProgress};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// User and system CPU seconds of this process so far.
fn cpu_self() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_SELF is always valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the pointer is to a live, properly aligned rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (s(ru.ru_utime), s(ru.ru_stime))
}

fn arg(i: usize, default: u32) -> u32 {
    std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() {
    let (metrics, points, per_msg, connections) = (arg(1, 20_000), arg(2, 10), arg(3, 1), arg(4, 2));
    let linger = Duration::from_micros(u64::from(arg(5, 0)));
    let now = warren::lifecycle::unix_now();
    let load = Load::ending_at("floor", metrics, points, per_msg, 10, now, false);
    let exchange = format!("warren-amqp-floor-{}", std::process::id());
    let queue = format!("{exchange}.q");
    broker::declare(URL, &exchange, Some((&queue, &["#".to_string()]))).expect("declare");
    let pcfg = PublishConfig { url: URL.into(), exchange: exchange.clone(), connections: 2, window: 10_000 };
    let published = publish(&pcfg, &LoadSource::new(&load), &PublishProgress::default()).expect("publish");
    let messages = published.messages;
    let (u0, s0) = cpu_self();
    let t0 = Instant::now();
    let drained = broker::drain(&DrainConfig {
        url: URL.into(),
        queue: queue.clone(),
        connections: connections as usize,
        prefetch: 10_000,
        expect: messages,
        timeout: Duration::from_secs(600),
        linger,
    });
    let wall = t0.elapsed().as_secs_f64();
    let (u1, s1) = cpu_self();
    let _ = broker::delete(URL, &exchange, Some(&queue));
    drained.expect("drain");
    let (user, sys) = (u1 - u0, s1 - s0);
    let per_m = |x: f64| x * 1e6 / messages as f64;
    println!(
        "amqp_floor: {messages} messages ({per_msg} point(s) each), {connections} connection(s): drain {wall:.2} s, \
         {:.0} msg/s; CPU user {user:.2} s + sys {sys:.2} s = {:.2} CPU s per M messages ({:.2} user, {:.2} sys)",
        messages as f64 / wall,
        per_m(user + sys),
        per_m(user),
        per_m(sys),
    );
}
