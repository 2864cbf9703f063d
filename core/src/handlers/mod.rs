//! The request handlers, one module per method, and what they share: routing,
//! version checks, error responses, CORS and URLs.

mod create;
mod delete;
mod download;
mod head;
mod options;
mod patch;

use crate::body::ResponseBody;
use crate::config::MethodOverride;
use crate::error::{BoxError, TusError};
use crate::headers::{self, TUS_RESUMABLE, TUS_VERSION, TUS_VERSION_HEADER};
use crate::hooks::HookRejection;
use crate::id::UploadId;
use crate::lock::LockError;
use crate::service::Shared;
use crate::storage::{Concat, UploadInfo};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

/// What a path under the base path names.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The base path itself: POST creates, OPTIONS discovers.
    Collection,
    /// One upload (`None` when the last segment is not a valid ID).
    Upload(Option<UploadId>),
}

/// Maps a request path to a tus target, or `None` when the path is not tus's.
pub(crate) fn route(base_path: &str, path: &str) -> Option<Target> {
    let rest = path.strip_prefix(base_path)?;
    if rest.is_empty() || rest == "/" {
        return Some(Target::Collection);
    }
    let segment = rest.strip_prefix('/')?;
    let segment = segment.strip_suffix('/').unwrap_or(segment);
    Some(Target::Upload(if segment.contains('/') { None } else { UploadId::new(segment).ok() }))
}

/// Answers one tus request. Never fails: every error becomes a response.
pub(crate) async fn handle<B>(shared: Arc<Shared>, target: Target, request: Request<B>) -> Response<ResponseBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let method = effective_method(&shared, &parts);
    let body_unread = !body.is_end_stream();
    let mut response = match dispatch(&shared, target, &method, &parts, body).await {
        Ok(response) => response,
        Err(err) => error_response(&err, method == Method::HEAD),
    };
    shared.metrics.request(&method, response.status());
    let ends_connection = answer_ends_connection(&parts, body_unread, response.status());
    let headers = response.headers_mut();
    if ends_connection {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    headers.insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    if method == Method::HEAD {
        // Offsets change; no HEAD answer, error or not, may be reused.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if !is_preflight(&parts) {
        add_cors(&shared, &parts.headers, headers);
    }
    response
}

/// Whether an answer says `Connection: close`: an error on HTTP/1 to a request that
/// announced a body which had not ended when tus got it. Refused, most often before the
/// body was read (a wrong offset, a size over the limit), such a request leaves the rest of
/// its body unread, and the server closes the connection rather than read it (RFC 9112
/// §9.6). Saying so keeps the client from sending its next request on a connection about to
/// close, where that request would fail. The framing headers decide with the body, since
/// adapters' bodies may not know they are empty; HTTP/2 has no such header.
fn answer_ends_connection(parts: &Parts, body_unread: bool, status: StatusCode) -> bool {
    (status.is_client_error() || status.is_server_error())
        && body_unread
        && parts.version <= http::Version::HTTP_11
        && headers::frames_a_body(&parts.headers)
}

async fn dispatch<B>(
    shared: &Arc<Shared>,
    target: Target,
    method: &Method,
    parts: &Parts,
    body: B,
) -> Result<Response<ResponseBody>, TusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if *method == Method::OPTIONS {
        return Box::pin(options::handle(shared, parts)).await;
    }
    check_version(method, &parts.headers)?;
    if shared.runtime.is_shutting_down() {
        return Err(TusError::ShuttingDown);
    }
    // The big request futures (a body to stream) are boxed on their own, so that every
    // request, HEAD above all, does not allocate and move a future the size of theirs.
    match (target, method) {
        (Target::Collection, &Method::POST) => Box::pin(create::handle(shared, parts, body)).await,
        (Target::Collection, _) => Err(TusError::MethodNotAllowed),
        (Target::Upload(None), _) => Err(TusError::NotFound),
        (Target::Upload(Some(id)), &Method::HEAD) => head::handle(shared, parts, id).await,
        (Target::Upload(Some(id)), &Method::PATCH) => Box::pin(patch::handle(shared, parts, id, body)).await,
        (Target::Upload(Some(id)), &Method::GET) => Box::pin(download::handle(shared, parts, id)).await,
        (Target::Upload(Some(id)), &Method::DELETE) => Box::pin(delete::handle(shared, parts, id)).await,
        (Target::Upload(Some(_)), _) => Err(TusError::MethodNotAllowed),
    }
}

/// The method after `X-HTTP-Method-Override`, as configured.
fn effective_method(shared: &Shared, parts: &Parts) -> Method {
    let allowed = match shared.config.method_override {
        MethodOverride::AnyMethod => true,
        MethodOverride::PostOnly => parts.method == Method::POST,
        MethodOverride::Off => false,
    };
    if allowed
        && let Some(method) = parts
            .headers
            .get(headers::X_HTTP_METHOD_OVERRIDE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Method::from_bytes(v.trim().to_ascii_uppercase().as_bytes()).ok())
    {
        return method;
    }
    parts.method.clone()
}

