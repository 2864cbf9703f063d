//! A small HTTP/1.1 client: one connection per request, streaming both ways.

use crate::data::hex;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{HeaderMap, Method, Request};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full, StreamBody};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request the client sends.
pub type RequestBody = BoxBody<Bytes, BoxError>;

/// How long a request with a small body may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A whole response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The header `name` as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Upload-Offset`.
    pub fn offset(&self) -> Option<u64> {
        self.header("upload-offset")?.parse().ok()
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// When the body is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status.
    ///
    /// # Panics
    /// When the status is not `status`.
    #[track_caller]
    pub fn expect(&self, status: u16, what: &str) -> &Self {
        assert_eq!(self.status, status, "{what}: {self:?} (body: {:?})", self.text());
        self
    }
}

/// An upload created by [`Client::create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Its URL path (the `Location`, made relative).
    pub path: String,
    /// Its ID (the last segment).
    pub id: String,
}

/// A download, hashed as it streamed in.
#[derive(Debug, Clone)]
pub struct Download {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// How many body bytes arrived.
    pub len: u64,
    /// Their hex SHA-256.
    pub sha256: String,
}

/// An HTTP/1.1 client for one server, sending `Authorization: Bearer <token>` when it has one.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    token: Option<String>,
}

impl Client {
    /// A client for the server at `addr`.
    pub fn new(addr: SocketAddr, token: Option<String>) -> Self {
        Self { addr, token }
    }

