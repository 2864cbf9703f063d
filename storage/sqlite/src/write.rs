//! Writing data files: appends and concatenation. Everything here blocks, so it runs
//! on tokio's blocking pool (small creations in buffered mode: on the writer thread, see
//! [`crate::small`]).

use crate::{Durability, Inner, db, files};
use bytes::Bytes;
use std::fs::File;
use std::io::{self, IoSlice, Read as _, Seek as _, SeekFrom, Write as _};
use tokio::sync::mpsc;
use tus_core::{AppendOptions, CreatedWithUpload, NewUpload, StorageError, UploadId, UploadInfo};

/// How much of a body is gathered before it goes to the file…
const WRITE_BUFFER: usize = 256 * 1024;
/// …in at most this many pieces (one `writev`; the pieces are the body's own buffers,
/// not copies, so this also bounds the memory they hold).
const WRITE_PIECES: usize = 16;

/// A long non-atomic append commits what it has stored after this many bytes…
const CHECKPOINT_BYTES: u64 = 64 * 1024 * 1024;
/// …or after this long, so that a crash (not only a dropped connection) loses at most the
/// last moments of a big PATCH, and HEAD shows progress while the PATCH runs.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// With [`Durability::Sync`], the disk is asked to start writing the bytes of a body every
/// this many bytes while more arrive (see [`files::start_writeback`]), so that the
/// `fdatasync` before the commit only waits for the tail of the body instead of all of it.
const WRITE_BEHIND_BYTES: u64 = 1024 * 1024;

/// What the async side hands the blocking writer.
#[derive(Debug)]
pub(crate) enum Piece {
    /// The next bytes of the body.
    Chunk(Bytes),
    /// The body ended, with an error when `failed`.
    End { failed: bool },
}

impl Piece {
    /// What the next item of a body is for the writer; `None` for an empty chunk (nothing
    /// to write).
    pub(crate) fn from_next(next: Option<Result<Bytes, tus_core::BodyError>>) -> Option<Self> {
        match next {
            Some(Ok(chunk)) if chunk.is_empty() => None,
            Some(Ok(chunk)) => Some(Self::Chunk(chunk)),
            Some(Err(_)) => Some(Self::End { failed: true }),
            None => Some(Self::End { failed: false }),
        }
    }
}

/// How the body reached the file.
enum Received {
    /// The body ended (cleanly, or with an error when `failed`) at offset `end`.
    Ended { end: u64, failed: bool },
    /// The async side went away before the end of the body (its future was dropped).
    Abandoned,
}

/// Opens and locks the data file of `id` for a writer, then re-reads the record under the
/// lock. The lock (an `flock`) makes every writer of this upload, in any thread, storage
/// value or process, wait for the one before it, so no two of them ever write the same
/// file at once.
///
/// With `expected`, a writer that finds the lock taken first reads the record without it,
/// and answers an offset other than `expected` at once instead of waiting for the writer
/// before it. An uncontended lock skips that read: the read under the lock decides.
fn lock_for_writing(inner: &Inner, id: &UploadId, create: bool, expected: Option<u64>) -> Result<Locked, StorageError> {
    let path = inner.data_path(id);
    let file = match files::open_rw(&path, create) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Removed meanwhile, or kept in the database, or bytes lost outside our control.
            let (info, bytes_id) = db::load_active_with_bytes_id(&*inner.readers.get()?, id)?;
            if bytes_id.is_some() {
                return Ok(Locked::Inline(info));
            }
            return Err(StorageError::Io(io::Error::new(
                e.kind(),
                format!("the data file of upload {id} is missing though bytes were recorded"),
            )));
        }
        Err(e) => return Err(e.into()),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            if let Some(offset) = expected {
                let current = db::load_active(&*inner.readers.get()?, id)?;
                if current.offset != offset {
                    return Err(StorageError::OffsetMismatch { actual: current.offset });
                }
            }
            file.lock()?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
    }
    match db::load_active(&*inner.readers.get()?, id) {
        Ok(info) => Ok(Locked::File(file, info)),
        Err(e) => {
            if matches!(e, StorageError::Gone | StorageError::NotFound) {
                // We may have just re-created the file of a removed upload.
                discard(&path, id);
            }
            Err(e)
        }
    }
}

