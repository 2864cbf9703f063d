//! The checks every example app passes, each against a fresh server process started from
//! the app's binary (`env!("CARGO_BIN_EXE_<name>")` in the app's own tests).
//!
//! The apps serve `GET /api/health`, `GET /api/uploads`, `GET /api/uploads/{id}` and tus
//! at `/files/`, with the bearer check of `tus-example-common`.

use crate::client::full;
use crate::data::{Pattern, hex};
use crate::server::Server;
use crate::{TOKEN, mib};
use sha2::{Digest as _, Sha256};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Discovery, creation with metadata, an upload in three PATCHes, HEAD, a streamed GET
/// compared by SHA-256, the finished upload in the app's JSON, creation-with-upload (a POST
/// with a body) and termination.
pub async fn upload_roundtrip(binary: &str) {
    let server = Server::start(binary, Some(TOKEN)).await;
    let client = server.client();

    let options = client.call("OPTIONS", "/files", &[]).await;
    options.expect(204, "OPTIONS /files");
    assert_eq!(options.header("tus-version"), Some("1.0.0"), "{options:?}");
    let extensions = options.header("tus-extension").unwrap_or_default();
    for extension in ["creation", "creation-with-upload", "termination", "checksum"] {
        assert!(extensions.split(',').any(|e| e == extension), "{extension} in {extensions:?}");
    }

    let pattern = Pattern::new(mib(3) + 12_345, 1);
    let len = pattern.len();
    let upload = client.create(len, Some("report.pdf")).await;
    assert!(upload.path.starts_with("/files/"), "Location {upload:?}");
    for window in [0, 1_000_000, 2_500_000, len].windows(2) {
        let reply = client.patch(&upload.path, window[0], pattern.bytes(window[0]..window[1])).await;
        reply.expect(204, "PATCH a chunk");
        assert_eq!(reply.offset(), Some(window[1]), "{reply:?}");
    }

    let head = client.head(&upload.path).await;
    head.expect(200, "HEAD");
    assert_eq!(head.offset(), Some(len), "{head:?}");
    assert_eq!(head.header("upload-length"), Some(len.to_string().as_str()), "{head:?}");
    assert!(head.body.is_empty(), "HEAD has no body");

    let download = client.download(&upload.path).await;
    assert_eq!(download.status, 200, "GET {}: {download:?}", upload.path);
    assert_eq!(download.len, len);
    assert_eq!(download.sha256, pattern.sha256(), "the downloaded bytes differ from the uploaded ones");
    let content_length = download.headers.get("content-length").and_then(|v| v.to_str().ok());
    assert_eq!(content_length, Some(len.to_string().as_str()), "{download:?}");

    let list = client.get("/api/uploads").await;
    list.expect(200, "GET /api/uploads");
    let expected = serde_json::json!({ "id": upload.id, "size": len, "filename": "report.pdf" });
    assert_eq!(list.json(), serde_json::json!([expected]), "the post_finish hook records the upload");
    let one = client.get(&format!("/api/uploads/{}", upload.id)).await;
    one.expect(200, "GET /api/uploads/{id}");
    assert_eq!(one.json(), expected);
    client.get("/api/uploads/unknown").await.expect(404, "GET /api/uploads/unknown");

    // Creation with upload: the POST body streams through the adapter as well.
    let small = Pattern::new(100_000, 2);
    let request = client
        .request("POST", "/files")
        .header("upload-length", small.len())
        .header("content-type", "application/offset+octet-stream")
        .body(full(small.bytes(0..small.len())))
        .expect("a valid request");
    let created = client.send(request).await;
    created.expect(201, "creation with upload");
    assert_eq!(created.offset(), Some(small.len()), "{created:?}");
    let path = created.header("location").expect("a Location").to_owned();
    assert_eq!(client.download(&path).await.sha256, small.sha256());
    assert_eq!(client.get("/api/uploads").await.json().as_array().map(Vec::len), Some(2));

    client.call("DELETE", &path, &[]).await.expect(204, "DELETE");
    let gone = client.head(&path).await;
    assert!(matches!(gone.status, 404 | 410), "HEAD after DELETE: {gone:?}");
}

