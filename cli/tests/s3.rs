//! `tus serve --storage s3` on a real moto S3 emulator (scripts/moto.sh): upload, resume
//! after a killed server, checksum rollback, deferred length, concatenation of partials
//! below and above S3's 5 MiB minimum, termination, expiry cleanup, and two instances
//! (with the Redis locker) sharing one bucket. Bytes are compared by SHA-256.

mod common;

use base64::Engine as _;
use bytes::Bytes;
use common::{KIB, MIB, StreamingPatch, TusServer, eventually, patch_headers, request, sha256, test_data};
use http::Method;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tus_s3::aws_sdk_s3;
use tus_s3::moto::Moto;

/// The part size the small-part tests run with (moto's minimum lowered to match).
const PART: usize = 256 * KIB;

/// `tus serve --storage s3` on `moto`'s `bucket` under `prefix`.
fn serve(moto: &Moto, dir: &Path, bucket: &str, prefix: &str, part: usize, extra: &[&str]) -> TusServer {
    let mut command = common::cloud::s3_command(moto, dir, bucket, prefix);
    command
        .args(["--part-concurrency", "2"])
        .args(["--part-size", &part.to_string(), "--min-part-size", &part.min(5 * MIB).to_string()])
        .args(extra);
    TusServer::spawn(command, dir).unwrap_or_else(|e| panic!("{e}"))
}

async fn keys(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let out = client.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    out.contents.unwrap_or_default().into_iter().filter_map(|o| o.key).collect()
}

async fn multipart_uploads(client: &aws_sdk_s3::Client, bucket: &str) -> usize {
    let out = client.list_multipart_uploads().bucket(bucket).send().await.unwrap();
    out.uploads.unwrap_or_default().len()
}

