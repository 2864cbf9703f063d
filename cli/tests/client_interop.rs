//! The tus client library (tus-rs-client) against tus servers no one here wrote:
//! @tus/server 2 with @tus/file-store (Node) and the Python `resumable-upload` server,
//! installed by scripts/install-test-deps.sh and started on free ports. Every upload is
//! read back and compared by SHA-256: from the Python server by GET, from @tus/file-store
//! on disk (@tus/server 2.4.5 sometimes crashes with an uncaught "ReadableStream is already
//! closed" when a GET's connection closes right after the response: a server bug that has
//! nothing to do with the client under test). A feature a server lacks must fail at once
//! with a clear error, never hang.

mod common;
mod support;

use bytes::Bytes;
use common::{KIB, MIB, sha256, test_data};
use http::Method;
use std::time::{Duration, Instant};
use support::{External, Faults, Proxy, write_file};
use tus_rs_client::{ChecksumAlgorithm, Client, ClientBuilder, Error, Metadata, RetryPolicy, Source, Url};

fn quick(endpoint: &str) -> ClientBuilder {
    Client::builder(endpoint).retry_policy(RetryPolicy::new(5).base_delay(Duration::from_millis(20)))
}

/// Downloads `url` with GET and compares it with `data`.
async fn assert_download(server: &External, url: &Url, data: &[u8]) {
    let response = common::request(server.addr(), Method::GET, url.path(), common::TUS, Bytes::new())
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status, 200, "GET {url}: {response:?}");
    assert_eq!(response.body.len(), data.len(), "{url}: stored length");
    assert_eq!(sha256(&response.body), sha256(data), "{url}: stored bytes differ from the source");
}

/// @tus/file-store keeps each upload in a file named by its ID.
fn assert_node_file(server: &External, url: &Url, data: &[u8]) {
    let id = url.path_segments().unwrap().next_back().unwrap();
    let stored = std::fs::read(server.dir.path().join(id)).unwrap();
    assert_eq!(sha256(&stored), sha256(data), "{url}: the file on disk differs from the source");
}

/// Fails fast: a lacking feature is an error in well under the time a hang would take.
async fn fails_fast<T: std::fmt::Debug>(future: impl IntoFuture<Output = Result<T, Error>>) -> Error {
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), future.into_future()).await.expect("no hang").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}: {err}", started.elapsed());
    err
}

#[tokio::test]
async fn node_files_streams_and_creation_with_upload() {
    let server = External::node();
    let work = tempfile::tempdir().unwrap();
    let data = test_data(3 * MIB + 7, 51);
    let file = write_file(work.path(), "n.bin", &data);
    let client = quick(&server.url).chunk_size(MIB as u64).build().unwrap();
    let info = client.server_info().await.unwrap();
    assert!(info.supports("creation-with-upload") && !info.supports("concatenation"), "{info:?}");
    let uploaded = client.upload(Source::file(&file)).metadata("filename", "n.bin").await.unwrap();
    assert!(uploaded.is_complete());
    assert_node_file(&server, &uploaded.url, &data);
    let info = client.upload_info(uploaded.url.as_str()).await.unwrap();
    assert_eq!(info.metadata.get_str("filename"), Some("n.bin"));

    // A stream of unknown length: deferred, and given by the last PATCH.
    let data = test_data(2 * MIB + 100, 52);
    let uploaded = client.upload(Source::reader(std::io::Cursor::new(data.clone()))).await.unwrap();
    assert_node_file(&server, &uploaded.url, &data);
    // Exactly at a chunk boundary, and empty.
    for len in [2 * MIB, 0] {
        let data = test_data(len, 53);
        let uploaded = client.upload(Source::reader(std::io::Cursor::new(data.clone()))).await.unwrap();
        assert_node_file(&server, &uploaded.url, &data);
    }
}

