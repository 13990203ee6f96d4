//! Durable acks (`[whisper] sync`): which open files were written since their last sync, and syncing them before
//! the writer completes a delivery, so that with `sync = "batch"` an ack means the points are on stable storage
//! (not only in the page cache, which a power loss drops).
//!
//! The writer calls [`Durability::wrote`] after each successful update, [`Durability::before_close`] before it
//! drops a file's descriptor, and [`Durability::before_completing`] once per loop turn before it sends that turn's
//! completions. Files are synced with one `fdatasync` each, only in turns that complete something (a file written
//! in a turn that completes nothing stays marked and is synced with the next turn that does, or when closed).
//!
//! Owns: the set of written-but-unsynced files, the sync counters, and (cargo feature `test-hooks`) the ordering
//! journal the tests read. Never touches: rings, AMQP channels, cached points.

use super::store::{Cache, MetricId};
use crate::config::settings::SyncMode;
use crate::stats::Stats;
use crate::whisper::{WhisperError, WhisperFile};
use std::collections::HashSet;
use std::time::Instant;

/// Tracks unsynced files and syncs them (see the module docs).
pub struct Durability {
    mode: SyncMode,
    /// The data dir, opened for `syncfs` (mode `Syncfs`).
    data_dir: std::path::PathBuf,
    fs_handle: Option<std::fs::File>,
    /// Directories whose entries changed (a file or directory created in them) since the last sync.
    new_dirs: Vec<std::path::PathBuf>,
    /// Files written since their last sync (open ones: closing syncs and removes).
    unsynced: Vec<MetricId>,
    marked: HashSet<MetricId>,
    /// A sync failed since the last [`Durability::before_completing`]: what depends on it must not be acked.
    failed: Option<WhisperError>,
    errors_logged: u32,
    #[cfg(feature = "test-hooks")]
    journal: Option<std::sync::Arc<journal::Journal>>,
}

impl Durability {
    /// No file marked yet.
    pub fn new(mode: SyncMode, data_dir: &std::path::Path) -> Self {
        Durability {
            mode,
            data_dir: data_dir.to_path_buf(),
            fs_handle: None,
            new_dirs: Vec::new(),
            unsynced: Vec::new(),
            marked: HashSet::new(),
            failed: None,
            errors_logged: 0,
            #[cfg(feature = "test-hooks")]
            journal: None,
        }
    }

    /// Record every write, sync and completion in `journal` (tests of the ordering).
    #[cfg(feature = "test-hooks")]
    pub fn set_journal(&mut self, journal: std::sync::Arc<journal::Journal>) {
        self.journal = Some(journal);
    }

    /// `id`'s open file (`name`) was just written.
    pub fn wrote(&mut self, id: MetricId, _name: &str) {
        #[cfg(feature = "test-hooks")]
        self.record(|| journal::Event::Wrote(_name.to_string()));
        if self.mode != SyncMode::None && self.marked.insert(id) {
            self.unsynced.push(id);
        }
    }

    /// A file was created at `path`: its directory entry (and those of any directories created for it, up to the
    /// data dir) must reach the disk too, or a power loss can lose the whole file (`Batch`; `syncfs` covers them).
    pub fn created(&mut self, path: &std::path::Path) {
        if self.mode != SyncMode::Batch {
            return;
        }
        let mut dir = path.parent();
        while let Some(d) = dir {
            self.new_dirs.push(d.to_path_buf());
            if d == self.data_dir || !d.starts_with(&self.data_dir) {
                break;
            }
            dir = d.parent();
        }
    }

    /// `id`'s file is about to be closed: sync it first if it holds unsynced writes.
    pub fn before_close(&mut self, id: MetricId, file: &WhisperFile, name: &str, stats: &Stats) {
        if self.marked.remove(&id) {
            self.unsynced.retain(|&u| u != id);
            self.sync(file, name, stats);
        }
    }

