//! What an upload reads from: a file, bytes in memory, or any `AsyncRead`.

use crate::checksum::ChecksumAlgorithm;
use crate::error::{Error, Result};
use crate::file::{FileChunk, FileData, READ_BUFFER, SourceFile};
use bytes::{Bytes, BytesMut};
use std::fmt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Told the bytes of the current body handed to the connection so far.
pub(crate) type SentFn = Box<dyn FnMut(u64) + Send>;

/// The data of an upload.
///
/// A file is read chunk by chunk, each chunk streamed to the server, and can be split for
/// parallel uploads and fingerprinted for cross-session resume. A reader of unknown length
/// makes a deferred-length upload; a stream cannot be rewound, so the client keeps the
/// current chunk in memory to be able to send it again.
///
/// ```
/// use tus_rs_client::Source;
///
/// let from_file = Source::file("video.mp4");
/// let from_memory = Source::from(b"hello".to_vec());
/// let from_stream = Source::reader(std::io::Cursor::new(vec![1, 2, 3]));
/// let sized = Source::reader_with_length(tokio::io::empty(), 0);
/// # let _ = (from_file, from_memory, from_stream, sized);
/// ```
pub struct Source {
    pub(crate) kind: SourceKind,
}

pub(crate) enum SourceKind {
    File(PathBuf),
    Bytes(Bytes),
    Reader { reader: BoxedReader, length: Option<u64> },
}

/// A reader behind a mutex that is never locked (only `get_mut` is used): it makes the
/// source `Sync`, so that futures holding `&Uploader` are `Send`.
pub(crate) struct BoxedReader(std::sync::Mutex<Box<dyn AsyncRead + Send + Unpin>>);

impl BoxedReader {
    fn new(reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self(std::sync::Mutex::new(Box::new(reader)))
    }

    fn get(&mut self) -> &mut (dyn AsyncRead + Send + Unpin) {
        self.0.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).as_mut()
    }
}

impl Source {
    /// The file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self { kind: SourceKind::File(path.into()) }
    }

    /// Bytes in memory.
    pub fn bytes(data: impl Into<Bytes>) -> Self {
        Self { kind: SourceKind::Bytes(data.into()) }
    }

    /// A stream of unknown length: the upload's length is deferred until the stream ends
    /// (the server needs the `creation-defer-length` extension).
    pub fn reader(reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self { kind: SourceKind::Reader { reader: BoxedReader::new(reader), length: None } }
    }

    /// A stream that will give exactly `length` bytes.
    pub fn reader_with_length(reader: impl AsyncRead + Send + Unpin + 'static, length: u64) -> Self {
        Self { kind: SourceKind::Reader { reader: BoxedReader::new(reader), length: Some(length) } }
    }

    /// The file's path, for a file source.
    pub fn path(&self) -> Option<&Path> {
        match &self.kind {
            SourceKind::File(path) => Some(path),
            _ => None,
        }
    }

    /// Whether the source is a stream (it cannot be split or fingerprinted).
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, SourceKind::Reader { .. })
    }

    /// Opens the source: a file is opened now (once for the whole upload) and its size read.
    pub(crate) async fn open(self) -> Result<Data> {
        Ok(match self.kind {
            SourceKind::File(path) => {
                let (file, len) = SourceFile::open(path).await?;
                Data::File(FileData { file, start: 0, len, ahead: None })
            }
            SourceKind::Bytes(bytes) => Data::Bytes(bytes),
            SourceKind::Reader { reader, length } => Data::Stream(Box::new(StreamData {
                reader,
                declared: length,
                buf: BytesMut::new(),
                buf_start: 0,
                eof: false,
            })),
        })
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SourceKind::File(path) => f.debug_tuple("Source::File").field(path).finish(),
            SourceKind::Bytes(bytes) => f.debug_tuple("Source::Bytes").field(&bytes.len()).finish(),
            SourceKind::Reader { length, .. } => f.debug_struct("Source::Reader").field("length", length).finish(),
        }
    }
}

impl From<PathBuf> for Source {
    fn from(path: PathBuf) -> Self {
        Self::file(path)
    }
}

impl From<&Path> for Source {
    fn from(path: &Path) -> Self {
        Self::file(path)
    }
}

impl From<Bytes> for Source {
    fn from(bytes: Bytes) -> Self {
        Self::bytes(bytes)
    }
}