/// What [`lock_for_writing`] found.
enum Locked {
    /// The data file, locked, and the record read under its lock.
    File(File, UploadInfo),
    /// The record of an upload whose bytes the database holds: it is complete, and has no
    /// data file to lock.
    Inline(UploadInfo),
}

/// Deletes the data file of an upload that is no longer live.
pub(crate) fn discard(path: &std::path::Path, id: &UploadId) {
    if let Err(error) = files::remove(path) {
        tracing::warn!(%id, %error, "cannot delete the data file of a removed upload");
    }
}

/// Records a new upload, then creates its (empty) data file.
pub(crate) fn create(inner: &Inner, upload: NewUpload) -> Result<UploadInfo, StorageError> {
    let id = upload.id.clone();
    let info = inner.change(&id, move |conn| db::insert(conn, &upload, 0))?;
    if let Err(e) = files::create_empty(&inner.data_path(&info.id)) {
        // An upload without its file is unusable: free the ID again.
        let deleted = id.clone();
        if let Err(error) = inner.change(&id, move |conn| db::delete(conn, &deleted)) {
            tracing::warn!(id = %info.id, %error, "cannot delete the record of a failed create");
        }
        return Err(StorageError::Io(e));
    }
    Ok(info)
}

/// What the bytes before an append are recorded as.
#[derive(Debug, Clone)]
enum Base {
    /// The upload's committed record.
    Recorded(UploadInfo),
    /// A new upload whose record does not exist yet: the first commit inserts it.
    Unrecorded(Box<NewUpload>),
}

impl Base {
    fn offset(&self) -> u64 {
        match self {
            Self::Recorded(info) => info.offset,
            Self::Unrecorded(_) => 0,
        }
    }
}

/// Appends the pieces from `rx` to the data file of `id` at `offset`, then commits.
///
/// The order matters for crash safety: lock the file, re-check the offset, cut leftovers
/// past it, write, `fdatasync` (with [`Durability::Sync`]), and only then move the offset
/// with a compare-and-set. Any failure before the commit truncates the file back.
pub(crate) fn append(
    inner: &Inner,
    id: &UploadId,
    offset: u64,
    rx: &mut mpsc::Receiver<Piece>,
    options: AppendOptions,
) -> Result<UploadInfo, StorageError> {
    // One record read when the file lock is free; a stale offset is still answered at
    // once, without waiting for a writer that holds the lock.
    let (file, current) = match lock_for_writing(inner, id, offset == 0, Some(offset))? {
        Locked::File(file, current) => (file, current),
        Locked::Inline(current) => return append_to_complete(current, offset, rx),
    };
    if current.offset != offset {
        return Err(StorageError::OffsetMismatch { actual: current.offset });
    }
    let len = file.metadata()?.len();
    if len < offset {
        return Err(StorageError::Io(io::Error::other(format!(
            "the data file of upload {id} holds {len} bytes, fewer than the {offset} recorded"
        ))));
    }
    if len > offset {
        // Leftovers of a write that crashed or was rolled back; they were never committed.
        file.set_len(offset)?;
    }
    write_and_commit(inner, &file, id, Base::Recorded(current), rx, options).1
}

/// An append to a complete upload whose bytes the database holds: the body can add nothing
/// (the caller stops it at the upload's length), so only the offset is checked.
fn append_to_complete(
    current: UploadInfo,
    offset: u64,
    rx: &mut mpsc::Receiver<Piece>,
) -> Result<UploadInfo, StorageError> {
    if current.offset != offset {
        return Err(StorageError::OffsetMismatch { actual: current.offset });
    }
    while let Some(piece) = rx.blocking_recv() {
        match piece {
            Piece::Chunk(chunk) if !chunk.is_empty() => {
                return Err(StorageError::other(format!(
                    "upload {} is complete at {offset} bytes; no more can be added",
                    current.id
                )));
            }
            Piece::Chunk(_) => {}
            Piece::End { .. } => break,
        }
    }
    Ok(current)
}

