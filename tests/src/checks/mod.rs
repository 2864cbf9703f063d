//! The checks: one `pub async fn` per line of Part A of the protocol checklist
//! (`shared/protocol.md`), named after the line, in one module per section.
//!
//! Every check takes a [`Launcher`](crate::Launcher), starts the servers it needs
//! (with a special [`Profile`](crate::Profile) when the line needs one) and panics
//! with a precise message when the server does not behave as the line says.

pub mod a10_termination;
pub mod a11_concatenation;
pub mod a12_download;
pub mod a13_location;
pub mod a14_robustness;
pub mod a1_version;
pub mod a2_options;
pub mod a3_head;
pub mod a4_patch;
pub mod a5_method_override;
pub mod a6_creation;
pub mod a7_creation_with_upload;
pub mod a8_expiration;
pub mod a9_checksum;
pub mod passthrough;

use crate::client::Response;
use crate::target::Target;
use bytes::Bytes;
use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

/// Extra request headers for raw requests, in order.
pub(crate) type RawHeaders<'a> = Vec<(&'a str, String)>;

/// An upload created by a check.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    /// The request path, e.g. `/files/abc`.
    pub(crate) path: String,
    /// The ID (last path segment).
    pub(crate) id: String,
}

impl Upload {
    pub(crate) fn from_location(target: &Target, response: &Response) -> Self {
        let location = response.header("location").unwrap_or_else(|| panic!("a 201 must carry Location: {response:?}"));
        let path = target.resolve(location);
        let id = path.rsplit('/').next().unwrap_or_default().to_owned();
        Self { path, id }
    }
}

/// `POST` with `Upload-Length: length`, expecting 201.
pub(crate) async fn create(target: &Target, length: u64) -> Upload {
    let response = target.post().header("upload-length", length.to_string()).send().await;
    response.expect(201, "POST with Upload-Length");
    Upload::from_location(target, &response)
}

/// `POST` with `Upload-Defer-Length: 1`, expecting 201.
pub(crate) async fn create_deferred(target: &Target) -> Upload {
    let response = target.post().header("upload-defer-length", "1").send().await;
    response.expect(201, "POST with Upload-Defer-Length: 1");
    Upload::from_location(target, &response)
}

/// A partial upload of a concatenation holding `data` (complete), expecting 201 and 204.
pub(crate) async fn create_partial(target: &Target, data: &[u8]) -> Upload {
    let response =
        target.post().header("upload-concat", "partial").header("upload-length", data.len().to_string()).send().await;
    response.expect(201, "POST Upload-Concat: partial");
    let upload = Upload::from_location(target, &response);
    if !data.is_empty() {
        patch(target, &upload.path, 0, data.to_vec()).await.expect(204, "PATCH a partial upload");
    }
    upload
}

/// A complete upload holding `data`.
pub(crate) async fn create_complete(target: &Target, data: &[u8]) -> Upload {
    let upload = create(target, data.len() as u64).await;
    if !data.is_empty() {
        let response = patch(target, &upload.path, 0, data.to_vec()).await;
        response.expect(204, "PATCH the whole upload");
    }
    upload
}

/// `PATCH` with the right content type, `Upload-Offset: offset` and `data`.
pub(crate) async fn patch(target: &Target, path: &str, offset: u64, data: impl Into<Bytes>) -> Response {
    target.patch(path).offset_octet_stream().upload_offset(offset).body(data).send().await
}

/// `HEAD` on `path`.
pub(crate) async fn head(target: &Target, path: &str) -> Response {
    target.head(path).send().await
}

/// `HEAD` expecting 200 (or 204); returns the response.
#[track_caller]
pub(crate) fn expect_head_ok(response: &Response, what: &str) {
    response.expect_one_of(&[200, 204], what);
}

/// The committed offset (HEAD must succeed and carry `Upload-Offset`).
pub(crate) async fn offset(target: &Target, path: &str) -> u64 {
    let response = head(target, path).await;
    expect_head_ok(&response, "HEAD");
    response.offset().unwrap_or_else(|| panic!("HEAD without Upload-Offset: {response:?}"))
}

/// `GET` expecting 200; returns the body.
pub(crate) async fn download(target: &Target, path: &str) -> Bytes {
    let response = target.get(path).send().await;
    response.expect(200, "GET a complete upload");
    response.body
}

/// The `Tus-Extension` names of an OPTIONS response (empty when the header is absent).
pub(crate) fn extensions(response: &Response) -> BTreeSet<String> {
    response
        .header_all("tus-extension")
        .iter()
        .flat_map(|v| v.split(',').map(|e| e.trim().to_owned()).collect::<Vec<_>>())
        .filter(|e| !e.is_empty())
        .collect()
}

/// `OPTIONS` on the endpoint, expecting 200 or 204.
pub(crate) async fn discover(target: &Target) -> Response {
    let response = target.options().send().await;
    response.expect_one_of(&[200, 204], "OPTIONS");
    response
}

/// `n` bytes of a recognisable pattern (`seed` makes different bodies differ).
pub(crate) fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| b'a' + ((i as u8).wrapping_mul(7).wrapping_add(seed)) % 26).collect()
}

/// Polls `probe` every 20 ms until it returns `Some`, at most `timeout`.
pub(crate) async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a status is a "this upload is not here" answer (404 or 410).
pub(crate) fn is_gone(status: u16) -> bool {
    status == 404 || status == 410
}

/// Asserts that HEAD on `path` finds no upload (404/410, no `Upload-Offset`).
pub(crate) async fn assert_no_upload(target: &Target, path: &str, what: &str) {
    let response = head(target, path).await;
    assert!(is_gone(response.status.as_u16()), "{what}: HEAD {path} must find nothing: {response:?}");
    assert!(!response.has("upload-offset"), "{what}: no Upload-Offset on a missing upload: {response:?}");
}

/// Every file path under `dir`, recursively.
pub(crate) fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else { continue };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}
