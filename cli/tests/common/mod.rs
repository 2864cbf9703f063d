//! What the process-level tests share: a real `tus serve` child process, a small HTTP
//! client over hyper's low-level connection API, test data and hashing.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

pub mod child;
pub mod cloud;
pub mod interop;
pub mod race;
pub mod redis;

use bytes::Bytes;
use child::{Started, spawn_and_read_first_line};
use http::{HeaderMap, Method, Request};
use http_body::{Body, Frame};
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub const KIB: usize = 1024;
pub const MIB: usize = 1024 * 1024;

/// How long a starting server may take to print its URL line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `tus` binary under test.
pub fn tus_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tus")
}

/// The repository root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_owned()
}

/// A running `tus serve` child process, killed when dropped.
pub struct TusServer {
    child: Option<Child>,
    /// The line the server printed on start.
    pub line: String,
    /// The upload endpoint, e.g. `http://127.0.0.1:PORT/files`.
    pub url: String,
    /// The address the server listens on.
    pub addr: SocketAddr,
    /// The URL path of the endpoint, e.g. `/files`.
    pub base_path: String,
    /// The storage directory.
    pub dir: PathBuf,
    stderr: Arc<Mutex<String>>,
}

impl TusServer {
    /// Starts `tus serve --port 0 --dir DIR EXTRA…` and waits for its URL line.
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        Self::try_start(dir, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`TusServer::start`], with the failure as an error.
    pub fn try_start(dir: &Path, extra: &[&str]) -> Result<Self, String> {
        let mut command = Command::new(tus_bin());
        command.args(["serve", "--port", "0", "--dir"]).arg(dir).args(extra);
        Self::spawn(command, dir)
    }

    /// Spawns a prepared `tus serve` command and waits for its URL line.
    pub fn spawn(mut command: Command, dir: &Path) -> Result<Self, String> {
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info,tus_core=debug");
        }
        let Started { mut child, first_line, stderr } = spawn_and_read_first_line(command, START_TIMEOUT)
            .map_err(|e| format!("cannot start {}: {e}", tus_bin()))?;
        if first_line.trim().is_empty() {
            let _ = child.kill();
            let status = child.wait().ok();
            std::thread::sleep(Duration::from_millis(100));
            let err = stderr.lock().unwrap().clone();
            return Err(format!("the server printed no URL line; status {status:?}; stderr:\n{err}"));
        }
        let line = first_line.trim_end().to_owned();
        let url = parse_serving_line(&line).ok_or_else(|| format!("unexpected start line {line:?}"))?;
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("not an http URL: {url}"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr: SocketAddr = authority.parse().map_err(|e| format!("bad address in {url}: {e}"))?;
        Ok(Self {
            child: Some(child),
            line: line.clone(),
            url: url.clone(),
            addr,
            base_path: path.trim_end_matches('/').to_owned(),
            dir: dir.to_owned(),
            stderr,
        })
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends a signal by name (`TERM`, `INT`, …) with kill(1).
    pub fn signal(&self, name: &str) {
        let status =
            Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().expect("kill(1) runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// SIGKILL, and reap the process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let status = child.wait().expect("reap");
            assert!(!status.success(), "a SIGKILLed server cannot exit successfully");
        }
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL path of an upload from its `Location` (absolute or relative).
    pub fn path_of(&self, location: &str) -> String {
        upload_path(location)
    }

    /// Creates an upload of `length` bytes and returns its path.
    pub async fn create(&self, length: u64) -> String {
        self.create_with(&[("Upload-Length", &length.to_string())]).await
    }

    /// Creates an upload with these headers (besides `Tus-Resumable`), expecting 201, and
    /// returns its path.
    pub async fn create_with(&self, headers: &[(&str, &str)]) -> String {
        let mut all = vec![("Tus-Resumable", "1.0.0")];
        all.extend_from_slice(headers);
        let response = request(self.addr, Method::POST, &self.base_path, &all[..], Bytes::new()).await.expect("POST");
        assert_eq!(response.status, 201, "POST: {}", response.text());
        self.path_of(response.header("location").expect("Location"))
    }

    /// HEAD's `Upload-Offset` of an upload.
    pub async fn offset(&self, path: &str) -> u64 {
        let response = request(self.addr, Method::HEAD, path, TUS, Bytes::new()).await.expect("HEAD");
        assert_eq!(response.status, 200, "HEAD {path}: {response:?}");
        response.header("upload-offset").expect("Upload-Offset").parse().expect("numeric offset")
    }

    /// PATCHes `data` at `offset` and returns the response.
    pub async fn patch(&self, path: &str, offset: u64, data: impl Into<Bytes>) -> Response {
        request(self.addr, Method::PATCH, path, &patch_headers(offset), data.into()).await.expect("PATCH")
    }

    /// Downloads a complete upload with GET.
    pub async fn download(&self, path: &str) -> Bytes {
        let response = request(self.addr, Method::GET, path, TUS, Bytes::new()).await.expect("GET");
        assert_eq!(response.status, 200, "GET {path}: {}", response.text());
        response.body
    }
}

impl Drop for TusServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- tus server stderr ({}) ----\n{}", self.url, self.stderr());
        }
    }
}

