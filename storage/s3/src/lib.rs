//! # tus-s3
//!
//! A [`Storage`] backend for [tus-core](tus_core) on Amazon S3 and S3-compatible stores,
//! built on the official [`aws_sdk_s3`].
//!
//! - **One multipart upload per tus upload.** PATCH bodies stream into parts as they
//!   arrive; up to `part_concurrency` parts upload at once, and the body waits while they
//!   do (back-pressure), so an upload buffers at most `part_size × (part_concurrency + 1)`
//!   bytes. Part buffers live in memory while a global budget
//!   ([`S3StorageBuilder::max_buffered_bytes`]) allows, and in temporary files otherwise.
//! - **Part sizes fit S3's limits.** A known `Upload-Length` gets one part size, large
//!   enough that 10,000 parts hold it; a deferred length starts at the preferred size and
//!   doubles every 900 parts. [`S3StorageBuilder::fixed_part_size`] makes every part the
//!   same size for stores that need it.
//! - **Bytes below a part** (a PATCH that ends mid-part) go to an incomplete-part object,
//!   read back in front of the next PATCH's body.
//! - **Checkpoints**: a long PATCH without a checksum commits the parts uploaded so far
//!   about every two seconds, so a crash mid-PATCH loses little.
//! - **State in one info object** (offset, multipart upload ID, parts and ETags, metadata,
//!   length, concatenation, expiry): HEAD is one GET, the hot path never lists parts, and
//!   every change is a conditional PUT (`If-Match` on the ETag, `If-None-Match: *` on
//!   creation), so two writers never both apply at the same offset.
//! - **Concatenation on S3's side** with UploadPartCopy; partials below the minimum part
//!   size pass through the server in one part-sized buffer.
//! - **Downloads** stream with `Range`. **Termination** writes a tombstone, aborts the
//!   multipart upload and deletes every object. [`Storage::remove_leftovers`] (the
//!   janitor's, once per pass) aborts stale multipart uploads that no upload refers to (see
//!   [`S3StorageBuilder::stale_multipart_after`]).
//!
//! Objects, for an upload `ID` under the prefix `P`:
//!
//! ```text
//! P + ID                     the upload's bytes, once complete (the multipart upload's key)
//! P + .tus/info/ID           its state (JSON); a tombstone after removal
//! P + .tus/part/ID/TOKEN     the bytes after the last full part, while incomplete
//! ```
//!
//! ```no_run
//! use tus_s3::{S3Storage, client_from_env};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_S3 …
//! let client = client_from_env()?;
//! let storage = S3Storage::builder(client, "uploads").prefix("tus/").part_size(16 << 20).build()?;
//! storage.check().await?; // fails early on a missing bucket or bad credentials
//! let layer = tus_core::TusLayer::new(storage);
//! # drop(layer);
//! # Ok(())
//! # }
//! ```

mod buffer;
mod concat;
mod config;
mod error;
#[cfg(feature = "moto")]
pub mod moto;
mod objects;
mod sizing;
mod state;
mod write;

pub use aws_sdk_s3;
pub use config::{S3Connection, S3SetupError, client_from_env};
pub use sizing::{S3_MAX_OBJECT_SIZE, S3_MAX_PART_SIZE, S3_MAX_PARTS, S3_MIN_PART_SIZE};

use crate::buffer::BufferPool;
use crate::objects::{Condition, Objects};
use crate::sizing::Sizing;
use crate::state::{S3Fields, UploadState};
use async_trait::async_trait;
use bytes::Bytes;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tus_core::storage::ByteStream;
use tus_core::{
    AppendOptions, ChunkStream, NewUpload, Removal, Storage, StorageError, StorageFeatures, UploadId, UploadInfo,
};

/// The default preferred part size: 8 MiB.
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// The default number of parts one append uploads at once.
pub const DEFAULT_PART_CONCURRENCY: usize = 4;
/// The default cap on part bytes buffered in memory, over all uploads: 256 MiB.
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 256 << 20;

/// Uploads stored in an S3 bucket. Cheap to clone (the clones share everything).
#[derive(Debug, Clone)]
pub struct S3Storage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    objects: Objects,
    pool: BufferPool,
    sizing: Sizing,
    min_part_size: u64,
    concurrency: usize,
    stale_multipart_after: Option<Duration>,
}

/// Configures an [`S3Storage`]; made by [`S3Storage::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct S3StorageBuilder {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    part_size: u64,
    fixed_part_size: bool,
    part_concurrency: usize,
    min_part_size: u64,
    max_buffered_bytes: u64,
    temp_dir: Option<PathBuf>,
    stale_multipart_after: Option<Duration>,
}

