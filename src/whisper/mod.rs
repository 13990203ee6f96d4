//! The whisper file format (<https://graphite.readthedocs.io/en/latest/whisper.html>): header, create,
//! update_many, fetch, propagate.
//!
//! Owns: the bytes of one `.wsp` file. Never touches: threads, the cache, AMQP, metric names.
//!
//! The reference is Graphite's python `whisper` 1.1.x (Debian's python3-whisper, on CPython 3.11): for the same
//! operations on the same file warren writes the same bytes (proven by `tests/whisper_diff.rs`). Known, deliberate
//! differences, all on inputs where the reference corrupts or crashes:
//! - a run of points longer than an archive's ring (only possible with future timestamps) keeps its newest points
//!   in the ring; the reference writes the excess past the archive's end, over the next archive;
//! - headers are validated on open (zero archives, zero steps, archives past the end of the file are errors), and an
//!   unknown aggregation code reads as average (the reference refuses the file) — see
//!   [`Header::unknown_aggregation_code`];
//! - a fetch from an empty archive returns at most one value per slot of its ring, as a fetch from a written one
//!   does; the reference returns one `None` per step of the window, which a corrupt max_retention or an explicit
//!   archive step can make billions long.
//!
//! I/O is positioned (`pread`/`pwrite`): one write per contiguous run of points, no seeks. It goes through
//! [`Storage`]: a [`File`] normally, [`MemStorage`] for the fuzzer and tests (same code, bytes in memory). The header is read once,
//! on open, and cached: a handle does not notice another process rewriting the header.

mod aggregate;
mod create;
mod error;
mod fetch;
mod header;
mod pyset;
mod storage;
mod transfer;
mod update;

use std::cell::Cell;
use std::fs::File;
use std::path::{Path, PathBuf};

pub use aggregate::{aggregate_values, AggregationMethod, UnknownAggregationMethod};
pub use create::{CreateMode, CreateOptions};
pub use error::WhisperError;
pub use fetch::{FetchResult, RawPoint};
pub use header::{validate_archives, ArchiveInfo, ArchiveSpec, Header, ARCHIVE_INFO_SIZE, METADATA_SIZE, POINT_SIZE};
#[doc(hidden)]
pub use pyset::python_set_order;
pub use storage::{prefetch, DiskFile, MemStorage, Storage};
pub use transfer::{diff, fill, merge, ArchiveDiff, CopyStats};
pub use update::{UpdateScratch, UpdateStats};

/// Options for opening a file for updates (carbon's WHISPER_LOCK_WRITES / WHISPER_AUTOFLUSH).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Hold an exclusive `flock` on the file for the duration of each update (and of `set_aggregation`).
    pub lock: bool,
    /// `fsync` the file at the end of each update (and of `create` / `set_aggregation`).
    pub autoflush: bool,
}

/// A point to write: whisper stores intervals as u32 seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Seconds since the epoch.
    pub timestamp: u32,
    /// Any f64, NaN and infinities included (stored as is).
    pub value: f64,
}

/// Bytes of the first pread on open: enough for the header of any file with up to 20 archives (a second pread
/// reads longer ones). Small, because every update opens its file and copying more costs time for nothing.
const HEADER_READ: usize = 256;

/// Files up to this size are read whole by [`WhisperFile::open_if_resident`]'s check (a few pages: the update
/// that follows the open may write any of them); larger ones have only their header checked.
pub const RESIDENT_WHOLE: u64 = 16 * 1024;

/// What [`WhisperFile::open_if_resident`] found.
pub enum Residency {
    /// In memory: the file, open, its header read.
    Resident(WhisperFile),
    /// Not in memory: the file, open but not read yet ([`ColdFile::load`] reads it, on another thread).
    Cold(ColdFile),
}

/// A whisper file [`WhisperFile::open_if_resident`] opened but did not read: its bytes were not in memory.
pub struct ColdFile(DiskFile);

