use bytes::Bytes;
use futures_core::Stream;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Why a request body stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// The connection broke or the body failed to decode.
    Broken(String),
    /// No byte arrived within the idle timeout.
    Timeout,
    /// The body carries more bytes than the upload may hold; the bytes up to `limit`
    /// were yielded before this error.
    TooLarge {
        /// How many bytes this request was allowed to add.
        limit: u64,
    },
    /// The digest of the body does not match `Upload-Checksum` (header or trailer).
    ChecksumMismatch,
    /// A newer request on the same upload asked this one to stop.
    Interrupted,
    /// The server is shutting down.
    ShuttingDown,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Broken(why) => write!(f, "request body broke off: {why}"),
            Self::Timeout => f.write_str("request body idle timeout"),
            Self::TooLarge { limit } => write!(f, "request body exceeds the {limit} bytes allowed"),
            Self::ChecksumMismatch => f.write_str("checksum mismatch"),
            Self::Interrupted => f.write_str("interrupted by a newer request"),
            Self::ShuttingDown => f.write_str("server shutting down"),
        }
    }
}

impl std::error::Error for BodyError {}

/// The body of one PATCH (or creation-with-upload POST), as a backend receives it.
///
/// It yields the body's data frames as they arrive, so a backend can write them
/// out with bounded memory. The service has already applied the idle timeout, the
/// length limit and the checksum: a mismatch shows up as a final
/// [`BodyError::ChecksumMismatch`] after the last chunk, which is why a backend
/// must not commit before the stream has ended with `None`.
pub struct ChunkStream {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>,
    received: u64,
    content_length: Option<u64>,
    error: Option<BodyError>,
    finished: bool,
}

impl fmt::Debug for ChunkStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkStream")
            .field("received", &self.received)
            .field("content_length", &self.content_length)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl ChunkStream {
    /// Wraps a stream of chunks; `content_length` is the number of bytes announced, if known.
    pub fn new(
        stream: impl Stream<Item = Result<Bytes, BodyError>> + Send + 'static,
        content_length: Option<u64>,
    ) -> Self {
        Self { inner: Box::pin(stream), received: 0, content_length, error: None, finished: false }
    }

    /// A stream of one chunk (handy in tests and for copying between backends).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let len = bytes.len() as u64;
        let mut once = Some(bytes);
        Self::new(futures_util::stream::poll_fn(move |_| Poll::Ready(once.take().map(Ok))), Some(len))
    }

    /// The next chunk; `None` after the end or after the first error.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Bytes yielded so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The number of bytes the client announced (`Content-Length`), if any.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The error that ended the stream, if one did.
    pub fn error(&self) -> Option<&BodyError> {
        self.error.as_ref()
    }
}

impl Stream for ChunkStream {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(self.inner.as_mut().poll_next(cx));
        match &item {
            Some(Ok(chunk)) => self.received += chunk.len() as u64,
            Some(Err(err)) => {
                self.error = Some(err.clone());
                self.finished = true;
            }
            None => self.finished = true,
        }
        Poll::Ready(item)
    }
}
