//! # tus-sqlite
//!
//! A [`Storage`] backend for [tus-core](tus_core) that keeps upload records in SQLite and
//! the bytes of each upload in a file of its own, except for small uploads that arrive
//! whole, whose bytes live in the database (see [Small uploads](#small-uploads)):
//!
//! ```text
//! <dir>/uploads.db     records: offset, length, metadata, concatenation, expiry, state;
//!                      the bytes of small uploads
//! <dir>/data/<id>      the bytes of upload <id>
//! ```
//!
//! It supports every optional feature (concatenation, unfinished concatenation, downloads).
//! Request bodies are streamed to disk with bounded memory, finals are assembled with
//! in-kernel copies, and `info` (HEAD) is answered from a cache of committed records or by
//! reader threads with connections of their own that never wait for a writer.
//!
//! ```
//! use tus_core::{AppendOptions, ChunkStream, NewUpload, Storage, UploadId};
//! use tus_sqlite::{Durability, SqliteStorage};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("tus-sqlite-doc-{}", std::process::id()));
//! let storage = SqliteStorage::builder(&dir).durability(Durability::Sync).open()?;
//!
//! let id = UploadId::new("greeting")?;
//! storage.create(NewUpload::new(id.clone()).with_length(Some(11))).await?;
//! let mut body = ChunkStream::from_bytes("hello world");
//! let info = storage.append(&id, 0, &mut body, AppendOptions::new()).await?;
//! assert!(info.is_complete());
//! assert_eq!(std::fs::read(dir.join("data").join("greeting"))?, b"hello world");
//!
//! drop(storage);
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Durability
//!
//! An append writes the body to the upload's file, then commits the new offset in SQLite
//! with a compare-and-set. [`Durability`] decides what happens in between:
//!
//! - [`Durability::Sync`] (the default): the file's data is flushed to the disk
//!   (`fdatasync`) *before* the offset is committed, and SQLite commits with
//!   `synchronous = FULL`. After a crash or a power loss the recorded offset never covers
//!   bytes that are not on disk, and an acknowledged offset is never lost. Bytes written
//!   past the recorded offset (a write that was cut off) are truncated by the next
//!   [`open`](SqliteStorageBuilder::open) or the next append. While a body arrives, the
//!   disk is asked every MiB to start writing what arrived (on Linux), so that the sync
//!   before the commit only waits for the tail.
//! - [`Durability::Buffered`]: no `fsync` at all, and SQLite commits with
//!   `synchronous = NORMAL`. It is faster, and a process crash loses nothing (the kernel
//!   still holds the data), but a power loss or kernel crash may lose the tail of recent
//!   writes: the recorded offset may then exceed the bytes on disk, or cover bytes the disk
//!   never received. Recovery cannot repair that. It logs the uploads whose files are too
//!   short, but it cannot tell lost bytes inside a file from good ones; clients resuming such
//!   an upload produce a corrupt file. Use it only where losing uploads on power loss is
//!   acceptable, or where checksums are verified end to end.
//!
//! SQLite syncs its WAL with `fsync` unless it is compiled with `HAVE_FDATASYNC`; builds in
//! this project's workspace (the `tus` binary among them) set it through
//! `.cargo/config.toml`, and a project depending on this crate gets the same by building
//! with `LIBSQLITE3_FLAGS=-DHAVE_FDATASYNC=1`. On Linux that is exactly as durable and skips
//! an inode write per commit, which in sync mode shortens every commit.
//!
//! Many commits at once share one sync: the writer connection runs on a thread of its own
//! that commits every change waiting for it in one transaction ("group commit"), and
//! answers each caller only after that commit. In sync mode that thread also makes the
//! directory entries of new data files durable, with one sync of the data directory before
//! a commit that records any. A creation-with-upload whose whole body is small (64 KiB at
//! most, read before anything is written) is answered by that thread directly. When the
//! body is the whole upload, in sync mode, its bytes go into the database in the same
//! commit (next section). Otherwise, in buffered mode the thread also writes the new file, and in sync
//! mode a blocking-pool thread writes and `fdatasync`s the file and queues its record
//! without waiting for the commit (fewer thread wake-ups per upload: see `small.rs`).
//!
//! # Small uploads
//!
//! In sync mode, an upload whose creation-with-upload request carries all of it, at most
//! [`inline_limit`](SqliteStorageBuilder::inline_limit) bytes (64 KiB by default), is
//! kept in the database: its record and its bytes are inserted together, and no data file
//! is made. Many such uploads then cost one commit (one WAL write and one `fdatasync`)
//! instead of a file creation, a data sync and a directory sync each. That is how most
//! small files (documents, images, thumbnails) arrive from tus clients, which send the data
//! with the creation when they can. In buffered mode, where no sync is saved, small files
//! cost less than the database, which writes the bytes twice (into its WAL, then into the
//! database file), so the default limit there is 0.
//!
//! Such an upload is complete, so no append can change it; downloads read it from the
//! database, and its removal deletes its bytes with its record. Partial uploads of a
//! concatenation, uploads whose creation carries only a part, and uploads of deferred
//! length always get a file. The durability is that of the commit: in sync mode SQLite
//! syncs its WAL before the upload is acknowledged.
//!
//! # Concurrency
//!
//! Several [`SqliteStorage`] values, in one process or in several, may share a directory.
//! SQLite runs in WAL mode, so readers never block, and every writer of an upload holds an
//! exclusive `flock` on its data file while it writes and commits: a second append at the
//! same offset waits for the first, then fails with
//! [`StorageError::OffsetMismatch`]. The compare-and-set on the offset guarantees that at
//! most one append applies per offset.
//!
//! `info` (HEAD) answers from a cache of committed records when it can. On a shared
//! directory every storage writes a fresh random stamp into `uploads.lock` after each of its
//! commits and before anyone hears of it; a cached record is served only while the stamp is
//! the one read before the record was, so HEAD sees every change acknowledged before it was
//! asked, whichever process made it, at the cost of an 8-byte `pread` instead of a database
//! read. A process that dies between a commit and its stamp leaves that commit unannounced:
//! shared entries are therefore trusted for one second at most, and until then HEAD may show
//! the upload's offset from before that commit (smaller, never larger; a PATCH at it gets
//! 409).
//!
//! A storage opened with [`exclusive`](SqliteStorageBuilder::exclusive) is instead alone on
//! its directory (an `flock` on `uploads.lock` keeps every other storage out, and it out
//! while another is open): as every change then goes through it, its cache needs no stamp
//! and no expiry.
//!
//! # Recovery
//!
//! [`SqliteStorageBuilder::open`] repairs what a crash may leave behind: a data file longer
//! than its committed offset is truncated, a file without a live record (an orphan of a
//! removed upload) or of an upload the database holds is deleted, and a live upload
//! without bytes gets its missing file back. A
//! live upload whose file is missing or shorter than its offset has lost bytes outside this
//! crate's control; that is logged as an error. Files a writer holds locked are left alone.
//!
//! It also brings the database's schema up to date: the version is kept in SQLite's
//! `user_version`, an older database is upgraded in place, in one transaction (version 1,
//! the first schema, before the `uploads` table became `WITHOUT ROWID`, has its records
//! copied into the new table; version 2 gets the table of small uploads' bytes), and a
//! database from a newer tus-sqlite is refused rather than misread: an older tus-sqlite
//! cannot open a directory a newer one has upgraded.

