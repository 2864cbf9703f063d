//! A9. Checksum and checksum-trailer.

use super::{create, data, discover, download, extensions, head, offset, patch};
use crate::deploy::Launcher;
use crate::digest::{upload_checksum, wrong_checksum};
use crate::target::Profile;
use http::HeaderMap;
use std::time::Duration;
use tus_core::Extension;

fn checksummed(t: &crate::Target, path: &str, at: u64, checksum: &str, body: &[u8]) -> crate::client::RequestBuilder {
    t.patch(path).offset_octet_stream().upload_offset(at).header("upload-checksum", checksum).body(body.to_vec())
}

/// A9.1: `checksum` is advertised with `Tus-Checksum-Algorithm` containing `sha1`.
pub async fn a9_1_checksum_is_advertised_with_sha1(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let response = discover(d.target()).await;
    assert!(extensions(&response).contains("checksum"), "{response:?}");
    let algorithms = response.header("tus-checksum-algorithm").unwrap_or_default();
    assert!(algorithms.split(',').any(|a| a.trim() == "sha1"), "{response:?}");
}

/// A9.2: the spec's example: `sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=` with `hello world` is 204, offset +11.
pub async fn a9_2_correct_sha1_is_accepted(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 22).await;
    let response = checksummed(t, &upload.path, 0, "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", b"hello world").send().await;
    response.expect(204, "PATCH with the right sha1");
    assert_eq!(response.offset(), Some(11), "{response:?}");
    let response = checksummed(t, &upload.path, 11, "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", b"hello world").send().await;
    response.expect(204, "second PATCH with the right sha1");
    assert_eq!(response.offset(), Some(22), "{response:?}");
    assert_eq!(&download(t, &upload.path).await[..], b"hello worldhello world");
}

/// A9.3: a wrong digest is 460, and the chunk is discarded.
pub async fn a9_3_wrong_digest_is_460_and_rolled_back(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 22).await;
    patch(t, &upload.path, 0, "hello world").await.expect(204, "first PATCH");
    let before = head(t, &upload.path).await;
    let response =
        checksummed(t, &upload.path, 11, &wrong_checksum("sha1", b"HELLO WORLD"), b"HELLO WORLD").send().await;
    response.expect(460, "PATCH with a wrong sha1");
    let after = head(t, &upload.path).await;
    assert_eq!(after.offset(), before.offset(), "a mismatching chunk must be discarded: {after:?}");
    assert_eq!(after.offset(), Some(11));
    patch(t, &upload.path, 11, "HELLO WORLD").await.expect(204, "the same chunk without a checksum");
    assert_eq!(&download(t, &upload.path).await[..], b"hello worldHELLO WORLD");
}

/// A9.4: an unsupported algorithm is 400, and nothing is stored.
pub async fn a9_4_unsupported_algorithm_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 11).await;
    for value in ["whirlpool Kq5sNclPz7QV2+lfQIuc6R7oRu0=", "sha3 Kq5sNclPz7QV2+lfQIuc6R7oRu0="] {
        checksummed(t, &upload.path, 0, value, b"hello world").send().await.expect(400, value);
    }
    assert_eq!(offset(t, &upload.path).await, 0);
    // An algorithm the server knows but was configured without is unsupported too.
    let d = launcher
        .launch(Profile { checksum_algorithms: vec![tus_core::ChecksumAlgorithm::Sha1], ..Profile::default() })
        .await;
    let t = d.target();
    let upload = create(t, 11).await;
    let value = upload_checksum("sha256", b"hello world");
    checksummed(t, &upload.path, 0, &value, b"hello world")
        .send()
        .await
        .expect(400, "sha256 when only sha1 is enabled");
    assert_eq!(offset(t, &upload.path).await, 0);
}

/// A9.5: a malformed `Upload-Checksum` is 400, and nothing is stored.
pub async fn a9_5_malformed_checksum_is_400(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 11).await;
    let malformed = [
        "sha1",
        "sha1Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
        "sha1 !!!not-base64!!!",
        "sha1 aGVsbG8=",
        "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=Kq5s",
        "",
    ];
    for value in malformed {
        checksummed(t, &upload.path, 0, value, b"hello world")
            .send()
            .await
            .expect(400, &format!("Upload-Checksum {value:?}"));
    }
    assert_eq!(offset(t, &upload.path).await, 0);
}

