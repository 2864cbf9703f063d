//! [`ServedLayer`]: a [`TusLayer`] served on loopback, with the few requests a storage
//! backend's own HTTP tests make again and again (create, PATCH, HEAD, download), made by
//! the suite's own [`Target`] and check helpers.

use crate::Target;
use crate::checks;
use crate::client::{RequestBuilder, Response};
use crate::server::{Mode, RunningServer, spawn};
use bytes::Bytes;
use http::Method;
use std::time::Duration;
use tus_core::TusLayer;

/// A tus layer served standalone on `127.0.0.1`, kept at hand for its janitor and hooks.
#[derive(Debug)]
pub struct ServedLayer {
    running: RunningServer,
    layer: TusLayer,
    target: Target,
}

impl ServedLayer {
    /// Serves `layer` (standalone, under its configured base path) on a fresh port.
    pub async fn start(layer: TusLayer) -> Self {
        let running = spawn(layer.clone(), Mode::Standalone).await;
        let target = Target::new(&format!("{}{}", running.origin(), layer.configured_base_path()));
        Self { running, layer, target }
    }

    /// The layer being served.
    pub fn layer(&self) -> &TusLayer {
        &self.layer
    }

    /// A request to `path` on this server, with `Tus-Resumable: 1.0.0`.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.target.request(method, path)
    }

    /// `POST` on the endpoint with `headers`; asserts 201 and returns the upload's path.
    ///
    /// # Panics
    /// When the answer is not 201 with a `Location`.
    pub async fn create(&self, headers: &[(&str, String)]) -> String {
        let mut request = self.target.post();
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let answer = request.send().await;
        answer.expect(201, "POST");
        checks::Upload::from_location(&self.target, &answer).path
    }

    /// A PATCH of `body` at `offset`.
    pub async fn patch(&self, path: &str, offset: u64, body: impl Into<Bytes>) -> Response {
        checks::patch(&self.target, path, offset, body).await
    }

    /// A PATCH that must answer 204; returns the new `Upload-Offset`.
    ///
    /// # Panics
    /// When the answer is not 204 with an `Upload-Offset`.
    pub async fn patch_ok(&self, path: &str, offset: u64, bytes: &[u8]) -> u64 {
        let answer = self.patch(path, offset, Bytes::copy_from_slice(bytes)).await;
        answer.expect(204, "PATCH");
        answer.offset().expect("204 with an Upload-Offset")
    }

    /// HEAD of an upload.
    pub async fn head(&self, path: &str) -> Response {
        checks::head(&self.target, path).await
    }

    /// HEAD's `Upload-Offset`.
    ///
    /// # Panics
    /// When HEAD does not succeed with an `Upload-Offset`.
    pub async fn offset(&self, path: &str) -> u64 {
        checks::offset(&self.target, path).await
    }

    /// GET of an upload, with an optional `Range`: the status and the body.
    pub async fn download(&self, path: &str, range: Option<&str>) -> (u16, Bytes) {
        let mut request = self.target.get(path);
        if let Some(range) = range {
            request = request.header("Range", range);
        }
        let answer = request.send().await;
        (answer.status.as_u16(), answer.body)
    }

    /// A PATCH at `offset` that sends `sent` and then breaks off, as when a client's
    /// connection drops; `content_length` announces the whole body. Waits up to 10 s until
    /// the server has committed what arrived and returns HEAD's offset then.
    ///
    /// # Panics
    /// When the request does not fail on the client side.
    pub async fn patch_cut_off(&self, path: &str, offset: u64, sent: &[u8], content_length: Option<u64>) -> u64 {
        let mut request = self.target.patch(path).offset_octet_stream().upload_offset(offset);
        if let Some(length) = content_length {
            request = request.header("Content-Length", length.to_string());
        }
        let (mut body, answer) = request.stream().await;
        for piece in sent.chunks(64 * 1024) {
            body.send(Bytes::copy_from_slice(piece)).await;
        }
        body.abort().await;
        assert!(answer.try_response(Duration::from_secs(10)).await.is_err(), "a cut-off PATCH fails for the client");
        let moved = checks::eventually(Duration::from_secs(10), || async {
            let now = self.offset(path).await;
            (now != offset).then_some(now)
        })
        .await;
        moved.unwrap_or(offset)
    }

    /// Stops the server: see [`RunningServer::shutdown`].
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.running.shutdown(deadline).await
    }
}