mod cache;
mod db;
mod files;
mod read;
mod reader;
mod recovery;
mod small;
mod write;
mod writer;

use async_trait::async_trait;
use bytes::Bytes;
use std::fmt;
use std::fs::File;
use std::io::{Seek as _, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;
use tus_core::{
    AppendOptions, ByteStream, ChunkStream, CreatedWithUpload, NewUpload, Removal, Storage, StorageError,
    StorageFeatures, UploadId, UploadInfo,
};
use write::Piece;

/// How many chunks of a body may wait between the request and the blocking writer.
const CHANNEL_CHUNKS: usize = 4;

/// Reader connections kept open by default.
const DEFAULT_IDLE_READERS: usize = 8;

/// A creation-with-upload body announced at this size or less is read whole before the
/// blocking writer starts, so that the writer never waits for it chunk by chunk.
const PREFETCH_BYTES: u64 = 64 * 1024;

/// The largest [`SqliteStorageBuilder::inline_limit`]: uploads kept in the database are
/// read whole before anything is written, so their size is bounded by what is read ahead.
pub const MAX_INLINE_LIMIT: u64 = PREFETCH_BYTES;

/// Threads (each with a connection) that answer the reads of async callers such as HEAD.
const READ_THREADS: usize = 2;

/// When appended bytes count as stored; see the [crate docs](crate#durability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fdatasync` the data before committing the offset: the offset never covers bytes
    /// that a power loss could take away. The default.
    #[default]
    Sync,
    /// No `fsync`: faster, but a power loss may lose the tail of recent writes while the
    /// recorded offset still covers it.
    Buffered,
}

