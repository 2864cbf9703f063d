//! # tus-actix
//!
//! Serves [tus resumable uploads][tus] from an [actix-web] 4 application: [`scope`] turns a
//! [`TusLayer`] into an actix [`Scope`] that hands every request under its path to
//! [`tus_core`]'s tower service.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, web};
//! use tus_core::TusLayer;
//! use tus_sqlite::SqliteStorage;
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let storage = SqliteStorage::open("./uploads").map_err(std::io::Error::other)?;
//!     let layer = TusLayer::new(storage).max_size(10 << 30);
//!     HttpServer::new(move || {
//!         App::new()
//!             .route("/health", web::get().to(HttpResponse::Ok))
//!             .service(tus_actix::scope("/files", layer.clone()))
//!     })
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! }
//! ```
//!
//! # How requests cross over
//!
//! actix-web 4 speaks `http` 0.2 and its request payload is not `Send`, while tus-core
//! speaks `http` 1 and wants a `Send` body. For each request:
//!
//! - The method, URI, version and every header value (multi-valued headers included, with
//!   their order and sensitivity) are copied into an `http` 1 request. The client's address
//!   is added as a [`PeerAddr`] extension and actix's [`ConnectionInfo`] as another; other
//!   actix extensions are not `Send` and stay behind, unless [`TusScope::copy_extensions`]
//!   copies them.
//! - The tower future runs as a task of its own on the worker's runtime, so it finishes (and
//!   keeps the bytes received) even when actix drops the request because the client left.
//! - The payload is pumped into the tower service through a bounded channel of a few chunks
//!   ([`TusScope::channel_capacity`]). The pump reads the next chunk from the socket only
//!   once the channel has room, so a slow storage slows the client down and a request body is
//!   never buffered whole. A payload that fails, or a pump that stops before the end of the
//!   payload (the client went away), reaches the service as a body *error*, never as a clean
//!   end, so tus-core keeps the bytes received and the upload stays resumable.
//! - The response status and headers are copied back, and its body streams out as an actix
//!   [`MessageBody`](actix_web::body::MessageBody) polled by actix itself: a GET download of a
//!   large upload is never held in memory either.
//!
//! actix's payload carries no HTTP trailers, so [`scope`] switches the checksum-trailer
//! extension off (clients then send `Upload-Checksum` as a header).
//!
//! [tus]: https://tus.io/protocols/resumable-upload
//! [actix-web]: https://actix.rs
//! [`ConnectionInfo`]: actix_web::dev::ConnectionInfo

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod body;
mod convert;
mod pump;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::{HttpRequest, HttpResponse, Scope, web};
use std::rc::Rc;
use tower_service::Service as _;
use tus_core::{Extension, NotFound, TusLayer, TusService};

pub use convert::PeerAddr;

/// The default number of request chunks in flight between actix and tus-core.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 8;

/// Mounts tus at `path`: every request under it, whatever its method, goes to tus-core.
///
/// The layer's base path is set to `path` (so `Location` headers name it) and the
/// checksum-trailer extension is switched off (actix drops trailers). `path` must be the
/// full path clients use: to mount inside another scope, build the service yourself with
/// the full base path and use [`TusScope`].
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use tus_core::{MemoryStorage, TusLayer};
///
/// let layer = TusLayer::new(MemoryStorage::new());
/// let app = App::new()
///     .route("/api/health", web::get().to(HttpResponse::Ok))
///     .service(tus_actix::scope("/files", layer));
/// # let _ = app;
/// ```
pub fn scope(path: &str, layer: TusLayer) -> Scope {
    let path = normalize(path);
    let service = layer.base_path(&path).extension(Extension::ChecksumTrailer, false).standalone();
    TusScope::new(service).scope(&path)
}

