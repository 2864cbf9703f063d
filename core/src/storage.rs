//! The storage abstraction: where uploads and their bytes live.
//!
//! A backend implements [`Storage`]. The trait is dyn-compatible (the service
//! holds an `Arc<dyn Storage>`), receives request bodies as a [`ChunkStream`]
//! so that no backend ever needs a whole chunk in memory, and keeps the
//! protocol out of the backend: the service validates every request before it
//! calls the storage, and hashes the stream itself.
//!
//! # Contract
//! - [`Storage::append`] stores the bytes at `offset` and advances the offset with a
//!   compare-and-set: when the stored offset is not `offset` any more it fails with
//!   [`StorageError::OffsetMismatch`] and stores nothing. The new offset is committed only
//!   after the bytes it covers are stored (durably, if the backend promises durability).
//! - When the stream yields an error, [`AppendOptions::atomic`] decides: atomic appends
//!   (checksummed chunks) commit nothing; others commit every byte received before the error.
//! - [`Storage::info`] reads committed state only and never waits for a writer.
//! - An atomic append whose stream failed returns `Ok` with the unchanged state (the service
//!   reads the stream's error itself and answers 460, 413, …); `Err` is for storage failures.
//! - A backend may commit a long non-atomic append in steps (checkpoints), so that a crash
//!   loses little; when the `append` future is dropped, nothing past the last step is committed.
//! - [`Storage::remove`] leaves a tombstone so that later requests get 410 instead of 404,
//!   and [`Storage::create`] over a tombstone fails with [`StorageError::AlreadyExists`].
//! - [`Storage::concatenate`] fails with [`StorageError::AlreadyExists`] once the final holds
//!   bytes (offset > 0); a zero-length final is complete at creation and never assembled.
//! - [`Storage::finals_waiting_for`] lists each unfinished, live final once.
//! - [`Storage::create_with_upload`] (creation-with-upload) behaves as `create` followed by an
//!   `append` at 0 (its default does exactly that); a backend that does it in one step must
//!   not let the upload be seen before its record exists, nor record bytes before they are stored.

mod chunks;
#[cfg(feature = "conformance")]
pub mod conformance;
mod memory;

pub use chunks::{BodyError, ChunkStream};
pub use memory::MemoryStorage;

use crate::error::StorageError;
use crate::id::UploadId;
use crate::metadata::Metadata;
use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use std::ops::Range;
use std::pin::Pin;
use std::time::SystemTime;

/// The bytes of a download, as a stream.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + 'static>>;

/// The role of an upload in the concatenation extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Concat {
    /// A partial upload, meant to become part of a final upload.
    Partial,
    /// A final upload: the concatenation of these partial uploads, in order.
    Final(Vec<UploadId>),
}

/// The committed state of one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadInfo {
    /// The upload's ID.
    pub id: UploadId,
    /// How many bytes are stored.
    pub offset: u64,
    /// The total length, when known (`None` while a deferred length is not declared,
    /// or while a final upload's partials have unknown lengths).
    pub length: Option<u64>,
    /// The metadata given at creation (possibly changed by a `pre_create` hook).
    pub metadata: Metadata,
    /// Partial or final, for the concatenation extension.
    pub concat: Option<Concat>,
    /// When the upload was created.
    pub created_at: SystemTime,
    /// When an unfinished upload expires, if the expiration extension is on.
    pub expires_at: Option<SystemTime>,
}

impl UploadInfo {
    /// A new, empty upload.
    pub fn new(id: UploadId) -> Self {
        Self {
            id,
            offset: 0,
            length: None,
            metadata: Metadata::new(),
            concat: None,
            created_at: SystemTime::now(),
            expires_at: None,
        }
    }

    /// The state a backend should store for a new upload.
    pub fn from_new(upload: &NewUpload) -> Self {
        Self {
            id: upload.id.clone(),
            offset: 0,
            length: upload.length,
            metadata: upload.metadata.clone(),
            concat: upload.concat.clone(),
            created_at: SystemTime::now(),
            expires_at: upload.expires_at,
        }
    }

    /// Whether every byte is stored.
    pub fn is_complete(&self) -> bool {
        self.length == Some(self.offset)
    }

    /// Whether this is a partial upload of a concatenation.
    pub fn is_partial(&self) -> bool {
        matches!(self.concat, Some(Concat::Partial))
    }

    /// Whether this is the final upload of a concatenation.
    pub fn is_final(&self) -> bool {
        matches!(self.concat, Some(Concat::Final(_)))
    }

    /// Whether the upload is unfinished and its expiry time has passed.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        !self.is_complete() && self.expires_at.is_some_and(|at| at <= now)
    }
}

/// What the service asks a backend to create.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewUpload {
    /// The ID, unique in this storage.
    pub id: UploadId,
    /// The length, if known.
    pub length: Option<u64>,
    /// The metadata.
    pub metadata: Metadata,
    /// Partial or final. A final is created empty and filled by [`Storage::concatenate`].
    pub concat: Option<Concat>,
    /// The expiry time, if the expiration extension is on.
    pub expires_at: Option<SystemTime>,
}

impl NewUpload {
    /// A plain upload with no length, metadata, concatenation or expiry yet.
    pub fn new(id: UploadId) -> Self {
        Self { id, length: None, metadata: Metadata::new(), concat: None, expires_at: None }
    }

    /// Sets the length.
    pub fn with_length(mut self, length: Option<u64>) -> Self {
        self.length = length;
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the concatenation role.
    pub fn with_concat(mut self, concat: Option<Concat>) -> Self {
        self.concat = concat;
        self
    }

    /// Sets the expiry time.
    pub fn with_expires_at(mut self, expires_at: Option<SystemTime>) -> Self {
        self.expires_at = expires_at;
        self
    }
}

/// How one append behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AppendOptions {
    /// All or nothing: when the stream fails (a checksum mismatch, a dropped connection
    /// during a checksummed chunk), commit nothing. Otherwise commit what arrived.
    pub atomic: bool,
    /// A new expiry time to store with the new offset (sliding expiration).
    pub expires_at: Option<SystemTime>,
}

