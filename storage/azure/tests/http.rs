//! `AzureStorage` behind the tus service over real HTTP (the service of tus-core, served on
//! 127.0.0.1 by the conformance suite's `ServedLayer`), on Azurite: upload
//! and download, resume after the server was stopped mid-PATCH, checksum rollback,
//! deferred length, concatenation, termination, expiry, and two servers sharing a container.

use bytes::Bytes;
use http::Method;
use std::time::Duration;
use tus_azure::emulator::Azurite;
use tus_conformance::ServedLayer;
use tus_core::{Expiration, TusLayer};

const CONTAINER: &str = "azure-http";
/// Small blocks, so that the test uploads span several.
const BLOCK: u64 = 64 * 1024;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8).collect()
}

/// The committed blobs of the upload at `path` (its info blob, and its data blob once complete).
async fn blobs_of(emulator: &Azurite, prefix: &str, path: &str) -> Vec<String> {
    let id = path.rsplit('/').next().unwrap();
    let mut names = Vec::new();
    for kind in ["data", "info"] {
        names.extend(emulator.blob_names(CONTAINER, &format!("{prefix}{kind}/{id}")).await);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_checksum_rollback_and_deferred_length() {
    let emulator = Azurite::start();
    let server =
        ServedLayer::start(TusLayer::new(emulator.storage(CONTAINER, |c| c.prefix("a/").block_size(BLOCK)).await))
            .await;
    let bytes = data(300 * 1024, 3);

    let path = server.create(&[("Upload-Length", bytes.len().to_string())]).await;
    assert_eq!(server.patch_ok(&path, 0, &bytes[..100 * 1024]).await, 100 * 1024);

    // A checksummed PATCH whose digest is wrong: 460, nothing recorded.
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
    let id = path.rsplit('/').next().unwrap();
    assert_eq!(blobs_of(&emulator, "a/", &path).await, vec![format!("a/info/{id}")], "staged blocks are invisible");

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
    let emulator = Azurite::start();
    let bytes = data(2 << 20, 5);
    let first = ServedLayer::start(TusLayer::new(
        emulator.storage(CONTAINER, |c| c.prefix("r/").block_size(BLOCK).checkpoint_bytes(256 * 1024)).await,
    ))
    .await;
    let path = first.create(&[("Upload-Length", bytes.len().to_string())]).await;

    // A PATCH body that sends 1 MiB, then breaks (the client's connection drops); the
    // server stores what arrived before the break.
    let sent = 1 << 20;
    let offset = first.patch_cut_off(&path, 0, &bytes[..sent], None).await;
    assert!(offset > 0 && offset <= sent as u64, "offset after the cut: {offset}");
    assert!(first.shutdown(Duration::from_secs(10)).await);

    // A new process (new storage, new server) on the same bucket resumes from HEAD's offset.
    let second = ServedLayer::start(TusLayer::new(
        emulator.storage(CONTAINER, |c| c.prefix("r/").block_size(BLOCK).checkpoint_bytes(256 * 1024)).await,
    ))
    .await;
    let offset = second.offset(&path).await;
    assert!(offset > 0 && offset <= sent as u64, "offset seen by the new server: {offset}");
    second.patch_ok(&path, offset, &bytes[offset as usize..]).await;
    let (status, body) = second.download(&path, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "the resumed upload's bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concatenation_termination_and_two_servers_on_one_container() {
    let emulator = Azurite::start();
    let one =
        ServedLayer::start(TusLayer::new(emulator.storage(CONTAINER, |c| c.prefix("c/").block_size(BLOCK)).await))
            .await;
    let two =
        ServedLayer::start(TusLayer::new(emulator.storage(CONTAINER, |c| c.prefix("c/").block_size(BLOCK)).await))
            .await;
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
    for path in [&unfinished, &final_path] {
        let answer = two.request(Method::DELETE, path).send().await;
        assert_eq!(answer.status, 204);
        assert_eq!(one.head(path).await.status, 410);
        let id = path.rsplit('/').next().unwrap();
        assert_eq!(blobs_of(&emulator, "c/", path).await, vec![format!("c/info/{id}")], "only the tombstone is left");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_removes_expired_uploads_and_their_blobs() {
    let emulator = Azurite::start();
    let layer = TusLayer::new(emulator.storage(CONTAINER, |c| c.prefix("e/").block_size(BLOCK)).await)
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
    let expiring_id = expiring.rsplit('/').next().unwrap();
    assert_eq!(
        blobs_of(&emulator, "e/", &expiring).await,
        vec![format!("e/info/{expiring_id}")],
        "its data is deleted"
    );
    assert_eq!(server.download(&complete, None).await, (200, Bytes::from_static(b"abc")));
}
