//! Two `tus serve --lock redis` instances sharing one --dir and one real redis-server:
//! racing PATCHes split across them, a client alternating between them, an instance killed
//! mid-PATCH, and Redis going away and coming back.

mod common;

use bytes::Bytes;
use common::race::race;
use common::redis::{RedisServer, free_port};
use common::{MIB, StreamingPatch, TusServer, patch_headers, request, sha256, test_data};
use http::Method;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The lease TTL the instances run with: how long a dead instance's lock stays taken.
const LEASE_TTL: Duration = Duration::from_secs(3);

/// `tus serve --lock redis` on `dir`.
fn start_instance(dir: &Path, redis: &RedisServer) -> TusServer {
    let url = redis.url();
    let ttl = format!("{}s", LEASE_TTL.as_secs());
    TusServer::start(dir, &["--lock", "redis", "--redis-url", &url, "--redis-lease-ttl", &ttl])
}

/// Two instances on one --dir and one Redis.
fn start_pair(dir: &Path, redis: &RedisServer) -> [TusServer; 2] {
    [start_instance(dir, redis), start_instance(dir, redis)]
}

/// 100 PATCHes at offset 0 of one upload, half on each instance, each with its own bytes:
/// whatever lands at each offset is one writer's bytes, at most one request is told it
/// succeeded, and the completed upload is byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_patches_split_across_instances() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let servers = start_pair(dir.path(), &redis);
    // Whole bodies at once, then bodies trickled so that all 100 overlap and keep asking
    // each other (across instances) to let go.
    race(&servers, 100, MIB / 2, 100, None).await;
    race(&servers, 100, MIB / 2, 200, Some(Duration::from_millis(5))).await;
}

/// A client that sends each 1 MiB chunk of a 50 MiB upload to the other instance. After
/// every chunk, HEAD on both instances reports the new offset at once: each instance caches
/// records for HEAD, and the commit stamp in uploads.lock must tell it of the other's commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_alternating_instances_completes_a_50_mib_upload() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let servers = start_pair(dir.path(), &redis);
    let total = 50 * MIB;
    let data = test_data(total, 50);
    let path = servers[0].create(total as u64).await;
    let started = Instant::now();
    for (n, chunk) in data.chunks(MIB).enumerate() {
        let server = &servers[n % 2];
        let offset = (n * MIB) as u64;
        let response = server.patch(&path, offset, chunk.to_vec()).await;
        assert_eq!(response.status, 204, "chunk {n} on instance {}: {response:?}", n % 2);
        let expected = offset + chunk.len() as u64;
        assert_eq!(response.header("upload-offset"), Some(expected.to_string().as_str()), "chunk {n}");
        for (i, server) in servers.iter().enumerate() {
            // Twice: the first HEAD may fill the cache, the second answers from it.
            for _ in 0..2 {
                assert_eq!(server.offset(&path).await, expected, "HEAD on instance {i} after chunk {n}");
            }
        }
    }
    eprintln!("50 MiB in 50 alternating PATCHes: {:?}", started.elapsed());
    let want = sha256(&data);
    assert_eq!(sha256(&servers[1].download(&path).await), want);
    assert_eq!(sha256(&servers[0].download(&path).await), want);
}

/// A PATCH stalled on instance A (a client whose connection died without A noticing) holds
/// the upload's lock; the client resumes on instance B, whose request asks A, through Redis,
/// to let go: A persists what it received and answers 423, B answers at once (not after
/// the lock timeout or the lease TTL), and the upload completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_on_one_instance_frees_an_upload_stalled_on_the_other() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = start_pair(dir.path(), &redis);
    let total = 6 * MIB;
    let data = test_data(total, 6);
    let path = a.create(total as u64).await;

    let stalled = StreamingPatch::start(a.addr, &path, 0, total as u64).await;
    stalled.send(&data[..2 * MIB], 64 * 1024).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stalled.response.is_finished());

    let started = Instant::now();
    let offset = b.offset(&path).await;
    let body = Bytes::copy_from_slice(&data[offset as usize..]);
    let first = request(b.addr, Method::PATCH, &path, &patch_headers(offset), body).await;
    let answered = started.elapsed();
    eprintln!("B answered {:?} after {answered:?}", first.as_ref().map(|r| r.status));
    assert!(answered < Duration::from_secs(2), "B waited {answered:?} for the lock");
    let interrupted = tokio::time::timeout(Duration::from_secs(5), stalled.response)
        .await
        .expect("A answered the stalled PATCH")
        .unwrap()
        .expect("A's answer arrived");
    assert_eq!(interrupted.status, 423, "{interrupted:?}");
    assert!(interrupted.text().starts_with("ERR_UPLOAD_INTERRUPTED"), "{}", interrupted.text());

    // B found either the offset it was told (204) or the bytes A persisted meanwhile (409).
    // The 409 may come while B still sends its 6 MiB: the server drains the rest of the
    // body before closing (lingering close), so B reads the 409, not a cut connection.
    let first = first.expect("B's PATCH is answered");
    if first.status != 204 {
        assert_eq!(first.status, 409, "{first:?}: {}", first.text());
        let offset = b.offset(&path).await;
        assert!(offset <= 2 * MIB as u64, "A persisted {offset} bytes but received only 2 MiB");
        let rest = b.patch(&path, offset, data[offset as usize..].to_vec()).await;
        assert_eq!(rest.status, 204, "{rest:?}: {}", rest.text());
    }
    assert_eq!(sha256(&a.download(&path).await), sha256(&data));
}

