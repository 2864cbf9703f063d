//! [`Uploads`] and [`FinishedUpload`]: uploads' committed state in handlers.

use axum::extract::{FromRef, FromRequestParts, RawPathParams};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use std::sync::Arc;
use tus_core::{Storage, StorageError, TusLayer, UploadId, UploadInfo};

/// Read access to the uploads of a [`TusLayer`], for handlers: keep one in your app state
/// (and implement [`FromRef`] for it) to use the [`FinishedUpload`] extractor.
///
/// ```
/// use axum::extract::{FromRef, State};
/// use axum::{Json, Router, routing::get};
/// use tus_axum::{UploadRejection, Uploads};
/// use tus_core::{MemoryStorage, TusLayer};
///
/// #[derive(Clone)]
/// struct AppState {
///     uploads: Uploads,
/// }
///
/// impl FromRef<AppState> for Uploads {
///     fn from_ref(state: &AppState) -> Self {
///         state.uploads.clone()
///     }
/// }
///
/// async fn size(State(uploads): State<Uploads>) -> Result<Json<Option<u64>>, UploadRejection> {
///     let info = uploads.info("some-upload-id").await?;
///     Ok(Json(info.length))
/// }
///
/// let layer = TusLayer::new(MemoryStorage::new());
/// let state = AppState { uploads: Uploads::new(&layer) };
/// let app: Router = Router::new().route("/size", get(size)).layer(layer).with_state(state);
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct Uploads {
    storage: Arc<dyn Storage>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads").finish_non_exhaustive()
    }
}

impl Uploads {
    /// The uploads of `layer`'s storage.
    pub fn new(layer: &TusLayer) -> Self {
        Self::from_storage(layer.storage().clone())
    }

    /// The uploads of `storage`.
    pub fn from_storage(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// The storage itself (for downloads and everything else).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The committed state of upload `id`, finished or not.
    pub async fn info(&self, id: &str) -> Result<UploadInfo, UploadRejection> {
        let id = UploadId::new(id).map_err(|_| UploadRejection::InvalidId)?;
        self.storage.info(&id).await.map_err(|error| match error {
            StorageError::NotFound => UploadRejection::NotFound,
            StorageError::Gone => UploadRejection::Gone,
            other => UploadRejection::Storage(other.to_string()),
        })
    }

    /// The committed state of upload `id`, if every byte of it is stored.
    pub async fn finished(&self, id: &str) -> Result<UploadInfo, UploadRejection> {
        let info = self.info(id).await?;
        if info.is_complete() { Ok(info) } else { Err(UploadRejection::Unfinished) }
    }
}

/// Extracts the finished upload whose ID is the route's `{id}` path parameter, from the
/// [`Uploads`] in the app state. Unfinished, unknown and terminated uploads are refused
/// with an [`UploadRejection`].
///
/// ```
/// use axum::extract::FromRef;
/// use axum::{Router, routing::get};
/// use tus_axum::{FinishedUpload, Uploads};
/// use tus_core::{MemoryStorage, TusLayer};
///
/// async fn describe(FinishedUpload(upload): FinishedUpload) -> String {
///     let name = upload.metadata.get_str("filename").unwrap_or("unnamed");
///     format!("{name}: {} bytes", upload.offset)
/// }
///
/// #[derive(Clone)]
/// struct AppState {
///     uploads: Uploads,
/// }
///
/// impl FromRef<AppState> for Uploads {
///     fn from_ref(state: &AppState) -> Self {
///         state.uploads.clone()
///     }
/// }
///
/// let layer = TusLayer::new(MemoryStorage::new());
/// let state = AppState { uploads: Uploads::new(&layer) };
/// let app: Router = Router::new()
///     .route("/uploads/{id}", get(describe))
///     .layer(layer)
///     .with_state(state);
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct FinishedUpload(pub UploadInfo);

impl<S> FromRequestParts<S> for FinishedUpload
where
    Uploads: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = UploadRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, UploadRejection> {
        let params =
            RawPathParams::from_request_parts(parts, state).await.map_err(|_| UploadRejection::NoIdParameter)?;
        let id = params.iter().find(|(name, _)| *name == "id").map(|(_, value)| value.to_owned());
        let id = id.ok_or(UploadRejection::NoIdParameter)?;
        Uploads::from_ref(state).finished(&id).await.map(Self)
    }
}

/// Why an upload could not be read. As a response, it is its [status](Self::status) and a
/// short text.
///
/// ```
/// use axum::response::IntoResponse as _;
/// use tus_axum::UploadRejection;
///
/// let response = UploadRejection::Unfinished.into_response();
/// assert_eq!(response.status(), http::StatusCode::CONFLICT);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadRejection {
    /// The ID is not a valid upload ID (400).
    InvalidId,
    /// No such upload (404).
    NotFound,
    /// The upload expired or was terminated (410).
    Gone,
    /// Not every byte is stored yet (409).
    Unfinished,
    /// The route has no `{id}` path parameter (500: a bug in the app's routes).
    NoIdParameter,
    /// The storage failed (503).
    Storage(String),
}

impl UploadRejection {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidId => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Gone => StatusCode::GONE,
            Self::Unfinished => StatusCode::CONFLICT,
            Self::NoIdParameter => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl std::fmt::Display for UploadRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidId => f.write_str("invalid upload id"),
            Self::NotFound => f.write_str("no such upload"),
            Self::Gone => f.write_str("the upload expired or was terminated"),
            Self::Unfinished => f.write_str("the upload is not finished"),
            Self::NoIdParameter => f.write_str("the route has no {id} path parameter"),
            Self::Storage(why) => write!(f, "storage error: {why}"),
        }
    }
}

impl std::error::Error for UploadRejection {}

impl IntoResponse for UploadRejection {
    fn into_response(self) -> Response {
        (self.status(), format!("{self}\n")).into_response()
    }
}
