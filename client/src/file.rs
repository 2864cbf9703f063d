//! Reading a file source: one open file per upload, positioned reads on tokio's blocking
//! pool, a whole piece per trip.
//!
//! A `tokio::fs::File` costs a blocking-pool trip for each open, `metadata`, seek and read,
//! and copies every byte twice (into its own buffer, then into the caller's). A chunk of
//! the default 4 MiB took seven such trips before its last byte left, and the next chunk
//! could not start reading before the answer to this one came back. Here the file is
//! opened once, each piece is read with `pread` straight into the buffer that becomes the
//! body (one trip, one copy), the next piece is read while the connection sends the
//! current one, and the uploader can read the start of its next chunk while it waits for
//! the server's answer ([`FileData::read_ahead`]).

use crate::checksum::Hasher;
use crate::error::{Error, Result};
use bytes::{Bytes, BytesMut};
use std::fs::File;
use std::future::Future as _;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::task::JoinHandle;

/// How much of a file is read at a time when streaming a chunk or hashing it, and the
/// largest piece a body is handed to the connection in (so progress moves at least once
/// per MiB). Each piece is one trip to a blocking thread: 1 MiB keeps those trips rare
/// (1024 per GiB) while the memory held stays small and bounded (two pieces per body in
/// flight, plus one read ahead).
pub(crate) const READ_BUFFER: usize = 1 << 20;

/// A file opened for an upload; parallel parts share it (positioned reads do not move a
/// shared cursor).
#[derive(Debug)]
pub(crate) struct SourceFile {
    path: PathBuf,
    file: File,
}

impl SourceFile {
    /// Opens the file at `path` and returns it with its size.
    pub(crate) async fn open(path: PathBuf) -> Result<(Arc<Self>, u64)> {
        let opened = tokio::task::spawn_blocking(move || {
            let opened = File::open(&path).and_then(|file| Ok((file.metadata()?.len(), file)));
            (path, opened)
        })
        .await
        .map_err(|e| Error::io("cannot read the source file", io::Error::other(e)))?;
        match opened {
            (path, Ok((len, file))) => Ok((Arc::new(Self { path, file }), len)),
            (path, Err(e)) => Err(read_error(&path, e)),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Fails with [`Error::SourceMismatch`] when the file no longer holds `end` bytes.
    fn check_holds(&self, end: u64) -> Result<()> {
        let size = self.file.metadata().map_err(|e| read_error(&self.path, e))?.len();
        if size < end { Err(shrunk(&self.path)) } else { Ok(()) }
    }

    /// Fills `buf` from `position`; blocks. A file that ends first is a
    /// [`io::ErrorKind::UnexpectedEof`] error.
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt as _;
            self.file.read_exact_at(buf, position)
        }
        #[cfg(windows)]
        {
            use std::os::windows::fs::FileExt as _;
            let mut filled = 0;
            while filled < buf.len() {
                match self.file.seek_read(&mut buf[filled..], position + filled as u64) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
    }

    /// `len` bytes from `position` in a new buffer; blocks.
    fn read_piece(&self, position: u64, len: usize) -> io::Result<Bytes> {
        let mut buf = BytesMut::zeroed(len);
        self.read_exact_at(&mut buf, position).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(e.kind(), format!("{} is shorter than when the upload started", self.path.display()))
            } else {
                e
            }
        })?;
        Ok(buf.freeze())
    }

    /// Starts reading `len` bytes from `position` on the blocking pool.
    fn spawn_read(self: &Arc<Self>, position: u64, len: usize) -> JoinHandle<io::Result<Bytes>> {
        let file = Arc::clone(self);
        tokio::task::spawn_blocking(move || file.read_piece(position, len))
    }
}

/// The first piece of a chunk, being read before the chunk's request is made.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    position: u64,
    pub(crate) len: usize,
    read: JoinHandle<io::Result<Bytes>>,
}

/// `len` bytes of a file from `start`: a whole file, or one range of a parallel upload.
#[derive(Debug)]
pub(crate) struct FileData {
    pub(crate) file: Arc<SourceFile>,
    pub(crate) start: u64,
    pub(crate) len: u64,
    /// At most one piece read ahead, for the chunk expected next.
    pub(crate) ahead: Option<ReadAhead>,
}

impl FileData {
    /// Starts reading the first piece of the chunk of at most `max` bytes at `offset`
    /// (relative to the start), unless that is the end. A chunk made at that offset takes
    /// it; any other drops it.
    pub(crate) fn read_ahead(&mut self, offset: u64, max: u64) {
        if offset >= self.len || max == 0 {
            self.ahead = None;
            return;
        }
        let position = self.start + offset;
        // No more than the chunk will send: small chunks must not read a whole piece.
        let len = piece_len((self.len - offset).min(max));
        self.ahead = Some(ReadAhead { position, len, read: self.file.spawn_read(position, len) });
    }

