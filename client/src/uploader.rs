//! The low-level uploader: one upload, chunk by chunk, with retries and cancellation.

use crate::client::{Client, UPLOAD_LENGTH, UPLOAD_OFFSET, header_u64, value};
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::progress::{Progress, ProgressFn};
use crate::source::{Chunk, Data, SentFn};
use crate::storage::StoredUpload;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use std::fmt;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// Uploads one upload chunk by chunk: made by [`Upload::uploader`](crate::Upload::uploader).
///
/// The upload is created on the server by the first [`Uploader::upload_chunk`] (with its
/// first chunk, when the server has `creation-with-upload`), or by
/// [`Uploader::create`]. Each chunk is retried as the client's
/// [`RetryPolicy`](crate::RetryPolicy) allows: after a failure the uploader asks the
/// server for its offset (HEAD) and goes on from there, so a `409 Conflict` or a chunk
/// cut halfway costs only the bytes the server did not keep.
///
/// Cancelling the [token](Uploader::cancellation_token) stops a wait or a chunk in flight
/// at once with [`Error::Cancelled`]; the upload stays resumable.
///
/// ```no_run
/// use tus_rs_client::{Client, Source};
///
/// # async fn run() -> Result<(), tus_rs_client::Error> {
/// let client = Client::new("http://127.0.0.1:8080/files")?;
/// let mut uploader = client.upload(Source::file("big.iso")).uploader().await?;
/// while uploader.upload_chunk().await? {
///     println!("{} of {:?} bytes", uploader.offset(), uploader.length());
/// }
/// println!("done: {}", uploader.url().unwrap());
/// # Ok(())
/// # }
/// ```
pub struct Uploader {
    client: Client,
    data: Data,
    url: Option<Url>,
    offset: u64,
    /// Whether the server knows the length (not yet for a deferred-length upload).
    length_sent: bool,
    metadata: Metadata,
    partial: bool,
    chunk_size: u64,
    stop_at: Option<u64>,
    cancel: CancellationToken,
    progress: Option<ProgressFn>,
    stats: Stats,
    storage_key: Option<String>,
}

struct Stats {
    started: Instant,
    started_at: u64,
    chunks: u64,
    retries: u64,
}

impl fmt::Debug for Uploader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Uploader")
            .field("url", &self.url.as_ref().map(Url::as_str))
            .field("offset", &self.offset)
            .field("length", &self.length())
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

/// How an uploader starts.
pub(crate) struct UploaderConfig {
    pub(crate) metadata: Metadata,
    pub(crate) partial: bool,
    pub(crate) chunk_size: u64,
    pub(crate) stop_at: Option<u64>,
    pub(crate) cancel: CancellationToken,
    pub(crate) progress: Option<ProgressFn>,
    pub(crate) storage_key: Option<String>,
}

impl Uploader {
    /// An uploader whose upload is not created yet.
    pub(crate) fn new(client: Client, data: Data, config: UploaderConfig) -> Self {
        Self {
            client,
            data,
            url: None,
            offset: 0,
            length_sent: false,
            metadata: config.metadata,
            partial: config.partial,
            chunk_size: config.chunk_size.max(1),
            stop_at: config.stop_at,
            cancel: config.cancel,
            progress: config.progress,
            stats: Stats { started: Instant::now(), started_at: 0, chunks: 0, retries: 0 },
            storage_key: config.storage_key,
        }
    }

