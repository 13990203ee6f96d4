//! Socket receivers ([`Receivers`]) alone, on 127.0.0.1:0, feeding one ring that the test drains: what exactly
//! reaches the writer. For the socket tests (tests/sockets.rs, tests/floods.rs).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use warren::ingest::socket::{BoundAddrs, ReceiverConfig, Receivers};
use warren::lifecycle::Shutdown;
use warren::pipe::ring::Rings;
use warren::stats::Stats;

/// (name, timestamp, value) of a point drained from the ring.
pub type Point = (String, u32, f64);

/// Receivers on 127.0.0.1:0 feeding one ring that the test drains.
pub struct Harness {
    pub addrs: BoundAddrs,
    pub rings: Arc<Rings>,
    stats: Arc<Stats>,
    shutdown: Arc<Shutdown>,
    thread: Option<JoinHandle<()>>,
    /// Every point drained so far, in order.
    pub got: Vec<Point>,
}

/// Port 0 of 127.0.0.1.
pub fn local() -> Option<SocketAddr> {
    Some("127.0.0.1:0".parse().unwrap())
}

/// Plaintext TCP and UDP and pickle on port 0, no connection limit, the default pickle frame limit.
pub fn receiver_config() -> ReceiverConfig {
    ReceiverConfig {
        line_tcp: local(),
        line_udp: local(),
        pickle: local(),
        max_connections: 0,
        max_pickle_frame: warren::pickle::MAX_FRAME_LEN,
    }
}

impl Harness {
    pub fn start(cfg: ReceiverConfig) -> Harness {
        let receivers = Receivers::bind(&cfg).expect("bind on port 0");
        let addrs = receivers.local_addrs();
        let (rings, mut producers) = Rings::new(1, 64);
        let producer = producers.pop().unwrap();
        let stats = Arc::new(Stats::default());
        let shutdown = Arc::new(Shutdown::default());
        let (s, d) = (stats.clone(), shutdown.clone());
        let thread = std::thread::spawn(move || receivers.run(producer, s, d));
        Harness { addrs, rings, stats, shutdown, thread: Some(thread), got: Vec::new() }
    }

    pub fn drain(&mut self) {
        while let Some(b) = self.rings.pop(0) {
            assert!(b.ack.is_none(), "socket batches are never acked");
            for p in &b.points {
                let name = String::from_utf8(b.name_of(p).to_vec()).unwrap();
                self.got.push((name, p.timestamp, p.value));
            }
        }
    }

    /// Drain until `n` points of `metric` arrived (true) or 10 s pass (false).
    pub fn wait_for(&mut self, metric: &str, n: usize) -> bool {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            self.drain();
            if self.count(metric) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn count(&self, metric: &str) -> usize {
        self.got.iter().filter(|p| p.0 == metric).count()
    }

    pub fn stat(&self, f: impl Fn(&Stats) -> &std::sync::atomic::AtomicU64) -> u64 {
        f(&self.stats).load(Ordering::Relaxed)
    }
}

impl Harness {
    /// Stop the event loop and join its thread; panics if the thread did.
    pub fn stop(mut self) {
        self.shutdown.stop.store(true, Ordering::Release);
        self.thread.take().expect("running until stopped").join().unwrap();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
