//! Creation-with-upload of a small body (read whole already), answered by the writer thread.
//!
//! The general path hands the body to tokio's blocking pool, whose thread writes the file,
//! hands the record to the writer thread and sleeps until the commit: four threads woken
//! per upload (a profile of many 16 KiB uploads put a sixth of the server's CPU in those
//! hand-offs). Here the writer thread records the file in the same batch as the other
//! changes waiting and answers the request's task directly, with the file's lock and
//! clean-up moved along to it:
//!
//! - Buffered durability: a body that needs no `fdatasync` is written in microseconds, so
//!   the writer thread writes the file itself: one hand-off there, one back.
//! - Sync durability: a blocking-pool thread writes and `fdatasync`s the file (the syncs of
//!   concurrent uploads run in parallel, not one after another on the writer), queues the
//!   record for the writer and leaves without waiting for the commit; the writer syncs the
//!   data directory once for every new file of its batch before it commits.
//! - A body that is the whole upload, within the inline limit (by default in sync mode
//!   only): no file at all. The writer inserts the bytes with the record, and the commit
//!   that makes the record durable makes them durable too.

use crate::write::{Gathered, Piece, discard, keep_if_recorded};
use crate::writer::{Answer, BatchError, Job, batch_failed, in_one_statement, in_savepoint};
use crate::{Durability, Inner, db, files};
use rusqlite::Connection;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;
use tus_core::{AppendOptions, Concat, CreatedWithUpload, NewUpload, StorageError, UploadId, UploadInfo};

/// How a small creation ended.
pub(crate) enum Created {
    /// Done: recorded (or refused, with nothing left behind).
    Done(Result<CreatedWithUpload, StorageError>),
    /// A data file already exists at the upload's path: the general path sorts that out
    /// with the upload and the body handed back.
    FileExists(NewUpload, Vec<Piece>),
}

/// Writes and records a new upload whose whole body is `pieces` (ending with
/// [`Piece::End`]), answered by the writer thread of `inner`, and drops its cached record
/// as [`Inner::change`] does.
pub(crate) async fn create(
    inner: &Arc<Inner>,
    upload: NewUpload,
    pieces: Vec<Piece>,
    options: AppendOptions,
) -> Created {
    let id = upload.id.clone();
    let (reply, answer) = oneshot::channel();
    if fits_in_database(&upload, &pieces, inner.inline_limit) {
        // No file: the writer's commit is the only write, and makes the bytes durable.
        queue(inner, Box::new(DatabaseCreation { upload, pieces, reply }));
    } else {
        let job =
            SmallCreation { path: inner.data_path(&id), upload, pieces, atomic: options.atomic, reply, written: None };
        write_file(inner, job);
    }
    let created = answer
        .await
        .unwrap_or_else(|_| Created::Done(Err(StorageError::other("the upload database writer stopped mid-change"))));
    // A caller dropped before this point leaves nothing stale: the insert of a new record
    // changes no record that a HEAD could have cached (only live records are).
    inner.cache.invalidate(&id);
    created
}

/// Starts the file path of `job`: the writer thread writes the file (buffered), or a
/// blocking-pool thread writes and syncs it, then hands the record to the writer (sync).
fn write_file(inner: &Arc<Inner>, mut job: SmallCreation) {
    match inner.durability {
        Durability::Buffered => queue(inner, Box::new(job)),
        Durability::Sync => {
            let inner = Arc::clone(inner);
            // Not awaited: the answer comes from the writer. A panic or a stopped runtime drops
            // the job and its reply, which `create`'s wait for the answer reports.
            drop(tokio::task::spawn_blocking(move || {
                // The writer holds its next commit back for this record while the file syncs.
                let coming = inner.writer.announce();
                // Only a file to record goes to the writer; the rest is answered here.
                match job.write().and_then(|written| sync(written, &job.path, &job.upload.id)) {
                    Ok(Some(written)) => {
                        job.written = Some(written);
                        if let Err(job) = coming.submit(Box::new(job)) {
                            job.refuse(&BatchError::Stopped);
                        }
                    }
                    Ok(None) => drop(job.reply.send(Created::FileExists(job.upload, job.pieces))),
                    Err(e) => drop(job.reply.send(Created::Done(Err(e)))),
                }
            }));
        }
    }
}

