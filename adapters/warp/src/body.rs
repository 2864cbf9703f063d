//! Bodies both ways: warp's request stream into tus-core, tus-core's response out as a reply.

use bytes::{Buf, Bytes};
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use tus_core::BoxError;
use warp::reply::{Reply as _, Response};

/// Why a request body broke off.
#[derive(Debug)]
pub(crate) struct BrokenBody(String);

impl std::fmt::Display for BrokenBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrokenBody {}

/// warp's request body stream as an `http-body` body. A stream that ends before its
/// `Content-Length` is an error (the connection went away), never a clean end.
pub(crate) struct RequestBody<S> {
    stream: Pin<Box<S>>,
    received: u64,
    content_length: Option<u64>,
    done: bool,
}

impl<S> RequestBody<S> {
    pub(crate) fn new(stream: S, content_length: Option<u64>) -> Self {
        Self { stream: Box::pin(stream), received: 0, content_length, done: false }
    }
}

impl<S, B> Body for RequestBody<S>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    type Data = Bytes;
    type Error = BrokenBody;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BrokenBody>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(self.stream.as_mut().poll_next(cx));
        Poll::Ready(match item {
            Some(Ok(mut buf)) => {
                let data = buf.copy_to_bytes(buf.remaining());
                self.received += data.len() as u64;
                Some(Ok(Frame::data(data)))
            }
            Some(Err(error)) => {
                self.done = true;
                Some(Err(BrokenBody(error.to_string())))
            }
            None => {
                self.done = true;
                match self.content_length {
                    Some(expected) if self.received < expected => Some(Err(BrokenBody(format!(
                        "the request body ended after {} of its {expected} bytes",
                        self.received
                    )))),
                    _ => None,
                }
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.content_length == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.content_length {
            Some(len) => SizeHint::with_exact(len.saturating_sub(self.received)),
            None => SizeHint::default(),
        }
    }
}

/// tus-core's response as a warp reply: status, headers, version and extensions as they are,
/// the body streamed.
pub(crate) fn response<B>(response: http::Response<B>) -> Response
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = response.into_parts();
    if body.is_end_stream() {
        return Response::from_parts(parts, Option::<Bytes>::None.into());
    }
    if let Some(len) = body.size_hint().exact() {
        // warp's streaming replies do not carry the size; the header keeps the framing exact.
        parts.headers.entry(http::header::CONTENT_LENGTH).or_insert_with(|| len.into());
    }
    let streamed = warp::reply::stream(Frames(Mutex::new(Box::pin(body)))).into_response();
    Response::from_parts(parts, streamed.into_body())
}

/// The data frames of a body, as the `Send + Sync` stream warp's replies want. The mutex is
/// never contended: it only makes the body `Sync`, and is reached through `&mut`.
struct Frames<B>(Mutex<Pin<Box<B>>>);

impl<B> Stream for Frames<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let body = self.0.get_mut().unwrap_or_else(PoisonError::into_inner);
        loop {
            return match std::task::ready!(body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Some(Err(error)) => Poll::Ready(Some(Err(error.into()))),
                None => Poll::Ready(None),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn body(
        chunks: &[&'static [u8]],
        content_length: Option<u64>,
    ) -> RequestBody<impl Stream<Item = Result<Bytes, warp::Error>>> {
        let chunks: Vec<Result<Bytes, warp::Error>> = chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        RequestBody::new(futures_util::stream::iter(chunks), content_length)
    }

    #[tokio::test]
    async fn a_whole_body_ends_cleanly() {
        let collected = body(&[b"abc", b"de"], Some(5)).collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"abcde");
        let collected = body(&[b"abc"], None).collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"abc");
    }

    #[tokio::test]
    async fn a_body_short_of_its_content_length_is_an_error() {
        let mut short = body(&[b"abc"], Some(5));
        assert_eq!(&short.frame().await.unwrap().unwrap().into_data().unwrap()[..], b"abc");
        let error = short.frame().await.unwrap().unwrap_err();
        assert!(error.to_string().contains("3 of its 5 bytes"), "{error}");
        assert!(short.frame().await.is_none());
    }

    #[tokio::test]
    async fn responses_keep_status_headers_and_length() {
        let tus = http::Response::builder()
            .status(460)
            .header("vary", "Origin")
            .header("vary", "Accept")
            .body(http_body_util::Full::new(Bytes::from_static(b"mismatch")))
            .unwrap();
        let reply = response(tus);
        assert_eq!(reply.status().as_u16(), 460);
        assert_eq!(reply.headers().get_all("vary").iter().count(), 2);
        assert_eq!(reply.headers()["content-length"], "8");
        assert_eq!(&reply.into_body().collect().await.unwrap().to_bytes()[..], b"mismatch");
    }
}
