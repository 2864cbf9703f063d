//! The operations endpoints of `tus serve`: `/healthz` (live), `/readyz` (storage and locks
//! reachable, not shutting down) and, with `--metrics`, `/metrics` (Prometheus text). They
//! are answered before tus routing, so they work whatever `--base-path` is.

use http::{Method, Request, Response, StatusCode, header};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio_util::sync::CancellationToken;
use tower_service::Service;
use tus_core::metrics::TusMetrics;
use tus_core::{NotFound, Readiness, ResponseBody, ResponseFuture, TusBody, TusService};

/// The liveness path.
pub const HEALTHZ: &str = "/healthz";
/// The readiness path.
pub const READYZ: &str = "/readyz";
/// The metrics path.
pub const METRICS: &str = "/metrics";

/// What the operations endpoints look at. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Ops {
    pub(crate) readiness: Readiness,
    /// Cancelled when a shutdown signal arrives, before the tus layer stops taking requests
    /// (`--shutdown-delay`), so load balancers see not-ready first.
    pub(crate) draining: CancellationToken,
    pub(crate) metrics: Option<TusMetrics>,
}

impl Ops {
    /// Whether `path` is one of the operations endpoints this server answers.
    fn handles(&self, path: &str) -> bool {
        path == HEALTHZ || path == READYZ || (path == METRICS && self.metrics.is_some())
    }

    async fn answer(&self, method: &Method, path: &str) -> Response<ResponseBody> {
        if *method != Method::GET && *method != Method::HEAD {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response.headers_mut().insert(header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match path {
            HEALTHZ => text(StatusCode::OK, "ok\n"),
            READYZ => {
                if self.draining.is_cancelled() {
                    return text(StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down\n");
                }
                match self.readiness.check().await {
                    Ok(()) => text(StatusCode::OK, "ready\n"),
                    Err(why) => {
                        tracing::debug!(%why, "readiness check failed");
                        text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n"))
                    }
                }
            }
            _ => match &self.metrics {
                Some(metrics) => {
                    let mut response = Response::new(ResponseBody::full(metrics.render()));
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, http::HeaderValue::from_static(tus_core::metrics::CONTENT_TYPE));
                    response
                }
                None => text(StatusCode::NOT_FOUND, "not found\n"),
            },
        }
    }
}

fn text(status: StatusCode, body: impl Into<bytes::Bytes>) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// The service of a listener: the operations endpoints first, then tus (or 404 on a
/// `--metrics-listen` listener, which serves no uploads).
#[derive(Debug, Clone)]
pub(crate) struct Router {
    /// Shared: hyper clones the router for every request, and cloning `Ops` itself would
    /// take the locks of its cancellation tokens each time.
    pub(crate) ops: Arc<Ops>,
    pub(crate) tus: Option<TusService<NotFound>>,
}

type RouterResponse = Result<Response<TusBody<ResponseBody>>, Infallible>;

/// The router's future: tus's own (no second allocation per upload request), or a boxed
/// one for the operations endpoints.
pub(crate) enum RouterFuture {
    Tus(ResponseFuture<std::future::Ready<Result<Response<ResponseBody>, Infallible>>>),
    Other(Pin<Box<dyn Future<Output = RouterResponse> + Send>>),
}

impl Future for RouterFuture {
    type Output = RouterResponse;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RouterResponse> {
        match self.get_mut() {
            Self::Tus(future) => Pin::new(future).poll(cx),
            Self::Other(future) => future.as_mut().poll(cx),
        }
    }
}

impl<B> Service<Request<B>> for Router
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tus_core::BoxError>,
{
    type Response = Response<TusBody<ResponseBody>>;
    type Error = Infallible;
    type Future = RouterFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        if self.ops.handles(path) {
            let ops = Arc::clone(&self.ops);
            let (method, path) = (request.method().clone(), path.to_owned());
            return RouterFuture::Other(Box::pin(
                async move { Ok(ops.answer(&method, &path).await.map(TusBody::tus)) },
            ));
        }
        match &mut self.tus {
            Some(tus) => RouterFuture::Tus(tus.call(request)),
            None => RouterFuture::Other(Box::pin(std::future::ready(Ok(
                text(StatusCode::NOT_FOUND, "not found\n").map(TusBody::tus)
            )))),
        }
    }
}
