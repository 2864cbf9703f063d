//! POST: the creation extension, creation-with-upload, deferred length and concatenation.

use super::patch::{PreparedBody, append_failed, checksum_check, prepare_body, stored as stored_body};
use super::{add_expires, check_not_expired, empty, insert_u64, lock_failed, rejected, upload_location, url_prefix};
use crate::body::ResponseBody;
use crate::config::Extension;
use crate::error::{BoxError, StorageError, TusError};
use crate::headers::{self, UPLOAD_OFFSET};
use crate::hooks::{CreatePlan, Intent};
use crate::id::UploadId;
use crate::metadata::Metadata;
use crate::service::Shared;
use crate::storage::{Concat, NewUpload, UploadInfo};
use bytes::Bytes;
use http::header::{HeaderValue, LOCATION};
use http::request::Parts;
use http::{Response, StatusCode};
use std::sync::Arc;
use std::time::SystemTime;

/// What `Upload-Concat` asked for.
enum ConcatRequest {
    Partial,
    Final(Vec<UploadInfo>),
}

pub(super) async fn handle<B>(shared: &Arc<Shared>, parts: &Parts, body: B) -> Result<Response<ResponseBody>, TusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if !shared.has(Extension::Creation) {
        return Err(TusError::Disabled("the creation extension"));
    }
    shared.hooks.authorize(parts, Intent::Create, None).await.map_err(rejected)?;
    let h = &parts.headers;
    let metadata = parse_metadata(shared, h)?;
    let concat = parse_concat(shared, h).await?;
    let defer = headers::defer_length(h)?;
    let declared = headers::u64_header(h, "upload-length")?;
    let with_body = headers::is_offset_octet_stream(h)
        && shared.has(Extension::CreationWithUpload)
        && headers::content_length(h) != Some(0);

    let length = match &concat {
        Some(ConcatRequest::Final(partials)) => {
            if declared.is_some() || defer {
                return Err(TusError::InvalidConcat("a final upload takes its length from its partial uploads".into()));
            }
            if with_body {
                return Err(TusError::ModifyFinal);
            }
            partials.iter().try_fold(0u64, |sum, p| p.length.and_then(|l| sum.checked_add(l)))
        }
        _ => match (declared, defer) {
            (Some(_), true) => {
                return Err(TusError::InvalidHeader {
                    header: "Upload-Defer-Length",
                    reason: "Upload-Length and Upload-Defer-Length exclude each other".into(),
                });
            }
            (None, true) if !shared.has(Extension::CreationDeferLength) => {
                return Err(TusError::InvalidHeader {
                    header: "Upload-Defer-Length",
                    reason: "the creation-defer-length extension is disabled on this server".into(),
                });
            }
            (None, false) => return Err(TusError::MissingHeader("Upload-Length or Upload-Defer-Length")),
            (length, _) => length,
        },
    };
    if let (Some(length), Some(max)) = (length, shared.config.max_size)
        && length > max
    {
        return Err(TusError::MaxSizeExceeded { max });
    }

    let concat_role = match &concat {
        None => None,
        Some(ConcatRequest::Partial) => Some(Concat::Partial),
        Some(ConcatRequest::Final(partials)) => Some(Concat::Final(partials.iter().map(|p| p.id.clone()).collect())),
    };
    let mut plan = CreatePlan { id: None, length, metadata, concat: concat_role };
    shared.hooks.pre_create(parts, &mut plan).await.map_err(rejected)?;
    let id = plan.id.unwrap_or_else(|| shared.config.id_generator.generate());
    let expires_at =
        shared.config.expiration.filter(|_| shared.has(Extension::Expiration)).map(|e| SystemTime::now() + e.after);
    let new = NewUpload::new(id.clone())
        .with_length(plan.length)
        .with_metadata(plan.metadata)
        .with_concat(plan.concat)
        .with_expires_at(expires_at);
    let location = upload_location(&url_prefix(shared, h), &id)?;
    if with_body {
        return create_with_upload(shared, parts, new, body, location).await;
    }
    let mut info = create_empty(shared, new).await?;
    let mut response = empty(StatusCode::CREATED);
    response.headers_mut().insert(LOCATION, location);

    match concat {
        Some(ConcatRequest::Final(partials)) if partials.iter().all(UploadInfo::is_complete) => {
            info = shared.storage.concatenate(&id, &partials).await?;
            super::finished(shared, &info).await;
        }
        _ if info.is_complete() && !info.is_partial() => super::finished(shared, &info).await,
        _ => {}
    }
    add_expires(response.headers_mut(), &info);
    Ok(response)
}

