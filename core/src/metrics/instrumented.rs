//! Wrappers that measure the configured storage, locker and hooks and forward every call.

use super::instruments::{Instruments, Op};
use crate::error::StorageError;
use crate::hooks::{CreatePlan, HookRejection, Hooks, Intent};
use crate::id::UploadId;
use crate::lock::{LockError, Locker, UploadLock};
use crate::storage::{
    AppendOptions, ByteStream, ChunkStream, CreatedWithUpload, NewUpload, Removal, Storage, StorageFeatures, UploadInfo,
};
use async_trait::async_trait;
use http::request::Parts;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A [`Storage`] that times every call.
pub(crate) struct InstrumentedStorage {
    inner: Arc<dyn Storage>,
    metrics: Arc<Instruments>,
}

impl InstrumentedStorage {
    pub(crate) fn wrap(inner: Arc<dyn Storage>, metrics: Arc<Instruments>) -> Arc<dyn Storage> {
        Arc::new(Self { inner, metrics })
    }

    async fn timed<T>(&self, op: Op, call: impl Future<Output = Result<T, StorageError>>) -> Result<T, StorageError> {
        let started = Instant::now();
        let result = call.await;
        // A missing or removed upload is the client's business, not a storage failure.
        let failed = matches!(&result, Err(e) if !matches!(e, StorageError::NotFound | StorageError::Gone));
        self.metrics.storage_call(op, started.elapsed().as_secs_f64(), failed);
        result
    }
}

/// Decrements `tus_uploads_in_progress` when the append ends, however it ends.
struct InProgress<'a>(&'a Instruments);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.uploads_in_progress.dec();
    }
}

#[async_trait]
impl Storage for InstrumentedStorage {
    fn features(&self) -> StorageFeatures {
        self.inner.features()
    }

    async fn create(&self, upload: NewUpload) -> Result<UploadInfo, StorageError> {
        let created = self.timed(Op::Create, self.inner.create(upload)).await;
        if created.is_ok() {
            self.metrics.uploads_created.inc();
        }
        created
    }

    async fn info(&self, id: &UploadId) -> Result<UploadInfo, StorageError> {
        self.timed(Op::Info, self.inner.info(id)).await
    }

    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<UploadInfo, StorageError> {
        self.metrics.uploads_in_progress.inc();
        let _in_progress = InProgress(&self.metrics);
        self.timed(Op::Append, self.inner.append(id, offset, data, options)).await
    }

    async fn create_with_upload(
        &self,
        upload: NewUpload,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<CreatedWithUpload, StorageError> {
        self.metrics.uploads_in_progress.inc();
        let _in_progress = InProgress(&self.metrics);
        // Timed as an append: the body is most of it. A failed body counts as an append error.
        let started = Instant::now();
        let result = self.inner.create_with_upload(upload, data, options).await;
        let failed = match &result {
            Ok(outcome) => {
                self.metrics.uploads_created.inc();
                outcome.stored.is_err()
            }
            Err(_) => true,
        };
        self.metrics.storage_call(Op::Append, started.elapsed().as_secs_f64(), failed);
        result
    }

    async fn set_length(&self, id: &UploadId, length: u64) -> Result<UploadInfo, StorageError> {
        self.timed(Op::SetLength, self.inner.set_length(id, length)).await
    }

    async fn concatenate(&self, final_id: &UploadId, partials: &[UploadInfo]) -> Result<UploadInfo, StorageError> {
        self.timed(Op::Concatenate, self.inner.concatenate(final_id, partials)).await
    }

    async fn finals_waiting_for(&self, partial: &UploadId) -> Result<Vec<UploadId>, StorageError> {
        self.timed(Op::FinalsWaitingFor, self.inner.finals_waiting_for(partial)).await
    }

    async fn read(&self, id: &UploadId, range: Range<u64>) -> Result<ByteStream, StorageError> {
        self.timed(Op::Read, self.inner.read(id, range)).await
    }

    async fn remove(&self, id: &UploadId, why: Removal) -> Result<(), StorageError> {
        let removed = self.timed(Op::Remove, self.inner.remove(id, why)).await;
        if removed.is_ok() {
            match why {
                Removal::Terminated => self.metrics.uploads_terminated.inc(),
                Removal::Expired => self.metrics.uploads_expired.inc(),
            };
        }
        removed
    }

    async fn expired(&self, now: SystemTime, limit: usize) -> Result<Vec<UploadInfo>, StorageError> {
        self.timed(Op::Expired, self.inner.expired(now, limit)).await
    }

    async fn remove_leftovers(&self) -> Result<u64, StorageError> {
        self.timed(Op::RemoveLeftovers, self.inner.remove_leftovers()).await
    }

    async fn health(&self) -> Result<(), StorageError> {
        self.timed(Op::Health, self.inner.health()).await
    }
}

/// A [`Locker`] that times lock waits and counts timeouts.
pub(crate) struct InstrumentedLocker {
    inner: Arc<dyn Locker>,
    metrics: Arc<Instruments>,
}

impl InstrumentedLocker {
    pub(crate) fn wrap(inner: Arc<dyn Locker>, metrics: Arc<Instruments>) -> Arc<dyn Locker> {
        Arc::new(Self { inner, metrics })
    }