/// kill -9 of the instance holding an upload's lock in the middle of a slow PATCH: its
/// lease expires, the other instance takes the upload over within the lease TTL, and the
/// upload completes byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_instance_takes_over_after_kill_9_mid_patch() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let [mut a, b] = start_pair(dir.path(), &redis);
    let total = 8 * MIB;
    let data = test_data(total, 9);
    let path = a.create(total as u64).await;
    let first = a.patch(&path, 0, data[..MIB].to_vec()).await;
    assert_eq!(first.status, 204, "{first:?}");

    // A slow PATCH on A: 2 MiB go out, then the body stalls while A holds the lock.
    let patch = StreamingPatch::start(a.addr, &path, MIB as u64, (total - MIB) as u64).await;
    let sent = 2 * MIB;
    patch.send(&data[MIB..MIB + sent], 64 * 1024).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!patch.response.is_finished(), "A answered a PATCH whose body is unfinished");
    a.kill9();
    let killed = Instant::now();
    drop(patch);

    let offset = b.offset(&path).await as usize;
    assert!(offset >= MIB && offset <= MIB + sent, "offset {offset} after kill -9");
    // B's PATCH waits for A's lease to expire (A cannot answer release requests any more).
    let rest = b.patch(&path, offset as u64, data[offset..].to_vec()).await;
    let took_over = killed.elapsed();
    assert_eq!(rest.status, 204, "{rest:?}: {}", rest.text());
    assert_eq!(rest.header("upload-offset"), Some(total.to_string().as_str()));
    eprintln!("B completed the upload {took_over:?} after A was killed (lease TTL {LEASE_TTL:?})");
    assert!(took_over < LEASE_TTL + Duration::from_secs(2), "took {took_over:?}");
    assert_eq!(sha256(&b.download(&path).await), sha256(&data));
}