/// A9.6: an uppercase name (`SHA1`) is refused (400) or normalised, never trusted without a check.
pub async fn a9_6_uppercase_algorithm_is_refused_or_normalised(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let upload = create(t, 22).await;
    let wrong = wrong_checksum("sha1", b"hello world").replacen("sha1", "SHA1", 1);
    let response = checksummed(t, &upload.path, 0, &wrong, b"hello world").send().await;
    response.expect_one_of(&[400, 460], "SHA1 with a wrong digest");
    assert_eq!(offset(t, &upload.path).await, 0, "a wrong digest under SHA1 was stored");
    let strict = response.status.as_u16() == 400;
    let response = checksummed(t, &upload.path, 0, "SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", b"hello world").send().await;
    let expected = if strict { 400 } else { 204 };
    response.expect(expected, "SHA1 with the right digest (consistent with the wrong-digest answer)");
}

/// A9.7: a checksummed chunk cut off by a dropped connection commits nothing.
pub async fn a9_7_dropped_checksummed_chunk_commits_nothing(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let body = data(100, 7);
    let upload = create(t, 100).await;
    let mut conn = t.raw().await;
    super::a4_patch::raw_patch_head(
        &mut conn,
        &upload.path,
        0,
        &[("content-length", "100".to_owned()), ("upload-checksum", upload_checksum("sha1", &body))],
    )
    .await;
    conn.write(&body[..60]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.shutdown_write().await;
    drop(conn);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(offset(t, &upload.path).await, 0, "part of an unverifiable chunk was committed");
    let response = checksummed(t, &upload.path, 0, &upload_checksum("sha1", &body), &body).send().await;
    response.expect(204, "the whole chunk again");
    assert_eq!(&download(t, &upload.path).await[..], &body[..]);
}

/// A9.8: `checksum-trailer` is advertised (hyper reads trailers); a correct trailer is
/// 204 and a wrong one 460 with rollback.
pub async fn a9_8_checksum_trailer(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    assert!(extensions(&discover(t).await).contains("checksum-trailer"));
    let upload = create(t, 22).await;
    let path = upload.path.as_str();
    let send = |at: u64, checksum: String| async move {
        let (mut sender, pending) =
            t.patch(path).offset_octet_stream().upload_offset(at).header("trailer", "Upload-Checksum").stream().await;
        sender.send(&b"hello "[..]).await;
        sender.send(&b"world"[..]).await;
        let mut trailers = HeaderMap::new();
        trailers.insert("upload-checksum", checksum.parse().expect("header value"));
        sender.trailers(trailers).await;
        pending.response().await
    };
    let response = send(0, upload_checksum("sha1", b"hello world")).await;
    response.expect(204, "chunked PATCH with a correct trailer");
    assert_eq!(response.offset(), Some(11), "{response:?}");
    let response = send(11, wrong_checksum("sha256", b"hello world")).await;
    response.expect(460, "chunked PATCH with a wrong trailer");
    assert_eq!(offset(t, &upload.path).await, 11, "a chunk with a wrong trailer was kept");
    let response = send(11, upload_checksum("md5", b"hello world")).await;
    response.expect(204, "chunked PATCH with a correct md5 trailer");
    assert_eq!(&download(t, &upload.path).await[..], b"hello worldhello world");

    let d = launcher.launch(Profile::default().extension(Extension::Checksum, false)).await;
    let listed = extensions(&discover(d.target()).await);
    assert!(!listed.contains("checksum-trailer"), "checksum-trailer without checksum: {listed:?}");
}

/// A9.9: `sha1`, `sha256`, `sha512`, `md5`, `crc32` and `crc32c` are supported.
pub async fn a9_9_supported_algorithms(launcher: &dyn Launcher) {
    let d = launcher.launch_default().await;
    let t = d.target();
    let response = discover(t).await;
    let advertised: Vec<String> =
        response.header("tus-checksum-algorithm").unwrap_or_default().split(',').map(|a| a.trim().to_owned()).collect();
    let algorithms = ["sha1", "sha256", "sha512", "md5", "crc32", "crc32c"];
    let upload = create(t, 4 * algorithms.len() as u64).await;
    let mut at = 0;
    let mut failures = Vec::new();
    for (i, name) in algorithms.iter().enumerate() {
        let chunk = data(4, i as u8);
        if !advertised.iter().any(|a| a == name) {
            failures.push(format!("{name} is not in Tus-Checksum-Algorithm {advertised:?}"));
        }
        let wrong = checksummed(t, &upload.path, at, &wrong_checksum(name, &chunk), &chunk).send().await;
        if wrong.status.as_u16() != 460 {
            failures.push(format!("{name}: a wrong digest got {} instead of 460", wrong.status));
        }
        let right = checksummed(t, &upload.path, at, &upload_checksum(name, &chunk), &chunk).send().await;
        if right.status.as_u16() == 204 {
            at += 4;
        } else {
            failures.push(format!("{name}: the right digest got {} instead of 204", right.status));
        }
    }
    assert!(failures.is_empty(), "checksum algorithms: {failures:#?}");
}
