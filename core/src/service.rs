//! [`TusService`]: routes tus requests to the handlers and everything else to the inner service.

use crate::body::ResponseBody;
use crate::config::{Config, Extension, ExtensionSet};
use crate::future::ResponseFuture;
use crate::handlers;
use crate::hooks::ConfiguredHooks;
use crate::layer::TusLayer;
use crate::lock::Locker;
use crate::recorder::Recorder;
use crate::storage::{Storage, StorageFeatures};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio_util::sync::CancellationToken;
use tower_service::Service;

/// State shared by all services of one layer.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    /// Cancelled when the graceful shutdown starts; for what waits on it.
    pub(crate) shutdown: CancellationToken,
    /// Set (before `shutdown` is cancelled) when the graceful shutdown starts: what every
    /// request checks, without the token's lock, which all requests would share.
    shutting_down: AtomicBool,
    pub(crate) janitor_started: AtomicBool,
}

impl Runtime {
    /// Starts the graceful shutdown.
    pub(crate) fn start_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        self.shutdown.cancel();
    }

    /// Whether the graceful shutdown has started.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}

/// Everything a handler needs, behind one `Arc`.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) locker: Arc<dyn Locker>,
    pub(crate) hooks: ConfiguredHooks,
    pub(crate) runtime: Arc<Runtime>,
    /// The extensions both enabled and supported, i.e. the ones advertised.
    pub(crate) extensions: ExtensionSet,
    pub(crate) features: StorageFeatures,
    /// Where the handlers record metrics (a no-op without them).
    pub(crate) metrics: Recorder,
}

impl Shared {
    pub(crate) fn new(layer: &TusLayer) -> Self {
        let config = layer.config.clone();
        let features = layer.storage.features();
        let mut extensions = config.extensions;
        let creation = extensions.contains(Extension::Creation);
        let checksum = extensions.contains(Extension::Checksum) && !config.checksum_algorithms.is_empty();
        let concatenation = extensions.contains(Extension::Concatenation) && features.concatenation;
        extensions.set(Extension::Checksum, checksum);
        extensions.set(Extension::CreationWithUpload, creation && extensions.contains(Extension::CreationWithUpload));
        extensions.set(Extension::CreationDeferLength, creation && extensions.contains(Extension::CreationDeferLength));
        extensions
            .set(Extension::Expiration, config.expiration.is_some() && extensions.contains(Extension::Expiration));
        extensions.set(Extension::ChecksumTrailer, checksum && extensions.contains(Extension::ChecksumTrailer));
        extensions.set(Extension::Concatenation, creation && concatenation);
        extensions.set(
            Extension::ConcatenationUnfinished,
            creation
                && concatenation
                && features.concatenation_unfinished
                && extensions.contains(Extension::ConcatenationUnfinished),
        );
        #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
        let (mut storage, mut locker, mut hooks) = (layer.storage.clone(), layer.locker.clone(), layer.hooks.clone());
        #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
        let mut metrics = Recorder::default();
        #[cfg(feature = "metrics")]
        if let Some(configured) = &layer.metrics {
            use crate::metrics::{InstrumentedHooks, InstrumentedLocker, InstrumentedStorage};
            let instruments = configured.instruments();
            storage = InstrumentedStorage::wrap(storage, instruments.clone());
            locker = InstrumentedLocker::wrap(locker, instruments.clone());
            // No hooks are counted as hooks that do nothing, so that every call shows.
            let counted = hooks.unwrap_or_else(|| Arc::new(crate::hooks::NoHooks));
            hooks = Some(InstrumentedHooks::wrap(counted, instruments));
            metrics = configured.recorder();
        }
        let hooks = ConfiguredHooks::new(hooks);
        Self { config, storage, locker, hooks, runtime: layer.runtime.clone(), extensions, features, metrics }
    }

    pub(crate) fn has(&self, extension: Extension) -> bool {
        self.extensions.contains(extension)
    }
}

/// The tus service: answers tus requests under the base path and passes the rest to `S`.
///
/// Made by [`TusLayer`]; cheap to clone. It is generic over the request body, which
/// must yield [`Bytes`] and be `Send`, so it runs under hyper, axum and (through the
/// adapters) other frameworks.
pub struct TusService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: Clone> Clone for TusService<S> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: self.shared.clone() }
    }
}

impl<S> std::fmt::Debug for TusService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TusService").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl<S> TusService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// Starts the background expiration janitor now rather than at the first tus request
    /// (a no-op without [`TusLayer::expiration`](crate::TusLayer::expiration), outside a tokio
    /// runtime, or when it runs already). It stops when every service of the layer is dropped
    /// or the shutdown starts.
    pub fn start_janitor(&self) {
        crate::janitor::ensure_started(&self.shared);
    }

    /// Whether `path` is handled by tus rather than the inner service.
    pub fn handles_path(&self, path: &str) -> bool {
        handlers::route(&self.shared.config.base_path, path).is_some()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TusService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<crate::error::BoxError>,
{
    type Response = Response<crate::body::TusBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match handlers::route(&self.shared.config.base_path, request.uri().path()) {
            Some(target) => {
                crate::janitor::ensure_started(&self.shared);
                ResponseFuture::tus(Box::pin(handlers::handle(self.shared.clone(), target, request)))
            }
            None => ResponseFuture::inner(self.inner.call(request)),
        }
    }
}

/// The inner service of a standalone [`TusService`]: answers 404 to every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let mut response = Response::new(ResponseBody::full("not found\n"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        ready(Ok(response))
    }
}
