//! The writer's open files: opened (or created) on first write, kept open up to the descriptor budget, closed
//! at random beyond it.
//!
//! Owns: the list of open files (methods of [`Writer`]). Never touches: the cache's points.

use super::super::creators::{Job, OpenJob};
use super::super::store::MetricId;
use super::{classify, WriteFailure, Writer};
use crate::metric;
use crate::stats::Stats;
use crate::whisper::{Residency, WhisperError, WhisperFile};

/// Which of the writer's lists holds an open file: the files holding a descriptor, or the mapped files that gave
/// theirs back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    Descriptor,
    Mapping,
}

impl Held {
    fn of(file: &WhisperFile) -> Held {
        if file.holds_descriptor() {
            Held::Descriptor
        } else {
            Held::Mapping
        }
    }
}

/// Updates through the descriptor before an open file is mapped ([`Writer::map_kept_file`]). Measured on the
/// steady 2 M-point drain into 20,000 files (two updates per file): mapping at the second update spent 3 µs per
/// file in `mmap` alone and more in `statx`, `fstatfs` and first-store faults, against a `pwrite`'s ~2.7 µs.
pub(super) const MAP_AFTER_UPDATES: u8 = 2;

impl Writer {
    /// Keep `file` open for `id`, closing another file if that goes over the budget.
    pub(super) fn keep_open(&mut self, id: MetricId, file: WhisperFile) {
        let list = Held::of(&file);
        let e = self.cache.entry_mut(id);
        e.file = Some(file);
        e.updates_open = 0;
        self.hold(id, list);
    }

    fn hold(&mut self, id: MetricId, list: Held) {
        let ids = self.held_list(list);
        let slot = ids.len() as u32;
        ids.push(id);
        self.cache.entry_mut(id).open_slot = slot;
        self.evict(id, list);
    }

    fn unhold(&mut self, list: Held, slot: usize) {
        let ids = self.held_list(list);
        ids.swap_remove(slot);
        if let Some(&moved) = ids.get(slot) {
            self.cache.entry_mut(moved).open_slot = slot as u32;
        }
    }

    /// With `[whisper] mmap`, map `id`'s open file (when it can be: see `DiskFile::map`) and close its
    /// descriptor: it then counts against the mapping budget, not the descriptor budget, so the descriptor limit
    /// does not make the writer reopen it. Only once the open file has been updated [`MAP_AFTER_UPDATES`] times
    /// (so from its third update on): mapping costs more than a `pwrite` (the `mmap` itself, the `statx` and
    /// `fstatfs` that vet the file, a fault on the first store into each page), so a file the process updates
    /// once or twice (a fresh process's first passes, a short drain) is cheaper without it.
    pub(super) fn map_kept_file(&mut self, id: MetricId) {
        if self.cfg.mapped_files == 0 {
            return;
        }
        let e = self.cache.entry_mut(id);
        let Some(file) = e.file.as_mut() else { return };
        if e.updates_open < MAP_AFTER_UPDATES || file.map_decided() || !file.map_for_updates() {
            return;
        }
        Stats::add(&self.stats.files_mapped, 1);
        if !file.holds_descriptor() {
            let slot = e.open_slot as usize;
            self.unhold(Held::Descriptor, slot);
            self.hold(id, Held::Mapping);
        }
    }

    fn held_list(&mut self, list: Held) -> &mut Vec<MetricId> {
        match list {
            Held::Descriptor => &mut self.open_ids,
            Held::Mapping => &mut self.mapped_ids,
        }
    }

    pub(super) fn close_file(&mut self, id: MetricId) {
        let e = self.cache.entry_mut(id);
        if let Some(file) = e.file.take() {
            let slot = e.open_slot as usize;
            let list = Held::of(&file);
            self.durable.before_close(id, &file, &self.cache.entry(id).name, &self.stats);
            self.unhold(list, slot);
        }
    }

