//! A small HTTP/1.1 client for the checks.
//!
//! [`RequestBuilder`] sends one request per TCP connection with hyper's client
//! connection API, with a whole body or a streaming one ([`BodySender`], which can
//! also send trailers). [`RawConnection`] writes bytes on a bare `TcpStream` for
//! what hyper will not do: dropping a connection mid-body, looking at
//! `100 Continue`, or checking that no byte follows a HEAD response.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, StreamBody};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long any single request may take before the check fails.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The error type of streaming request bodies.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A complete response: status, headers and the whole body.
#[derive(Clone)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, read to its end.
    pub body: Bytes,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body[..self.body.len().min(300)]))
            .finish()
    }
}

impl Response {
    /// The value of `name` as a string; `None` if absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of `name`.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect()
    }

    /// Whether the header `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }

    /// `Upload-Offset` as a number; `None` if absent, panics if malformed.
    pub fn offset(&self) -> Option<u64> {
        self.number("upload-offset")
    }

    /// `Upload-Length` as a number; `None` if absent, panics if malformed.
    pub fn length(&self) -> Option<u64> {
        self.number("upload-length")
    }

    /// A header parsed as a non-negative integer; panics if it is not one.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.header(name)
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: {v:?} is not a non-negative integer in {self:?}")))
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Panics with the whole response when the status is not `expected`.
    #[track_caller]
    pub fn expect(&self, expected: u16, what: &str) -> &Self {
        assert_eq!(self.status.as_u16(), expected, "{what}: unexpected status in {self:?}");
        self
    }

    /// Panics with the whole response when the status is not one of `expected`.
    #[track_caller]
    pub fn expect_one_of(&self, expected: &[u16], what: &str) -> &Self {
        assert!(expected.contains(&self.status.as_u16()), "{what}: status not one of {expected:?} in {self:?}");
        self
    }
}

/// Where requests go: `host:port`, also sent as `Host`.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) authority: String,
}

/// A request under construction. Every request carries `Tus-Resumable: 1.0.0`
/// unless [`RequestBuilder::no_tus`] or [`RequestBuilder::tus_version`] says otherwise.
#[derive(Debug, Clone)]
#[must_use]
pub struct RequestBuilder {
    endpoint: Endpoint,
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    tus: Option<HeaderValue>,
    body: Bytes,
}

impl RequestBuilder {
    pub(crate) fn new(endpoint: Endpoint, method: Method, path: String) -> Self {
        Self {
            endpoint,
            method,
            path,
            headers: Vec::new(),
            tus: Some(HeaderValue::from_static("1.0.0")),
            body: Bytes::new(),
        }
    }

    /// Adds a header (several calls with one name add several values).
    ///
    /// # Panics
    /// When the name or value is not valid in HTTP.
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        let value = value.as_ref();
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|_| panic!("bad header name {name:?}"));
        let value = HeaderValue::from_str(value).unwrap_or_else(|_| panic!("bad header value {value:?}"));
        self.headers.push((name, value));
        self
    }

    /// Sends no `Tus-Resumable` header.
    pub fn no_tus(mut self) -> Self {
        self.tus = None;
        self
    }

    /// Sends `Tus-Resumable: version`.
    pub fn tus_version(mut self, version: &str) -> Self {
        self.tus = Some(HeaderValue::from_str(version).expect("valid version"));
        self
    }

    /// `Content-Type: application/offset+octet-stream`.
    pub fn offset_octet_stream(self) -> Self {
        self.header("content-type", "application/offset+octet-stream")
    }

    /// `Upload-Offset: offset`.
    pub fn upload_offset(self, offset: u64) -> Self {
        self.header("upload-offset", offset.to_string())
    }

    /// The body (sent with a `Content-Length`).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    fn head_parts(&self) -> http::request::Builder {
        let mut builder =
            Request::builder().method(self.method.clone()).uri(&self.path).header("host", &self.endpoint.authority);
        if let Some(version) = &self.tus {
            builder = builder.header("tus-resumable", version.clone());
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        builder
    }

    /// Sends the request and reads the whole response.
    ///
    /// # Panics
    /// When the connection fails or the exchange takes longer than [`REQUEST_TIMEOUT`].
    pub async fn send(self) -> Response {
        let what = format!("{} {}", self.method, self.path);
        match self.try_send().await {
            Ok(response) => response,
            Err(e) => panic!("{what}: {e}"),
        }
    }

    /// Sends the request; connection errors are returned instead of panicking.
    pub async fn try_send(self) -> Result<Response, String> {
        let body = self.body.clone();
        let body = http_body_util::Full::new(body).map_err(|never| -> BoxError { match never {} });
        let request = self.head_parts().body(body.boxed()).map_err(|e| e.to_string())?;
        tokio::time::timeout(REQUEST_TIMEOUT, exchange(&self.endpoint, request))
            .await
            .map_err(|_| format!("no response within {REQUEST_TIMEOUT:?}"))?
    }

    /// Starts the request with a body sent piece by piece through the returned
    /// [`BodySender`]. Without a `Content-Length` header the body is chunked.
    pub async fn stream(self) -> (BodySender, PendingResponse) {
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, BoxError>>(16);
        let body = StreamBody::new(FrameStream(rx));
        let request = self.head_parts().body(body.boxed()).expect("valid request");
        let endpoint = self.endpoint.clone();
        let handle = tokio::spawn(async move { exchange(&endpoint, request).await });
        (BodySender { tx: Some(tx) }, PendingResponse { handle })
    }
}

