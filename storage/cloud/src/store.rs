//! The info object as a record store with conditional writes, and the storage operations
//! that are nothing but reads and conditional writes of it, the same on every backend.
//!
//! Each backend keeps an upload's [`UploadRecord`] in one object and changes it only with
//! a write conditioned on the version it read (GCS: the generation; Azure: the ETag; "must
//! not exist" for a new upload). So of two writers that read the same record, one wins and
//! the other learns it lost; the functions here turn that into the storage errors tus-core
//! expects ([`StorageError::AlreadyExists`], [`StorageError::OffsetMismatch`],
//! [`StorageError::LengthAlreadySet`]).

use crate::{BackendFields, ListingKeys, UploadRecord};
use async_trait::async_trait;
use std::collections::HashMap;
use std::time::SystemTime;
use tus_core::{NewUpload, StorageError, UploadId, UploadInfo};

/// A test on the listing metadata of an info object.
pub type MetadataFilter<'a> = &'a (dyn Fn(&HashMap<String, String>) -> bool + Sync);
/// A test on a record read back.
pub type RecordFilter<'a, B> = &'a (dyn Fn(&UploadRecord<B>) -> bool + Sync);

/// How often a removal retries its tombstone when a concurrent change moved the record.
const TOMBSTONE_ATTEMPTS: usize = 5;

/// Where a backend keeps its upload records, written only conditionally.
#[async_trait]
pub trait RecordStore<B>: Sync {
    /// What a conditional write compares: the version of the record that was read.
    type Version: Send + Sync;

    /// The live record of an upload and its version: [`StorageError::NotFound`] when
    /// there is none, [`StorageError::Gone`] for a tombstone.
    async fn load_record(&self, id: &UploadId) -> Result<(UploadRecord<B>, Self::Version), StorageError>;

    /// Writes `record` if the stored one is still at `expected` (`None`: if there is none
    /// yet). `Ok(None)` when the condition failed: someone else wrote first.
    async fn store_record(
        &self,
        id: &UploadId,
        record: &UploadRecord<B>,
        expected: Option<&Self::Version>,
    ) -> Result<Option<Self::Version>, StorageError>;

    /// The names this backend gives the listing metadata of its info objects.
    fn listing_keys(&self) -> ListingKeys;

    /// At most `limit` live records whose info object's listing metadata passes `wanted`
    /// and which then pass `keep`, read as the backend lists its info objects.
    async fn scan_records(
        &self,
        wanted: MetadataFilter<'_>,
        keep: RecordFilter<'_, B>,
        limit: usize,
    ) -> Result<Vec<UploadRecord<B>>, StorageError>;
}

/// Writes the record of a new upload; an upload with this ID is [`StorageError::AlreadyExists`].
///
/// # Errors
/// That, or the store's error.
pub async fn create<B, S>(store: &S, upload: &NewUpload, fields: B) -> Result<UploadInfo, StorageError>
where
    B: BackendFields + Sync,
    S: RecordStore<B> + ?Sized,
{
    let record = UploadRecord::new(upload, fields);
    match store.store_record(&upload.id, &record, None).await? {
        Some(_) => record.to_info(),
        None => Err(StorageError::AlreadyExists),
    }
}

/// The record of an upload that must be at `offset` (the start of an append).
///
/// # Errors
/// [`StorageError::OffsetMismatch`] when it is elsewhere, or the store's error.
pub async fn load_at<B, S>(store: &S, id: &UploadId, offset: u64) -> Result<(UploadRecord<B>, S::Version), StorageError>
where
    B: Send,
    S: RecordStore<B> + ?Sized,
{
    let (record, version) = store.load_record(id).await?;
    if record.offset != offset {
        return Err(StorageError::OffsetMismatch { actual: record.offset });
    }
    Ok((record, version))
}