    /// The same client with another token (`None`: no `Authorization` header).
    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self { addr: self.addr, token: token.map(str::to_owned) }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A request to `path` with `Host`, `Tus-Resumable` and the token set.
    pub fn request(&self, method: &str, path: &str) -> http::request::Builder {
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("a valid method"))
            .uri(path)
            .header("host", self.addr.to_string())
            .header("tus-resumable", "1.0.0");
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        builder
    }

    /// Sends `request` on a new connection and reads the whole response.
    ///
    /// # Panics
    /// On connection errors and after 60 s.
    pub async fn send(&self, request: Request<RequestBody>) -> Reply {
        let what = format!("{} {}", request.method(), request.uri());
        let response = tokio::time::timeout(TIMEOUT, async {
            let response = self.exchange(request).await.unwrap_or_else(|e| panic!("{what}: {e}"));
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap_or_else(|e| panic!("{what}: reading the body: {e}")).to_bytes();
            Reply { status: parts.status.as_u16(), headers: parts.headers, body }
        })
        .await;
        response.unwrap_or_else(|_| panic!("{what}: no response within {TIMEOUT:?}"))
    }

    /// Sends `method path` with `headers` and no body.
    pub async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut builder = self.request(method, path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(empty()).expect("a valid request")).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[]).await
    }

    /// `HEAD path`.
    pub async fn head(&self, path: &str) -> Reply {
        self.call("HEAD", path, &[]).await
    }

    /// Creates an upload of `length` bytes (with `filename` metadata if given) at `/files`.
    ///
    /// # Panics
    /// Unless the server answers 201 with a `Location`.
    pub async fn create(&self, length: u64, filename: Option<&str>) -> Upload {
        let length = length.to_string();
        let metadata = filename.map(|f| format!("filename {}", base64::engine::general_purpose::STANDARD.encode(f)));
        let mut headers = vec![("upload-length", length.as_str())];
        if let Some(metadata) = &metadata {
            headers.push(("upload-metadata", metadata));
        }
        let reply = self.call("POST", "/files", &headers).await;
        reply.expect(201, "create an upload");
        upload_at(reply.header("location").expect("a Location"))
    }

    /// `PATCH path` at `offset` with `body`.
    pub async fn patch(&self, path: &str, offset: u64, body: impl Into<Bytes>) -> Reply {
        let request = self
            .request("PATCH", path)
            .header("upload-offset", offset)
            .header("content-type", "application/offset+octet-stream")
            .body(full(body))
            .expect("a valid request");
        self.send(request).await
    }

    /// `PATCH path` at `offset` with a body of `len` bytes streamed from `chunks` (with a
    /// `Content-Length`, so in one request of any size). No timeout.
    ///
    /// # Panics
    /// On connection errors.
    pub async fn patch_stream(
        &self,
        path: &str,
        offset: u64,
        len: u64,
        chunks: impl Iterator<Item = Bytes> + Send + Sync + 'static,
    ) -> Reply {
        let body = StreamBody::new(futures_util::stream::iter(chunks).map(|c| Ok::<_, BoxError>(Frame::data(c))));
        let request = self
            .request("PATCH", path)
            .header("upload-offset", offset)
            .header("content-type", "application/offset+octet-stream")
            .header("content-length", len)
            .body(http_body_util::BodyExt::boxed(body))
            .expect("a valid request");
        let response = self.exchange(request).await.unwrap_or_else(|e| panic!("streaming PATCH {path}: {e}"));
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("the PATCH response body").to_bytes();
        Reply { status: parts.status.as_u16(), headers: parts.headers, body }
    }

    /// `GET path`, hashing the body as it streams in (never holding it whole). No timeout.
    ///
    /// # Panics
    /// On connection errors.
    pub async fn download(&self, path: &str) -> Download {
        let request = self.request("GET", path).body(empty()).expect("a valid request");
        let response = self.exchange(request).await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let (parts, mut body) = response.into_parts();
        let mut hasher = Sha256::new();
        let mut len = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap_or_else(|e| panic!("GET {path}: the body broke off: {e}")).into_data() {
                len += data.len() as u64;
                hasher.update(&data);
            }
        }
        Download { status: parts.status.as_u16(), headers: parts.headers, len, sha256: hex(&hasher.finalize()) }
    }

    /// Starts `PATCH path` at `offset` announcing `total` bytes, sends `chunks`, then closes
    /// the connection mid-body, as a client that crashed or lost its network would.
    ///
    /// # Panics
    /// On connection errors.
    pub async fn patch_then_disconnect(
        &self,
        path: &str,
        offset: u64,
        total: u64,
        chunks: impl Iterator<Item = Bytes>,
    ) {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let mut head = format!(
            "PATCH {path} HTTP/1.1\r\nHost: {}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
             Content-Type: application/offset+octet-stream\r\nContent-Length: {total}\r\n",
            self.addr
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("write the request head");
        for chunk in chunks {
            stream.write_all(&chunk).await.expect("write the body");
        }
        stream.flush().await.expect("flush");
        // Give the bytes a moment to be read before the connection goes away.
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(stream);
    }

    /// Writes `bytes` on a new connection (closing its write side after them when
    /// `half_close`), then reads until the server closes the connection or 10 s pass.
    /// Send `Connection: close` to get the connection closed after the response.
    ///
    /// # Panics
    /// On connection errors.
    pub async fn raw(&self, bytes: &[u8], half_close: bool) -> String {
        use tokio::io::AsyncReadExt as _;
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(bytes).await.expect("write the request");
        if half_close {
            stream.shutdown().await.expect("half-close");
        }
        let mut received = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received)).await;
        String::from_utf8_lossy(&received).into_owned()
    }

    /// The head of a request for [`Client::raw`]: the request line, `Host`, `Tus-Resumable`,
    /// the token, `Connection: close` and `headers`, ending with the blank line.
    pub fn raw_head(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n", self.addr);
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head
    }

    async fn exchange(&self, request: Request<RequestBody>) -> Result<http::Response<hyper::body::Incoming>, BoxError> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender.send_request(request).await?)
    }
}

/// An empty request body.
pub fn empty() -> RequestBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A request body of `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> RequestBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// The upload a `Location` names (absolute URLs are made relative).
fn upload_at(location: &str) -> Upload {
    let path = match location.find("://") {
        Some(scheme_end) => {
            let rest = &location[scheme_end + 3..];
            rest.find('/').map_or("/", |i| &rest[i..])
        }
        None => location,
    };
    let id = path.rsplit('/').next().unwrap_or_default().to_owned();
    Upload { path: path.to_owned(), id }
}
