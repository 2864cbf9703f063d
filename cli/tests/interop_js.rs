//! tus-js-client (Node build, tests/interop/js/run.mjs) against the real `tus` binary.
//! Every upload is downloaded again and compared with its source by SHA-256.

mod common;

use common::interop::{ScriptResult, assert_gone, assert_metadata, assert_stored, data_file, js_project};
use common::{KIB, MIB, TusServer};
use std::path::Path;

/// Runs one scenario of run.mjs on a `len`-byte file against a fresh server.
async fn js(scenario: &str, len: usize, seed: u64) -> (TusServer, Vec<u8>, ScriptResult, tempfile::TempDir) {
    let project = js_project();
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let (work, file, data) = data_file(len, seed);
    let result =
        common::interop::run_script(Path::new("node"), &["run.mjs"], &project, scenario, &server, &file, work.path())
            .await;
    drop(work);
    (server, data, result, storage)
}

#[tokio::test]
async fn small_file() {
    let (server, data, result, _dir) = js("small", 64 * KIB + 3, 11).await;
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn empty_file() {
    let (server, data, result, _dir) = js("empty", 0, 12).await;
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn fifty_mib_in_five_mib_chunks() {
    let (server, data, result, _dir) = js("chunked", 50 * MIB, 13).await;
    assert_eq!(result.number("patches"), Some(10), "{}", result.json);
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn abort_then_resume_from_url_storage() {
    let (server, data, result, _dir) = js("resume-storage", 20 * MIB + 5, 14).await;
    assert_eq!(result.number("resumedAt"), Some(12 * MIB as u64), "{}", result.json);
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn connection_cut_mid_patch_then_resume_from_upload_url() {
    let (server, data, result, _dir) = js("resume-mid-request", 48 * MIB, 15).await;
    let resumed = result.number("resumedAt").expect("resumedAt");
    assert!(resumed > 0 && resumed < data.len() as u64, "{}", result.json);
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn parallel_uploads_4() {
    let (server, data, result, _dir) = js("parallel", 10 * MIB + 1, 16).await;
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn deferred_length_from_a_stream() {
    let (server, data, result, _dir) = js("deferred", 5 * MIB + 17, 17).await;
    // The client sends what the stream gave it: at least one PATCH per 1 MiB chunk.
    assert!(result.number("patches").is_some_and(|n| n >= 6), "{}", result.json);
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn creation_with_upload() {
    let (server, data, result, _dir) = js("creation-with-upload", 200 * KIB, 18).await;
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn override_patch_method() {
    let (server, data, result, _dir) = js("override-patch", 3 * MIB + 5, 19).await;
    assert_eq!(result.number("patches"), Some(4), "{}", result.json);
    assert_stored(&server, &result.url, &data).await;
}

#[tokio::test]
async fn terminate_by_abort_true() {
    let (server, _data, result, _dir) = js("terminate-abort", 4 * MIB, 20).await;
    assert_gone(&server, &result.url).await;
}

#[tokio::test]
async fn terminate_after_completion() {
    let (server, _data, result, _dir) = js("terminate-after", KIB, 21).await;
    assert_gone(&server, &result.url).await;
}

#[tokio::test]
async fn unicode_and_empty_metadata() {
    let (server, data, result, _dir) = js("metadata", KIB, 22).await;
    assert_stored(&server, &result.url, &data).await;
    assert_metadata(&server, &result.url).await;
}
