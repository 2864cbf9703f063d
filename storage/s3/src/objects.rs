//! The S3 requests the storage makes, on one bucket under one key prefix.
//!
//! Keys: the bytes of upload `ID` end up in `PREFIX` + `ID` (the object users see); its
//! state lives in `PREFIX.tus/info/ID` and the bytes after its last part in
//! `PREFIX.tus/part/ID/TOKEN`. IDs never contain `/`, so no ID's keys collide with another's.

use crate::buffer::PartBody;
use crate::error::{Failure, body_error, classify, fail};
use crate::state::UploadState;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use std::time::SystemTime;
use tus_core::StorageError;

/// How the info object may be written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Condition<'a> {
    /// Only if it does not exist (`If-None-Match: *`).
    Absent,
    /// Only if it is unchanged since it was read (`If-Match: ETAG`).
    Unchanged(&'a str),
}

/// One bucket and key prefix.
#[derive(Debug, Clone)]
pub(crate) struct Objects {
    pub(crate) client: Client,
    pub(crate) bucket: String,
    pub(crate) prefix: String,
}

/// A multipart upload the bucket holds.
#[derive(Debug, Clone)]
pub(crate) struct MultipartListing {
    pub(crate) key: String,
    pub(crate) upload_id: String,
    pub(crate) initiated: Option<SystemTime>,
}

impl Objects {
    pub(crate) fn data_key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    pub(crate) fn info_prefix(&self) -> String {
        format!("{}.tus/info/", self.prefix)
    }

    pub(crate) fn info_key(&self, id: &str) -> String {
        format!("{}{id}", self.info_prefix())
    }

    pub(crate) fn incomplete_key(&self, id: &str, token: &str) -> String {
        format!("{}.tus/part/{id}/{token}", self.prefix)
    }

    /// The upload's state and the info object's ETag; `None` when there is none.
    pub(crate) async fn read_state(&self, id: &str) -> Result<Option<(UploadState, String)>, StorageError> {
        self.read_state_at(&self.info_key(id)).await
    }

