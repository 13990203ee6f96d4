//! Where a whisper file's bytes live: [`Storage`] is the seam between the format code (header, update, fetch) and
//! the bytes. A [`File`] is the real thing (positioned `pread`/`pwrite`, `fdatasync`, `flock`); a [`DiskFile`] is a
//! file that can also be mapped, so the writer's updates of files it keeps open are copies into the page cache
//! rather than a syscall each; [`MemStorage`] keeps the bytes in memory with the same semantics, so the fuzzer and
//! tests run the very same update and fetch code without a syscall per operation.
//!
//! Owns: moving bytes at offsets. Never touches: the format.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Seek};
use std::os::unix::fs::FileExt;

/// Positioned byte access with file semantics: a read past the end is short (0 bytes at or after it), a write past
/// the end extends with zeros.
pub trait Storage {
    /// Read into `buf` from `offset`; returns the bytes read (fewer than asked only at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Write all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// The length in bytes.
    fn byte_len(&self) -> io::Result<u64>;
    /// Make written data durable (`fdatasync` for a file).
    fn sync_data(&self) -> io::Result<()>;
    /// Make written data and metadata durable (`fsync` for a file).
    fn sync_all(&self) -> io::Result<()>;
    /// Take an exclusive advisory lock (blocking).
    fn lock(&self) -> io::Result<()>;
    /// Release the lock taken by [`Storage::lock`].
    fn unlock(&self) -> io::Result<()>;
}

impl Storage for File {
    #[inline]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }

    #[inline]
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }

    /// Through lseek(SEEK_END): cheaper than the fstat (statx) behind `metadata()`; every other I/O on a whisper
    /// handle is positioned, so the offset it moves is never used.
    fn byte_len(&self) -> io::Result<u64> {
        let mut f: &File = self;
        f.seek(io::SeekFrom::End(0))
    }

    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }

    fn lock(&self) -> io::Result<()> {
        File::lock(self)
    }

    fn unlock(&self) -> io::Result<()> {
        File::unlock(self)
    }
}

/// A whisper file on disk, read and written through positioned syscalls until [`DiskFile::map`] maps it shared;
/// then through the mapping (same bytes: the mapping is the page cache the syscalls read and write). A mapped file
/// may give its descriptor back ([`DiskFile::release_descriptor`]): the mapping keeps the file's pages reachable,
/// so files kept for updates need no descriptor each.
///
/// Why: a `pwrite` of a few points costs the kernel far more than the copy (the file's lock, the page lookup, and
/// an mtime update that dirties the inode on every call); a store into a mapped page that is already dirty costs
/// the copy. The kernel marks a page dirty on the first store after each writeback, so `fdatasync` (or, without
/// a descriptor, `msync(MS_SYNC)`, the same flush of the file's range) still covers every store made before it.
#[derive(Debug)]
pub struct DiskFile {
    /// `None` once released (only a mapped file gives it up).
    file: Option<File>,
    map: Option<memmap2::MmapRaw>,
    /// [`DiskFile::map`] ran: it decides once per open.
    map_tried: bool,
}

impl DiskFile {
    /// `file`, not mapped.
    pub fn new(file: File) -> DiskFile {
        DiskFile { file: Some(file), map: None, map_tried: false }
    }

    /// The descriptor; an error once released.
    pub fn handle(&self) -> io::Result<&File> {
        self.file.as_ref().ok_or_else(released)
    }

    /// Map the whole file shared, if that cannot fault: only when every byte up to its length has blocks (no hole
    /// whose first store would need space the disk may not have, which a mapping reports as SIGBUS where a write
    /// reports ENOSPC) on a filesystem that overwrites blocks in place (not a copy-on-write one such as btrfs or
    /// ZFS, where any store may need new space). Returns whether the file is mapped now; a file that is not keeps
    /// using syscalls. The first call decides (later ones give the same answer without a syscall).
    /// Errors: the `fstat` or `mmap` failed (e.g. too many mappings).
    pub fn map(&mut self) -> io::Result<bool> {
        if self.map_tried {
            return Ok(self.map.is_some());
        }
        self.map_tried = true;
        let file = self.handle()?;
        let meta = file.metadata()?;
        let len = meta.len();
        if len == 0
            || std::os::unix::fs::MetadataExt::blocks(&meta).saturating_mul(512) < len
            || !overwrites_in_place(file)?
        {
            return Ok(false);
        }
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.map = Some(memmap2::MmapOptions::new().len(len).map_raw(file)?);
        Ok(true)
    }