/// PATCHes `data` from `start` in requests of `step` bytes, each expected to succeed.
async fn patch_all(server: &TusServer, path: &str, data: &[u8], start: usize, step: usize) {
    let mut offset = start;
    while offset < data.len() {
        let end = (offset + step).min(data.len());
        let response = server.patch(path, offset as u64, Bytes::copy_from_slice(&data[offset..end])).await;
        assert_eq!(response.status, 204, "PATCH at {offset}: {}", response.text());
        assert_eq!(response.header("upload-offset"), Some(end.to_string().as_str()));
        offset = end;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resume_checksum_deferred_terminate_on_s3() {
    let moto = Moto::start_with_min_part_size(Some(PART as u64));
    let client = moto.create_bucket("uploads").await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(&moto, dir.path(), "uploads", "tus/", PART, &[]);
    assert!(server.line.contains("(storage: s3://uploads/tus/)"), "{}", server.line);

    // Upload in PATCHes that do not line up with parts.
    let data = test_data(3 * MIB + 123, 1);
    let path = server.create(data.len() as u64).await;
    patch_all(&server, &path, &data, 0, 700 * KIB).await;
    assert_eq!(sha256(&server.download(&path).await), sha256(&data), "downloaded bytes");
    let id = path.rsplit('/').next().unwrap().to_owned();
    assert!(
        keys(&client, "uploads", "tus/").await.contains(&format!("tus/{id}")),
        "the object is named after the upload"
    );

    // A server killed mid-PATCH: a new one on the same bucket resumes, bytes intact.
    let data = test_data(2 * MIB, 2);
    let path = server.create(data.len() as u64).await;
    patch_all(&server, &path, &data[..600 * KIB], 0, 600 * KIB).await;
    let patch = StreamingPatch::start(server.addr, &path, 600 * KIB as u64, (data.len() - 600 * KIB) as u64).await;
    patch.send(&data[600 * KIB..1500 * KIB], 64 * KIB).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill9();
    drop(patch);
    let server = serve(&moto, dir.path(), "uploads", "tus/", PART, &[]);
    let offset = server.offset(&path).await as usize;
    assert!((600 * KIB..=1500 * KIB).contains(&offset), "offset after the kill: {offset}");
    patch_all(&server, &path, &data, offset, 512 * KIB).await;
    assert_eq!(sha256(&server.download(&path).await), sha256(&data), "bytes after resuming");

    // A checksum mismatch rolls back: the offset stays, the next PATCH goes on from it.
    let data = test_data(PART + 50 * KIB, 3);
    let path = server.create(data.len() as u64).await;
    patch_all(&server, &path, &data[..100 * KIB], 0, 100 * KIB).await;
    let rest = &data[100 * KIB..];
    let wrong = base64::engine::general_purpose::STANDARD.encode([0u8; 20]);
    let mut headers = patch_headers(100 * KIB as u64);
    headers.push(("Upload-Checksum", format!("sha1 {wrong}")));
    let response = request(server.addr, Method::PATCH, &path, &headers, Bytes::copy_from_slice(rest)).await.unwrap();
    assert_eq!(response.status, 460, "{}", response.text());
    assert_eq!(server.offset(&path).await, 100 * KIB as u64, "the failed chunk is rolled back");
    patch_all(&server, &path, &data, 100 * KIB, rest.len()).await;
    assert_eq!(sha256(&server.download(&path).await), sha256(&data));

    // Deferred length: declared with the last PATCH.
    let data = test_data(PART * 2 + 10, 4);
    let path = server.create_with(&[("Upload-Defer-Length", "1")]).await;
    patch_all(&server, &path, &data[..PART + 7], 0, PART + 7).await;
    let mut headers = patch_headers((PART + 7) as u64);
    headers.push(("Upload-Length", data.len().to_string()));
    let body = Bytes::copy_from_slice(&data[PART + 7..]);
    let response = request(server.addr, Method::PATCH, &path, &headers, body).await.unwrap();
    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(sha256(&server.download(&path).await), sha256(&data), "deferred-length bytes");

    // Termination mid-upload aborts its multipart upload and deletes its objects.
    let path = server.create(4 * PART as u64).await;
    patch_all(&server, &path, &test_data(PART + 1, 5), 0, PART + 1).await;
    let id = path.rsplit('/').next().unwrap().to_owned();
    let response = request(server.addr, Method::DELETE, &path, common::TUS, Bytes::new()).await.unwrap();
    assert_eq!(response.status, 204);
    let head = request(server.addr, Method::HEAD, &path, common::TUS, Bytes::new()).await.unwrap();
    assert!(matches!(head.status, 404 | 410), "HEAD after DELETE: {}", head.status);
    let left: Vec<String> = keys(&client, "uploads", "tus/").await.into_iter().filter(|k| k.contains(&id)).collect();
    assert_eq!(left, vec![format!("tus/.tus/info/{id}")], "only the tombstone is left");
    assert_eq!(multipart_uploads(&client, "uploads").await, 0, "no multipart upload is left");
}

/// Concatenation at S3's real 5 MiB minimum: partials above, below and just above it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concatenation_on_s3_at_the_real_minimum() {
    let moto = Moto::start();
    moto.create_bucket("concat").await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&moto, dir.path(), "concat", "", 5 * MIB, &[]);
    let mut partials = Vec::new();
    let mut expected = Vec::new();
    for (n, size) in [6 * MIB, 300 * KIB, 5 * MIB + 1, 17].into_iter().enumerate() {
        let data = test_data(size, 10 + n as u64);
        let path = server.create_with(&[("Upload-Length", &size.to_string()), ("Upload-Concat", "partial")]).await;
        patch_all(&server, &path, &data, 0, 2 * MIB).await;
        partials.push(path);
        expected.extend_from_slice(&data);
    }
    let list = format!("final;{}", partials.join(" "));
    let final_path = server.create_with(&[("Upload-Concat", &list)]).await;
    assert_eq!(server.offset(&final_path).await, expected.len() as u64);
    assert_eq!(sha256(&server.download(&final_path).await), sha256(&expected), "concatenated bytes");
}

