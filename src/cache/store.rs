//! The cache proper: metric → points not yet written, with the batch tickets those points belong to, and the
//! order in which dirty metrics are handed to the writer (the write strategy).
//!
//! Names are interned once: a metric seen before costs one hash lookup per point, no allocation. The index holds
//! only the 4-byte ids (the names live in the entries), so it stays in the CPU's cache for hundreds of thousands
//! of metrics; the hash is foldhash, seeded per process (names come from the network).
//!
//! A point's ticket slot travels in the point itself ([`Held`]: the slot fills what would be `Point`'s padding),
//! so caching a point writes one vector, not two: with 100 metrics per message every point of a metric has its
//! own ticket, and a second per-metric vector cost a second cache miss per point on the writer's intake. The
//! writer turns a metric's held points into ticket runs and plain points when it takes them ([`split`]).

use crate::config::settings::WriteStrategy;
use crate::whisper::{Point, WhisperFile};
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::time::Instant;

/// Index of a metric in the cache (stable for the life of the process).
pub type MetricId = u32;

/// The slot of a point no delivery waits for (from the socket receivers).
pub const NO_TICKET: u32 = u32::MAX;

/// A point as the cache holds it: the point and the ticket slot of the batch it came in ([`NO_TICKET`] if none).
/// 16 bytes, as `Point` is with its padding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Held {
    pub timestamp: u32,
    pub slot: u32,
    pub value: f64,
}

impl Held {
    /// The point to write.
    #[inline]
    pub fn point(&self) -> Point {
        Point { timestamp: self.timestamp, value: self.value }
    }
}

/// Split held points (in arrival order) into the points to write and the (ticket slot, points of that batch)
/// runs they resolve, consecutive same-slot points merged into one run. `points` and `tickets` are appended to.
pub fn split(held: &[Held], points: &mut Vec<Point>, tickets: &mut Vec<(u32, u32)>) {
    points.reserve(held.len());
    for h in held {
        points.push(h.point());
        if h.slot == NO_TICKET {
            continue;
        }
        match tickets.last_mut() {
            Some((last, n)) if *last == h.slot => *n += 1,
            _ => tickets.push((h.slot, 1)),
        }
    }
}

/// Everything the cache knows about one metric.
pub struct Entry {
    /// The validated metric name.
    pub name: Box<str>,
    /// Points not yet written, in arrival order, each with its ticket slot.
    pub points: Vec<Held>,
    /// The smallest timestamp in `points` (for the timesorted strategy).
    pub oldest: u32,
    /// In the dirty queue or the current pass (cleared when [`Cache::next`] hands it out).
    queued: bool,
    /// Not to be retried before this instant (write error or create rate limit).
    pub retry_at: Option<Instant>,
    /// The open file, if it is in the descriptor LRU.
    pub file: Option<WhisperFile>,
    /// Where the writer lists this metric among its open files (meaningful while `file` is open).
    pub open_slot: u32,
    /// Updates of the open file since it was opened (or created), counted up to `u8::MAX`.
    pub updates_open: u8,
    /// The creator pool failed to read this file in: the writer opens it itself next time (waiting for the disk).
    pub open_here: bool,
}

/// Metric → pending points, plus the dirty order.
pub struct Cache {
    index: hashbrown::HashTable<MetricId>,
    hasher: foldhash::fast::RandomState,
    entries: Vec<Entry>,
    dirty: VecDeque<MetricId>,
    pass: VecDeque<MetricId>,
    total_points: usize,
    strategy: WriteStrategy,
    /// Emptied point vectors, capacity kept, for entries that receive points again ([`Cache::take`]).
    spare: Vec<Vec<Held>>,
}

/// Emptied point vectors kept for reuse at most: enough for every metric written in a busy turn, bounded so an
/// idle cache holds no more than this many.
const SPARE_BUFFERS: usize = 4096;

/// A vector of more points than this is not kept for reuse (a backlog's rare huge vector is given back to the
/// allocator).
const SPARE_MAX_POINTS: usize = 1024;

impl Cache {
    /// An empty cache that hands out metrics in `strategy` order.
    pub fn new(strategy: WriteStrategy) -> Self {
        Cache {
            index: hashbrown::HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            entries: Vec::new(),
            dirty: VecDeque::new(),
            pass: VecDeque::new(),
            spare: Vec::new(),
            total_points: 0,
            strategy,
        }
    }

