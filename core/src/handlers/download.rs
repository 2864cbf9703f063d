//! GET: download a complete upload, with Range, ETag and safe content headers.

use super::{check_not_expired, empty, rejected};
use crate::body::ResponseBody;
use crate::error::TusError;
use crate::hooks::Intent;
use crate::id::UploadId;
use crate::metadata::Metadata;
use crate::service::Shared;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::ops::Range;

/// Types a browser may show inline: nothing that can run script.
const INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/avif",
    "text/plain",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/webm",
    "audio/aac",
    "audio/flac",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
];

/// RFC 5987 `attr-char`s stay as they are; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

pub(super) async fn handle(shared: &Shared, parts: &Parts, id: UploadId) -> Result<Response<ResponseBody>, TusError> {
    if !shared.config.download || !shared.features.read {
        return Err(TusError::Disabled("download"));
    }
    // Committed state only: a download never holds the upload's lock.
    let info = shared.storage.info(&id).await?;
    check_not_expired(&info)?;
    shared.hooks.authorize(parts, Intent::Download, Some(&info)).await.map_err(rejected)?;
    if !info.is_complete() {
        return Err(TusError::DownloadIncomplete);
    }
    let length = info.offset;
    let etag = format!("\"{id}-{length}\"");
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| TusError::Internal(e.to_string()))?;
    if if_none_match(&parts.headers, &etag) {
        let mut response = empty(StatusCode::NOT_MODIFIED);
        response.headers_mut().insert(header::ETAG, etag_value);
        return Ok(response);
    }
    let range = requested_range(&parts.headers, &etag, length)?;
    let span = range.clone().unwrap_or(0..length);
    let stream = shared.storage.read(&id, span.clone()).await?;
    let mut response = Response::new(ResponseBody::stream(stream, span.end - span.start));
    if let Some(range) = &range {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {}-{}/{length}", range.start, range.end - 1);
        let value = HeaderValue::from_str(&value).map_err(|e| TusError::Internal(e.to_string()))?;
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(span.end - span.start));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, etag_value);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let content_type = content_type(&info.metadata);
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(&info.metadata, &content_type));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    Ok(response)
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        },
    )
}

/// One `bytes=` range, honoured only when `If-Range` (if any) names the current ETag.
/// Malformed and multi-range requests are ignored (the whole body is sent), as RFC 9110 allows.
fn requested_range(headers: &HeaderMap, etag: &str, length: u64) -> Result<Option<Range<u64>>, TusError> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim() != etag
    {
        return Ok(None);
    }
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return Ok(None) };
    let parse = |s: &str| crate::headers::parse_u64(s.trim());
    let range = match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, false) => {
            let Some(suffix) = parse(end) else { return Ok(None) };
            if suffix == 0 {
                return Err(TusError::RangeNotSatisfiable { length });
            }
            length.saturating_sub(suffix)..length
        }
        (false, _) => {
            let Some(first) = parse(start) else { return Ok(None) };
            let last = if end.trim().is_empty() {
                length.saturating_sub(1)
            } else {
                match parse(end) {
                    Some(last) if last >= first => last.min(length.saturating_sub(1)),
                    _ => return Ok(None),
                }
            };
            if first >= length {
                return Err(TusError::RangeNotSatisfiable { length });
            }
            first..last + 1
        }
        (true, true) => return Ok(None),
    };
    if range.is_empty() {
        return Err(TusError::RangeNotSatisfiable { length });
    }
    Ok(Some(range))
}

/// `type/subtype` from the `filetype` (or `type`) metadata when it is a well-formed MIME type.
fn content_type(metadata: &Metadata) -> String {
    let is_token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    metadata
        .get_str("filetype")
        .or_else(|| metadata.get_str("type"))
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| t.split_once('/').is_some_and(|(a, b)| is_token(a) && is_token(b)))
        .unwrap_or_else(|| "application/octet-stream".into())
}

/// `inline` for safe types, else `attachment`, with an ASCII `filename` and an RFC 5987 `filename*`.
fn content_disposition(metadata: &Metadata, content_type: &str) -> HeaderValue {
    let kind = if INLINE_TYPES.contains(&content_type) { "inline" } else { "attachment" };
    let name = metadata.get_str("filename").or_else(|| metadata.get_str("name")).map(|n| {
        // Only the last path segment, and no control characters.
        let n = n.rsplit(['/', '\\']).next().unwrap_or_default();
        n.chars().filter(|c| !c.is_control()).collect::<String>()
    });
    let value = match name.filter(|n| !n.is_empty()) {
        None => kind.to_owned(),
        Some(name) => {
            let ascii: String = name
                .chars()
                .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
                .collect();
            let encoded = utf8_percent_encode(&name, ATTR_CHAR);
            format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
        }
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> Metadata {
        let mut m = Metadata::new();
        for (k, v) in pairs {
            m.insert(*k, v.as_bytes().to_vec());
        }
        m
    }

    #[test]
    fn only_safe_types_are_inline() {
        let m = meta(&[("filetype", "image/png"), ("filename", "a.png")]);
        assert_eq!(content_type(&m), "image/png");
        assert!(content_disposition(&m, "image/png").to_str().unwrap().starts_with("inline;"));
        let m = meta(&[("filetype", "text/html"), ("filename", "x.html")]);
        assert!(content_disposition(&m, &content_type(&m)).to_str().unwrap().starts_with("attachment;"));
        assert_eq!(content_type(&meta(&[("filetype", "not a type")])), "application/octet-stream");
        assert_eq!(content_type(&meta(&[("filetype", "text/plain\r\nX: y")])), "application/octet-stream");
    }

    #[test]
    fn filenames_are_sanitized_and_encoded() {
        let m = meta(&[("filename", "../../etc/r\u{e9}sum\u{e9} \"x\".pdf\r\n")]);
        let v = content_disposition(&m, "application/pdf");
        assert_eq!(
            v.to_str().unwrap(),
            "attachment; filename=\"r_sum_ _x_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22.pdf"
        );
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        let mut h = HeaderMap::new();
        let mut range = |v: &'static str| {
            h.insert(header::RANGE, HeaderValue::from_static(v));
            requested_range(&h, "\"e\"", 100)
        };
        assert_eq!(range("bytes=0-9").unwrap(), Some(0..10));
        assert_eq!(range("bytes=90-").unwrap(), Some(90..100));
        assert_eq!(range("bytes=-10").unwrap(), Some(90..100));
        assert_eq!(range("bytes=95-200").unwrap(), Some(95..100));
        assert!(range("bytes=100-").is_err());
        assert_eq!(range("bytes=0-1,5-6").unwrap(), None);
        assert_eq!(range("items=0-1").unwrap(), None);
    }
}
