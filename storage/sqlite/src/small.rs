//! Creation-with-upload of a small body in buffered durability, done whole by the writer
//! thread.
//!
//! The general path hands the body to tokio's blocking pool, whose thread writes the file,
//! hands the record to the writer thread and sleeps until the commit: four threads woken
//! per upload (a profile of many 16 KiB uploads put a sixth of the server's CPU in those
//! hand-offs). A body that was read whole already and needs no `fdatasync` is written in
//! microseconds, so the writer thread writes its file itself, records it in the same batch
//! as the other changes waiting, and answers the request's task directly: one hand-off
//! there, one back. Sync durability keeps the general path, where the `fdatasync`s of
//! concurrent uploads run in parallel instead of one after another on this thread.

use crate::write::{Gathered, Piece, discard, keep_if_recorded};
use crate::writer::{Answer, Job, batch_failed, in_savepoint};
use crate::{Inner, db, files};
use rusqlite::Connection;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use tokio::sync::oneshot;
use tus_core::{AppendOptions, CreatedWithUpload, NewUpload, StorageError, UploadInfo};

/// How a small creation ended.
pub(crate) enum Created {
    /// Done: recorded (or refused, with nothing left behind).
    Done(Result<CreatedWithUpload, StorageError>),
    /// A data file already exists at the upload's path: the general path sorts that out
    /// with the upload and the body handed back.
    FileExists(NewUpload, Vec<Piece>),
}

/// Writes and records a new upload whose whole body is `pieces` (ending with
/// [`Piece::End`]) on the writer thread of `inner`, and drops its cached record as
/// [`Inner::change`] does.
pub(crate) async fn create(inner: &Inner, upload: NewUpload, pieces: Vec<Piece>, options: AppendOptions) -> Created {
    let id = upload.id.clone();
    let (reply, answer) = oneshot::channel();
    let job = SmallCreation { path: inner.data_path(&id), upload, pieces, atomic: options.atomic, reply };
    if !inner.writer.submit(Box::new(job)) {
        return Created::Done(Err(StorageError::other("the upload database writer has stopped")));
    }
    let created = answer
        .await
        .unwrap_or_else(|_| Created::Done(Err(StorageError::other("the upload database writer stopped mid-change"))));
    // A caller dropped before this point leaves nothing stale: the insert of a new record
    // changes no record that a HEAD could have cached (only live records are).
    inner.cache.invalidate(&id);
    created
}

struct SmallCreation {
    path: PathBuf,
    upload: NewUpload,
    pieces: Vec<Piece>,
    atomic: bool,
    reply: oneshot::Sender<Created>,
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
}

impl SmallCreation {
    /// Writes the file; returns it (locked) and the offset to record.
    fn write(&mut self) -> Result<Option<(File, u64)>, StorageError> {
        let file = match files::create_new(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // Recovery in another process deletes unlocked files without a record; one that
        // holds this new file's lock is about to delete it.
        let locked = match file.try_lock() {
            Ok(()) => files::same_file(&file, &self.path),
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

impl Job for SmallCreation {
    fn run(mut self: Box<Self>, conn: &Connection) -> Box<dyn Answer> {
        let outcome = match self.write() {
            Ok(None) => {
                let SmallCreation { upload, pieces, reply, .. } = *self;
                return Box::new(Pending { reply, outcome: Outcome::Final(Created::FileExists(upload, pieces)) });
            }
            Err(e) => Outcome::Final(Created::Done(Err(e))),
            Ok(Some((file, end))) => match in_savepoint(conn, |conn| db::insert(conn, &self.upload, end)) {
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

    fn refuse(self: Box<Self>, why: &rusqlite::Error) {
        // Nothing was written yet.
        let _ = self.reply.send(Created::Done(Err(batch_failed(why))));
    }
}

impl Answer for Pending {
    fn send(self: Box<Self>, commit: Result<(), &rusqlite::Error>) {
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
                let mut created = info.clone();
                created.offset = 0;
                Created::Done(Ok(CreatedWithUpload::new(created, Ok(info))))
            }
        };
        // A caller that went away does not need an answer; what was recorded stays.
        let _ = self.reply.send(created);
    }
}
