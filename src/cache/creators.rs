//! The creator pool: a few threads that create new whisper files (directories, header, data area) while the
//! writer keeps updating files that exist.
//!
//! The writer decides what is created and when: it meets new metrics in its write-strategy order, takes a token
//! of the create rate limit for each, and submits the job to one FIFO channel, so creates start in that order
//! and never faster than the limit. A creator sends the open file back and wakes the writer, which adopts it
//! into its descriptor LRU and writes the metric's cached points. Until then the points stay in the cache
//! (answered to CarbonLink, unacked).
//!
//! The pool also reads in existing files whose bytes are not in memory ([`Job::Open`]): the writer reads a file
//! it opens only if that needs no disk read (`WhisperFile::open_if_resident`), and otherwise hands the open file
//! here, so a header evicted from the page cache (a restart, a tree larger than memory) is read while the
//! writer goes on with other metrics.
//!
//! Owns: the jobs in flight and the creator threads (joined on drop). Never touches: the cache, the rings, the
//! rate limits.

use super::store::MetricId;
use crate::whisper::{ArchiveSpec, ColdFile, CreateOptions, OpenOptions, WhisperError, WhisperFile};
use crossbeam::channel::{self, Receiver, Sender};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

/// A test hook (set only through the `test-hooks` feature): while set, creators take no new job (the writer
/// keeps writing existing files).
pub type HoldCreates = Arc<AtomicBool>;

/// One file to create.
pub struct CreateJob {
    /// The metric the file is for.
    pub id: MetricId,
    /// Where the file goes (its directories are created as needed).
    pub path: PathBuf,
    /// The archives, from the storage schemas.
    pub archives: Vec<ArchiveSpec>,
    /// Aggregation, xFilesFactor and create mode.
    pub opts: CreateOptions,
    /// How the returned handle is opened (lock, autoflush).
    pub open: OpenOptions,
}

/// An existing file the writer opened, to read into memory for it.
pub struct OpenJob {
    /// The metric the file is for.
    pub id: MetricId,
    /// The file, open, not read yet.
    pub file: ColdFile,
    pub path: PathBuf,
    pub open: OpenOptions,
}

/// Work for the pool.
pub enum Job {
    Create(CreateJob),
    Open(OpenJob),
}

/// A finished job: the open file, or why there is none.
pub struct Created {
    /// The metric of the job.
    pub id: MetricId,
    /// The new file (or, for [`Job::Open`], the existing one), open for updates.
    pub result: Result<WhisperFile, WhisperError>,
    /// The job was a [`Job::Open`].
    pub opened: bool,
}

/// The pool.
pub struct Creators {
    jobs: Option<Sender<Job>>,
    done: Receiver<Created>,
    threads: Vec<JoinHandle<()>>,
    in_flight: usize,
}

impl Creators {
    /// Start `n` (at least 1) creator threads; each finished job unparks `writer`.
    pub fn start(n: usize, writer: Thread, hold: HoldCreates) -> std::io::Result<Creators> {
        let (jobs, job_rx) = channel::unbounded::<Job>();
        let (done_tx, done) = channel::unbounded::<Created>();
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let (rx, tx, writer, hold) = (job_rx.clone(), done_tx.clone(), writer.clone(), hold.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("creator-{i}"))
                    .spawn(move || creator(rx, tx, writer, hold))?,
            );
        }
        Ok(Creators { jobs: Some(jobs), done, threads, in_flight: 0 })
    }

    /// Queue a job (jobs start in submission order).
    pub fn submit(&mut self, job: Job) {
        // Invariant: the sender lives until drop and the receivers until the threads end, which is after it.
        if let Some(tx) = &self.jobs {
            if tx.send(job).is_ok() {
                self.in_flight += 1;
            }
        }
    }

    /// A finished job, if any, without waiting.
    pub fn try_done(&mut self) -> Option<Created> {
        let c = self.done.try_recv().ok()?;
        self.in_flight -= 1;
        Some(c)
    }

    /// A finished job, waiting up to `timeout` for one.
    pub fn wait_done(&mut self, timeout: Duration) -> Option<Created> {
        let c = self.done.recv_timeout(timeout).ok()?;
        self.in_flight -= 1;
        Some(c)
    }

    /// Jobs submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

impl Drop for Creators {
    fn drop(&mut self) {
        // Closing the channel ends the threads once the queued jobs are done.
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn creator(jobs: Receiver<Job>, done: Sender<Created>, writer: Thread, hold: HoldCreates) {
    // Started by the writer, which is pinned to its core: left alone, the creators would share that one core
    // with it (a cold burst then used one of two cores, the creators preempted at every wake-up of the writer).
    crate::cpus::run_on_process_cpus();
    while let Ok(job) = jobs.recv() {
        while hold.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let finished = match job {
            Job::Create(job) => Created { id: job.id, result: create(&job), opened: false },
            Job::Open(job) => Created { id: job.id, result: job.file.load(&job.path, job.open), opened: true },
        };
        if done.send(finished).is_err() {
            break;
        }
        writer.unpark();
    }
}

/// Create the directories and the file of `job`.
pub fn create(job: &CreateJob) -> Result<WhisperFile, WhisperError> {
    if let Some(dir) = job.path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| WhisperError::io(dir, e))?;
    }
    WhisperFile::create(&job.path, &job.archives, &job.opts, job.open)
}

/// The default pool size: one creator per core (creating is kernel time; the writer keeps its own core busy
/// with updates), at most 4.
pub fn default_size() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpus::{allowed_list, on_a_pinned_thread};

    /// The masks of every thread named `creator-0` (other tests' pools too: all are started by unpinned test
    /// threads, so they have the process's mask whether or not they have reached their first line yet).
    fn creator_masks() -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .map(|t| t.path())
            .filter(|t| std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == "creator-0"))
            .map(|t| allowed_list(t.join("status")))
            .collect()
    }

    #[test]
    fn creators_started_by_a_pinned_thread_run_on_every_cpu_of_the_process() {
        // The writer's situation: a thread pinned to one core starts the pool.
        let creator = on_a_pinned_thread(|| {
            let mut pool = Creators::start(1, std::thread::current(), HoldCreates::default()).unwrap();
            // A job that fails (its directory is a file) runs the creator's loop once: it has set its mask by then.
            let file = tempfile::NamedTempFile::new().unwrap();
            pool.submit(Job::Create(CreateJob {
                id: 0,
                path: file.path().join("x.wsp"),
                archives: vec![crate::whisper::ArchiveSpec { seconds_per_point: 60, points: 10 }],
                opts: crate::whisper::CreateOptions::default(),
                open: crate::whisper::OpenOptions::default(),
            }));
            assert!(pool.wait_done(Duration::from_secs(30)).unwrap().result.is_err());
            creator_masks()
        });
        let process = allowed_list("/proc/self/status");
        assert!(!creator.is_empty());
        assert!(creator.iter().all(|c| *c == process), "creators {creator:?}, process {process}");
    }
}