    /// Read into `buf` from `offset` only as far as the bytes are in memory (`preadv2` with `RWF_NOWAIT`): the
    /// bytes read, which are fewer than asked when the rest would have to come from the disk (or wait for a page
    /// being written back). Where the kernel or filesystem does not support it, a plain read.
    pub fn read_at_resident(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let fd = self.handle()?.as_raw_fd();
        let iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let off = libc::off_t::try_from(offset).map_err(io::Error::other)?;
        // SAFETY: `iov` describes `buf`, which is valid for writes of its length and exclusively borrowed for the
        // call; `fd` is open (borrowed from `self`); the kernel writes at most `iov_len` bytes into it.
        let n = unsafe { libc::preadv2(fd, &iov, 1, off, libc::RWF_NOWAIT) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            // Would block (or was interrupted): nothing read now.
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(0),
            Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) | Some(libc::ENOSYS) => Storage::read_at(self, buf, offset),
            _ => Err(e),
        }
    }

    /// Whether [`DiskFile::map`] ran (and decided).
    pub fn map_decided(&self) -> bool {
        self.map_tried
    }

    /// Whether [`DiskFile::map`] mapped it.
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    /// Close the descriptor of a mapped file (reads, writes and syncs go through the mapping; `lock` fails).
    /// Returns whether it holds no descriptor now.
    pub fn release_descriptor(&mut self) -> bool {
        if self.map.is_some() {
            self.file = None;
        }
        self.file.is_none()
    }

    /// Whether it still holds its descriptor.
    pub fn holds_descriptor(&self) -> bool {
        self.file.is_some()
    }

    /// Ask the CPU to start loading the mapped cache line at `offset` (nothing when the file is not mapped or
    /// `offset` is past its end): a hint for an update about to come, so its copy does not wait for memory.
    #[inline]
    pub fn prefetch(&self, offset: u64) {
        if let Some(base) = self.mapped(offset, 1) {
            prefetch(base.wrapping_add(offset as usize));
        }
    }

    /// The mapping's start, when `len` bytes from `offset` lie inside it.
    fn mapped(&self, offset: u64, len: usize) -> Option<*mut u8> {
        let map = self.map.as_ref()?;
        let start = usize::try_from(offset).ok()?;
        (start.checked_add(len)? <= map.len()).then(|| map.as_mut_ptr())
    }
}

/// The error of what needs the descriptor (`lock`, a write past the mapping) once a mapped file gave it back.
fn released() -> io::Error {
    io::Error::other("the file's descriptor was released (it is mapped)")
}

/// Whether `file` lives on a filesystem known to overwrite allocated blocks in place: ext2/3/4, XFS, tmpfs.
fn overwrites_in_place(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const TMPFS: i64 = 0x0102_1994;
    // SAFETY: an all-zero statfs is a valid value of this plain C struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes into the valid, exclusively borrowed struct; the descriptor is open (borrowed).
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // f_type's integer type differs between targets
    Ok(matches!(st.f_type as i64, EXT4 | XFS | TMPFS))
}