impl ColdFile {
    /// Read the header and the file's first bytes (all of it up to [`RESIDENT_WHOLE`], as `open_if_resident`
    /// checks) into memory, on the descriptor already open: what [`WhisperFile::open`] does, without opening
    /// the file again. `path` names it in errors.
    pub fn load(self, path: &Path, options: OpenOptions) -> Result<WhisperFile, WhisperError> {
        let file = WhisperFile::from_storage(self.0, path, options)?;
        file.read_in(RESIDENT_WHOLE)?;
        Ok(file)
    }
}

/// Open `path` read-write. O_NOATIME: propagation reads would otherwise dirty the inode's atime; the kernel refuses
/// the flag (EPERM) for files the process does not own, and then the plain open is used.
fn open_rw(path: &Path) -> Result<File, WhisperError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOATIME).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            std::fs::OpenOptions::new().read(true).write(true).open(path)
        }
        r => r,
    }
    .map_err(|e| WhisperError::io(path, e))
}

/// An open whisper file: its storage (a file handle unless built with [`WhisperFile::from_storage`]) and its
/// cached header.
#[derive(Debug)]
pub struct WhisperFile<S: Storage = DiskFile> {
    file: S,
    path: PathBuf,
    header: Header,
    options: OpenOptions,
    /// The first archive's base as the open's header read saw it (that read covers the first slot when the
    /// header is short), for the first [`WhisperFile::read_base`] to use instead of a pread of its own; cleared
    /// by that use and by any write. Never set when `options.lock` (the base must then be read under the lock).
    opened_base: Cell<Option<u32>>,
    /// The bases of the first [`KNOWN_BASES`] archives once read non-zero (0: not known), so an open file's
    /// updates do not pread them again. Sound because a non-zero base only ever changes by whole turns of its
    /// ring: every writer (this one, python-whisper, another carbon) positions a point from the base, so the
    /// first slot only ever receives `base + k × points × step`, and every position computed from any such base
    /// is the same (`slot_of` works modulo the ring). An empty archive's 0 is never kept: a write into it sets the
    /// base. Forgotten when this handle writes over the first slot (the next read sees the new base).
    known_bases: [Cell<u32>; KNOWN_BASES],
}

/// Archives whose base an open file remembers (schemas rarely have more).
const KNOWN_BASES: usize = 6;

impl WhisperFile {
    /// Open an existing file read-write and read its header (one pread, plus an lseek to bound the layout).
    /// Errors: `Io` if the file cannot be opened read-write, `Corrupt` if the header is truncated or inconsistent.
    pub fn open(path: &Path, options: OpenOptions) -> Result<Self, WhisperError> {
        Self::from_storage(DiskFile::new(open_rw(path)?), path, options)
    }

    /// [`WhisperFile::open`], but only if that needs no disk read: [`Residency::Cold`] (the file open, nothing
    /// read) when the header, or for a file of at most [`RESIDENT_WHOLE`] bytes any of its bytes, is not in
    /// memory (evicted, never read, or a page being written back). Costs what `open` costs when it is.
    pub fn open_if_resident(path: &Path, options: OpenOptions) -> Result<Residency, WhisperError> {
        let file = DiskFile::new(open_rw(path)?);
        let file_len = file.byte_len().map_err(|e| WhisperError::io(path, e))?;
        let mut probe = [0u8; RESIDENT_WHOLE as usize];
        let want = if file_len <= RESIDENT_WHOLE { file_len as usize } else { HEADER_READ };
        let n = file.read_at_resident(&mut probe[..want], 0).map_err(|e| WhisperError::io(path, e))?;
        if n < want {
            return Ok(Residency::Cold(ColdFile(file)));
        }
        Self::from_first_read(file, path, options, file_len, &probe[..n.min(HEADER_READ)]).map(Residency::Resident)
    }

