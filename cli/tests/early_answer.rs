//! Answers the server gives before it has read a request's body (a wrong offset, a size
//! over the limit) reach a client that is still sending that body: the server reads and
//! drops the rest for a while instead of resetting the connection under the client.

mod common;

use common::{MIB, TusServer, patch_headers, request};
use std::time::Duration;
use tus_example_harness::conformance::tus_conformance::Target;

const ANSWER_WAIT: Duration = Duration::from_secs(20);

/// Sends `method path` with `headers` and then `body_len` bytes on a bare connection, the
/// way a plain client does (write everything, then read the answer), and returns the
/// status it reads, or what went wrong.
async fn send_whole_then_read(
    server: &TusServer,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body_len: usize,
) -> Result<u16, String> {
    let mut conn = Target::new(&server.url).raw().await;
    let mut all = vec![("Tus-Resumable", "1.0.0".to_owned()), ("Content-Length", body_len.to_string())];
    all.extend_from_slice(headers);
    conn.send_head(method, path, &all).await;
    let piece = vec![7u8; 64 * 1024];
    let mut sent = 0;
    while sent < body_len {
        let n = piece.len().min(body_len - sent);
        conn.try_write(&piece[..n]).await.map_err(|e| format!("writing the body after {sent} bytes: {e}"))?;
        sent += n;
    }
    let head = conn.read_head(ANSWER_WAIT).await.map_err(|e| format!("reading the answer: {e:?}"))?;
    Ok(head.status.as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_reaches_a_client_still_sending() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    let path = server.create(64 * MIB as u64).await;
    let headers = [("Upload-Offset", "5".to_owned()), ("Content-Type", "application/offset+octet-stream".to_owned())];
    let status = send_whole_then_read(&server, "PATCH", &path, &headers, 16 * MIB).await;
    assert_eq!(status, Ok(409));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_reaches_a_client_still_sending() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--max-size", "1MiB"]);
    let len = 16 * MIB;
    let headers = [("Upload-Length", len.to_string()), ("Content-Type", "application/offset+octet-stream".to_owned())];
    let status = send_whole_then_read(&server, "POST", &server.base_path, &headers, len).await;
    assert_eq!(status, Ok(413));
}

/// The lingering has an end: a client that neither sends nor closes is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_after_the_linger() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    let path = server.create(64 * MIB as u64).await;
    let mut conn = Target::new(&server.url).raw().await;
    // Announces a body it never sends in full.
    let headers = [
        ("Tus-Resumable", "1.0.0".to_owned()),
        ("Upload-Offset", "5".to_owned()),
        ("Content-Type", "application/offset+octet-stream".to_owned()),
        ("Content-Length", MIB.to_string()),
    ];
    conn.send_head("PATCH", &path, &headers).await;
    conn.write(&[1u8; 1000]).await;
    assert_eq!(conn.read_head(ANSWER_WAIT).await.map(|head| head.status.as_u16()), Ok(409));
    // The server shut its side after the answer; once it gave up waiting, writes fail.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut failed = None;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Err(e) = conn.try_write(&[1u8; 1000]).await {
            failed = Some(e);
            break;
        }
    }
    assert!(failed.is_some(), "the server still reads from a client that went silent");
}

/// The same through an HTTP client library (hyper's) that sends the body whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_client_sees_the_409_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    let path = server.create(64 * MIB as u64).await;
    for _ in 0..5 {
        let body = bytes::Bytes::from(vec![3u8; 16 * MIB]);
        let answer = request(server.addr, http::Method::PATCH, &path, &patch_headers(5), body).await;
        assert_eq!(answer.as_ref().map(|a| a.status), Ok(409), "{answer:?}");
    }
}
