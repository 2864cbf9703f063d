//! [`MetricsService`]: the metrics text as a tower service, to mount at `/metrics`.

use super::{CONTENT_TYPE, TusMetrics};
use crate::body::ResponseBody;
use http::{HeaderValue, Request, Response, header};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};
use tower_service::Service;

/// Answers every request with the metrics text (mount it at `/metrics`; it does not look at
/// the path or method).
#[derive(Debug, Clone)]
pub struct MetricsService {
    metrics: TusMetrics,
}

impl MetricsService {
    /// A service rendering `metrics`.
    pub fn new(metrics: TusMetrics) -> Self {
        Self { metrics }
    }
}

impl<B> Service<Request<B>> for MetricsService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let mut response = Response::new(ResponseBody::full(self.metrics.render()));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        ready(Ok(response))
    }
}