#[tokio::test]
async fn node_stop_resume_deferred_and_delete() {
    let server = External::node();
    let data = test_data(MIB + 3, 54);
    let client = quick(&server.url).chunk_size(256 * KIB as u64).build().unwrap();
    let first = client.upload(data.clone()).stop_at(300 * KIB as u64).await.unwrap();
    assert_eq!(client.upload_info(first.url.as_str()).await.unwrap().offset, 300 * KIB as u64);
    let resumed = client.resume_upload(first.url.as_str(), data.clone()).await.unwrap();
    assert_eq!(resumed.resumed_from, Some(300 * KIB as u64));
    assert_node_file(&server, &resumed.url, &data);

    let metadata: Metadata = [("filename", "later.bin")].into_iter().collect();
    let deferred = client.create_deferred_upload(metadata).await.unwrap();
    let info = client.upload_info(deferred.as_str()).await.unwrap();
    assert_eq!((info.offset, info.length), (0, None));

    client.delete_upload(resumed.url.as_str()).await.unwrap();
    let err = client.upload_info(resumed.url.as_str()).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn node_lacks_concatenation_and_checksums_clear_errors() {
    let server = External::node();
    let client = quick(&server.url).build().unwrap();
    let err = fails_fast(client.upload(vec![1u8; 1000]).parallel(4)).await;
    assert!(matches!(err, Error::Unsupported { extension: "concatenation", .. }), "{err}");
    assert!(err.to_string().contains("concatenation"), "{err}");
    let err = fails_fast(client.create_final_upload(&[server.url.parse().unwrap()], Metadata::new())).await;
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    let err = fails_fast(client.upload(vec![1u8; 10]).partial()).await;
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    for algorithm in [ChecksumAlgorithm::Sha1, ChecksumAlgorithm::Md5] {
        let client = quick(&server.url).checksum(algorithm).build().unwrap();
        let err = fails_fast(client.upload(vec![1u8; 10])).await;
        let Error::ChecksumUnsupported { offered, .. } = &err else { panic!("{err}") };
        assert!(offered.is_empty(), "{err}");
        assert!(err.to_string().contains("no checksum extension"), "{err}");
    }
}

#[tokio::test]
async fn node_through_a_flaky_proxy() {
    let server = External::node();
    let faults =
        Faults { seed: 5, cut_percent: 40, cut_after: (8 * KIB as u64, 900 * KIB as u64), max_cuts: 5, throttle: None };
    let proxy = Proxy::start(server.addr(), faults).await;
    let data = test_data(6 * MIB + 1, 55);
    let client = quick(&proxy.url("/files"))
        .chunk_size(MIB as u64)
        .retry_policy(RetryPolicy::new(12).base_delay(Duration::from_millis(20)).max_delay(Duration::from_millis(300)))
        .build()
        .unwrap();
    let uploaded = client.upload(data.clone()).await.unwrap();
    assert!(proxy.cuts() >= 1, "no connection was cut");
    assert_node_file(&server, &uploaded.url, &data);
}

#[tokio::test]
async fn python_files_with_sha1_checksums_and_streams() {
    let server = External::python(&[]);
    let work = tempfile::tempdir().unwrap();
    let data = test_data(3 * MIB + 9, 56);
    let file = write_file(work.path(), "p.bin", &data);
    let client = quick(&server.url).chunk_size(MIB as u64).checksum(ChecksumAlgorithm::Sha1).build().unwrap();
    let info = client.server_info().await.unwrap();
    assert_eq!(info.checksum_algorithms, ["sha1"], "{info:?}");
    let uploaded = client.upload(Source::file(&file)).metadata("filename", "p.bin").await.unwrap();
    assert_download(&server, &uploaded.url, &data).await;
    assert_eq!(client.upload_info(uploaded.url.as_str()).await.unwrap().metadata.get_str("filename"), Some("p.bin"));

    // Streams whose length is known at creation: given with the stream, or found because
    // the stream ends within the first chunk.
    let data = test_data(2 * MIB + 5, 57);
    let sized = Source::reader_with_length(std::io::Cursor::new(data.clone()), data.len() as u64);
    let uploaded = client.upload(sized).await.unwrap();
    assert_download(&server, &uploaded.url, &data).await;
    let small = test_data(300 * KIB, 63);
    let uploaded = client.upload(Source::reader(std::io::Cursor::new(small.clone()))).await.unwrap();
    assert_download(&server, &uploaded.url, &small).await;

    // A server deviation: resumable-upload 0.3.0 refuses a PATCH of a deferred-length
    // upload that does not carry Upload-Length, though the protocol asks for the length
    // only once it is known. A longer stream of unknown length therefore cannot be
    // uploaded there; the client reports the server's refusal at once instead of hanging.
    let err = fails_fast(client.upload(Source::reader(std::io::Cursor::new(data.clone())))).await;
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err}");
    assert!(err.to_string().contains("Upload-Length header required"), "{err}");

    // sha256 is not offered by this server: refused before any data is sent.
    let client = quick(&server.url).checksum(ChecksumAlgorithm::Sha256).build().unwrap();
    let err = fails_fast(client.upload(Source::file(&file))).await;
    let Error::ChecksumUnsupported { offered, .. } = &err else { panic!("{err}") };
    assert_eq!(offered, &["sha1"]);
    assert!(err.to_string().contains("(it offers: sha1)"), "{err}");
}

