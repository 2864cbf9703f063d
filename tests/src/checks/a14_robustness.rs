//! A14. Error and robustness behaviours (cross-cutting).
//!
//! A14.3 (a crash mid-PATCH with `kill -9`) needs a separate server process; it is
//! tested by the `tus` CLI's process tests in `cli/tests/crash.rs`, not here.

use super::{Upload, create, create_complete, create_partial, download, head, offset, patch};
use crate::client::Response;
use crate::deploy::Launcher;
use crate::digest::wrong_checksum;
use crate::target::{DENY_HEADER, HookProfile, Profile};
use http::Method;
use std::time::{Duration, Instant};

/// A14.1: lock contention past the acquire timeout is 423 with `Retry-After`, not 500.
pub async fn a14_1_lock_timeout_is_423_with_retry_after(launcher: &dyn Launcher) {
    let lock_timeout = Duration::from_millis(500);
    let d = launcher.launch(Profile::default().lock_timeout(lock_timeout)).await;
    let t = d.target();
    let upload = create(t, 10).await;
    let lock = d.hold_lock(&upload.id).await;
    let started = Instant::now();
    let responses =
        [("PATCH", patch(t, &upload.path, 0, "01234").await), ("DELETE", t.delete(&upload.path).send().await)];
    for (what, response) in &responses {
        response.expect(423, &format!("{what} on an upload locked elsewhere"));
        let retry =
            response.header("retry-after").unwrap_or_else(|| panic!("{what}: 423 without Retry-After: {response:?}"));
        assert!(
            retry.parse::<u64>().is_ok() || httpdate::parse_http_date(retry).is_ok(),
            "{what}: Retry-After {retry:?}"
        );
    }
    assert!(started.elapsed() >= lock_timeout, "423 before the lock timeout: {:?}", started.elapsed());
    lock.release().await;
    patch(t, &upload.path, 0, "01234").await.expect(204, "PATCH once the lock is free");
    assert_eq!(offset(t, &upload.path).await, 5);
}

/// A14.2: graceful shutdown ends in-flight PATCHes with their data committed, refuses
/// new work, finishes before the deadline, and leaves nothing stale for the restart.
pub async fn a14_2_graceful_shutdown_persists_and_releases(launcher: &dyn Launcher) {
    let deadline = Duration::from_secs(5);
    let mut d = launcher.launch(Profile::default().lock_timeout(Duration::from_secs(1))).await;
    let t = d.target().clone();
    let body = super::data(100, 6);
    let upload = create(&t, 100).await;
    let (mut sender, pending) =
        t.patch(&upload.path).offset_octet_stream().upload_offset(0).header("content-length", "100").stream().await;
    assert!(sender.send(body[..40].to_vec()).await);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    d.shutdown_handle().shutdown();
    let patched = pending.try_response(deadline).await.unwrap_or_else(|e| panic!("the in-flight PATCH: {e}"));
    patched.expect(503, "the in-flight PATCH during shutdown");
    assert!(patched.has("retry-after"), "{patched:?}");
    drop(sender);
    // New work is refused while the server drains.
    match t.head(&upload.path).try_send().await {
        Ok(response) => {
            response.expect(503, "a new request during shutdown");
        }
        Err(e) => assert!(e.contains("connect"), "a new request during shutdown: {e}"),
    }
    assert!(d.shutdown(deadline).await, "the server did not finish within {deadline:?}");
    assert!(started.elapsed() < deadline, "shutdown took {:?}", started.elapsed());
    let refused = tokio::net::TcpStream::connect(t.authority()).await;
    assert!(refused.is_err(), "the stopped server still accepts connections");

    let t = d.restart().await;
    let response = head(&t, &upload.path).await;
    assert_eq!(response.offset(), Some(40), "the in-flight PATCH's bytes must be committed: {response:?}");
    let started = Instant::now();
    patch(&t, &upload.path, 40, body[40..].to_vec()).await.expect(204, "resume after the restart");
    assert!(started.elapsed() < Duration::from_secs(3), "a stale lock delayed the resume: {:?}", started.elapsed());
    assert_eq!(&download(&t, &upload.path).await[..], &body[..]);
    assert!(d.no_lock_held(), "a lock is still held after everything ended");
}

/// Asserts the tus error format: `text/plain` (or problem+json) starting with a stable code.
#[track_caller]
fn error_code(response: &Response, what: &str) -> String {
    assert!(
        response.status.is_client_error() || response.status.is_server_error(),
        "{what}: not an error: {response:?}"
    );
    let content_type = response.header("content-type").unwrap_or_default().to_ascii_lowercase();
    if content_type.starts_with("application/problem+json") {
        let text = response.text();
        let code = text.split('"').find(|s| s.contains("ERR_")).unwrap_or_default().to_owned();
        assert!(code.starts_with("ERR_"), "{what}: a problem+json without an ERR_ code: {response:?}");
        return code;
    }
    assert!(content_type.starts_with("text/plain"), "{what}: an error body must be text/plain: {response:?}");
    let text = response.text();
    let (code, message) =
        text.split_once(':').unwrap_or_else(|| panic!("{what}: no `CODE: message` body: {response:?}"));
    assert!(
        code.starts_with("ERR_") && code.len() > 4 && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
        "{what}: {code:?} is not a stable ERR_ code: {response:?}"
    );
    assert!(!message.trim().is_empty(), "{what}: the code needs a message: {response:?}");
    code.to_owned()
}

