//! The data files: one per upload under `<dir>/data/<id>`.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use tus_core::UploadId;

/// Opens a data file for reading and writing, creating it (empty) only when `create`.
pub(crate) fn open_rw(path: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)
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
