//! A small typed client for the few calls of the GCS JSON API this crate needs:
//! media and multipart uploads, ranged downloads, compose, delete and list.

use crate::auth::Authorizer;
use crate::error::GcsError;
use bytes::Bytes;
use futures_util::StreamExt as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;
use tus_core::storage::ByteStream;

/// Everything but RFC 3986's unreserved characters is escaped in path segments and queries.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn esc(s: &str) -> String {
    utf8_percent_encode(s, ESCAPE).to_string()
}

/// Which part of a request [`Api::timeout`] bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The whole exchange (small requests).
    Whole,
    /// Until the response head (downloads: the body is bounded per chunk).
    Head,
    /// Nothing: the caller bounds it (streamed uploads last as long as their body).
    Caller,
}

/// An object's resource, as far as this crate reads it.
#[derive(Debug, Clone)]
pub(crate) struct ObjectMeta {
    pub(crate) name: String,
    pub(crate) generation: u64,
    pub(crate) size: u64,
    pub(crate) metadata: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct RawObject {
    name: String,
    // The JSON API sends 64-bit numbers as strings.
    generation: String,
    size: String,
    #[serde(default)]
    metadata: Option<HashMap<String, String>>,
}

impl TryFrom<RawObject> for ObjectMeta {
    type Error = GcsError;

    fn try_from(raw: RawObject) -> Result<Self, GcsError> {
        let number = |what: &str, value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| GcsError::Corrupt(format!("{what} {value:?} of {} is not a number", raw.name)))
        };
        Ok(Self {
            generation: number("generation", &raw.generation)?,
            size: number("size", &raw.size)?,
            metadata: raw.metadata.clone().unwrap_or_default(),
            name: raw.name,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawList {
    #[serde(default)]
    items: Vec<RawObject>,
    next_page_token: Option<String>,
}

/// A source object of a compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) name: String,
    /// Compose exactly this generation (it fails if the object was replaced since).
    pub(crate) generation: Option<u64>,
}

impl Source {
    /// The object's current generation.
    pub(crate) fn latest(name: String) -> Self {
        Self { name, generation: None }
    }
}

/// One bucket, reached through the JSON API at `endpoint`.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    endpoint: String,
    bucket: String,
    auth: Authorizer,
    timeout: Duration,
}

impl Api {
    pub(crate) fn new(
        http: reqwest::Client,
        endpoint: String,
        bucket: String,
        auth: Authorizer,
        timeout: Duration,
    ) -> Self {
        Self { http, endpoint: endpoint.trim_end_matches('/').to_owned(), bucket, auth, timeout }
    }

    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    fn object_url(&self, name: &str) -> String {
        format!("{}/storage/v1/b/{}/o/{}", self.endpoint, esc(&self.bucket), esc(name))
    }

    fn upload_url(&self) -> String {
        format!("{}/upload/storage/v1/b/{}/o", self.endpoint, esc(&self.bucket))
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        operation: &'static str,
        target: &str,
        wait: Wait,
    ) -> Result<reqwest::Response, GcsError> {
        let mut request = request;
        if let Some(header) = self.auth.header(&self.http).await? {
            request = request.header(reqwest::header::AUTHORIZATION, header);
        }
        let answer = match wait {
            Wait::Whole => request.timeout(self.timeout).send().await?,
            Wait::Head => tokio::time::timeout(self.timeout, request.send())
                .await
                .map_err(|_| GcsError::TimedOut { operation, target: target.to_owned() })??,
            Wait::Caller => request.send().await?,
        };
        let status = answer.status();
        if status.is_success() {
            return Ok(answer);
        }
        if status == reqwest::StatusCode::PRECONDITION_FAILED {
            return Err(GcsError::PreconditionFailed);
        }
        let text = answer.text().await.unwrap_or_default();
        let message: String = text.chars().take(300).collect();
        Err(GcsError::Status { operation, target: target.to_owned(), status: status.as_u16(), message })
    }

    async fn object_from(answer: reqwest::Response) -> Result<ObjectMeta, GcsError> {
        let body = answer.bytes().await?;
        let raw: RawObject =
            serde_json::from_slice(&body).map_err(|e| GcsError::Corrupt(format!("unexpected object resource: {e}")))?;
        raw.try_into()
    }

