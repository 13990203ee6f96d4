//! Where threads run: widening a thread from the one core it inherited back to every CPU the process may use.
//!
//! A thread inherits the CPU mask of the thread that spawns it. warren pins its AMQP workers and its writer each
//! to one core; a thread they start shares that core unless it widens itself (the creator pool does; a
//! connection's I/O thread stays with its worker, measured in tuning/README.md). The process's CPUs are the main
//! thread's, which warren never pins: what `taskset` or a cpuset allowed.
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

/// `Cpus_allowed_list` of a `/proc/.../status` file (tests: where a thread may run, as the kernel shows it).
#[cfg(test)]
pub(crate) fn allowed_list(status: impl AsRef<std::path::Path>) -> String {
    let text = std::fs::read_to_string(status).unwrap();
    text.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim().to_string()
}

/// Run `f` on a new thread pinned to the first core and return what it returns: the situation of the threads the
/// writer or a worker starts. Checks its own control: on a machine with more than one CPU the pinned thread's
/// mask is narrower than the process's, so a widened mask is a real change.
#[cfg(test)]
pub(crate) fn on_a_pinned_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let process = allowed_list("/proc/self/status");
    let cores = core_affinity::get_core_ids().unwrap();
    let (first, many) = (cores[0], cores.len() > 1);
    let (pinned, r) = std::thread::spawn(move || {
        assert!(core_affinity::set_for_current(first));
        (allowed_list("/proc/thread-self/status"), f())
    })
    .join()
    .unwrap();
    if many {
        assert_ne!(pinned, process, "the control: pinning narrowed the thread");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_thread_is_widened_to_the_process_cpus() {
        let widened = on_a_pinned_thread(|| {
            run_on_process_cpus();
            allowed_list("/proc/thread-self/status")
        });
        assert_eq!(widened, allowed_list("/proc/self/status"));
    }
}
