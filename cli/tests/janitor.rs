//! The expiration janitor of `tus serve` and `tus cleanup`, over real HTTP and a real
//! SQLite directory: expired uploads disappear with their files, an upload with a PATCH in
//! flight is left alone, and `--dry-run` only lists.

mod common;

use bytes::Bytes;
use common::redis::RedisServer;
use common::{StreamingPatch, TUS, TusServer, eventually, request, tus_bin};
use http::Method;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The data file of the upload at `path` (`/files/ID`) in `dir`.
fn data_file(dir: &Path, path: &str) -> PathBuf {
    dir.join("data").join(path.rsplit('/').next().unwrap())
}

fn id_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

async fn head_status(server: &TusServer, path: &str) -> u16 {
    request(server.addr, Method::HEAD, path, TUS, Bytes::new()).await.unwrap().status
}

async fn metric(server: &TusServer, series: &str) -> f64 {
    let text = request(server.addr, Method::GET, "/metrics", &[], Bytes::new()).await.unwrap().text();
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

/// Runs `tus cleanup ARGS…` and returns its stdout (asserting success).
fn cleanup(args: &[&str]) -> String {
    let output = std::process::Command::new(tus_bin()).arg("cleanup").args(args).output().expect("tus cleanup runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "tus cleanup {args:?} failed: {stdout}{stderr}");
    stdout.into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_uploads_disappear_but_not_one_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--expiration", "1s", "--janitor-interval", "200ms", "--metrics"]);
    let idle = server.create(1000).await;
    let busy = server.create(1 << 20).await;
    assert_eq!(server.patch(&idle, 0, &[1u8; 100][..]).await.status, 204);
    assert!(data_file(dir.path(), &idle).exists());

    // A slow PATCH on `busy` that outlives its expiry by a few janitor passes.
    let patch = StreamingPatch::start(server.addr, &busy, 0, 3 * 40 * 1024).await;
    let writer = tokio::spawn(async move {
        for _ in 0..3 {
            for _ in 0..40 {
                patch.body.send(Bytes::from(vec![2u8; 1024])).await.expect("the PATCH is still open");
            }
            tokio::time::sleep(Duration::from_millis(900)).await;
        }
        patch.response.await.unwrap().unwrap()
    });

    let gone = eventually(Duration::from_secs(5), async || !data_file(dir.path(), &idle).exists()).await;
    assert!(gone, "the expired upload's file was removed");
    assert_eq!(head_status(&server, &idle).await, 410, "a removed upload is gone");
    assert!(data_file(dir.path(), &busy).exists(), "the upload being written is still there");

    let response = writer.await.unwrap();
    assert_eq!(response.status, 204, "the PATCH was never cut off: {response:?}");
    assert_eq!(response.header("upload-offset"), Some("122880"));

    // Once the PATCH is over, the next pass removes it too (it is still unfinished).
    let gone = eventually(Duration::from_secs(5), async || !data_file(dir.path(), &busy).exists()).await;
    assert!(gone, "removed once nobody writes it");
    assert_eq!(metric(&server, "tus_uploads_expired_total").await, 2.0);
    assert!(server.stderr().contains("removed expired uploads"), "a log line says what was removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_dry_run_lists_without_removing() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let server = TusServer::start(dir.path(), &["--expiration", "1s", "--janitor-interval", "1h"]);
    let expired = [server.create(10).await, server.create(20).await];
    let complete = server.create(3).await;
    assert_eq!(server.patch(&complete, 0, &b"abc"[..]).await.status, 204);
    drop(server);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let listed = cleanup(&["--dir", dir_arg, "--dry-run"]);
    for path in &expired {
        assert!(listed.contains(&format!("would remove {}", id_of(path))), "{listed}");
        assert!(data_file(dir.path(), path).exists(), "--dry-run removes nothing");
    }
    assert!(!listed.contains(id_of(&complete)), "complete uploads never expire: {listed}");
    assert!(listed.contains("would remove 2 expired upload(s)"), "{listed}");

    let removed = cleanup(&["--dir", dir_arg]);
    assert!(removed.contains("removed 2 expired upload(s)"), "{removed}");
    for path in &expired {
        assert!(!data_file(dir.path(), path).exists());
    }
    assert!(data_file(dir.path(), &complete).exists());
    assert!(cleanup(&["--dir", dir_arg]).contains("removed 0 expired upload(s)"));
}

/// `tus cleanup --lock redis` next to a running server sees its locks: the upload it is
/// writing stays, the idle expired one goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_with_the_redis_lock_leaves_an_upload_being_written() {
    let redis = RedisServer::start();
    let url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap().to_owned();
    let server = TusServer::start(
        dir.path(),
        &["--lock", "redis", "--redis-url", &url, "--expiration", "1s", "--janitor-interval", "1h"],
    );
    let idle = server.create(10).await;
    let busy = server.create(1 << 20).await;
    let patch = StreamingPatch::start(server.addr, &busy, 0, 2048).await;
    patch.send(&[5u8; 1024], 1024).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let args: Vec<String> =
        ["--dir", &dir_arg, "--lock", "redis", "--redis-url", &url].into_iter().map(str::to_owned).collect();
    let output = tokio::task::spawn_blocking(move || cleanup(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap();
    assert!(output.contains(&format!("removed {}", id_of(&idle))), "{output}");
    assert!(!output.contains(id_of(&busy)), "the upload being written is left alone: {output}");
    assert!(data_file(dir.path(), &busy).exists());

    patch.send(&[5u8; 1024], 1024).await;
    let response = patch.response.await.unwrap().unwrap();
    assert_eq!(response.status, 204, "{response:?}");
}

/// The janitor starts with the server: uploads that expired while no server ran go without
/// waiting for a tus request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_runs_from_startup() {
    let dir = tempfile::tempdir().unwrap();
    let first = TusServer::start(dir.path(), &["--expiration", "1s", "--janitor-interval", "1h"]);
    let path = first.create(10).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(data_file(dir.path(), &path).exists());

    let _second = TusServer::start(dir.path(), &["--expiration", "1s", "--janitor-interval", "200ms"]);
    let gone = eventually(Duration::from_secs(5), async || !data_file(dir.path(), &path).exists()).await;
    assert!(gone, "removed by the janitor with no request made");
}
