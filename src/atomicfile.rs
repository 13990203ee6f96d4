//! State files written atomically: a reader (or the next start after a crash) sees either the whole old content
//! or the whole new one, never a torn mix. The same recipe as go-carbon's `helper/atomicfiles`: write a temporary
//! file beside the target, fsync it, rename it over the target, fsync the directory so the rename is durable.
//!
//! Owns: the temporary file while it exists. Never touches: any other path than the target and its directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces the content of `path` with `contents` atomically and durably (see the module docs). The parent
/// directory must exist. On error the target keeps its previous content (or stays absent) and the temporary file
/// is removed; the error names the path.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let result = write_then_rename(&tmp, path, contents);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("writing {} atomically: {e}", path.display())))
}

fn write_then_rename(tmp: &Path, path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    fs::rename(tmp, path)?;
    // The rename is only durable once the directory entry is.
    File::open(parent(path))?.sync_all()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.<name>.tmp.<pid>.<n>` in the target's directory (same file system, so the rename is atomic); unique per
/// process and call so that two writers never share a temporary file.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a file path", path.display())))?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp.{}.{n}", std::process::id()));
    Ok(parent(path).join(tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn creates_then_replaces_the_whole_content_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bindings-q");
        write_atomically(&p, b"a.#\nb.#\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"a.#\nb.#\n");
        write_atomically(&p, b"c\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"c\n");
        assert_eq!(entries(d.path()), vec!["bindings-q".to_string()]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_content_and_removes_the_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: the rename over it fails after the temporary file was written.
        let p = d.path().join("state");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("keep"), b"old").unwrap();
        let e = write_atomically(&p, b"new").unwrap_err();
        assert!(e.to_string().contains("state"), "{e}");
        assert_eq!(fs::read(p.join("keep")).unwrap(), b"old");
        assert_eq!(entries(d.path()), vec!["state".to_string()]);
        // Negative control: the same call on a plain file path succeeds, so the failure above was the rename.
        write_atomically(&d.path().join("plain"), b"new").unwrap();
        assert_eq!(fs::read(d.path().join("plain")).unwrap(), b"new");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("absent").join("bindings-q");
        let e = write_atomically(&p, b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("bindings-q"), "{e}");
        assert!(!p.exists());
    }
}
