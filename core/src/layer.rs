//! [`TusLayer`]: the configuration, and the [`tower_layer::Layer`] that applies it.

use crate::checksum::ChecksumAlgorithm;
use crate::config::{Config, Cors, Expiration, Extension, MethodOverride, normalize_base_path};
use crate::health::Readiness;
use crate::hooks::Hooks;
use crate::id::IdGenerator;
use crate::lock::{Locker, MemoryLocker};
use crate::service::{NotFound, Runtime, Shared, TusService};
use crate::storage::Storage;
use std::sync::Arc;
use std::time::Duration;
use tower_layer::Layer;

/// Adds a tus endpoint to a service: requests under the base path (default `/files`)
/// are answered by tus, everything else goes to the inner service untouched.
///
/// ```
/// use tus_core::{MemoryStorage, TusLayer};
/// use std::time::Duration;
///
/// let layer = TusLayer::new(MemoryStorage::new())
///     .base_path("/uploads")
///     .max_size(5 << 30)
///     .lock_timeout(Duration::from_secs(5));
/// // With axum: Router::new().route(...).layer(layer)
/// // Standalone under hyper:
/// let service = layer.standalone();
/// # let _ = service;
/// ```
#[derive(Clone)]
#[must_use]
pub struct TusLayer {
    pub(crate) config: Config,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) locker: Arc<dyn Locker>,
    /// `None`: no hooks (not even no-op ones are called).
    pub(crate) hooks: Option<Arc<dyn Hooks>>,
    pub(crate) runtime: Arc<Runtime>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<crate::metrics::TusMetrics>,
}

impl std::fmt::Debug for TusLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TusLayer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl TusLayer {
    /// A layer over `storage` with the defaults: base path `/files`, every extension the
    /// storage supports, in-memory locks, CORS for any origin, relative `Location`s.
    pub fn new(storage: impl Storage) -> Self {
        Self::from_arc(Arc::new(storage))
    }

    /// Like [`TusLayer::new`] for a storage already behind an `Arc`.
    pub fn from_arc(storage: Arc<dyn Storage>) -> Self {
        Self {
            config: Config::default(),
            storage,
            locker: Arc::new(MemoryLocker::new()),
            hooks: None,
            runtime: Arc::new(Runtime::default()),
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }

    /// The URL path the uploads live under (default `/files`).
    pub fn base_path(mut self, path: impl AsRef<str>) -> Self {
        self.config.base_path = normalize_base_path(path.as_ref());
        self
    }

    /// The largest upload accepted, in bytes (advertised as `Tus-Max-Size`).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.config.max_size = Some(bytes);
        self
    }

    /// The largest `Upload-Metadata` header accepted, in bytes (default 16 KiB).
    pub fn max_metadata_size(mut self, bytes: usize) -> Self {
        self.config.max_metadata_size = bytes;
        self
    }

    /// Switches an extension on or off (all are on by default; those the storage
    /// cannot do are never advertised).
    pub fn extension(mut self, extension: Extension, enabled: bool) -> Self {
        self.config.extensions.set(extension, enabled);
        self
    }

    /// The checksum algorithms accepted (default: all of [`ChecksumAlgorithm::ALL`]).
    pub fn checksum_algorithms(mut self, algorithms: impl IntoIterator<Item = ChecksumAlgorithm>) -> Self {
        self.config.checksum_algorithms = algorithms.into_iter().collect();
        self
    }

    /// Lets unfinished uploads expire, and runs a janitor that removes them.
    pub fn expiration(mut self, expiration: Expiration) -> Self {
        self.config.expiration = Some(expiration);
        self
    }

    /// How often the janitor looks for expired uploads (default 60 s).
    pub fn janitor_interval(mut self, interval: Duration) -> Self {
        self.config.janitor_interval = interval;
        self
    }

    /// CORS settings (default: [`Cors::any`]).
    pub fn cors(mut self, cors: Cors) -> Self {
        self.config.cors = Some(cors);
        self
    }

    /// No CORS headers at all, for host applications that do CORS themselves.
    pub fn no_cors(mut self) -> Self {
        self.config.cors = None;
        self
    }

    /// The public URL prefix of the server, e.g. `https://uploads.example.com`: `Location`
    /// becomes this followed by the base path and the ID. Default: relative `Location`s.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.config.public_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Builds absolute `Location`s from `Forwarded` / `X-Forwarded-Host` / `X-Forwarded-Proto`.
    /// Only switch this on behind a proxy that sets them.
    pub fn trust_proxy_headers(mut self, trust: bool) -> Self {
        self.config.trust_proxy = trust;
        self
    }

    /// How IDs of new uploads are made (default: 128 random bits).
    pub fn id_generator(mut self, generator: impl IdGenerator) -> Self {
        self.config.id_generator = Arc::new(generator);
        self
    }

    /// Whether GET downloads complete uploads (default on).
    pub fn download(mut self, enabled: bool) -> Self {
        self.config.download = enabled;
        self
    }

    /// How long a request waits for an upload's lock before answering 423 (default 10 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.config.lock_timeout = timeout;
        self
    }

    /// How long a request body may stay silent before it is cut off (default 60 s).
    pub fn body_idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.body_idle_timeout = timeout;
        self
    }

    /// Where `X-HTTP-Method-Override` is honoured (default: on any method).
    pub fn method_override(mut self, mode: MethodOverride) -> Self {
        self.config.method_override = mode;
        self
    }

    /// The lock backend (default: [`MemoryLocker`]).
    pub fn locker(mut self, locker: impl Locker) -> Self {
        self.locker = Arc::new(locker);
        self
    }

    /// The lifecycle hooks (default: none).
    pub fn hooks(mut self, hooks: impl Hooks) -> Self {
        self.hooks = Some(Arc::new(hooks));
        self
    }

    /// Records Prometheus metrics in `metrics` (feature `metrics`): requests, bytes, uploads,
    /// lock waits, storage latencies and hook calls. The storage, locker and hooks are
    /// wrapped when the services are made, so the order of the builder calls does not matter.
    /// See [`crate::metrics`] for the list.
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: crate::metrics::TusMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// A readiness check over this layer's storage and locker that fails as soon as the
    /// graceful shutdown starts; for `/readyz`-style endpoints.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(self.storage.clone(), self.locker.clone(), self.runtime.shutdown.clone())
    }

    /// A handle that starts a graceful shutdown: new tus requests get 503, and bodies
    /// in flight stop, persist what they received and answer 503.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.runtime.clone())
    }

    /// The service answering tus requests alone; other paths get 404.
    pub fn standalone(&self) -> TusService<NotFound> {
        self.layer(NotFound)
    }

    /// The base path, normalised (`/files`; empty for the root).
    pub fn configured_base_path(&self) -> &str {
        &self.config.base_path
    }

    /// Whether `extension` is switched on (the storage may still lack it; OPTIONS
    /// advertises only what is both on and supported).
    pub fn is_enabled(&self, extension: Extension) -> bool {
        self.config.extensions.contains(extension)
    }

    /// The storage this layer writes to.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::new(Shared::new(self))
    }
}

impl<S> Layer<S> for TusLayer {
    type Service = TusService<S>;

    fn layer(&self, inner: S) -> TusService<S> {
        TusService::new(inner, self.shared())
    }
}

/// Starts the graceful shutdown of every service made by one [`TusLayer`].
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<Runtime>);

impl ShutdownHandle {
    /// Starts the shutdown.
    pub fn shutdown(&self) {
        self.0.start_shutdown();
    }

    /// Whether the shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.0.is_shutting_down()
    }
}
