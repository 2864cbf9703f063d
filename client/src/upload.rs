//! The high-level upload: one call from a source to a finished (or stopped) upload, with
//! cross-session resume and parallel uploads.

use crate::client::Client;
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::progress::{Progress, ProgressFn};
use crate::source::Source;
use crate::storage::StoredUpload;
use crate::uploader::{Uploader, UploaderConfig};
use futures_util::future::try_join_all;
use reqwest::Url;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// What an upload is asked to do; shared by the async and the blocking builders.
#[derive(Clone)]
pub(crate) struct UploadOptions {
    pub(crate) metadata: Metadata,
    pub(crate) progress: Option<ProgressFn>,
    pub(crate) stop_at: Option<u64>,
    pub(crate) parallel: usize,
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) chunk_size: Option<u64>,
    pub(crate) partial: bool,
    pub(crate) resume_from: Option<String>,
    pub(crate) resume: bool,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            metadata: Metadata::new(),
            progress: None,
            stop_at: None,
            parallel: 1,
            cancel: None,
            chunk_size: None,
            partial: false,
            resume_from: None,
            resume: true,
        }
    }
}

/// The setters of the upload builders (async and blocking).
macro_rules! upload_setters {
    () => {
        /// Sets a metadata pair (e.g. `filename`); repeatable.
        pub fn metadata(mut self, key: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
            self.options.metadata.insert(key, value);
            self
        }

        /// Adds every pair of `metadata`.
        pub fn metadata_map(mut self, metadata: $crate::Metadata) -> Self {
            self.options.metadata.extend(metadata.iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
            self
        }

        /// Called with the progress so far while each chunk is sent (at least once per
        /// MiB handed to the connection) and after each chunk is confirmed.
        pub fn on_progress(mut self, callback: impl Fn(&$crate::Progress) + Send + Sync + 'static) -> Self {
            self.options.progress = Some(std::sync::Arc::new(callback));
            self
        }

        /// Stops once this many bytes are on the server, leaving a resumable upload (the
        /// last chunk is shortened to stop exactly there). Not with parallel uploads.
        pub fn stop_at(mut self, offset: u64) -> Self {
            self.options.stop_at = Some(offset);
            self
        }

        /// Splits the data into `parts` ranges uploaded concurrently as partial uploads,
        /// then concatenated by the server (`Upload-Concat: final`). Needs a file or bytes
        /// source and the server's `concatenation` extension.
        pub fn parallel(mut self, parts: usize) -> Self {
            self.options.parallel = parts.max(1);
            self
        }

        /// Cancels the upload when this token is cancelled (it stays resumable).
        pub fn cancel_token(mut self, token: tokio_util::sync::CancellationToken) -> Self {
            self.options.cancel = Some(token);
            self
        }

        /// The chunk size of this upload (the client's by default).
        pub fn chunk_size(mut self, bytes: u64) -> Self {
            self.options.chunk_size = Some(bytes.max(1));
            self
        }

        /// Makes it a partial upload (`Upload-Concat: partial`), for a later
        /// concatenation.
        pub fn partial(mut self) -> Self {
            self.options.partial = true;
            self
        }

        /// Resumes the upload at `url` (which must hold the start of the same data)
        /// instead of creating one.
        pub fn resume_from(mut self, url: impl AsRef<str>) -> Self {
            self.options.resume_from = Some(url.as_ref().to_owned());
            self
        }

        /// Whether to look for this file's unfinished upload in the client's URL storage,
        /// and to store this one's URL there (on by default; without a URL storage it
        /// does nothing).
        pub fn resume(mut self, resume: bool) -> Self {
            self.options.resume = resume;
            self
        }
    };
}
pub(crate) use upload_setters;

/// An upload being described: set options, then `.await` it (or call
/// [`Upload::uploader`]). Made by [`Client::upload`].
///
/// ```no_run
/// use tus_rs_client::{Client, Source};
///
/// # async fn run() -> Result<(), tus_rs_client::Error> {
/// let client = Client::new("http://127.0.0.1:8080/files")?;
/// let uploaded = client
///     .upload(Source::file("dataset.tar"))
///     .metadata("filename", "dataset.tar")
///     .parallel(4)
///     .await?;
/// assert!(uploaded.is_complete());
/// # Ok(())
/// # }
/// ```
#[must_use = "an upload does nothing until awaited"]
pub struct Upload<'a> {
    client: &'a Client,
    source: Source,
    pub(crate) options: UploadOptions,
}

impl fmt::Debug for Upload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload").field("source", &self.source).finish_non_exhaustive()
    }
}

/// The result of an upload.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Uploaded {
    /// The upload's URL (for a parallel upload, the final upload's).
    pub url: Url,
    /// The bytes on the server.
    pub offset: u64,
    /// The upload's length, when known.
    pub length: Option<u64>,
    /// The offset an earlier upload was resumed from, when one was.
    pub resumed_from: Option<u64>,
    /// The partial uploads of a parallel upload, in order.
    pub partial_urls: Vec<Url>,
    /// The progress of this session.
    pub progress: Progress,
}