/// `Tus-Resumable` must name 1.0.0; GET and HEAD may omit it (browsers, download links).
fn check_version(method: &Method, headers: &HeaderMap) -> Result<(), TusError> {
    match headers.get(TUS_RESUMABLE) {
        Some(v) if v.as_bytes() == TUS_VERSION.as_bytes() => Ok(()),
        None if *method == Method::GET || *method == Method::HEAD => Ok(()),
        _ => Err(TusError::UnsupportedVersion),
    }
}

pub(crate) fn is_preflight(parts: &Parts) -> bool {
    parts.method == Method::OPTIONS
        && parts.headers.contains_key(header::ORIGIN)
        && parts.headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Response headers a browser script may read.
const EXPOSE_HEADERS: &str = "Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Defer-Length, \
    Upload-Concat, Upload-Expires, Upload-Checksum, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, \
    Tus-Checksum-Algorithm, Upload-Limit, Upload-Complete, Upload-Draft-Interop-Version, Retry-After, \
    Content-Range, Content-Disposition, ETag";

/// CORS headers for an actual (non-preflight) request from an allowed origin.
fn add_cors(shared: &Shared, request: &HeaderMap, response: &mut HeaderMap) {
    let (Some(cors), Some(origin)) = (&shared.config.cors, request.get(header::ORIGIN)) else {
        return;
    };
    response.append(header::VARY, HeaderValue::from_static("Origin"));
    if !cors.allows(origin) {
        return;
    }
    response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    if cors.credentials {
        response.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    let mut expose = EXPOSE_HEADERS.to_owned();
    for extra in &cors.extra_expose_headers {
        expose.push_str(", ");
        expose.push_str(extra.as_str());
    }
    if let Ok(value) = HeaderValue::from_str(&expose) {
        response.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
    }
}

/// A response with `status` and no body.
pub(crate) fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = status;
    response
}

/// The response for an error: its status, `CODE: message` as text (none for HEAD).
pub(crate) fn error_response(err: &TusError, head: bool) -> Response<ResponseBody> {
    if let TusError::Internal(detail) = err {
        tracing::error!(%detail, "internal error answering a tus request");
    } else {
        tracing::debug!(code = err.code(), %err, "tus request refused");
    }
    let mut response = if head {
        empty(err.status())
    } else {
        let mut r = Response::new(ResponseBody::full(format!("{}: {}\n", err.code(), err)));
        *r.status_mut() = err.status();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        r
    };
    let headers = response.headers_mut();
    if let Some(seconds) = err.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let TusError::Rejected { headers: extra, .. } = err {
        for (name, value) in extra {
            headers.append(name, value.clone());
        }
    }
    if matches!(err, TusError::UnsupportedVersion) {
        headers.insert(TUS_VERSION_HEADER, HeaderValue::from_static(TUS_VERSION));
    }
    if let TusError::RangeNotSatisfiable { length } = err
        && let Ok(v) = HeaderValue::from_str(&format!("bytes */{length}"))
    {
        headers.insert(header::CONTENT_RANGE, v);
    }
    response
}

/// An upload just became complete: count it and fire `post_finish`.
pub(crate) async fn finished(shared: &Shared, info: &UploadInfo) {
    shared.metrics.upload_finished();
    shared.hooks.post_finish(info).await;
}

pub(crate) fn rejected(rejection: HookRejection) -> TusError {
    TusError::Rejected { status: rejection.status, message: rejection.message, headers: rejection.headers }
}

pub(crate) fn lock_failed(err: LockError) -> TusError {
    match err {
        LockError::Timeout => TusError::Locked,
        LockError::Unavailable(e) => TusError::Unavailable(format!("lock backend: {e}")),
    }
}

/// Refuses requests on uploads whose expiry time passed (the janitor may not have run yet).
pub(crate) fn check_not_expired(info: &UploadInfo) -> Result<(), TusError> {
    if info.is_expired(SystemTime::now()) { Err(TusError::Gone) } else { Ok(()) }
}

/// `Upload-Expires` for an upload that will expire.
pub(crate) fn add_expires(headers: &mut HeaderMap, info: &UploadInfo) {
    if let (false, Some(at)) = (info.is_complete(), info.expires_at)
        && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(at))
    {
        headers.insert(headers::UPLOAD_EXPIRES, v);
    }
}

pub(crate) fn insert_u64(headers: &mut HeaderMap, name: http::HeaderName, value: u64) {
    headers.insert(name, HeaderValue::from(value));
}

/// The URL prefix of uploads as clients should see it: the configured public URL, the
/// proxy's view when trusted, or a relative path (borrowed: no copy per request).
pub(crate) fn url_prefix<'s>(shared: &'s Shared, request: &HeaderMap) -> Cow<'s, str> {
    let base = &shared.config.base_path;
    if let Some(public) = &shared.config.public_url {
        return Cow::Owned(format!("{public}{base}"));
    }
    if shared.config.trust_proxy
        && let Some((proto, host)) = forwarded_origin(request)
    {
        return Cow::Owned(format!("{proto}://{host}{base}"));
    }
    Cow::Borrowed(base)
}

