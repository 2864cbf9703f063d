//! # tus-warp
//!
//! [tus resumable uploads][tus] as a [warp] 0.4 [`Filter`]: [`filter`] answers requests
//! under the layer's base path (default `/files`) and rejects every other request, so it
//! composes with the rest of an application through [`Filter::or`].
//!
//! ```no_run
//! use tus_core::TusLayer;
//! use tus_sqlite::SqliteStorage;
//! use warp::Filter as _;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let layer = TusLayer::new(SqliteStorage::open("./uploads")?).max_size(10 << 30);
//!     let health = warp::path!("health").map(|| "ok");
//!     let routes = health.or(tus_warp::filter(layer));
//!     warp::serve(routes).run(([127, 0, 0, 1], 8080)).await;
//!     Ok(())
//! }
//! ```
//!
//! # How requests cross over
//!
//! warp 0.4 and tus-core both speak `http` 1, so the method, path, query and every header
//! value go over as they are; the client's address (when warp knows it) is added as a
//! [`std::net::SocketAddr`] extension. warp's filters do not expose the request's HTTP
//! version (requests reach tus as HTTP/1.1) nor its trailers, so [`filter`] switches the
//! checksum-trailer extension off.
//!
//! The request body streams into tus-core as warp receives it: a body that ends before its
//! `Content-Length` reaches tus-core as an error, never as a clean end, so the bytes
//! received are kept and the upload stays resumable. The tus request runs as a task of its
//! own, so it finishes and commits even if the connection goes away. The response body
//! streams out as a warp reply, so downloads are never held in memory either.
//!
//! [tus]: https://tus.io/protocols/resumable-upload
//! [warp]: https://docs.rs/warp
//! [`Filter`]: warp::Filter
//! [`Filter::or`]: warp::Filter::or

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod body;

use bytes::Buf;
use futures_util::Stream;
use http::{HeaderMap, Method};
use std::net::SocketAddr;
use tower_service::Service as _;
use tus_core::{Extension, NotFound, TusLayer, TusService};
use warp::filters::path::FullPath;
use warp::reply::{Reply as _, Response};
use warp::{Filter, Rejection};

/// The tus endpoint of `layer` as a warp filter.
///
/// Requests under the layer's base path are answered by tus, whatever their method; every
/// other request is rejected with [`warp::reject::not_found`] before its body is touched,
/// so the next filter of an [`or`](Filter::or) chain gets it intact. The checksum-trailer
/// extension is switched off (warp drops trailers).
///
/// ```
/// use tus_core::{MemoryStorage, TusLayer};
/// use warp::Filter as _;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = TusLayer::new(MemoryStorage::new()).base_path("/uploads");
/// let routes = warp::path!("api" / "health").map(|| "ok").or(tus_warp::filter(layer));
///
/// let created = warp::test::request()
///     .method("POST")
///     .path("/uploads")
///     .header("Tus-Resumable", "1.0.0")
///     .header("Upload-Length", "5")
///     .reply(&routes)
///     .await;
/// assert_eq!(created.status(), 201);
/// assert!(created.headers()["location"].to_str().unwrap().starts_with("/uploads/"));
///
/// let health = warp::test::request().path("/api/health").reply(&routes).await;
/// assert_eq!(health.body(), "ok");
/// # }
/// ```
pub fn filter(
    layer: TusLayer,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    service_filter(layer.extension(Extension::ChecksumTrailer, false).standalone())
}

/// Like [`filter`], for an already built tus service (whose checksum-trailer extension
/// should be off: see the crate documentation).
///
/// ```
/// use tus_core::{Extension, MemoryStorage, TusLayer};
/// use warp::Filter as _;
///
/// let service = TusLayer::new(MemoryStorage::new())
///     .extension(Extension::ChecksumTrailer, false)
///     .standalone();
/// let routes = tus_warp::service_filter(service.clone()).or(warp::path!("ready").map(|| "yes"));
/// assert!(service.handles_path("/files/some-id"));
/// # let _ = routes;
/// ```
pub fn service_filter(
    service: TusService<NotFound>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let matcher = service.clone();
    warp::path::full()
        .and_then(move |path: FullPath| {
            let handled = matcher.handles_path(path.as_str());
            async move { if handled { Ok(path) } else { Err(warp::reject::not_found()) } }
        })
        .and(warp::method())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::body::stream())
        .and_then(move |path, method, query, headers, remote, body| {
            call(service.clone(), path, method, query, headers, remote, body)
        })
}

async fn call<S, B>(
    mut service: TusService<NotFound>,
    path: FullPath,
    method: Method,
    query: String,
    headers: HeaderMap,
    remote: Option<SocketAddr>,
    body: S,
) -> Result<Response, Rejection>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf + Send + 'static,
{
    let uri = if query.is_empty() { path.as_str().to_owned() } else { format!("{}?{query}", path.as_str()) };
    let content_length = tus_content_length(&headers);
    let mut request = http::Request::new(body::RequestBody::new(body, content_length));
    *request.method_mut() = method;
    *request.headers_mut() = headers;
    match uri.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return Ok(warp::reply::with_status("invalid URI\n", http::StatusCode::BAD_REQUEST).into_response()),
    }
    if let Some(remote) = remote {
        request.extensions_mut().insert(remote);
    }
    // Its own task: the tus request finishes (and keeps what it received) even when warp
    // drops this future because the connection went away. `NotFound` is always ready.
    let response = match tokio::spawn(service.call(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(infallible)) => match infallible {},
        Err(failed) => {
            let message = format!("tus-warp: the tus request task failed: {failed}\n");
            return Ok(warp::reply::with_status(message, http::StatusCode::INTERNAL_SERVER_ERROR).into_response());
        }
    };
    Ok(body::response(response))
}

/// The `Content-Length` of the request, if it has exactly one valid one.
fn tus_content_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let first = values.next()?.to_str().ok()?.trim().parse().ok()?;
    values.next().is_none().then_some(first)
}
