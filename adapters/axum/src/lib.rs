//! # tus-axum
//!
//! [tus resumable uploads][tus] in an [axum] 0.8 application.
//!
//! [`TusLayer`] is a tower layer, so on axum it needs no adapter at all: layer it on the
//! router and requests under its base path (default `/files`) go to tus while every other
//! request reaches your routes untouched.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt as _;
//! use tus_core::TusLayer;
//! use tus_sqlite::SqliteStorage;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let storage = SqliteStorage::open(dir.path())?;
//! let app = Router::new()
//!     .route("/api", get(|| async { "hello" }))
//!     .layer(TusLayer::new(storage));
//!
//! let create = Request::post("/files").header("Tus-Resumable", "1.0.0").header("Upload-Length", "5");
//! let response = app.clone().oneshot(create.body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::CREATED);
//! let location = response.headers()["location"].to_str()?.to_owned();
//! assert!(location.starts_with("/files/"));
//!
//! let patch = Request::patch(&location)
//!     .header("Tus-Resumable", "1.0.0")
//!     .header("Upload-Offset", "0")
//!     .header("Content-Type", "application/offset+octet-stream");
//! let response = app.clone().oneshot(patch.body(Body::from("hello"))?).await?;
//! assert_eq!(response.status(), StatusCode::NO_CONTENT);
//!
//! // The host routes keep working, and unknown paths still get axum's 404.
//! let response = app.clone().oneshot(Request::get("/api").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let response = app.oneshot(Request::get("/nope").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::NOT_FOUND);
//! # Ok(())
//! # }
//! ```
//!
//! This crate adds the two things an axum application reaches for next:
//!
//! - [`TusNest`]: tus mounted with [`nest_service`](axum::Router::nest_service), also in a
//!   router that is itself [nested](axum::Router::nest) under a prefix. axum strips those
//!   prefixes from the URI, so tus alone would hand out `Location`s without them; `TusNest`
//!   works on the URI the client sent, so its base path is simply the full path clients see.
//! - [`Uploads`] and the [`FinishedUpload`] extractor: read an upload's committed state
//!   ([`tus_core::UploadInfo`]) in a handler, from your app state.
//!
//! The same rule holds everywhere: **the base path is the full path clients use**. Layered on
//! the top-level router, [`TusLayer`] sees every request with its full path, nested routers
//! included: `Router::new().nest("/api", api).layer(TusLayer::new(storage).base_path("/api/files"))`.
//! Layered on a router that is then nested, it would not: axum keeps the routes of a nested
//! router but not its default fallback, so tus would only see requests that match one of
//! that router's routes. Use [`TusNest`] there.
//!
//! [tus]: https://tus.io/protocols/resumable-upload
//! [axum]: https://docs.rs/axum

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod nested;
mod uploads;

pub use nested::TusNest;
pub use uploads::{FinishedUpload, UploadRejection, Uploads};

#[doc(no_inline)]
pub use tus_core::TusLayer;
