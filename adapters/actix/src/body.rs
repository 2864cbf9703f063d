//! tus-core's response body as an actix [`MessageBody`], polled by actix as it writes.

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use std::pin::Pin;
use std::task::{Context, Poll};
use tus_core::BoxError;

/// Streams an `http-body` body out through actix, frame by frame (trailers are dropped).
pub(crate) struct ActixBody<B> {
    body: Pin<Box<B>>,
    size: BodySize,
}

impl<B> ActixBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    /// `head`: the answer to a HEAD request, whose empty body must not claim `Content-Length: 0`.
    pub(crate) fn new(body: B, head: bool) -> Self {
        let size = match body.size_hint().exact() {
            Some(0) if head => BodySize::None,
            Some(len) => BodySize::Sized(len),
            None => BodySize::Stream,
        };
        Self { body: Box::pin(body), size }
    }
}

impl<B> MessageBody for ActixBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Error = BodyFailed;

    fn size(&self) -> BodySize {
        self.size
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyFailed>>> {
        loop {
            return match std::task::ready!(self.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Some(Err(error)) => Poll::Ready(Some(Err(BodyFailed(error.into())))),
                None => Poll::Ready(None),
            };
        }
    }
}

/// A response body that failed mid-way (actix then cuts the connection).
#[derive(Debug)]
pub(crate) struct BodyFailed(BoxError);

impl std::fmt::Display for BodyFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the response body failed: {}", self.0)
    }
}

impl std::error::Error for BodyFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
