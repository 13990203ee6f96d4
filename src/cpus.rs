//! Where threads run: widening a thread (or what it spawns) from the one core it was pinned to back to every CPU
//! the process may use.
//!
//! A thread inherits the CPU mask of the thread that spawns it. warren pins its AMQP workers and its writer each
//! to one core; threads they start (the creator pool, a connection's I/O thread) would share that core unless
//! they are widened. The process's CPUs are the main thread's, which warren never pins: what `taskset` or a
//! cpuset allowed.
//!
//! Owns: nothing. Never touches: anything but the calling thread's CPU mask.

/// The main thread's CPU mask, or `None` if it cannot be read.
fn process_mask() -> Option<libc::cpu_set_t> {
    // SAFETY: `cpu_set_t` is plain data, all zeros is a valid (empty) set; the call writes at most
    // `size_of::<cpu_set_t>()` bytes into `set`, which is exactly that big.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(libc::getpid(), std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0).then_some(set)
    }
}

/// The calling thread's CPU mask, or `None` if it cannot be read.
fn own_mask() -> Option<libc::cpu_set_t> {
    // SAFETY: as in `process_mask`; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0).then_some(set)
    }
}

/// Set the calling thread's mask (best effort: on failure it keeps its mask).
fn set_own_mask(set: &libc::cpu_set_t) {
    // SAFETY: the call reads `size_of::<cpu_set_t>()` bytes of `set`, a valid set that outlives the call.
    unsafe {
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set);
    }
}

/// Let the calling thread run on every CPU of the process (best effort).
pub fn run_on_process_cpus() {
    if let Some(set) = process_mask() {
        set_own_mask(&set);
    }
}

/// Run `f` with the calling thread widened to every CPU of the process, then put its mask back: threads `f`
/// spawns are not pinned to the caller's core.
pub fn with_process_cpus<R>(f: impl FnOnce() -> R) -> R {
    let own = own_mask();
    run_on_process_cpus();
    let r = f();
    if let Some(set) = own {
        set_own_mask(&set);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(status: &str) -> String {
        let text = std::fs::read_to_string(status).unwrap();
        text.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim().to_string()
    }

    #[test]
    fn a_pinned_thread_spawns_unpinned_inside_with_process_cpus_and_is_pinned_again_after() {
        let process = allowed("/proc/self/status");
        let cores = core_affinity::get_core_ids().unwrap();
        let (first, many) = (cores[0], cores.len() > 1);
        let (pinned, spawned, after) = std::thread::spawn(move || {
            assert!(core_affinity::set_for_current(first));
            let pinned = allowed("/proc/thread-self/status");
            let spawned =
                with_process_cpus(|| std::thread::spawn(|| allowed("/proc/thread-self/status")).join().unwrap());
            (pinned, spawned, allowed("/proc/thread-self/status"))
        })
        .join()
        .unwrap();
        assert_eq!(spawned, process);
        assert_eq!(after, pinned);
        if many {
            assert_ne!(pinned, process, "the control: pinning narrowed the thread");
        }
    }
}