/// Creates the upload `upload` with the pieces from `rx` as its first bytes: writes them
/// to a new data file, makes them durable (per the durability mode), and only then inserts
/// the record with its offset, so that one commit does what `create` and `append` do in
/// two. Nobody can see the upload before that commit. Long bodies commit at checkpoints as
/// appends do; the first checkpoint inserts the record.
///
/// When the ID has a data file already (a leftover of a crash, or another creator of the
/// same ID), it falls back to [`create`] and [`append`], which deal with both.
pub(crate) fn create_with_upload(
    inner: &Inner,
    upload: NewUpload,
    rx: &mut mpsc::Receiver<Piece>,
    options: AppendOptions,
) -> Result<CreatedWithUpload, StorageError> {
    let id = upload.id.clone();
    // No look for an existing record first: the insert finds it (see below), and fresh IDs
    // (random) never have one.
    let path = inner.data_path(&id);
    let file = match files::create_new(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let created = create(inner, upload)?;
            let stored = append(inner, &id, 0, rx, options);
            return Ok(CreatedWithUpload::new(created, stored));
        }
        Err(e) => return Err(e.into()),
    };
    file.lock()?;
    // Recovery in another process deletes files without a record unless they are locked;
    // make sure the file that is locked is still the one at `path`.
    if !files::still_created(&file, &path)? {
        return Err(StorageError::other(format!("the new data file of upload {id} was removed while it was created")));
    }
    let (base, stored) = write_and_commit(inner, &file, &id, Base::Unrecorded(Box::new(upload)), rx, options);
    match base {
        Base::Recorded(mut created) => {
            created.offset = 0;
            Ok(CreatedWithUpload::new(created, stored))
        }
        Base::Unrecorded(_) => {
            // Nothing was recorded: the upload does not exist, and neither may its file.
            let failed = stored.err().unwrap_or_else(|| StorageError::other("the upload was not recorded"));
            if matches!(failed, StorageError::AlreadyExists) {
                keep_if_recorded(inner.readers.get().and_then(|conn| db::load(&conn, &id)), &file, &path, &id);
            } else {
                discard(&path, &id);
            }
            Err(failed)
        }
    }
}

/// The insert of a creation-with-upload found a record of its ID. The file was created
/// here (exclusively, so none of its bytes are anyone else's) and is still locked. A live
/// record at offset 0 may be another creator's that makes the file its own (`create`
/// records first, then makes the file; its first append waits for this lock): it gets the
/// file back empty, as it was made. Any other record (a tombstone, a record gone since, an
/// upload with bytes whose file is gone) had no file before: the file goes.
/// `record` is what a read of the ID found.
pub(crate) fn keep_if_recorded(
    record: Result<Option<db::Record>, StorageError>,
    file: &File,
    path: &std::path::Path,
    id: &UploadId,
) {
    let live =
        record.map(|record| record.is_some_and(|record| record.state == db::State::Active && record.info.offset == 0));
    match live {
        Ok(true) => files::truncate_back(file, 0, id),
        Ok(false) => discard(path, id),
        // Unsure whose it is: empty, the file is right for a live upload and harmless otherwise.
        Err(error) => {
            tracing::warn!(%id, %error, "cannot read the record that a new upload collided with");
            files::truncate_back(file, 0, id);
        }
    }
}