/// A creation the storage refused. A taken ID is the server's fault (its ID generator or a
/// `pre_create` hook that chose it), not the client's.
fn creation_failed(err: StorageError, id: &UploadId) -> TusError {
    match err {
        StorageError::AlreadyExists => TusError::Internal(format!("upload id {id} is taken")),
        e => e.into(),
    }
}

/// Creates the upload without bytes and runs `post_create`.
async fn create_empty(shared: &Shared, new: NewUpload) -> Result<UploadInfo, TusError> {
    let id = new.id.clone();
    let info = shared.storage.create(new).await.map_err(|e| creation_failed(e, &id))?;
    shared.hooks.post_create(&info).await;
    Ok(info)
}

/// Creation-with-upload: creates the upload together with the first bytes of the body,
/// in one storage call (one commit where the backend can), under the new upload's lock.
async fn create_with_upload<B>(
    shared: &Arc<Shared>,
    parts: &Parts,
    new: NewUpload,
    body: B,
    location: HeaderValue,
) -> Result<Response<ResponseBody>, TusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let checksum = checksum_check(shared, &parts.headers)?;
    let lock = shared.locker.lock(&new.id, shared.config.lock_timeout).await.map_err(lock_failed)?;
    let planned = UploadInfo::from_new(&new);
    let result: Result<Result<UploadInfo, TusError>, TusError> = async {
        let (created, stored) = match prepare_body(shared, &lock, &planned, parts, body, checksum) {
            // The upload is created all the same; the client may upload it by PATCH.
            Err(refused) => (create_empty(shared, new).await?, Err(refused)),
            Ok(PreparedBody { body: None, .. }) => (create_empty(shared, new).await?, Ok(None)),
            Ok(PreparedBody { body: Some(mut incoming), too_large }) => {
                let id = new.id.clone();
                let outcome = shared
                    .storage
                    .create_with_upload(new, &mut incoming.stream, incoming.options)
                    .await
                    .map_err(|e| creation_failed(e, &id))?;
                shared.hooks.post_create(&outcome.created).await;
                let body_error = incoming.stream.error().cloned();
                (outcome.created, Ok(Some((outcome.stored, body_error, too_large))))
            }
        };
        let was_complete = created.is_complete();
        if was_complete && !created.is_partial() {
            super::finished(shared, &created).await;
        }
        Ok(match stored {
            Err(refused) => Err(refused),
            Ok(None) => Ok(created),
            Ok(Some((Ok(after), body_error, too_large))) => {
                stored_body(shared, &lock, after, 0, was_complete, body_error, too_large).await
            }
            Ok(Some((Err(e), _, _))) => Err(append_failed(e, 0)),
        })
    }
    .await;
    lock.release().await;
    match result? {
        Ok(info) => {
            let mut response = empty(StatusCode::CREATED);
            response.headers_mut().insert(LOCATION, location);
            insert_u64(response.headers_mut(), UPLOAD_OFFSET, info.offset);
            add_expires(response.headers_mut(), &info);
            Ok(response)
        }
        Err(err) => {
            // The upload exists: say where, so the client can resume it.
            let mut failed = super::error_response(&err, false);
            failed.headers_mut().insert(LOCATION, location);
            Ok(failed)
        }
    }
}

fn parse_metadata(shared: &Shared, h: &http::HeaderMap) -> Result<Metadata, TusError> {
    let Some(value) = headers::header_str(h, "upload-metadata")? else {
        return Ok(Metadata::new());
    };
    if value.len() > shared.config.max_metadata_size {
        return Err(TusError::InvalidHeader {
            header: "Upload-Metadata",
            reason: format!("longer than the {} bytes allowed", shared.config.max_metadata_size),
        });
    }
    Metadata::parse(value).map_err(|e| TusError::InvalidHeader { header: "Upload-Metadata", reason: e.to_string() })
}

