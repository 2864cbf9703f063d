//! tuspy (tests/interop/py/run.py, in the venv made by scripts/install-test-deps.sh)
//! against the real `tus` binary. Every upload is downloaded again and compared with its
//! source by SHA-256. tuspy 1.1.0 has no termination and no deferred length.

mod common;

use common::interop::{ScriptResult, assert_gone, assert_metadata, assert_stored, data_file, py_python};
use common::{KIB, MIB, TusServer, repo_root};

/// Runs one scenario of run.py on a `len`-byte file against a fresh server.
async fn py(scenario: &str, len: usize, seed: u64) -> (TusServer, Vec<u8>, ScriptResult, tempfile::TempDir) {
    let python = py_python();
    let project = repo_root().join("tests/interop/py");
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let (work, file, data) = data_file(len, seed);
    let result =
        common::interop::run_script(&python, &["run.py"], &project, scenario, &server, &file, work.path()).await;
    drop(work);
    (server, data, result, storage)
}

#[tokio::test]
async fn small_file() {
    let (server, data, result, _dir) = py("small", 64 * KIB + 3, 31).await;
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn empty_file() {
    let (server, data, result, _dir) = py("empty", 0, 32).await;
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn fifty_mib_in_five_mib_chunks() {
    let (server, data, result, _dir) = py("chunked", 50 * MIB, 33).await;
    assert_eq!(result.number("patches"), Some(10), "{}", result.json);
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn resume_from_url_storage_in_a_new_client() {
    let (server, data, result, _dir) = py("resume-storage", 20 * MIB + 5, 34).await;
    assert_eq!(result.number("resumedAt"), Some(12 * MIB as u64), "{}", result.json);
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn resume_from_url_in_a_new_client() {
    let (server, data, result, _dir) = py("resume-url", 3 * MIB + 5, 35).await;
    assert_eq!(result.number("resumedAt"), Some(2 * MIB as u64), "{}", result.json);
    assert_stored(&server, &result.url, &data).await;
}

/// sha1 Upload-Checksum on every chunk; a lying checksum is refused with 460 and stores nothing.
#[tokio::test]
async fn sha1_checksums_are_verified() {
    let (server, data, result, _dir) = py("checksum", 3 * MIB + 5, 36).await;
    assert_stored(&server, &result.url, &data).await;
    let bad = result.string("badUrl").expect("badUrl");
    let offset = server.offset(&server.path_of(&bad)).await;
    assert_eq!(offset, 0, "bytes of a chunk with a wrong checksum were stored");
}

#[tokio::test]
async fn unicode_and_empty_metadata() {
    let (server, data, result, _dir) = py("metadata", KIB, 37).await;
    assert_stored(&server, &result.url, &data).await;
    assert_metadata(&server, &result.url).await;
}

#[tokio::test]
async fn async_uploader_with_checksums() {
    let (server, data, result, _dir) = py("async", 5 * MIB + 1, 38).await;
    assert_stored(&server, &result.url, &data).await;
}

/// Not a tuspy feature: after a tuspy upload, the upload can still be terminated with a
/// plain DELETE (so the termination extension works for uploads tuspy made).
#[tokio::test]
async fn tuspy_upload_then_delete() {
    let (server, data, result, _dir) = py("small", 10 * KIB, 39).await;
    assert_stored(&server, &result.url, &data).await;
    let path = server.path_of(&result.url);
    let deleted =
        common::request(server.addr, http::Method::DELETE, &path, common::TUS, bytes::Bytes::new()).await.unwrap();
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_gone(&server, &result.url).await;
}