/// Writes the pieces from `rx` after `base` into `file` (locked, cut to `base`'s offset)
/// and commits them, at checkpoints along the way and at the end. Returns what is
/// recorded at the end, and the result for the caller.
fn write_and_commit(
    inner: &Inner,
    file: &File,
    id: &UploadId,
    base: Base,
    rx: &mut mpsc::Receiver<Piece>,
    options: AppendOptions,
) -> (Base, Result<UploadInfo, StorageError>) {
    let offset = base.offset();
    // `committed` moves forward at each checkpoint; failures roll back to it, never further.
    let mut committed = base;
    let write_behind = inner.durability == Durability::Sync;
    let received = std::thread::scope(|scope| {
        // A checkpoint (sync, then commit) runs beside the writing, so a long PATCH does
        // not stop receiving while the disk catches up. One at a time: the next waits for
        // the one before, so commits stay in order.
        let mut in_flight: Option<std::thread::ScopedJoinHandle<'_, Result<UploadInfo, StorageError>>> = None;
        let received = receive(file, offset, rx, |from, end, reason| {
            match reason {
                Flushed::Checkpoint if !options.atomic => {
                    land(&mut in_flight, &mut committed)?;
                    let from = committed.clone();
                    in_flight = Some(scope.spawn(move || commit(inner, file, id, &from, end, options)));
                }
                Flushed::Checkpoint => {}
                // Only a start: the write-back's errors, if any, fail the `fdatasync`
                // before the commit, which still waits for every byte.
                Flushed::WriteBehind if write_behind => files::start_writeback(file, from, end - from),
                Flushed::WriteBehind => {}
            }
            Ok(())
        });
        land(&mut in_flight, &mut committed).map_err(ReceiveError::Storage).and(received)
    });
    // Closing the channel tells the async side to stop reading the body.
    rx.close();
    let base = committed.offset();
    let end = match received {
        Ok(Received::Ended { end, failed }) if !(failed && options.atomic) => end,
        Ok(Received::Ended { .. }) => {
            files::truncate_back(file, base, id);
            base
        }
        Ok(Received::Abandoned) => {
            files::truncate_back(file, base, id);
            return (committed, Err(StorageError::other("the append was abandoned before its body ended")));
        }
        Err(ReceiveError::Io(e)) => {
            files::truncate_back(file, base, id);
            return (committed, Err(StorageError::Io(e)));
        }
        Err(ReceiveError::Storage(e)) => {
            // A failed checkpoint cut the file back, but writing may have gone on after it.
            files::truncate_back(file, base, id);
            return (committed, Err(e));
        }
    };
    if end == base
        && let Base::Recorded(info) = &committed
    {
        return (committed.clone(), Ok(info.clone()));
    }
    let result = commit(inner, file, id, &committed, end, options);
    if let Ok(info) = &result {
        committed = Base::Recorded(info.clone());
    }
    (committed, result)
}

/// Waits for the checkpoint in flight, if any, and moves `committed` to what it committed.
fn land(
    in_flight: &mut Option<std::thread::ScopedJoinHandle<'_, Result<UploadInfo, StorageError>>>,
    committed: &mut Base,
) -> Result<(), StorageError> {
    if let Some(checkpoint) = in_flight.take() {
        let info = checkpoint.join().unwrap_or_else(|_| Err(StorageError::other("a checkpoint panicked")))?;
        *committed = Base::Recorded(info);
    }
    Ok(())
}

/// Makes the bytes from `committed`'s offset to `end` durable (per the durability mode)
/// and commits `end`: a compare-and-set on a recorded upload, the insert of a new one. On
/// failure the file is cut back where it belongs.
fn commit(
    inner: &Inner,
    file: &File,
    id: &UploadId,
    committed: &Base,
    end: u64,
    options: AppendOptions,
) -> Result<UploadInfo, StorageError> {
    let base = committed.offset();
    let mut coming = None;
    if inner.durability == Durability::Sync && end > base {
        // The writer holds its next commit back for this change while the data syncs.
        coming = Some(inner.writer.announce());
        if let Err(e) = file.sync_data() {
            // The offset may only cover bytes that are on disk, so the data goes first.
            files::truncate_back(file, base, id);
            return Err(StorageError::Io(e));
        }
    }
    // The first bytes also need the file's directory entry to be durable: the writer syncs
    // the directory before the commit.
    let new_file = base == 0;
    let result = match committed {
        Base::Recorded(_) => {
            let (upload, expires_at) = (id.clone(), options.expires_at);
            inner.change_recording(id, move |conn| db::advance(conn, &upload, base, end, expires_at), new_file, coming)
        }
        Base::Unrecorded(upload) => {
            let upload = upload.clone();
            inner.change_recording(id, move |conn| db::insert(conn, &upload, end), new_file, coming)
        }
    };
    match &result {
        Ok(_) => {}
        Err(StorageError::Gone | StorageError::NotFound) => discard(&inner.data_path(id), id),
        Err(StorageError::OffsetMismatch { actual }) => {
            // Impossible while every writer takes the file lock; the bytes past `base` may
            // belong to whoever moved the offset, so they stay.
            tracing::error!(%id, base, actual, "upload offset moved under the file lock");
        }
        // Another creator recorded the same ID first; the caller leaves the file alone.
        Err(StorageError::AlreadyExists) => {}
        Err(_) => files::truncate_back(file, base, id),
    }
    result
}

