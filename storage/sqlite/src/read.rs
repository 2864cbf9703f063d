//! Streaming a range of a data file, or of bytes held in memory.

use bytes::Bytes;
use futures_core::Stream;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncReadExt as _, Take};
use tokio_util::io::ReaderStream;

/// How much one read takes from the file.
const READ_CHUNK: usize = 64 * 1024;

/// Exactly `len` bytes of a file from its current position; a file that ends sooner
/// yields an `UnexpectedEof` error instead of a short body.
pub(crate) struct FileStream {
    reader: ReaderStream<Take<tokio::fs::File>>,
    remaining: u64,
    done: bool,
}

impl FileStream {
    pub(crate) fn new(file: std::fs::File, len: u64) -> Self {
        let file = tokio::fs::File::from_std(file).take(len);
        Self { reader: ReaderStream::with_capacity(file, READ_CHUNK), remaining: len, done: false }
    }
}

impl Stream for FileStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let item = match ready!(Pin::new(&mut this.reader).poll_next(cx)) {
            Some(Ok(chunk)) => {
                this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
                return Poll::Ready(Some(Ok(chunk)));
            }
            Some(Err(e)) => Some(Err(e)),
            None if this.remaining > 0 => Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the data file ended {} bytes early", this.remaining),
            ))),
            None => None,
        };
        this.done = true;
        Poll::Ready(item)
    }
}

/// Bytes already in memory (read from the database), as a stream of at most one chunk.
pub(crate) struct OneChunk(pub(crate) Option<Bytes>);

impl Stream for OneChunk {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Ok))
    }
}
