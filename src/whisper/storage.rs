//! Where a whisper file's bytes live: [`Storage`] is the seam between the format code (header, update, fetch) and
//! the bytes. A [`File`] is the real thing (positioned `pread`/`pwrite`, `fdatasync`, `flock`); [`MemStorage`] keeps
//! the bytes in memory with the same semantics, so the fuzzer and tests run the very same update and fetch code
//! without a syscall per operation.
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
    fn memory_refuses_a_write_past_the_address_space() {
        let mem = MemStorage::default();
        assert!(mem.write_all_at(b"x", u64::MAX).is_err());
        assert_eq!(mem.byte_len().unwrap(), 0);
    }
}
