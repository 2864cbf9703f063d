//! The client: its configuration, the plain requests (OPTIONS, HEAD, DELETE, POST) and the
//! retry loop they share.

use crate::checksum::ChecksumAlgorithm;
use crate::error::{Error, Result, one_line};
use crate::fingerprint::{DefaultFingerprinter, Fingerprinter};
use crate::hooks::{Hooks, RequestInfo, ResponseInfo};
use crate::metadata::Metadata;
use crate::retry::RetryPolicy;
use crate::source::Source;
use crate::storage::{PreviousUpload, StoredUpload, UrlStorage};
use crate::upload::Upload;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The tus protocol version this client speaks.
pub const TUS_VERSION: &str = "1.0.0";

/// The default chunk size: 4 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 * 1024 * 1024;

/// The default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest server message kept in an [`Error::Status`].
const MAX_MESSAGE: usize = 1024;

/// An async tus 1.0.0 client for one endpoint (the URL uploads are created at).
///
/// Cheap to clone: clones share the connection pool, the configuration and what was
/// learned about the server's capabilities.
///
/// ```no_run
/// use tus_rs_client::{ChecksumAlgorithm, Client, Source};
///
/// # async fn run() -> Result<(), tus_rs_client::Error> {
/// let client = Client::builder("http://127.0.0.1:8080/files")
///     .chunk_size(8 * 1024 * 1024)
///     .checksum(ChecksumAlgorithm::Sha256)
///     .max_retries(5)
///     .build()?;
/// let uploaded = client
///     .upload(Source::file("video.mp4"))
///     .metadata("filename", "video.mp4")
///     .on_progress(|p| eprintln!("{:.1}%", p.percent().unwrap_or(0.0)))
///     .await?;
/// println!("uploaded to {}", uploaded.url);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) endpoint: Url,
    pub(crate) chunk_size: u64,
    pub(crate) checksum: Option<ChecksumAlgorithm>,
    pub(crate) headers: HeaderMap,
    pub(crate) retry: RetryPolicy,
    pub(crate) hooks: Hooks,
    pub(crate) url_storage: Option<Arc<dyn UrlStorage>>,
    pub(crate) fingerprinter: Arc<dyn Fingerprinter>,
    capabilities: tokio::sync::OnceCell<ServerInfo>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Client")
            .field("endpoint", &inner.endpoint.as_str())
            .field("chunk_size", &inner.chunk_size)
            .field("checksum", &inner.checksum)
            .field("retry", &inner.retry)
            .field("hooks", &inner.hooks)
            .field("url_storage", &inner.url_storage)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]; made by [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    endpoint: String,
    chunk_size: u64,
    checksum: Option<ChecksumAlgorithm>,
    headers: Vec<(String, String)>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    accept_invalid_certs: bool,
    hooks: Hooks,
    url_storage: Option<Arc<dyn UrlStorage>>,
    fingerprinter: Arc<dyn Fingerprinter>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("chunk_size", &self.chunk_size)
            .field("checksum", &self.checksum)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The size of each PATCH (4 MiB by default; at least 1 byte).
    pub fn chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }

    /// Sends an `Upload-Checksum` with each chunk (off by default). Uploads fail with
    /// [`Error::ChecksumUnsupported`] when the server does not offer the algorithm.
    pub fn checksum(mut self, algorithm: impl Into<Option<ChecksumAlgorithm>>) -> Self {
        self.checksum = algorithm.into();
        self
    }

    /// A header sent with every request (e.g. `Authorization`); repeatable.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How many times a failed request is retried (3 by default), with the default backoff.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// The whole retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The time limit of one request, the upload of its body included (120 s by default;
    /// `None` for none).
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// The time limit for opening a connection (10 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Accepts any TLS certificate: expired, self-signed, for another host. Dangerous;
    /// for tests and closed networks only. Has an effect with the `rustls` feature.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// Called before every request.
    pub fn before_request(mut self, hook: impl Fn(&RequestInfo<'_>) + Send + Sync + 'static) -> Self {
        self.hooks.before_request = Some(Arc::new(hook));
        self
    }

    /// Called after every response (whatever its status).
    pub fn after_response(mut self, hook: impl Fn(&ResponseInfo<'_>) + Send + Sync + 'static) -> Self {
        self.hooks.after_response = Some(Arc::new(hook));
        self
    }

    /// Asked before each retry of a retryable error, with the error and the retry's
    /// number (from 1): `false` returns the error at once.
    pub fn should_retry(mut self, hook: impl Fn(&Error, u32) -> bool + Send + Sync + 'static) -> Self {
        self.hooks.should_retry = Some(Arc::new(hook));
        self
    }

    /// Remembers the URLs of unfinished file uploads there, so that uploading the same
    /// file again resumes it (off by default).
    pub fn url_storage(mut self, storage: impl UrlStorage + 'static) -> Self {
        self.url_storage = Some(Arc::new(storage));
        self
    }

    /// Like [`ClientBuilder::url_storage`], with a shared storage.
    pub fn shared_url_storage(mut self, storage: Arc<dyn UrlStorage>) -> Self {
        self.url_storage = Some(storage);
        self
    }

    /// How files are identified for cross-session resume ([`DefaultFingerprinter`] by
    /// default).
    pub fn fingerprinter(mut self, fingerprinter: impl Fingerprinter + 'static) -> Self {
        self.fingerprinter = Arc::new(fingerprinter);
        self
    }

    /// Builds the client. Fails on an endpoint that is not an `http`/`https` URL (`https`
    /// needs the `rustls` feature), a bad header, or a TLS setup failure.
    pub fn build(self) -> Result<Client> {
        let endpoint = Url::parse(self.endpoint.trim())
            .map_err(|e| Error::Config(format!("the endpoint {:?} is not a URL: {e}", self.endpoint)))?;
        match endpoint.scheme() {
            "http" => {}
            "https" if cfg!(feature = "rustls") => {}
            "https" => {
                return Err(Error::Config("https:// endpoints need the `rustls` feature of tus-rs-client".into()));
            }
            other => return Err(Error::Config(format!("the endpoint's scheme {other:?} is not http or https"))),
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| Error::Config(format!("{name:?} is not a header name")))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| Error::Config(format!("the value of header {name} is not a valid header value")))?;
            headers.append(header, value);
        }
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("tus-rs-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout);
        if let Some(timeout) = self.timeout {
            http = http.timeout(timeout);
        }
        #[cfg(feature = "rustls")]
        {
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                // Another thread may win the race; either provider is fine.
                let _ = rustls::crypto::ring::default_provider().install_default();
            }
            http = http.tls_danger_accept_invalid_certs(self.accept_invalid_certs);
        }
        #[cfg(not(feature = "rustls"))]
        let _ = self.accept_invalid_certs;
        let http = http.build().map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint,
                chunk_size: self.chunk_size,
                checksum: self.checksum,
                headers,
                retry: self.retry,
                hooks: self.hooks,
                url_storage: self.url_storage,
                fingerprinter: self.fingerprinter,
                capabilities: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// Builds a [`blocking::Client`](crate::blocking::Client) for synchronous code.
    pub fn build_blocking(self) -> Result<crate::blocking::Client> {
        crate::blocking::Client::from_builder(self)
    }
}

