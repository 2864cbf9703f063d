//! `tus_warp::filter` in a real warp server on 127.0.0.1, over SQLite storage in a temporary
//! directory. (The example app's tests add the 1 GiB streaming and disconnect checks.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tus_core::TusLayer;
use tus_example_harness::{Client, Pattern, RecordingHooks};
use tus_sqlite::SqliteStorage;
use warp::Filter as _;

/// Serves tus (built by `layer`) with a few routes around it, until the test ends.
async fn serve(dir: &tempfile::TempDir, layer: impl FnOnce(TusLayer) -> TusLayer) -> Client {
    let layer = layer(TusLayer::new(SqliteStorage::open(dir.path()).unwrap()));
    let health = warp::path!("api" / "health").and(warp::get()).map(|| "ok");
    // Declared after tus: it only gets requests tus rejected, with their bodies untouched.
    let echo = warp::path!("echo").and(warp::post()).and(warp::body::bytes()).map(|body: bytes::Bytes| body.to_vec());
    let routes = health.or(tus_warp::filter(layer)).or(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    Client::new(addr, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_compose_with_other_filters() {
    let dir = tempfile::tempdir().unwrap();
    let client = serve(&dir, |layer| layer).await;
    let pattern = Pattern::new(500_000, 4);
    let upload = client.create(pattern.len(), Some("w.bin")).await;
    assert!(upload.path.starts_with("/files/"), "{upload:?}");
    client.patch(&upload.path, 0, pattern.bytes(0..200_000)).await.expect(204, "PATCH");
    client.patch(&upload.path, 200_000, pattern.bytes(200_000..500_000)).await.expect(204, "PATCH");
    let download = client.download(&upload.path).await;
    assert_eq!((download.status, download.sha256), (200, pattern.sha256()));

    assert_eq!(client.get("/api/health").await.text(), "ok");
    let request = client.request("POST", "/echo").body(tus_example_harness::full("intact body")).unwrap();
    let echoed = client.send(request).await;
    echoed.expect(200, "a filter after tus");
    assert_eq!(echoed.text(), "intact body");
    let unknown = client.get("/nope").await;
    unknown.expect(404, "an unknown path");
    assert!(unknown.header("tus-resumable").is_none(), "{unknown:?}");
    // Every method under the base path is tus's.
    client.call("PUT", &upload.path, &[]).await.expect(405, "PUT on an upload");
    client.call("OPTIONS", "/files/", &[]).await.expect(204, "OPTIONS /files/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_see_the_request_the_client_sent() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = RecordingHooks::new(|from, to| {
        if let Some(addr) = from.get::<SocketAddr>() {
            to.insert(*addr);
        }
    });
    let hooks = recorder.clone();
    let client = serve(&dir, |layer| layer.hooks(hooks)).await;
    let head = client.raw_head(
        "POST",
        "/files?source=test&x=%20",
        &[("Upload-Length", "1"), ("X-Multi", "one"), ("X-Multi", "two"), ("x-multi", "three")],
    );
    let response = client.raw(head.as_bytes(), false).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let seen = recorder.last();
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.uri, "/files?source=test&x=%20");
    let multi: Vec<_> = seen.headers.get_all("x-multi").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(multi, ["one", "two", "three"]);
    assert!(seen.extensions.get::<SocketAddr>().expect("the client's address").ip().is_loopback());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_patch_is_a_broken_body_and_keeps_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let client = serve(&dir, |layer| layer).await;
    let upload = client.create(1 << 20, None).await;
    let headers =
        [("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream"), ("Content-Length", "1048576")];
    let mut request = client.raw_head("PATCH", &upload.path, &headers).into_bytes();
    request.extend_from_slice(&[7u8; 100_000]);
    let response = client.raw(&request, true).await;
    // The connection is still open for the answer: tus-core's error for a body that broke
    // off, never a 204 for a body that ended cleanly.
    assert!(response.contains("ERR_BROKEN_BODY"), "a cut-off body ended cleanly: {response}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.head(&upload.path).await.offset() != Some(100_000) {
        assert!(Instant::now() < deadline, "the bytes received were not kept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_frame_like_tus_core_says() {
    let dir = tempfile::tempdir().unwrap();
    let client = serve(&dir, |layer| layer).await;
    let upload = client.create(11, None).await;
    client.patch(&upload.path, 0, "hello world").await.expect(204, "PATCH");

    let head = client.raw(client.raw_head("HEAD", &upload.path, &[]).as_bytes(), false).await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("upload-offset: 11\r\n"), "{head}");

    let get = client.raw(client.raw_head("GET", &upload.path, &[]).as_bytes(), false).await;
    let lower = get.to_ascii_lowercase();
    assert_eq!(lower.matches("content-length:").count(), 1, "{get}");
    assert!(lower.contains("content-length: 11\r\n"), "{get}");
    assert!(!lower.contains("transfer-encoding"), "{get}");
    assert!(get.ends_with("\r\n\r\nhello world"), "{get}");

    let ranged = client.raw(client.raw_head("GET", &upload.path, &[("Range", "bytes=6-")]).as_bytes(), false).await;
    assert!(ranged.starts_with("HTTP/1.1 206"), "{ranged}");
    assert!(ranged.ends_with("\r\n\r\nworld"), "{ranged}");

    let error = client.raw(client.raw_head("PATCH", &upload.path, &[]).as_bytes(), false).await;
    assert!(error.to_ascii_lowercase().contains("content-length:"), "errors keep their length: {error}");
}
