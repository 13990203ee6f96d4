//! When did a carbon daemon write its last point? Both systems of a socket run are timed the same way here.
//!
//! Each system has a committed-points counter the harness reads (warren: the `committed_points` of its
//! `--stats-every-ms 100` lines; go-carbon: the `persister.committedPoints` of its self-metrics, which reach the
//! harness about once a second). The counter says *that* the load is on disk; its resolution (100 ms for warren,
//! ~1 s for go-carbon) is too coarse to say *when* for runs of a few seconds. So a sampler reads the process's
//! `wchar` (bytes passed to write/pwrite, `/proc/<pid>/io`) every 10 ms. Both systems write whisper files with
//! pwrite (no mmap), so after the counter has reached the total, their writes stop; the only other bytes they
//! write are their own reports (stats lines or self-metrics, which the harness receives and counts) and their log
//! (a file whose size the sampler reads). The finish is the first sample from which `wchar - reports - log`
//! does not grow any more ([`finish`]); resolution: the 10 ms sampling period (a last write of fewer than
//! [`NOISE_BYTES`] is not seen). The counter's own moment is kept beside it as an upper bound.
//!
//! Owns: the sampler thread (it ends when asked, or when the process goes). Never touches: the process itself.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Period of the `wchar` sampler.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// What the harness learns from a running system: its committed points and the bytes of its reports.
#[derive(Default)]
pub struct Reports {
    /// Points the system says it has written to disk.
    pub committed: AtomicU64,
    /// Bytes of reports (stats lines, self-metrics) the harness has received from it.
    pub bytes: AtomicU64,
}

/// One sample: time since the sampler's start, the process's `wchar`, the report bytes and the log's size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub at: Duration,
    pub wchar: u64,
    pub reports: u64,
    pub log: u64,
    pub committed: u64,
}

/// `wchar` of `pid` (bytes passed to write-family syscalls), or `None` when the process is gone.
pub fn wchar(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines().find_map(|l| l.strip_prefix("wchar:")).and_then(|v| v.trim().parse().ok())
}

/// A sampler thread; [`Sampler::stop`] returns its samples.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub started: Instant,
}

impl Sampler {
    /// Sample `pid` every [`SAMPLE_EVERY`] from now.
    pub fn start(pid: u32, reports: Arc<Reports>, log: PathBuf) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let (s, out) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                // Reports and log first: every byte counted there was written before the wchar read.
                let (r, c) = (reports.bytes.load(Ordering::Acquire), reports.committed.load(Ordering::Acquire));
                let l = std::fs::metadata(&log).map_or(0, |m| m.len());
                let Some(w) = wchar(pid) else { break };
                let sample = Sample { at: started.elapsed(), wchar: w, reports: r, log: l, committed: c };
                out.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Sampler { stop, samples, thread: Some(thread), started }
    }

    /// Stop sampling and return the samples.
    pub fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The two completion moments of a run, relative to the sampler's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finish {
    /// First sample from which the system's own writes (`wchar` minus reports and log) stop growing.
    pub last_write: Duration,
    /// First sample at which the committed counter had reached the total (the report's resolution).
    pub counter: Duration,
}

/// Growth of the own writes smaller than this between two samples is not a data write: the Go runtime wakes its
/// poller by writing 8 bytes to an eventfd (go-carbon's series grows by 8 every few hundred ms when idle). A
/// whisper update is 12 bytes per point, so a last write of fewer than 6 points could be missed (≤ 1 sample).
pub const NOISE_BYTES: i128 = 64;

/// Both completion moments from `samples`, or `None` when the counter never reached `total`.
///
/// Each sample reads the report bytes and the log size before `wchar`, so `wchar - reports - log` counts the own
/// writes plus, transiently, a report written but not yet read by the harness. Own writes never shrink, so the
/// suffix minimum of the series removes those bumps; walking back from the last sample, the finish is the sample
/// that ends the last growth of at least [`NOISE_BYTES`].
pub fn finish(samples: &[Sample], total: u64) -> Option<Finish> {
    let counter = samples.iter().find(|s| s.committed >= total)?.at;
    let mut own: Vec<(Duration, i128)> =
        samples.iter().map(|s| (s.at, i128::from(s.wchar) - i128::from(s.reports) - i128::from(s.log))).collect();
    let mut min = i128::MAX;
    for x in own.iter_mut().rev() {
        min = min.min(x.1);
        x.1 = min;
    }
    let last_write = own.windows(2).rev().find(|w| w[1].1 - w[0].1 >= NOISE_BYTES).map_or(counter, |w| w[1].0);
    Some(Finish { last_write: last_write.min(counter), counter })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ms: u64, wchar: u64, reports: u64, committed: u64) -> Sample {
        Sample { at: Duration::from_millis(ms), wchar, reports, log: 7, committed }
    }

    #[test]
    fn the_finish_is_the_last_growth_of_the_own_writes_not_the_report() {
        let samples = [
            s(0, 100, 0, 0),
            s(10, 5_000, 0, 0),
            s(20, 9_000, 0, 0),
            // Last data write seen here; then only a report (300 bytes, read by the harness one sample late).
            s(30, 9_500, 0, 0),
            s(40, 9_800, 0, 0),
            s(50, 9_800, 300, 1000),
            s(60, 9_800, 300, 1000),
            // A report of 500 bytes in flight at the last-but-one sample is not a write either.
            s(70, 10_300, 300, 1000),
            s(80, 10_300, 800, 1000),
        ];
        let f = finish(&samples, 1000).unwrap();
        assert_eq!(f.counter, Duration::from_millis(50));
        assert_eq!(f.last_write, Duration::from_millis(30), "9 500 - 0 - 7 = the final 10 300 - 800 - 7");
    }

    #[test]
    fn eventfd_wake_ups_after_the_last_write_are_noise() {
        let samples = [
            s(0, 100, 0, 0),
            s(10, 5_000, 0, 0),
            s(20, 5_348, 0, 0),
            s(30, 5_356, 0, 0),
            s(40, 5_364, 0, 1000),
            s(50, 5_372, 0, 1000),
        ];
        assert_eq!(
            finish(&samples, 1000).unwrap().last_write,
            Duration::from_millis(20),
            "348 bytes is data, 8 is not"
        );
    }

    #[test]
    fn no_finish_until_the_counter_reaches_the_total() {
        assert_eq!(finish(&[s(0, 1, 0, 0), s(10, 2, 0, 999)], 1000), None);
    }

    #[test]
    fn the_counter_bounds_the_last_write() {
        // Writes continue after the counter (something else written later): the counter's moment is used.
        let samples = [s(0, 1, 0, 0), s(10, 2, 0, 1000), s(20, 50, 0, 1000)];
        assert_eq!(finish(&samples, 1000).unwrap().last_write, Duration::from_millis(10));
    }

    #[test]
    fn this_process_has_a_wchar() {
        assert!(wchar(std::process::id()).is_some());
    }
}