/// A tus service ready to be mounted as an actix [`Scope`], with the options [`scope`]
/// leaves at their defaults.
///
/// The service's base path must be the full path clients use, which differs from the
/// scope's own path when the scope sits inside another one:
///
/// ```
/// use actix_web::{App, HttpMessage as _, web};
/// use tus_actix::TusScope;
/// use tus_core::{Extension, MemoryStorage, TusLayer};
///
/// #[derive(Clone)]
/// struct User(String);
///
/// let service = TusLayer::new(MemoryStorage::new())
///     .base_path("/api/files")
///     .extension(Extension::ChecksumTrailer, false)
///     .standalone();
/// let app = App::new().service(
///     web::scope("/api").service(
///         TusScope::new(service)
///             // Hooks see what an auth middleware stored in actix's extensions.
///             .copy_extensions(|request, extensions| {
///                 if let Some(user) = request.extensions().get::<User>() {
///                     extensions.insert(user.clone());
///                 }
///             })
///             .channel_capacity(4)
///             .scope("/files"),
///     ),
/// );
/// # let _ = app;
/// ```
#[must_use]
pub struct TusScope {
    service: TusService<NotFound>,
    copy_extensions: Option<Rc<CopyExtensions>>,
    channel_capacity: usize,
}

type CopyExtensions = dyn Fn(&HttpRequest, &mut http::Extensions);

impl std::fmt::Debug for TusScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TusScope")
            .field("service", &self.service)
            .field("copy_extensions", &self.copy_extensions.is_some())
            .field("channel_capacity", &self.channel_capacity)
            .finish()
    }
}

impl TusScope {
    /// Wraps a standalone tus service (see [`TusLayer::standalone`]).
    pub fn new(service: TusService<NotFound>) -> Self {
        Self { service, copy_extensions: None, channel_capacity: DEFAULT_CHANNEL_CAPACITY }
    }

    /// Runs `copy` on every request to carry actix extensions (which are not `Send`) over
    /// to the `http` extensions that tus-core hooks see in their [`http::request::Parts`].
    pub fn copy_extensions(mut self, copy: impl Fn(&HttpRequest, &mut http::Extensions) + 'static) -> Self {
        self.copy_extensions = Some(Rc::new(copy));
        self
    }

    /// How many request chunks may wait between actix and tus-core (default
    /// [`DEFAULT_CHANNEL_CAPACITY`]; at least 1). Memory per request is bounded by this
    /// many chunks of the size actix reads from the socket.
    pub fn channel_capacity(mut self, chunks: usize) -> Self {
        self.channel_capacity = chunks.max(1);
        self
    }

    /// The actix [`Scope`] at `path` (relative to the enclosing scope, if any).
    pub fn scope(self, path: &str) -> Scope {
        let path = normalize(path);
        let shared = Rc::new(self);
        web::scope(&path).default_service(fn_service(move |request: ServiceRequest| {
            let shared = Rc::clone(&shared);
            async move { Ok(shared.handle(request).await) }
        }))
    }

    async fn handle(&self, request: ServiceRequest) -> ServiceResponse<BoxBody> {
        let (http_request, payload) = request.into_parts();
        if !self.service.handles_path(http_request.path()) {
            let response = HttpResponse::InternalServerError().body(format!(
                "tus-actix: {} is outside the base path of the tus service; when the scope is \
                 nested, set the layer's base path to the full path clients use\n",
                http_request.path()
            ));
            return ServiceResponse::new(http_request, response);
        }
        let response = match convert::request_head(&http_request) {
            Ok(mut parts) => {
                if let Some(copy) = &self.copy_extensions {
                    copy(&http_request, &mut parts.extensions);
                }
                let (body, pump) = pump::channel(payload, self.channel_capacity);
                let mut service = self.service.clone();
                // No `poll_ready`: the tus service is ready whenever its inner service is,
                // and `NotFound` always is.
                let task = actix_web::rt::spawn(service.call(http::Request::from_parts(parts, body)));
                match pump.drive_until(task).await {
                    Ok(Ok(response)) => convert::response(&http_request, response),
                    Ok(Err(infallible)) => match infallible {},
                    Err(join_error) => HttpResponse::InternalServerError()
                        .body(format!("tus-actix: the tus request task failed: {join_error}\n")),
                }
            }
            Err(bad) => HttpResponse::BadRequest().body(format!("tus-actix: {bad}\n")),
        };
        ServiceResponse::new(http_request, response)
    }
}

/// `/files/` → `/files`, `files` → `/files`, `/` → `` (the root).
fn normalize(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") }
}