    /// Read up to `max` bytes of the file from its start (and throw them away), so that they are in memory for
    /// the updates that follow: [`ColdFile::load`], off the writer's thread.
    fn read_in(&self, max: u64) -> Result<(), WhisperError> {
        // The header says where the data ends (every archive lies inside the file: checked at open).
        let len = self.header.archives.iter().map(|a| a.end()).max().unwrap_or(0).min(max);
        let mut buf = vec![0u8; len as usize];
        read_full_at(&self.file, &mut buf, 0).map_err(|e| WhisperError::io(&self.path, e))?;
        Ok(())
    }

    /// Open an existing file read-only (fetch, info, dump); any update on the handle fails with `Io`.
    pub fn open_read_only(path: &Path) -> Result<Self, WhisperError> {
        let file = File::open(path).map_err(|e| WhisperError::io(path, e))?;
        Self::from_storage(DiskFile::new(file), path, OpenOptions::default())
    }
}

impl WhisperFile {
    /// The writer's look-ahead, two metrics before this file's update: start loading its archive list (the
    /// update's first read of it otherwise waits for memory: 35 % of `update_many`'s own samples, rk-1).
    #[inline]
    pub fn prefetch_header(&self) {
        storage::prefetch(self.header.archives.as_ptr());
    }

    /// The look-ahead one metric before: start loading the first archive's slot for a point at `timestamp`,
    /// when the file is mapped and that archive's base is known (otherwise nothing; the update reads the base
    /// itself). A point that belongs to another archive only makes the hint useless.
    #[inline]
    pub fn prefetch_slot(&self, timestamp: u32) {
        if let Some(offset) = self.slot_hint(timestamp) {
            self.file.prefetch(offset);
        }
    }

    /// Where in the file an update writes a point at `timestamp` if it goes to the first archive, when that
    /// archive's base is known without a read.
    fn slot_hint(&self, timestamp: u32) -> Option<u64> {
        let a = self.header.archives.first()?;
        let base = self.known_bases[0].get();
        if base == 0 || a.seconds_per_point == 0 {
            return None;
        }
        let interval = i64::from(timestamp - timestamp % a.seconds_per_point);
        Some(slot_offset(a, slot_of(a, i64::from(base), interval)))
    }

    /// Map the file for the updates that follow (see [`DiskFile::map`]) and, unless updates take its `flock`,
    /// close its descriptor. Returns whether it is mapped. A file that cannot be mapped safely, or whose mapping
    /// fails, keeps its descriptor and works through syscalls.
    pub fn map_for_updates(&mut self) -> bool {
        let mapped = self.file.map().unwrap_or(false);
        if mapped && !self.options.lock {
            self.file.release_descriptor();
        }
        mapped
    }

    /// Whether [`WhisperFile::map_for_updates`] was called on this open file.
    pub fn map_decided(&self) -> bool {
        self.file.map_decided()
    }

    /// Whether the file holds a descriptor (an unmapped file always does).
    pub fn holds_descriptor(&self) -> bool {
        self.file.holds_descriptor()
    }
}

impl<S: Storage> WhisperFile<S> {
    /// A whisper file over `file` (read its header: one read, plus the length); `path` names it in errors.
    /// Errors: `Io`, `Corrupt` if the header is truncated or inconsistent.
    pub fn from_storage(file: S, path: &Path, options: OpenOptions) -> Result<Self, WhisperError> {
        let file_len = file.byte_len().map_err(|e| WhisperError::io(path, e))?;
        // On the stack: the common case allocates nothing for the read.
        let mut first = [0u8; HEADER_READ];
        let n = read_full_at(&file, &mut first, 0).map_err(|e| WhisperError::io(path, e))?;
        Self::from_first_read(file, path, options, file_len, &first[..n])
    }

