//! The filter in force for `warren cache`, replaceable while the inputs run (SIGHUP re-reads the rules).
//!
//! Each input keeps a [`FilterView`]: its own handle on the current [`Filter`], refreshed when the generation
//! changes. The cost per batch is one atomic load; the lock is taken only on the first batch after a change.
//! A batch is filtered entirely by the old rules or entirely by the new ones.
//!
//! Owns: which compiled filter is current. Never touches: the rules themselves.

use super::Filter;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inner {
    generation: AtomicU64,
    current: Mutex<Option<Arc<Filter>>>,
}

/// The current filter (`None`: no rules), shared by every input and the reload.
#[derive(Clone, Default)]
pub struct LiveFilter(Arc<Inner>);

impl LiveFilter {
    /// Start with `filter`.
    pub fn new(filter: Option<Arc<Filter>>) -> Self {
        LiveFilter(Arc::new(Inner { generation: AtomicU64::new(0), current: Mutex::new(filter) }))
    }

    /// Make `filter` current for every batch filtered from now on.
    pub fn set(&self, filter: Option<Arc<Filter>>) {
        // A poisoned lock only means a panic elsewhere while swapping an Arc; the value is whole.
        *self.0.current.lock().unwrap_or_else(|e| e.into_inner()) = filter;
        self.0.generation.fetch_add(1, Ordering::Release);
    }

    /// An input's handle.
    pub fn view(&self) -> FilterView {
        let seen = self.0.generation.load(Ordering::Acquire);
        let current = self.0.current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        FilterView { live: self.clone(), seen, current }
    }
}

/// One input's handle on the current filter.
pub struct FilterView {
    live: LiveFilter,
    seen: u64,
    current: Option<Arc<Filter>>,
}

impl FilterView {
    /// The filter to apply to the next batch (`None`: no rules).
    pub fn current(&mut self) -> Option<&Filter> {
        let g = self.live.0.generation.load(Ordering::Acquire);
        if g != self.seen {
            *self = self.live.view();
        }
        self.current.as_deref()
    }
}

impl Default for FilterView {
    /// No rules, ever.
    fn default() -> Self {
        LiveFilter::default().view()
    }
}

impl std::fmt::Debug for LiveFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFilter").field("generation", &self.0.generation.load(Ordering::Relaxed)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::front::FilterSettings;

    #[test]
    fn a_view_sees_the_filter_set_after_it_was_made() {
        let live = LiveFilter::new(None);
        let mut view = live.view();
        assert!(view.current().is_none());
        let s = FilterSettings { rewrite_pre: vec![["^a".into(), "b".into()]], ..FilterSettings::default() };
        live.set(Filter::load(&s).unwrap().map(Arc::new));
        assert!(view.current().is_some());
        live.set(None);
        assert!(view.current().is_none());
    }
}