/// Uploads in SQLite, bytes in files; see the [crate docs](crate).
///
/// Cloning is cheap and shares the connections.
#[derive(Clone)]
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

/// What the clones of one storage share.
struct Inner {
    dir: PathBuf,
    data_dir: PathBuf,
    durability: Durability,
    /// Complete uploads created whole with at most this many bytes keep them in the database.
    inline_limit: u64,
    /// The one connection that writes, on a thread that group-commits (SQLite allows one
    /// writer at a time anyway; one connection avoids busy waits within this process).
    /// Only [`Inner::change`] and [`small::create`] use it, and both drop the cached record
    /// of what they changed, so that no change can skip the cache.
    writer: writer::GroupWriter,
    /// Committed records for `info`.
    cache: cache::RecordCache,
    /// The `flock` on `uploads.lock` (exclusive or shared), held while the storage is open.
    _owner: File,
    /// Reader connections for blocking work (appends, concatenation, downloads).
    readers: db::ReaderPool,
    /// Reader threads for async callers: `info`, `finals_waiting_for`, `expired`, `health`.
    read_threads: reader::ReadThreads,
}

impl Inner {
    fn data_path(&self, id: &UploadId) -> PathBuf {
        self.data_dir.join(id.as_str())
    }

    /// Runs `work` on the writer connection (see [`writer::GroupWriter::run`]), a change to
    /// the record of `id`; once it is committed, the cached record of `id` is dropped.
    fn change<T, F>(&self, id: &UploadId, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T, StorageError> + Send + 'static,
    {
        self.change_recording(id, work, false, None)
    }

    /// [`Inner::change`]; with `new_file`, a change that records bytes in a data file
    /// created before the call: in sync durability its commit also waits until the file's
    /// directory entry is durable (the writer syncs the data directory once for all such
    /// changes of a commit). With `coming`, the change was announced to the writer.
    fn change_recording<T, F>(
        &self,
        id: &UploadId,
        work: F,
        new_file: bool,
        coming: Option<writer::Coming<'_>>,
    ) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let result = match coming {
            Some(coming) => coming.run(work, new_file),
            None => self.writer.run(work, new_file),
        };
        self.cache.invalidate(id);
        result
    }
}

/// Takes the `flock` on `<dir>/uploads.lock` that tells storages on one directory apart:
/// an exclusive storage holds it exclusively, all others share it. Never waits.
fn lock_owner(dir: &Path, exclusive: bool) -> Result<File, StorageError> {
    let path = dir.join("uploads.lock");
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
    let locked = if exclusive { file.try_lock() } else { file.try_lock_shared() };
    match locked {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) if exclusive => Err(StorageError::other(format!(
            "{} is in use by another storage (another process, or another SqliteStorage in this one); \
             an exclusive storage must be the only one on its directory",
            dir.display()
        ))),
        Err(std::fs::TryLockError::WouldBlock) => Err(StorageError::other(format!(
            "{} is held exclusively by another storage (opened with SqliteStorageBuilder::exclusive)",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StorageError::Io(e)),
    }
}

impl fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("dir", &self.inner.dir)
            .field("durability", &self.inner.durability)
            .finish_non_exhaustive()
    }
}

/// Options for opening a [`SqliteStorage`]; made by [`SqliteStorage::builder`].
#[derive(Debug, Clone)]
pub struct SqliteStorageBuilder {
    dir: PathBuf,
    durability: Durability,
    idle_readers: usize,
    exclusive: bool,
    inline_limit: Option<u64>,
}