/// Why [`receive`] flushed its buffer to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flushed {
    /// Time to commit what is stored ([`CHECKPOINT_BYTES`], [`CHECKPOINT_INTERVAL`]).
    Checkpoint,
    /// Another [`WRITE_BEHIND_BYTES`] reached the file.
    WriteBehind,
}

/// Why receiving stopped early.
enum ReceiveError {
    /// Writing the file failed.
    Io(io::Error),
    /// A checkpoint commit failed; the file is already cut back.
    Storage(StorageError),
}

/// Writes pieces at `offset` through a buffer until the body ends, calling `flushed` with
/// the offsets of the bytes flushed to the file since the last call, every
/// [`CHECKPOINT_BYTES`] or [`CHECKPOINT_INTERVAL`], and every [`WRITE_BEHIND_BYTES`].
fn receive(
    mut file: &File,
    offset: u64,
    rx: &mut mpsc::Receiver<Piece>,
    mut flushed: impl FnMut(u64, u64, Flushed) -> Result<(), StorageError>,
) -> Result<Received, ReceiveError> {
    file.seek(SeekFrom::Start(offset)).map_err(ReceiveError::Io)?;
    let mut out = Gathered::new(file);
    let mut end = offset;
    let mut last_checkpoint = (offset, std::time::Instant::now());
    let mut last_write_behind = offset;
    loop {
        match rx.blocking_recv() {
            Some(Piece::Chunk(chunk)) => {
                end += chunk.len() as u64;
                // On an error, what is still gathered is dropped: the caller truncates anyway.
                out.push(chunk).map_err(ReceiveError::Io)?;
                let (at, when) = last_checkpoint;
                if end - at >= CHECKPOINT_BYTES || (end > at && when.elapsed() >= CHECKPOINT_INTERVAL) {
                    out.flush().map_err(ReceiveError::Io)?;
                    flushed(last_write_behind, end, Flushed::Checkpoint).map_err(ReceiveError::Storage)?;
                    last_checkpoint = (end, std::time::Instant::now());
                    last_write_behind = end;
                } else if end - last_write_behind >= WRITE_BEHIND_BYTES {
                    out.flush().map_err(ReceiveError::Io)?;
                    flushed(last_write_behind, end, Flushed::WriteBehind).map_err(ReceiveError::Storage)?;
                    last_write_behind = end;
                }
            }
            Some(Piece::End { failed }) => {
                out.flush().map_err(ReceiveError::Io)?;
                return Ok(Received::Ended { end, failed });
            }
            // What is still gathered is dropped unwritten: the caller truncates anyway.
            None => return Ok(Received::Abandoned),
        }
    }
}

/// Body pieces waiting to be written at the file's position, written together by one
/// `writev` once [`WRITE_BUFFER`] bytes or [`WRITE_PIECES`] pieces are waiting. The
/// pieces are kept as they came (no copy into a buffer of our own).
pub(crate) struct Gathered<'f> {
    file: &'f File,
    pieces: Vec<Bytes>,
    bytes: usize,
}

impl<'f> Gathered<'f> {
    pub(crate) fn new(file: &'f File) -> Self {
        Self { file, pieces: Vec::with_capacity(WRITE_PIECES), bytes: 0 }
    }

    /// Adds `piece`, writing everything gathered when that is enough.
    pub(crate) fn push(&mut self, piece: Bytes) -> io::Result<()> {
        self.bytes += piece.len();
        self.pieces.push(piece);
        if self.bytes >= WRITE_BUFFER || self.pieces.len() >= WRITE_PIECES { self.flush() } else { Ok(()) }
    }

