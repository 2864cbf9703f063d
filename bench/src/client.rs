//! The load generator's side of a connection: hyper 1 `client::conn::http1` over a tokio
//! `TcpStream`, kept alive for every request of one worker.

use crate::Error;
use crate::pattern::PatternBody;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection to a server under test.
#[derive(Debug)]
pub struct Connection {
    sender: http1::SendRequest<PatternBody>,
    host: String,
}

/// The answer to one request, its body read in full.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// A header's value as text (`None` when missing or not text).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header's value as a number (`None` when missing or not a number).
    pub fn number(&self, name: &str) -> Option<u64> {
        self.header(name).and_then(|v| v.trim().parse().ok())
    }
}

impl Connection {
    /// Opens a connection (with `TCP_NODELAY`, as browsers and tus clients do) and drives
    /// it on the current tokio runtime.
    pub async fn open(addr: SocketAddr) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes; errors surface on `send`.
            let _ = connection.await;
        });
        Ok(Self { sender, host: addr.to_string() })
    }

    /// A request to `path` on this connection's server with the `Host` header set.
    pub fn request(&self, method: Method, path: &str) -> http::request::Builder {
        Request::builder().method(method).uri(path).header(http::header::HOST, &self.host)
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&mut self, request: Request<PatternBody>) -> Result<Answer, Error> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer { status: parts.status, headers: parts.headers, body })
    }
}