impl SqliteStorageBuilder {
    /// Sets when appended bytes count as stored (default [`Durability::Sync`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How many reader connections the blocking work (appends, concatenation, downloads)
    /// keeps open (default 8, at least 1). A read that finds them all busy waits up to
    /// 20 ms for one, then opens an extra connection that is closed afterwards.
    pub fn idle_readers(mut self, idle_readers: usize) -> Self {
        self.idle_readers = idle_readers;
        self
    }

    /// Holds the directory exclusively (default `false`): opening fails while any other
    /// storage (in this process or another) has the directory open, and every other
    /// storage fails to open it while this one is open.
    ///
    /// In exchange, the cache of committed records that answers `info` (HEAD) needs no
    /// check against other writers: no `pread` of the commit stamp per HEAD, no one-second
    /// expiry, and a commit drops only the record it changed instead of every cached one (see
    /// [Concurrency](crate#concurrency)).
    /// Use it when one process serves the directory (for instance with in-memory upload
    /// locks); several instances sharing a directory need the default.
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    /// Uploads of at most this many bytes that arrive whole with their creation are kept in
    /// the database instead of a data file of their own (at most [`MAX_INLINE_LIMIT`],
    /// 64 KiB; 0 puts every upload in a file). The default is 64 KiB with
    /// [`Durability::Sync`] and 0 with [`Durability::Buffered`], where small files cost
    /// less than the database's two writes. See [Small uploads](crate#small-uploads).
    pub fn inline_limit(mut self, bytes: u64) -> Self {
        self.inline_limit = Some(bytes);
        self
    }

    /// Opens (creating if needed) the storage and runs [recovery](crate#recovery).
    ///
    /// This blocks while it opens the database and scans the data directory: call it at
    /// startup, or from [`tokio::task::spawn_blocking`] inside a running server.
    pub fn open(self) -> Result<SqliteStorage, StorageError> {
        let data_dir = self.dir.join("data");
        std::fs::create_dir_all(&data_dir)?;
        let owner = lock_owner(&self.dir, self.exclusive)?;
        let db_path = self.dir.join("uploads.db");
        let writer = db::open_writer(&db_path, self.durability)?;
        // Shared: the commit stamp in uploads.lock; a new one now, since a process that died
        // between a commit and its stamp may have left a commit unannounced.
        let (cache, writer_stamp) = if self.exclusive {
            (cache::RecordCache::exclusive(), None)
        } else {
            let stamp = cache::CommitStamp::new(owner.try_clone()?);
            stamp.renew()?;
            let writer_stamp = stamp.try_clone()?;
            (cache::RecordCache::shared(stamp), Some(writer_stamp))
        };
        // Sync durability: the directory entries of the database and of new data files
        // must survive a power loss too.
        let data_dir_to_sync = if self.durability == Durability::Sync {
            files::sync_dir(&self.dir)?;
            Some(File::open(&data_dir)?)
        } else {
            None
        };
        let read_threads = reader::ReadThreads::spawn(&db_path, self.durability, READ_THREADS)?;
        let inner = Inner {
            readers: db::ReaderPool::new(db_path, self.durability, self.idle_readers),
            read_threads,
            dir: self.dir,
            data_dir: data_dir.clone(),
            durability: self.durability,
            inline_limit: self
                .inline_limit
                .unwrap_or(match self.durability {
                    Durability::Sync => MAX_INLINE_LIMIT,
                    Durability::Buffered => 0,
                })
                .min(MAX_INLINE_LIMIT),
            writer: writer::GroupWriter::spawn(writer, writer_stamp, data_dir_to_sync)?,
            cache,
            _owner: owner,
        };
        recovery::run(&inner)?;
        Ok(SqliteStorage { inner: Arc::new(inner) })
    }
}

impl SqliteStorage {
    /// Opens the storage in `dir` with the default options; see [`SqliteStorageBuilder::open`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        Self::builder(dir).open()
    }

    /// Options for opening the storage in `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> SqliteStorageBuilder {
        SqliteStorageBuilder {
            dir: dir.into(),
            durability: Durability::default(),
            idle_readers: DEFAULT_IDLE_READERS,
            exclusive: false,
            inline_limit: None,
        }
    }

    /// The directory holding `uploads.db` and `data/`.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// When appended bytes count as stored.
    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// Runs blocking work (SQLite, files) on tokio's blocking pool.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StorageError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner)).await.map_err(joined)?
    }
}