impl S3StorageBuilder {
    /// A prefix for every key (e.g. `"uploads/"`); empty by default.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The preferred part size ([`DEFAULT_PART_SIZE`] by default). Uploads whose length
    /// needs more than 10,000 parts of this size get larger parts.
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes;
        self
    }

    /// Makes every part exactly [`part_size`](Self::part_size) bytes (but the last), for
    /// stores that require equal parts. Uploads are then limited to 10,000 parts
    /// ([`S3Storage::max_upload_size`]).
    pub fn fixed_part_size(mut self, fixed: bool) -> Self {
        self.fixed_part_size = fixed;
        self
    }

    /// How many parts one append uploads at once ([`DEFAULT_PART_CONCURRENCY`] by default).
    pub fn part_concurrency(mut self, parts: usize) -> Self {
        self.part_concurrency = parts;
        self
    }

    /// The store's smallest part ([`S3_MIN_PART_SIZE`] by default); lower it only for
    /// emulators configured with a smaller minimum.
    pub fn min_part_size(mut self, bytes: u64) -> Self {
        self.min_part_size = bytes;
        self
    }

    /// The cap on part bytes held in memory by all uploads together
    /// ([`DEFAULT_MAX_BUFFERED_BYTES`] by default); parts beyond it are buffered in
    /// temporary files.
    pub fn max_buffered_bytes(mut self, bytes: u64) -> Self {
        self.max_buffered_bytes = bytes;
        self
    }

    /// Where parts beyond the memory budget are buffered (the system's temporary
    /// directory by default).
    pub fn temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }

    /// Multipart uploads and incomplete-part objects under the prefix that no live upload
    /// refers to and that are older than this are removed by [`Storage::remove_leftovers`]
    /// (so by the janitor); 24 hours by default, `None` to keep them.
    pub fn stale_multipart_after(mut self, after: Option<Duration>) -> Self {
        self.stale_multipart_after = after;
        self
    }

    /// Checks the options and makes the storage (no request is sent; see
    /// [`S3Storage::check`]).
    pub fn build(self) -> Result<S3Storage, S3SetupError> {
        let invalid = |what: String| Err(S3SetupError::InvalidOption(what));
        if self.bucket.is_empty() {
            return invalid("the bucket name is empty".into());
        }
        if self.min_part_size == 0 || self.min_part_size > S3_MAX_PART_SIZE {
            return invalid(format!("the minimum part size {} is out of range", self.min_part_size));
        }
        if self.part_size < self.min_part_size || self.part_size > S3_MAX_PART_SIZE {
            return invalid(format!(
                "the part size {} must be between the minimum part size {} and 5 GiB",
                self.part_size, self.min_part_size
            ));
        }
        if self.part_concurrency == 0 {
            return invalid("the part concurrency must be at least 1".into());
        }
        let temp_dir = self.temp_dir.unwrap_or_else(std::env::temp_dir);
        Ok(S3Storage {
            inner: Arc::new(Inner {
                objects: Objects { client: self.client, bucket: self.bucket, prefix: self.prefix },
                pool: BufferPool::new(self.max_buffered_bytes, temp_dir),
                sizing: Sizing { part_size: self.part_size, fixed: self.fixed_part_size },
                min_part_size: self.min_part_size,
                concurrency: self.part_concurrency,
                stale_multipart_after: self.stale_multipart_after,
            }),
        })
    }
}