#[tokio::test]
async fn python_more_checksum_algorithms() {
    let server = External::python(&["--checksum-algorithms", "sha1,sha256,sha512,md5"]);
    let data = test_data(700 * KIB, 58);
    for algorithm in ChecksumAlgorithm::ALL {
        let client = quick(&server.url).chunk_size(256 * KIB as u64).checksum(algorithm).build().unwrap();
        let uploaded = client.upload(data.clone()).await.unwrap();
        assert_download(&server, &uploaded.url, &data).await;
    }
}

#[tokio::test]
async fn python_parallel_partials_and_final() {
    let server = External::python(&[]);
    let work = tempfile::tempdir().unwrap();
    let data = test_data(4 * MIB + 3, 59);
    let file = write_file(work.path(), "par.bin", &data);
    let client = quick(&server.url).chunk_size(512 * KIB as u64).build().unwrap();
    let uploaded = client.upload(Source::file(&file)).parallel(3).metadata("filename", "par.bin").await.unwrap();
    assert_eq!(uploaded.partial_urls.len(), 3);
    assert_download(&server, &uploaded.url, &data).await;

    let a = test_data(100 * KIB, 60);
    let b = test_data(3, 61);
    let url_a = client.create_partial_upload(a.clone(), Metadata::new()).await.unwrap();
    let url_b = client.create_partial_upload(b.clone(), Metadata::new()).await.unwrap();
    let merged = client.create_final_upload(&[url_a, url_b], Metadata::new()).await.unwrap();
    let whole: Vec<u8> = a.iter().chain(&b).copied().collect();
    assert_download(&server, &merged, &whole).await;
}

#[tokio::test]
async fn python_stop_resume_and_delete() {
    let server = External::python(&[]);
    let data = test_data(MIB + 1, 62);
    let client = quick(&server.url).chunk_size(256 * KIB as u64).build().unwrap();
    let first = client.upload(data.clone()).stop_at(500 * KIB as u64).await.unwrap();
    let resumed = client.resume_upload(first.url.as_str(), data.clone()).await.unwrap();
    assert_eq!(resumed.resumed_from, Some(500 * KIB as u64));
    assert_download(&server, &resumed.url, &data).await;
    let deferred = client.create_deferred_upload(Metadata::new()).await.unwrap();
    assert_eq!(client.upload_info(deferred.as_str()).await.unwrap().length, None);
    client.delete_upload(resumed.url.as_str()).await.unwrap();
    assert!(client.upload_info(resumed.url.as_str()).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn python_without_concatenation_refuses_parallel_clearly() {
    let server = External::python(&["--disable-concatenation"]);
    let client = quick(&server.url).build().unwrap();
    let err = fails_fast(client.upload(vec![3u8; 4000]).parallel(2)).await;
    assert!(matches!(err, Error::Unsupported { extension: "concatenation", .. }), "{err}");
}