/// What a read streams.
enum Opened {
    /// `len` bytes of a data file from its position.
    File(File, u64),
    /// Bytes kept in the database.
    Bytes(Bytes),
    /// Nothing: the range is empty.
    Empty,
}

/// A blocking task that did not finish: it panicked, or the runtime is shutting down.
fn joined(err: tokio::task::JoinError) -> StorageError {
    StorageError::other(format!("storage task failed: {err}"))
}

/// Hands the chunks of `data` to the blocking writer, ending with a [`Piece::End`], and
/// stops early when the writer hangs up.
async fn feed(data: &mut ChunkStream, tx: mpsc::Sender<Piece>) {
    loop {
        // Also watch the writer, so that its early answer (a stale offset, say) does not
        // wait for a slow client's next chunk.
        let next = tokio::select! {
            biased;
            () = tx.closed() => return,
            next = data.next_chunk() => next,
        };
        let Some(piece) = Piece::from_next(next) else { continue };
        let end = matches!(piece, Piece::End { .. });
        // A closed channel means the writer stopped (stale offset, I/O error); its result
        // says why, and the rest of the body is not needed.
        if tx.send(piece).await.is_err() || end {
            return;
        }
    }
}

/// Reads `data` until it ends or [`PREFETCH_BYTES`] have arrived; returns the pieces for the
/// writer and whether they include the end.
async fn prefetch(data: &mut ChunkStream) -> (Vec<Piece>, bool) {
    let mut pieces = Vec::new();
    let mut bytes = 0u64;
    while bytes <= PREFETCH_BYTES {
        match Piece::from_next(data.next_chunk().await) {
            None => {}
            Some(Piece::Chunk(chunk)) => {
                bytes += chunk.len() as u64;
                pieces.push(Piece::Chunk(chunk));
            }
            Some(end) => {
                pieces.push(end);
                return (pieces, true);
            }
        }
    }
    (pieces, false)
}

#[async_trait]
impl Storage for SqliteStorage {
    fn features(&self) -> StorageFeatures {
        StorageFeatures::ALL
    }

    async fn create(&self, upload: NewUpload) -> Result<UploadInfo, StorageError> {
        self.blocking(move |inner| write::create(inner, upload)).await
    }

    async fn info(&self, id: &UploadId) -> Result<UploadInfo, StorageError> {
        let cache = &self.inner.cache;
        if let Some(info) = cache.get(id) {
            return Ok(info);
        }
        let seen = cache.seen();
        let reading = id.clone();
        let info = self.inner.read_threads.run(move |conn| db::load_active(conn, &reading)).await?;
        cache.fill(&info, seen);
        Ok(info)
    }