/// The app's own routes keep working next to tus, and paths outside `/files` never reach tus.
pub async fn host_routes_pass_through(binary: &str) {
    let server = Server::start(binary, Some(TOKEN)).await;
    let anonymous = server.anonymous();
    let client = server.client();

    let health = anonymous.get("/api/health").await;
    health.expect(200, "GET /api/health");
    assert_eq!(health.json(), serde_json::json!({ "status": "ok" }));
    assert!(health.header("tus-resumable").is_none(), "tus answered a host route: {health:?}");

    anonymous.get("/api/uploads").await.expect(401, "GET /api/uploads without a token");
    client.with_token(Some("wrong")).get("/api/uploads").await.expect(403, "GET /api/uploads, wrong token");
    let list = client.get("/api/uploads").await;
    list.expect(200, "GET /api/uploads");
    assert_eq!(list.json(), serde_json::json!([]));

    for path in ["/nope", "/filesystem", "/api/files"] {
        let reply = client.get(path).await;
        reply.expect(404, path);
        assert!(reply.header("tus-resumable").is_none(), "tus answered {path}: {reply:?}");
    }

    // Uploads and host routes side by side.
    let upload = client.create(5, Some("a.txt")).await;
    client.patch(&upload.path, 0, "hello").await.expect(204, "PATCH");
    anonymous.get("/api/health").await.expect(200, "GET /api/health after an upload");
    let list = client.get("/api/uploads").await.json();
    assert_eq!(list[0]["filename"], "a.txt", "{list}");
}

/// Every tus request without a token gets 401, with a wrong one 403, and changes nothing;
/// CORS preflights (which browsers send without credentials) still pass.
pub async fn bearer_check(binary: &str) {
    let server = Server::start(binary, Some(TOKEN)).await;
    let client = server.client();
    let upload = client.create(10, None).await;
    client.patch(&upload.path, 0, "0123456789").await.expect(204, "PATCH");

    for (token, status) in [(None, 401), (Some("wrong-token"), 403)] {
        let other = client.with_token(token);
        let what = |method: &str| format!("{method} with token {token:?}");
        other.call("OPTIONS", "/files", &[]).await.expect(status, &what("OPTIONS"));
        other.call("POST", "/files", &[("upload-length", "10")]).await.expect(status, &what("POST"));
        other.head(&upload.path).await.expect(status, &what("HEAD"));
        other.patch(&upload.path, 10, "").await.expect(status, &what("PATCH"));
        other.patch(&upload.path, 0, "xxxxx").await.expect(status, &what("PATCH with data"));
        other.get(&upload.path).await.expect(status, &what("GET"));
        other.call("DELETE", &upload.path, &[]).await.expect(status, &what("DELETE"));
        other
            .call("POST", &upload.path, &[("x-http-method-override", "DELETE")])
            .await
            .expect(status, &what("POST overriding DELETE"));
    }

    let preflight = client
        .with_token(None)
        .call("OPTIONS", "/files", &[("origin", "https://app.example"), ("access-control-request-method", "POST")])
        .await;
    assert!(matches!(preflight.status, 200 | 204), "a CORS preflight needs no token: {preflight:?}");

    let download = client.download(&upload.path).await;
    assert_eq!((download.status, download.len), (200, 10), "the refused requests changed nothing: {download:?}");
    assert_eq!(download.sha256, hex(&Sha256::digest(b"0123456789")));
    assert_eq!(client.get("/api/uploads").await.json().as_array().map(Vec::len), Some(1));
}

