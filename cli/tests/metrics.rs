//! `tus serve --metrics`: /metrics scraped before and after a known workload over real HTTP;
//! the counters move by exactly what the workload did.

mod common;

use bytes::Bytes;
use common::redis::free_port;
use common::{Response, TUS, TusServer, request, test_data};
use http::Method;
use std::net::SocketAddr;

/// The metrics text at `addr`.
async fn scrape(addr: SocketAddr) -> String {
    let response = request(addr, Method::GET, "/metrics", &[], Bytes::new()).await.expect("GET /metrics");
    assert_eq!(response.status, 200, "GET /metrics: {}", response.text());
    let content_type = response.header("content-type").expect("Content-Type");
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    response.text()
}

/// The value of one series (`name` or `name{labels}`, exactly as rendered); 0 when absent,
/// as Prometheus treats a counter that was never incremented.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().expect("numeric sample"))
        })
        .unwrap_or(0.0)
}

/// What moved between two scrapes.
struct Delta<'a> {
    before: &'a str,
    after: &'a str,
}

impl Delta<'_> {
    fn of(&self, series: &str) -> f64 {
        value(self.after, series) - value(self.before, series)
    }
}

async fn patch(server: &TusServer, path: &str, offset: u64, data: &[u8]) -> Response {
    server.patch(path, offset, Bytes::copy_from_slice(data)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_workload_moves_the_counters_by_exactly_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--metrics"]);
    // One request before the first scrape, so every lazily created series has a baseline.
    let warm_up = server.create(1).await;
    assert_eq!(patch(&server, &warm_up, 0, b"x").await.status, 204);
    let before = scrape(server.addr).await;

    // Create 3, finish 2, terminate 1 (after 500 bytes): 1000 + 2000 + 500 bytes stored.
    let lengths = [1000_u64, 2000, 3000];
    let mut paths = Vec::new();
    for length in lengths {
        paths.push(server.create(length).await);
    }
    for (i, path) in paths.iter().take(2).enumerate() {
        let data = test_data(lengths[i] as usize, i as u64);
        let response = patch(&server, path, 0, &data).await;
        assert_eq!(response.status, 204, "{response:?}");
    }
    let response = patch(&server, &paths[2], 0, &test_data(500, 9)).await;
    assert_eq!(response.status, 204, "{response:?}");
    let response = request(server.addr, Method::DELETE, &paths[2], TUS, Bytes::new()).await.unwrap();
    assert_eq!(response.status, 204, "{response:?}");
    // A refused request is counted under its status.
    let response = patch(&server, &paths[0], 5, b"late").await;
    assert_eq!(response.status, 409, "{response:?}");

    let after = scrape(server.addr).await;
    let delta = Delta { before: &before, after: &after };
    assert_eq!(delta.of("tus_uploads_created_total"), 3.0, "{after}");
    assert_eq!(delta.of("tus_uploads_finished_total"), 2.0, "{after}");
    assert_eq!(delta.of("tus_uploads_terminated_total"), 1.0, "{after}");
    assert_eq!(delta.of("tus_uploads_expired_total"), 0.0, "{after}");
    assert_eq!(delta.of("tus_bytes_received_total"), 3500.0, "{after}");
    assert_eq!(value(&after, "tus_uploads_in_progress"), 0.0, "no append is running: {after}");
    assert_eq!(delta.of(r#"tus_requests_total{method="POST",status="201"}"#), 3.0);
    assert_eq!(delta.of(r#"tus_requests_total{method="PATCH",status="204"}"#), 3.0);
    assert_eq!(delta.of(r#"tus_requests_total{method="PATCH",status="409"}"#), 1.0);
    assert_eq!(delta.of(r#"tus_requests_total{method="DELETE",status="204"}"#), 1.0);
    // Three PATCHes and the DELETE took the lock (the late PATCH was refused before it).
    assert_eq!(delta.of("tus_lock_wait_seconds_count"), 4.0, "{after}");
    assert_eq!(delta.of("tus_lock_timeouts_total"), 0.0);
    assert_eq!(delta.of(r#"tus_storage_operation_seconds_count{op="create"}"#), 3.0);
    assert_eq!(delta.of(r#"tus_storage_operation_seconds_count{op="append"}"#), 3.0);
    assert_eq!(delta.of(r#"tus_storage_operation_seconds_count{op="remove"}"#), 1.0);
    assert_eq!(delta.of(r#"tus_hook_invocations_total{hook="post_finish"}"#), 2.0);
    assert_eq!(delta.of(r#"tus_hook_invocations_total{hook="pre_create"}"#), 3.0);
    assert_eq!(delta.of(r#"tus_hook_invocations_total{hook="post_terminate"}"#), 1.0);
    assert!(after.trim_end().ends_with("# EOF"), "a complete exposition");
}

/// A webhook that cannot be reached makes the blocking `pre_create` fail closed (503): that
/// is a hook failure, and no upload is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_hooks_are_counted_by_hook() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("http://127.0.0.1:{}/hooks", free_port());
    let server = TusServer::start(
        dir.path(),
        &["--metrics", "--hooks-http", &nowhere, "--hooks-retries", "0", "--hooks-timeout", "1s"],
    );
    let response = request(
        server.addr,
        Method::POST,
        &server.base_path,
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "10")],
        Bytes::new(),
    )
    .await
    .unwrap();
    assert!(response.status >= 500, "the hook fails closed: {response:?}");
    let text = scrape(server.addr).await;
    assert_eq!(value(&text, r#"tus_hook_invocations_total{hook="pre_create"}"#), 1.0, "{text}");
    assert_eq!(value(&text, r#"tus_hook_failures_total{hook="pre_create"}"#), 1.0, "{text}");
    assert_eq!(value(&text, r#"tus_hook_rejections_total{hook="pre_create"}"#), 0.0, "{text}");
    assert_eq!(value(&text, "tus_uploads_created_total"), 0.0, "{text}");
}

/// `--metrics-listen` serves /metrics on its own port, and the upload port does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_a_separate_listener() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = TusServer::start(dir.path(), &["--metrics-listen", &listen]);
    let metrics_addr: SocketAddr = listen.parse().unwrap();
    server.create(10).await;
    let text = scrape(metrics_addr).await;
    assert_eq!(value(&text, "tus_uploads_created_total"), 1.0, "{text}");
    let on_main = request(server.addr, Method::GET, "/metrics", &[], Bytes::new()).await.unwrap();
    assert_eq!(on_main.status, 404, "{on_main:?}");
    let health = request(metrics_addr, Method::GET, "/healthz", &[], Bytes::new()).await.unwrap();
    assert_eq!(health.status, 200);

    // Without --metrics there is no /metrics at all.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = TusServer::start(plain_dir.path(), &[]);
    let response = request(plain.addr, Method::GET, "/metrics", &[], Bytes::new()).await.unwrap();
    assert_eq!(response.status, 404);
}