    /// Streams `data` to the upload's file through a bounded channel and a blocking writer,
    /// then commits. When this future is dropped before the body ends, nothing is committed.
    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<UploadInfo, StorageError> {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let inner = Arc::clone(&self.inner);
        let writer_id = id.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let mut rx = rx;
            write::append(&inner, &writer_id, offset, &mut rx, options)
        });
        feed(data, tx).await;
        writer.await.map_err(joined)?
    }

    /// Writes the body to a new data file and inserts the record with its offset in one
    /// commit (see `write::create_with_upload`).
    async fn create_with_upload(
        &self,
        upload: NewUpload,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<CreatedWithUpload, StorageError> {
        let small = data.content_length().is_some_and(|len| len <= PREFETCH_BYTES);
        let (mut first, ended) = if small { prefetch(data).await } else { (Vec::new(), false) };
        let mut upload = upload;
        if ended {
            match small::create(&self.inner, upload, first, options).await {
                small::Created::Done(result) => return result,
                small::Created::FileExists(back, pieces) => (upload, first) = (back, pieces),
            }
        }
        let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS.max(first.len()));
        for piece in first {
            // Room for every prefetched piece was made above.
            if tx.try_send(piece).is_err() {
                return Err(StorageError::other("the body channel refused a prefetched chunk"));
            }
        }
        let inner = Arc::clone(&self.inner);
        let writer = tokio::task::spawn_blocking(move || write::create_with_upload(&inner, upload, &mut rx, options));
        if !ended {
            feed(data, tx).await;
        }
        writer.await.map_err(joined)?
    }

    async fn set_length(&self, id: &UploadId, length: u64) -> Result<UploadInfo, StorageError> {
        let id = id.clone();
        self.blocking(move |inner| {
            let changed = id.clone();
            inner.change(&id, move |conn| db::set_length(conn, &changed, length))
        })
        .await
    }

    async fn concatenate(&self, final_id: &UploadId, partials: &[UploadInfo]) -> Result<UploadInfo, StorageError> {
        let final_id = final_id.clone();
        let partials: Vec<UploadId> = partials.iter().map(|p| p.id.clone()).collect();
        self.blocking(move |inner| write::concatenate(inner, &final_id, &partials)).await
    }

    async fn finals_waiting_for(&self, partial: &UploadId) -> Result<Vec<UploadId>, StorageError> {
        let partial = partial.clone();
        self.inner.read_threads.run(move |conn| db::finals_waiting_for(conn, &partial)).await
    }

    async fn read(&self, id: &UploadId, range: Range<u64>) -> Result<ByteStream, StorageError> {
        let id = id.clone();
        let opened = self
            .blocking(move |inner| {
                let reader = inner.readers.get()?;
                let (info, bytes_id) = db::load_active_with_bytes_id(&reader, &id)?;
                // Bytes past the committed offset are not the upload's (yet).
                let end = range.end.min(info.offset);
                let start = range.start.min(end);
                if start == end {
                    return Ok(Opened::Empty);
                }
                // The database first: it decides, even over a leftover file of the same ID.
                if let Some(bytes_id) = bytes_id {
                    let bytes = db::held_bytes(&reader, bytes_id)?;
                    let held = bytes.len();
                    let within =
                        usize::try_from(start).ok().zip(usize::try_from(end).ok()).filter(|&(_, end)| end <= held);
                    return match within {
                        Some((start, end)) => Ok(Opened::Bytes(Bytes::from(bytes).slice(start..end))),
                        None => Err(StorageError::other(format!(
                            "upload {id} holds {held} bytes in the database, fewer than the {end} recorded"
                        ))),
                    };
                }
                drop(reader);
                let mut file = File::open(inner.data_path(&id))?;
                file.seek(SeekFrom::Start(start))?;
                Ok(Opened::File(file, end - start))
            })
            .await?;
        Ok(match opened {
            Opened::File(file, len) => Box::pin(read::FileStream::new(file, len)),
            Opened::Bytes(bytes) => Box::pin(read::OneChunk(Some(bytes))),
            Opened::Empty => Box::pin(read::OneChunk(None)),
        })
    }

    async fn remove(&self, id: &UploadId, why: Removal) -> Result<(), StorageError> {
        let id = id.clone();
        self.blocking(move |inner| {
            let removed = id.clone();
            inner.change(&id, move |conn| db::tombstone(conn, &removed, why))?;
            // The tombstone is committed; a file that cannot go now is an orphan that the
            // next open deletes.
            if let Err(error) = files::remove(&inner.data_path(&id)) {
                tracing::warn!(%id, %error, "cannot delete the data file of a removed upload");
            }
            Ok(())
        })
        .await
    }

    async fn expired(&self, now: SystemTime, limit: usize) -> Result<Vec<UploadInfo>, StorageError> {
        self.inner.read_threads.run(move |conn| db::expired(conn, now, limit)).await
    }

    /// A trivial query on a reader connection, and a look at the data directory.
    async fn health(&self) -> Result<(), StorageError> {
        let data_dir = self.inner.data_dir.clone();
        self.inner
            .read_threads
            .run(move |conn| {
                db::ping(conn)?;
                if !std::fs::metadata(&data_dir)?.is_dir() {
                    return Err(StorageError::other(format!("{} is not a directory", data_dir.display())));
                }
                Ok(())
            })
            .await
    }
}
