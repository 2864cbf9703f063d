//! Header names and the parsing of tus request headers into typed values.
//!
//! Every header is parsed here, once; handlers only see the typed results.

use crate::error::TusError;
use http::header::{HeaderMap, HeaderName};

/// The protocol version this crate speaks.
pub const TUS_VERSION: &str = "1.0.0";
/// The media type of PATCH bodies.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

macro_rules! header_names {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        $($(#[$doc])* pub const $name: HeaderName = HeaderName::from_static($value);)*
    };
}

header_names! {
    /// `Tus-Resumable`
    TUS_RESUMABLE = "tus-resumable";
    /// `Tus-Version`
    TUS_VERSION_HEADER = "tus-version";
    /// `Tus-Extension`
    TUS_EXTENSION = "tus-extension";
    /// `Tus-Max-Size`
    TUS_MAX_SIZE = "tus-max-size";
    /// `Tus-Checksum-Algorithm`
    TUS_CHECKSUM_ALGORITHM = "tus-checksum-algorithm";
    /// `Upload-Offset`
    UPLOAD_OFFSET = "upload-offset";
    /// `Upload-Length`
    UPLOAD_LENGTH = "upload-length";
    /// `Upload-Defer-Length`
    UPLOAD_DEFER_LENGTH = "upload-defer-length";
    /// `Upload-Metadata`
    UPLOAD_METADATA = "upload-metadata";
    /// `Upload-Concat`
    UPLOAD_CONCAT = "upload-concat";
    /// `Upload-Expires`
    UPLOAD_EXPIRES = "upload-expires";
    /// `Upload-Checksum`
    UPLOAD_CHECKSUM = "upload-checksum";
    /// `X-HTTP-Method-Override`
    X_HTTP_METHOD_OVERRIDE = "x-http-method-override";
    /// `Upload-Complete` (IETF draft; listed for CORS)
    UPLOAD_COMPLETE = "upload-complete";
    /// `Upload-Limit` (IETF draft; listed for CORS)
    UPLOAD_LIMIT = "upload-limit";
    /// `Upload-Draft-Interop-Version` (IETF draft; listed for CORS)
    UPLOAD_DRAFT_INTEROP_VERSION = "upload-draft-interop-version";
}

/// The value of `name` as a string, if present; a non-ASCII value is a 400.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, TusError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| TusError::InvalidHeader { header: display_name(name), reason: "not ASCII".into() }),
    }
}

/// Maps a lowercase header name to the spelling used in error messages.
fn display_name(name: &'static str) -> &'static str {
    match name {
        "upload-offset" => "Upload-Offset",
        "upload-length" => "Upload-Length",
        "upload-defer-length" => "Upload-Defer-Length",
        "upload-metadata" => "Upload-Metadata",
        "upload-concat" => "Upload-Concat",
        "upload-checksum" => "Upload-Checksum",
        "tus-resumable" => "Tus-Resumable",
        "range" => "Range",
        other => other,
    }
}

/// Parses a non-negative decimal integer strictly: digits only, no sign, no spaces, fits in u64.
pub(crate) fn parse_u64(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Reads an optional non-negative integer header (`Upload-Offset`, `Upload-Length`).
pub(crate) fn u64_header(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, TusError> {
    match header_str(headers, name)? {
        None => Ok(None),
        Some(v) => parse_u64(v.trim()).map(Some).ok_or_else(|| TusError::InvalidHeader {
            header: display_name(name),
            reason: format!("{v:?} is not a non-negative integer"),
        }),
    }
}

/// Whether `Upload-Defer-Length: 1` is present; any other value is a 400.
pub(crate) fn defer_length(headers: &HeaderMap) -> Result<bool, TusError> {
    match header_str(headers, "upload-defer-length")? {
        None => Ok(false),
        Some("1") => Ok(true),
        Some(v) => Err(TusError::InvalidHeader { header: "Upload-Defer-Length", reason: format!("{v:?} is not 1") }),
    }
}

/// Whether the request's `Content-Type` is `application/offset+octet-stream` (parameters ignored).
pub(crate) fn is_offset_octet_stream(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

/// The request's `Content-Length`, if it has a valid one.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(parse_u64)
}

/// Whether an HTTP/1 request has a body by its framing headers: a non-zero
/// `Content-Length` or a `Transfer-Encoding` (RFC 9112 §6.3; without either it has none).
pub(crate) fn frames_a_body(headers: &HeaderMap) -> bool {
    headers.contains_key(http::header::TRANSFER_ENCODING) || content_length(headers).is_some_and(|len| len > 0)
}

/// Whether the request announces an `Upload-Checksum` trailer.
pub(crate) fn announces_checksum_trailer(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::TRAILER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|name| name.trim().eq_ignore_ascii_case("upload-checksum"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    #[test]
    fn a_body_is_framed_by_a_length_or_a_transfer_encoding() {
        let mut headers = HeaderMap::new();
        assert!(!frames_a_body(&headers), "no framing header: no body");
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        assert!(!frames_a_body(&headers));
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert!(frames_a_body(&headers));
        headers.remove(http::header::CONTENT_LENGTH);
        headers.insert(http::header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        assert!(frames_a_body(&headers));
    }

    #[test]
    fn integers_are_parsed_strictly() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "-1", "+5", "1.5", "abc", " 1", "18446744073709551616", "0x10"] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
    }
}
