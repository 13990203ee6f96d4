//! The writer's side of the creator pool: submitting creates within the rate limit, adopting finished files.
//!
//! Owns: nothing of its own (methods of [`Writer`]). Never touches: the rings.

use super::super::creators::{self, CreateJob, Created, Creators, Job};
use super::super::store::{self, MetricId};
use super::{classify, WriteFailure, Writer};
use crate::stats::Stats;
use crate::whisper::{CreateOptions, WhisperFile};
use std::time::{Duration, Instant};

impl Writer {
    /// Create `id`'s file from the rules, within the create rate limit (unless `unlimited`): on the creator pool
    /// when there is one (`Err(Creating)`: the file is adopted later by [`Writer::adopt_created`]), else here.
    pub(super) fn create(
        &mut self,
        id: MetricId,
        path: std::path::PathBuf,
        unlimited: bool,
    ) -> Result<WhisperFile, WriteFailure> {
        let now = Instant::now();
        if !unlimited && !self.creates.try_take(now) {
            return Err(WriteFailure::CreateLimited(self.creates.next_token_at(now)));
        }
        let name = &self.cache.entry(id).name;
        let archives = self.cfg.rules.archives(name);
        let (aggregation, x_files_factor) = self.cfg.rules.aggregation(name);
        let opts = CreateOptions { x_files_factor, aggregation, mode: self.cfg.create_mode };
        if self.cfg.log_creates {
            super::super::rules::log_create(self.cfg.rules.as_ref(), name, &archives, aggregation, x_files_factor);
        }
        let job = CreateJob { id, path, archives, opts, open: self.cfg.open };
        match &mut self.creators {
            Some(pool) => {
                pool.submit(Job::Create(job));
                Err(WriteFailure::Creating)
            }
            None => {
                let f = creators::create(&job).map_err(classify)?;
                self.count_created(id);
                Ok(f)
            }
        }
    }

    /// A file was created for `id`: count it, and queue the series for the tag database.
    pub(super) fn count_created(&mut self, id: MetricId) {
        Stats::add(&self.stats.creates, 1);
        let path = crate::metric::file_path_as(&self.cfg.data_dir, &self.cache.entry(id).name, self.cfg.tag_files);
        self.durable.created(&path);
        if let Some(tags) = self.tags.as_mut() {
            tags.created(&self.cache.entry(id).name);
        }
    }

    /// Start the creator pool (`cfg.creators` threads, none for 0) from the writer thread, which they wake.
    pub(super) fn start_creators(&mut self) {
        if self.cfg.creators == 0 {
            return;
        }
        match Creators::start(self.cfg.creators, std::thread::current(), self.hold_creates.clone()) {
            Ok(pool) => self.creators = Some(pool),
            Err(e) => tracing::warn!(error = %e, "cannot start the creator pool: creating files on the writer thread"),
        }
    }

    pub(super) fn creates_in_flight(&self) -> usize {
        self.creators.as_ref().map_or(0, Creators::in_flight)
    }

    /// Adopt every file the pool finished. Returns whether there was any.
    pub(super) fn adopt_created(&mut self) -> bool {
        let mut any = false;
        while let Some(c) = self.creators.as_mut().and_then(Creators::try_done) {
            self.adopt(c);
            any = true;
        }
        any
    }

    /// Wait up to `timeout` for the pool to finish a file, and adopt it.
    pub(super) fn wait_created(&mut self, timeout: Duration) {
        if let Some(c) = self.creators.as_mut().and_then(|p| p.wait_done(timeout)) {
            self.adopt(c);
        }
    }

    /// Take a created file into the LRU and queue its metric again (or handle the failure as a write failure).
    /// An opened one likewise; if the pool could not read it, the writer's next attempt opens it itself (and
    /// meets whatever the error was: a file deleted meanwhile is created, a corrupt one refused).
    pub(super) fn adopt(&mut self, c: Created) {
        let id = c.id;
        if c.opened {
            match c.result {
                Ok(file) => self.keep_open(id, file),
                Err(_) => self.cache.entry_mut(id).open_here = true,
            }
            self.cache.unpark(id, None);
            return;
        }
        match c.result {
            Ok(file) => {
                self.count_created(id);
                self.keep_open(id, file);
                self.cache.unpark(id, None);
            }
            Err(e) => match classify(e) {
                WriteFailure::Reject(e) => {
                    Stats::add(&self.stats.errors, 1);
                    self.log_error(id, &e, "dropping points");
                    let mut held = std::mem::take(&mut self.held);
                    let mut tickets = std::mem::take(&mut self.owned_tickets);
                    // Taken while still parked, so the unpark leaves an empty metric out of the dirty order.
                    self.cache.take(id, &mut held);
                    self.cache.unpark(id, None);
                    store::split(&held, &mut self.points, &mut tickets);
                    self.resolve_tickets(&tickets, Instant::now());
                    held.clear();
                    tickets.clear();
                    self.points.clear();
                    self.held = held;
                    self.owned_tickets = tickets;
                }
                WriteFailure::Retry(e) => {
                    Stats::add(&self.stats.errors, 1);
                    self.log_error(id, &e, "keeping points, will retry");
                    let at = self.retry_after_failure(id);
                    self.cache.unpark(id, Some(at));
                }
                WriteFailure::Creating | WriteFailure::CreateLimited(_) => self.cache.unpark(id, None),
            },
        }
    }
}