    fn count_error(&self, err: &LockError) {
        match err {
            LockError::Timeout => self.metrics.lock_timeouts.inc(),
            LockError::Unavailable(_) => self.metrics.lock_unavailable.inc(),
        };
    }
}

#[async_trait]
impl Locker for InstrumentedLocker {
    async fn lock(&self, id: &UploadId, timeout: Duration) -> Result<UploadLock, LockError> {
        let started = Instant::now();
        let result = self.inner.lock(id, timeout).await;
        self.metrics.lock_wait.observe(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            self.count_error(e);
        }
        result
    }

    async fn try_lock(&self, id: &UploadId) -> Result<Option<UploadLock>, LockError> {
        let result = self.inner.try_lock(id).await;
        if let Err(e) = &result {
            self.count_error(e);
        }
        result
    }

    async fn health(&self) -> Result<(), LockError> {
        self.inner.health().await
    }
}

/// [`Hooks`] that count calls and refusals, forwarding every method.
pub(crate) struct InstrumentedHooks {
    inner: Arc<dyn Hooks>,
    metrics: Arc<Instruments>,
}

impl InstrumentedHooks {
    pub(crate) fn wrap(inner: Arc<dyn Hooks>, metrics: Arc<Instruments>) -> Arc<dyn Hooks> {
        Arc::new(Self { inner, metrics })
    }

    fn count(&self, hook: &'static str, result: &Result<(), HookRejection>) {
        self.metrics.hook_called(hook);
        if let Err(rejection) = result {
            self.metrics.hook_refused(hook, rejection.status);
        }
    }
}

#[async_trait]
impl Hooks for InstrumentedHooks {
    async fn authorize(
        &self,
        request: &Parts,
        intent: Intent,
        upload: Option<&UploadInfo>,
    ) -> Result<(), HookRejection> {
        let result = self.inner.authorize(request, intent, upload).await;
        self.count("authorize", &result);
        result
    }

    async fn pre_create(&self, request: &Parts, plan: &mut CreatePlan) -> Result<(), HookRejection> {
        let result = self.inner.pre_create(request, plan).await;
        self.count("pre_create", &result);
        result
    }

    async fn post_create(&self, upload: &UploadInfo) {
        self.metrics.hook_called("post_create");
        self.inner.post_create(upload).await;
    }

    async fn post_receive(&self, upload: &UploadInfo) {
        self.metrics.hook_called("post_receive");
        self.inner.post_receive(upload).await;
    }

    async fn post_finish(&self, upload: &UploadInfo) {
        self.metrics.hook_called("post_finish");
        self.inner.post_finish(upload).await;
    }

    async fn pre_terminate(&self, request: &Parts, upload: &UploadInfo) -> Result<(), HookRejection> {
        let result = self.inner.pre_terminate(request, upload).await;
        self.count("pre_terminate", &result);
        result
    }