/// The URL in `tus: serving URL (storage: DIR)`.
pub fn parse_serving_line(line: &str) -> Option<String> {
    let rest = line.strip_prefix("tus: serving ")?;
    let (url, storage) = rest.split_once(' ')?;
    storage.starts_with("(storage: ").then(|| url.to_owned())
}

/// The path of an upload URL: `http://h/files/ID` and `/files/ID` both give `/files/ID`.
pub fn upload_path(location: &str) -> String {
    match location.split_once("://") {
        Some((_, rest)) => rest[rest.find('/').unwrap_or(rest.len())..].to_owned(),
        None => location.to_owned(),
    }
}

/// `Tus-Resumable: 1.0.0` alone.
pub const TUS: &[(&str, &str)] = &[("Tus-Resumable", "1.0.0")];

/// The headers of a PATCH at `offset`.
pub fn patch_headers(offset: u64) -> Vec<(&'static str, String)> {
    vec![
        ("Tus-Resumable", "1.0.0".to_owned()),
        ("Content-Type", "application/offset+octet-stream".to_owned()),
        ("Upload-Offset", offset.to_string()),
    ]
}

/// A response, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII header"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Header lists given as `&[(&str, &str)]` or `Vec<(&str, String)>`.
pub trait Headers {
    fn pairs(&self) -> Vec<(&str, &str)>;
}

impl Headers for &[(&str, &str)] {
    fn pairs(&self) -> Vec<(&str, &str)> {
        self.to_vec()
    }
}

impl<const N: usize> Headers for &[(&str, &str); N] {
    fn pairs(&self) -> Vec<(&str, &str)> {
        self.to_vec()
    }
}

impl Headers for &Vec<(&'static str, String)> {
    fn pairs(&self) -> Vec<(&str, &str)> {
        self.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

type RequestBody = BoxBody<Bytes, Infallible>;

/// One request on a new HTTP/1.1 connection; the body is sent whole.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: impl Headers,
    body: Bytes,
) -> Result<Response, String> {
    let mut builder = Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (name, value) in headers.pairs() {
        builder = builder.header(name, value);
    }
    let request = builder.body(Full::new(body).boxed()).map_err(|e| e.to_string())?;
    send(addr, request).await
}

/// Sends a prepared request on a new HTTP/1.1 connection and reads the whole response.
pub async fn send(addr: SocketAddr, request: Request<RequestBody>) -> Result<Response, String> {
    let mut sender = connect(addr).await?;
    let response = sender.send_request(request).await.map_err(|e| format!("request failed: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| format!("reading the body failed: {e}"))?.to_bytes();
    Ok(Response { status: parts.status.as_u16(), headers: parts.headers, body })
}

/// An HTTP/1.1 connection whose driver runs in a task.
pub async fn connect(addr: SocketAddr) -> Result<hyper::client::conn::http1::SendRequest<RequestBody>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// A request body fed piece by piece through a channel: the request stays open until
/// the sender is dropped.
pub struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|piece| piece.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// A PATCH whose body is sent as the test decides: declare `content_length`, feed
/// pieces through `body`, and await `response`.
pub struct StreamingPatch {
    pub body: tokio::sync::mpsc::Sender<Bytes>,
    pub response: tokio::task::JoinHandle<Result<Response, String>>,
}

impl StreamingPatch {
    pub async fn start(addr: SocketAddr, path: &str, offset: u64, content_length: u64) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut builder = Request::builder().method(Method::PATCH).uri(path).header("host", addr.to_string());
        for (name, value) in patch_headers(offset) {
            builder = builder.header(name, value);
        }
        builder = builder.header("content-length", content_length.to_string());
        let request = builder.body(ChannelBody(rx).boxed()).expect("request");
        let response = tokio::spawn(send(addr, request));
        Self { body: tx, response }
    }

    /// Sends `data` in pieces of `piece` bytes.
    pub async fn send(&self, data: &[u8], piece: usize) {
        for chunk in data.chunks(piece) {
            self.body.send(Bytes::copy_from_slice(chunk)).await.expect("the request is still being sent");
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), different for each seed.
pub fn test_data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lowercase hex SHA-256.
pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