async fn parse_concat(shared: &Shared, h: &http::HeaderMap) -> Result<Option<ConcatRequest>, TusError> {
    let Some(value) = headers::header_str(h, "upload-concat")? else {
        return Ok(None);
    };
    if !shared.has(Extension::Concatenation) {
        return Err(TusError::InvalidConcat("the concatenation extension is disabled on this server".into()));
    }
    let value = value.trim();
    if value == "partial" {
        return Ok(Some(ConcatRequest::Partial));
    }
    let Some(urls) = value.strip_prefix("final;") else {
        return Err(TusError::InvalidConcat(format!("{value:?} is neither \"partial\" nor \"final;<urls>\"")));
    };
    let mut partials = Vec::new();
    for url in urls.split(' ').filter(|u| !u.is_empty()) {
        let id = partial_id(&shared.config.base_path, url)
            .ok_or_else(|| TusError::InvalidConcat(format!("{url:?} is not an upload URL of this server")))?;
        let info = match shared.storage.info(&id).await {
            Ok(info) => info,
            Err(StorageError::NotFound | StorageError::Gone) => {
                return Err(TusError::InvalidConcat(format!("partial upload {id} does not exist")));
            }
            Err(e) => return Err(e.into()),
        };
        if !info.is_partial() {
            return Err(TusError::InvalidConcat(format!("upload {id} is not a partial upload")));
        }
        check_not_expired(&info)?;
        if !info.is_complete() && !shared.has(Extension::ConcatenationUnfinished) {
            return Err(TusError::UploadNotFinished);
        }
        partials.push(info);
    }
    if partials.is_empty() {
        return Err(TusError::InvalidConcat("a final upload names no partial uploads".into()));
    }
    Ok(Some(ConcatRequest::Final(partials)))
}

/// The ID in a partial upload's URL: absolute (`https://host/files/id`) or a path (`/files/id`).
fn partial_id(base_path: &str, url: &str) -> Option<UploadId> {
    let path = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            &rest[rest.find('/')?..]
        }
        Some(_) => return None,
        None => url,
    };
    let path = path.split(['?', '#']).next()?;
    let id = path.strip_prefix(base_path)?.strip_prefix('/')?;
    UploadId::new(id).ok()
}

/// Assembles an unfinished final upload once all its partials are complete; a no-op when
/// some partial is still uploading or another request assembled it first.
pub(super) async fn assemble_final(shared: &Arc<Shared>, final_id: &UploadId) -> Result<(), TusError> {
    let lock = shared.locker.lock(final_id, shared.config.lock_timeout).await.map_err(lock_failed)?;
    let result = async {
        let info = shared.storage.info(final_id).await?;
        let Some(Concat::Final(ids)) = &info.concat else { return Ok(None) };
        if info.is_complete() {
            return Ok(None);
        }
        let mut partials = Vec::with_capacity(ids.len());
        for id in ids {
            let partial = shared.storage.info(id).await?;
            if !partial.is_complete() {
                return Ok(None);
            }
            partials.push(partial);
        }
        let total = partials.iter().try_fold(0u64, |sum, p| p.length.and_then(|l| sum.checked_add(l)));
        if let (Some(max), Some(total)) = (shared.config.max_size, total)
            && total > max
        {
            return Err(TusError::MaxSizeExceeded { max });
        }
        match shared.storage.concatenate(final_id, &partials).await {
            Ok(info) => Ok(Some(info)),
            Err(StorageError::AlreadyExists) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    .await;
    lock.release().await;
    if let Some(info) = result? {
        super::finished(shared, &info).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::partial_id;

    #[test]
    fn partial_urls_may_be_absolute_or_paths() {
        assert_eq!(partial_id("/files", "/files/abc").unwrap().as_str(), "abc");
        assert_eq!(partial_id("/files", "https://up.example/files/abc").unwrap().as_str(), "abc");
        assert!(partial_id("/files", "/other/abc").is_none());
        assert!(partial_id("/files", "abc").is_none());
        assert!(partial_id("/files", "ftp://x/files/abc").is_none());
        assert!(partial_id("/files", "/files/a/b").is_none());
    }
}