    /// Continues the upload at `url` from the server's offset (HEAD, with retries). On
    /// failure the uploader is left as it was.
    pub(crate) async fn resume_at(&mut self, url: Url) -> Result<()> {
        let cancel = self.cancel.clone();
        let info = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(Error::Cancelled { url: Some(url), offset: 0 }),
            info = self.client.with_retries(Some(&cancel), || self.client.head(&url)) => info?,
        };
        if let (Some(server), Some(local)) = (info.length, self.data.length())
            && server != local
        {
            return Err(Error::SourceMismatch(format!(
                "the upload at {url} is {server} bytes long, but the data to send is {local} bytes"
            )));
        }
        self.length_sent = info.length.is_some();
        self.offset = info.offset;
        self.stats.started_at = info.offset;
        self.stats.started = Instant::now();
        self.url = Some(url);
        Ok(())
    }

    /// Forgets the upload: the next chunk creates a new one.
    pub(crate) fn reset(&mut self) {
        self.url = None;
        self.offset = 0;
        self.length_sent = false;
        self.stats = Stats { started: Instant::now(), started_at: 0, chunks: 0, retries: 0 };
    }

    /// The upload's URL, once created.
    pub fn url(&self) -> Option<&Url> {
        self.url.as_ref()
    }

    /// The bytes the server has confirmed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The upload's length, when known (a stream's once it ended).
    pub fn length(&self) -> Option<u64> {
        self.data.length()
    }

    /// Whether the upload is created and every byte confirmed.
    pub fn is_complete(&self) -> bool {
        self.url.is_some() && self.length_sent && self.length().is_some_and(|length| self.offset >= length)
    }

    /// Whether [`Uploader::upload_chunk`] has work left: the upload is not complete and
    /// the stop offset (if any) not reached.
    pub fn has_more(&self) -> bool {
        !self.is_complete() && self.stop_at.is_none_or(|stop| self.offset < stop || self.url.is_none())
    }

    /// Stops [`Uploader::upload`] once `offset` bytes are confirmed (`None`: at the end).
    pub fn set_stop_at(&mut self, offset: Option<u64>) {
        self.stop_at = offset;
    }

    /// Changes the size of the next chunks.
    pub fn set_chunk_size(&mut self, bytes: u64) {
        self.chunk_size = bytes.max(1);
    }

    /// The token that cancels this uploader's requests and waits.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The progress of this session so far.
    pub fn progress(&self) -> Progress {
        Progress {
            bytes_uploaded: self.offset,
            bytes_sent: self.offset,
            total: self.length(),
            started_at: self.stats.started_at,
            chunks: self.stats.chunks,
            retries: self.stats.retries,
            elapsed: self.stats.started.elapsed(),
        }
    }

    /// For the body of the next request: reports progress as its bytes are handed to the
    /// connection, on top of the confirmed offset (`None` without a progress callback).
    fn sent_reporter(&self) -> Option<SentFn> {
        let callback = self.progress.clone()?;
        let base = self.progress();
        let started = self.stats.started;
        Some(Box::new(move |sent| {
            let progress =
                Progress { bytes_sent: base.bytes_uploaded + sent, elapsed: started.elapsed(), ..base.clone() };
            callback(&progress);
        }))
    }

    fn report(&self) {
        if let Some(callback) = &self.progress {
            callback(&self.progress());
        }
    }

    fn cancelled(&self) -> Error {
        Error::Cancelled { url: self.url.clone(), offset: self.offset }
    }

    /// How many bytes the next chunk may hold.
    fn limit(&self) -> u64 {
        match self.stop_at {
            Some(stop) => self.chunk_size.min(stop.saturating_sub(self.offset)),
            None => self.chunk_size,
        }
    }

    /// Creates the upload on the server without sending data, and returns its URL (the
    /// existing one when already created).
    pub async fn create(&mut self) -> Result<Url> {
        if self.url.is_none() {
            self.create_upload(false).await?;
        }
        Ok(self.url.clone().expect("created"))
    }

    /// Sends the next chunk (creating the upload first when needed). Returns whether
    /// chunks remain (see [`Uploader::has_more`]).
    pub async fn upload_chunk(&mut self) -> Result<bool> {
        if self.url.is_none() {
            self.create_upload(true).await?;
            return Ok(self.has_more());
        }
        if !self.has_more() {
            self.finish_if_complete().await?;
            return Ok(false);
        }
        let mut attempt = 0;
        let mut resync = false;
        loop {
            if self.cancel.is_cancelled() {
                return Err(self.cancelled());
            }
            let result =
                if resync { self.sync_offset().await.map(|()| false) } else { self.patch().await.map(|()| true) };
            match result {
                Ok(true) => {
                    self.stats.chunks += 1;
                    self.finish_if_complete().await?;
                    self.report();
                    return Ok(self.has_more());
                }
                Ok(false) => {
                    resync = false;
                    if !self.has_more() {
                        self.finish_if_complete().await?;
                        self.report();
                        return Ok(false);
                    }
                }
                Err(error) if error.is_cancelled() => return Err(self.cancelled()),
                Err(error) => {
                    attempt += 1;
                    if !self.client.should_retry(&error, attempt) {
                        return Err(error);
                    }
                    self.stats.retries += 1;
                    if self.client.wait_before_retry(&error, attempt, Some(&self.cancel)).await.is_err() {
                        return Err(self.cancelled());
                    }
                    resync = true;
                }
            }
        }
    }

    /// Sends chunks until the upload is complete or the stop offset is reached.
    pub async fn upload(&mut self) -> Result<()> {
        while self.upload_chunk().await? {}
        Ok(())
    }

    /// Asks the server for its offset (HEAD) and goes on from there.
    async fn sync_offset(&mut self) -> Result<()> {
        let url = self.url.clone().expect("created");
        let cancel = self.cancel.clone();
        let info = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(self.cancelled()),
            info = self.client.head(&url) => info?,
        };
        if let Some(length) = info.length {
            self.length_sent = true;
            if let Some(local) = self.data.length()
                && local != length
            {
                return Err(Error::SourceMismatch(format!(
                    "the upload at {url} is {length} bytes long, but the data to send is {local} bytes"
                )));
            }
        }
        self.offset = info.offset;
        Ok(())
    }

    /// One PATCH of the next chunk, cancellable.
    async fn patch(&mut self) -> Result<()> {
        let cancel = self.cancel.clone();
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(self.cancelled()),
            result = self.patch_inner() => result,
        }
    }

    async fn patch_inner(&mut self) -> Result<()> {
        let url = self.url.clone().expect("created");
        let method = Method::PATCH;
        let limit = self.limit();
        let mut chunk = self.data.chunk(self.offset, limit).await?;
        let len = chunk.len();
        let declare_length = !self.length_sent && self.data.length().is_some();
        let mut headers = self.body_headers(&chunk).await?;
        headers.insert(UPLOAD_OFFSET, HeaderValue::from(self.offset));
        if declare_length && let Some(length) = self.data.length() {
            headers.insert(UPLOAD_LENGTH, HeaderValue::from(length));
        }
        let body = chunk.body(self.sent_reporter()).await?;
        // The next chunk's first bytes are read while this one is sent and answered, so
        // that its request can go out as soon as the answer is in.
        self.data.read_ahead(self.offset + len, limit);
        let response = self.client.send(method.clone(), &url, headers, Some(body)).await?;
        let response = self.client.expect(&method, &url, response, &[StatusCode::NO_CONTENT, StatusCode::OK]).await?;
        let offset = header_u64(&method, &url, response.headers(), UPLOAD_OFFSET)?
            .ok_or_else(|| Error::protocol(&method, &url, "the response has no Upload-Offset"))?;
        if offset < self.offset || offset > self.offset + len {
            return Err(Error::protocol(
                &method,
                &url,
                format!("Upload-Offset {offset} after sending {len} bytes at {}", self.offset),
            ));
        }
        self.offset = offset;
        if declare_length {
            self.length_sent = true;
        }
        Ok(())
    }

    /// `Content-Type`, `Content-Length` and `Upload-Checksum` of a chunk.
    async fn body_headers(&self, chunk: &Chunk) -> Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(OFFSET_OCTET_STREAM));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(chunk.len()));
        if let Some(algorithm) = self.client.checksum() {
            headers.insert("upload-checksum", value(chunk.checksum(algorithm).await?)?);
        }
        Ok(headers)
    }

    /// POST: creates the upload, with its first chunk when `with_data` and the server
    /// has `creation-with-upload`.
    async fn create_upload(&mut self, with_data: bool) -> Result<()> {
        let cancel = self.cancel.clone();
        let capabilities = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(self.cancelled()),
            capabilities = self.client.capabilities() => capabilities?.clone(),
        };
        self.client.check_checksum(&capabilities)?;
        if self.partial && !capabilities.supports("concatenation") {
            return Err(Error::Unsupported { extension: "concatenation", needed_for: "a partial upload" });
        }
        // A stream's first chunk is read now: if the stream ends within it, its length is
        // known and nothing needs deferring.
        let first = if with_data || self.data.length().is_none() {
            Some(self.data.chunk(0, self.limit()).await?)
        } else {
            None
        };
        let length = self.data.length();
        if let (Some(length), Some(max)) = (length, capabilities.max_size)
            && length > max
        {
            return Err(Error::InvalidInput(format!(
                "the upload is {length} bytes, more than the server's maximum of {max} bytes"
            )));
        }
        let mut headers = HeaderMap::new();
        match length {
            Some(length) => {
                headers.insert(UPLOAD_LENGTH, HeaderValue::from(length));
            }
            None if capabilities.supports("creation-defer-length") => {
                headers.insert("upload-defer-length", HeaderValue::from_static("1"));
            }
            None => {
                return Err(Error::Unsupported {
                    extension: "creation-defer-length",
                    needed_for: "uploading a stream of unknown length",
                });
            }
        }
        if let Some(metadata) = self.metadata.encode()? {
            headers.insert("upload-metadata", value(metadata)?);
        }
        if self.partial {
            headers.insert("upload-concat", HeaderValue::from_static("partial"));
        }
        let mut first = first.filter(|c| with_data && c.len() > 0 && capabilities.supports("creation-with-upload"));
        if let Some(chunk) = &first {
            headers.extend(self.body_headers(chunk).await?);
            self.data.read_ahead(chunk.len(), self.limit());
        }

        let endpoint = self.client.endpoint().clone();
        let method = Method::POST;
        let mut attempt = 0;
        let (url, confirmed) = loop {
            let on_sent = self.sent_reporter();
            let request = async {
                let body = match first.as_mut() {
                    Some(chunk) => Some(chunk.body(on_sent).await?),
                    None => None,
                };
                self.client.send(method.clone(), &endpoint, headers.clone(), body).await
            };
            let result = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(self.cancelled()),
                result = request => result,
            };
            let error = match result {
                Ok(response) if response.status() == StatusCode::CREATED => {
                    let url = self.client.location(&method, &endpoint, response.headers())?;
                    let confirmed = header_u64(&method, &endpoint, response.headers(), UPLOAD_OFFSET)?;
                    break (url, confirmed);
                }
                Ok(response) => {
                    // Some servers create the upload and then fail on its body: they say
                    // where it is, so it is resumed rather than created again.
                    let location = self.client.location(&method, &endpoint, response.headers()).ok();
                    let error = self.client.status_error(&method, &endpoint, response).await;
                    if let Some(url) = location.filter(|_| first.is_some() && error.is_retryable()) {
                        self.adopt(url, length).await?;
                        self.stats.retries += 1;
                        // Continue like any chunk after a failure: HEAD, then PATCH.
                        self.sync_offset_with_retries().await?;
                        return Ok(());
                    }
                    error
                }
                Err(error) => error,
            };
            attempt += 1;
            if !self.client.should_retry(&error, attempt) {
                return Err(error);
            }
            self.stats.retries += 1;
            if self.client.wait_before_retry(&error, attempt, Some(&cancel)).await.is_err() {
                return Err(self.cancelled());
            }
        };
        self.adopt(url.clone(), length).await?;
        if let Some(chunk) = &first {
            match confirmed {
                Some(offset) if offset <= chunk.len() => self.offset = offset,
                Some(offset) => {
                    return Err(Error::protocol(
                        &method,
                        &endpoint,
                        format!("Upload-Offset {offset} after sending {} bytes", chunk.len()),
                    ));
                }
                None => self.sync_offset_with_retries().await?,
            }
            self.stats.chunks += 1;
        }
        self.finish_if_complete().await?;
        self.report();
        Ok(())
    }

    /// Once complete, the upload's URL is dropped from the URL storage: uploading the same
    /// file again makes a new upload.
    async fn finish_if_complete(&mut self) -> Result<()> {
        if self.is_complete()
            && let Some(key) = self.storage_key.take()
        {
            self.client.forget(&key).await?;
        }
        Ok(())
    }

    /// Takes `url` as this upload's, and stores it for cross-session resume.
    async fn adopt(&mut self, url: Url, length: Option<u64>) -> Result<()> {
        self.url = Some(url.clone());
        self.offset = 0;
        self.length_sent = length.is_some();
        if let Some(key) = &self.storage_key {
            let endpoint = self.client.endpoint().to_string();
            self.client.store(key, StoredUpload::single(endpoint, url.as_str())).await?;
        }
        Ok(())
    }

    async fn sync_offset_with_retries(&mut self) -> Result<()> {
        let mut attempt = 0;
        loop {
            match self.sync_offset().await {
                Ok(()) => return Ok(()),
                Err(error) if error.is_cancelled() => return Err(error),
                Err(error) => {
                    attempt += 1;
                    if !self.client.should_retry(&error, attempt) {
                        return Err(error);
                    }
                    self.stats.retries += 1;
                    if self.client.wait_before_retry(&error, attempt, Some(&self.cancel)).await.is_err() {
                        return Err(self.cancelled());
                    }
                }
            }
        }
    }
}
