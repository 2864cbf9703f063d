//! # tus-core
//!
//! A [tower] middleware that speaks the [tus resumable upload protocol 1.0.0][tus]
//! with every extension, over `http` types and streaming `http-body` bodies.
//!
//! ```
//! use tus_core::{MemoryStorage, TusLayer};
//! use http::{Method, Request, StatusCode};
//! use http_body_util::Empty;
//! use tower::ServiceExt as _;
//! use bytes::Bytes;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let service = TusLayer::new(MemoryStorage::new()).standalone();
//! let request = Request::builder()
//!     .method(Method::POST)
//!     .uri("/files")
//!     .header("Tus-Resumable", "1.0.0")
//!     .header("Upload-Length", "11")
//!     .body(Empty::<Bytes>::new())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::CREATED);
//! assert!(response.headers()["location"].to_str().unwrap().starts_with("/files/"));
//! # }
//! ```
//!
//! The pieces:
//! - [`TusLayer`] holds the configuration; [`TusService`] answers requests.
//! - [`Storage`] is where uploads live ([`MemoryStorage`] here; SQLite, S3, GCS and Azure in
//!   their own crates). Bodies reach it as a [`ChunkStream`], never as a whole buffer.
//! - [`Locker`] gives one writer per upload ([`MemoryLocker`] here; Redis in its own crate).
//! - [`Hooks`] authorize requests and react to the life of uploads.
//!
//! [tower]: https://docs.rs/tower
//! [tus]: https://tus.io/protocols/resumable-upload

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod body;
mod checksum;
mod config;
mod error;
mod future;
mod handlers;
pub mod headers;
mod health;
mod hooks;
mod id;
mod incoming;
mod janitor;
mod layer;
mod lock;
mod metadata;
#[cfg(feature = "metrics")]
pub mod metrics;
mod recorder;
mod service;
pub mod storage;

pub use body::{ResponseBody, TusBody};
pub use checksum::{ChecksumAlgorithm, Hasher, InvalidChecksum, UnknownAlgorithm, UploadChecksum};
pub use config::{AllowedOrigins, Cors, Expiration, Extension, MethodOverride};
pub use error::{BoxError, CHECKSUM_MISMATCH, StorageError, TusError};
pub use future::ResponseFuture;
pub use health::{NotReady, Readiness};
pub use hooks::{CreatePlan, HookRejection, Hooks, Intent, NoHooks};
pub use id::{IdGenerator, InvalidUploadId, RandomIds, UploadId};
pub use layer::{ShutdownHandle, TusLayer};
pub use lock::{LockError, LockRelease, Locker, MemoryLocker, UploadLock};
pub use metadata::{InvalidMetadata, Metadata};
pub use service::{NotFound, TusService};
pub use storage::{
    AppendOptions, BodyError, ByteStream, ChunkStream, Concat, CreatedWithUpload, MemoryStorage, NewUpload, Removal,
    Storage, StorageFeatures, UploadInfo,
};

impl TusLayer {
    /// Removes every expired, unfinished upload that no request is writing right now,
    /// and returns their IDs; with `dry_run`, only lists them. The background janitor
    /// does this on its own every [`TusLayer::janitor_interval`] while the service runs,
    /// after [`Storage::remove_leftovers`].
    pub async fn remove_expired(&self, dry_run: bool) -> Result<Vec<UploadId>, StorageError> {
        janitor::sweep(&self.shared(), dry_run).await
    }
}