impl Storage for DiskFile {
    #[inline]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match self.mapped(offset, buf.len()) {
            // SAFETY: `mapped` checked that [offset, offset + len) lies inside the live mapping, which this value
            // owns (it is unmapped only on drop). Another process may write the same bytes meanwhile; a raw copy
            // makes no claim about them that such a write could break (as a pread racing a pwrite).
            Some(base) => unsafe {
                std::ptr::copy_nonoverlapping(base.add(offset as usize), buf.as_mut_ptr(), buf.len());
                Ok(buf.len())
            },
            None => match (&self.file, &self.map) {
                (Some(f), _) => FileExt::read_at(f, buf, offset),
                // Released: the mapping is the whole file as it was; past its end, as at a file's end.
                (None, Some(map)) => {
                    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(map.len());
                    let n = buf.len().min(map.len() - start);
                    if n == 0 {
                        return Ok(0);
                    }
                    self.read_at(&mut buf[..n], offset).map(|_| n)
                }
                (None, None) => Err(released()),
            },
        }
    }

    #[inline]
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        match self.mapped(offset, buf.len()) {
            // SAFETY: as in `read_at`; the mapping is writable (MmapRaw maps PROT_READ | PROT_WRITE, MAP_SHARED)
            // and `buf` is our own memory, so the ranges do not overlap.
            Some(base) => unsafe {
                std::ptr::copy_nonoverlapping(buf.as_ptr(), base.add(offset as usize), buf.len());
                Ok(())
            },
            None => FileExt::write_all_at(self.handle()?, buf, offset),
        }
    }

    fn byte_len(&self) -> io::Result<u64> {
        match (&self.file, &self.map) {
            (Some(f), _) => Storage::byte_len(f),
            (None, Some(map)) => Ok(map.len() as u64),
            (None, None) => Err(released()),
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        match (&self.file, &self.map) {
            (Some(f), _) => f.sync_data(),
            (None, Some(map)) => map.flush(),
            (None, None) => Err(released()),
        }
    }

    fn sync_all(&self) -> io::Result<()> {
        match (&self.file, &self.map) {
            (Some(f), _) => f.sync_all(),
            (None, Some(map)) => map.flush(),
            (None, None) => Err(released()),
        }
    }

    fn lock(&self) -> io::Result<()> {
        Storage::lock(self.handle()?)
    }

    fn unlock(&self) -> io::Result<()> {
        Storage::unlock(self.handle()?)
    }
}

/// A whisper file's bytes in memory (for fuzzing and tests): reads and writes behave as on a file, sync and lock
/// do nothing. Single-threaded, as a [`super::WhisperFile`] is.
#[derive(Debug, Default)]
pub struct MemStorage {
    bytes: RefCell<Vec<u8>>,
}

impl MemStorage {
    /// Storage holding `bytes`.
    pub fn new(bytes: Vec<u8>) -> MemStorage {
        MemStorage { bytes: RefCell::new(bytes) }
    }

    /// The bytes as they are now.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes.into_inner()
    }
}

impl Storage for MemStorage {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let bytes = self.bytes.borrow();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let n = buf.len().min(bytes.len() - start);
        buf[..n].copy_from_slice(&bytes[start..start + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let too_far = || io::Error::new(io::ErrorKind::InvalidInput, "write past the addressable end");
        let start = usize::try_from(offset).map_err(|_| too_far())?;
        let end = start.checked_add(buf.len()).ok_or_else(too_far)?;
        let mut bytes = self.bytes.borrow_mut();
        if end > bytes.len() {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(buf);
        Ok(())
    }

    fn byte_len(&self) -> io::Result<u64> {
        Ok(self.bytes.borrow().len() as u64)
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        Ok(())
    }

    fn lock(&self) -> io::Result<()> {
        Ok(())
    }

    fn unlock(&self) -> io::Result<()> {
        Ok(())
    }
}

/// Ask the CPU to bring the cache line holding `p` into its caches (x86-64's `prefetcht0`; nothing elsewhere).
/// A hint: it reads nothing the program can see and never faults, whatever `p` points at.
#[inline]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 has no architectural effect (no load, no fault, any address, mapped or not); `p` is
    // never dereferenced.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_reads_and_writes_as_a_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(dir.path().join("f")).unwrap();
        let mem = MemStorage::default();
        let ops: &[(u64, &[u8])] = &[(0, b"abc"), (10, b"xyz"), (2, b"QQQQ"), (13, b""), (11, b"long tail")];
        for &(at, data) in ops {
            Storage::write_all_at(&file, data, at).unwrap();
            mem.write_all_at(data, at).unwrap();
            assert_eq!(Storage::byte_len(&file).unwrap(), mem.byte_len().unwrap(), "after a write at {at}");
        }
        for at in [0, 5, 19, 20, 21, 1000] {
            let (mut a, mut b) = ([7u8; 8], [7u8; 8]);
            let na = Storage::read_at(&file, &mut a, at).unwrap();
            let nb = mem.read_at(&mut b, at).unwrap();
            assert_eq!((na, a), (nb, b), "read at {at}");
        }
        assert_eq!(mem.into_bytes(), std::fs::read(dir.path().join("f")).unwrap());
    }