impl Uploaded {
    /// Whether every byte is on the server (not so after [`Upload::stop_at`]).
    pub fn is_complete(&self) -> bool {
        self.length.is_some_and(|length| self.offset >= length)
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl<'a> IntoFuture for Upload<'a> {
    type Output = Result<Uploaded>;
    type IntoFuture = BoxFuture<'a, Result<Uploaded>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self.client, self.source, self.options))
    }
}

impl<'a> Upload<'a> {
    pub(crate) fn new(client: &'a Client, source: Source) -> Self {
        Self { client, source, options: UploadOptions::default() }
    }

    pub(crate) fn with_options(client: &'a Client, source: Source, options: UploadOptions) -> Self {
        Self { client, source, options }
    }

    upload_setters!();

    /// An [`Uploader`] for chunk-by-chunk control, positioned at the server's offset when
    /// resuming (nothing is sent yet otherwise). Not for parallel uploads.
    pub async fn uploader(self) -> Result<Uploader> {
        if self.options.parallel > 1 {
            return Err(Error::InvalidInput("a parallel upload has no single uploader".into()));
        }
        Ok(prepare(self.client, self.source, &self.options).await?.uploader)
    }
}

struct Prepared {
    uploader: Uploader,
    resumed_from: Option<u64>,
}

fn config(client: &Client, options: &UploadOptions, key: Option<String>) -> UploaderConfig {
    UploaderConfig {
        metadata: options.metadata.clone(),
        partial: options.partial,
        chunk_size: options.chunk_size.unwrap_or(client.chunk_size()),
        stop_at: options.stop_at,
        cancel: options.cancel.clone().unwrap_or_default(),
        progress: options.progress.clone(),
        storage_key: key,
    }
}

/// The storage key of a file source, when resuming through the URL storage applies.
async fn storage_key(
    client: &Client,
    path: Option<&std::path::Path>,
    options: &UploadOptions,
) -> Result<Option<String>> {
    match path {
        Some(path) if options.resume && options.resume_from.is_none() && !options.partial => {
            client.storage_key(path).await
        }
        _ => Ok(None),
    }
}

async fn stored(client: &Client, key: &Option<String>) -> Result<Option<StoredUpload>> {
    match key {
        Some(key) => {
            let key = key.clone();
            Ok(client.storage_op(move |s| s.get(&key)).await?.flatten())
        }
        None => Ok(None),
    }
}

/// Whether a stored upload cannot be resumed and should be forgotten.
fn stale(error: &Error) -> bool {
    error.is_not_found() || matches!(error, Error::SourceMismatch(_) | Error::InvalidInput(_))
}

/// An uploader for a single (non-parallel) upload: resumed from `resume_from`, from the
/// URL storage, or new.
async fn prepare(client: &Client, source: Source, options: &UploadOptions) -> Result<Prepared> {
    let key = storage_key(client, source.path(), options).await?;
    let previous = stored(client, &key).await?;
    let data = source.open().await?;
    let mut uploader = Uploader::new(client.clone(), data, config(client, options, key.clone()));
    if let Some(url) = &options.resume_from {
        uploader.resume_at(client.resolve(url)?).await?;
        return Ok(Prepared { resumed_from: Some(uploader.offset()), uploader });
    }
    if let (Some(key), Some(previous)) = (&key, previous) {
        if let Some(url) = previous.upload_url.as_deref().and_then(|u| client.resolve(u).ok()) {
            match uploader.resume_at(url).await {
                Ok(()) => {
                    return Ok(Prepared { resumed_from: Some(uploader.offset()), uploader });
                }
                Err(error) if stale(&error) => {}
                Err(error) => return Err(error),
            }
        }
        client.forget(key).await?;
    }
    Ok(Prepared { uploader, resumed_from: None })
}

async fn run(client: &Client, source: Source, options: UploadOptions) -> Result<Uploaded> {
    if options.parallel > 1 {
        return run_parallel(client, source, options).await;
    }
    // A file whose earlier upload was a parallel one goes on as one.
    if options.resume_from.is_none() && options.stop_at.is_none() && !options.partial {
        let key = storage_key(client, source.path(), &options).await?;
        if let Some(previous) = stored(client, &key).await?
            && previous.partial_urls.len() > 1
        {
            let options = UploadOptions { parallel: previous.partial_urls.len(), ..options };
            return run_parallel(client, source, options).await;
        }
    }
    let Prepared { mut uploader, resumed_from } = prepare(client, source, &options).await?;
    uploader.upload().await?;
    Ok(Uploaded {
        url: uploader.url().cloned().expect("created by upload()"),
        offset: uploader.offset(),
        length: uploader.length(),
        resumed_from,
        partial_urls: Vec::new(),
        progress: uploader.progress(),
    })
}

/// `len` bytes in `parts` nearly equal ranges: `(start, len)`.
pub(crate) fn split(len: u64, parts: usize) -> Vec<(u64, u64)> {
    let parts = (parts as u64).clamp(1, len.max(1));
    let base = len / parts;
    let extra = len % parts;
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let part = base + u64::from(i < extra);
            let range = (start, part);
            start += part;
            range
        })
        .collect()
}