    /// The chunk of at most `max` bytes at `offset`, with the piece read ahead for it.
    pub(crate) fn chunk(&mut self, offset: u64, max: u64) -> FileChunk {
        let position = self.start + offset;
        let len = self.len.saturating_sub(offset).min(max);
        let ahead = self.ahead.take().filter(|ahead| ahead.position == position && len > 0);
        FileChunk { file: Arc::clone(&self.file), position, len, ahead }
    }
}

/// One request body's bytes of a file, read when the body is sent.
#[derive(Debug)]
pub(crate) struct FileChunk {
    file: Arc<SourceFile>,
    pub(crate) position: u64,
    pub(crate) len: u64,
    ahead: Option<ReadAhead>,
}

impl FileChunk {
    /// The chunk's bytes, hashed on a blocking thread (read once more, piece by piece).
    pub(crate) async fn hash(&self, mut hasher: Hasher) -> Result<Hasher> {
        let (file, position, len) = (Arc::clone(&self.file), self.position, self.len);
        tokio::task::spawn_blocking(move || {
            file.check_holds(position + len)?;
            let mut buf = vec![0u8; piece_len(len)];
            let mut done = 0;
            while done < len {
                let n = piece_len(len - done);
                file.read_exact_at(&mut buf[..n], position + done).map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof => shrunk(file.path()),
                    _ => read_error(file.path(), e),
                })?;
                hasher.update(&buf[..n]);
                done += n as u64;
            }
            Ok(hasher)
        })
        .await
        .map_err(|e| Error::io("cannot read the source file", io::Error::other(e)))?
    }

    /// The chunk as a stream of pieces of at most [`READ_BUFFER`] bytes. The first piece
    /// is read (or its read ahead awaited) now, after checking that the file still holds
    /// the chunk, so that a shrunk file fails before the request is made.
    pub(crate) async fn stream(&mut self) -> Result<FileStream> {
        let first_len = piece_len(self.len);
        let mut body = FileStream {
            file: Arc::clone(&self.file),
            next: self.position,
            end: self.position + self.len,
            pending: None,
        };
        if self.len == 0 {
            return Ok(body);
        }
        let first = match self.ahead.take() {
            Some(ahead) => {
                let piece = ahead.read.await.ok().and_then(Result::ok);
                // An `fstat` of an open file does not wait for the disk: no trip needed.
                self.file.check_holds(self.position + self.len)?;
                piece.map(|piece| piece.slice(..first_len.min(ahead.len)))
            }
            None => None,
        };
        let first = match first {
            Some(piece) => piece,
            None => {
                let (file, position, len) = (Arc::clone(&self.file), self.position, self.len);
                tokio::task::spawn_blocking(move || {
                    file.check_holds(position + len)?;
                    file.read_piece(position, first_len).map_err(|e| read_error(file.path(), e))
                })
                .await
                .map_err(|e| Error::io("cannot read the source file", io::Error::other(e)))??
            }
        };
        body.next += first.len() as u64;
        body.pending = Some(Pending::Ready(first));
        Ok(body)
    }
}

enum Pending {
    Ready(Bytes),
    Reading(JoinHandle<io::Result<Bytes>>),
}

/// A chunk's body: yields each piece while the next one is being read.
pub(crate) struct FileStream {
    file: Arc<SourceFile>,
    /// Where the next read starts.
    next: u64,
    end: u64,
    pending: Option<Pending>,
}

impl FileStream {
    /// Starts reading the piece after the one in `pending`, if any is left.
    fn start_next(&mut self) -> Option<Pending> {
        if self.next >= self.end {
            return None;
        }
        let len = piece_len(self.end - self.next);
        let read = self.file.spawn_read(self.next, len);
        self.next += len as u64;
        Some(Pending::Reading(read))
    }
}

impl futures_util::Stream for FileStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let piece = match this.pending.as_mut() {
            None => return Poll::Ready(None),
            Some(Pending::Ready(piece)) => std::mem::take(piece),
            Some(Pending::Reading(read)) => match ready!(Pin::new(read).poll(cx)) {
                Ok(Ok(piece)) => piece,
                Ok(Err(e)) => {
                    this.pending = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Err(e) => {
                    this.pending = None;
                    return Poll::Ready(Some(Err(io::Error::other(e))));
                }
            },
        };
        this.pending = this.start_next();
        Poll::Ready(Some(Ok(piece)))
    }
}

/// The size of the next piece when `left` bytes remain.
fn piece_len(left: u64) -> usize {
    usize::try_from(left).map_or(READ_BUFFER, |left| left.min(READ_BUFFER))
}

pub(crate) fn read_error(path: &Path, e: io::Error) -> Error {
    Error::io(format!("cannot read {}", path.display()), e)
}

pub(crate) fn shrunk(path: &Path) -> Error {
    Error::SourceMismatch(format!("{} is shorter than when the upload started", path.display()))
}
