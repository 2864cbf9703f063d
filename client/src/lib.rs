//! An async client for the [tus](https://tus.io) 1.0.0 resumable upload protocol.
//!
//! - **Uploads** from a file, bytes or any `AsyncRead` (an unknown length makes a
//!   deferred-length upload), in chunks (4 MiB by default) streamed from disk, with
//!   metadata, a progress callback (bytes, percent, speed, ETA), a stop offset and
//!   cancellation.
//! - **Resilience**: network errors, 5xx, 423 and 409 are retried with exponential
//!   backoff and jitter; after a failure the client asks the server for its offset and
//!   goes on from there. Other 4xx fail at once with [`Error::Status`], carrying the
//!   server's message.
//! - **Checksums** (`sha1`, `sha256`, `sha512`, `md5`), refused clearly when the server
//!   does not offer the algorithm.
//! - **Parallel uploads**: a file split into N ranges uploaded concurrently as partial
//!   uploads, then concatenated by the server; also the primitives
//!   ([`Client::create_partial_upload`], [`Client::create_final_upload`]).
//! - **Cross-session resume**: file [fingerprints](Fingerprinter) and
//!   [URL storages](UrlStorage) (JSON file, SQLite, memory) so that uploading the same
//!   file again resumes it.
//! - [`Uploader`] for chunk-by-chunk control, [`blocking`] for synchronous code, and
//!   hooks before each request, after each response and before each retry.
//!
//! ```no_run
//! use tus_rs_client::{Client, JsonFileUrlStorage, Source};
//!
//! # async fn run() -> Result<(), tus_rs_client::Error> {
//! let client = Client::builder("https://uploads.example.com/files")
//!     .header("Authorization", "Bearer s3cr3t")
//!     .url_storage(JsonFileUrlStorage::new("/var/cache/my-app/uploads.json"))
//!     .build()?;
//! let uploaded = client
//!     .upload(Source::file("holiday.mp4"))
//!     .metadata("filename", "holiday.mp4")
//!     .on_progress(|p| println!("{} / {:?} bytes", p.bytes_uploaded, p.total))
//!     .await?;
//! println!("uploaded to {} (resumed from {:?})", uploaded.url, uploaded.resumed_from);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//! - `sqlite` (default): [`SqliteUrlStorage`].
//! - `rustls`: `https://` endpoints, through rustls with the ring crypto provider. Without
//!   it the client speaks plain HTTP only, and builds small.

pub mod blocking;
mod checksum;
mod client;
mod error;
mod file;
mod fingerprint;
mod hooks;
mod metadata;
mod progress;
mod retry;
mod source;
pub mod storage;
mod upload;
mod uploader;

pub use checksum::{ChecksumAlgorithm, UnknownAlgorithm};
pub use client::{Client, ClientBuilder, DEFAULT_CHUNK_SIZE, DEFAULT_TIMEOUT, ServerInfo, TUS_VERSION, UploadInfo};
pub use error::{Error, Result};
pub use fingerprint::{DefaultFingerprinter, Fingerprinter};
pub use hooks::{RequestInfo, ResponseInfo};
pub use metadata::Metadata;
pub use progress::Progress;
pub use retry::RetryPolicy;
pub use source::Source;
#[cfg(feature = "sqlite")]
pub use storage::SqliteUrlStorage;
pub use storage::{JsonFileUrlStorage, MemoryUrlStorage, PreviousUpload, StorageError, StoredUpload, UrlStorage};
pub use upload::{Upload, Uploaded};
pub use uploader::Uploader;

/// Re-exported: the URL type of upload URLs.
pub use reqwest::Url;
/// Re-exported: the cancellation token of [`Upload::cancel_token`].
pub use tokio_util::sync::CancellationToken;
