//! Resource use of a running process, read from `/proc/<pid>` (Linux).
//!
//! Also the one way the bench stops a child process (SIGTERM, then SIGKILL after a grace period).
//!
//! Owns: nothing. Never touches: anything but `/proc` and the child it is handed.

/// Peak resident set and CPU time of a process so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ProcUsage {
    /// Peak resident set size (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// User + system CPU time, seconds.
    pub cpu_seconds: f64,
}

/// The kernel reports utime/stime in USER_HZ ticks, which Linux fixes at 100 on every architecture it exposes
/// through /proc (the real HZ is hidden), so no sysconf call is needed.
const USER_HZ: f64 = 100.0;

/// Read the usage of `pid`; `None` if the process is gone or /proc is not readable.
pub fn usage(pid: u32) -> Option<ProcUsage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak_rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(ProcUsage { peak_rss_kib, cpu_seconds: cpu_from_stat(&stat)? })
}

/// The CPU time so far of every RabbitMQ broker on this machine (the Erlang VMs, `beam.smp`, summed: a
/// one-machine cluster runs several); `None` if there is none to see (a broker elsewhere, or /proc hidden).
/// Read before and after a drain, it tells how much of the machine the broker took meanwhile.
pub fn broker_cpu_seconds() -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|p| p.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        if comm_of(&stat) == Some("beam.smp") {
            if let Some(cpu) = cpu_from_stat(&stat) {
                *total.get_or_insert(0.0) += cpu;
            }
        }
    }
    total
}

/// The command name (field 2, between the first `(` and the last `)`) of a `/proc/<pid>/stat` line.
fn comm_of(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in seconds. The command name (field 2) may
/// contain spaces and parentheses, so fields are counted after its last `)`.
fn cpu_from_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Ask `child` to stop with SIGTERM (warren and carbon flush on it); SIGKILL it if it is still running after
/// `grace`. Returns once it has exited.
pub fn terminate(child: &mut std::process::Child, grace: std::time::Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let end = std::time::Instant::now() + grace;
    while std::time::Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_from_stat(stat), Some(3.0));
    }

    #[test]
    fn the_command_name_is_read_between_the_first_and_last_parenthesis() {
        assert_eq!(comm_of("1234 (a (weird) name) S 1 2"), Some("a (weird) name"));
        assert_eq!(comm_of("77 (beam.smp) S 1 2"), Some("beam.smp"));
        assert_eq!(comm_of("77 beam.smp S 1 2"), None);
    }

    #[test]
    fn the_local_broker_is_seen_and_its_cpu_time_only_grows() {
        // The tests' broker runs on this machine (`.ci/run` starts it): its Erlang VM has used CPU already.
        let before = broker_cpu_seconds().expect("a beam.smp process on this machine");
        assert!(before > 0.0, "{before}");
        let after = broker_cpu_seconds().expect("still there");
        assert!(after >= before, "{before} then {after}");
    }

    #[test]
    fn this_process_has_a_usage() {
        let u = usage(std::process::id()).unwrap();
        assert!(u.peak_rss_kib > 0);
    }
}