/// Redis stops during an upload: the PATCH in flight is told to stop before its lease
/// could expire and keeps what it received (503 ERR_LOCK_LOST); new PATCHes get a clear 503
/// (ERR_UNAVAILABLE) on both instances; HEAD still works and nothing is lost. When Redis is
/// back on the same port, the upload resumes and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_answers_503_and_the_upload_resumes_after() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let servers = start_pair(dir.path(), &redis);
    let total = 4 * MIB;
    let data = test_data(total, 4);
    let path = servers[0].create(total as u64).await;
    let first = servers[0].patch(&path, 0, data[..MIB].to_vec()).await;
    assert_eq!(first.status, 204, "{first:?}");

    // A PATCH in flight on instance 0 when Redis goes away.
    let in_flight = StreamingPatch::start(servers[0].addr, &path, MIB as u64, (total - MIB) as u64).await;
    in_flight.send(&data[MIB..2 * MIB], 64 * 1024).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!in_flight.response.is_finished());

    redis.kill();
    let killed = Instant::now();
    let stopped = tokio::time::timeout(LEASE_TTL + Duration::from_secs(2), in_flight.response)
        .await
        .expect("the holder that cannot renew its lease is told to stop")
        .unwrap()
        .expect("an answer");
    let after = killed.elapsed();
    eprintln!("the PATCH in flight was stopped {after:?} after Redis died: {}", stopped.text().trim_end());
    assert_eq!(stopped.status, 503, "{stopped:?}: {}", stopped.text());
    assert!(stopped.text().starts_with("ERR_LOCK_LOST: "), "{}", stopped.text());
    assert!(stopped.header("retry-after").is_some(), "{stopped:?}");
    assert!(after < LEASE_TTL, "stopped {after:?} after Redis died: later than the lease could expire");
    assert_eq!(stopped.header("upload-offset"), None);

    let offset = 2 * MIB as u64;
    for (n, server) in servers.iter().enumerate() {
        // HEAD takes no lock: it still answers, and what was received is kept.
        assert_eq!(server.offset(&path).await, offset, "instance {n}");
        for _ in 0..2 {
            let started = Instant::now();
            let refused = server.patch(&path, offset, data[2 * MIB..3 * MIB].to_vec()).await;
            let took = started.elapsed();
            assert_eq!(refused.status, 503, "instance {n}: {refused:?}: {}", refused.text());
            assert!(refused.text().starts_with("ERR_UNAVAILABLE: "), "instance {n}: {}", refused.text());
            assert!(refused.header("retry-after").is_some(), "instance {n}: {refused:?}");
            assert!(took < Duration::from_secs(3), "instance {n}: the 503 took {took:?}");
            eprintln!("instance {n}: 503 after {took:?}: {}", refused.text().trim_end());
        }
        assert_eq!(server.offset(&path).await, offset, "instance {n}");
    }

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let resumed = loop {
        let response = servers[1].patch(&path, offset, data[2 * MIB..3 * MIB].to_vec()).await;
        if response.status == 204 {
            break response;
        }
        assert_eq!(response.status, 503, "{response:?}: {}", response.text());
        assert!(Instant::now() < deadline, "PATCH still refused 10 s after Redis came back: {}", response.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(resumed.header("upload-offset"), Some((3 * MIB).to_string().as_str()));
    let rest = servers[0].patch(&path, 3 * MIB as u64, data[3 * MIB..].to_vec()).await;
    assert_eq!(rest.status, 204, "{rest:?}: {}", rest.text());
    assert_eq!(sha256(&servers[1].download(&path).await), sha256(&data));
}

/// `--lock redis` with no Redis there: one clear line on stderr and exit code 1.
#[tokio::test]
async fn an_unreachable_redis_at_startup_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("redis://:secret@127.0.0.1:{port}");
    let started = Instant::now();
    let output = Command::new(common::tus_bin())
        .args(["serve", "--port", "0", "--lock", "redis", "--redis-url", &url, "--dir"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("tus runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(output.stdout.is_empty(), "nothing served: {:?}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let want = format!("tus: error: cannot use --lock redis: cannot reach Redis at redis://:***@127.0.0.1:{port}: ");
    assert!(lines[0].starts_with(&want), "{stderr}");
    assert!(!stderr.contains("secret"), "the password is masked: {stderr}");

    // And without --redis-url, clap says so (exit code 2).
    let status = Command::new(common::tus_bin())
        .args(["serve", "--port", "0", "--lock", "redis", "--dir"])
        .arg(dir.path())
        .env_remove("TUS_REDIS_URL")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

/// The lease of a PATCH in flight disappears from Redis (as after a failover that lost it):
/// at its next renewal the holder stops, stores what it received and answers 503
/// ERR_LOCK_LOST with Retry-After; the client resumes from HEAD and the bytes are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_stops_the_patch_with_503_and_keeps_its_bytes() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let server = start_instance(dir.path(), &redis);
    let total = 2 * MIB;
    let data = test_data(total, 11);
    let path = server.create(total as u64).await;
    let id = path.rsplit('/').next().unwrap().to_owned();

    let patch = StreamingPatch::start(server.addr, &path, 0, total as u64).await;
    patch.send(&data[..MIB / 2], 64 * 1024).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(redis.command(&["EXISTS", &format!("tus:lock:{id}")]).starts_with(":1"), "the lease is held");
    assert!(redis.command(&["DEL", &format!("tus:lock:{id}")]).starts_with(":1"));
    let deleted = Instant::now();

    let response = tokio::time::timeout(LEASE_TTL, patch.response)
        .await
        .expect("the holder notices at its next renewal (every third of the TTL)")
        .unwrap()
        .expect("an answer");
    eprintln!("lease loss answered {:?} after the DEL: {}", deleted.elapsed(), response.text().trim_end());
    assert_eq!(response.status, 503, "{response:?}: {}", response.text());
    assert!(response.text().starts_with("ERR_LOCK_LOST: "), "{}", response.text());
    assert_eq!(response.header("retry-after"), Some("1"));

    // What arrived before the loss was stored; the client resumes from there.
    let offset = server.offset(&path).await as usize;
    assert_eq!(offset, MIB / 2, "every byte sent before the loss was kept, none invented");
    let rest = server.patch(&path, offset as u64, data[offset..].to_vec()).await;
    assert_eq!(rest.status, 204, "{rest:?}: {}", rest.text());
    assert_eq!(sha256(&server.download(&path).await), sha256(&data));
}