impl AppendOptions {
    /// Non-atomic, no expiry change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`AppendOptions::atomic`].
    pub fn atomic(mut self, atomic: bool) -> Self {
        self.atomic = atomic;
        self
    }

    /// Sets [`AppendOptions::expires_at`].
    pub fn expires_at(mut self, expires_at: Option<SystemTime>) -> Self {
        self.expires_at = expires_at;
        self
    }
}

/// Why an upload is removed; backends keep a tombstone either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Removal {
    /// The client sent DELETE (termination extension).
    Terminated,
    /// The janitor found it expired.
    Expired,
}

/// Which optional operations a backend supports; the service advertises only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageFeatures {
    /// [`Storage::concatenate`] works.
    pub concatenation: bool,
    /// [`Storage::finals_waiting_for`] works, so finals may name unfinished partials.
    pub concatenation_unfinished: bool,
    /// [`Storage::read`] works (GET downloads).
    pub read: bool,
}

impl StorageFeatures {
    /// Everything supported.
    pub const ALL: Self = Self { concatenation: true, concatenation_unfinished: true, read: true };
    /// Only the core protocol.
    pub const NONE: Self = Self { concatenation: false, concatenation_unfinished: false, read: false };
}

/// The outcome of [`Storage::create_with_upload`]: the upload exists.
#[derive(Debug)]
#[non_exhaustive]
pub struct CreatedWithUpload {
    /// The upload as created, before any byte of the body.
    pub created: UploadInfo,
    /// The committed state after the body, or why storing it failed.
    pub stored: Result<UploadInfo, StorageError>,
}

impl CreatedWithUpload {
    /// The outcome for an upload created as `created` whose body gave `stored`.
    pub fn new(created: UploadInfo, stored: Result<UploadInfo, StorageError>) -> Self {
        Self { created, stored }
    }
}

/// A place to keep uploads. See the [module docs](self) for the contract.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Which optional operations this backend supports.
    fn features(&self) -> StorageFeatures;

    /// Creates an empty upload. Fails with [`StorageError::AlreadyExists`] if the ID is taken.
    async fn create(&self, upload: NewUpload) -> Result<UploadInfo, StorageError>;

    /// Reads the committed state of an upload.
    async fn info(&self, id: &UploadId) -> Result<UploadInfo, StorageError>;

    /// Appends the stream at `offset` (see the module docs) and returns the new state.
    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<UploadInfo, StorageError>;

    /// Creates an upload and stores the first bytes of its body (creation-with-upload).
    ///
    /// `Err` means that no upload was created. `Ok` holds the upload as created and what
    /// storing the body gave, with the same rules as [`append`](Storage::append) at offset 0
    /// (a failure there leaves the upload in place, at the offset it committed).
    ///
    /// The default creates, then appends. A backend may do both in one step: write the
    /// bytes first, then record the upload with its offset in one commit, as long as no
    /// request can see the upload before its record exists.
    async fn create_with_upload(
        &self,
        upload: NewUpload,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<CreatedWithUpload, StorageError> {
        let created = self.create(upload).await?;
        let stored = self.append(&created.id, 0, data, options).await;
        Ok(CreatedWithUpload::new(created, stored))
    }

    /// Declares the length of a deferred-length upload. Fails with
    /// [`StorageError::LengthAlreadySet`] when a length is set already.
    async fn set_length(&self, id: &UploadId, length: u64) -> Result<UploadInfo, StorageError>;

    /// Fills the final upload `final_id` (created with [`Concat::Final`]) with the bytes of
    /// `partials`, in order, and marks it complete. Every partial is complete. Backends copy
    /// on their side (kernel copy, UploadPartCopy, compose, block lists), not through memory.
    /// Fails with [`StorageError::AlreadyExists`] when the final is complete already.
    async fn concatenate(&self, final_id: &UploadId, partials: &[UploadInfo]) -> Result<UploadInfo, StorageError> {
        let _ = (final_id, partials);
        Err(StorageError::NotSupported("concatenation"))
    }

    /// The unfinished final uploads that name `partial` (for concatenation-unfinished).
    async fn finals_waiting_for(&self, partial: &UploadId) -> Result<Vec<UploadId>, StorageError> {
        let _ = partial;
        Err(StorageError::NotSupported("concatenation-unfinished"))
    }

    /// Streams `range` of a complete upload's bytes.
    async fn read(&self, id: &UploadId, range: Range<u64>) -> Result<ByteStream, StorageError> {
        let _ = (id, range);
        Err(StorageError::NotSupported("download"))
    }

    /// Removes an upload and its bytes, leaving a tombstone.
    async fn remove(&self, id: &UploadId, why: Removal) -> Result<(), StorageError>;

    /// Up to `limit` unfinished uploads whose expiry time is at or before `now`. A query:
    /// it changes nothing (the janitor also calls it in a dry run).
    async fn expired(&self, now: SystemTime, limit: usize) -> Result<Vec<UploadInfo>, StorageError>;

    /// Removes what interrupted writes left behind that no upload refers to (S3: stale
    /// multipart uploads and incomplete parts) and returns how many objects went. The
    /// janitor calls it once per pass, never in a dry run. The default has nothing to do.
    async fn remove_leftovers(&self) -> Result<u64, StorageError> {
        Ok(0)
    }

    /// Whether the backend can serve requests right now, for readiness probes: a cheap
    /// round trip (a trivial query, a PING). The default says yes.
    async fn health(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