/// What the server says about itself (OPTIONS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The protocol versions it speaks (`Tus-Version`), preferred first.
    pub versions: Vec<String>,
    /// Its extensions (`Tus-Extension`): `creation`, `termination`, `concatenation`, …
    pub extensions: Vec<String>,
    /// The largest upload it accepts (`Tus-Max-Size`).
    pub max_size: Option<u64>,
    /// The checksum algorithms it accepts (`Tus-Checksum-Algorithm`).
    pub checksum_algorithms: Vec<String>,
}

impl ServerInfo {
    /// Whether the server has the extension (e.g. `"concatenation"`).
    pub fn supports(&self, extension: &str) -> bool {
        self.extensions.iter().any(|e| e.eq_ignore_ascii_case(extension))
    }

    /// Whether the server accepts checksums made with `algorithm`.
    pub fn supports_checksum(&self, algorithm: ChecksumAlgorithm) -> bool {
        self.supports("checksum") && self.checksum_algorithms.iter().any(|a| a.eq_ignore_ascii_case(algorithm.name()))
    }
}

/// The state of one upload (HEAD).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadInfo {
    /// The upload's URL.
    pub url: Url,
    /// The bytes the server has (`Upload-Offset`).
    pub offset: u64,
    /// The upload's length (`Upload-Length`); `None` while deferred.
    pub length: Option<u64>,
    /// The metadata given at creation.
    pub metadata: Metadata,
    /// Its role in a concatenation (`Upload-Concat`: `partial` or `final;…`), if any.
    pub concat: Option<String>,
    /// When an unfinished upload expires (`Upload-Expires`, an HTTP date), if it does.
    pub expires: Option<String>,
}