    /// Close files of `list`, chosen at random (never `keep`), until its budget holds.
    ///
    /// Random, not least recently used: the writer visits dirty metrics in passes, and a pass over more files than
    /// the budget is the pattern LRU handles worst (every file is closed just before its next use, so every update
    /// reopens it). A random victim keeps most of them open (measured in the commit that made it so).
    pub(super) fn evict(&mut self, keep: MetricId, list: Held) {
        let budget = match list {
            Held::Descriptor => self.cfg.open_files,
            Held::Mapping => self.cfg.mapped_files,
        }
        .max(1);
        while self.held_list(list).len() > budget {
            self.evict_rng ^= self.evict_rng << 13;
            self.evict_rng ^= self.evict_rng >> 7;
            self.evict_rng ^= self.evict_rng << 17;
            let rng = self.evict_rng;
            let ids = self.held_list(list);
            let mut victim = ids[(rng % ids.len() as u64) as usize];
            if victim == keep {
                let slot = self.cache.entry(keep).open_slot as usize;
                let ids = self.held_list(list);
                victim = ids[(slot + 1) % ids.len()];
            }
            self.close_file(victim);
        }
    }

    pub(super) fn ensure_open(&mut self, id: MetricId, unlimited: bool) -> Result<(), WriteFailure> {
        if self.cache.entry(id).file.is_some() {
            return Ok(());
        }
        let name = self.cache.entry(id).name.clone();
        let path = metric::file_path_as(&self.cfg.data_dir, &name, self.cfg.tag_files);
        // With a creator pool, a file whose bytes are not in memory is read there (the disk read off the
        // writer's path); otherwise, or if the pool failed to, here.
        let here = self.creators.is_none() || std::mem::take(&mut self.cache.entry_mut(id).open_here);
        let open = |path: &std::path::Path, options| {
            if here {
                WhisperFile::open(path, options).map(Residency::Resident)
            } else {
                WhisperFile::open_if_resident(path, options)
            }
        };
        // Open first, create on NotFound: one syscall for the common case, no stat before every open.
        let mut opened = open(&path, self.cfg.open);
        if matches!(&opened, Err(WhisperError::Io { source, .. }) if source.raw_os_error() == Some(libc::EMFILE)) {
            // The process ran out of descriptors (other threads or engines use them too): keep half as many
            // files open from now on, and try once more.
            self.cfg.open_files = (self.open_ids.len() / 2).max(64);
            self.evict(id, Held::Descriptor);
            tracing::warn!(open_files = self.cfg.open_files, "out of file descriptors: shrinking the open-file LRU");
            opened = open(&path, self.cfg.open);
        }
        let file = match opened {
            Ok(Residency::Resident(f)) => f,
            Ok(Residency::Cold(file)) => {
                Stats::add(&self.stats.cold_opens, 1);
                let job = OpenJob { id, file, path, open: self.cfg.open };
                // Invariant: `here` is false only with a pool.
                self.creators.as_mut().expect("a creator pool").submit(Job::Open(job));
                return Err(WriteFailure::Creating);
            }
            Err(WhisperError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                match self.adopt_readable_tagged_file(&name, &path) {
                    Some(f) => f,
                    None => self.create(id, path, unlimited)?,
                }
            }
            Err(e) => return Err(classify(e)),
        };
        self.keep_open(id, file);
        Ok(())
    }

    /// carbon's `WhisperDatabase.exists`: with hashed tagged file names, a file under the readable name (written
    /// with `TAG_HASH_FILENAMES = False`) is renamed to the hashed one and used.
    pub(super) fn adopt_readable_tagged_file(&mut self, name: &str, hashed: &std::path::Path) -> Option<WhisperFile> {
        if self.cfg.tag_files != metric::TagFileNames::Hashed || !metric::tags::is_tagged(name) {
            return None;
        }
        let readable = metric::file_path_as(&self.cfg.data_dir, name, metric::TagFileNames::Readable);
        if readable == hashed || std::fs::rename(&readable, hashed).is_err() {
            return None;
        }
        tracing::info!(metric = name, from = %readable.display(), to = %hashed.display(), "renamed tagged file");
        WhisperFile::open(hashed, self.cfg.open).ok()
    }
}
