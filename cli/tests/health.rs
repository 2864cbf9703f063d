//! `tus serve` health endpoints over real HTTP: /healthz while the process runs, /readyz
//! following the storage and a real Redis, and flipping to 503 as soon as shutdown starts.

mod common;

use bytes::Bytes;
use common::redis::RedisServer;
use common::{TusServer, eventually, request};
use http::Method;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

async fn status(addr: SocketAddr, path: &str) -> u16 {
    request(addr, Method::GET, path, &[], Bytes::new()).await.map_or(0, |r| r.status)
}

async fn body(addr: SocketAddr, path: &str) -> String {
    request(addr, Method::GET, path, &[], Bytes::new()).await.expect(path).text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_and_ready_with_the_memory_locker() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    assert_eq!(status(server.addr, "/healthz").await, 200);
    assert_eq!(status(server.addr, "/readyz").await, 200);
    assert_eq!(body(server.addr, "/readyz").await, "ready\n");
    let head = request(server.addr, Method::HEAD, "/readyz", &[], Bytes::new()).await.unwrap();
    assert_eq!(head.status, 200);
    let post = request(server.addr, Method::POST, "/healthz", &[], Bytes::new()).await.unwrap();
    assert_eq!(post.status, 405);
}

/// The endpoints answer before tus routing, even when uploads live at the root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_work_with_a_root_base_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--base-path", "/"]);
    assert_eq!(status(server.addr, "/healthz").await, 200);
    assert_eq!(status(server.addr, "/readyz").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_redis_is_down_and_ready_again_when_it_is_back() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let server = TusServer::start(dir.path(), &["--lock", "redis", "--redis-url", &url, "--redis-lease-ttl", "3s"]);
    assert_eq!(status(server.addr, "/readyz").await, 200);

    redis.kill();
    let started = Instant::now();
    // Each check is bounded by the Redis connection timeout (2 s), so the probe never hangs.
    let not_ready = eventually(Duration::from_secs(10), async || status(server.addr, "/readyz").await == 503).await;
    assert!(not_ready, "/readyz answers 503 while Redis is down");
    eprintln!("not ready {:?} after Redis died", started.elapsed());
    let text = body(server.addr, "/readyz").await;
    assert!(text.starts_with("not ready: locker"), "{text}");
    assert_eq!(status(server.addr, "/healthz").await, 200, "still alive");

    redis.restart();
    let ready = eventually(Duration::from_secs(10), async || status(server.addr, "/readyz").await == 200).await;
    assert!(ready, "/readyz answers 200 again once Redis is back");
}

/// With `--shutdown-delay`, SIGTERM turns /readyz to 503 at once while uploads are still
/// served for the delay; then the server exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_as_soon_as_shutdown_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TusServer::start(dir.path(), &["--shutdown-delay", "3s"]);
    assert_eq!(status(server.addr, "/readyz").await, 200);

    server.signal("TERM");
    let signalled = Instant::now();
    let not_ready = eventually(Duration::from_secs(2), async || status(server.addr, "/readyz").await == 503).await;
    assert!(not_ready, "/readyz answers 503 once SIGTERM arrived");
    assert!(signalled.elapsed() < Duration::from_secs(2));
    assert_eq!(body(server.addr, "/readyz").await, "not ready: shutting down\n");
    assert_eq!(status(server.addr, "/healthz").await, 200, "live while draining");
    // Uploads are still taken during the delay.
    let path = server.create(3).await;
    assert_eq!(server.patch(&path, 0, &b"abc"[..]).await.status, 204);

    let exit = server.wait_exit(Duration::from_secs(15)).expect("the server exits after the delay");
    assert!(exit.success(), "{exit:?}");
    assert!(signalled.elapsed() >= Duration::from_secs(3), "served for the whole delay");
}
