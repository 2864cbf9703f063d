//! A blocking client for synchronous code: the async client driven by a runtime of its own.
//!
//! Like `reqwest::blocking`, it must not be used from within an async runtime (its calls
//! would block the runtime's thread; tokio refuses that with a panic).
//!
//! ```no_run
//! use tus_rs_client::{Client, Source};
//!
//! let client = Client::builder("http://127.0.0.1:8080/files").build_blocking()?;
//! let uploaded = client.upload(Source::file("photo.jpg")).metadata("filename", "photo.jpg").send()?;
//! println!("{}", uploaded.url);
//! # Ok::<(), tus_rs_client::Error>(())
//! ```

use crate::client::{ClientBuilder, ServerInfo, UploadInfo};
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::progress::Progress;
use crate::source::Source;
use crate::storage::PreviousUpload;
use crate::upload::{UploadOptions, Uploaded, upload_setters};
use reqwest::Url;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A blocking tus client: every method of [`crate::Client`], blocking. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: crate::Client,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::Client").field(&self.inner).finish()
    }
}

impl Client {
    pub(crate) fn from_builder(builder: ClientBuilder) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the runtime of the blocking client: {e}")))?;
        // reqwest's client must be built inside a runtime context.
        let inner = {
            let _guard = runtime.enter();
            builder.build()?
        };
        Ok(Self { inner, runtime: Arc::new(runtime) })
    }

    /// A blocking client of `endpoint` with the default configuration.
    pub fn new(endpoint: impl Into<String>) -> Result<Self> {
        crate::Client::builder(endpoint).build_blocking()
    }

    /// The async client inside.
    pub fn as_async(&self) -> &crate::Client {
        &self.inner
    }

    fn block<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Starts describing an upload of `source`; [`Upload::send`] runs it.
    pub fn upload(&self, source: impl Into<Source>) -> Upload<'_> {
        Upload { client: self, source: source.into(), options: UploadOptions::default() }
    }

    /// Starts describing the resumption of the upload at `url` from `source`.
    pub fn resume_upload(&self, url: impl AsRef<str>, source: impl Into<Source>) -> Upload<'_> {
        self.upload(source).resume_from(url)
    }

    /// See [`crate::Client::create_partial_upload`].
    pub fn create_partial_upload(&self, source: impl Into<Source>, metadata: Metadata) -> Result<Url> {
        self.block(self.inner.create_partial_upload(source, metadata))
    }

    /// See [`crate::Client::create_final_upload`].
    pub fn create_final_upload(&self, partials: &[Url], metadata: Metadata) -> Result<Url> {
        self.block(self.inner.create_final_upload(partials, metadata))
    }

    /// See [`crate::Client::create_deferred_upload`].
    pub fn create_deferred_upload(&self, metadata: Metadata) -> Result<Url> {
        self.block(self.inner.create_deferred_upload(metadata))
    }

    /// See [`crate::Client::server_info`].
    pub fn server_info(&self) -> Result<ServerInfo> {
        self.block(self.inner.server_info())
    }

    /// See [`crate::Client::upload_info`].
    pub fn upload_info(&self, url: impl AsRef<str>) -> Result<UploadInfo> {
        self.block(self.inner.upload_info(url))
    }

    /// See [`crate::Client::delete_upload`].
    pub fn delete_upload(&self, url: impl AsRef<str>) -> Result<()> {
        self.block(self.inner.delete_upload(url))
    }

    /// See [`crate::Client::find_previous_uploads`].
    pub fn find_previous_uploads(&self, path: impl AsRef<Path>) -> Result<Vec<PreviousUpload>> {
        self.inner.find_previous_uploads(path)
    }
}

/// A blocking upload being described; [`Upload::send`] runs it.
#[must_use = "an upload does nothing until sent"]
pub struct Upload<'a> {
    client: &'a Client,
    source: Source,
    options: UploadOptions,
}

impl fmt::Debug for Upload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Upload").field("source", &self.source).finish_non_exhaustive()
    }
}

impl<'a> Upload<'a> {
    upload_setters!();

    /// Runs the upload to its end (or its stop offset).
    pub fn send(self) -> Result<Uploaded> {
        let client = self.client;
        client.block(crate::Upload::with_options(&client.inner, self.source, self.options).into_future())
    }

    /// A blocking [`Uploader`] for chunk-by-chunk control.
    pub fn uploader(self) -> Result<Uploader> {
        let client = self.client;
        let inner = client.block(crate::Upload::with_options(&client.inner, self.source, self.options).uploader())?;
        Ok(Uploader { inner, runtime: client.runtime.clone() })
    }
}

use std::future::{Future, IntoFuture as _};

/// The blocking counterpart of [`crate::Uploader`].
pub struct Uploader {
    inner: crate::Uploader,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl fmt::Debug for Uploader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Uploader {
    /// Sends the next chunk; returns whether chunks remain.
    pub fn upload_chunk(&mut self) -> Result<bool> {
        self.runtime.block_on(self.inner.upload_chunk())
    }

    /// Sends chunks until the upload is complete or its stop offset reached.
    pub fn upload(&mut self) -> Result<()> {
        self.runtime.block_on(self.inner.upload())
    }

    /// Creates the upload without sending data; returns its URL.
    pub fn create(&mut self) -> Result<Url> {
        self.runtime.block_on(self.inner.create())
    }

    /// The upload's URL, once created.
    pub fn url(&self) -> Option<&Url> {
        self.inner.url()
    }

    /// The bytes the server has confirmed.
    pub fn offset(&self) -> u64 {
        self.inner.offset()
    }

    /// The upload's length, when known.
    pub fn length(&self) -> Option<u64> {
        self.inner.length()
    }

    /// Whether every byte is confirmed.
    pub fn is_complete(&self) -> bool {
        self.inner.is_complete()
    }

    /// The progress of this session.
    pub fn progress(&self) -> Progress {
        self.inner.progress()
    }

    /// The token that cancels this uploader (cancel it from another thread).
    pub fn cancellation_token(&self) -> CancellationToken {
        self.inner.cancellation_token()
    }

    /// The async uploader inside.
    pub fn into_async(self) -> crate::Uploader {
        self.inner
    }
}
