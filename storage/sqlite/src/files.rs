//! The data files: one per upload under `<dir>/data/<id>`.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use tus_core::UploadId;

/// Opens a data file for reading and writing, creating it (empty) only when `create`.
pub(crate) fn open_rw(path: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)
}

/// Creates the data file of a new upload for writing; fails when it exists.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create_new(true).open(path)
}

/// Whether `file` is the file at `path` (same device and inode; elsewhere than Unix,
/// whether `path` exists).
pub(crate) fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let named = match std::fs::metadata(path) {
        Ok(named) => named,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let open = file.metadata()?;
        Ok(open.dev() == named.dev() && open.ino() == named.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (file, named);
        Ok(true)
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

/// Makes new directory entries in one directory durable, sharing syncs between callers.
///
/// Every new upload's first bytes need their directory entry on disk, and an `fsync` of
/// a directory is as slow as any other. A sync that starts after a caller asked covers
/// that caller, so callers that arrive while one runs wait for the next one together: under
/// load, one sync serves many new uploads.
#[derive(Debug)]
pub(crate) struct DirSync {
    dir: PathBuf,
    state: Mutex<DirSyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct DirSyncState {
    /// Syncs started so far; the number of the latest.
    started: u64,
    /// The number of the latest sync that has ended.
    finished: u64,
    /// Whether a sync is running now.
    running: bool,
    /// The number of the latest sync that failed (0: none).
    failed: u64,
}

impl DirSync {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir, state: Mutex::new(DirSyncState::default()), done: Condvar::new() }
    }

    /// Returns once a sync of the directory that started after this call has succeeded.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let lock = || self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut state = lock();
        // Sync number `needed` is the first to start after now: it covers this caller.
        let needed = state.started + 1;
        loop {
            if state.finished >= needed {
                // Conservative: a failure of any sync since `needed` fails this caller too.
                return if state.failed >= needed {
                    Err(io::Error::other(format!("cannot sync the directory {}", self.dir.display())))
                } else {
                    Ok(())
                };
            }
            if state.running {
                state = self.done.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            state.running = true;
            state.started += 1;
            let number = state.started;
            drop(state);
            let result = sync_dir(&self.dir);
            state = lock();
            state.running = false;
            state.finished = number;
            if result.is_err() {
                state.failed = number;
            }
            self.done.notify_all();
            if number >= needed {
                return result;
            }
        }
    }
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
    use std::sync::{Arc, Barrier};

    #[test]
    fn concurrent_dir_syncs_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let sync = Arc::new(DirSync::new(dir.path().to_owned()));
        let start = Arc::new(Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (sync, start) = (Arc::clone(&sync), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    sync.sync()
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
        let state = sync.state.lock().unwrap();
        assert!(state.started >= 1 && state.started <= 16 && state.finished == state.started);
    }

    #[test]
    fn a_missing_directory_fails_every_caller() {
        let dir = tempfile::tempdir().unwrap();
        let sync = DirSync::new(dir.path().join("gone"));
        assert!(sync.sync().is_err());
        assert!(sync.sync().is_err());
    }
}