pub(crate) fn upload_url(prefix: &str, id: &UploadId) -> String {
    // Exactly sized, so that a header value made from it takes the buffer as it is.
    let mut url = String::with_capacity(prefix.len() + 1 + id.as_ref().len());
    url.push_str(prefix);
    url.push('/');
    url.push_str(id.as_ref());
    url
}

/// The `Location` of upload `id`, without copying the URL into the header value.
pub(crate) fn upload_location(prefix: &str, id: &UploadId) -> Result<HeaderValue, TusError> {
    let url = upload_url(prefix, id);
    HeaderValue::from_maybe_shared(Bytes::from(url))
        .map_err(|_| TusError::Internal(format!("upload {id} has no valid URL under {prefix:?}")))
}

/// Scheme and host from `Forwarded`, else from `X-Forwarded-Proto` / `X-Forwarded-Host`.
fn forwarded_origin(headers: &HeaderMap) -> Option<(String, String)> {
    let valid_host = |h: &str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    let valid_proto = |p: &str| p == "http" || p == "https";
    let mut proto = None;
    let mut host = None;
    if let Some(forwarded) = headers.get("forwarded").and_then(|v| v.to_str().ok()) {
        // The first element is the one the outermost proxy added about the client.
        let first = forwarded.split(',').next().unwrap_or_default();
        for pair in first.split(';') {
            if let Some((key, value)) = pair.trim().split_once('=') {
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "proto" if valid_proto(&value.to_ascii_lowercase()) => proto = Some(value.to_ascii_lowercase()),
                    "host" if valid_host(value) => host = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
    }
    let first_of = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or_default().trim().to_owned())
    };
    if host.is_none()
        && proto.is_none()
        && !headers.contains_key("x-forwarded-host")
        && !headers.contains_key("x-forwarded-proto")
    {
        return None;
    }
    if host.is_none() {
        host = first_of("x-forwarded-host").filter(|h| valid_host(h));
    }
    if proto.is_none() {
        proto = first_of("x-forwarded-proto").map(|p| p.to_ascii_lowercase()).filter(|p| valid_proto(p));
    }
    let host = host.or_else(|| {
        headers.get(header::HOST).and_then(|v| v.to_str().ok()).filter(|h| valid_host(h)).map(str::to_owned)
    })?;
    Some((proto.unwrap_or_else(|| "http".into()), host))
}

/// The `Upload-Concat` value echoed on HEAD.
pub(crate) fn concat_header(prefix: &str, concat: &Concat) -> String {
    match concat {
        Concat::Partial => "partial".into(),
        Concat::Final(parts) => {
            let urls: Vec<String> = parts.iter().map(|id| upload_url(prefix, id)).collect();
            format!("final;{}", urls.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_paths_under_the_base() {
        assert!(matches!(route("/files", "/files"), Some(Target::Collection)));
        assert!(matches!(route("/files", "/files/"), Some(Target::Collection)));
        assert!(matches!(route("/files", "/files/abc"), Some(Target::Upload(Some(_)))));
        assert!(matches!(route("/files", "/files/a/b"), Some(Target::Upload(None))));
        assert!(matches!(route("/files", "/files/%2e%2e"), Some(Target::Upload(None))));
        assert!(route("/files", "/filesystem").is_none());
        assert!(route("/files", "/other").is_none());
        assert!(matches!(route("", "/abc"), Some(Target::Upload(Some(_)))));
    }

    #[test]
    fn only_http1_errors_on_announced_unread_bodies_end_the_connection() {
        let request = |version, length: &str| {
            let request = Request::patch("/files/abc").version(version).header(header::CONTENT_LENGTH, length);
            request.body(()).unwrap().into_parts().0
        };
        let conflict = StatusCode::CONFLICT;
        let http1 = request(http::Version::HTTP_11, "5");
        assert!(answer_ends_connection(&http1, true, conflict));
        assert!(answer_ends_connection(&http1, true, StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!answer_ends_connection(&http1, true, StatusCode::NO_CONTENT), "a success read the body");
        assert!(!answer_ends_connection(&http1, false, conflict), "the body had ended");
        assert!(!answer_ends_connection(&request(http::Version::HTTP_11, "0"), true, conflict), "no body");
        assert!(!answer_ends_connection(&request(http::Version::HTTP_2, "5"), true, conflict), "HTTP/2");
        let mut no_framing = request(http::Version::HTTP_11, "5");
        no_framing.headers.remove(header::CONTENT_LENGTH);
        assert!(!answer_ends_connection(&no_framing, true, conflict), "a body an adapter cannot tell is empty");
    }

    #[test]
    fn forwarded_headers_give_scheme_and_host() {
        let mut h = HeaderMap::new();
        h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4;host=up.example;proto=https"));
        assert_eq!(forwarded_origin(&h), Some(("https".into(), "up.example".into())));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-host", HeaderValue::from_static("up.example, internal"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(forwarded_origin(&h), Some(("https".into(), "up.example".into())));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example/path"));
        assert_eq!(forwarded_origin(&h), None);
    }
}
