//! HEAD: the upload's committed offset, length, metadata and concatenation role.

use super::{add_expires, check_not_expired, concat_header, empty, insert_u64, rejected, url_prefix};
use crate::body::ResponseBody;
use crate::error::TusError;
use crate::headers::{UPLOAD_CONCAT, UPLOAD_DEFER_LENGTH, UPLOAD_LENGTH, UPLOAD_METADATA, UPLOAD_OFFSET};
use crate::hooks::Intent;
use crate::id::UploadId;
use crate::service::Shared;
use http::header::HeaderValue;
use http::request::Parts;
use http::{Response, StatusCode};

pub(super) async fn handle(shared: &Shared, parts: &Parts, id: UploadId) -> Result<Response<ResponseBody>, TusError> {
    // Committed state only: HEAD never waits for a writer.
    let info = shared.storage.info(&id).await?;
    check_not_expired(&info)?;
    shared.hooks.authorize(parts, Intent::ReadOffset, Some(&info)).await.map_err(rejected)?;

    let mut response = empty(StatusCode::OK);
    let headers = response.headers_mut();
    // An unfinished final upload has no offset yet (concatenation-unfinished).
    if !info.is_final() || info.is_complete() {
        insert_u64(headers, UPLOAD_OFFSET, info.offset);
    }
    match info.length {
        Some(length) => insert_u64(headers, UPLOAD_LENGTH, length),
        None if !info.is_final() => {
            headers.insert(UPLOAD_DEFER_LENGTH, HeaderValue::from_static("1"));
        }
        None => {}
    }
    if !info.metadata.is_empty()
        && let Ok(v) = HeaderValue::from_str(&info.metadata.encode())
    {
        headers.insert(UPLOAD_METADATA, v);
    }
    if let Some(concat) = &info.concat
        && let Ok(v) = HeaderValue::from_str(&concat_header(&url_prefix(shared, &parts.headers), concat))
    {
        headers.insert(UPLOAD_CONCAT, v);
    }
    add_expires(headers, &info);
    Ok(response)
}
