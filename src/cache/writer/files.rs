//! The writer's open files: kept open up to the descriptor budget, closed at random beyond it.
//!
//! Owns: the list of open files (methods of [`Writer`]). Never touches: the cache's points.

use super::super::store::MetricId;
use super::Writer;
use crate::whisper::WhisperFile;

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
}