    /// Checks that the bucket exists and that we may use it.
    pub(crate) async fn check_bucket(&self) -> Result<(), GcsError> {
        let url = format!("{}/storage/v1/b/{}", self.endpoint, esc(&self.bucket));
        self.send(self.http.get(url), "get bucket", &self.bucket, Wait::Whole).await.map(drop)
    }

    /// Creates the bucket (for tests and first runs on emulators).
    pub(crate) async fn create_bucket(&self, project: &str) -> Result<(), GcsError> {
        let url = format!("{}/storage/v1/b?project={}", self.endpoint, esc(project));
        let body = serde_json::json!({ "name": self.bucket }).to_string();
        let request = self.http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        match self.send(request, "create bucket", &self.bucket, Wait::Whole).await {
            Err(GcsError::Status { status: 409, .. }) | Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The bytes and generation of a small object, or `None` when it does not exist.
    pub(crate) async fn get_small(&self, name: &str) -> Result<Option<(Bytes, u64)>, GcsError> {
        let url = format!("{}?alt=media", self.object_url(name));
        let answer = match self.send(self.http.get(url), "read object", name, Wait::Whole).await {
            Err(GcsError::Status { status: 404, .. }) => return Ok(None),
            other => other?,
        };
        let generation = answer
            .headers()
            .get("x-goog-generation")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| GcsError::Corrupt(format!("no x-goog-generation header on {name}")))?;
        Ok(Some((answer.bytes().await?, generation)))
    }

    /// Writes a small object in one multipart request, with custom `metadata`, on condition
    /// that its generation is `if_generation` (0: that it does not exist). Returns the
    /// new generation.
    pub(crate) async fn put_small(
        &self,
        name: &str,
        content_type: &str,
        bytes: &[u8],
        metadata: &HashMap<String, String>,
        if_generation: u64,
    ) -> Result<u64, GcsError> {
        // A fresh random boundary per request, so no metadata value can contain it.
        let boundary = format!("tus_gcs_{}", tus_cloud::token());
        let resource = serde_json::json!({ "name": name, "contentType": content_type, "metadata": metadata });
        let mut body = Vec::with_capacity(bytes.len() + 512);
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(resource.to_string().as_bytes());
        body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!("{}?uploadType=multipart&ifGenerationMatch={if_generation}", self.upload_url());
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, format!("multipart/related; boundary={boundary}"))
            .body(body);
        let answer = self.send(request, "write object", name, Wait::Whole).await?;
        Ok(Self::object_from(answer).await?.generation)
    }

    /// How long one silent wait may last.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Streams `body` into a new object `name`: a resumable upload session, then one PUT
    /// of unknown length (chunked). Not a media upload: fake-gcs-server holds a global
    /// lock while it reads a media upload's body, which would stall every other request
    /// for as long as a PATCH lasts. Not bounded in time here: the caller bounds each wait
    /// for GCS to take the next chunk and the wait for the answer after the last one.
    pub(crate) async fn put_stream(&self, name: &str, body: reqwest::Body) -> Result<ObjectMeta, GcsError> {
        let session = self.start_upload(name).await?;
        self.put_to_session(&session, name, body).await
    }

    /// Opens a resumable upload session for a new object `name`, on condition that no
    /// object of that name exists (`ifGenerationMatch=0`, checked again when the upload
    /// ends); returns the session URL. No object exists until the session's upload ends.
    pub(crate) async fn start_upload(&self, name: &str) -> Result<String, GcsError> {
        let url = format!("{}?uploadType=resumable&name={}&ifGenerationMatch=0", self.upload_url(), esc(name));
        let start = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=UTF-8")
            .header("X-Upload-Content-Type", "application/octet-stream")
            .body(serde_json::json!({ "contentType": "application/octet-stream" }).to_string());
        let answer = self.send(start, "start upload", name, Wait::Whole).await?;
        answer
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| GcsError::Corrupt(format!("no upload session URL for {name}")))
    }

