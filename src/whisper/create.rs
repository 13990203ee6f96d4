//! Creating a file: validate the archive list, write the header, lay down the data area.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::header::validate_sorted;
use super::{check_xff, AggregationMethod, ArchiveSpec, Header, OpenOptions, WhisperError, WhisperFile};

/// How a new file's data area is laid down. All three read the same (every slot empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CreateMode {
    /// posix_fallocate: space reserved, no zeros written (warren's default). Falls back to `Zero` on filesystems
    /// that do not support it.
    #[default]
    Fallocate,
    /// ftruncate only: a file with holes.
    Sparse,
    /// zeros written, as the reference does by default (bytes identical to `whisper.create`).
    Zero,
}

/// Options for creating a file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CreateOptions {
    /// Fraction of known points needed to propagate (0..=1); the reference's default is 0.5.
    pub x_files_factor: f32,
    /// Aggregation method for propagation; the reference's default is average.
    pub aggregation: AggregationMethod,
    /// How the data area is laid down.
    pub mode: CreateMode,
}

impl Default for CreateOptions {
    /// The reference's defaults (xff 0.5, average) with warren's default mode (fallocate).
    fn default() -> Self {
        CreateOptions { x_files_factor: 0.5, aggregation: AggregationMethod::Average, mode: CreateMode::Fallocate }
    }
}

/// Zeros written per call in `Zero` mode.
const ZERO_CHUNK: usize = 1 << 20;

/// The zeros `Zero` mode writes from, allocated once and never written. glibc serves a zeroed allocation this big
/// with a fresh anonymous mapping, whose pages the kernel maps to its one shared zero page when they are read, so
/// a 118 KB write copies from one page that stays in the CPU's caches, and no file's create allocates or clears a
/// buffer of its own. (A `static` array of zeros would be read-only data: a megabyte in the binary.)
fn zeros() -> &'static [u8] {
    static ZEROS: std::sync::OnceLock<Box<[u8]>> = std::sync::OnceLock::new();
    ZEROS.get_or_init(|| vec![0u8; ZERO_CHUNK].into_boxed_slice())
}

impl WhisperFile {
    /// Create a new file at `path` (error `AlreadyExists` if it exists) with `archives` (validated and sorted by
    /// precision as [`super::validate_archives`] does) and return it open with `open`'s options. On any failure after
    /// the file was created, the partial file is removed.
    /// Errors: `InvalidArchives`, `InvalidXFilesFactor`, `AlreadyExists`, `Io`.
    pub fn create(
        path: &Path,
        archives: &[ArchiveSpec],
        opts: &CreateOptions,
        open: OpenOptions,
    ) -> Result<Self, WhisperError> {
        let mut sorted = archives.to_vec();
        sorted.sort_by_key(|a| a.seconds_per_point);
        validate_sorted(&sorted)?;
        check_xff(opts.x_files_factor)?;
        let header = Header::for_new_file(&sorted, opts.aggregation, opts.x_files_factor)?;

        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                WhisperError::AlreadyExists { path: path.display().to_string() }
            } else {
                WhisperError::io(path, e)
            }
        })?;
        let wf = WhisperFile {
            file: super::DiskFile::new(file),
            path: path.to_path_buf(),
            header,
            options: open,
            opened_base: Default::default(),
            known_bases: Default::default(),
        };
        match wf.lay_down(opts.mode) {
            Ok(()) => Ok(wf),
            Err(e) => {
                // The file is ours (create_new) and half-written: remove it so no one reads it as valid.
                let _ = std::fs::remove_file(path);
                Err(e)
            }
        }
    }

    /// Write the header and lay down the data area in `mode`.
    fn lay_down(&self, mode: CreateMode) -> Result<(), WhisperError> {
        let _lock = super::lock(&self.file, &self.path, self.options.lock)?;
        let header_bytes = self.header.encode();
        let start = header_bytes.len() as u64;
        // Non-empty: create validated at least one archive.
        let end = self.header.archives.last().map_or(start, |a| a.end());
        self.write_at(&header_bytes, 0)?;
        let file = self.file.handle().map_err(|e| self.io_err(e))?;
        match mode {
            CreateMode::Zero => write_zeros(file, start, end).map_err(|e| self.io_err(e))?,
            CreateMode::Sparse => file.set_len(end).map_err(|e| self.io_err(e))?,
            CreateMode::Fallocate => match fallocate(file, start, end - start) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                    write_zeros(file, start, end).map_err(|e| self.io_err(e))?
                }
                Err(e) => return Err(self.io_err(e)),
            },
        }
        self.flush_if_asked()
    }
}

/// Write zeros over `start..end` in large chunks.
fn write_zeros(file: &File, start: u64, end: u64) -> std::io::Result<()> {
    let zeros = zeros();
    let mut at = start;
    while at < end {
        let n = (end - at).min(ZERO_CHUNK as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Reserve `len` bytes from `offset` with posix_fallocate (which returns the error number instead of setting errno).
fn fallocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let too_big = |_| std::io::Error::from_raw_os_error(libc::EFBIG);
    let offset = libc::off_t::try_from(offset).map_err(too_big)?;
    let len = libc::off_t::try_from(len).map_err(too_big)?;
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the descriptor belongs to `file`, which is borrowed (so open) for the whole call; posix_fallocate
    // reads no memory of ours.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}
