//! The writer's open files: opened (or created) on first write, kept open up to the descriptor budget, closed
//! at random beyond it.
//!
//! Owns: the list of open files (methods of [`Writer`]). Never touches: the cache's points.

use super::super::store::MetricId;
use super::{classify, WriteFailure, Writer};
use crate::metric;
use crate::whisper::{WhisperError, WhisperFile};

impl Writer {
    /// Keep `file` open for `id`, closing another file if that goes over the budget.
    pub(super) fn keep_open(&mut self, id: MetricId, file: WhisperFile) {
        let e = self.cache.entry_mut(id);
        e.file = Some(file);
        e.open_slot = self.open_ids.len() as u32;
        self.open_ids.push(id);
        self.evict(id);
    }

    pub(super) fn close_file(&mut self, id: MetricId) {
        let e = self.cache.entry_mut(id);
        if let Some(file) = e.file.take() {
            let slot = e.open_slot as usize;
            self.durable.before_close(id, &file, &self.cache.entry(id).name, &self.stats);
            self.open_ids.swap_remove(slot);
            if let Some(&moved) = self.open_ids.get(slot) {
                self.cache.entry_mut(moved).open_slot = slot as u32;
            }
        }
    }

    /// Close open files, chosen at random (never `keep`), until the budget holds.
    ///
    /// Random, not least recently used: the writer visits dirty metrics in passes, and a pass over more files than
    /// the budget is the pattern LRU handles worst (every file is closed just before its next use, so every update
    /// reopens it). A random victim keeps most of them open (measured in the commit that made it so).
    pub(super) fn evict(&mut self, keep: MetricId) {
        while self.open_ids.len() > self.cfg.open_files.max(1) {
            self.evict_rng ^= self.evict_rng << 13;
            self.evict_rng ^= self.evict_rng >> 7;
            self.evict_rng ^= self.evict_rng << 17;
            let mut victim = self.open_ids[(self.evict_rng % self.open_ids.len() as u64) as usize];
            if victim == keep {
                let slot = self.cache.entry(keep).open_slot as usize;
                victim = self.open_ids[(slot + 1) % self.open_ids.len()];
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
        // Open first, create on NotFound: one syscall for the common case, no stat before every open.
        let mut opened = WhisperFile::open(&path, self.cfg.open);
        if matches!(&opened, Err(WhisperError::Io { source, .. }) if source.raw_os_error() == Some(libc::EMFILE)) {
            // The process ran out of descriptors (other threads or engines use them too): keep half as many
            // files open from now on, and try once more.
            self.cfg.open_files = (self.open_ids.len() / 2).max(64);
            self.evict(id);
            tracing::warn!(open_files = self.cfg.open_files, "out of file descriptors: shrinking the open-file LRU");
            opened = WhisperFile::open(&path, self.cfg.open);
        }
        let file = match opened {
            Ok(f) => f,
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
