//! Every counter of [`Stats`] as Prometheus text exposition (version 0.0.4) over plain HTTP/1.0, for scrapers.
//!
//! One thread, blocking std sockets, one request per connection, any path answers: this is a read-only window
//! on atomics, not a web server. Owns: its listening socket. Never touches: files, the cache.

use crate::lifecycle::Shutdown;
use crate::stats::Stats;
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Counters of [`Stats`] that are gauges (the rest are totals since start).
const GAUGES: &[&str] = &[
    "cache_size",
    "cache_queues",
    "active_connections",
    "workers_consuming",
    "latency_p50_us",
    "latency_p99_us",
    "latency_p999_us",
];

/// The exposition text: `warren_<counter> <value>` with a `# TYPE` line for each counter of `stats`.
pub fn render(stats: &Stats) -> String {
    let mut out = String::new();
    for (name, value) in stats.snapshot() {
        let kind = if GAUGES.contains(&name) { "gauge" } else { "counter" };
        // Writing to a String cannot fail.
        let _ = write!(out, "# TYPE warren_{name} {kind}\nwarren_{name} {value}\n");
    }
    out
}

/// Answer scrapes on `listener` until `shutdown.stop`. A client that sends nothing within a second is dropped.
pub fn serve(listener: TcpListener, stats: Arc<Stats>, shutdown: Arc<Shutdown>) {
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!(error = %e, "prometheus endpoint: cannot poll the listener; not serving");
        return;
    }
    while !shutdown.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, &stats) {
                    tracing::debug!(error = %e, "prometheus scrape failed");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                tracing::warn!(error = %e, "prometheus endpoint: accept failed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn answer(mut stream: TcpStream, stats: &Stats) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    // Read the request head (bounded) so the client does not see a reset; its content does not matter.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf)? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = render(stats);
    write!(
        stream,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_rendered_with_its_type() {
        let s = Stats::default();
        Stats::add(&s.committed_points, 5);
        s.cache_size.store(3, Ordering::Relaxed);
        let text = render(&s);
        assert!(text.contains("# TYPE warren_committed_points counter\nwarren_committed_points 5\n"), "{text}");
        assert!(text.contains("# TYPE warren_cache_size gauge\nwarren_cache_size 3\n"), "{text}");
        assert_eq!(text.lines().count(), 2 * s.snapshot().len());
    }
}
