//! Where log lines go: stderr by default (journald under systemd), or `log_file`, which SIGHUP reopens so that
//! logrotate can rename it; the optional creates log (carbon's LOG_CREATES) to `creates_log` or the main log.
//!
//! One tracing subscriber for the process, installed once by [`init`]; the destinations are switched later by
//! [`Logs::configure`] (once the configuration is read) and [`Logs::reopen`] (SIGHUP). Lines stay structured
//! (tracing's fields), ANSI colours only on a terminal. The `RUST_LOG` filter applies to the main log; the
//! creates log takes every `warren::creates` event when it is on.
//!
//! Owns: the log files and the subscriber. Never touches: what is logged.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The tracing target of the creates log lines.
pub const CREATES_TARGET: &str = "warren::creates";

/// A file that can be reopened at its path.
#[derive(Default)]
struct Dest {
    path: Option<PathBuf>,
    file: Option<File>,
}

/// A log file shared by the subscriber's layer and the reopen call.
#[derive(Clone, Default)]
struct FileSink(Arc<Mutex<Dest>>);

impl FileSink {
    fn lock(&self) -> MutexGuard<'_, Dest> {
        // A poisoned lock only means a thread panicked mid-write; the file is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open `path` for appending (creating it and its directory), or forget the file for `None`.
    fn set(&self, path: Option<&Path>) -> std::io::Result<()> {
        let file = path.map(open_append).transpose()?;
        let mut d = self.lock();
        d.path = path.map(Path::to_path_buf);
        d.file = file;
        Ok(())
    }

    /// Open the path again (after a rename); on failure the old file stays in use.
    fn reopen(&self) -> std::io::Result<()> {
        let path = self.lock().path.clone();
        if let Some(p) = path {
            let f = open_append(&p)?;
            self.lock().file = Some(f);
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("log file {}: {e}", path.display())))
}

/// One event's writer: holds the sink's lock for the one `write_all` the formatter does.
pub struct SinkWriter<'a>(MutexGuard<'a, Dest>);

impl Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0.file {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl<'a> MakeWriter<'a> for FileSink {
    type Writer = SinkWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        SinkWriter(self.lock())
    }
}

/// The process's log destinations.
#[derive(Default)]
pub struct Logs {
    main: FileSink,
    creates: FileSink,
    main_to_file: Arc<AtomicBool>,
    creates_to_file: Arc<AtomicBool>,
}

static LOGS: OnceLock<Logs> = OnceLock::new();

/// Install the subscriber (stderr, `RUST_LOG` or `info`); later calls do nothing. Returns the destinations.
pub fn init() -> &'static Logs {
    let mut installed = false;
    let logs = LOGS.get_or_init(|| {
        installed = true;
        Logs::default()
    });
    if installed {
        let env = || EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
        let (to_file, creates_to_file) = (logs.main_to_file.clone(), logs.creates_to_file.clone());
        let not_creates =
            move |m: &tracing::Metadata<'_>| m.target() != CREATES_TARGET || !creates_to_file.load(Ordering::Relaxed);
        let (nc1, nc2) = (not_creates.clone(), not_creates);
        let (tf1, tf2) = (to_file.clone(), to_file);
        let stderr = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(env().and(filter_fn(move |m| !tf1.load(Ordering::Relaxed) && nc1(m))));
        let file = tracing_subscriber::fmt::layer()
            .with_writer(logs.main.clone())
            .with_ansi(false)
            .with_filter(env().and(filter_fn(move |m| tf2.load(Ordering::Relaxed) && nc2(m))));
        let c = logs.creates_to_file.clone();
        let creates = tracing_subscriber::fmt::layer()
            .with_writer(logs.creates.clone())
            .with_ansi(false)
            .with_filter(filter_fn(move |m| m.target() == CREATES_TARGET && c.load(Ordering::Relaxed)));
        // Another subscriber may already be installed (tests): then this one is not, and lines go there.
        let ours = tracing_subscriber::registry().with(stderr).with(file).with(creates).try_init().is_ok();
        if ours {
            // Records of the `log` crate (amiquip's: a `trace!` per frame read) reach the subscriber only up to
            // this level. The bridge would let every level through (the creates layer has no level), and each
            // record would then be matched against the filters, per frame, on amiquip's I/O thread.
            log::set_max_level(log_level(env().max_level_hint()));
        }
    }
    logs
}

/// The `log` crate's level for the most verbose level `RUST_LOG` lets through (`None`: no hint, everything).
fn log_level(hint: Option<tracing_subscriber::filter::LevelFilter>) -> log::LevelFilter {
    use tracing_subscriber::filter::LevelFilter as L;
    match hint {
        Some(L::OFF) => log::LevelFilter::Off,
        Some(L::ERROR) => log::LevelFilter::Error,
        Some(L::WARN) => log::LevelFilter::Warn,
        Some(L::INFO) => log::LevelFilter::Info,
        Some(L::DEBUG) => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

impl Logs {
    /// Send the main log to `log_file` (stderr for `None`) and the creates lines to `creates_log` (the main log
    /// for `None`). Errors: a file that cannot be opened; nothing changes then.
    pub fn configure(&self, log_file: Option<&Path>, creates_log: Option<&Path>) -> std::io::Result<()> {
        let (main, creates) = (FileSink::default(), FileSink::default());
        main.set(log_file)?;
        creates.set(creates_log)?;
        *self.main.lock() = std::mem::take(&mut *main.lock());
        *self.creates.lock() = std::mem::take(&mut *creates.lock());
        self.main_to_file.store(log_file.is_some(), Ordering::Relaxed);
        self.creates_to_file.store(creates_log.is_some(), Ordering::Relaxed);
        Ok(())
    }

    /// Reopen both files at their paths (logrotate renamed them). A file that cannot be reopened stays the old
    /// one; the error is returned for the caller to log.
    pub fn reopen(&self) -> std::io::Result<()> {
        let a = self.main.reopen();
        let b = self.creates.reopen();
        a.and(b)
    }
}