/// The frames of a streaming request body, as a `Stream` for [`StreamBody`].
struct FrameStream(mpsc::Receiver<Result<Frame<Bytes>, BoxError>>);

impl futures_core::Stream for FrameStream {
    type Item = Result<Frame<Bytes>, BoxError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// The writing end of a streaming request body.
#[derive(Debug)]
pub struct BodySender {
    tx: Option<mpsc::Sender<Result<Frame<Bytes>, BoxError>>>,
}

impl BodySender {
    /// Sends a piece of the body. Returns `false` when the request is over already
    /// (the server answered or the connection closed).
    pub async fn send(&mut self, data: impl Into<Bytes>) -> bool {
        match &self.tx {
            Some(tx) => tx.send(Ok(Frame::data(data.into()))).await.is_ok(),
            None => false,
        }
    }

    /// Sends the trailers and ends the body (the request must announce them in `Trailer`).
    pub async fn trailers(mut self, trailers: HeaderMap) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Ok(Frame::trailers(trailers))).await;
        }
    }

    /// Ends the body normally.
    pub fn finish(mut self) {
        self.tx.take();
    }

    /// Fails the body: hyper aborts the request and closes the connection mid-body.
    pub async fn abort(mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Err("aborted by the test".into())).await;
        }
    }
}

/// A response that is still on its way.
#[derive(Debug)]
pub struct PendingResponse {
    handle: JoinHandle<Result<Response, String>>,
}

impl PendingResponse {
    /// Waits for the response.
    ///
    /// # Panics
    /// When the exchange fails or takes longer than [`REQUEST_TIMEOUT`].
    pub async fn response(self) -> Response {
        match self.try_response(REQUEST_TIMEOUT).await {
            Ok(r) => r,
            Err(e) => panic!("streaming request: {e}"),
        }
    }

    /// Waits at most `timeout` for the response; errors are returned.
    pub async fn try_response(self, timeout: Duration) -> Result<Response, String> {
        match tokio::time::timeout(timeout, self.handle).await {
            Err(_) => Err(format!("no response within {timeout:?}")),
            Ok(Err(join)) => Err(format!("client task failed: {join}")),
            Ok(Ok(result)) => result,
        }
    }