/// Unfinished uploads past their expiry are removed by the janitor, objects and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_uploads_are_cleaned_up_on_s3() {
    let moto = Moto::start_with_min_part_size(Some(PART as u64));
    let client = moto.create_bucket("expiry").await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&moto, dir.path(), "expiry", "", PART, &["--expiration", "2s", "--janitor-interval", "1s"]);
    let path = server.create(10 * PART as u64).await;
    patch_all(&server, &path, &test_data(PART + 5, 6), 0, PART + 5).await;
    let id = path.rsplit('/').next().unwrap().to_owned();
    assert_eq!(multipart_uploads(&client, "expiry").await, 1);
    let cleaned = eventually(Duration::from_secs(20), async || {
        let _ = request(server.addr, Method::OPTIONS, &server.base_path, common::TUS, Bytes::new()).await;
        let left: Vec<String> = keys(&client, "expiry", "").await.into_iter().filter(|k| k.contains(&id)).collect();
        left == vec![format!(".tus/info/{id}")] && multipart_uploads(&client, "expiry").await == 0
    })
    .await;
    assert!(cleaned, "the expired upload's objects and multipart upload are gone");
    let head = request(server.addr, Method::HEAD, &path, common::TUS, Bytes::new()).await.unwrap();
    assert_eq!(head.status, 410, "an expired upload is gone");
}

/// `tus cleanup --storage s3` removes expired uploads (objects and multipart upload), aborts
/// multipart uploads no upload refers to, and leaves live uploads alone; --dry-run touches
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_command_on_s3() {
    let moto = Moto::start_with_min_part_size(Some(PART as u64));
    let client = moto.create_bucket("sweep").await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Two servers on one bucket: one gives its uploads a second to live, one an hour; the
    // janitors never run, so only the command removes anything.
    let short = serve(&moto, dir_a.path(), "sweep", "tus/", PART, &["--expiration", "1s", "--janitor-interval", "1h"]);
    let long = serve(&moto, dir_b.path(), "sweep", "tus/", PART, &["--expiration", "1h", "--janitor-interval", "1h"]);
    let expired = short.create(4 * PART as u64).await;
    patch_all(&short, &expired, &test_data(PART + 3, 7), 0, PART + 3).await;
    let live = long.create(4 * PART as u64).await;
    patch_all(&long, &live, &test_data(PART + 4, 8), 0, PART + 4).await;
    // A multipart upload no tus upload refers to, as a crashed writer leaves behind.
    client.create_multipart_upload().bucket("sweep").key("tus/orphan").send().await.unwrap();
    assert_eq!(multipart_uploads(&client, "sweep").await, 3);
    let expired_id = expired.rsplit('/').next().unwrap().to_owned();
    let live_id = live.rsplit('/').next().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let dry = common::cloud::s3_cleanup(&moto, "sweep", "tus/", &["--dry-run", "--stale-after", "0s"]);
    let out = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(out.contains(&format!("would remove {expired_id}")), "{out}");
    assert!(!out.contains(&live_id), "{out}");
    assert_eq!(multipart_uploads(&client, "sweep").await, 3, "a dry run aborts nothing");
    // (HEAD answers 410 for an expired upload whether it is removed or not: look at the bucket.)
    let objects_of_expired = async || -> Vec<String> {
        keys(&client, "sweep", "tus/").await.into_iter().filter(|k| k.contains(&expired_id)).collect()
    };
    assert_eq!(objects_of_expired().await.len(), 2, "a dry run removes nothing (info and incomplete part)");

    let real = common::cloud::s3_cleanup(&moto, "sweep", "tus/", &["--stale-after", "0s"]);
    let out = String::from_utf8_lossy(&real.stdout).into_owned();
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stderr));
    assert!(out.contains(&format!("removed {expired_id}")), "{out}");
    assert!(out.contains("removed 1 expired upload(s) from s3://sweep/tus/"), "{out}");
    assert!(out.contains("removed 1 leftover object(s) of interrupted writes"), "the orphan multipart upload: {out}");
    assert_eq!(long.offset(&live).await, PART as u64 + 4, "the live upload stays");
    let left = objects_of_expired().await;
    assert_eq!(left, vec![format!("tus/.tus/info/{expired_id}")], "only the tombstone is left");
    assert_eq!(multipart_uploads(&client, "sweep").await, 1, "only the live upload's multipart upload is left");

    // The live upload goes on as if nothing happened (test_data of one seed shares its prefix).
    let data = test_data(4 * PART, 8);
    patch_all(&long, &live, &data, PART + 4, 2 * PART).await;
    assert_eq!(sha256(&long.download(&live).await), sha256(&data), "the live upload's bytes");
}