    /// [`WhisperFile::from_storage`] after its first read: `first` holds the file's first bytes (up to
    /// `HEADER_READ`, fewer only if the file is shorter), `file_len` its length.
    fn from_first_read(
        file: S,
        path: &Path,
        options: OpenOptions,
        file_len: u64,
        first: &[u8],
    ) -> Result<Self, WhisperError> {
        let mut buf: &[u8] = first;
        let long;
        if buf.len() >= 16 {
            let count = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
            let needed = header::header_size(count as usize);
            // Rare: more archives than the first read covers. Bounded by the file's length.
            if needed > buf.len() as u64 && needed <= file_len {
                let mut more = vec![0u8; needed as usize];
                let n = read_full_at(&file, &mut more, 0).map_err(|e| WhisperError::io(path, e))?;
                more.truncate(n);
                long = more;
                buf = &long;
            }
        }
        let header = Header::decode(buf, file_len).map_err(|reason| WhisperError::corrupt(path, reason))?;
        // Saves the update that follows an open one pread (python-whisper's per-call pattern).
        let opened_base = match header.archives.first() {
            Some(a) if !options.lock && buf.len() >= a.offset as usize + 4 => {
                let at = a.offset as usize;
                Some(u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]))
            }
            _ => None,
        };
        Ok(WhisperFile {
            file,
            path: path.to_path_buf(),
            header,
            options,
            opened_base: Cell::new(opened_base),
            known_bases: Default::default(),
        })
    }

    /// The storage, for its bytes (e.g. [`MemStorage::into_bytes`]).
    pub fn into_storage(self) -> S {
        self.file
    }

    /// The header read on open (or written by `create` / `set_aggregation` through this handle).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The path the file was opened or created with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Set the aggregation method and/or xFilesFactor (`None` keeps the current one; a kept unknown code stays as
    /// stored), rewriting only the 16-byte metadata block. Returns the previous `(method, xff)`.
    /// Errors: `InvalidXFilesFactor` outside `0..=1`, `Io`.
    pub fn set_aggregation(
        &mut self,
        method: Option<AggregationMethod>,
        x_files_factor: Option<f32>,
    ) -> Result<(AggregationMethod, f32), WhisperError> {
        if let Some(xff) = x_files_factor {
            check_xff(xff)?;
        }
        let _lock = lock(&self.file, &self.path, self.options.lock)?;
        let old = (self.header.aggregation, self.header.x_files_factor);
        let mut new = self.header.clone();
        if let Some(m) = method {
            new.aggregation = m;
            new.aggregation_code = m.code();
        }
        if let Some(xff) = x_files_factor {
            new.x_files_factor = xff;
        }
        self.write_at(&new.encode_metadata(), 0)?;
        self.header = new;
        self.flush_if_asked()?;
        Ok(old)
    }

    /// `fdatasync` the file: every byte written before returns is on stable storage (metadata only as needed to
    /// read it back). Errors: `Io` (after a failed sync the written data's state is unknown).
    pub fn sync_data(&self) -> Result<(), WhisperError> {
        self.file.sync_data().map_err(|e| self.io_err(e))
    }

    fn flush_if_asked(&self) -> Result<(), WhisperError> {
        if self.options.autoflush {
            self.file.sync_all().map_err(|e| self.io_err(e))?;
        }
        Ok(())
    }

    fn io_err(&self, e: std::io::Error) -> WhisperError {
        WhisperError::io(&self.path, e)
    }

    /// Fill `buf` from `offset`; the header check on open guarantees archives lie inside the file, so a short read
    /// means the file shrank under us.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), WhisperError> {
        let n = read_full_at(&self.file, buf, offset).map_err(|e| self.io_err(e))?;
        if n < buf.len() {
            return Err(WhisperError::corrupt(
                &self.path,
                format!("short read: {n} of {} bytes at offset {offset} (file truncated?)", buf.len()),
            ));
        }
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<(), WhisperError> {
        self.opened_base.set(None);
        let end = offset + buf.len() as u64;
        for (a, known) in self.header.archives.iter().zip(&self.known_bases) {
            if (offset..end).contains(&u64::from(a.offset)) {
                known.set(0);
            }
        }
        self.file.write_all_at(buf, offset).map_err(|e| self.io_err(e))
    }

    /// Read `count` (1..=points) consecutive slots of `archive` from slot `first`, wrapping at the ring's end (one
    /// pread, two when wrapping), into `buf`.
    fn read_slots(&self, archive: &ArchiveInfo, first: u64, count: u64, buf: &mut Vec<u8>) -> Result<(), WhisperError> {
        buf.resize((count * POINT_SIZE) as usize, 0);
        let first_len = ((u64::from(archive.points) - first).min(count) * POINT_SIZE) as usize;
        self.read_at(&mut buf[..first_len], slot_offset(archive, first))?;
        if first_len < buf.len() {
            self.read_at(&mut buf[first_len..], u64::from(archive.offset))?;
        }
        Ok(())
    }

    /// The interval stored in an archive's first slot: the archive's base, 0 when the archive is empty.
    fn read_base(&self, archive: &ArchiveInfo) -> Result<u32, WhisperError> {
        let known = self.header.archives.iter().zip(&self.known_bases).find(|(a, _)| a.offset == archive.offset);
        let known = known.map(|(_, k)| k);
        if let Some(base) = known.map(Cell::get).filter(|&b| b != 0) {
            return Ok(base);
        }
        let base = match self.opened_base.take() {
            Some(base) if self.header.archives.first().map(|a| a.offset) == Some(archive.offset) => base,
            _ => {
                let mut buf = [0u8; 4];
                self.read_at(&mut buf, u64::from(archive.offset))?;
                u32::from_be_bytes(buf)
            }
        };
        if let Some(k) = known {
            k.set(base);
        }
        Ok(base)
    }
}

