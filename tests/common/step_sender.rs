//! A TCP sender of plaintext lines for the relay tests: one line `<prefix>.m<m>.v <step> <t>` per metric per step
//! (value = step), steps one minute apart from six days ago, every 10 ms, until stopped or 5000 steps. Afterwards
//! [`StepSender::missing`] lists every point it wrote that is not on disk with its value.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct StepSender {
    /// Timestamp of step 0.
    pub base: u32,
    prefix: String,
    metrics: usize,
    steps_written: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StepSender {
    /// Connect to `addr` (a relay's line_tcp receiver) and start sending.
    pub fn start(addr: SocketAddr, prefix: &str, metrics: usize) -> StepSender {
        let base = super::now() - 6 * 86400;
        let steps_written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tcp = TcpStream::connect(addr).unwrap();
        let thread = {
            let (steps_written, stop, prefix) = (steps_written.clone(), stop.clone(), prefix.to_string());
            std::thread::spawn(move || {
                let mut step = 0u64;
                while !stop.load(Ordering::Relaxed) && step < 5000 {
                    let t = u64::from(base) + step * 60;
                    let chunk: String = (0..metrics).map(|m| format!("{prefix}.m{m}.v {step} {t}\n")).collect();
                    tcp.write_all(chunk.as_bytes()).unwrap();
                    step += 1;
                    steps_written.store(step, Ordering::Release);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        StepSender { base, prefix: prefix.to_string(), metrics, steps_written, stop, thread: Some(thread) }
    }

    /// Stop sending; the number of whole steps written (every metric's line of each).
    pub fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.steps_written.load(Ordering::Acquire)
    }

    /// The (metric, step) points of the first `steps` steps that are not in their whisper file under `data_dir`
    /// with value = step.
    pub fn missing(&self, data_dir: &Path, steps: u64) -> Vec<(usize, u64)> {
        let base = i64::from(self.base);
        let mut missing = Vec::new();
        for m in 0..self.metrics {
            let path = warren::metric::file_path(data_dir, &format!("{}.m{m}.v", self.prefix));
            let f = warren::whisper::WhisperFile::open_read_only(&path).unwrap();
            let r = f.fetch(base - 60, Some(base + steps as i64 * 60), i64::from(super::now()), None).unwrap().unwrap();
            for step in 0..steps {
                let t = u64::from(self.base) + step * 60;
                let i = ((t - r.from as u64) / r.step as u64) as usize;
                if r.values.get(i).copied().flatten() != Some(step as f64) {
                    missing.push((m, step));
                }
            }
        }
        missing
    }

    /// Asserts that every point of the first `steps` steps is on disk (see [`StepSender::missing`]), naming the
    /// first few that are not.
    pub fn assert_all_on_disk(&self, data_dir: &Path, steps: u64) {
        let missing = self.missing(data_dir, steps);
        let total = self.metrics as u64 * steps;
        assert!(
            missing.is_empty(),
            "{} of {total} points missing, first {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
}

impl Drop for StepSender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
