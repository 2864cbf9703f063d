//! Upload locks: one writer per upload, and a way to ask the writer to let go.
//!
//! PATCH, DELETE, the completion of concatenations and the janitor hold an upload's
//! lock while they change it; HEAD and GET read committed state and never take it.
//! A request that finds the lock held first *asks the holder to stop*: the holder's
//! body stream ends with [`BodyError::Interrupted`](crate::BodyError::Interrupted),
//! it commits what it received and releases the lock. So a connection that died
//! without the server noticing never keeps an upload stuck for longer than it takes
//! the holder to notice the request, and waiting past the acquire timeout is answered
//! with `423 Locked` and `Retry-After`.

use crate::error::BoxError;
use crate::id::UploadId;
use async_trait::async_trait;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why a lock could not be taken.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError {
    /// The holder did not let go within the timeout.
    Timeout,
    /// The lock backend cannot be reached.
    Unavailable(BoxError),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out waiting for the upload lock"),
            Self::Unavailable(e) => write!(f, "lock backend unavailable: {e}"),
        }
    }
}

impl std::error::Error for LockError {}

/// Hands out exclusive locks on uploads.
#[async_trait]
pub trait Locker: Send + Sync + 'static {
    /// Takes the lock on `id`, first asking a current holder to release it, and
    /// waiting at most `timeout`.
    async fn lock(&self, id: &UploadId, timeout: Duration) -> Result<UploadLock, LockError>;

    /// Takes the lock on `id` only if nobody holds it, without disturbing a holder
    /// (the janitor uses this, so it never cuts an upload off mid-PATCH).
    async fn try_lock(&self, id: &UploadId) -> Result<Option<UploadLock>, LockError>;

    /// Whether the backend can hand out locks right now, for readiness probes: a cheap
    /// round trip (e.g. a PING). The default says yes.
    async fn health(&self) -> Result<(), LockError> {
        Ok(())
    }
}

/// What a backend does when an [`UploadLock`] is released.
///
/// [`UploadLock::release`] calls [`LockRelease::release`]; when a lock is dropped
/// instead (a panic, a cancelled request), the value is simply dropped, so a backend
/// must also release in its `Drop` (spawning a task if that needs I/O).
#[async_trait]
pub trait LockRelease: Send + Sync + 'static {
    /// Releases the lock.
    async fn release(self: Box<Self>);
}

/// A held lock. Release it with [`UploadLock::release`]; dropping it releases it too.
pub struct UploadLock {
    stop: CancellationToken,
    lost: Option<CancellationToken>,
    release: Option<Box<dyn LockRelease>>,
}

impl fmt::Debug for UploadLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadLock")
            .field("stop_requested", &self.stop.is_cancelled())
            .field("lease_lost", &self.lease_lost())
            .finish()
    }
}

impl UploadLock {
    /// A lock whose holder is asked to stop through `stop` (cancelled when another request
    /// wants the lock, or when the backend lost the lease) and that runs `release` when let go.
    pub fn new(stop: CancellationToken, release: Box<dyn LockRelease>) -> Self {
        Self { stop, lost: None, release: Some(release) }
    }

    /// Marks this lock as backed by a lease that can be lost: the backend cancels `lost`
    /// (before the stop signal) when the lease expired or was taken over, so the holder
    /// can tell "lease lost" (answered 503) from "another request asked" (answered 423).
    pub fn with_lease_loss(mut self, lost: CancellationToken) -> Self {
        self.lost = Some(lost);
        self
    }

    /// Whether the backend lost the lease behind this lock (see [`UploadLock::with_lease_loss`]).
    pub fn lease_lost(&self) -> bool {
        self.lost.as_ref().is_some_and(CancellationToken::is_cancelled)
    }