    /// Sends the whole content of object `name` into the upload `session` in one PUT of
    /// unknown length; the object exists once GCS answers. If `body` yields an error the
    /// request is abandoned and no object is made. Bounded in time by the caller.
    pub(crate) async fn put_to_session(
        &self,
        session: &str,
        name: &str,
        body: reqwest::Body,
    ) -> Result<ObjectMeta, GcsError> {
        let request =
            self.http.put(session).header(reqwest::header::CONTENT_TYPE, "application/octet-stream").body(body);
        let answer = self.send(request, "upload object", name, Wait::Caller).await?;
        Self::object_from(answer).await
    }

    /// Composes `sources` (at most 32, in order) into `destination`, which may be one of
    /// them (GCS reads the sources before it replaces the destination).
    pub(crate) async fn compose(&self, destination: &str, sources: &[Source]) -> Result<ObjectMeta, GcsError> {
        let sources: Vec<_> = sources
            .iter()
            .map(|source| match source.generation {
                Some(generation) => serde_json::json!({ "name": source.name, "generation": generation.to_string() }),
                None => serde_json::json!({ "name": source.name }),
            })
            .collect();
        let body = serde_json::json!({
            "sourceObjects": sources,
            "destination": { "contentType": "application/octet-stream" },
        })
        .to_string();
        let url = format!("{}/compose", self.object_url(destination));
        let request = self.http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        let answer = self.send(request, "compose object", destination, Wait::Whole).await?;
        Self::object_from(answer).await
    }

    /// Deletes an object; `false` when it did not exist.
    pub(crate) async fn delete(&self, name: &str) -> Result<bool, GcsError> {
        self.delete_generation(name, None).await
    }

    /// Deletes an object if its generation is still `generation` (any, when `None`), so
    /// that a writer cleaning up after itself never deletes an object someone else wrote
    /// since; `false` when it did not exist. A changed generation is `PreconditionFailed`.
    pub(crate) async fn delete_generation(&self, name: &str, generation: Option<u64>) -> Result<bool, GcsError> {
        let mut url = self.object_url(name);
        if let Some(generation) = generation {
            url.push_str(&format!("?ifGenerationMatch={generation}"));
        }
        match self.send(self.http.delete(url), "delete object", name, Wait::Whole).await {
            Ok(_) => Ok(true),
            Err(GcsError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One page of the objects whose names start with `prefix`.
    pub(crate) async fn list(
        &self,
        prefix: &str,
        page_token: Option<&str>,
    ) -> Result<(Vec<ObjectMeta>, Option<String>), GcsError> {
        let mut url = format!(
            "{}/storage/v1/b/{}/o?prefix={}&fields={}",
            self.endpoint,
            esc(&self.bucket),
            esc(prefix),
            esc("items(name,generation,size,metadata),nextPageToken")
        );
        if let Some(token) = page_token {
            url.push_str(&format!("&pageToken={}", esc(token)));
        }
        let answer = self.send(self.http.get(url), "list objects", prefix, Wait::Whole).await?;
        let body = answer.bytes().await?;
        let raw: RawList =
            serde_json::from_slice(&body).map_err(|e| GcsError::Corrupt(format!("unexpected object list: {e}")))?;
        let items = raw.items.into_iter().map(ObjectMeta::try_from).collect::<Result<_, _>>()?;
        Ok((items, raw.next_page_token.filter(|t| !t.is_empty())))
    }

    /// Streams `range` (not empty) of object `name`.
    pub(crate) async fn download(&self, name: &str, range: Range<u64>) -> Result<ByteStream, GcsError> {
        let url = format!("{}?alt=media", self.object_url(name));
        let request =
            self.http.get(url).header(reqwest::header::RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        let answer = self.send(request, "download object", name, Wait::Head).await?;
        let expected = range.end - range.start;
        if answer.status() != reqwest::StatusCode::PARTIAL_CONTENT
            && answer.content_length().is_some_and(|len| len != expected)
        {
            return Err(GcsError::Corrupt(format!("{name}: the range {range:?} was not honoured")));
        }
        // Every silent wait for the next chunk is bounded.
        let idle = self.timeout;
        let chunks = Box::pin(answer.bytes_stream());
        Ok(Box::pin(futures_util::stream::unfold(Some(chunks), move |chunks| async move {
            let mut chunks = chunks?;
            match tokio::time::timeout(idle, chunks.next()).await {
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(chunks))),
                Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
                Ok(None) => None,
                Err(_) => Some((Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "GCS download stalled")), None)),
            }
        })))
    }
}