    #[test]
    fn a_mapped_file_reads_and_writes_what_the_syscalls_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [1u8; 10000]).unwrap();
        let open = || std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let mut mapped = DiskFile::new(open());
        assert!(mapped.map().unwrap(), "a file written in full has no hole: mapped");
        assert!(mapped.is_mapped());
        let plain = open();
        mapped.write_all_at(b"mapped", 4094).unwrap();
        let mut seen = [0u8; 8];
        assert_eq!(Storage::read_at(&plain, &mut seen, 4093).unwrap(), 8);
        assert_eq!(&seen, b"\x01mapped\x01", "a store through the mapping is what a pread sees");
        Storage::write_all_at(&plain, b"plain", 9995).unwrap();
        let mut back = [0u8; 5];
        assert_eq!(mapped.read_at(&mut back, 9995).unwrap(), 5);
        assert_eq!(&back, b"plain", "a pwrite is what a read through the mapping sees");
        // Past the mapping's end: the syscalls' semantics (a short read, a write that extends the file).
        let mut tail = [9u8; 4];
        assert_eq!(mapped.read_at(&mut tail, 9998).unwrap(), 2);
        mapped.write_all_at(b"ext", 10000).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10003);
        mapped.sync_data().unwrap();
        // Without its descriptor: the mapping's bytes, its length, a sync; nothing past its end.
        assert!(mapped.release_descriptor());
        assert!(!mapped.holds_descriptor());
        mapped.write_all_at(b"late", 0).unwrap();
        assert_eq!(&std::fs::read(&path).unwrap()[..5], b"late\x01");
        assert_eq!(mapped.byte_len().unwrap(), 10000, "the mapped length");
        assert_eq!(mapped.read_at(&mut tail, 9998).unwrap(), 2);
        assert_eq!(mapped.read_at(&mut tail, 20000).unwrap(), 0);
        assert!(mapped.write_all_at(b"x", 10000).is_err());
        assert!(mapped.lock().is_err(), "flock needs the descriptor");
        mapped.sync_data().unwrap();
    }

    #[test]
    fn a_file_with_a_hole_is_not_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
        file.set_len(1 << 20).unwrap();
        let mut sparse = DiskFile::new(file);
        assert!(!sparse.map().unwrap(), "a store into the hole could need space the disk lacks");
        assert!(!sparse.release_descriptor(), "an unmapped file keeps its descriptor");
        sparse.write_all_at(b"x", 1000).unwrap();
        assert!(!sparse.is_mapped());
        assert_eq!(std::fs::read(&path).unwrap()[1000], b'x');
        // The control: the same length laid down in full is mapped.
        let full = dir.path().join("full");
        std::fs::write(&full, vec![0u8; 1 << 20]).unwrap();
        assert!(DiskFile::new(std::fs::OpenOptions::new().read(true).write(true).open(&full).unwrap()).map().unwrap());
    }

    #[test]
    fn memory_refuses_a_write_past_the_address_space() {
        let mem = MemStorage::default();
        assert!(mem.write_all_at(b"x", u64::MAX).is_err());
        assert_eq!(mem.byte_len().unwrap(), 0);
    }
}