/// A14.4: every error response is `text/plain` with a stable `ERR_` code.
pub async fn a14_4_errors_are_text_with_stable_codes(launcher: &dyn Launcher) {
    let profile = Profile::default()
        .max_size(100)
        .lock_timeout(Duration::from_millis(300))
        .hooks(HookProfile { deny_header: true, ..HookProfile::default() });
    let d = launcher.launch(profile).await;
    let t = d.target();
    let upload = create(t, 10).await;
    patch(t, &upload.path, 0, "01234").await.expect(204, "PATCH");
    let complete = create_complete(t, b"done").await;
    let gone = create(t, 10).await;
    t.delete(&gone.path).send().await.expect(204, "DELETE");

    let mut cases: Vec<(&str, Option<&str>, Response)> = vec![
        (
            "412",
            Some("ERR_UNSUPPORTED_VERSION"),
            t.post().tus_version("0.2.2").header("upload-length", "1").send().await,
        ),
        ("415", Some("ERR_INVALID_CONTENT_TYPE"), t.patch(&upload.path).upload_offset(5).body("x").send().await),
        ("400 missing offset", None, t.patch(&upload.path).offset_octet_stream().body("x").send().await),
        (
            "400 invalid offset",
            Some("ERR_INVALID_OFFSET"),
            t.patch(&upload.path).offset_octet_stream().header("upload-offset", "-1").body("x").send().await,
        ),
        ("400 invalid length", None, t.post().header("upload-length", "abc").send().await),
        (
            "400 invalid metadata",
            None,
            t.post().header("upload-length", "1").header("upload-metadata", "a !!!").send().await,
        ),
        ("409", Some("ERR_MISMATCHED_OFFSET"), patch(t, &upload.path, 2, "x").await),
        ("404", Some("ERR_UPLOAD_NOT_FOUND"), patch(t, &t.upload_path("nope"), 0, "x").await),
        ("410", None, patch(t, &gone.path, 0, "x").await),
        ("413 length", Some("ERR_UPLOAD_SIZE_EXCEEDED"), patch(t, &upload.path, 5, "0123456789").await),
        ("413 max size", Some("ERR_MAX_SIZE_EXCEEDED"), t.post().header("upload-length", "101").send().await),
        (
            "460",
            Some("ERR_CHECKSUM_MISMATCH"),
            t.patch(&upload.path)
                .offset_octet_stream()
                .upload_offset(5)
                .header("upload-checksum", wrong_checksum("sha1", b"x"))
                .body("x")
                .send()
                .await,
        ),
        (
            "400 checksum algorithm",
            None,
            t.patch(&upload.path)
                .offset_octet_stream()
                .upload_offset(5)
                .header("upload-checksum", "whirlpool eA==")
                .body("x")
                .send()
                .await,
        ),
        ("405", None, t.request(Method::PUT, t.base_path()).send().await),
        ("416", None, t.get(&complete.path).header("range", "bytes=10-").send().await),
        ("404 incomplete download", None, t.get(&upload.path).send().await),
        (
            "403 authorize",
            None,
            t.patch(&upload.path)
                .header(DENY_HEADER, "1")
                .offset_octet_stream()
                .upload_offset(5)
                .body("x")
                .send()
                .await,
        ),
    ];
    if t.profile.advertises(tus_core::Extension::Concatenation) {
        let a = create_partial(t, b"a").await;
        let response = t.post().header("upload-concat", format!("final;{}", a.path)).send().await;
        let final_ = Upload::from_location(t, &response);
        cases.push(("403 final", Some("ERR_MODIFY_FINAL"), patch(t, &final_.path, 1, "x").await));
    }
    let lock = d.hold_lock(&upload.id).await;
    cases.push(("423", Some("ERR_UPLOAD_LOCKED"), patch(t, &upload.path, 5, "x").await));
    lock.release().await;

    for (what, expected, response) in &cases {
        let status: u16 = what[..3].parse().expect("status prefix");
        response.expect(status, what);
        let code = error_code(response, what);
        if let Some(expected) = expected {
            assert_eq!(code, *expected, "{what}: the tusd-compatible code: {response:?}");
        }
    }
    // Stable: the same error gives the same code; asking for problem+json is honoured or ignored.
    let again = patch(t, &upload.path, 2, "x").await;
    assert_eq!(error_code(&again, "409 again"), "ERR_MISMATCHED_OFFSET");
    let problem = t
        .patch(&upload.path)
        .header("accept", "application/problem+json")
        .offset_octet_stream()
        .upload_offset(2)
        .body("x")
        .send()
        .await;
    problem.expect(409, "409 with Accept: application/problem+json");
    assert_eq!(error_code(&problem, "409 as problem+json"), "ERR_MISMATCHED_OFFSET");
}