impl From<Vec<u8>> for Source {
    fn from(bytes: Vec<u8>) -> Self {
        Self::bytes(bytes)
    }
}

/// An opened source, addressed by offsets relative to its start.
pub(crate) enum Data {
    /// `len` bytes of a file from `start` (a whole file, or one range of a parallel upload).
    File(FileData),
    Bytes(Bytes),
    Stream(Box<StreamData>),
}

pub(crate) struct StreamData {
    reader: BoxedReader,
    declared: Option<u64>,
    /// Bytes read and not yet confirmed by the server, from `buf_start`.
    buf: BytesMut,
    buf_start: u64,
    eof: bool,
}

/// The bytes of one request body.
pub(crate) enum Chunk {
    /// Streamed from the file when sent.
    File(FileChunk),
    Bytes(Bytes),
}

impl Chunk {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Self::File(chunk) => chunk.len,
            Self::Bytes(bytes) => bytes.len() as u64,
        }
    }

    /// The `Upload-Checksum` value of the chunk (a file chunk is read once more to hash it).
    pub(crate) async fn checksum(&self, algorithm: ChecksumAlgorithm) -> Result<String> {
        match self {
            Self::Bytes(bytes) => Ok(algorithm.header_value(bytes)),
            Self::File(chunk) => {
                let hasher = chunk.hash(algorithm.hasher()).await?;
                Ok(hasher.header_value())
            }
        }
    }

    /// The request body: a file chunk is streamed in pieces of at most [`READ_BUFFER`]
    /// bytes, never held whole in memory. With `on_sent`, the body tells it the running
    /// count of bytes handed to the connection, piece by piece.
    pub(crate) async fn body(&mut self, on_sent: Option<SentFn>) -> Result<reqwest::Body> {
        match (self, on_sent) {
            (Self::Bytes(bytes), None) => Ok(reqwest::Body::from(bytes.clone())),
            (Self::Bytes(bytes), Some(on_sent)) => {
                let bytes = bytes.clone();
                let pieces = (0..bytes.len())
                    .step_by(READ_BUFFER)
                    .map(move |from| Ok::<_, std::io::Error>(bytes.slice(from..(from + READ_BUFFER).min(bytes.len()))));
                Ok(reqwest::Body::wrap_stream(counted(futures_util::stream::iter(pieces), on_sent)))
            }
            (Self::File(chunk), on_sent) => {
                let stream = chunk.stream().await?;
                Ok(match on_sent {
                    Some(on_sent) => reqwest::Body::wrap_stream(counted(stream, on_sent)),
                    None => reqwest::Body::wrap_stream(stream),
                })
            }
        }
    }
}

/// `stream`, telling `on_sent` the running total of bytes it has yielded.
fn counted(
    stream: impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    mut on_sent: SentFn,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    use futures_util::StreamExt as _;
    let mut sent = 0u64;
    stream.inspect(move |piece| {
        if let Ok(piece) = piece {
            sent += piece.len() as u64;
            on_sent(sent);
        }
    })
}

impl Data {
    /// The total length, when known (a stream's once it ended).
    pub(crate) fn length(&self) -> Option<u64> {
        match self {
            Self::File(file) => Some(file.len),
            Self::Bytes(bytes) => Some(bytes.len() as u64),
            Self::Stream(s) => s.declared.or(s.eof.then_some(s.buf_start + s.buf.len() as u64)),
        }
    }

    /// The range `[start, start + len)` of a file or bytes source, as its own source.
    pub(crate) fn range(&self, start: u64, len: u64) -> Option<Self> {
        match self {
            Self::File(file) => {
                Some(Self::File(FileData { file: file.file.clone(), start: file.start + start, len, ahead: None }))
            }
            Self::Bytes(bytes) => Some(Self::Bytes(bytes.slice(start as usize..(start + len) as usize))),
            Self::Stream(_) => None,
        }
    }

    /// Starts reading the start of the chunk at `offset` of a file while the request
    /// before it is answered (at most one piece is held ahead); other sources have their
    /// bytes at hand already.
    pub(crate) fn read_ahead(&mut self, offset: u64, max: u64) {
        if let Self::File(file) = self {
            file.read_ahead(offset, max);
        }
    }

