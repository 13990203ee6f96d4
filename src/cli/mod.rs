//! Command-line front ends (clap); anyhow lives here and nowhere below.

pub mod backfill;
pub mod bench;
pub mod cache;
pub mod cluster;
pub mod publish;
pub mod relay;
pub mod whisper;

/// For a command whose whole job is printing: end quietly when the reader of stdout goes away
/// (`warren whisper fetch f.wsp | head`), as coreutils do, instead of panicking in `println!` on EPIPE.
/// SIGPIPE goes back to its default action. Only for commands that write to no socket: the Rust runtime
/// ignores SIGPIPE so that a peer closing a socket is an error to handle, not a death, and every command that
/// talks to a broker or serves clients relies on that.
pub fn end_quietly_when_stdout_closes() {
    // SAFETY: signal(2) with SIG_DFL installs no handler code, so nothing runs in signal context; it is called
    // first thing in a command that starts no thread and opens no socket.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