impl S3Storage {
    /// A builder for uploads in `bucket`, sent through `client` (see [`client_from_env`]).
    pub fn builder(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> S3StorageBuilder {
        S3StorageBuilder {
            client,
            bucket: bucket.into(),
            prefix: String::new(),
            part_size: DEFAULT_PART_SIZE,
            fixed_part_size: false,
            part_concurrency: DEFAULT_PART_CONCURRENCY,
            min_part_size: S3_MIN_PART_SIZE,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            temp_dir: None,
            stale_multipart_after: Some(Duration::from_secs(24 * 3600)),
        }
    }

    /// Checks that the bucket exists and the credentials may use it: one HeadBucket.
    pub async fn check(&self) -> Result<(), S3SetupError> {
        self.inner.objects.check_bucket().await.map_err(S3SetupError::Bucket)
    }

    /// The largest upload this storage can hold (smaller with fixed part sizes).
    pub fn max_upload_size(&self) -> u64 {
        self.inner.sizing.max_upload_size()
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.objects.bucket
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.objects.prefix
    }

    /// The key of the object holding a complete upload's bytes.
    pub fn data_key(&self, id: &UploadId) -> String {
        self.inner.objects.data_key(id.as_str())
    }

    /// Aborts the multipart uploads under the prefix that started before `now - older_than`
    /// and that no live upload refers to (left by crashed or abandoned writers); returns
    /// how many were aborted.
    pub async fn abort_stale_multipart_uploads(&self, older_than: Duration) -> Result<usize, StorageError> {
        let objects = &self.inner.objects;
        let cutoff = SystemTime::now().checked_sub(older_than).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut aborted = 0;
        for upload in objects.list_multipart().await? {
            let Some(id) = upload.key.strip_prefix(&objects.prefix).filter(|id| !id.contains('/')) else {
                continue;
            };
            if upload.initiated.is_some_and(|at| at > cutoff) {
                continue;
            }
            let referenced = match objects.read_state(id).await? {
                Some((state, _)) => {
                    !state.removed && state.backend.multipart.as_deref() == Some(upload.upload_id.as_str())
                }
                None => false,
            };
            if !referenced {
                objects.abort_multipart(&upload.key, &upload.upload_id).await?;
                tracing::info!(key = %upload.key, "aborted a stale multipart upload");
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    /// Deletes the incomplete-part objects older than `older_than` that no live upload
    /// refers to (left when a writer crashed between storing one and committing it);
    /// returns how many were deleted.
    pub async fn delete_stale_incomplete_parts(&self, older_than: Duration) -> Result<usize, StorageError> {
        let objects = &self.inner.objects;
        let cutoff = SystemTime::now().checked_sub(older_than).unwrap_or(SystemTime::UNIX_EPOCH);
        let prefix = objects.incomplete_prefix();
        let mut deleted = 0;
        for (key, modified) in objects.list_with_times(&prefix).await? {
            if modified.is_some_and(|at| at > cutoff) {
                continue;
            }
            let Some((id, token)) = key[prefix.len()..].split_once('/') else { continue };
            let referenced = match objects.read_state(id).await? {
                Some((state, _)) => !state.removed && state.backend.incomplete.is_some_and(|i| i.token == token),
                None => false,
            };
            if !referenced {
                objects.delete(&key).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    pub(crate) fn objects(&self) -> &Objects {
        &self.inner.objects
    }

    pub(crate) fn pool(&self) -> &BufferPool {
        &self.inner.pool
    }

    pub(crate) fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    pub(crate) fn min_part_size(&self) -> u64 {
        self.inner.min_part_size
    }

    /// The state of a live upload and its ETag: `NotFound` or `Gone` otherwise.
    pub(crate) async fn live_state(&self, id: &str) -> Result<(UploadState, String), StorageError> {
        match self.inner.objects.read_state(id).await? {
            None => Err(StorageError::NotFound),
            Some((state, _)) if state.removed => Err(StorageError::Gone),
            Some(found) => Ok(found),
        }
    }

    /// The states of every upload (tombstones included), one GET each.
    async fn all_states(&self) -> Result<Vec<UploadState>, StorageError> {
        let objects = &self.inner.objects;
        let mut states = Vec::new();
        for key in objects.list(&objects.info_prefix()).await? {
            if let Some((state, _)) = objects.read_state_at(&key).await? {
                states.push(state);
            }
        }
        Ok(states)
    }
}

/// A random token for object names: 16 hex digits.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 8];
    // Without an OS random source, fall back on the clock: tokens only need to differ.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        bytes = (nanos as u64).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl Storage for S3Storage {
    fn features(&self) -> StorageFeatures {
        StorageFeatures::ALL
    }

    async fn create(&self, upload: NewUpload) -> Result<UploadInfo, StorageError> {
        if let Some(length) = upload.length {
            let max = self.max_upload_size();
            if length > max {
                return Err(StorageError::other(format!(
                    "{length} bytes exceed this storage's largest upload ({max})"
                )));
            }
        }
        let (part_size, growing) = self.inner.sizing.plan(upload.length);
        let mut state = UploadState::new(&upload, S3Fields::new(part_size, growing));
        let objects = &self.inner.objects;
        if upload.length == Some(0) {
            // Complete at creation: its (empty) object exists from the start. Refuse a
            // taken ID before touching the object.
            if objects.read_state(upload.id.as_str()).await?.is_some() {
                return Err(StorageError::AlreadyExists);
            }
            objects.put(&objects.data_key(upload.id.as_str()), Default::default(), 0).await?;
            state.backend.completed = true;
        }
        match objects.write_state(&state, Condition::Absent).await {
            Ok(_) => state.to_info(),
            Err(error::Failure::Conflict) => Err(StorageError::AlreadyExists),
            Err(other) => Err(other.into()),
        }
    }

    async fn info(&self, id: &UploadId) -> Result<UploadInfo, StorageError> {
        self.live_state(id.as_str()).await?.0.to_info()
    }

    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<UploadInfo, StorageError> {
        write::append(self, id.as_str(), offset, data, options).await
    }

    async fn set_length(&self, id: &UploadId, length: u64) -> Result<UploadInfo, StorageError> {
        let (state, etag) = self.live_state(id.as_str()).await?;
        if state.length.is_some() {
            return Err(StorageError::LengthAlreadySet);
        }
        let mut next = state.clone();
        next.length = Some(length);
        if length == state.offset && !state.backend.completed {
            let written = write::complete_from_incomplete(self, &state).await?;
            write::apply(&mut next, written, state.offset);
            let info = write::commit_state(self, &state, next, &etag).await?;
            if let Some(old) = &state.backend.incomplete {
                let objects = &self.inner.objects;
                objects.delete_quietly(&objects.incomplete_key(&state.id, &old.token)).await;
            }
            return Ok(info);
        }
        write::commit_state(self, &state, next, &etag).await
    }

    async fn concatenate(&self, final_id: &UploadId, partials: &[UploadInfo]) -> Result<UploadInfo, StorageError> {
        let (state, etag) = self.live_state(final_id.as_str()).await?;
        if state.offset > 0 || state.backend.completed {
            return Err(StorageError::AlreadyExists);
        }
        let total = concat::assemble(self, final_id.as_str(), partials).await?;
        let mut next = state.clone();
        next.offset = total;
        next.length = Some(total);
        next.backend.completed = true;
        match write::commit_state(self, &state, next, &etag).await {
            Err(StorageError::OffsetMismatch { .. }) => Err(StorageError::AlreadyExists),
            other => other,
        }
    }

    async fn finals_waiting_for(&self, partial: &UploadId) -> Result<Vec<UploadId>, StorageError> {
        let mut finals = Vec::new();
        for state in self.all_states().await? {
            if state.waits_for(partial.as_str()) {
                finals.push(state.to_info()?.id);
            }
        }
        Ok(finals)
    }

    async fn read(&self, id: &UploadId, range: Range<u64>) -> Result<ByteStream, StorageError> {
        let (state, _) = self.live_state(id.as_str()).await?;
        let end = range.end.min(state.offset);
        if range.start >= end {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        if !state.backend.completed {
            return Err(StorageError::other("the upload is not complete"));
        }
        let objects = &self.inner.objects;
        let body =
            objects.get(&objects.data_key(id.as_str()), Some(range.start..end)).await.map_err(
                |failure| match failure {
                    error::Failure::NotFound => StorageError::other("the upload's object is missing"),
                    other => other.into(),
                },
            )?;
        let stream = futures_util::stream::unfold(Some(body), |body| async move {
            let mut body = body?;
            match body.next().await {
                Some(Ok(bytes)) => Some((Ok::<Bytes, std::io::Error>(bytes), Some(body))),
                Some(Err(e)) => Some((Err(std::io::Error::other(e)), None)),
                None => None,
            }
        });
        Ok(Box::pin(stream))
    }

    async fn remove(&self, id: &UploadId, _why: Removal) -> Result<(), StorageError> {
        let objects = &self.inner.objects;
        // Retry when a writer commits between our read and our tombstone.
        for _ in 0..5 {
            let (state, etag) = self.live_state(id.as_str()).await?;
            let mut tombstone = state.clone();
            tombstone.removed = true;
            tombstone.backend.multipart = None;
            tombstone.backend.parts.clear();
            tombstone.backend.incomplete = None;
            match objects.write_state(&tombstone, Condition::Unchanged(&etag)).await {
                Ok(_) => {}
                Err(error::Failure::Conflict) => continue,
                Err(other) => return Err(other.into()),
            }
            let key = objects.data_key(id.as_str());
            if let Some(upload_id) = &state.backend.multipart {
                objects.abort_multipart(&key, upload_id).await?;
            }
            if let Some(incomplete) = &state.backend.incomplete {
                objects.delete(&objects.incomplete_key(id.as_str(), &incomplete.token)).await?;
            }
            objects.delete(&key).await?;
            return Ok(());
        }
        Err(StorageError::Unavailable("the upload kept changing while it was being removed".into()))
    }

    /// Aborts the stale multipart uploads and deletes the stale incomplete parts (older
    /// than [`S3StorageBuilder::stale_multipart_after`]; nothing when that is `None`).
    async fn remove_leftovers(&self) -> Result<u64, StorageError> {
        let Some(after) = self.inner.stale_multipart_after else { return Ok(0) };
        let aborted = self.abort_stale_multipart_uploads(after).await?;
        let deleted = self.delete_stale_incomplete_parts(after).await?;
        if aborted + deleted > 0 {
            tracing::info!(aborted, deleted, "aborted stale multipart uploads, deleted stale incomplete parts");
        }
        Ok((aborted + deleted) as u64)
    }

    async fn expired(&self, now: SystemTime, limit: usize) -> Result<Vec<UploadInfo>, StorageError> {
        let mut expired = Vec::new();
        if limit == 0 {
            return Ok(expired);
        }
        for state in self.all_states().await? {
            if state.removed {
                continue;
            }
            let info = state.to_info()?;
            if info.is_expired(now) {
                expired.push(info);
                if expired.len() == limit {
                    break;
                }
            }
        }
        Ok(expired)
    }
}