    /// Whether the response has arrived (or the exchange failed).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

type AnyBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

async fn exchange(endpoint: &Endpoint, request: Request<AnyBody>) -> Result<Response, String> {
    let stream =
        TcpStream::connect(&endpoint.authority).await.map_err(|e| format!("connect to {}: {e}", endpoint.authority))?;
    stream.set_nodelay(true).ok();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender.send_request(request).await.map_err(|e| format!("request failed: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| format!("reading the response body: {e}"))?.to_bytes();
    driver.abort();
    Ok(Response { status: parts.status, headers: parts.headers, body })
}

/// Why a raw read ended without what was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawError {
    /// Nothing (complete) arrived in time.
    Timeout,
    /// The server closed the connection.
    Closed,
}

/// The head of a response read from a [`RawConnection`].
#[derive(Debug, Clone)]
pub struct RawHead {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
}

impl RawHead {
    /// The value of `name` as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A bare TCP connection to the target, for byte-level control.
#[derive(Debug)]
pub struct RawConnection {
    stream: TcpStream,
    buffer: Vec<u8>,
    authority: String,
}

impl RawConnection {
    pub(crate) async fn open(endpoint: &Endpoint) -> Self {
        let stream = TcpStream::connect(&endpoint.authority)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", endpoint.authority));
        stream.set_nodelay(true).ok();
        Self { stream, buffer: Vec::new(), authority: endpoint.authority.clone() }
    }

    /// Writes a request head: the request line, `Host`, then `headers` in order.
    pub async fn send_head(&mut self, method: &str, path: &str, headers: &[(&str, String)]) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.authority);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.write(head.as_bytes()).await;
    }

    /// Writes bytes.
    ///
    /// # Panics
    /// When the write fails.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.try_write(bytes).await.unwrap_or_else(|e| panic!("raw write failed: {e}"));
    }

    /// Writes bytes; errors (e.g. the server closed the connection) are returned.
    pub async fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Closes the writing side (a clean end of everything sent so far).
    pub async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    async fn fill(&mut self, deadline: tokio::time::Instant) -> Result<(), RawError> {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Err(RawError::Timeout),
            Ok(Ok(0) | Err(_)) => Err(RawError::Closed),
            Ok(Ok(n)) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// Reads the next response head (interim `1xx` heads included), waiting at most `timeout`.
    pub async fn read_head(&mut self, timeout: Duration) -> Result<RawHead, RawError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head: Vec<u8> = self.buffer.drain(..end + 4).collect();
                return Ok(parse_head(&head));
            }
            self.fill(deadline).await?;
        }
    }

    /// Reads the body that follows `head` (by `Content-Length` or chunked), at most `timeout`.
    pub async fn read_body(&mut self, head: &RawHead, timeout: Duration) -> Result<Bytes, RawError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let chunked = head.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buffer, b"\r\n") {
                        break i;
                    }
                    self.fill(deadline).await?;
                };
                let line = String::from_utf8_lossy(&self.buffer[..line_end]).into_owned();
                let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                    .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
                if size == 0 {
                    // Skip the trailer section up to the empty line.
                    loop {
                        if let Some(i) = find(&self.buffer[line_end..], b"\r\n\r\n") {
                            self.buffer.drain(..line_end + i + 4);
                            return Ok(body.into());
                        }
                        self.fill(deadline).await?;
                    }
                }
                while self.buffer.len() < line_end + 2 + size + 2 {
                    self.fill(deadline).await?;
                }
                body.extend_from_slice(&self.buffer[line_end + 2..line_end + 2 + size]);
                self.buffer.drain(..line_end + 2 + size + 2);
            }
        }
        let length: usize = head.header("content-length").map_or(0, |v| v.trim().parse().expect("content-length"));
        while self.buffer.len() < length {
            self.fill(deadline).await?;
        }
        Ok(self.buffer.drain(..length).collect::<Vec<u8>>().into())
    }

    /// Every byte that arrives within `wait`, and whether the server closed the connection.
    pub async fn read_for(&mut self, wait: Duration) -> (Vec<u8>, bool) {
        let deadline = tokio::time::Instant::now() + wait;
        let closed = loop {
            match self.fill(deadline).await {
                Ok(()) => {}
                Err(RawError::Timeout) => break false,
                Err(RawError::Closed) => break true,
            }
        };
        (std::mem::take(&mut self.buffer), closed)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> RawHead {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code = status_line.split(' ').nth(1).and_then(|c| c.parse::<u16>().ok());
    let status =
        code.and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("bad header line {line:?}"));
        let name = HeaderName::from_bytes(name.trim().as_bytes()).expect("header name");
        let value = HeaderValue::from_bytes(value.trim().as_bytes()).expect("header value");
        headers.append(name, value);
    }
    RawHead { status, headers }
}