impl UploadInfo {
    /// Whether every byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.length.is_some_and(|length| self.offset >= length)
    }
}

pub(crate) const UPLOAD_OFFSET: &str = "upload-offset";
pub(crate) const UPLOAD_LENGTH: &str = "upload-length";

/// A header as text, if present and visible ASCII.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// A numeric header; `Ok(None)` when absent.
pub(crate) fn header_u64(method: &Method, url: &Url, headers: &HeaderMap, name: &str) -> Result<Option<u64>> {
    match header_str(headers, name) {
        None => Ok(None),
        Some(text) => {
            text.parse().map(Some).map_err(|_| Error::protocol(method, url, format!("{name} {text:?} is not a number")))
        }
    }
}

pub(crate) fn value(text: impl AsRef<str>) -> Result<HeaderValue> {
    HeaderValue::from_str(text.as_ref())
        .map_err(|_| Error::InvalidInput(format!("{:?} cannot be sent in a header", text.as_ref())))
}

fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Client {
    /// A builder for a client of `endpoint`, the URL uploads are created at
    /// (e.g. `https://example.com/files`).
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.into(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            checksum: None,
            headers: Vec::new(),
            retry: RetryPolicy::default(),
            timeout: Some(DEFAULT_TIMEOUT),
            connect_timeout: Duration::from_secs(10),
            accept_invalid_certs: false,
            hooks: Hooks::default(),
            url_storage: None,
            fingerprinter: Arc::new(DefaultFingerprinter),
        }
    }

    /// A client of `endpoint` with the default configuration.
    pub fn new(endpoint: impl Into<String>) -> Result<Self> {
        Self::builder(endpoint).build()
    }

    /// The endpoint uploads are created at.
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// The chunk size.
    pub fn chunk_size(&self) -> u64 {
        self.inner.chunk_size
    }

    /// The checksum algorithm, if checksums are on.
    pub fn checksum(&self) -> Option<ChecksumAlgorithm> {
        self.inner.checksum
    }

    /// Starts describing an upload of `source`; await it to upload, or call
    /// [`Upload::uploader`] for chunk-by-chunk control.
    pub fn upload(&self, source: impl Into<Source>) -> Upload<'_> {
        Upload::new(self, source.into())
    }

    /// Starts describing the resumption of the upload at `url` from `source` (which must
    /// hold the same data from its start).
    pub fn resume_upload(&self, url: impl AsRef<str>, source: impl Into<Source>) -> Upload<'_> {
        self.upload(source).resume_from(url)
    }

    /// Uploads `source` whole as a partial upload (`Upload-Concat: partial`), to be
    /// concatenated later with [`Client::create_final_upload`]; returns its URL.
    pub async fn create_partial_upload(&self, source: impl Into<Source>, metadata: Metadata) -> Result<Url> {
        Ok(self.upload(source).partial().metadata_map(metadata).resume(false).await?.url)
    }

    /// Creates the final upload concatenating `partials` (complete partial uploads, in
    /// order) and returns its URL. Needs the server's `concatenation` extension.
    pub async fn create_final_upload(&self, partials: &[Url], metadata: Metadata) -> Result<Url> {
        let capabilities = self.capabilities().await?;
        if !capabilities.supports("concatenation") {
            return Err(Error::Unsupported { extension: "concatenation", needed_for: "a final upload" });
        }
        if partials.is_empty() {
            return Err(Error::InvalidInput("a final upload needs at least one partial upload".into()));
        }
        let concat = format!("final;{}", partials.iter().map(Url::as_str).collect::<Vec<_>>().join(" "));
        let mut headers = HeaderMap::new();
        headers.insert("upload-concat", value(concat)?);
        if let Some(metadata) = metadata.encode()? {
            headers.insert("upload-metadata", value(metadata)?);
        }
        self.create(headers).await
    }

    /// Creates an upload whose length is not known yet (`Upload-Defer-Length: 1`); the
    /// length is given by a later PATCH. Needs the `creation-defer-length` extension.
    pub async fn create_deferred_upload(&self, metadata: Metadata) -> Result<Url> {
        let capabilities = self.capabilities().await?;
        if !capabilities.supports("creation-defer-length") {
            return Err(Error::Unsupported {
                extension: "creation-defer-length",
                needed_for: "an upload of unknown length",
            });
        }
        let mut headers = HeaderMap::new();
        headers.insert("upload-defer-length", HeaderValue::from_static("1"));
        if let Some(metadata) = metadata.encode()? {
            headers.insert("upload-metadata", value(metadata)?);
        }
        self.create(headers).await
    }

    /// POST to the endpoint with no body, with retries; returns the `Location`.
    async fn create(&self, headers: HeaderMap) -> Result<Url> {
        let endpoint = self.inner.endpoint.clone();
        self.with_retries(None, || async {
            let response = self.send(Method::POST, &endpoint, headers.clone(), None).await?;
            let response = self.expect(&Method::POST, &endpoint, response, &[StatusCode::CREATED]).await?;
            self.location(&Method::POST, &endpoint, response.headers())
        })
        .await
    }

    /// The server's capabilities (an OPTIONS request, with retries).
    pub async fn server_info(&self) -> Result<ServerInfo> {
        let endpoint = self.inner.endpoint.clone();
        self.with_retries(None, || async {
            let response = self.send(Method::OPTIONS, &endpoint, HeaderMap::new(), None).await?;
            let response =
                self.expect(&Method::OPTIONS, &endpoint, response, &[StatusCode::OK, StatusCode::NO_CONTENT]).await?;
            let headers = response.headers();
            Ok(ServerInfo {
                versions: list(headers, "tus-version"),
                extensions: list(headers, "tus-extension"),
                max_size: header_u64(&Method::OPTIONS, &endpoint, headers, "tus-max-size")?,
                checksum_algorithms: list(headers, "tus-checksum-algorithm"),
            })
        })
        .await
    }

    /// The server's capabilities, asked once per client.
    pub(crate) async fn capabilities(&self) -> Result<&ServerInfo> {
        self.inner.capabilities.get_or_try_init(|| self.server_info()).await
    }

    /// Fails when checksums are on and the server cannot check them.
    pub(crate) fn check_checksum(&self, capabilities: &ServerInfo) -> Result<()> {
        match self.inner.checksum {
            Some(algorithm) if !capabilities.supports_checksum(algorithm) => Err(Error::ChecksumUnsupported {
                algorithm,
                offered: if capabilities.supports("checksum") {
                    capabilities.checksum_algorithms.clone()
                } else {
                    Vec::new()
                },
            }),
            _ => Ok(()),
        }
    }

    /// The state of the upload at `url` (HEAD, with retries).
    pub async fn upload_info(&self, url: impl AsRef<str>) -> Result<UploadInfo> {
        let url = self.resolve(url.as_ref())?;
        self.with_retries(None, || self.head(&url)).await
    }

    /// One HEAD, no retries.
    pub(crate) async fn head(&self, url: &Url) -> Result<UploadInfo> {
        let method = Method::HEAD;
        let response = self.send(method.clone(), url, HeaderMap::new(), None).await?;
        let response = self.expect(&method, url, response, &[StatusCode::OK, StatusCode::NO_CONTENT]).await?;
        let headers = response.headers();
        let concat = header_str(headers, "upload-concat").map(str::to_owned);
        let offset = match header_u64(&method, url, headers, UPLOAD_OFFSET)? {
            Some(offset) => offset,
            // An unfinished final upload of a concatenation has no offset yet.
            None if concat.as_deref().is_some_and(|c| c.starts_with("final")) => 0,
            None => return Err(Error::protocol(&method, url, "the response has no Upload-Offset")),
        };
        let length = header_u64(&method, url, headers, UPLOAD_LENGTH)?;
        let metadata = match header_str(headers, "upload-metadata") {
            Some(text) => Metadata::decode(text)
                .map_err(|e| Error::protocol(&method, url, format!("bad Upload-Metadata: {e}")))?,
            None => Metadata::new(),
        };
        if let Some(length) = length
            && offset > length
        {
            return Err(Error::protocol(
                &method,
                url,
                format!("Upload-Offset {offset} exceeds Upload-Length {length}"),
            ));
        }
        Ok(UploadInfo {
            url: url.clone(),
            offset,
            length,
            metadata,
            concat,
            expires: header_str(headers, "upload-expires").map(str::to_owned),
        })
    }

    /// Deletes the upload at `url` (the termination extension; DELETE, with retries).
    pub async fn delete_upload(&self, url: impl AsRef<str>) -> Result<()> {
        let url = self.resolve(url.as_ref())?;
        self.with_retries(None, || async {
            let response = self.send(Method::DELETE, &url, HeaderMap::new(), None).await?;
            self.expect(&Method::DELETE, &url, response, &[StatusCode::NO_CONTENT, StatusCode::OK]).await?;
            Ok(())
        })
        .await
    }

    /// The stored unfinished uploads of the file at `path` (for any endpoint); empty
    /// without a URL storage. Reads the file's fingerprint; a blocking call.
    pub fn find_previous_uploads(&self, path: impl AsRef<Path>) -> Result<Vec<PreviousUpload>> {
        let Some(storage) = &self.inner.url_storage else {
            return Ok(Vec::new());
        };
        let path = path.as_ref();
        let fingerprint = self
            .inner
            .fingerprinter
            .fingerprint(path)
            .map_err(|e| Error::io(format!("cannot fingerprint {}", path.display()), e))?;
        let prefix = format!("{fingerprint} ");
        Ok(storage
            .entries()?
            .into_iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(key, upload)| PreviousUpload { key, upload })
            .collect())
    }

    /// The URL storage key of the file at `path` for this endpoint, when a storage is set.
    pub(crate) async fn storage_key(&self, path: &Path) -> Result<Option<String>> {
        if self.inner.url_storage.is_none() {
            return Ok(None);
        }
        let fingerprinter = self.inner.fingerprinter.clone();
        let owned = path.to_owned();
        let fingerprint = tokio::task::spawn_blocking(move || fingerprinter.fingerprint(&owned))
            .await
            .map_err(|e| Error::io("fingerprinting failed", std::io::Error::other(e)))?
            .map_err(|e| Error::io(format!("cannot fingerprint {}", path.display()), e))?;
        Ok(Some(format!("{fingerprint} {}", self.inner.endpoint)))
    }

    /// Runs a URL storage operation on a blocking thread.
    pub(crate) async fn storage_op<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn UrlStorage) -> Result<T, crate::storage::StorageError> + Send + 'static,
    ) -> Result<Option<T>> {
        let Some(storage) = self.inner.url_storage.clone() else {
            return Ok(None);
        };
        let result = tokio::task::spawn_blocking(move || op(storage.as_ref()))
            .await
            .map_err(|e| Error::io("URL storage task failed", std::io::Error::other(e)))??;
        Ok(Some(result))
    }

    pub(crate) async fn store(&self, key: &str, upload: StoredUpload) -> Result<()> {
        let key = key.to_owned();
        self.storage_op(move |s| s.set(&key, &upload)).await.map(drop)
    }

    pub(crate) async fn forget(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.storage_op(move |s| s.remove(&key)).await.map(drop)
    }

    /// `url` resolved against the endpoint (so `/files/abc` works too).
    pub(crate) fn resolve(&self, url: &str) -> Result<Url> {
        self.inner.endpoint.join(url.trim()).map_err(|e| Error::InvalidInput(format!("{url:?} is not a URL: {e}")))
    }

    /// The `Location` of a creation, resolved against the request URL.
    pub(crate) fn location(&self, method: &Method, url: &Url, headers: &HeaderMap) -> Result<Url> {
        let location = headers
            .get(LOCATION)
            .ok_or_else(|| Error::protocol(method, url, "the creation response has no Location"))?;
        let location = location.to_str().map_err(|_| Error::protocol(method, url, "the Location is not ASCII"))?;
        url.join(location.trim()).map_err(|e| Error::protocol(method, url, format!("bad Location {location:?}: {e}")))
    }

    /// Sends one request: the client's headers and `Tus-Resumable`, then the hooks.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
    ) -> Result<Response> {
        let mut all = self.inner.headers.clone();
        all.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
        for (name, value) in &headers {
            all.insert(name, value.clone());
        }
        if let Some(hook) = &self.inner.hooks.before_request {
            hook(&RequestInfo { method: &method, url, headers: &all });
        }
        let started = Instant::now();
        let mut request = self.inner.http.request(method.clone(), url.clone()).headers(all);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|source| Error::Network {
            method: method.clone(),
            url: url.to_string(),
            source,
        })?;
        if let Some(hook) = &self.inner.hooks.after_response {
            hook(&ResponseInfo {
                method: &method,
                url,
                status: response.status(),
                headers: response.headers(),
                elapsed: started.elapsed(),
            });
        }
        Ok(response)
    }

    /// Passes a response with an expected status; turns any other into [`Error::Status`]
    /// with the server's message.
    pub(crate) async fn expect(
        &self,
        method: &Method,
        url: &Url,
        response: Response,
        expected: &[StatusCode],
    ) -> Result<Response> {
        let status = response.status();
        if expected.contains(&status) {
            return Ok(response);
        }
        Err(self.status_error(method, url, response).await)
    }

    pub(crate) async fn status_error(&self, method: &Method, url: &Url, response: Response) -> Error {
        let status = response.status();
        let retry_after =
            header_str(response.headers(), "retry-after").and_then(|s| s.parse().ok()).map(Duration::from_secs);
        let message = if *method == Method::HEAD {
            String::new()
        } else {
            match response.text().await {
                Ok(text) => {
                    let mut text = one_line(&text);
                    if text.len() > MAX_MESSAGE {
                        let mut end = MAX_MESSAGE;
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        text.truncate(end);
                        text.push('…');
                    }
                    text
                }
                Err(_) => String::new(),
            }
        };
        Error::Status { method: method.clone(), url: url.to_string(), status, message, retry_after }
    }

    /// Whether a failure is retried as retry number `attempt` (from 1).
    pub(crate) fn should_retry(&self, error: &Error, attempt: u32) -> bool {
        error.is_retryable()
            && attempt <= self.inner.retry.max_retries()
            && self.inner.hooks.should_retry(error, attempt)
    }

    /// Waits before retry number `attempt`; cancellable. `409 Conflict` is retried at once
    /// (the uploader asks the server for its offset first).
    pub(crate) async fn wait_before_retry(
        &self,
        error: &Error,
        attempt: u32,
        cancel: Option<&CancellationToken>,
    ) -> Result<(), Cancelled> {
        if error.status() == Some(StatusCode::CONFLICT) {
            return Ok(());
        }
        let retry_after = match error {
            Error::Status { retry_after, .. } => *retry_after,
            _ => None,
        };
        let delay = self.inner.retry.delay_for(attempt, retry_after);
        match cancel {
            Some(token) => tokio::select! {
                biased;
                () = token.cancelled() => Err(Cancelled),
                () = tokio::time::sleep(delay) => Ok(()),
            },
            None => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
        }
    }

    /// Runs `op` until it succeeds, fails for good or runs out of retries.
    pub(crate) async fn with_retries<T, F, Fut>(&self, cancel: Option<&CancellationToken>, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            let error = match op().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            attempt += 1;
            if !self.should_retry(&error, attempt) {
                return Err(error);
            }
            if self.wait_before_retry(&error, attempt, cancel).await.is_err() {
                return Err(Error::Cancelled { url: None, offset: 0 });
            }
        }
    }
}

/// A wait was cancelled.
#[derive(Debug)]
pub(crate) struct Cancelled;