    /// Writes everything gathered, in order.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let mut slices = [IoSlice::new(&[]); WRITE_PIECES];
        let count = self.pieces.len();
        for (slice, piece) in slices.iter_mut().zip(&self.pieces) {
            *slice = IoSlice::new(piece);
        }
        let mut left = &mut slices[..count];
        while !left.is_empty() {
            match (&mut &*self.file).write_vectored(left) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut left, written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pieces.clear();
        self.bytes = 0;
        Ok(())
    }
}

/// One partial upload to copy into a final upload.
struct Source {
    id: UploadId,
    /// `None` for an empty partial whose file is missing.
    file: Option<File>,
    len: u64,
}

/// Fills the data file of the final upload `final_id` with the bytes of `partials`, in
/// order, then marks it complete with a compare-and-set on an offset of 0.
pub(crate) fn concatenate(
    inner: &Inner,
    final_id: &UploadId,
    partials: &[UploadId],
) -> Result<UploadInfo, StorageError> {
    if db::load_active(&*inner.readers.get()?, final_id)?.offset > 0 {
        return Err(StorageError::AlreadyExists);
    }
    // A final holds no bytes before this, so creating its missing file loses nothing.
    // Created if missing, so never an upload kept in the database.
    let Locked::File(file, info) = lock_for_writing(inner, final_id, true, None)? else {
        return Err(StorageError::AlreadyExists);
    };
    if info.offset > 0 {
        return Err(StorageError::AlreadyExists);
    }

    let mut sources = Vec::with_capacity(partials.len());
    let mut total = 0u64;
    {
        let reader = inner.readers.get()?;
        for id in partials {
            let partial = db::load_active(&reader, id)?;
            if partial.length != Some(partial.offset) {
                return Err(StorageError::other(format!("partial upload {id} is not complete")));
            }
            let source = match File::open(inner.data_path(id)) {
                Ok(file) => Some(file),
                Err(e) if e.kind() == io::ErrorKind::NotFound && partial.offset == 0 => None,
                Err(e) => return Err(e.into()),
            };
            total = total
                .checked_add(partial.offset)
                .ok_or_else(|| StorageError::other("the partial uploads add up to more bytes than fit in a u64"))?;
            sources.push(Source { id: id.clone(), file: source, len: partial.offset });
        }
    }
    if let Some(length) = info.length
        && length != total
    {
        return Err(StorageError::other(format!(
            "the partial uploads hold {total} bytes, but final upload {final_id} expects {length}"
        )));
    }

    let copied = copy_parts(&file, sources).and_then(|()| match inner.durability {
        Durability::Sync => file.sync_data(),
        Durability::Buffered => Ok(()),
    });
    if let Err(e) = copied {
        files::truncate_back(&file, 0, final_id);
        return Err(StorageError::Io(e));
    }

    let upload = final_id.clone();
    let committed = inner.change_recording(final_id, move |conn| db::complete_final(conn, &upload, total), true, None);
    match &committed {
        Ok(_) | Err(StorageError::AlreadyExists) => {}
        Err(StorageError::Gone | StorageError::NotFound) => discard(&inner.data_path(final_id), final_id),
        Err(_) => files::truncate_back(&file, 0, final_id),
    }
    committed
}

/// Copies each source into `dst` from its start. `io::copy` between two `File`s (also
/// through `Take`) uses `copy_file_range` on Linux: the kernel moves the bytes, or shares
/// their extents on filesystems with reflinks, and no user-space buffer is involved.
fn copy_parts(mut dst: &File, sources: Vec<Source>) -> io::Result<()> {
    // Leftovers of an earlier attempt that never committed.
    dst.set_len(0)?;
    dst.rewind()?;
    for Source { id, file, len } in sources {
        let Some(file) = file else { continue };
        let copied = io::copy(&mut file.take(len), &mut dst)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the data file of partial upload {id} holds {copied} bytes, fewer than the {len} recorded"),
            ));
        }
    }
    Ok(())
}
