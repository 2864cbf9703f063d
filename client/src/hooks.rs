//! Observability hooks: before each request, after each response, and whether to retry.

use crate::error::Error;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A request about to be sent, as shown to [`ClientBuilder::before_request`].
///
/// [`ClientBuilder::before_request`]: crate::ClientBuilder::before_request
#[derive(Debug)]
#[non_exhaustive]
pub struct RequestInfo<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URL.
    pub url: &'a Url,
    /// The headers (the client's custom ones included).
    pub headers: &'a HeaderMap,
}

/// A response just received, as shown to [`ClientBuilder::after_response`].
///
/// [`ClientBuilder::after_response`]: crate::ClientBuilder::after_response
#[derive(Debug)]
#[non_exhaustive]
pub struct ResponseInfo<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// The request's URL.
    pub url: &'a Url,
    /// The status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: &'a HeaderMap,
    /// How long the request took (the upload of its body included).
    pub elapsed: Duration,
}

pub(crate) type BeforeRequest = Arc<dyn Fn(&RequestInfo<'_>) + Send + Sync>;
pub(crate) type AfterResponse = Arc<dyn Fn(&ResponseInfo<'_>) + Send + Sync>;
pub(crate) type ShouldRetry = Arc<dyn Fn(&Error, u32) -> bool + Send + Sync>;

#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) before_request: Option<BeforeRequest>,
    pub(crate) after_response: Option<AfterResponse>,
    pub(crate) should_retry: Option<ShouldRetry>,
}

impl Hooks {
    pub(crate) fn should_retry(&self, error: &Error, attempt: u32) -> bool {
        self.should_retry.as_ref().is_none_or(|hook| hook(error, attempt))
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("before_request", &self.before_request.is_some())
            .field("after_response", &self.after_response.is_some())
            .field("should_retry", &self.should_retry.is_some())
            .finish()
    }
}
