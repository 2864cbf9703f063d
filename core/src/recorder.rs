//! What the handlers record, whether or not metrics are compiled in and configured.

#[cfg(feature = "metrics")]
use crate::metrics::instruments::Instruments;
#[cfg(feature = "metrics")]
use std::sync::Arc;

/// What the handlers record: a no-op without the `metrics` feature or without
/// [`TusLayer::metrics`](crate::TusLayer::metrics).
#[derive(Clone, Default)]
pub(crate) struct Recorder {
    #[cfg(feature = "metrics")]
    pub(crate) instruments: Option<Arc<Instruments>>,
}

#[cfg_attr(not(feature = "metrics"), allow(unused_variables, clippy::unused_self))]
impl Recorder {
    /// A request was answered.
    pub(crate) fn request(&self, method: &http::Method, status: http::StatusCode) {
        #[cfg(feature = "metrics")]
        if let Some(i) = &self.instruments {
            i.request(method, status);
        }
    }

    /// `bytes` were stored for an upload.
    pub(crate) fn bytes_received(&self, bytes: u64) {
        #[cfg(feature = "metrics")]
        if let Some(i) = &self.instruments {
            i.bytes_received.inc_by(bytes);
        }
    }

    /// An upload was completed.
    pub(crate) fn upload_finished(&self) {
        #[cfg(feature = "metrics")]
        if let Some(i) = &self.instruments {
            i.uploads_finished.inc();
        }
    }

    /// A PATCH stopped because its lease was lost.
    pub(crate) fn lock_lost(&self) {
        #[cfg(feature = "metrics")]
        if let Some(i) = &self.instruments {
            i.lock_lost.inc();
        }
    }
}