/// A client that disconnects mid-PATCH leaves a resumable upload holding the bytes it sent;
/// the upload then finishes and its bytes are right.
pub async fn disconnect_mid_patch(binary: &str) {
    let server = Server::start(binary, Some(TOKEN)).await;
    let client = server.client();
    let pattern = Pattern::new(mib(8), 3);
    let len = pattern.len();
    let upload = client.create(len, Some("interrupted.bin")).await;
    let sent = mib(3);
    client.patch_then_disconnect(&upload.path, 0, len, pattern.chunks(0..sent)).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    let offset = loop {
        let head = client.head(&upload.path).await;
        head.expect(200, "HEAD after the disconnect");
        match head.offset() {
            Some(offset) if offset > 0 => break offset,
            _ if Instant::now() > deadline => panic!("the bytes sent before the disconnect were not kept: {head:?}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert!(offset <= sent, "offset {offset} is past the {sent} bytes sent");
    assert!(client.get("/api/uploads").await.json().as_array().is_some_and(Vec::is_empty), "not finished yet");

    let reply = client.patch_stream(&upload.path, offset, len - offset, pattern.chunks(offset..len)).await;
    reply.expect(204, "resume after the disconnect");
    assert_eq!(reply.offset(), Some(len));
    let download = client.download(&upload.path).await;
    assert_eq!(download.len, len);
    assert_eq!(download.sha256, pattern.sha256(), "the resumed upload differs from what was sent");
    assert_eq!(client.get("/api/uploads").await.json()[0]["size"], len);
}

/// What [`streaming_memory`] measured.
#[derive(Debug, Clone, Copy)]
pub struct StreamingReport {
    /// How long the single PATCH took.
    pub patch: Duration,
    /// How long the GET download took.
    pub download: Duration,
    /// The server's peak RSS after the PATCH, in bytes.
    pub peak_after_patch: u64,
    /// The server's peak RSS after the download, in bytes.
    pub peak_after_download: u64,
}

/// One PATCH of `len` bytes, generated on the fly, then a GET of the whole upload compared
/// by SHA-256, with the server's peak RSS (`VmHWM`) at most `max_rss` bytes: bodies stream
/// through the adapter both ways, never held whole.
pub async fn streaming_memory(binary: &str, len: u64, max_rss: u64) -> StreamingReport {
    let server = Server::start(binary, Some(TOKEN)).await;
    let client = server.client();
    let pattern = Pattern::new(len, 42);
    let upload = client.create(len, Some("big.bin")).await;

    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let sent_hasher = Arc::clone(&hasher);
    let chunks = pattern.chunks(0..len).inspect(move |chunk| {
        sent_hasher.lock().unwrap_or_else(PoisonError::into_inner).update(chunk);
    });
    let started = Instant::now();
    let reply = client.patch_stream(&upload.path, 0, len, chunks).await;
    let patch = started.elapsed();
    reply.expect(204, "the streaming PATCH");
    assert_eq!(reply.offset(), Some(len), "{reply:?}");
    let sent = hex(&hasher.lock().unwrap_or_else(PoisonError::into_inner).clone().finalize());
    let peak_after_patch = server.peak_rss();

    let started = Instant::now();
    let download = client.download(&upload.path).await;
    let download_time = started.elapsed();
    assert_eq!((download.status, download.len), (200, len), "{download:?}");
    assert_eq!(download.sha256, sent, "the downloaded bytes differ from the uploaded ones");
    let peak_after_download = server.peak_rss();

    let report = StreamingReport { patch, download: download_time, peak_after_patch, peak_after_download };
    eprintln!(
        "{binary}: PATCH of {} MiB in {patch:.1?}, GET in {download_time:.1?}; server peak RSS {:.1} MiB after \
         the PATCH, {:.1} MiB after the GET",
        len >> 20,
        peak_after_patch as f64 / f64::from(1 << 20),
        peak_after_download as f64 / f64::from(1 << 20),
    );
    assert!(
        peak_after_download <= max_rss,
        "the server's peak RSS {peak_after_download} exceeds {max_rss} bytes: a body was buffered"
    );
    report
}

/// Makes one `#[tokio::test]` per scenario for an example app's binary, so each app's
/// `tests/e2e.rs` is one line: `tus_example_harness::scenario_tests!(env!("CARGO_BIN_EXE_app"));`.
/// The 1 GiB streaming check allows the server a peak RSS of 32 MiB.
#[macro_export]
macro_rules! scenario_tests {
    ($binary:expr) => {
        $crate::scenario_tests!(@tests $binary; upload_roundtrip, host_routes_pass_through, bearer_check, disconnect_mid_patch);

        /// 1 GiB in one PATCH and back in one GET, with the server's peak RSS at most 32 MiB.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn one_gib_streams_with_bounded_memory() {
            $crate::scenarios::streaming_memory($binary, $crate::mib(1024), $crate::mib(32)).await;
        }
    };
    (@tests $binary:expr; $($scenario:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                $crate::scenarios::$scenario($binary).await;
            }
        )+
    };
}
