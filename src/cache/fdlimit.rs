//! The descriptor budget of the writer's open-file LRU.
//!
//! Re-opening a whisper file costs an open, a header read and a close — several times the cost of the write
//! itself — so the writer keeps as many files open as the process may. At start the soft RLIMIT_NOFILE is raised
//! towards what the LRU wants (as far as the hard limit, or beyond it when the process may raise that too), and
//! the LRU is sized to what was granted, less a reserve for sockets and the broker connections. Mapped files
//! hold no descriptor; their number is bounded by the kernel's limit on mappings instead.

/// Descriptors kept free for sockets, broker connections, logs and the query side.
pub const RESERVE: u64 = 1024;

fn get() -> Option<libc::rlimit> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the valid, exclusively borrowed struct and reads nothing else.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0).then_some(r)
}

fn set(r: &libc::rlimit) -> bool {
    // SAFETY: setrlimit only reads the valid struct passed by reference.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, r) == 0 }
}

/// Raise the descriptor limit so that `wanted` files can stay open, and return how many may (at least 64).
pub fn open_file_budget(wanted: usize) -> usize {
    let want = wanted as u64 + RESERVE;
    let Some(mut r) = get() else { return wanted.min(1024) };
    if r.rlim_cur < want {
        let target = libc::rlimit { rlim_cur: want, rlim_max: r.rlim_max.max(want) };
        // Raising the hard limit needs privilege; without it, go as far as the hard limit allows.
        if !set(&target) {
            let capped = libc::rlimit { rlim_cur: want.min(r.rlim_max), rlim_max: r.rlim_max };
            set(&capped);
        }
        r = get().unwrap_or(r);
    }
    let budget = r.rlim_cur.saturating_sub(RESERVE).max(64);
    if budget < wanted as u64 {
        tracing::info!(wanted, granted = budget, "descriptor limit keeps fewer whisper files open than configured");
    }
    budget.min(wanted as u64) as usize
}

/// Mappings kept free for the allocator, thread stacks and libraries.
pub const MAP_RESERVE: usize = 8192;

/// How many whisper files may stay mapped: `wanted`, within the kernel's limit on a process's mappings
/// (`vm.max_map_count`, 65530 by default) less [`MAP_RESERVE`].
pub fn mapping_budget(wanted: usize) -> usize {
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok().and_then(|s| s.trim().parse().ok());
    max.unwrap_or(65530usize).saturating_sub(MAP_RESERVE).max(64).min(wanted)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_budget_never_exceeds_the_limit_less_the_reserve() {
        let b = super::open_file_budget(1 << 30);
        let r = super::get().unwrap();
        assert!(b as u64 <= r.rlim_cur.saturating_sub(super::RESERVE).max(64));
        assert_eq!(super::open_file_budget(100), 100);
    }
}
