//! `tus serve` and `tus cleanup` on the cloud emulators: the commands every cloud test
//! starts from.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tus_azure::emulator::Azurite;
use tus_gcs::emulator::FakeGcs;
use tus_s3::moto::Moto;

/// How long one `tus cleanup` may run.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(120);

/// `tus serve --storage s3` on `moto`'s `bucket` under `prefix`, with its data dir in `dir`.
pub fn s3_command(moto: &Moto, dir: &Path, bucket: &str, prefix: &str) -> Command {
    let mut command = serve_command(dir);
    command.args(["--storage", "s3", "--bucket", bucket, "--prefix", prefix]);
    s3_env(&mut command, moto);
    command
}

/// `tus serve --storage gcs` on the emulator's `bucket` under `prefix`.
pub fn gcs_command(emulator: &FakeGcs, dir: &Path, bucket: &str, prefix: &str) -> Command {
    let mut command = serve_command(dir);
    command.args(["--storage", "gcs", "--bucket", bucket, "--prefix", prefix]);
    command.env("STORAGE_EMULATOR_HOST", emulator.endpoint());
    command
}

/// Runs `tus cleanup --storage s3` on `moto`'s `bucket` under `prefix` with `extra` flags.
///
/// # Panics
/// When it runs longer than two minutes.
pub fn s3_cleanup(moto: &Moto, bucket: &str, prefix: &str, extra: &[&str]) -> Output {
    let mut command = cleanup_command(["s3", "--bucket", bucket], prefix, extra);
    s3_env(&mut command, moto);
    run(command)
}

/// Runs `tus cleanup --storage gcs` on the emulator's `bucket` under `prefix` with `extra` flags.
///
/// # Panics
/// When it runs longer than two minutes.
pub fn gcs_cleanup(emulator: &FakeGcs, bucket: &str, prefix: &str, extra: &[&str]) -> Output {
    let mut command = cleanup_command(["gcs", "--bucket", bucket], prefix, extra);
    command.env("STORAGE_EMULATOR_HOST", emulator.endpoint());
    run(command)
}

/// Runs `tus cleanup --storage azure` on Azurite's `container` under `prefix` with `extra` flags.
///
/// # Panics
/// When it runs longer than two minutes.
pub fn azure_cleanup(emulator: &Azurite, container: &str, prefix: &str, extra: &[&str]) -> Output {
    let mut command = cleanup_command(["azure", "--container", container], prefix, extra);
    command.env("AZURE_STORAGE_CONNECTION_STRING", emulator.connection_string());
    run(command)
}

/// The standard AWS variables pointing at moto.
fn s3_env(command: &mut Command, moto: &Moto) {
    command
        .env("AWS_ENDPOINT_URL_S3", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
}

/// `tus serve --storage azure` on Azurite's `container` under `prefix`.
pub fn azure_command(emulator: &Azurite, dir: &Path, container: &str, prefix: &str) -> Command {
    let mut command = serve_command(dir);
    command
        .args(["--storage", "azure", "--container", container, "--prefix", prefix])
        .env("AZURE_STORAGE_CONNECTION_STRING", emulator.connection_string());
    command
}

fn serve_command(dir: &Path) -> Command {
    let mut command = Command::new(super::tus_bin());
    command.args(["serve", "--port", "0", "--dir"]).arg(dir);
    command
}

/// `tus cleanup --storage STORAGE --bucket|--container PLACE --prefix PREFIX EXTRA…`
/// (`[storage, place flag, place]`).
fn cleanup_command([storage, place_flag, place]: [&str; 3], prefix: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(super::tus_bin());
    command.args(["cleanup", "--storage", storage, place_flag, place, "--prefix", prefix]).args(extra);
    command
}

/// Runs `command` to its end (its output is a few lines: the pipes cannot fill up).
fn run(mut command: Command) -> Output {
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the binary runs");
    let deadline = Instant::now() + CLEANUP_TIMEOUT;
    while child.try_wait().expect("wait for the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`{command:?}` ran longer than {CLEANUP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the child's output")
}

/// The story every cloud backend's `tus serve` test tells, on servers `serve(dir, extra
/// flags)` starts on one bucket/container under `tus/`: half an upload, the server killed
/// with `kill -9`, a new one resuming from HEAD's offset; then two instances sharing upload
/// locks through a real Redis: partials created and written across both (100 KiB and
/// 30 KiB), the final on the second, byte-exact; termination on one seen as 410 on the
/// other, and `data_gone(id)` confirming the store no longer holds the bytes. The start
/// line must name `place` (e.g. `gs://uploads/tus/`).
pub async fn upload_resume_concatenate_terminate(
    serve: impl Fn(&Path, &[&str]) -> super::TusServer,
    place: &str,
    data_gone: impl AsyncFn(&str) -> bool,
) {
    use super::{KIB, TUS, redis::RedisServer, request, sha256, test_data};
    use bytes::Bytes;
    use http::Method;

    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path(), &[]);
    assert!(server.line.contains(&format!("(storage: {place})")), "{}", server.line);

    // Half an upload, then the server is killed; a new one resumes from HEAD's offset.
    let data = test_data(600 * KIB, 1);
    let path = server.create(data.len() as u64).await;
    let response = server.patch(&path, 0, Bytes::copy_from_slice(&data[..250 * KIB])).await;
    assert_eq!(response.status, 204, "{}", response.text());
    server.kill9();
    // From here on the instances share upload locks through a real Redis.
    let redis = RedisServer::start();
    let url = redis.url();
    let lock = ["--lock", "redis", "--redis-url", url.as_str()];
    let server = serve(dir.path(), &lock);
    assert_eq!(server.offset(&path).await, 250 * KIB as u64);
    let response = server.patch(&path, 250 * KIB as u64, Bytes::copy_from_slice(&data[250 * KIB..])).await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(sha256(&server.download(&path).await), sha256(&data));

    // A second instance on the same store (and Redis): partials on each, the final on the second.
    let other_dir = tempfile::tempdir().unwrap();
    let other = serve(other_dir.path(), &lock);
    let a = test_data(100 * KIB, 2);
    let b = test_data(30 * KIB, 3);
    let pa = server.create_with(&[("Upload-Length", &a.len().to_string()), ("Upload-Concat", "partial")]).await;
    let pb = other.create_with(&[("Upload-Length", &b.len().to_string()), ("Upload-Concat", "partial")]).await;
    assert_eq!(other.patch(&pa, 0, Bytes::from(a.clone())).await.status, 204);
    assert_eq!(server.patch(&pb, 0, Bytes::from(b.clone())).await.status, 204);
    let final_path = other.create_with(&[("Upload-Concat", &format!("final;{pb} {pa}"))]).await;
    let mut expected = b.clone();
    expected.extend_from_slice(&a);
    assert_eq!(sha256(&server.download(&final_path).await), sha256(&expected));

    // Termination on one instance is seen by the other.
    let response = request(server.addr, Method::DELETE, &path, TUS, Bytes::new()).await.unwrap();
    assert_eq!(response.status, 204);
    let head = request(other.addr, Method::HEAD, &path, TUS, Bytes::new()).await.unwrap();
    assert_eq!(head.status, 410);
    let id = path.rsplit('/').next().unwrap();
    assert!(data_gone(id).await, "the bytes of a terminated upload are deleted");
}