    pub(crate) async fn read_state_at(&self, key: &str) -> Result<Option<(UploadState, String)>, StorageError> {
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(err) => {
                return match classify("GetObject (info)", err) {
                    Failure::NotFound => Ok(None),
                    other => Err(other.into()),
                };
            }
        };
        let etag = out.e_tag.clone().unwrap_or_default();
        let bytes = out.body.collect().await.map_err(|e| body_error("GetObject (info)", e))?.into_bytes();
        Ok(Some((UploadState::from_json(&bytes)?, etag)))
    }

    /// Writes the state under `condition`; `Err(Failure::Conflict)` when the condition failed.
    pub(crate) async fn write_state(&self, state: &UploadState, condition: Condition<'_>) -> Result<String, Failure> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.info_key(&state.id))
            .content_type("application/json")
            .body(ByteStream::from(state.to_json()));
        let request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Unchanged(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(out) => Ok(out.e_tag.unwrap_or_default()),
            // If-Match on an object that vanished: someone removed it, which is a conflict too.
            Err(err) => Err(match classify("PutObject (info)", err) {
                Failure::NotFound => Failure::Conflict,
                other => other,
            }),
        }
    }

    /// Stores `body` (of `len` bytes) in `key`.
    pub(crate) async fn put(&self, key: &str, body: ByteStream, len: u64) -> Result<(), StorageError> {
        let len = i64::try_from(len).map_err(StorageError::other)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(len)
            .body(body)
            .send()
            .await
            .map_err(fail("PutObject"))?;
        Ok(())
    }

    /// Stores a finished part buffer in `key` (the buffer, and its temporary file, live
    /// until the request is done).
    pub(crate) async fn put_buffered(&self, key: &str, body: &PartBody) -> Result<(), StorageError> {
        self.put(key, body.stream().await?, body.len()).await
    }

    /// Deletes `key` (deleting a missing key succeeds).
    pub(crate) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(fail("DeleteObject"))?;
        Ok(())
    }

    /// Deletes `key`, logging instead of failing: for leftovers whose loss costs only space.
    pub(crate) async fn delete_quietly(&self, key: &str) {
        if let Err(e) = self.delete(key).await {
            tracing::warn!(key, error = %e, "cannot delete a leftover object");
        }
    }

    /// The body of `key` (bytes `range` when given, end exclusive and non-empty).
    pub(crate) async fn get(&self, key: &str, range: Option<std::ops::Range<u64>>) -> Result<ByteStream, Failure> {
        let range = range.map(|r| format!("bytes={}-{}", r.start, r.end - 1));
        match self.client.get_object().bucket(&self.bucket).key(key).set_range(range).send().await {
            Ok(out) => Ok(out.body),
            Err(err) => Err(classify("GetObject", err)),
        }
    }

    /// Starts a multipart upload into `key`.
    pub(crate) async fn create_multipart(&self, key: &str) -> Result<String, StorageError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(fail("CreateMultipartUpload"))?;
        out.upload_id.ok_or_else(|| StorageError::other("S3 CreateMultipartUpload: no upload id in the answer"))
    }

    /// Uploads part `number`; returns its ETag.
    pub(crate) async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: ByteStream,
        len: u64,
    ) -> Result<String, StorageError> {
        let len = i64::try_from(len).map_err(StorageError::other)?;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(len)
            .body(body)
            .send()
            .await
            .map_err(fail("UploadPart"))?;
        out.e_tag.ok_or_else(|| StorageError::other("S3 UploadPart: no ETag in the answer"))
    }

    /// Copies bytes `range` of `source_key` into part `number`, on S3's side; returns its ETag.
    pub(crate) async fn copy_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        source_key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<String, StorageError> {
        let out = self
            .client
            .upload_part_copy()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .copy_source(format!("{}/{}", self.bucket, source_key))
            .copy_source_range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(fail("UploadPartCopy"))?;
        out.copy_part_result
            .and_then(|r| r.e_tag)
            .ok_or_else(|| StorageError::other("S3 UploadPartCopy: no ETag in the answer"))
    }

    /// Completes a multipart upload from `parts` (number, ETag), in order.
    pub(crate) async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: impl Iterator<Item = (i32, String)>,
    ) -> Result<(), StorageError> {
        let parts = parts.map(|(number, etag)| CompletedPart::builder().part_number(number).e_tag(etag).build());
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts.collect())).build())
            .send()
            .await
            .map_err(fail("CompleteMultipartUpload"))?;
        Ok(())
    }

    /// Aborts a multipart upload (an unknown one counts as aborted).
    pub(crate) async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        match self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(upload_id).send().await {
            Ok(_) => Ok(()),
            Err(err) => match classify("AbortMultipartUpload", err) {
                Failure::NotFound => Ok(()),
                other => Err(other.into()),
            },
        }
    }

    /// Every key under `prefix`.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(fail("ListObjectsV2"))?;
            keys.extend(out.contents.unwrap_or_default().into_iter().filter_map(|o| o.key));
            token = out.next_continuation_token;
            if token.is_none() || out.is_truncated != Some(true) {
                return Ok(keys);
            }
        }
    }

    /// Every key under `prefix` with its last-modified time.
    pub(crate) async fn list_with_times(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, Option<SystemTime>)>, StorageError> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(fail("ListObjectsV2"))?;
            for object in out.contents.unwrap_or_default() {
                if let Some(key) = object.key {
                    found.push((key, object.last_modified.and_then(|t| SystemTime::try_from(t).ok())));
                }
            }
            token = out.next_continuation_token;
            if token.is_none() || out.is_truncated != Some(true) {
                return Ok(found);
            }
        }
    }

    /// The prefix of every incomplete-part object.
    pub(crate) fn incomplete_prefix(&self) -> String {
        format!("{}.tus/part/", self.prefix)
    }

    /// Every multipart upload in progress under the prefix.
    pub(crate) async fn list_multipart(&self) -> Result<Vec<MultipartListing>, StorageError> {
        let mut found = Vec::new();
        let (mut key_marker, mut upload_marker) = (None, None);
        loop {
            let out = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_key_marker(key_marker)
                .set_upload_id_marker(upload_marker)
                .send()
                .await
                .map_err(fail("ListMultipartUploads"))?;
            for upload in out.uploads.unwrap_or_default() {
                if let (Some(key), Some(upload_id)) = (upload.key, upload.upload_id) {
                    let initiated = upload.initiated.and_then(|t| SystemTime::try_from(t).ok());
                    found.push(MultipartListing { key, upload_id, initiated });
                }
            }
            if out.is_truncated != Some(true) {
                return Ok(found);
            }
            key_marker = out.next_key_marker;
            upload_marker = out.next_upload_id_marker;
            if key_marker.is_none() {
                return Ok(found);
            }
        }
    }

    /// Checks that the bucket exists and the credentials may use it.
    pub(crate) async fn check_bucket(&self) -> Result<(), String> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(err) => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                Err(match status {
                    Some(404) => format!("bucket {:?} does not exist", self.bucket),
                    Some(401 | 403) => format!("access to bucket {:?} denied (check the credentials)", self.bucket),
                    _ => format!(
                        "cannot reach bucket {:?}: {}",
                        self.bucket,
                        aws_sdk_s3::error::DisplayErrorContext(&err)
                    ),
                })
            }
        }
    }
}
