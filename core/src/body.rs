//! The response body of a [`TusService`](crate::TusService): its own, or the inner service's.

use crate::error::BoxError;
use crate::storage::ByteStream;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A body the tus handlers produce: nothing, a short message, or a download stream.
pub struct ResponseBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Stream { stream: ByteStream, remaining: u64 },
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Full(b) => f.debug_tuple("ResponseBody::Full").field(&b.as_ref().map_or(0, Bytes::len)).finish(),
            Kind::Stream { remaining, .. } => {
                f.debug_struct("ResponseBody::Stream").field("remaining", remaining).finish()
            }
        }
    }
}

impl ResponseBody {
    /// No body.
    pub fn empty() -> Self {
        Self { kind: Kind::Full(None) }
    }

    /// A body of these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self { kind: Kind::Full((!bytes.is_empty()).then_some(bytes)) }
    }

    /// A body streamed from storage, `len` bytes long.
    pub fn stream(stream: ByteStream, len: u64) -> Self {
        Self { kind: Kind::Stream { stream, remaining: len } }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream { stream, remaining } => match std::task::ready!(stream.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => {
                    *remaining = remaining.saturating_sub(chunk.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
                Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
                None if *remaining > 0 => Poll::Ready(Some(Err("storage ended the download early".into()))),
                None => Poll::Ready(None),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Stream { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

pin_project! {
    /// The response body of [`TusService`](crate::TusService): a tus response, or the
    /// inner service's body for requests outside the base path.
    pub struct TusBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project! {
    #[project = BodyKindProj]
    enum BodyKind<B> {
        Tus { #[pin] body: ResponseBody },
        Inner { #[pin] body: B },
    }
}

impl<B> TusBody<B> {
    /// A body answered by tus.
    pub fn tus(body: ResponseBody) -> Self {
        Self { kind: BodyKind::Tus { body } }
    }

    /// A body answered by the inner service.
    pub fn inner(body: B) -> Self {
        Self { kind: BodyKind::Inner { body } }
    }
}

impl<B> std::fmt::Debug for TusBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            BodyKind::Tus { body } => body.fmt(f),
            BodyKind::Inner { .. } => f.write_str("TusBody::Inner"),
        }
    }
}

impl<B> Body for TusBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            BodyKindProj::Tus { body } => body.poll_frame(cx),
            BodyKindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Tus { body } => body.is_end_stream(),
            BodyKind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Tus { body } => body.size_hint(),
            BodyKind::Inner { body } => body.size_hint(),
        }
    }
}