async fn run_parallel(client: &Client, source: Source, options: UploadOptions) -> Result<Uploaded> {
    if source.is_stream() {
        return Err(Error::InvalidInput(
            "parallel uploads need a file or bytes in memory: a stream cannot be split into ranges".into(),
        ));
    }
    if options.stop_at.is_some() {
        return Err(Error::InvalidInput("stop_at cannot be combined with parallel uploads".into()));
    }
    if options.partial || options.resume_from.is_some() {
        return Err(Error::InvalidInput(
            "parallel uploads cannot be partial uploads themselves or resume a given URL".into(),
        ));
    }
    let capabilities = client.capabilities().await?;
    if !capabilities.supports("concatenation") {
        return Err(Error::Unsupported { extension: "concatenation", needed_for: "parallel uploads" });
    }
    client.check_checksum(capabilities)?;
    let key = storage_key(client, source.path(), &options).await?;
    let previous = stored(client, &key).await?;
    let data = source.open().await?;
    let len = data.length().expect("files and bytes have a length");
    let ranges = split(len, options.parallel);

    // Each part reports its progress here; the callback sees the sum.
    let started = std::time::Instant::now();
    let slots = Arc::new(Mutex::new(vec![Progress::default(); ranges.len()]));
    let cancel = options.cancel.clone().unwrap_or_default();
    let mut uploaders = Vec::with_capacity(ranges.len());
    for (index, (start, part_len)) in ranges.iter().copied().enumerate() {
        let progress: Option<ProgressFn> = options.progress.clone().map(|callback| {
            let slots = slots.clone();
            let per_part: ProgressFn = Arc::new(move |p: &Progress| {
                let total = {
                    let mut slots = slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    slots[index] = p.clone();
                    sum(&slots, len, started)
                };
                callback(&total);
            });
            per_part
        });
        let part = data.range(start, part_len).expect("files and bytes can be split");
        let config = UploaderConfig {
            metadata: Metadata::new(),
            partial: true,
            chunk_size: options.chunk_size.unwrap_or(client.chunk_size()),
            stop_at: None,
            cancel: cancel.clone(),
            progress,
            storage_key: None,
        };
        uploaders.push(Uploader::new(client.clone(), part, config));
    }

    // Resume the parts of an earlier run, when there was one with as many parts.
    let mut resumed_from = None;
    if let Some(previous) = previous.filter(|p| p.partial_urls.len() == uploaders.len()) {
        let urls: Vec<Url> = previous.partial_urls.iter().filter_map(|u| client.resolve(u).ok()).collect();
        if urls.len() == uploaders.len() {
            let resumed = try_join_all(uploaders.iter_mut().zip(urls).map(|(u, url)| u.resume_at(url))).await;
            match resumed {
                Ok(_) => resumed_from = Some(uploaders.iter().map(Uploader::offset).sum()),
                Err(error) if stale(&error) => uploaders.iter_mut().for_each(Uploader::reset),
                Err(error) => return Err(error),
            }
        }
    }
    if resumed_from.is_none() {
        let urls = try_join_all(uploaders.iter_mut().map(Uploader::create)).await?;
        if let Some(key) = &key {
            let urls = urls.iter().map(|u| u.to_string()).collect();
            client.store(key, StoredUpload::parallel(client.endpoint().to_string(), urls)).await?;
        }
    }
    try_join_all(uploaders.iter_mut().map(Uploader::upload)).await?;
    let partial_urls: Vec<Url> = uploaders.iter().map(|u| u.url().cloned().expect("created")).collect();
    let url = client.create_final_upload(&partial_urls, options.metadata.clone()).await?;
    if let Some(key) = &key {
        client.forget(key).await?;
    }
    let progress = {
        let parts: Vec<Progress> = uploaders.iter().map(Uploader::progress).collect();
        sum(&parts, len, started)
    };
    if let Some(callback) = &options.progress {
        callback(&progress);
    }
    Ok(Uploaded { url, offset: len, length: Some(len), resumed_from, partial_urls, progress })
}

/// The progress of a parallel upload: the sum of its parts'.
fn sum(parts: &[Progress], total: u64, started: std::time::Instant) -> Progress {
    Progress {
        bytes_uploaded: parts.iter().map(|p| p.bytes_uploaded).sum(),
        bytes_sent: parts.iter().map(|p| p.bytes_sent).sum(),
        total: Some(total),
        started_at: parts.iter().map(|p| p.started_at).sum(),
        chunks: parts.iter().map(|p| p.chunks).sum(),
        retries: parts.iter().map(|p| p.retries).sum(),
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_into_nearly_equal_ranges() {
        assert_eq!(split(10, 3), [(0, 4), (4, 3), (7, 3)]);
        assert_eq!(split(9, 3), [(0, 3), (3, 3), (6, 3)]);
        assert_eq!(split(2, 4), [(0, 1), (1, 1)]);
        assert_eq!(split(0, 4), [(0, 0)]);
        assert_eq!(split(5, 1), [(0, 5)]);
        let big = split(1 << 40, 7);
        assert_eq!(big.iter().map(|r| r.1).sum::<u64>(), 1 << 40);
        assert!(big.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
    }
}