/// Sets the length of a deferred-length upload; returns the record as written.
///
/// # Errors
/// [`StorageError::LengthAlreadySet`] when it was set already (also by a writer that won
/// the race), [`StorageError::OffsetMismatch`] when another change won it, or the store's
/// error.
pub async fn set_length<B, S>(
    store: &S,
    id: &UploadId,
    length: u64,
) -> Result<(UploadRecord<B>, S::Version), StorageError>
where
    B: Send + Sync,
    S: RecordStore<B> + ?Sized,
{
    let (mut record, version) = store.load_record(id).await?;
    if record.length.is_some() {
        return Err(StorageError::LengthAlreadySet);
    }
    record.length = Some(length);
    match store.store_record(id, &record, Some(&version)).await? {
        Some(version) => Ok((record, version)),
        None => Err(match store.load_record(id).await {
            Ok((now, _)) if now.length.is_some() => StorageError::LengthAlreadySet,
            Ok((now, _)) => StorageError::OffsetMismatch { actual: now.offset },
            Err(e) => e,
        }),
    }
}

/// The error a change that lost its conditional write reports: where the upload is now.
pub async fn lost_race<B, S>(store: &S, id: &UploadId) -> StorageError
where
    B: Send,
    S: RecordStore<B> + ?Sized,
{
    match store.load_record(id).await {
        Ok((record, _)) => StorageError::OffsetMismatch { actual: record.offset },
        Err(e) => e,
    }
}

/// The unfinished final uploads that list `partial` among their partials.
///
/// # Errors
/// The store's error.
pub async fn finals_waiting_for<B, S>(store: &S, partial: &UploadId) -> Result<Vec<UploadId>, StorageError>
where
    B: Send,
    S: RecordStore<B> + ?Sized,
{
    let key = store.listing_keys().waiting_final;
    let records = store
        .scan_records(&|meta| meta.contains_key(key), &|record| record.waits_for(partial.as_str()), usize::MAX)
        .await?;
    records.iter().map(|record| record.to_info().map(|info| info.id)).collect()
}

/// At most `limit` live, unfinished uploads whose expiry is at or before `now`.
///
/// # Errors
/// The store's error.
pub async fn expired<B, S>(store: &S, now: SystemTime, limit: usize) -> Result<Vec<UploadInfo>, StorageError>
where
    B: Send,
    S: RecordStore<B> + ?Sized,
{
    if limit == 0 {
        return Ok(Vec::new());
    }
    let now_ms = crate::record::millis(now);
    let key = store.listing_keys().expires_ms;
    let listed_expired = |meta: &HashMap<String, String>| {
        meta.get(key).and_then(|v| v.parse::<u64>().ok()).is_some_and(|at| at <= now_ms)
    };
    let expired =
        |record: &UploadRecord<B>| record.expires_at_ms.is_some_and(|at| at <= now_ms) && !record.is_complete();
    let records = store.scan_records(&listed_expired, &expired, limit).await?;
    records.iter().map(UploadRecord::to_info).collect()
}

/// Turns the record of `id` into a tombstone, `clear` emptying the backend's fields (what
/// referred to the bytes), retrying when a concurrent change moved the record. After it,
/// nothing refers to the upload's objects: the caller deletes them.
///
/// # Errors
/// The store's error, or [`StorageError::Unavailable`] when the record kept changing.
pub async fn tombstone<B, S>(store: &S, id: &UploadId, clear: impl Fn(&mut B) + Send + Sync) -> Result<(), StorageError>
where
    B: Send + Sync,
    S: RecordStore<B> + ?Sized,
{
    for _ in 0..TOMBSTONE_ATTEMPTS {
        let (mut record, version) = store.load_record(id).await?;
        record.removed = true;
        clear(&mut record.backend);
        if store.store_record(id, &record, Some(&version)).await?.is_some() {
            return Ok(());
        }
    }
    Err(StorageError::Unavailable(format!("upload {id} kept changing while it was being removed").into()))
}