    /// Names of the metrics holding points with no open file.
    pub fn unwritten(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter(|e| !e.points.is_empty() && e.file.is_none()).map(|e| &*e.name)
    }

    /// Metrics with points held, and those points split by whether a delivery is waiting for them (they have a
    /// ticket) or not (points from the socket receivers).
    pub fn unwritten_points(&self) -> (usize, usize, usize) {
        let (mut metrics, mut tracked, mut untracked) = (0, 0, 0);
        for e in self.entries.iter().filter(|e| !e.points.is_empty()) {
            let t = e.points.iter().filter(|h| h.slot != NO_TICKET).count();
            metrics += 1;
            tracked += t;
            untracked += e.points.len() - t;
        }
        (metrics, tracked, untracked)
    }

    /// Points held, over all metrics.
    pub fn total_points(&self) -> usize {
        self.total_points
    }

    /// Metrics with points waiting.
    pub fn dirty_metrics(&self) -> usize {
        self.dirty.len() + self.pass.len()
    }

    /// The id of `name` (validated UTF-8), interning it on first sight.
    #[inline]
    pub fn intern(&mut self, name: &[u8]) -> MetricId {
        let hash = self.hasher.hash_one(name);
        let entries = &self.entries;
        if let Some(&id) = self.index.find(hash, |&id| entries[id as usize].name.as_bytes() == name) {
            return id;
        }
        let id = self.entries.len() as MetricId;
        let owned = String::from_utf8_lossy(name).into_owned().into_boxed_str();
        // The stored name is what the index compares with: hashed again in case the lossy copy differs.
        let hash = self.hasher.hash_one(owned.as_bytes());
        self.entries.push(Entry {
            name: owned,
            points: Vec::new(),
            oldest: u32::MAX,
            queued: false,
            retry_at: None,
            file: None,
            open_slot: 0,
            updates_open: 0,
            open_here: false,
        });
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, id, |&id| hasher.hash_one(entries[id as usize].name.as_bytes()));
        id
    }

    /// The id of `name` if the cache has seen it.
    pub fn lookup(&self, name: &[u8]) -> Option<MetricId> {
        let hash = self.hasher.hash_one(name);
        self.index.find(hash, |&id| self.entries[id as usize].name.as_bytes() == name).copied()
    }

    /// Add one point for `id`, belonging to ticket `slot` (if the batch is acked after persist).
    #[inline]
    pub fn push(&mut self, id: MetricId, p: Point, slot: Option<u32>) {
        debug_assert!(slot != Some(NO_TICKET), "ticket slots are counted from 0 and never reach u32::MAX");
        let e = &mut self.entries[id as usize];
        if e.points.capacity() == 0 {
            // A written metric's vector went back to the spares: take one rather than grow from nothing.
            if let Some(v) = self.spare.pop() {
                e.points = v;
            }
        }
        e.points.push(Held { timestamp: p.timestamp, slot: slot.unwrap_or(NO_TICKET), value: p.value });
        e.oldest = e.oldest.min(p.timestamp);
        if !e.queued {
            e.queued = true;
            self.dirty.push_back(id);
        }
        self.total_points += 1;
    }

    /// Borrow an entry.
    pub fn entry(&self, id: MetricId) -> &Entry {
        &self.entries[id as usize]
    }

    /// Borrow an entry mutably.
    pub fn entry_mut(&mut self, id: MetricId) -> &mut Entry {
        &mut self.entries[id as usize]
    }

    /// The next metric to write by the strategy, skipping (and requeueing) those not to be retried before
    /// `now`. Removes it from the dirty order; the caller must [`Cache::take`] or [`Cache::requeue`] it.
    pub fn next(&mut self, now: Instant) -> Option<MetricId> {
        let limit = self.dirty_metrics();
        for _ in 0..limit {
            let id = self.pick()?;
            match self.entries[id as usize].retry_at {
                Some(t) if t > now => self.dirty.push_back(id),
                _ => {
                    self.entries[id as usize].queued = false;
                    return Some(id);
                }
            }
        }
        None
    }

    /// The metric [`Cache::next`] would hand out after `k` more (0: the next one), as far as the order is known
    /// without changing it: for the writer's look-ahead, which only reads memory early, so a wrong guess costs
    /// nothing but the hint.
    #[inline]
    pub fn upcoming(&self, k: usize) -> Option<MetricId> {
        match self.strategy {
            WriteStrategy::Naive => self.dirty.get(k).copied(),
            WriteStrategy::Sorted | WriteStrategy::Timesorted => self.pass.get(k).copied(),
            WriteStrategy::Max => None,
        }
    }

    /// Start loading `id`'s entry into the CPU's caches (the look-ahead's first step).
    #[inline]
    pub fn prefetch_entry(&self, id: MetricId) {
        if let Some(e) = self.entries.get(id as usize) {
            crate::whisper::prefetch(e);
        }
    }

    fn pick(&mut self) -> Option<MetricId> {
        match self.strategy {
            WriteStrategy::Naive => self.dirty.pop_front(),
            WriteStrategy::Max => {
                let (i, _) =
                    self.dirty.iter().enumerate().max_by_key(|(_, &id)| self.entries[id as usize].points.len())?;
                self.dirty.swap_remove_back(i)
            }
            WriteStrategy::Sorted | WriteStrategy::Timesorted => {
                if self.pass.is_empty() {
                    let mut ids: Vec<MetricId> = self.dirty.drain(..).collect();
                    if self.strategy == WriteStrategy::Sorted {
                        ids.sort_by_key(|&id| std::cmp::Reverse(self.entries[id as usize].points.len()));
                    } else {
                        ids.sort_by_key(|&id| self.entries[id as usize].oldest);
                    }
                    self.pass = ids.into();
                }
                self.pass.pop_front()
            }
        }
    }

    /// Take every pending point of `id` with its ticket (it leaves the dirty order until new points arrive).
    /// `points` must be empty: it receives the entry's vector, and its own (emptied, capacity kept) goes to the
    /// spares, from which the next entry to receive points takes one. The entry keeps no capacity: the vectors
    /// circulate among the metrics being written instead of each of thousands of idle metrics holding its own
    /// (in a fresh process, every first point of a metric grew a vector from nothing on new heap pages: 25 % of
    /// the writer's samples in the steady rk-100 drain, `mprotect` and page faults included).
    pub fn take(&mut self, id: MetricId, points: &mut Vec<Held>) {
        let e = &mut self.entries[id as usize];
        debug_assert!(points.is_empty());
        let emptied = std::mem::replace(points, std::mem::take(&mut e.points));
        e.oldest = u32::MAX;
        self.total_points -= points.len();
        if emptied.capacity() > 0 && emptied.capacity() <= SPARE_MAX_POINTS && self.spare.len() < SPARE_BUFFERS {
            self.spare.push(emptied);
        }
    }

    /// Put points taken by [`Cache::take`] back after a failed write, ahead of any that arrived meanwhile, and
    /// queue the metric again. `points` is left empty.
    pub fn restore(&mut self, id: MetricId, points: &mut Vec<Held>) {
        self.restore_points(id, points);
        self.requeue(id);
    }

    fn restore_points(&mut self, id: MetricId, points: &mut Vec<Held>) {
        let e = &mut self.entries[id as usize];
        self.total_points += points.len();
        points.append(&mut e.points);
        std::mem::swap(&mut e.points, points);
        e.oldest = e.points.iter().map(|p| p.timestamp).min().unwrap_or(u32::MAX);
    }

    /// Put points back like [`Cache::restore`] but keep the metric out of the dirty order (its file is being
    /// created): new points for it are cached without queueing it, until [`Cache::unpark`].
    pub fn park(&mut self, id: MetricId, points: &mut Vec<Held>) {
        self.restore_points(id, points);
        self.entries[id as usize].queued = true;
    }

    /// Queue a parked metric again (if it has points), not to be tried before `retry_at`.
    pub fn unpark(&mut self, id: MetricId, retry_at: Option<Instant>) {
        let e = &mut self.entries[id as usize];
        e.queued = false;
        e.retry_at = retry_at;
        self.requeue(id);
    }

    /// Put a metric returned by [`Cache::next`] back at the end of the dirty order.
    pub fn requeue(&mut self, id: MetricId) {
        let e = &mut self.entries[id as usize];
        if !e.points.is_empty() && !e.queued {
            e.queued = true;
            self.dirty.push_back(id);
        }
    }

    /// The points of `name` still in the cache, in arrival order (for CarbonLink queries).
    pub fn points_of(&self, name: &str) -> impl Iterator<Item = Point> + '_ {
        let held = self.lookup(name.as_bytes()).map(|id| &self.entries[id as usize].points[..]).unwrap_or(&[]);
        held.iter().map(Held::point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(t: u32) -> Point {
        Point { timestamp: t, value: t as f64 }
    }

    /// The points and ticket runs of `held`.
    fn split_all(held: &[Held]) -> (Vec<Point>, Vec<(u32, u32)>) {
        let (mut p, mut t) = (Vec::new(), Vec::new());
        split(held, &mut p, &mut t);
        (p, t)
    }

    #[test]
    fn a_written_metric_gives_its_vector_to_the_next_metric_that_receives_points() {
        let mut c = Cache::new(WriteStrategy::Naive);
        let (a, b, fresh) = (c.intern(b"a"), c.intern(b"b"), c.intern(b"fresh"));
        for t in 0..3 {
            c.push(a, pt(t), Some(7));
        }
        c.push(b, pt(9), None);
        let mut held = Vec::new();
        c.take(a, &mut held);
        assert_eq!(held.iter().map(|h| (h.timestamp, h.slot)).collect::<Vec<_>>(), [(0, 7), (1, 7), (2, 7)]);
        assert_eq!(c.entry(a).points.capacity(), 0, "a written metric keeps no vector");
        let a_vector = held.as_ptr();
        held.clear();
        // Taking the next metric puts the emptied vector (a's) among the spares ...
        c.take(b, &mut held);
        assert_eq!(held.len(), 1);
        assert_eq!(c.total_points(), 0);
        // ... and the next metric to receive a point gets it, not a new allocation.
        c.push(fresh, pt(5), None);
        assert_eq!(c.entry(fresh).points.as_ptr(), a_vector);
        assert_eq!(c.points_of("fresh").map(|p| p.timestamp).collect::<Vec<_>>(), [5]);
        // A vector too large to keep goes back to the allocator; one of a size to keep is kept.
        let spares = c.spare.len();
        let mut big = Vec::with_capacity(SPARE_MAX_POINTS + 1);
        c.take(fresh, &mut big);
        assert_eq!((c.spare.len(), big.len()), (spares, 1));
        let mut small = Vec::with_capacity(SPARE_MAX_POINTS);
        c.take(a, &mut small);
        assert_eq!(c.spare.len(), spares + 1);
    }

    fn order(strategy: WriteStrategy) -> Vec<String> {
        let mut c = Cache::new(strategy);
        for (name, n, base) in [("a", 1, 30), ("b", 3, 20), ("c", 2, 10)] {
            let id = c.intern(name.as_bytes());
            for i in 0..n {
                c.push(id, pt(base + i), None);
            }
        }
        let mut out = Vec::new();
        let mut p = Vec::new();
        while let Some(id) = c.next(Instant::now()) {
            c.take(id, &mut p);
            out.push(c.entry(id).name.to_string());
            p.clear();
        }
        assert_eq!(c.total_points(), 0);
        out
    }

    #[test]
    fn strategies_hand_out_metrics_in_carbons_orders() {
        assert_eq!(order(WriteStrategy::Sorted), ["b", "c", "a"]);
        assert_eq!(order(WriteStrategy::Max), ["b", "c", "a"]);
        assert_eq!(order(WriteStrategy::Naive), ["a", "b", "c"]);
        assert_eq!(order(WriteStrategy::Timesorted), ["c", "b", "a"]);
    }

    /// What [`Cache::upcoming`] says comes next, beside what [`Cache::next`] then hands out, metric by metric
    /// (names; `-` for no guess).
    fn look_ahead_against_order(strategy: WriteStrategy) -> Vec<(String, String)> {
        let mut c = Cache::new(strategy);
        for (name, n, base) in [("a", 1, 30), ("b", 3, 20), ("c", 2, 10), ("d", 4, 40)] {
            let id = c.intern(name.as_bytes());
            for i in 0..n {
                c.push(id, pt(base + i), None);
            }
        }
        let name = |c: &Cache, id: Option<MetricId>| id.map_or("-".to_string(), |id| c.entry(id).name.to_string());
        let mut out = Vec::new();
        let mut p = Vec::new();
        // The first pick starts a sorted pass: the guesses are read after each pick, as the writer reads them.
        let mut guess = String::new();
        while let Some(id) = c.next(Instant::now()) {
            if !guess.is_empty() {
                out.push((guess.clone(), c.entry(id).name.to_string()));
            }
            guess = name(&c, c.upcoming(0));
            c.take(id, &mut p);
            p.clear();
        }
        out
    }

    #[test]
    fn the_look_ahead_names_the_metrics_the_writer_gets_next() {
        for strategy in [WriteStrategy::Naive, WriteStrategy::Sorted, WriteStrategy::Timesorted] {
            let pairs = look_ahead_against_order(strategy);
            assert_eq!(pairs.len(), 3, "{strategy:?}");
            for (guess, got) in pairs {
                assert_eq!(guess, got, "{strategy:?}");
            }
        }
        // Max picks by the points held at that moment: no guess.
        assert!(look_ahead_against_order(WriteStrategy::Max).iter().all(|(guess, _)| guess == "-"));
        // Two and three ahead, naive: the rest of the dirty order.
        let mut c = Cache::new(WriteStrategy::Naive);
        let ids: Vec<_> = ["p", "q", "r", "s"].iter().map(|n| c.intern(n.as_bytes())).collect();
        for &id in &ids {
            c.push(id, pt(1), None);
        }
        assert_eq!(c.next(Instant::now()), Some(ids[0]));
        assert_eq!(
            (c.upcoming(0), c.upcoming(1), c.upcoming(2), c.upcoming(3)),
            (Some(ids[1]), Some(ids[2]), Some(ids[3]), None)
        );
    }

    #[test]
    fn tickets_of_consecutive_points_from_one_batch_merge() {
        let mut c = Cache::new(WriteStrategy::Naive);
        let id = c.intern(b"x");
        c.push(id, pt(1), Some(7));
        c.push(id, pt(2), Some(7));
        c.push(id, pt(3), Some(8));
        c.push(id, pt(4), None);
        c.push(id, pt(5), Some(8));
        c.push(id, pt(6), Some(7));
        let (points, tickets) = split_all(&c.entry(id).points);
        assert_eq!(points, (1..=6).map(pt).collect::<Vec<_>>());
        // A point with no ticket between two of slot 8 does not cut the run; a later slot 7 point starts a new one.
        assert_eq!(tickets, vec![(7, 2), (8, 2), (7, 1)]);
        assert_eq!(c.unwritten_points(), (1, 5, 1));
    }

    #[test]
    fn restored_points_come_before_newer_ones_and_are_queued_again() {
        let mut c = Cache::new(WriteStrategy::Naive);
        let id = c.intern(b"x");
        c.push(id, pt(1), Some(1));
        let mut p = Vec::new();
        assert_eq!(c.next(Instant::now()), Some(id));
        c.take(id, &mut p);
        c.push(id, pt(2), Some(2));
        c.restore(id, &mut p);
        assert!(p.is_empty());
        assert_eq!(split_all(&c.entry(id).points), (vec![pt(1), pt(2)], vec![(1, 1), (2, 1)]));
        assert_eq!(c.total_points(), 2);
        assert_eq!(c.next(Instant::now()), Some(id));
        assert_eq!(c.next(Instant::now()), None, "queued once only");
    }

    #[test]
    fn a_parked_metric_keeps_its_points_out_of_the_dirty_order_until_unparked() {
        let mut c = Cache::new(WriteStrategy::Naive);
        let a = c.intern(b"a");
        let b = c.intern(b"b");
        c.push(a, pt(1), Some(1));
        c.push(b, pt(1), None);
        let mut p = Vec::new();
        assert_eq!(c.next(Instant::now()), Some(a));
        c.take(a, &mut p);
        c.park(a, &mut p);
        c.push(a, pt(2), Some(2));
        assert_eq!(c.points_of("a").collect::<Vec<_>>(), [pt(1), pt(2)], "parked points stay visible to queries");
        assert_eq!(c.total_points(), 3);
        assert_eq!(c.next(Instant::now()), Some(b));
        c.take(b, &mut p);
        p.clear();
        assert_eq!(c.next(Instant::now()), None, "a new point does not queue a parked metric");
        c.unpark(a, None);
        assert_eq!(c.next(Instant::now()), Some(a));
        c.take(a, &mut p);
        assert_eq!(split_all(&p), (vec![pt(1), pt(2)], vec![(1, 1), (2, 1)]));
    }

    #[test]
    fn metrics_waiting_for_a_retry_are_skipped() {
        let mut c = Cache::new(WriteStrategy::Naive);
        let a = c.intern(b"a");
        let b = c.intern(b"b");
        c.push(a, pt(1), None);
        c.push(b, pt(1), None);
        c.entry_mut(a).retry_at = Some(Instant::now() + std::time::Duration::from_secs(60));
        assert_eq!(c.next(Instant::now()), Some(b));
        c.requeue(b);
        assert_eq!(c.next(Instant::now()), Some(b));
    }
}
