//! PATCH: append data at the upload's offset. Also the append step of creation-with-upload.

use super::{add_expires, check_not_expired, empty, insert_u64, lock_failed, rejected};
use crate::body::ResponseBody;
use crate::checksum::UploadChecksum;
use crate::config::Extension;
use crate::error::{BoxError, StorageError, TusError};
use crate::headers::{self, UPLOAD_OFFSET};
use crate::hooks::Intent;
use crate::id::UploadId;
use crate::incoming::{BodyRules, ChecksumCheck, chunk_stream};
use crate::lock::UploadLock;
use crate::service::Shared;
use crate::storage::ChunkStream;
use crate::storage::{AppendOptions, BodyError, UploadInfo};
use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use std::sync::Arc;
use std::time::SystemTime;

pub(super) async fn handle<B>(
    shared: &Arc<Shared>,
    parts: &Parts,
    id: UploadId,
    body: B,
) -> Result<Response<ResponseBody>, TusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let snapshot = shared.storage.info(&id).await?;
    check_not_expired(&snapshot)?;
    shared.hooks.authorize(parts, Intent::Append, Some(&snapshot)).await.map_err(rejected)?;
    match append_checked(shared, parts, &snapshot, body).await {
        Ok(info) => {
            let mut response = empty(StatusCode::NO_CONTENT);
            insert_u64(response.headers_mut(), UPLOAD_OFFSET, info.offset);
            add_expires(response.headers_mut(), &info);
            Ok(response)
        }
        Err(err) => {
            // Every PATCH answer on an upload that will expire says when (errors too).
            let mut response = super::error_response(&err, false);
            add_expires(response.headers_mut(), &snapshot);
            Ok(response)
        }
    }
}

/// Validates the PATCH and appends its body under the upload's lock.
async fn append_checked<B>(
    shared: &Arc<Shared>,
    parts: &Parts,
    snapshot: &UploadInfo,
    body: B,
) -> Result<UploadInfo, TusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let id = &snapshot.id;
    if !headers::is_offset_octet_stream(&parts.headers) {
        return Err(TusError::InvalidContentType);
    }
    let offset =
        headers::u64_header(&parts.headers, "upload-offset")?.ok_or(TusError::MissingHeader("Upload-Offset"))?;
    let declared_length = headers::u64_header(&parts.headers, "upload-length")?;
    let checksum = checksum_check(shared, &parts.headers)?;
    if snapshot.is_final() {
        return Err(TusError::ModifyFinal);
    }
    // Offsets only grow: a request behind the committed offset can be refused without
    // disturbing a writer that may hold the lock.
    if offset < snapshot.offset {
        return Err(TusError::MismatchedOffset { expected: snapshot.offset, given: offset });
    }

    let lock = shared.locker.lock(id, shared.config.lock_timeout).await.map_err(lock_failed)?;
    let result = async {
        // The snapshot still holds when it shows the requested offset and a known length:
        // a length, once known, never changes, and the storage's append is a
        // compare-and-set on the offset, so a PATCH that got in between fails there with
        // the same mismatch. That saves a record read per PATCH. Otherwise read again.
        let mut info = if snapshot.offset == offset && snapshot.length.is_some() {
            snapshot.clone()
        } else {
            shared.storage.info(id).await?
        };
        check_not_expired(&info)?;
        if info.offset != offset {
            return Err(TusError::MismatchedOffset { expected: info.offset, given: offset });
        }
        let was_complete = info.is_complete();
        if let Some(length) = declared_length {
            info = declare_length(shared, info, length).await?;
        }
        append(shared, &lock, info, was_complete, parts, body, checksum).await
    }
    .await;
    lock.release().await;
    result
}

/// Sets the length of a deferred-length upload (once; the same value again is accepted).
async fn declare_length(shared: &Shared, info: UploadInfo, length: u64) -> Result<UploadInfo, TusError> {
    match info.length {
        Some(current) if current == length => Ok(info),
        Some(_) => Err(TusError::LengthAlreadySet),
        None => {
            if length < info.offset {
                return Err(TusError::InvalidHeader {
                    header: "Upload-Length",
                    reason: format!("{length} is less than the {} bytes already stored", info.offset),
                });
            }
            if let Some(max) = shared.config.max_size.filter(|max| length > *max) {
                return Err(TusError::MaxSizeExceeded { max });
            }
            Ok(shared.storage.set_length(&info.id, length).await?)
        }
    }
}

/// The checksum rule of a request: an `Upload-Checksum` header, an announced trailer, or none.
pub(super) fn checksum_check(shared: &Shared, headers: &http::HeaderMap) -> Result<Option<ChecksumCheck>, TusError> {
    let algorithms = &shared.config.checksum_algorithms;
    if let Some(value) = headers::header_str(headers, "upload-checksum")? {
        if !shared.has(Extension::Checksum) {
            return Err(TusError::InvalidHeader {
                header: "Upload-Checksum",
                reason: "the checksum extension is disabled on this server".into(),
            });
        }
        return match UploadChecksum::parse(value, algorithms) {
            Ok(c) => Ok(Some(ChecksumCheck::Header(c))),
            Err(crate::checksum::InvalidChecksum::Unsupported(name)) => {
                Err(TusError::UnsupportedChecksumAlgorithm(name))
            }
            Err(e) => Err(TusError::InvalidHeader { header: "Upload-Checksum", reason: e.to_string() }),
        };
    }
    if headers::announces_checksum_trailer(headers) && shared.has(Extension::ChecksumTrailer) {
        return Ok(Some(ChecksumCheck::Trailer(algorithms.clone())));
    }
    Ok(None)
}

