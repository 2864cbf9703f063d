//! Lifecycle hooks: authorize requests, shape or refuse new uploads, react to progress.
//!
//! Implement [`Hooks`] and pass it to [`TusLayer::hooks`](crate::TusLayer::hooks). Every
//! method has a default that accepts, so an implementation overrides only what it needs.
//! Blocking hooks (`authorize`, `pre_create`, `pre_terminate`) run before the request
//! touches storage and may refuse it with a [`HookRejection`]; notification hooks run
//! after the change is committed.
//!
//! `post_finish` fires exactly once per upload that completes through this service:
//! never for partial uploads, and for a final upload of a concatenation when it is
//! assembled (also when the last partial of an unfinished concatenation completes).

use crate::id::UploadId;
use crate::metadata::Metadata;
use crate::storage::{Concat, UploadInfo};
use async_trait::async_trait;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// What a request is about to do, for [`Hooks::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Intent {
    /// OPTIONS: discover the server's capabilities.
    Discover,
    /// POST: create an upload (possibly with data, possibly a concatenation).
    Create,
    /// HEAD: read an upload's offset.
    ReadOffset,
    /// PATCH: append data.
    Append,
    /// GET: download a complete upload.
    Download,
    /// DELETE: terminate an upload.
    Terminate,
}

/// A hook's refusal: the status, message and extra headers the client receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookRejection {
    /// The response status, e.g. 401, 403 or 422.
    pub status: StatusCode,
    /// The message in the response body.
    pub message: String,
    /// Headers added to the response, e.g. `WWW-Authenticate`.
    pub headers: HeaderMap,
}

impl HookRejection {
    /// A refusal with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), headers: HeaderMap::new() }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// `401 Unauthorized` with `WWW-Authenticate: Bearer`, as HTTP requires for 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
            .with_header(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// `403 Forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

/// The upload a POST is about to create, as a `pre_create` hook sees and may change it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CreatePlan {
    /// The ID to use; `None` lets the configured generator choose. A hook may set it.
    pub id: Option<UploadId>,
    /// The declared length (`None` for deferred length or a final concatenation).
    pub length: Option<u64>,
    /// The metadata; a hook may change it.
    pub metadata: Metadata,
    /// Partial or final, if this is part of a concatenation.
    pub concat: Option<Concat>,
}

/// Callbacks around the life of an upload.
///
/// Every method has a default that accepts, so an implementation overrides only what it
/// needs. Blocking hooks (`authorize`, `pre_create`, `pre_terminate`) run before the request
/// touches storage and may refuse it; notification hooks run after the change is committed.
/// `post_finish` fires exactly once per upload that completes through this service: never
/// for partial uploads, and for a final upload of a concatenation when it is assembled.
#[async_trait]
pub trait Hooks: Send + Sync + 'static {
    /// Runs first on every tus request, with what the request intends and, for requests
    /// on an existing upload, its committed state. Refuse to stop the request.
    async fn authorize(
        &self,
        request: &Parts,
        intent: Intent,
        upload: Option<&UploadInfo>,
    ) -> Result<(), HookRejection> {
        let _ = (request, intent, upload);
        Ok(())
    }

    /// Runs before an upload is created; may refuse it, change its metadata or choose its ID.
    async fn pre_create(&self, request: &Parts, plan: &mut CreatePlan) -> Result<(), HookRejection> {
        let _ = (request, plan);
        Ok(())
    }

    /// An upload was created.
    async fn post_create(&self, upload: &UploadInfo) {
        let _ = upload;
    }

    /// A request stored data; `upload` is the state after it.
    async fn post_receive(&self, upload: &UploadInfo) {
        let _ = upload;
    }

    /// An upload is complete (exactly once per upload; never for partials).
    async fn post_finish(&self, upload: &UploadInfo) {
        let _ = upload;
    }

    /// Runs before an upload is terminated; may refuse.
    async fn pre_terminate(&self, request: &Parts, upload: &UploadInfo) -> Result<(), HookRejection> {
        let _ = (request, upload);
        Ok(())
    }

    /// An upload was terminated.
    async fn post_terminate(&self, upload: &UploadInfo) {
        let _ = upload;
    }
}

/// Hooks that do nothing: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// The hooks a service calls: `None` when none are configured, so that a request does not
/// pay for the boxed futures of hooks that do nothing (five per creation-with-upload).
#[derive(Clone)]
pub(crate) struct ConfiguredHooks(Option<std::sync::Arc<dyn Hooks>>);

impl ConfiguredHooks {
    pub(crate) fn new(hooks: Option<std::sync::Arc<dyn Hooks>>) -> Self {
        Self(hooks)
    }

    pub(crate) async fn authorize(
        &self,
        request: &Parts,
        intent: Intent,
        upload: Option<&UploadInfo>,
    ) -> Result<(), HookRejection> {
        match &self.0 {
            Some(hooks) => hooks.authorize(request, intent, upload).await,
            None => Ok(()),
        }
    }

    pub(crate) async fn pre_create(&self, request: &Parts, plan: &mut CreatePlan) -> Result<(), HookRejection> {
        match &self.0 {
            Some(hooks) => hooks.pre_create(request, plan).await,
            None => Ok(()),
        }
    }

    pub(crate) async fn post_create(&self, upload: &UploadInfo) {
        if let Some(hooks) = &self.0 {
            hooks.post_create(upload).await;
        }
    }

    pub(crate) async fn post_receive(&self, upload: &UploadInfo) {
        if let Some(hooks) = &self.0 {
            hooks.post_receive(upload).await;
        }
    }

    pub(crate) async fn post_finish(&self, upload: &UploadInfo) {
        if let Some(hooks) = &self.0 {
            hooks.post_finish(upload).await;
        }
    }

    pub(crate) async fn pre_terminate(&self, request: &Parts, upload: &UploadInfo) -> Result<(), HookRejection> {
        match &self.0 {
            Some(hooks) => hooks.pre_terminate(request, upload).await,
            None => Ok(()),
        }
    }

    pub(crate) async fn post_terminate(&self, upload: &UploadInfo) {
        if let Some(hooks) = &self.0 {
            hooks.post_terminate(upload).await;
        }
    }
}
