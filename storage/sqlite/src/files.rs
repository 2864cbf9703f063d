//! The data files: one per upload under `<dir>/data/<id>`.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use tus_core::UploadId;

/// Opens a data file for reading and writing, creating it (empty) only when `create`.
pub(crate) fn open_rw(path: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)
}

/// Creates the data file of a new upload for writing; fails when it exists.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create_new(true).open(path)
}

/// Whether `file`, which this process created at `path` (exclusively, see [`create_new`]),
/// is still there: recovery in another process may have deleted it before `file` was
/// locked. Data files are only ever created and deleted, never renamed or linked, so a
/// file with a link left is still the one at `path` (one `fstat`; elsewhere than Unix,
/// whether `path` exists).
pub(crate) fn still_created(file: &File, path: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let _ = path;
        Ok(file.metadata()?.nlink() > 0)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.try_exists()
    }
}

/// Creates (or empties) the data file of a new upload.
pub(crate) fn create_empty(path: &Path) -> io::Result<()> {
    OpenOptions::new().write(true).create(true).truncate(true).open(path).map(drop)
}

/// Makes the directory entries in `dir` durable, so that a file created in it survives
/// a power loss along with the data that was synced into it.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Asks the kernel to start writing the `len` bytes of `file` from `offset` to the disk,
/// without waiting for them, so that a later `fdatasync` finds them written or on their
/// way. On Linux, `POSIX_FADV_DONTNEED` does that (it starts the write-back of the range's
/// dirty pages and drops only pages that are clean already, which bytes just written are
/// not). Only a hint: it fails nothing, and the `fdatasync` that must follow still waits for
/// every byte and reports any write-back error. Elsewhere it does nothing, and that
/// `fdatasync` writes everything.
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{Advice, fadvise};
        if let Some(len) = std::num::NonZeroU64::new(len)
            && let Err(error) = fadvise(file, offset, Some(len), Advice::DontNeed)
        {
            tracing::debug!(%error, "cannot start the write-back of a data file");
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (file, offset, len);
}

/// Cuts `file` back to `len` bytes after a failed or rolled-back write. A failure is only
/// logged: the caller is returning an error already, and the next writer truncates anyway.
pub(crate) fn truncate_back(file: &File, len: u64, id: &UploadId) {
    if let Err(error) = file.set_len(len) {
        tracing::warn!(%id, len, %error, "cannot truncate a data file back to its committed offset");
    }
}

/// Deletes a data file; a file that is gone already is fine.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_file_is_still_there_until_another_process_deletes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload");
        let file = create_new(&path).unwrap();
        assert!(still_created(&file, &path).unwrap());
        // What recovery elsewhere does to a file it finds without a record, and a new file
        // at the same path afterwards: neither is the file this process holds.
        remove(&path).unwrap();
        assert!(!still_created(&file, &path).unwrap());
        let other = create_new(&path).unwrap();
        assert!(!still_created(&file, &path).unwrap());
        assert!(still_created(&other, &path).unwrap());
    }
}
