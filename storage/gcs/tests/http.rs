//! `GcsStorage` behind the tus service over real HTTP (the service of tus-core, served on
//! 127.0.0.1 by the conformance suite's `ServedLayer`), on fake-gcs-server:
//! upload and download, resume after the server was stopped mid-PATCH, checksum rollback,
//! deferred length, concatenation, termination, expiry, and two servers sharing a bucket.

use bytes::Bytes;
use http::Method;
use std::time::Duration;
use tus_conformance::ServedLayer;
use tus_core::{Expiration, TusLayer};
use tus_gcs::emulator::FakeGcs;

const BUCKET: &str = "gcs-http";

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8).collect()
}

async fn parts_of(emulator: &FakeGcs, prefix: &str, path: &str) -> Vec<(String, u64)> {
    let id = path.rsplit('/').next().unwrap();
    emulator.objects(BUCKET, &format!("{prefix}parts/{id}/")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_checksum_rollback_and_deferred_length() {
    let emulator = FakeGcs::start();
    let server = ServedLayer::start(TusLayer::new(emulator.storage(BUCKET, |c| c.prefix("a/")).await)).await;
    let bytes = data(300 * 1024, 3);

    let path = server.create(&[("Upload-Length", bytes.len().to_string())]).await;
    assert_eq!(server.patch_ok(&path, 0, &bytes[..100 * 1024]).await, 100 * 1024);

    // A checksummed PATCH whose digest is wrong: 460, nothing stored, no object left.
    let answer = server
        .request(Method::PATCH, &path)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "102400")
        .header("Upload-Checksum", "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .body(bytes[100 * 1024..200 * 1024].to_vec())
        .send()
        .await;
    assert_eq!(answer.status, 460);
    assert_eq!(server.offset(&path).await, 100 * 1024, "a failed checksum stores nothing");
    assert_eq!(parts_of(&emulator, "a/", &path).await.len(), 1, "and leaves no part object");

    assert_eq!(server.patch_ok(&path, 100 * 1024, &bytes[100 * 1024..]).await, bytes.len() as u64);
    let (status, body) = server.download(&path, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "downloaded bytes differ");
    let (status, body) = server.download(&path, Some("bytes=1000-1999")).await;
    assert_eq!(status, 206);
    assert_eq!(body, &bytes[1000..2000]);

    // Deferred length.
    let path = server.create(&[("Upload-Defer-Length", "1".into())]).await;
    server.patch_ok(&path, 0, b"hello ").await;
    let answer = server
        .request(Method::PATCH, &path)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "6")
        .header("Upload-Length", "11")
        .body("world")
        .send()
        .await;
    assert_eq!(answer.status, 204);
    assert_eq!(server.head(&path).await.header("upload-length"), Some("11"));
    assert_eq!(server.download(&path, None).await, (200, Bytes::from_static(b"hello world")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_on_a_new_server_after_a_patch_was_cut_off() {
    let emulator = FakeGcs::start();
    let bytes = data(2 << 20, 5);
    let first = ServedLayer::start(TusLayer::new(emulator.storage(BUCKET, |c| c.prefix("r/")).await)).await;
    let path = first.create(&[("Upload-Length", bytes.len().to_string())]).await;

    // A PATCH body that sends 1 MiB, then breaks (the client's connection drops); the
    // server stores what arrived before the break.
    let sent = 1 << 20;
    let offset = first.patch_cut_off(&path, 0, &bytes[..sent], None).await;
    assert!(offset > 0 && offset <= sent as u64, "offset after the cut: {offset}");
    assert!(first.shutdown(Duration::from_secs(10)).await);

    // A new process (new storage, new server) on the same bucket resumes from HEAD's offset.
    let second = ServedLayer::start(TusLayer::new(emulator.storage(BUCKET, |c| c.prefix("r/")).await)).await;
    let offset = second.offset(&path).await;
    assert!(offset > 0 && offset <= sent as u64, "offset seen by the new server: {offset}");
    second.patch_ok(&path, offset, &bytes[offset as usize..]).await;
    let (status, body) = second.download(&path, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "the resumed upload's bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concatenation_termination_and_two_servers_on_one_bucket() {
    let emulator = FakeGcs::start();
    let one = ServedLayer::start(TusLayer::new(emulator.storage(BUCKET, |c| c.prefix("c/")).await)).await;
    let two = ServedLayer::start(TusLayer::new(emulator.storage(BUCKET, |c| c.prefix("c/")).await)).await;
    let a = data(40 * 1024, 1);
    let b = data(70 * 1024, 2);

    // Partials written through both servers, alternately.
    let pa = one.create(&[("Upload-Length", a.len().to_string()), ("Upload-Concat", "partial".into())]).await;
    let pb = two.create(&[("Upload-Length", b.len().to_string()), ("Upload-Concat", "partial".into())]).await;
    two.patch_ok(&pa, 0, &a[..10_000]).await;
    one.patch_ok(&pa, 10_000, &a[10_000..]).await;
    one.patch_ok(&pb, 0, &b).await;
    // A stale offset on the other server is refused.
    assert_eq!(two.patch(&pa, 10_000, b"x".to_vec()).await.status, 409);

    let final_path = two.create(&[("Upload-Concat", format!("final;{pb} {pa}"))]).await;
    let mut expected = b.clone();
    expected.extend_from_slice(&a);
    let (status, body) = one.download(&final_path, None).await;
    assert_eq!(status, 200);
    assert!(body == expected, "the final upload's bytes differ");
    assert_eq!(one.head(&final_path).await.header("upload-length"), Some(expected.len().to_string().as_str()));

    // Termination: 204, then 410, and the bucket keeps only the tombstone.
    let unfinished = one.create(&[("Upload-Length", "100".into())]).await;
    one.patch_ok(&unfinished, 0, b"some bytes").await;
    assert_eq!(parts_of(&emulator, "c/", &unfinished).await.len(), 1);
    for path in [&unfinished, &final_path] {
        let answer = two.request(Method::DELETE, path).send().await;
        assert_eq!(answer.status, 204);
        assert_eq!(one.head(path).await.status, 410);
        let id = path.rsplit('/').next().unwrap();
        assert!(parts_of(&emulator, "c/", path).await.is_empty());
        assert!(emulator.objects(BUCKET, &format!("c/data/{id}")).await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_removes_expired_uploads_and_their_objects() {
    let emulator = FakeGcs::start();
    let layer = TusLayer::new(emulator.storage(BUCKET, |c| c.prefix("e/")).await)
        .expiration(Expiration::absolute(Duration::from_secs(1)))
        .janitor_interval(Duration::from_secs(3600));
    let server = ServedLayer::start(layer).await;
    let expiring = server.create(&[("Upload-Length", "100".into())]).await;
    server.patch_ok(&expiring, 0, b"0123456789").await;
    let complete = server.create(&[("Upload-Length", "3".into())]).await;
    server.patch_ok(&complete, 0, b"abc").await;
    assert!(server.head(&expiring).await.has("upload-expires"));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let removed = server.layer().remove_expired(false).await.unwrap();
    let removed: Vec<String> = removed.iter().map(ToString::to_string).collect();
    let expiring_id = expiring.rsplit('/').next().unwrap();
    assert!(removed.iter().any(|id| id == expiring_id), "the expired upload is removed: {removed:?}");
    assert!(!removed.iter().any(|id| complete.ends_with(id.as_str())), "complete uploads never expire");
    assert_eq!(server.head(&expiring).await.status, 410);
    assert!(parts_of(&emulator, "e/", &expiring).await.is_empty(), "its objects are deleted");
    assert_eq!(server.download(&complete, None).await, (200, Bytes::from_static(b"abc")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_upload_and_one_patch_uploads_write_only_the_data_object() {
    let emulator = FakeGcs::start();
    let server = ServedLayer::start(TusLayer::new(emulator.storage(BUCKET, |c| c.prefix("w/")).await)).await;
    let bytes = data(200 * 1024, 8);
    let data_of = |path: &str| format!("w/data/{}", path.rsplit('/').next().unwrap());

    // Creation with upload: the POST's body is the whole upload.
    let answer = server
        .request(Method::POST, "/files")
        .header("Upload-Length", bytes.len().to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes.clone())
        .send()
        .await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.header("upload-offset"), Some(bytes.len().to_string().as_str()));
    let created = answer.header("location").unwrap().to_owned();
    // One PATCH from offset 0 with the whole upload.
    let patched = server.create(&[("Upload-Length", bytes.len().to_string())]).await;
    assert_eq!(server.patch_ok(&patched, 0, &bytes).await, bytes.len() as u64);

    for path in [&created, &patched] {
        assert!(parts_of(&emulator, "w/", path).await.is_empty(), "no part object for {path}");
        assert_eq!(emulator.objects(BUCKET, &data_of(path)).await, vec![(data_of(path), bytes.len() as u64)]);
        let (status, body) = server.download(path, None).await;
        assert_eq!(status, 200);
        assert!(body == bytes, "the bytes of {path} differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_request_patch_cut_off_keeps_what_arrived_and_resumes() {
    let emulator = FakeGcs::start();
    let server = ServedLayer::start(TusLayer::new(emulator.storage(BUCKET, |c| c.prefix("k/")).await)).await;
    let bytes = data(1 << 20, 9);
    let path = server.create(&[("Upload-Length", bytes.len().to_string())]).await;

    // Announces the whole upload (Content-Length), sends 512 KiB, then the connection drops.
    let sent = 512 * 1024;
    let offset = server.patch_cut_off(&path, 0, &bytes[..sent], Some(bytes.len() as u64)).await;
    assert!(offset > 0 && offset <= sent as u64, "offset after the cut: {offset}");
    let id = path.rsplit('/').next().unwrap();
    let data_object = format!("k/data/{id}");
    assert_eq!(
        emulator.objects(BUCKET, &data_object).await,
        vec![(data_object.clone(), offset)],
        "what arrived stays in the data object"
    );
    assert!(parts_of(&emulator, "k/", &path).await.is_empty());

    server.patch_ok(&path, offset, &bytes[offset as usize..]).await;
    let (status, body) = server.download(&path, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "the resumed upload's bytes differ");
    assert_eq!(emulator.objects(BUCKET, &data_object).await, vec![(data_object, bytes.len() as u64)]);
    assert!(parts_of(&emulator, "k/", &path).await.is_empty());
}