    /// Up to `max` bytes from `offset`. For a stream, the bytes before `offset` are let go
    /// (the server has them), and one byte more than `max` is read ahead when possible so
    /// that the last chunk is known to be the last.
    pub(crate) async fn chunk(&mut self, offset: u64, max: u64) -> Result<Chunk> {
        match self {
            Self::File(file) => Ok(Chunk::File(file.chunk(offset, max))),
            Self::Bytes(bytes) => {
                let from = (offset as usize).min(bytes.len());
                let to = from.saturating_add(max.try_into().unwrap_or(usize::MAX)).min(bytes.len());
                Ok(Chunk::Bytes(bytes.slice(from..to)))
            }
            Self::Stream(stream) => stream.chunk(offset, max).await,
        }
    }
}

impl StreamData {
    async fn chunk(&mut self, offset: u64, max: u64) -> Result<Chunk> {
        if offset < self.buf_start {
            return Err(Error::SourceMismatch(format!(
                "the server wants the stream from byte {offset}, but bytes before {} were already sent and \
                 a stream cannot be rewound",
                self.buf_start
            )));
        }
        // Let go of what the server confirmed; skip ahead when resuming.
        let held_end = self.buf_start + self.buf.len() as u64;
        if offset <= held_end {
            let _ = self.buf.split_to((offset - self.buf_start) as usize);
        } else {
            self.buf.clear();
            let mut skip = offset - held_end;
            let mut scratch = vec![0u8; READ_BUFFER];
            while skip > 0 {
                let want = scratch.len().min(usize::try_from(skip).unwrap_or(usize::MAX));
                let n = self.reader.get().read(&mut scratch[..want]).await.map_err(stream_error)?;
                if n == 0 {
                    return Err(Error::SourceMismatch(format!(
                        "the stream ended before byte {offset}, where the server's upload stands"
                    )));
                }
                skip -= n as u64;
            }
        }
        self.buf_start = offset;
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let want = match self.declared {
            Some(declared) => max.min(usize::try_from(declared.saturating_sub(offset)).unwrap_or(usize::MAX)),
            None => max.saturating_add(1),
        };
        while self.buf.len() < want && !self.eof {
            self.buf.reserve(want - self.buf.len());
            let n = self.reader.get().read_buf(&mut self.buf).await.map_err(stream_error)?;
            if n == 0 {
                self.eof = true;
            }
        }
        if let Some(declared) = self.declared
            && self.eof
            && self.buf_start + (self.buf.len() as u64) < declared
        {
            return Err(Error::SourceMismatch(format!(
                "the stream ended after {} bytes, but its length was given as {declared}",
                self.buf_start + self.buf.len() as u64
            )));
        }
        let n = self.buf.len().min(max);
        Ok(Chunk::Bytes(Bytes::copy_from_slice(&self.buf[..n])))
    }
}

