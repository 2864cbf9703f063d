//! Prometheus metrics (cargo feature `metrics`): what the service did, how long storage and
//! locks took, and what the hooks said.
//!
//! Make a [`TusMetrics`], hand it to [`TusLayer::metrics`](crate::TusLayer::metrics), and
//! expose its text with [`TusMetrics::render`] or the [`MetricsService`] tower service:
//!
//! ```
//! use tus_core::{MemoryStorage, TusLayer};
//! use tus_core::metrics::TusMetrics;
//!
//! let metrics = TusMetrics::new();
//! let layer = TusLayer::new(MemoryStorage::new()).metrics(metrics.clone());
//! # let _ = layer;
//! let text = metrics.render();
//! assert!(text.contains("tus_uploads_created_total 0"));
//! ```
//!
//! An application with its own [`Registry`] puts the
//! tus metrics in it with [`TusMetrics::register`] and renders the whole registry with
//! [`encode`].
//!
//! # Metrics
//!
//! | name | type | labels | what |
//! | --- | --- | --- | --- |
//! | `tus_requests_total` | counter | `method`, `status` | tus requests answered |
//! | `tus_bytes_received_total` | counter | | upload bytes stored (PATCH and creation-with-upload) |
//! | `tus_uploads_created_total` | counter | | uploads created |
//! | `tus_uploads_finished_total` | counter | | uploads completed (`post_finish`; not partials) |
//! | `tus_uploads_terminated_total` | counter | | uploads removed by DELETE |
//! | `tus_uploads_expired_total` | counter | | expired uploads removed by the janitor |
//! | `tus_uploads_in_progress` | gauge | | appends streaming into storage right now |
//! | `tus_lock_wait_seconds` | histogram | | time to take an upload lock (taken or not) |
//! | `tus_lock_timeouts_total` | counter | | lock waits that ended in `423 Locked` |
//! | `tus_lock_unavailable_total` | counter | | lock attempts the backend could not answer |
//! | `tus_lock_lost_total` | counter | | PATCHes stopped because their lease was lost |
//! | `tus_storage_operation_seconds` | histogram | `op` | latency of each storage call |
//! | `tus_storage_errors_total` | counter | `op` | storage calls that failed (not 404/410) |
//! | `tus_hook_invocations_total` | counter | `hook` | hook calls |
//! | `tus_hook_rejections_total` | counter | `hook` | blocking hooks that refused with a 4xx |
//! | `tus_hook_failures_total` | counter | `hook` | blocking hooks that refused with a 5xx (hook down, bad reply) |
//!
//! Notification hooks (`post_*`) report no outcome to the service: their transports retry
//! and log their own failures.

mod instrumented;
pub(crate) mod instruments;
mod service;

pub(crate) use instrumented::{InstrumentedHooks, InstrumentedLocker, InstrumentedStorage};
pub use prometheus_client;
pub use service::MetricsService;

use crate::recorder::Recorder;
use instruments::Instruments;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The content type of [`TusMetrics::render`]'s text (OpenMetrics, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A handle on the tus metrics: cheap to clone, shared by every service of a layer.
#[derive(Clone)]
pub struct TusMetrics {
    instruments: Arc<Instruments>,
    /// The registry of [`TusMetrics::new`]; `None` when registered in the caller's own.
    registry: Option<Arc<Registry>>,
}

impl std::fmt::Debug for TusMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TusMetrics").field("own_registry", &self.registry.is_some()).finish_non_exhaustive()
    }
}

impl Default for TusMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl TusMetrics {
    /// The tus metrics in a registry of their own, rendered by [`TusMetrics::render`].
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let instruments = Instruments::register(&mut registry);
        Self { instruments: Arc::new(instruments), registry: Some(Arc::new(registry)) }
    }

    /// The tus metrics in the application's `registry` (all named `tus_…`). Render that
    /// registry with [`encode`]; [`TusMetrics::render`] of this handle is empty.
    pub fn register(registry: &mut Registry) -> Self {
        Self { instruments: Arc::new(Instruments::register(registry)), registry: None }
    }

    /// The metrics in the text exposition format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        self.registry.as_deref().map(encode).unwrap_or_default()
    }

    /// A tower service answering every request with [`TusMetrics::render`]'s text.
    pub fn service(&self) -> MetricsService {
        MetricsService::new(self.clone())
    }

    pub(crate) fn instruments(&self) -> Arc<Instruments> {
        self.instruments.clone()
    }

    pub(crate) fn recorder(&self) -> Recorder {
        Recorder { instruments: Some(self.instruments.clone()) }
    }
}

/// `registry` in the text exposition format ([`CONTENT_TYPE`]).
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail; the encoder only fails on a broken writer.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, registry) {
        tracing::error!(error = %e, "cannot encode the metrics");
    }
    text
}
