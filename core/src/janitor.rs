//! The expiration janitor: removes unfinished uploads whose expiry time passed.

use crate::error::StorageError;
use crate::id::UploadId;
use crate::lock::LockError;
use crate::service::Shared;
use crate::storage::Removal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

/// How many expired uploads one sweep asks the storage for at a time.
const BATCH: usize = 256;

/// Starts the background janitor once per layer, when expiration is on and a tokio
/// runtime is running. It stops when the services are dropped or shutdown starts.
pub(crate) fn ensure_started(shared: &Arc<Shared>) {
    if shared.config.expiration.is_none() || shared.runtime.janitor_started.load(Ordering::Relaxed) {
        return;
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
    if shared.runtime.janitor_started.swap(true, Ordering::AcqRel) {
        return;
    }
    let weak = Arc::downgrade(shared);
    let interval = shared.config.janitor_interval;
    let shutdown = shared.runtime.shutdown.clone();
    handle.spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            let Some(shared) = weak.upgrade() else { return };
            match shared.storage.remove_leftovers().await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "removed leftovers of interrupted writes"),
                Err(e) => tracing::warn!(error = %e, "cannot remove leftovers of interrupted writes"),
            }
            match sweep(&shared, false).await {
                Ok(removed) if !removed.is_empty() => tracing::info!(count = removed.len(), "removed expired uploads"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "expiration sweep failed"),
            }
        }
    });
}

/// One pass: removes (or with `dry_run`, lists) every expired unfinished upload that no
/// request holds. Uploads being written are skipped and looked at again next time. When the
/// storage or the lock backend fails, the pass stops there (what it removed stays removed,
/// and is logged) and the error is returned; the next pass starts over.
pub(crate) async fn sweep(shared: &Shared, dry_run: bool) -> Result<Vec<UploadId>, StorageError> {
    let mut removed = Vec::new();
    match sweep_into(shared, dry_run, &mut removed).await {
        Ok(()) => Ok(removed),
        Err(e) => {
            if !removed.is_empty() {
                tracing::info!(count = removed.len(), "removed expired uploads before the pass stopped");
            }
            Err(e)
        }
    }
}

async fn sweep_into(shared: &Shared, dry_run: bool, removed: &mut Vec<UploadId>) -> Result<(), StorageError> {
    let mut skipped = std::collections::HashSet::new();
    loop {
        let now = SystemTime::now();
        let batch = shared.storage.expired(now, BATCH + skipped.len()).await?;
        let candidates: Vec<_> = batch.into_iter().filter(|u| !skipped.contains(&u.id)).collect();
        if candidates.is_empty() {
            return Ok(());
        }
        for upload in candidates {
            skipped.insert(upload.id.clone());
            if dry_run {
                removed.push(upload.id);
                continue;
            }
            // Only a free lock is taken: an upload with a PATCH in flight is never cut off.
            let lock = match shared.locker.try_lock(&upload.id).await {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(LockError::Timeout) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "janitor pass stopped: the lock backend is unavailable");
                    return Err(StorageError::Unavailable(Box::new(e)));
                }
            };
            // Re-check under the lock: a PATCH may have completed it or moved its expiry.
            let still_expired = match shared.storage.info(&upload.id).await {
                Ok(info) => info.is_expired(now),
                Err(StorageError::NotFound | StorageError::Gone) => false,
                Err(e) => {
                    lock.release().await;
                    return Err(e);
                }
            };
            let result = if still_expired { shared.storage.remove(&upload.id, Removal::Expired).await } else { Ok(()) };
            lock.release().await;
            match result {
                Ok(()) if still_expired => {
                    tracing::debug!(id = %upload.id, "removed an expired upload");
                    removed.push(upload.id);
                }
                Ok(()) => {}
                Err(StorageError::NotFound | StorageError::Gone) => {}
                Err(e) => return Err(e),
            }
        }
    }
}
