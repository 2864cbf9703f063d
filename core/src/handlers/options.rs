//! OPTIONS: discovery of the server's capabilities, and CORS preflights.

use super::{empty, is_preflight, rejected};
use crate::body::ResponseBody;
use crate::error::TusError;
use crate::headers::{TUS_CHECKSUM_ALGORITHM, TUS_EXTENSION, TUS_MAX_SIZE, TUS_VERSION, TUS_VERSION_HEADER};
use crate::hooks::Intent;
use crate::service::Shared;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};

/// Request headers browsers may send: every tus header, the IETF draft's, and auth.
const ALLOW_HEADERS: &str = "Authorization, Origin, X-Requested-With, X-Request-ID, X-HTTP-Method-Override, \
    Content-Type, Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Defer-Length, \
    Upload-Concat, Upload-Checksum, Upload-Complete, Upload-Draft-Interop-Version";
const ALLOW_METHODS: &str = "POST, HEAD, PATCH, OPTIONS, GET, DELETE";

pub(super) async fn handle(shared: &Shared, parts: &Parts) -> Result<Response<ResponseBody>, TusError> {
    let mut response = if is_preflight(parts) {
        preflight(shared, parts)?
    } else {
        shared.hooks.authorize(parts, Intent::Discover, None).await.map_err(rejected)?;
        empty(StatusCode::NO_CONTENT)
    };
    let headers = response.headers_mut();
    headers.insert(TUS_VERSION_HEADER, HeaderValue::from_static(TUS_VERSION));
    let extensions: Vec<&str> = shared.extensions.iter().map(|e| e.name()).collect();
    if !extensions.is_empty()
        && let Ok(v) = HeaderValue::from_str(&extensions.join(","))
    {
        headers.insert(TUS_EXTENSION, v);
    }
    if let Some(max) = shared.config.max_size {
        headers.insert(TUS_MAX_SIZE, HeaderValue::from(max));
    }
    if shared.has(crate::config::Extension::Checksum) {
        let names: Vec<&str> = shared.config.checksum_algorithms.iter().map(|a| a.name()).collect();
        if let Ok(v) = HeaderValue::from_str(&names.join(",")) {
            headers.insert(TUS_CHECKSUM_ALGORITHM, v);
        }
    }
    Ok(response)
}

/// A CORS preflight: 200 (old browsers refuse a 204 preflight) or 403 for other origins.
fn preflight(shared: &Shared, parts: &Parts) -> Result<Response<ResponseBody>, TusError> {
    let Some(cors) = &shared.config.cors else {
        // The host application answers CORS; still describe the tus endpoint.
        return Ok(empty(StatusCode::NO_CONTENT));
    };
    let origin = parts.headers.get(header::ORIGIN).cloned().unwrap_or_else(|| HeaderValue::from_static("null"));
    if !cors.allows(&origin) {
        return Err(TusError::OriginNotAllowed);
    }
    let mut response = empty(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
    let mut allow = ALLOW_HEADERS.to_owned();
    for extra in &cors.extra_allow_headers {
        allow.push_str(", ");
        allow.push_str(extra.as_str());
    }
    if let Ok(v) = HeaderValue::from_str(&allow) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(cors.max_age.as_secs()));
    if cors.credentials {
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    Ok(response)
}