    /// Cancelled when the holder should stop, persist and release.
    pub fn stop_signal(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Releases the lock.
    pub async fn release(mut self) {
        if let Some(release) = self.release.take() {
            release.release().await;
        }
    }
}

/// Locks within one process. The default.
#[derive(Debug, Clone, Default)]
pub struct MemoryLocker {
    slots: Arc<Mutex<HashMap<UploadId, Arc<Slot>>>>,
}

#[derive(Debug, Default)]
struct Slot {
    mutex: Arc<tokio::sync::Mutex<()>>,
    holder_stop: Mutex<Option<CancellationToken>>,
}

impl MemoryLocker {
    /// A locker with no locks held.
    pub fn new() -> Self {
        Self::default()
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<UploadId, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many uploads have a lock held or awaited (for tests and metrics).
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    /// Whether no lock is held or awaited.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct MemoryRelease {
    slots: Arc<Mutex<HashMap<UploadId, Arc<Slot>>>>,
    id: UploadId,
    slot: Arc<Slot>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl MemoryRelease {
    fn release_now(&mut self) {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *self.slot.holder_stop.lock().unwrap_or_else(|p| p.into_inner()) = None;
        drop(self.guard.take());
        // The map and this release hold the only references: nobody waits, forget the slot.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.id);
        }
    }
}

#[async_trait]
impl LockRelease for MemoryRelease {
    async fn release(mut self: Box<Self>) {
        self.release_now();
    }
}

impl Drop for MemoryRelease {
    fn drop(&mut self) {
        if self.guard.is_some() {
            self.release_now();
        }
    }
}

#[async_trait]
impl Locker for MemoryLocker {
    async fn lock(&self, id: &UploadId, timeout: Duration) -> Result<UploadLock, LockError> {
        let slot = self.slots().entry(id.clone()).or_default().clone();
        let guard = match slot.mutex.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                if let Some(stop) = &*slot.holder_stop.lock().unwrap_or_else(|p| p.into_inner()) {
                    stop.cancel();
                }
                match tokio::time::timeout(timeout, slot.mutex.clone().lock_owned()).await {
                    Ok(guard) => guard,
                    Err(_) => {
                        let mut slots = self.slots();
                        if Arc::strong_count(&slot) == 2 && slot.mutex.try_lock().is_ok() {
                            slots.remove(id);
                        }
                        return Err(LockError::Timeout);
                    }
                }
            }
        };
        Ok(self.held(id, slot, guard))
    }

    async fn try_lock(&self, id: &UploadId) -> Result<Option<UploadLock>, LockError> {
        let mut slots = self.slots();
        let slot = slots.entry(id.clone()).or_default().clone();
        match slot.mutex.clone().try_lock_owned() {
            Ok(guard) => {
                drop(slots);
                Ok(Some(self.held(id, slot, guard)))
            }
            Err(_) => Ok(None),
        }
    }
}

impl MemoryLocker {
    fn held(&self, id: &UploadId, slot: Arc<Slot>, guard: tokio::sync::OwnedMutexGuard<()>) -> UploadLock {
        let stop = CancellationToken::new();
        *slot.holder_stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop.clone());
        let release = MemoryRelease { slots: self.slots.clone(), id: id.clone(), slot, guard: Some(guard) };
        UploadLock::new(stop, Box::new(release))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_asks_the_holder_to_stop_and_gets_the_lock() {
        let locker = MemoryLocker::new();
        let id = UploadId::new("a").unwrap();
        let first = locker.lock(&id, Duration::from_secs(1)).await.unwrap();
        let stop = first.stop_signal();
        let holder = tokio::spawn(async move {
            stop.cancelled().await;
            first.release().await;
        });
        let second = locker.lock(&id, Duration::from_secs(5)).await.unwrap();
        holder.await.unwrap();
        assert!(!second.stop_signal().is_cancelled());
        second.release().await;
        assert!(locker.is_empty());
    }

    #[tokio::test]
    async fn a_holder_that_ignores_the_request_makes_the_waiter_time_out() {
        let locker = MemoryLocker::new();
        let id = UploadId::new("a").unwrap();
        let first = locker.lock(&id, Duration::from_secs(1)).await.unwrap();
        let err = locker.lock(&id, Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, LockError::Timeout));
        assert!(first.stop_signal().is_cancelled());
        drop(first);
        assert!(locker.is_empty());
        locker.lock(&id, Duration::from_millis(50)).await.unwrap().release().await;
    }
}
