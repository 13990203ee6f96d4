//! The descriptor budget of the writer's open-file LRU.
//!
//! Re-opening a whisper file costs an open, a header read and a close — several times the cost of the write
//! itself — so the writer keeps as many files open as the process may. At start the soft RLIMIT_NOFILE is raised
//! towards what the LRU wants (as far as the hard limit, or beyond it when the process may raise that too), and
//! the LRU is sized to what was granted, less a reserve for sockets and the broker connections. Mapped files
//! hold no descriptor; their number is bounded by the kernel's limit on mappings instead.
//!
//! The process's descriptor table is grown to the budget at start ([`presize_table`]): the kernel grows it by
//! doubling as descriptors are allocated, and in a multi-threaded process each doubling waits for an RCU grace
//! period (`expand_files` → `synchronize_rcu`, ~10 ms in a VM). A writer opening 20,000 files after a restart
//! otherwise stalls about nine times on its critical path (tuning/README.md, "A fifth VM: what the writer waited for").

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
    let budget = budget.min(wanted as u64) as usize;
    presize_table(budget.saturating_add(RESERVE as usize));
    budget
}

/// Grow the descriptor table now so that descriptors below `n` (within the soft limit) are allocated without
/// growing it again: a descriptor is duplicated to the highest of them and closed (the table never shrinks).
/// Returns the descriptor count the table was grown to cover, or `None` if it could not be (nothing changes).
pub fn presize_table(n: usize) -> Option<usize> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let limit = get()?.rlim_cur;
    let top = (n as u64).min(limit).checked_sub(1)?;
    let top = libc::c_int::try_from(top).ok()?;
    let null = std::fs::File::open("/dev/null").ok()?;
    // SAFETY: F_DUPFD_CLOEXEC duplicates the open descriptor `null` to the lowest free descriptor ≥ `top` and
    // touches no memory of ours; a failure (EINVAL past the limit, EMFILE) returns -1 and allocates nothing.
    let high = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, top) };
    if high < 0 {
        return None;
    }
    // SAFETY: `high` was just returned by fcntl, so it is an open descriptor that nothing else owns; dropping
    // the OwnedFd closes it once.
    drop(unsafe { OwnedFd::from_raw_fd(high) });
    usize::try_from(high).ok().map(|h| h + 1)
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
