//! Writing a file so that readers see the old file or the whole new one, never a part:
//! the bytes go to a temporary file in the same directory, are flushed to disk, then the
//! temporary file is renamed over the target (a rename within one directory is atomic on
//! POSIX file systems and replaces the target on Windows). A failed write removes the
//! temporary file and leaves the target as it was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A fresh temporary name next to `path`: `.tmp-<pid>-<n>-<name>` (the name last, so that
/// writers that pick a format by extension still see it).
fn temporary_path(path: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io_error(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
        )
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = format!(".tmp-{}-{n}-{}", std::process::id(), name.to_string_lossy());
    Ok(path.with_file_name(temp))
}

/// Writes `bytes` to `path` atomically (see the module documentation).
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_with(path, |temp| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp)
            .map_err(|e| io_error(temp, e))?;
        file.write_all(bytes).map_err(|e| io_error(temp, e))?;
        file.sync_all().map_err(|e| io_error(temp, e))
    })
}

/// Lets `write` produce the new file at a temporary path next to `path` (for writers that want
/// a path, such as an image encoder), then flushes it and renames it over `path`. If `write`
/// fails, or the flush or rename does, the temporary file is removed and `path` is untouched.
pub fn replace_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let temp = temporary_path(path)?;
    let result = write(&temp)
        .and_then(|()| {
            // Flush what the writer left (it may not have synced), before the rename.
            std::fs::File::open(&temp)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error(&temp, e))
        })
        .and_then(|()| std::fs::rename(&temp, path).map_err(|e| io_error(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Whether `a` and `b` name the same existing file (through links or `..` alike).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("muon-wgpu-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_no_temporary() {
        let d = dir("replace");
        let path = d.join("out.bin");
        std::fs::write(&path, b"old contents, longer").unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(entries(&d), ["out.bin"]);
    }

    #[test]
    fn a_failed_write_leaves_the_target_untouched_and_no_temporary() {
        let d = dir("fail");
        let path = d.join("out.bin");
        std::fs::write(&path, b"old").unwrap();
        let err = replace_with(&path, |temp| {
            std::fs::write(temp, b"half").unwrap();
            Err(Error::Readback("the writer failed midway".into()))
        })
        .unwrap_err();
        assert!(err.to_string().contains("midway"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(&d), ["out.bin"]);
        // A directory that does not exist: an I/O error naming it, nothing created.
        let missing = d.join("no-such-dir").join("x.bin");
        assert!(matches!(write(&missing, b"x"), Err(Error::Io { .. })));
        assert_eq!(entries(&d), ["out.bin"]);
    }

    #[test]
    fn same_file_sees_through_dot_dot() {
        let d = dir("same");
        let path = d.join("a.bin");
        std::fs::write(&path, b"a").unwrap();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        assert!(same_file(&path, &d.join("sub").join("..").join("a.bin")));
        assert!(!same_file(&path, &d.join("b.bin")));
    }
}