/// Streams `body` into the upload at `info.offset` under `lock`, then runs the hooks.
/// Returns the committed state, or the error that cut the body short (after
/// committing what it may keep).
pub(super) async fn append<B>(
    shared: &Arc<Shared>,
    lock: &UploadLock,
    info: UploadInfo,
    was_complete: bool,
    parts: &Parts,
    body: B,
    checksum: Option<ChecksumCheck>,
) -> Result<UploadInfo, TusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let before = info.offset;
    let prepared = prepare_body(shared, lock, &info, parts, body, checksum)?;
    let Some(mut incoming) = prepared.body else {
        return stored(shared, lock, info, before, was_complete, None, prepared.too_large).await;
    };
    let after = match shared.storage.append(&info.id, before, &mut incoming.stream, incoming.options).await {
        Ok(after) => after,
        Err(e) => return Err(append_failed(e, before)),
    };
    let body_error = incoming.stream.error().cloned();
    stored(shared, lock, after, before, was_complete, body_error, prepared.too_large).await
}

/// A request body ready for the storage, and the error for a body over the limit.
pub(super) struct PreparedBody {
    /// `None` when there is nothing to store (an empty body without checksum).
    pub(super) body: Option<Incoming>,
    pub(super) too_large: TusError,
}

/// The body as the storage reads it, and how to store it.
pub(super) struct Incoming {
    pub(super) stream: ChunkStream,
    pub(super) options: AppendOptions,
}

/// Checks the declared size of `body` against what the upload at `info` may still take,
/// and wraps it in the stream the storage reads (limits, idle timeout, lock stop signal,
/// shutdown, checksum).
pub(super) fn prepare_body<B>(
    shared: &Shared,
    lock: &UploadLock,
    info: &UploadInfo,
    parts: &Parts,
    body: B,
    checksum: Option<ChecksumCheck>,
) -> Result<PreparedBody, TusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let content_length = headers::content_length(&parts.headers);
    let (limit, too_large) = match (info.length, shared.config.max_size) {
        (Some(length), _) => (length - info.offset, TusError::UploadSizeExceeded { length }),
        (None, Some(max)) => (max.saturating_sub(info.offset), TusError::MaxSizeExceeded { max }),
        (None, None) => (u64::MAX - info.offset, TusError::MaxSizeExceeded { max: u64::MAX }),
    };
    if content_length.is_some_and(|n| n > limit) {
        return Err(too_large);
    }
    if content_length == Some(0) && checksum.is_none() {
        return Ok(PreparedBody { body: None, too_large });
    }
    let rules = BodyRules {
        limit,
        idle_timeout: shared.config.body_idle_timeout,
        stop: lock.stop_signal(),
        shutdown: shared.runtime.shutdown.clone(),
        checksum,
    };
    let atomic = rules.checksum.is_some();
    let stream = chunk_stream(body, content_length, rules);
    let expires_at = shared
        .config
        .expiration
        .filter(|e| e.sliding && shared.has(Extension::Expiration))
        .map(|e| SystemTime::now() + e.after);
    let options = AppendOptions::new().atomic(atomic).expires_at(expires_at);
    Ok(PreparedBody { body: Some(Incoming { stream, options }), too_large })
}

/// The error for a storage append that failed at `before`.
pub(super) fn append_failed(err: StorageError, before: u64) -> TusError {
    match err {
        StorageError::OffsetMismatch { actual } => TusError::MismatchedOffset { expected: actual, given: before },
        e => e.into(),
    }
}

/// After the storage committed `after` (from `before`): counts the bytes, runs the
/// hooks, and turns the body's error (if it ended early) into the answer.
pub(super) async fn stored(
    shared: &Arc<Shared>,
    lock: &UploadLock,
    after: UploadInfo,
    before: u64,
    was_complete: bool,
    body_error: Option<BodyError>,
    too_large: TusError,
) -> Result<UploadInfo, TusError> {
    if after.offset > before {
        shared.metrics.bytes_received(after.offset - before);
        shared.hooks.post_receive(&after).await;
    }
    if after.is_complete() && !was_complete {
        completed(shared, &after).await;
    }
    match body_error {
        None => Ok(after),
        Some(BodyError::ChecksumMismatch) => Err(TusError::ChecksumMismatch),
        Some(BodyError::TooLarge { .. }) => Err(too_large),
        Some(BodyError::Timeout) => Err(TusError::BodyTimeout),
        // The backend lost the lease (not a newer request asking): say so with a 503.
        Some(BodyError::Interrupted) if lock.lease_lost() => {
            tracing::warn!(id = %after.id, offset = after.offset, "lock lease lost mid-PATCH; kept what arrived");
            shared.metrics.lock_lost();
            Err(TusError::LockLost)
        }
        Some(BodyError::Interrupted) => Err(TusError::Interrupted),
        Some(BodyError::ShuttingDown) => Err(TusError::ShuttingDown),
        Some(BodyError::Broken(why)) => Err(TusError::BrokenBody(why)),
    }
}

/// An upload just became complete: fire `post_finish`, or for a partial, assemble the
/// unfinished finals that were waiting for it.
pub(super) async fn completed(shared: &Arc<Shared>, info: &UploadInfo) {
    if !info.is_partial() {
        super::finished(shared, info).await;
        return;
    }
    if !shared.has(Extension::ConcatenationUnfinished) {
        return;
    }
    let finals = match shared.storage.finals_waiting_for(&info.id).await {
        Ok(finals) => finals,
        Err(e) => {
            tracing::error!(partial = %info.id, error = %e, "cannot list the finals waiting for a partial upload");
            return;
        }
    };
    for final_id in finals {
        if let Err(e) = super::create::assemble_final(shared, &final_id).await {
            tracing::error!(%final_id, error = %e, "cannot assemble a final upload");
        }
    }
}
