//! An axum 0.8 API with resumable uploads: JSON routes under `/api`, tus under `/files/`.
//! See the README for the environment variables and the routes.

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use tus_axum::{FinishedUpload, Uploads};
use tus_example_common::{AppState, Settings, UploadSummary};

/// The router's state: the shared example state, and read access to the uploads.
#[derive(Clone)]
struct Shared {
    app: AppState,
    uploads: Uploads,
}

impl FromRef<Shared> for Uploads {
    fn from_ref(state: &Shared) -> Self {
        state.uploads.clone()
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = Settings::from_env();
    let app = AppState::open(&settings).map_err(std::io::Error::other)?;
    let shutdown = app.layer.shutdown_handle();
    let state = Shared { uploads: Uploads::new(&app.layer), app: app.clone() };
    let router = Router::new()
        .route("/api/health", get(health))
        .route("/api/uploads", get(list_uploads))
        .route("/api/uploads/{id}", get(get_upload))
        .with_state(state)
        // Everything under /files goes to tus; the routes above never see it.
        .layer(app.layer);
    let listener = tokio::net::TcpListener::bind(&settings.listen_addr).await?;
    settings.announce("axum", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Uploads in flight keep what they received and answer 503.
            shutdown.shutdown();
        })
        .await
}

async fn health() -> Json<Value> {
    Json(AppState::health())
}

async fn list_uploads(_: Authorized, State(state): State<Shared>) -> Json<Vec<UploadSummary>> {
    Json(state.app.uploads.list())
}

/// Reads the upload from the storage (the `FinishedUpload` extractor), not from the record.
async fn get_upload(_: Authorized, FinishedUpload(upload): FinishedUpload) -> Json<UploadSummary> {
    Json(UploadSummary::from(&upload))
}

/// The bearer check of the app's own routes (tus requests go through the hook).
struct Authorized;

impl FromRequestParts<Shared> for Authorized {
    type Rejection = (StatusCode, Json<Value>);

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).map(|v| v.as_bytes());
        state.app.auth.check(header).map(|()| Self).map_err(|denied| {
            (StatusCode::from_u16(denied.status()).unwrap_or(StatusCode::FORBIDDEN), Json(denied.json()))
        })
    }
}