    async fn post_terminate(&self, upload: &UploadInfo) {
        self.metrics.hook_called("post_terminate");
        self.inner.post_terminate(upload).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Metadata;
    use prometheus_client::registry::Registry;
    use std::sync::Mutex;

    /// Records every call, refuses `pre_terminate` with a 503 and sets the plan's ID.
    #[derive(Default)]
    struct Recording(Mutex<Vec<&'static str>>);

    impl Recording {
        fn saw(&self, hook: &'static str) {
            self.0.lock().unwrap().push(hook);
        }
    }

    #[async_trait]
    impl Hooks for Recording {
        async fn authorize(&self, _: &Parts, _: Intent, _: Option<&UploadInfo>) -> Result<(), HookRejection> {
            self.saw("authorize");
            Err(HookRejection::forbidden("no"))
        }
        async fn pre_create(&self, _: &Parts, plan: &mut CreatePlan) -> Result<(), HookRejection> {
            self.saw("pre_create");
            plan.id = Some(UploadId::new("chosen").unwrap());
            Ok(())
        }
        async fn post_create(&self, _: &UploadInfo) {
            self.saw("post_create");
        }
        async fn post_receive(&self, _: &UploadInfo) {
            self.saw("post_receive");
        }
        async fn post_finish(&self, _: &UploadInfo) {
            self.saw("post_finish");
        }
        async fn pre_terminate(&self, _: &Parts, _: &UploadInfo) -> Result<(), HookRejection> {
            self.saw("pre_terminate");
            Err(HookRejection::new(http::StatusCode::SERVICE_UNAVAILABLE, "down"))
        }
        async fn post_terminate(&self, _: &UploadInfo) {
            self.saw("post_terminate");
        }
    }

    #[tokio::test]
    async fn every_hook_is_forwarded_with_its_outcome_and_counted() {
        let recording = Arc::new(Recording::default());
        let mut registry = Registry::default();
        let metrics = Arc::new(Instruments::register(&mut registry));
        let hooks = InstrumentedHooks::wrap(recording.clone(), metrics);
        let parts = http::Request::new(()).into_parts().0;
        let upload = UploadInfo::new(UploadId::new("u").unwrap());
        let mut plan = CreatePlan { id: None, length: Some(1), metadata: Metadata::new(), concat: None };

        assert!(hooks.authorize(&parts, Intent::Append, Some(&upload)).await.is_err());
        hooks.pre_create(&parts, &mut plan).await.unwrap();
        assert_eq!(plan.id.as_ref().map(UploadId::as_str), Some("chosen"), "the hook's change reaches the caller");
        hooks.post_create(&upload).await;
        hooks.post_receive(&upload).await;
        hooks.post_finish(&upload).await;
        let refused = hooks.pre_terminate(&parts, &upload).await.unwrap_err();
        assert_eq!(refused.status, http::StatusCode::SERVICE_UNAVAILABLE);
        hooks.post_terminate(&upload).await;

        let seen = recording.0.lock().unwrap().clone();
        let all = [
            "authorize",
            "pre_create",
            "post_create",
            "post_receive",
            "post_finish",
            "pre_terminate",
            "post_terminate",
        ];
        assert_eq!(seen, all);
        let text = crate::metrics::encode(&registry);
        for hook in all {
            assert!(text.contains(&format!("tus_hook_invocations_total{{hook=\"{hook}\"}} 1")), "{hook}: {text}");
        }
        assert!(text.contains("tus_hook_rejections_total{hook=\"authorize\"} 1"), "{text}");
        assert!(text.contains("tus_hook_failures_total{hook=\"pre_terminate\"} 1"), "{text}");
    }

    /// The wrapper passes the whole storage contract through (every method forwarded).
    #[cfg(feature = "conformance")]
    #[tokio::test]
    async fn the_instrumented_storage_conforms() {
        let mut registry = Registry::default();
        let metrics = Arc::new(Instruments::register(&mut registry));
        let storage = InstrumentedStorage::wrap(Arc::new(crate::MemoryStorage::new()), metrics);
        crate::storage::conformance::run_all(&*storage).await;
        let text = crate::metrics::encode(&registry);
        assert!(text.contains("tus_uploads_in_progress 0"), "every append ended: {text}");
        for op in ["create", "info", "append", "set_length", "concatenate", "finals_waiting_for", "read", "remove"] {
            assert!(text.contains(&format!("tus_storage_operation_seconds_count{{op=\"{op}\"}}")), "{op}: {text}");
        }
    }
}
