//! kill -9 in the middle of a PATCH, then restart on the same --dir: nothing acknowledged
//! is lost, the offset HEAD reports covers intact bytes only, and the upload completes.

mod common;

use bytes::Bytes;
use common::{MIB, StreamingPatch, TusServer, eventually, request, sha256, test_data};
use http::Method;
use std::time::Duration;

async fn crash_mid_patch(durability: &str, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let total = 12 * MIB;
    let data = test_data(total, seed);
    let acknowledged = MIB as u64;

    let mut server = TusServer::start(dir.path(), &["--durability", durability]);
    let path = server.create(total as u64).await;
    // One acknowledged PATCH: this must survive whatever happens next.
    let first = server.patch(&path, 0, data[..MIB].to_vec()).await;
    assert_eq!(first.status, 204, "{first:?}");
    assert_eq!(first.header("upload-offset"), Some("1048576"));

    // A slow PATCH for the rest: a few MiB go out, then the body stalls, unfinished.
    let patch = StreamingPatch::start(server.addr, &path, acknowledged, (total - MIB) as u64).await;
    let sent = 4 * MIB;
    patch.send(&data[MIB..MIB + sent], 64 * 1024).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!patch.response.is_finished(), "the server answered a PATCH whose body is unfinished");

    server.kill9();
    let outcome = tokio::time::timeout(Duration::from_secs(10), patch.response).await;
    match outcome {
        Ok(Ok(Err(_))) => {}
        Ok(Ok(Ok(response))) => panic!("a killed server answered: {response:?}"),
        other => panic!("the PATCH did not fail after kill -9: {other:?}"),
    }

    let server = TusServer::start(dir.path(), &["--durability", durability]);
    let offset = server.offset(&path).await;
    eprintln!(
        "{durability}: offset after kill -9 mid-PATCH: {offset} (acknowledged {acknowledged}, sent {})",
        MIB + sent
    );
    assert!(offset >= acknowledged, "an acknowledged offset was lost: {offset} < {acknowledged}");
    assert!(offset <= (MIB + sent) as u64, "offset {offset} covers bytes that were never sent");

    // Resume from the reported offset with the same source and compare the result.
    let rest = server.patch(&path, offset, data[offset as usize..].to_vec()).await;
    assert_eq!(rest.status, 204, "{rest:?}: {}", rest.text());
    assert_eq!(rest.header("upload-offset"), Some(total.to_string().as_str()));
    let downloaded = server.download(&path).await;
    assert_eq!(downloaded.len(), total);
    assert_eq!(sha256(&downloaded), sha256(&data), "the bytes below the recovered offset are not intact");
}

#[tokio::test]
async fn kill_9_mid_patch_sync() {
    crash_mid_patch("sync", 1).await;
}

#[tokio::test]
async fn kill_9_mid_patch_buffered() {
    crash_mid_patch("buffered", 2).await;
}

/// Several crashes in a row on one upload, each mid-PATCH, each followed by a resume.
#[tokio::test]
async fn repeated_crashes_converge() {
    let dir = tempfile::tempdir().unwrap();
    let total = 6 * MIB;
    let data = test_data(total, 3);
    let mut server = TusServer::start(dir.path(), &[]);
    let path = server.create(total as u64).await;
    for round in 0..3 {
        let offset = server.offset(&path).await as usize;
        let patch = StreamingPatch::start(server.addr, &path, offset as u64, (total - offset) as u64).await;
        let send = MIB.min(total - offset - 1);
        patch.send(&data[offset..offset + send], 32 * 1024).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.kill9();
        drop(patch);
        server = TusServer::start(dir.path(), &[]);
        let now = server.offset(&path).await as usize;
        assert!(now >= offset && now <= offset + send, "round {round}: offset went from {offset} to {now}");
    }
    let offset = server.offset(&path).await;
    let rest = server.patch(&path, offset, data[offset as usize..].to_vec()).await;
    assert_eq!(rest.status, 204, "{rest:?}");
    assert_eq!(sha256(&server.download(&path).await), sha256(&data));
}

/// Small uploads that came whole with their creation live in the database, without a data
/// file. After kill -9 and a restart, recovery leaves them alone: it neither takes their
/// missing files for lost bytes nor makes files for them, and they download intact beside a
/// file-backed upload.
#[tokio::test]
async fn small_uploads_kept_in_the_database_need_no_recovery_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TusServer::start(dir.path(), &[]);
    let mut uploads = Vec::new();
    for seed in 0..3 {
        let data = test_data(1000 + 7 * seed, 40 + seed as u64);
        let length = data.len().to_string();
        let headers = [
            ("Tus-Resumable", "1.0.0"),
            ("Upload-Length", length.as_str()),
            ("Content-Type", "application/offset+octet-stream"),
        ];
        let created = request(server.addr, Method::POST, &server.base_path, &headers[..], Bytes::from(data.clone()))
            .await
            .expect("POST");
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(created.header("upload-offset"), Some(length.as_str()), "the POST did not take the whole upload");
        uploads.push((server.path_of(created.header("location").expect("Location")), data));
    }
    let in_files = std::fs::read_dir(dir.path().join("data")).unwrap().count();
    assert_eq!(in_files, 0, "small whole uploads got data files");
    // One upload with a data file, for contrast.
    let big = test_data(MIB + 1, 43);
    let path = server.create(big.len() as u64).await;
    assert_eq!(server.patch(&path, 0, big.clone()).await.status, 204);
    uploads.push((path, big));

    server.kill9();
    let server = TusServer::start(dir.path(), &[]);
    for (path, data) in &uploads {
        assert_eq!(server.offset(path).await, data.len() as u64, "{path}");
        assert_eq!(sha256(&server.download(path).await), sha256(data), "{path}");
    }
    // Recovery runs before the server starts serving; its report would come before this line.
    let started = eventually(Duration::from_secs(10), async || server.stderr().contains("tus server started")).await;
    let log = server.stderr();
    assert!(started, "no start line in the log:\n{log}");
    assert!(!log.contains("lost"), "recovery reported lost bytes:\n{log}");
    assert!(!log.contains("recovered the upload directory"), "recovery changed something:\n{log}");
    assert_eq!(std::fs::read_dir(dir.path().join("data")).unwrap().count(), 1, "recovery made or removed files");
}
