//! Readiness: whether the service can take uploads right now (storage and locks reachable,
//! no shutdown under way), for load balancers and orchestrators.

use crate::error::StorageError;
use crate::lock::{LockError, Locker};
use crate::storage::Storage;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long one readiness check waits for each backend by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks that a layer's storage and locker answer; made by
/// [`TusLayer::readiness`](crate::TusLayer::readiness). Cheap to clone.
#[derive(Clone)]
pub struct Readiness {
    storage: Arc<dyn Storage>,
    locker: Arc<dyn Locker>,
    shutdown: CancellationToken,
    timeout: Duration,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("shutting_down", &self.shutdown.is_cancelled())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why the service is not ready.
#[derive(Debug)]
#[non_exhaustive]
pub enum NotReady {
    /// A graceful shutdown has started.
    ShuttingDown,
    /// The storage failed its health check.
    Storage(StorageError),
    /// The lock backend failed its health check.
    Locker(LockError),
    /// A backend did not answer within the check's timeout.
    TimedOut(&'static str),
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShuttingDown => f.write_str("shutting down"),
            Self::Storage(e) => write!(f, "storage: {e}"),
            Self::Locker(e) => write!(f, "locker: {e}"),
            Self::TimedOut(what) => write!(f, "{what}: no answer within the timeout"),
        }
    }
}

impl std::error::Error for NotReady {}

impl Readiness {
    pub(crate) fn new(storage: Arc<dyn Storage>, locker: Arc<dyn Locker>, shutdown: CancellationToken) -> Self {
        Self { storage, locker, shutdown, timeout: DEFAULT_TIMEOUT }
    }

    /// How long each backend may take to answer (default 2 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Ready when no shutdown has started and both the storage and the locker pass their
    /// health checks within the timeout.
    pub async fn check(&self) -> Result<(), NotReady> {
        if self.shutdown.is_cancelled() {
            return Err(NotReady::ShuttingDown);
        }
        let storage = tokio::time::timeout(self.timeout, self.storage.health());
        let locker = tokio::time::timeout(self.timeout, self.locker.health());
        let (storage, locker) = futures_util::future::join(storage, locker).await;
        storage.map_err(|_| NotReady::TimedOut("storage"))?.map_err(NotReady::Storage)?;
        locker.map_err(|_| NotReady::TimedOut("locker"))?.map_err(NotReady::Locker)?;
        if self.shutdown.is_cancelled() {
            return Err(NotReady::ShuttingDown);
        }
        Ok(())
    }

    /// Whether a graceful shutdown has started (checked without any I/O).
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}