/// Whether the upload is kept in the database: a plain upload (no concatenation) whose
/// whole body, `limit` bytes at most and not cut short, is exactly its length.
fn fits_in_database(upload: &NewUpload, pieces: &[Piece], limit: u64) -> bool {
    if pieces.iter().any(|piece| matches!(piece, Piece::End { failed: true })) {
        return false;
    }
    let len: u64 = chunks(pieces).map(|chunk| chunk.len() as u64).sum();
    upload.concat.is_none() && len > 0 && len <= limit && upload.length == Some(len)
}

/// The bytes of `pieces`, chunk by chunk.
fn chunks(pieces: &[Piece]) -> impl Iterator<Item = &[u8]> {
    pieces.iter().filter_map(|piece| match piece {
        Piece::Chunk(chunk) => Some(&chunk[..]),
        Piece::End { .. } => None,
    })
}

/// Hands `job` to the writer thread, or refuses it at once when that thread has stopped.
fn queue(inner: &Inner, job: Box<dyn Job>) {
    if let Err(job) = inner.writer.submit(job) {
        job.refuse(&BatchError::Stopped);
    }
}

/// Makes the bytes of a new file durable before its record is queued (sync durability).
fn sync(written: Option<(File, u64)>, path: &std::path::Path, id: &UploadId) -> Written {
    let Some((file, end)) = written else { return Ok(None) };
    match file.sync_data() {
        Ok(()) => Ok(Some((file, end))),
        Err(e) => {
            discard(path, id);
            Err(e.into())
        }
    }
}

/// A new data file, locked, with the offset to record; `None` when a file already exists
/// at the upload's path.
type Written = Result<Option<(File, u64)>, StorageError>;

struct SmallCreation {
    path: PathBuf,
    upload: NewUpload,
    pieces: Vec<Piece>,
    atomic: bool,
    reply: oneshot::Sender<Created>,
    /// The file (locked) and the offset to record, when it was written and synced before
    /// the job was queued.
    written: Option<(File, u64)>,
}

/// What [`SmallCreation::run`] leaves for after the commit.
struct Pending {
    reply: oneshot::Sender<Created>,
    outcome: Outcome,
}

enum Outcome {
    /// Answered as it is, whatever the commit does.
    Final(Created),
    /// Recorded in the open transaction, with its file still locked: done if the commit is.
    Recorded { file: File, path: PathBuf, info: UploadInfo },
    /// Recorded in the open transaction with its bytes: done if the commit is.
    RecordedWithBytes(UploadInfo),
}

impl SmallCreation {
    /// Writes the file; returns it (locked) and the offset to record.
    fn write(&mut self) -> Written {
        let file = match files::create_new(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // Recovery in another process deletes unlocked files without a record; one that
        // holds this new file's lock is about to delete it.
        let locked = match file.try_lock() {
            Ok(()) => files::still_created(&file, &self.path),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        };
        match locked {
            Ok(true) => {}
            // Not ours to delete any more: whatever is at the path now belongs to someone else.
            Ok(false) => {
                return Err(StorageError::other(format!(
                    "the new data file of upload {} was removed while it was created",
                    self.upload.id
                )));
            }
            Err(e) => {
                discard(&self.path, &self.upload.id);
                return Err(e.into());
            }
        }
        // The body is the file's from here on (only a file already there sends it back).
        let pieces = std::mem::take(&mut self.pieces);
        if self.atomic && pieces.iter().any(|piece| matches!(piece, Piece::End { failed: true })) {
            // All or nothing: nothing.
            return Ok(Some((file, 0)));
        }
        let mut end = 0u64;
        let written = {
            let mut out = Gathered::new(&file);
            pieces
                .into_iter()
                .try_for_each(|piece| match piece {
                    Piece::Chunk(chunk) => {
                        end += chunk.len() as u64;
                        out.push(chunk)
                    }
                    Piece::End { .. } => Ok(()),
                })
                .and_then(|()| out.flush())
        };
        if let Err(e) = written {
            discard(&self.path, &self.upload.id);
            return Err(e.into());
        }
        Ok(Some((file, end)))
    }
}

/// A small upload kept in the database: its record and its bytes, inserted together.
struct DatabaseCreation {
    upload: NewUpload,
    pieces: Vec<Piece>,
    reply: oneshot::Sender<Created>,
}

impl Job for DatabaseCreation {
    /// Inserts the record and the bytes in one savepoint: both or neither.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Answer> {
        let DatabaseCreation { upload, pieces, reply } = *self;
        let mut each = chunks(&pieces);
        // One chunk (the usual case for a small body) is bound as it is, without a copy.
        let joined: Vec<u8>;
        let bytes = match (each.next(), each.next()) {
            (Some(only), None) => only,
            _ => {
                joined = chunks(&pieces).collect::<Vec<_>>().concat();
                &joined[..]
            }
        };
        let recorded = in_savepoint(conn, |conn| db::insert_with_bytes(conn, &upload, bytes));
        let outcome = match recorded {
            Ok(info) => Outcome::RecordedWithBytes(info),
            Err(e) => Outcome::Final(Created::Done(Err(e))),
        };
        Box::new(Pending { reply, outcome })
    }

