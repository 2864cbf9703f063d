//! Graceful shutdown of the real process: SIGTERM/SIGINT during a slow PATCH makes it
//! persist what it received and answer 503, the process exits 0 within the shutdown
//! timeout, and a restart on the same --dir reports the persisted offset.

mod common;

use bytes::Bytes;
use common::{MIB, StreamingPatch, TUS, TusServer, request, sha256, test_data};
use http::Method;
use std::time::{Duration, Instant};

async fn signal_during_slow_patch(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let total = 8 * MIB;
    let data = test_data(total, 7);
    let mut server = TusServer::start(dir.path(), &["--shutdown-timeout", "5s"]);
    let path = server.create(total as u64).await;

    let patch = StreamingPatch::start(server.addr, &path, 0, total as u64).await;
    let sent = 2 * MIB + 12_345;
    patch.send(&data[..sent], 64 * 1024).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!patch.response.is_finished(), "the server answered a PATCH whose body is unfinished");

    let signalled = Instant::now();
    server.signal(signal);
    // The body stays open and silent: only the shutdown can end this request.
    let response = tokio::time::timeout(Duration::from_secs(10), patch.response)
        .await
        .expect("no answer to the in-flight PATCH after the signal")
        .unwrap();
    let status = tokio::task::spawn_blocking(move || server.wait_exit(Duration::from_secs(10)).map(|s| (s, server)))
        .await
        .unwrap();
    let elapsed = signalled.elapsed();
    let (status, server) = status.expect("the server did not exit within 10 s of the signal");
    assert_eq!(status.code(), Some(0), "exit status after {signal}: {status:?}");
    assert!(elapsed < Duration::from_secs(5) + Duration::from_millis(1500), "exit took {elapsed:?}");
    let response = response.expect("the in-flight PATCH got no response");
    assert_eq!(response.status, 503, "the in-flight PATCH was answered {response:?}: {}", response.text());
    assert!(response.text().starts_with("ERR_SERVER_SHUTDOWN"), "{}", response.text());
    drop(server);

    let server = TusServer::start(dir.path(), &[]);
    let offset = server.offset(&path).await as usize;
    eprintln!("{signal}: offset after shutdown {offset} of {sent} sent");
    assert!(offset > 0, "nothing of the interrupted PATCH was persisted");
    assert!(offset <= sent, "offset {offset} past the {sent} bytes sent");
    let rest = server.patch(&path, offset as u64, data[offset..].to_vec()).await;
    assert_eq!(rest.status, 204, "{rest:?}");
    assert_eq!(sha256(&server.download(&path).await), sha256(&data));
}

#[tokio::test]
async fn sigterm_during_slow_patch_persists_and_exits_0() {
    signal_during_slow_patch("TERM").await;
}

#[tokio::test]
async fn sigint_during_slow_patch_persists_and_exits_0() {
    signal_during_slow_patch("INT").await;
}

/// Idle keep-alive connections and connections that never sent a byte do not hold the
/// shutdown up: the process exits well before a long shutdown timeout.
#[tokio::test]
async fn idle_connections_do_not_delay_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TusServer::start(dir.path(), &["--shutdown-timeout", "30s"]);
    // A keep-alive connection that served one request and stays open.
    let mut idle = common::connect(server.addr).await.unwrap();
    let head = http::Request::options(&server.base_path)
        .header("host", server.addr.to_string())
        .header("tus-resumable", "1.0.0")
        .body(http_body_util::BodyExt::boxed(http_body_util::Full::new(Bytes::new())))
        .unwrap();
    let response = idle.send_request(head).await.unwrap();
    assert!(response.status().is_success());
    // A connection that never sends anything.
    let _silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let signalled = Instant::now();
    server.signal("TERM");
    let status = tokio::task::spawn_blocking(move || server.wait_exit(Duration::from_secs(40)))
        .await
        .unwrap()
        .expect("the server did not exit");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "idle connections held the shutdown for {:?}",
        signalled.elapsed()
    );
}

/// A response that cannot finish (a client that stopped reading a big download) is
/// waited for up to --shutdown-timeout, then dropped; the exit code is still 0. The
/// listener is closed meanwhile.
#[tokio::test]
async fn shutdown_timeout_bounds_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TusServer::start(dir.path(), &["--shutdown-timeout", "2s", "--durability", "buffered"]);
    let total = 48 * MIB;
    let path = server.create(total as u64).await;
    assert_eq!(server.patch(&path, 0, test_data(total, 9)).await.status, 204);

    // Read only the head of a 48 MiB download: the rest stays stuck in the socket.
    let mut sender = common::connect(server.addr).await.unwrap();
    let get = http::Request::get(&path)
        .header("host", server.addr.to_string())
        .body(http_body_util::BodyExt::boxed(http_body_util::Full::new(Bytes::new())))
        .unwrap();
    let response = sender.send_request(get).await.unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    server.signal("TERM");
    // While the download holds the process up, no new connection is accepted.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = request(server.addr, Method::OPTIONS, "/files", TUS, Bytes::new()).await;
    assert!(late.is_err(), "a new connection was served during the shutdown: {late:?}");
    let status = tokio::task::spawn_blocking(move || server.wait_exit(Duration::from_secs(15)))
        .await
        .unwrap()
        .expect("the server did not exit after the shutdown timeout");
    let elapsed = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(elapsed >= Duration::from_millis(1500), "the server did not wait for the open download ({elapsed:?})");
    assert!(elapsed < Duration::from_secs(6), "the shutdown timeout was not enforced ({elapsed:?})");
    drop(response);
}
