//! [`ChildProcess`]: a subprocess of the harness (warren, or a peer) whose stderr goes to a log file. It is
//! stopped gracefully (SIGTERM, then SIGKILL after a grace period) by [`ChildProcess::stop`], or on drop.
//!
//! Owns: the child and its log file's path. Never touches: other processes.

use super::error::{io, BenchError};
use super::procstat;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

/// Grace period of the stop on drop (a step that ends normally stops its child itself, with its own grace).
const DROP_GRACE: Duration = Duration::from_secs(5);

/// A running subprocess and its log.
pub struct ChildProcess {
    child: Child,
    log: PathBuf,
    /// Log lines containing this are left out of [`ChildProcess::log_tail`] (known noise).
    noise: Option<&'static str>,
}

impl ChildProcess {
    /// Spawn `cmd` (its stdio already configured by the caller); `log` is where its output goes.
    pub fn spawn(cmd: &mut Command, log: PathBuf, what: &str) -> Result<ChildProcess, BenchError> {
        let child = cmd.spawn().map_err(io(format!("starting {what}")))?;
        Ok(ChildProcess { child, log, noise: None })
    }

    /// Leave log lines containing `noise` out of [`ChildProcess::log_tail`].
    pub fn with_log_noise(mut self, noise: &'static str) -> ChildProcess {
        self.noise = Some(noise);
        self
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's own handle (for its piped stdout).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// `Some(status)` once the child has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// The last 20 lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| self.noise.is_none_or(|n| !l.contains(n))).collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM (graceful: flush, ack, close), then SIGKILL after `grace`. Does nothing once the child is gone.
    pub fn stop(&mut self, grace: Duration) {
        procstat::terminate(&mut self.child, grace);
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.stop(DROP_GRACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    fn dropping_a_child_process_terminates_and_reaps_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("child.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started >&2; exec sleep 30"])
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = ChildProcess::spawn(&mut cmd, log, "sh").unwrap();
        let proc_dir = std::path::PathBuf::from(format!("/proc/{}", child.id()));
        assert!(proc_dir.exists() && child.exited().is_none(), "running before the drop");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while child.log_tail() != "started" && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(child.log_tail(), "started");
        drop(child);
        assert!(!proc_dir.exists(), "terminated and reaped by the drop");
    }
}