fn stream_error(e: std::io::Error) -> Error {
    Error::io("cannot read the stream", e)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bytes_of(chunk: Chunk) -> Vec<u8> {
        match chunk {
            Chunk::Bytes(b) => b.to_vec(),
            Chunk::File(_) => unreachable!(),
        }
    }

    #[tokio::test]
    async fn a_stream_knows_its_length_at_its_last_chunk() {
        let data: Vec<u8> = (0..25u8).collect();
        let mut source = Source::reader(std::io::Cursor::new(data.clone())).open().await.unwrap();
        assert_eq!(source.length(), None);
        assert_eq!(bytes_of(source.chunk(0, 10).await.unwrap()).await, &data[..10]);
        assert_eq!(source.length(), None);
        // A retry of the same chunk gives the same bytes.
        assert_eq!(bytes_of(source.chunk(0, 10).await.unwrap()).await, &data[..10]);
        // The server confirmed 7 of them.
        assert_eq!(bytes_of(source.chunk(7, 10).await.unwrap()).await, &data[7..17]);
        assert_eq!(bytes_of(source.chunk(17, 10).await.unwrap()).await, &data[17..]);
        assert_eq!(source.length(), Some(25));
        assert!(matches!(source.chunk(3, 10).await, Err(Error::SourceMismatch(_))));
    }

    #[tokio::test]
    async fn a_stream_exactly_at_a_chunk_boundary() {
        let data = vec![7u8; 20];
        let mut source = Source::reader(std::io::Cursor::new(data)).open().await.unwrap();
        assert_eq!(source.chunk(0, 10).await.unwrap().len(), 10);
        assert_eq!(source.length(), None);
        assert_eq!(source.chunk(10, 10).await.unwrap().len(), 10);
        assert_eq!(source.length(), Some(20), "the read-ahead found the end with the last chunk");
    }

    #[tokio::test]
    async fn a_resumed_stream_skips_what_the_server_has() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut source = Source::reader_with_length(std::io::Cursor::new(data.clone()), 100).open().await.unwrap();
        assert_eq!(bytes_of(source.chunk(60, 30).await.unwrap()).await, &data[60..90]);
        assert_eq!(bytes_of(source.chunk(90, 30).await.unwrap()).await, &data[90..]);
        let mut short = Source::reader_with_length(std::io::Cursor::new(vec![0u8; 5]), 10).open().await.unwrap();
        assert!(matches!(short.chunk(0, 8).await, Err(Error::SourceMismatch(_))));
    }

    #[tokio::test]
    async fn file_ranges_and_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let source = Source::file(&path).open().await.unwrap();
        assert_eq!(source.length(), Some(10));
        let mut part = source.range(4, 4).unwrap();
        let chunk = part.chunk(1, 100).await.unwrap();
        assert!(matches!(&chunk, Chunk::File(file) if file.position == 5 && file.len == 3));
        assert_eq!(
            chunk.checksum(ChecksumAlgorithm::Sha1).await.unwrap(),
            ChecksumAlgorithm::Sha1.header_value(b"567")
        );
        std::fs::write(&path, b"0123").unwrap();
        assert!(matches!(chunk.checksum(ChecksumAlgorithm::Sha1).await, Err(Error::SourceMismatch(_))));
    }

    async fn streamed(chunk: Chunk) -> Result<Vec<u8>> {
        use futures_util::StreamExt as _;
        let Chunk::File(mut chunk) = chunk else { unreachable!() };
        let mut stream = chunk.stream().await?;
        let mut bytes = Vec::new();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| Error::io("stream", e))?;
            assert!(!piece.is_empty() && piece.len() <= READ_BUFFER);
            bytes.extend_from_slice(&piece);
        }
        Ok(bytes)
    }

    #[tokio::test]
    async fn file_chunks_stream_their_bytes_with_or_without_a_read_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..5 * READ_BUFFER + 3).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut source = Source::file(&path).open().await.unwrap();
        // Chunks of several pieces, and chunks smaller than a piece (the read ahead is no
        // bigger than the chunk then), each over the first 5 MiB.
        for chunk_size in [2 * READ_BUFFER as u64 + 7, 100_003] {
            let mut offset = 0;
            while offset < data.len() as u64 {
                let chunk = source.chunk(offset, chunk_size).await.unwrap();
                let len = chunk.len();
                // What an uploader does while a chunk is answered.
                source.read_ahead(offset + len, chunk_size);
                if let Data::File(file) = &source
                    && let Some(ahead) = &file.ahead
                {
                    assert!(ahead.len as u64 <= chunk_size, "read ahead {} for {chunk_size}-byte chunks", ahead.len);
                }
                assert_eq!(streamed(chunk).await.unwrap(), &data[offset as usize..(offset + len) as usize]);
                offset += len;
            }
        }
        // A read ahead for an offset the server did not confirm is not used.
        source.read_ahead(10, 100);
        let chunk = source.chunk(3, 100).await.unwrap();
        assert_eq!(streamed(chunk).await.unwrap(), &data[3..103]);
        // Parts of a parallel upload read their own ranges.
        let mut part = source.range(READ_BUFFER as u64, 2 * READ_BUFFER as u64).unwrap();
        part.read_ahead(0, u64::MAX);
        let chunk = part.chunk(0, u64::MAX).await.unwrap();
        assert_eq!(streamed(chunk).await.unwrap(), &data[READ_BUFFER..3 * READ_BUFFER]);
    }

    #[tokio::test]
    async fn a_file_that_shrank_fails_before_its_chunk_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 3 * READ_BUFFER]).unwrap();
        let mut source = Source::file(&path).open().await.unwrap();
        source.read_ahead(READ_BUFFER as u64, u64::MAX);
        // The read ahead may have run before or after the cut: either way the chunk fails.
        std::fs::write(&path, vec![1u8; READ_BUFFER + 10]).unwrap();
        let chunk = source.chunk(READ_BUFFER as u64, READ_BUFFER as u64).await.unwrap();
        assert!(matches!(streamed(chunk).await, Err(Error::SourceMismatch(_))));
        let chunk = source.chunk(0, 2 * READ_BUFFER as u64).await.unwrap();
        assert!(matches!(streamed(chunk).await, Err(Error::SourceMismatch(_))));
    }
}
