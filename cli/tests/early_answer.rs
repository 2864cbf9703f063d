//! Answers the server gives before it has read a request's body (a wrong offset, a size
//! over the limit) reach a client that is still sending that body: the server reads and
//! drops the rest for a while instead of resetting the connection under the client.

mod common;

use common::{MIB, TusServer, patch_headers, request};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `head` and then `body_len` bytes the way a plain client does (write everything,
/// then read the answer) and returns the status line it reads.
fn send_whole_then_read(addr: std::net::SocketAddr, head: &str, body_len: usize) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(head.as_bytes()).map_err(|e| format!("writing the head: {e}"))?;
    let piece = vec![7u8; 64 * 1024];
    let mut sent = 0;
    while sent < body_len {
        let n = piece.len().min(body_len - sent);
        stream.write_all(&piece[..n]).map_err(|e| format!("writing the body after {sent} bytes: {e}"))?;
        sent += n;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) => return Err(format!("reading the answer: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_reaches_a_client_still_sending() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    let path = server.create(64 * MIB as u64).await;
    let len = 16 * MIB;
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 5\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {len}\r\n\r\n"
    );
    let addr = server.addr;
    let status = tokio::task::spawn_blocking(move || send_whole_then_read(addr, &head, len)).await.unwrap();
    assert_eq!(status.as_deref(), Ok("HTTP/1.1 409 Conflict"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_reaches_a_client_still_sending() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--max-size", "1MiB"]);
    let len = 16 * MIB;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: {len}\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {len}\r\n\r\n",
        server.base_path
    );
    let addr = server.addr;
    let status = tokio::task::spawn_blocking(move || send_whole_then_read(addr, &head, len)).await.unwrap();
    assert_eq!(status.as_deref(), Ok("HTTP/1.1 413 Payload Too Large"));
}

/// The lingering has an end: a client that neither sends nor closes is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_after_the_linger() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    let path = server.create(64 * MIB as u64).await;
    let addr = server.addr;
    let outcome = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // Announces a body it never sends in full.
        let head = format!(
            "PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 5\r\n\
             Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
            MIB
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&[1u8; 1000]).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 409"), "{}", String::from_utf8_lossy(&answer));
        // The server shut its side after the answer; once it gave up waiting, writes fail.
        std::thread::sleep(Duration::from_secs(3));
        (0..20).find_map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            stream.write_all(&[1u8; 1000]).err()
        })
    })
    .await
    .unwrap();
    assert!(outcome.is_some(), "the server still reads from a client that went silent");
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
