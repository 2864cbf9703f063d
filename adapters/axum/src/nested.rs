//! [`TusNest`]: tus mounted with `nest_service`, routed by the URI the client sent.

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_service::Service;
use tus_core::{NotFound, TusLayer, TusService};

/// tus as a service to mount with [`Router::nest_service`](axum::Router::nest_service),
/// also inside routers that are themselves [nested](axum::Router::nest) under a prefix.
///
/// axum strips the prefixes of `nest` and `nest_service` before the service sees a request,
/// so tus on its own would answer `POST /api/files` with a `Location` of `/<id>`. `TusNest`
/// works on the URI the client sent ([`OriginalUri`]) instead: give it the full base path
/// clients use, the prefixes of every enclosing router included, and `Location`s are right.
///
/// A request that reaches it outside that base path means the base path and the mount
/// disagree: it is answered with 500 and a message saying so.
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt as _;
/// use tus_axum::TusNest;
/// use tus_core::{MemoryStorage, TusLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let layer = TusLayer::new(MemoryStorage::new());
/// // A router built on its own, to be mounted under /api.
/// let api = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .nest_service("/files", TusNest::new("/api/files", layer));
/// let app = Router::new().nest("/api", api);
///
/// let create = Request::post("/api/files").header("Tus-Resumable", "1.0.0").header("Upload-Length", "3");
/// let response = app.clone().oneshot(create.body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::CREATED);
/// assert!(response.headers()["location"].to_str()?.starts_with("/api/files/"));
///
/// let response = app.oneshot(Request::get("/api/health").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TusNest {
    tus: TusService<NotFound>,
}

impl TusNest {
    /// Serves `layer` at `base_path`, the full path clients use. It replaces the layer's own
    /// base path.
    pub fn new(base_path: &str, layer: TusLayer) -> Self {
        Self { tus: layer.base_path(base_path).standalone() }
    }

    /// Serves an already built tus service; its base path must be the full path clients use.
    pub fn from_service(tus: TusService<NotFound>) -> Self {
        Self { tus }
    }
}

impl Service<Request<Body>> for TusNest {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A standalone tus service is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        if let Some(OriginalUri(uri)) = request.extensions().get::<OriginalUri>() {
            *request.uri_mut() = uri.clone();
        }
        if !self.tus.handles_path(request.uri().path()) {
            let message = format!(
                "tus-axum: {} is outside the base path of this TusNest; give TusNest::new the full path \
                 clients use, including the prefixes of enclosing routers\n",
                request.uri().path()
            );
            return Box::pin(std::future::ready(Ok((StatusCode::INTERNAL_SERVER_ERROR, message).into_response())));
        }
        let response = self.tus.call(request);
        Box::pin(async move {
            let Ok(response) = response.await;
            Ok(response.map(Body::new))
        })
    }
}