    fn refuse(self: Box<Self>, why: &BatchError) {
        let _ = self.reply.send(Created::Done(Err(batch_failed(why))));
    }
}

/// Inserts the record of `upload` with `offset` bytes: one statement, unless the upload is
/// a final one that names its parts too.
fn record(conn: &Connection, upload: &NewUpload, offset: u64) -> Result<UploadInfo, StorageError> {
    let insert = |conn: &Connection| db::insert(conn, upload, offset);
    match upload.concat {
        Some(Concat::Final(_)) => in_savepoint(conn, insert),
        None | Some(Concat::Partial) => in_one_statement(conn, insert),
    }
}

impl Job for SmallCreation {
    fn records_new_file(&self) -> bool {
        self.written.is_some()
    }

    fn run(mut self: Box<Self>, conn: &Connection) -> Box<dyn Answer> {
        let written = match self.written.take() {
            Some(written) => Ok(Some(written)),
            None => self.write(),
        };
        let outcome = match written {
            Ok(None) => {
                let SmallCreation { upload, pieces, reply, .. } = *self;
                return Box::new(Pending { reply, outcome: Outcome::Final(Created::FileExists(upload, pieces)) });
            }
            Err(e) => Outcome::Final(Created::Done(Err(e))),
            Ok(Some((file, end))) => match record(conn, &self.upload, end) {
                Ok(info) => Outcome::Recorded { file, path: self.path.clone(), info },
                Err(StorageError::AlreadyExists) => {
                    // Whose the new file is, read on this transaction's view.
                    let id = &self.upload.id;
                    keep_if_recorded(db::load(conn, id), &file, &self.path, id);
                    Outcome::Final(Created::Done(Err(StorageError::AlreadyExists)))
                }
                Err(e) => {
                    discard(&self.path, &self.upload.id);
                    Outcome::Final(Created::Done(Err(e)))
                }
            },
        };
        Box::new(Pending { reply: self.reply, outcome })
    }

    fn refuse(self: Box<Self>, why: &BatchError) {
        // A file written before the job was queued is not recorded: it goes.
        if let Some((file, _)) = self.written {
            discard(&self.path, &self.upload.id);
            drop(file);
        }
        let _ = self.reply.send(Created::Done(Err(batch_failed(why))));
    }
}

impl Answer for Pending {
    fn send(self: Box<Self>, commit: Result<(), &BatchError>) {
        let created = match (self.outcome, commit) {
            (Outcome::Final(created), _) => created,
            (Outcome::Recorded { file, path, info }, Err(why)) => {
                discard(&path, &info.id);
                drop(file);
                Created::Done(Err(batch_failed(why)))
            }
            (Outcome::Recorded { file, info, .. }, Ok(())) => {
                // Unlocks the file: the upload is recorded.
                drop(file);
                created(info)
            }
            (Outcome::RecordedWithBytes(_), Err(why)) => Created::Done(Err(batch_failed(why))),
            (Outcome::RecordedWithBytes(info), Ok(())) => created(info),
        };
        // A caller that went away does not need an answer; what was recorded stays.
        let _ = self.reply.send(created);
    }
}

/// The answer for an upload recorded with its bytes: created, then stored at `info`.
fn created(info: UploadInfo) -> Created {
    let mut created = info.clone();
    created.offset = 0;
    Created::Done(Ok(CreatedWithUpload::new(created, Ok(info))))
}
