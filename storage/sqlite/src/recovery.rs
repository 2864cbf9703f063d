//! Startup recovery: brings the data files back in line with the committed records.

use crate::{Durability, Inner, db, files};
use std::fs::TryLockError;
use std::io;
use tus_core::{StorageError, UploadId};

/// What recovery changed, for the log.
#[derive(Debug, Default)]
struct Report {
    truncated: usize,
    orphans: usize,
    created: usize,
    lost: usize,
}

/// Truncates data files that are longer than their committed offset, deletes files with
/// no live record (or whose upload the database holds), and re-creates the missing file of
/// a live upload that holds no bytes.
///
/// Files that a writer holds locked (another storage value or process on the same
/// directory) are skipped: that writer truncates leftovers itself before it writes.
pub(crate) fn run(inner: &Inner) -> Result<(), StorageError> {
    let reader = inner.readers.get()?;
    let mut report = Report::default();

    for entry in std::fs::read_dir(&inner.data_dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(id) = entry.file_name().to_str().and_then(|name| UploadId::new(name).ok()) else {
            tracing::warn!(path = %path.display(), "ignoring a file that is not named like an upload");
            continue;
        };
        if !entry.file_type()?.is_file() {
            tracing::warn!(path = %path.display(), "ignoring a non-file in the data directory");
            continue;
        }
        let file = match files::open_rw(&path, false) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => {
                tracing::warn!(%id, %error, "recovery cannot open a data file");
                continue;
            }
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(error)) => {
                tracing::warn!(%id, %error, "recovery cannot lock a data file");
                continue;
            }
        }
        // Read under the lock: a writer commits only while it holds it.
        let offset = match db::load(&reader, &id)? {
            // An upload whose bytes the database holds has no file: this one is a leftover.
            Some(record) if record.bytes_id.is_some() => None,
            Some(record) => record.active().ok().map(|info| info.offset),
            None => None,
        };
        let outcome = match offset {
            None => files::remove(&path).map(|()| report.orphans += 1),
            Some(offset) => match file.metadata()?.len() {
                len if len > offset => {
                    let cut = file.set_len(offset).and_then(|()| match inner.durability {
                        Durability::Sync => file.sync_data(),
                        Durability::Buffered => Ok(()),
                    });
                    cut.map(|()| report.truncated += 1)
                }
                len if len < offset => {
                    tracing::error!(%id, len, offset, "data file is shorter than its committed offset: bytes were lost");
                    report.lost += 1;
                    Ok(())
                }
                _ => Ok(()),
            },
        };
        if let Err(error) = outcome {
            tracing::warn!(%id, %error, "recovery cannot fix a data file");
        }
    }

    for (id, offset) in db::active_offsets(&reader)? {
        let path = inner.data_dir.join(&id);
        if path.try_exists()? {
            continue;
        }
        if offset == 0 {
            match files::open_rw(&path, true) {
                Ok(_) => report.created += 1,
                Err(error) => tracing::warn!(%id, %error, "recovery cannot re-create an empty data file"),
            }
        } else {
            tracing::error!(%id, offset, "the data file of an upload is missing: its bytes were lost");
            report.lost += 1;
        }
    }

    if report.truncated + report.orphans + report.created + report.lost > 0 {
        tracing::info!(
            truncated = report.truncated,
            orphans_removed = report.orphans,
            empty_files_created = report.created,
            uploads_with_lost_bytes = report.lost,
            "recovered the upload directory"
        );
    }
    Ok(())
}