    /// Called once per loop turn before the turn's completions are sent, when there are any: syncs every file
    /// written since its last sync. `Err` when any sync failed since the last call (the completions must then be
    /// withheld: their deliveries stay unacked and are redelivered after a reconnect or restart).
    pub fn before_completing(&mut self, cache: &Cache, stats: &Stats) -> Result<(), WhisperError> {
        let unsynced = std::mem::take(&mut self.unsynced);
        if self.mode == SyncMode::Syncfs && !unsynced.is_empty() {
            self.syncfs(cache, &unsynced, stats);
        }
        self.sync_new_dirs(stats);
        let per_file = if self.mode == SyncMode::Batch { &unsynced[..] } else { &[] };
        for &id in per_file {
            let entry = cache.entry(id);
            // Invariant: a marked file is open (closing syncs and unmarks it).
            if let Some(file) = entry.file.as_ref() {
                self.sync(file, &entry.name, stats);
            }
        }
        self.marked.clear();
        self.unsynced = unsynced;
        self.unsynced.clear();
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A completion for `tag` of `producer` is being sent (journal only).
    pub fn completing(&self, _producer: u16, _tag: u64) {
        #[cfg(feature = "test-hooks")]
        self.record(|| journal::Event::Completed { producer: _producer, tag: _tag });
    }

    fn sync(&mut self, file: &WhisperFile, name: &str, stats: &Stats) {
        let t0 = Instant::now();
        let result = file.sync_data();
        Stats::add(&stats.syncs, 1);
        Stats::add(&stats.sync_micros, t0.elapsed().as_micros() as u64);
        match result {
            Ok(()) => {
                #[cfg(feature = "test-hooks")]
                self.record(|| journal::Event::Synced(name.to_string()));
            }
            Err(e) => {
                Stats::add(&stats.errors, 1);
                if self.errors_logged < 20 {
                    self.errors_logged += 1;
                    tracing::error!(metric = %name, error = %e, "fdatasync failed: withholding this turn's acks");
                }
                self.failed.get_or_insert(e);
            }
        }
    }

    /// `fsync` each directory that got a new entry (once each, however many files were created in it).
    fn sync_new_dirs(&mut self, stats: &Stats) {
        if self.new_dirs.is_empty() {
            return;
        }
        self.new_dirs.sort_unstable();
        self.new_dirs.dedup();
        for dir in std::mem::take(&mut self.new_dirs) {
            let t0 = Instant::now();
            let result = std::fs::File::open(&dir).and_then(|d| d.sync_all());
            Stats::add(&stats.syncs, 1);
            Stats::add(&stats.sync_micros, t0.elapsed().as_micros() as u64);
            #[cfg(feature = "test-hooks")]
            if result.is_ok() {
                self.record(|| journal::Event::SyncedDir(dir.clone()));
            }
            if let Err(e) = result {
                Stats::add(&stats.errors, 1);
                let e = WhisperError::io(&dir, e);
                if self.errors_logged < 20 {
                    self.errors_logged += 1;
                    tracing::error!(error = %e, "fsync of a directory failed: withholding this turn's acks");
                }
                self.failed.get_or_insert(e);
            }
        }
    }

    /// One `syncfs(2)` for every file in `ids` (all under the data dir, one filesystem).
    fn syncfs(&mut self, _cache: &Cache, _ids: &[MetricId], stats: &Stats) {
        use std::os::fd::AsRawFd;
        let t0 = Instant::now();
        if self.fs_handle.is_none() {
            self.fs_handle = std::fs::File::open(&self.data_dir).ok();
        }
        let result = match &self.fs_handle {
            // SAFETY: syncfs only reads the descriptor, which the File keeps open for the duration of the call.
            Some(f) => match unsafe { libc::syncfs(f.as_raw_fd()) } {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            },
            None => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "data dir not openable for syncfs")),
        };
        Stats::add(&stats.syncs, 1);
        Stats::add(&stats.sync_micros, t0.elapsed().as_micros() as u64);
        match result {
            Ok(()) =>
            {
                #[cfg(feature = "test-hooks")]
                for &id in _ids {
                    let name = _cache.entry(id).name.to_string();
                    self.record(|| journal::Event::Synced(name));
                }
            }
            Err(e) => {
                Stats::add(&stats.errors, 1);
                let e = WhisperError::io(&self.data_dir, e);
                if self.errors_logged < 20 {
                    self.errors_logged += 1;
                    tracing::error!(error = %e, "syncfs failed: withholding this turn's acks");
                }
                self.failed.get_or_insert(e);
            }
        }
    }

    #[cfg(feature = "test-hooks")]
    fn record(&self, event: impl FnOnce() -> journal::Event) {
        if let Some(j) = &self.journal {
            j.record(event);
        }
    }
}

/// The ordering journal (cargo feature `test-hooks`, not public API): every write, sync and completion the
/// writer makes, in order, so a test can check that no delivery completes before its files are synced.
#[cfg(feature = "test-hooks")]
pub mod journal {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    /// One step of the writer.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Event {
        /// A metric's file was written.
        Wrote(String),
        /// A metric's file was `fdatasync`ed (the call returned success).
        Synced(String),
        /// A directory that got new entries was `fsync`ed.
        SyncedDir(std::path::PathBuf),
        /// A delivery's completion was sent to its worker (which acks it).
        Completed { producer: u16, tag: u64 },
    }

    /// Events in the order the writer made them, once [`Journal::start`] was called (off by default, so long
    /// tests do not grow it).
    #[derive(Debug, Default)]
    pub struct Journal {
        on: AtomicBool,
        events: Mutex<Vec<Event>>,
    }

    impl Journal {
        /// Record from now on.
        pub fn start(&self) {
            self.on.store(true, Ordering::Release);
        }

        pub(crate) fn record(&self, e: impl FnOnce() -> Event) {
            if self.on.load(Ordering::Acquire) {
                // A poisoned lock only means a test thread panicked: keep recording.
                self.events.lock().unwrap_or_else(|p| p.into_inner()).push(e());
            }
        }

        /// Everything recorded so far.
        pub fn events(&self) -> Vec<Event> {
            self.events.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }
    }
}