/// A missing bucket, missing credentials or refused credentials fail at startup with one clear line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_or_bad_credentials_fail_at_startup() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(common::tus_bin())
        .args(["serve", "--port", "0", "--storage", "s3", "--bucket", "nope", "--dir"])
        .arg(dir.path())
        .env("AWS_ENDPOINT_URL_S3", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().find(|l| l.starts_with("tus: ")).unwrap_or_default();
    assert!(line.contains("bucket \"nope\" does not exist"), "{stderr}");

    let output = Command::new(common::tus_bin())
        .args(["serve", "--port", "0", "--storage", "s3", "--bucket", "b", "--dir"])
        .arg(dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("AWS_ACCESS_KEY_ID is not set"));

    // Credentials the store refuses (moto checking them against its IAM).
    let checking = Moto::start_with_env(None, &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let output = Command::new(common::tus_bin())
        .args(["serve", "--port", "0", "--storage", "s3", "--bucket", "b", "--dir"])
        .arg(dir.path())
        .env("AWS_ENDPOINT_URL_S3", checking.endpoint())
        .env("AWS_ACCESS_KEY_ID", "wrong")
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().find(|l| l.starts_with("tus: ")).unwrap_or_default();
    assert!(line.contains("access to bucket \"b\" denied (check the credentials)"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Two instances, one bucket, one Redis.

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Redis {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("bash")
        .arg(common::repo_root().join("scripts/redis.sh"))
        .args(["start", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Killed and waited for when dropped, also when the start fails below.
    let redis = Redis(child, port);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let pong = TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
            let mut reply = [0u8; 7];
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
        });
        if pong {
            return redis;
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_bucket() {
    let moto = Moto::start_with_min_part_size(Some(PART as u64));
    moto.create_bucket("shared").await;
    let redis = start_redis();
    let url = format!("redis://127.0.0.1:{}", redis.1);
    let lock = ["--lock", "redis", "--redis-url", url.as_str()];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = serve(&moto, dir_a.path(), "shared", "p/", PART, &lock);
    let b = serve(&moto, dir_b.path(), "shared", "p/", PART, &lock);

    // PATCHes alternate between the instances.
    let data = test_data(5 * PART + 99, 7);
    let path = a.create(data.len() as u64).await;
    let mut offset = 0;
    for (n, step) in [PART / 3, PART + 5, 2 * PART, PART].into_iter().cycle().enumerate() {
        if offset == data.len() {
            break;
        }
        let server = if n % 2 == 0 { &a } else { &b };
        assert_eq!(server.offset(&path).await as usize, offset, "both instances see the committed offset");
        let end = (offset + step).min(data.len());
        let response = server.patch(&path, offset as u64, Bytes::copy_from_slice(&data[offset..end])).await;
        assert_eq!(response.status, 204, "{}", response.text());
        offset = end;
    }
    assert_eq!(sha256(&a.download(&path).await), sha256(&data));
    assert_eq!(sha256(&b.download(&path).await), sha256(&data));

    // Racing PATCHes at one offset on both instances: at most one applies.
    let total = 2 * PART;
    let path = a.create(total as u64).await;
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let (path, body) = (path.clone(), Bytes::from(test_data(total, 100 + i)));
        tasks.push(tokio::spawn(async move {
            request(addr, Method::PATCH, &path, &patch_headers(0), body).await.map(|r| r.status)
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(204) => winners += 1,
            Ok(409 | 423) | Err(_) => {}
            Ok(other) => panic!("unexpected status {other}"),
        }
    }
    assert!(winners <= 1, "{winners} racing PATCHes succeeded");
    let offset = a.offset(&path).await;
    assert_eq!(b.offset(&path).await, offset);
    if winners == 1 {
        let bytes = a.download(&path).await;
        assert!((0..8u64).any(|i| sha256(&bytes) == sha256(&test_data(total, 100 + i))), "one writer's bytes");
    }
}