/// Take an exclusive flock on `file` when `enabled`; released when the guard drops.
fn lock<'a, S: Storage>(file: &'a S, path: &Path, enabled: bool) -> Result<Option<LockGuard<'a, S>>, WhisperError> {
    if !enabled {
        return Ok(None);
    }
    file.lock().map_err(|e| WhisperError::io(path, e))?;
    Ok(Some(LockGuard(file)))
}

/// Releases the flock taken by [`lock`].
struct LockGuard<'a, S: Storage>(&'a S);

impl<S: Storage> Drop for LockGuard<'_, S> {
    fn drop(&mut self) {
        // Closing the file would release it too; an unlock error leaves nothing to undo.
        let _ = self.0.unlock();
    }
}

/// pread until `buf` is full or end of file; returns the bytes read.
fn read_full_at<S: Storage>(file: &S, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn check_xff(xff: f32) -> Result<(), WhisperError> {
    if (0.0..=1.0).contains(&xff) {
        Ok(())
    } else {
        Err(WhisperError::InvalidXFilesFactor(xff))
    }
}

/// Where `interval` lives in `archive` whose base (first slot's interval) is `base`: the slot index, as the
/// reference computes it (floor division and non-negative modulo, in unbounded integers).
fn slot_of(archive: &ArchiveInfo, base: i64, interval: i64) -> u64 {
    let step = i64::from(archive.seconds_per_point);
    (interval - base).div_euclid(step).rem_euclid(i64::from(archive.points)) as u64
}

/// Byte offset of `slot` in `archive`.
fn slot_offset(archive: &ArchiveInfo, slot: u64) -> u64 {
    u64::from(archive.offset) + slot * POINT_SIZE
}

/// Encode one point as stored.
fn encode_point(interval: u32, value: f64) -> [u8; POINT_SIZE as usize] {
    let mut out = [0u8; POINT_SIZE as usize];
    out[..4].copy_from_slice(&interval.to_be_bytes());
    out[4..].copy_from_slice(&value.to_be_bytes());
    out
}

/// Decode the point at the start of `bytes` (at least 12 bytes long).
fn decode_point(bytes: &[u8]) -> (u32, f64) {
    let mut interval = [0u8; 4];
    let mut value = [0u8; 8];
    interval.copy_from_slice(&bytes[..4]);
    value.copy_from_slice(&bytes[4..12]);
    (u32::from_be_bytes(interval), f64::from_be_bytes(value))
}

#[cfg(test)]
mod tests;
