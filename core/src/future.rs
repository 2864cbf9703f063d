//! The response future of [`TusService`](crate::TusService).

use crate::body::{ResponseBody, TusBody};
use http::Response;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub(crate) type TusFuture = Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send + 'static>>;

pin_project! {
    /// Resolves to the tus response, or to the inner service's response.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Tus { future: TusFuture },
        Inner { #[pin] future: F },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn tus(future: TusFuture) -> Self {
        Self { kind: Kind::Tus { future } }
    }

    pub(crate) fn inner(future: F) -> Self {
        Self { kind: Kind::Inner { future } }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.kind {
            Kind::Tus { .. } => "ResponseFuture::Tus",
            Kind::Inner { .. } => "ResponseFuture::Inner",
        })
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TusBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Tus { future } => {
                let response = std::task::ready!(future.as_mut().poll(cx));
                Poll::Ready(Ok(response.map(TusBody::tus)))
            }
            KindProj::Inner { future } => {
                let response = std::task::ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(TusBody::inner)))
            }
        }
    }
}
