//! Conversions between actix-web 4's `http` 0.2 types and the `http` 1 types of tus-core.

use crate::body::ActixBody;
use actix_web::http as actix_http;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use std::net::SocketAddr;

/// The address of the client, as actix saw it, in the `http` extensions of every request
/// that reaches tus-core (read it in a hook from [`http::request::Parts::extensions`]).
///
/// ```
/// use async_trait::async_trait;
/// use http::request::Parts;
/// use tus_actix::PeerAddr;
/// use tus_core::{HookRejection, Hooks, Intent, UploadInfo};
///
/// struct LocalOnly;
///
/// #[async_trait]
/// impl Hooks for LocalOnly {
///     async fn authorize(&self, request: &Parts, _: Intent, _: Option<&UploadInfo>) -> Result<(), HookRejection> {
///         match request.extensions.get::<PeerAddr>() {
///             Some(PeerAddr(addr)) if addr.ip().is_loopback() => Ok(()),
///             _ => Err(HookRejection::forbidden("uploads are for local clients only")),
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The head of an `http` 1 request equal to actix's request.
pub(crate) fn request_head(request: &HttpRequest) -> Result<http::request::Parts, http::Error> {
    let uri = http::Uri::from_maybe_shared(Bytes::from(request.uri().to_string()))?;
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(request.method().as_str().as_bytes())?)
        .uri(uri)
        .version(version_in(request.version()));
    if let Some(headers) = builder.headers_mut() {
        headers.reserve(request.headers().len());
        for (name, value) in request.headers() {
            let name = http::HeaderName::from_bytes(name.as_str().as_bytes())?;
            let mut converted = http::HeaderValue::from_bytes(value.as_bytes())?;
            converted.set_sensitive(value.is_sensitive());
            headers.append(name, converted);
        }
    }
    if let Some(extensions) = builder.extensions_mut() {
        if let Some(addr) = request.peer_addr() {
            extensions.insert(PeerAddr(addr));
        }
        extensions.insert(request.connection_info().clone());
    }
    let (parts, ()) = builder.body(())?.into_parts();
    Ok(parts)
}

/// The actix response equal to tus-core's response; its body streams.
pub(crate) fn response<B>(request: &HttpRequest, response: http::Response<B>) -> HttpResponse
where
    B: http_body::Body<Data = Bytes> + 'static,
    B::Error: Into<tus_core::BoxError>,
{
    let (parts, body) = response.into_parts();
    let status = actix_http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_http::StatusCode::INTERNAL_SERVER_ERROR);
    let body = ActixBody::new(body, request.method() == actix_http::Method::HEAD);
    let mut converted = HttpResponse::with_body(status, body);
    let headers = converted.headers_mut();
    for (name, value) in &parts.headers {
        // `HeaderMap` yields every value, so multi-valued headers keep all of theirs, in order.
        let (Ok(name), Ok(mut converted_value)) = (
            actix_http::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            actix_http::header::HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            continue;
        };
        converted_value.set_sensitive(value.is_sensitive());
        headers.append(name, converted_value);
    }
    // actix writes its own `Connection` header from the head's connection type and drops ours.
    if parts.headers.get(http::header::CONNECTION).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close")) {
        converted.head_mut().set_connection_type(actix_http::ConnectionType::Close);
    }
    converted.map_into_boxed_body()
}

fn version_in(version: actix_http::Version) -> http::Version {
    match version {
        actix_http::Version::HTTP_09 => http::Version::HTTP_09,
        actix_http::Version::HTTP_10 => http::Version::HTTP_10,
        actix_http::Version::HTTP_2 => http::Version::HTTP_2,
        actix_http::Version::HTTP_3 => http::Version::HTTP_3,
        _ => http::Version::HTTP_11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_request_head_crosses_over_whole() {
        let request = TestRequest::patch()
            .uri("/files/abc?x=1&y=%20")
            .version(actix_http::Version::HTTP_10)
            .insert_header(("Upload-Offset", "42"))
            .append_header(("X-Multi", "one"))
            .append_header(("X-Multi", "two"))
            .append_header(("X-Multi", "three"))
            .insert_header(("X-Latin", &b"caf\xe9"[..]))
            .peer_addr("10.1.2.3:4567".parse().unwrap())
            .to_http_request();
        let parts = request_head(&request).unwrap();
        assert_eq!(parts.method, http::Method::PATCH);
        assert_eq!(parts.uri, "/files/abc?x=1&y=%20");
        assert_eq!(parts.version, http::Version::HTTP_10);
        assert_eq!(parts.headers["upload-offset"], "42");
        let multi: Vec<_> = parts.headers.get_all("x-multi").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(multi, ["one", "two", "three"]);
        assert_eq!(parts.headers["x-latin"].as_bytes(), b"caf\xe9");
        assert_eq!(parts.extensions.get::<PeerAddr>(), Some(&PeerAddr("10.1.2.3:4567".parse().unwrap())));
        assert!(parts.extensions.get::<actix_web::dev::ConnectionInfo>().is_some());
    }

    #[test]
    fn custom_methods_and_absolute_uris_cross_over() {
        let request = TestRequest::default()
            .method(actix_http::Method::from_bytes(b"PROPFIND").unwrap())
            .uri("http://example.com:8080/files/x")
            .to_http_request();
        let parts = request_head(&request).unwrap();
        assert_eq!(parts.method.as_str(), "PROPFIND");
        assert_eq!(parts.uri.authority().unwrap(), "example.com:8080");
        assert_eq!(parts.uri.path(), "/files/x");
    }

    #[test]
    fn the_response_crosses_back_whole() {
        let request = TestRequest::get().to_http_request();
        let mut sensitive = http::HeaderValue::from_static("secret");
        sensitive.set_sensitive(true);
        let tus = http::Response::builder()
            .status(460)
            .header("Tus-Resumable", "1.0.0")
            .header("Vary", "Origin")
            .header("Vary", "Accept")
            .header("X-Secret", sensitive)
            .body(http_body_util::Full::new(Bytes::from_static(b"ERR_CHECKSUM_MISMATCH")))
            .unwrap();
        let converted = response(&request, tus);
        assert_eq!(converted.status().as_u16(), 460);
        assert_eq!(converted.headers().get("tus-resumable").unwrap(), "1.0.0");
        let vary: Vec<_> = converted.headers().get_all("vary").map(|v| v.to_str().unwrap()).collect();
        assert_eq!(vary, ["Origin", "Accept"]);
        assert!(converted.headers().get("x-secret").unwrap().is_sensitive());
        assert!(converted.head().keep_alive(), "no reason to close");
    }

    #[test]
    fn a_connection_close_reaches_actix() {
        let request = TestRequest::patch().to_http_request();
        let tus = http::Response::builder()
            .status(409)
            .header("Connection", "close")
            .body(http_body_util::Full::new(Bytes::from_static(b"ERR_MISMATCHED_OFFSET")))
            .unwrap();
        let converted = response(&request, tus);
        assert!(!converted.head().keep_alive(), "the connection type is Close");
    }
}
