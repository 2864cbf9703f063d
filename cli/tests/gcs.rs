//! `tus serve --storage gcs` on a real fake-gcs-server (scripts/fake-gcs.sh, through
//! STORAGE_EMULATOR_HOST): upload, resume after a killed server, concatenation across two
//! instances sharing one bucket, termination, and a missing bucket failing at startup.
//! Bytes are compared by SHA-256.

mod common;

use bytes::Bytes;
use common::{KIB, TusServer, request, sha256, test_data};
use http::Method;
use std::path::Path;
use std::process::Command;
use tus_gcs::emulator::FakeGcs;

/// `tus serve --storage gcs` on the emulator's `bucket` under `prefix`.
fn serve(emulator: &FakeGcs, dir: &Path, bucket: &str, prefix: &str) -> TusServer {
    TusServer::spawn(common::cloud::gcs_command(emulator, dir, bucket, prefix), dir).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resume_concatenate_terminate_on_gcs() {
    let emulator = FakeGcs::start();
    emulator.storage("uploads", |c| c).await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(&emulator, dir.path(), "uploads", "tus/");
    assert!(server.line.contains("(storage: gs://uploads/tus/)"), "{}", server.line);

    // Half an upload, then the server is killed; a new one resumes from HEAD's offset.
    let data = test_data(600 * KIB, 1);
    let path = server.create(data.len() as u64).await;
    let response = server.patch(&path, 0, Bytes::copy_from_slice(&data[..250 * KIB])).await;
    assert_eq!(response.status, 204, "{}", response.text());
    server.kill9();
    let server = serve(&emulator, dir.path(), "uploads", "tus/");
    assert_eq!(server.offset(&path).await, 250 * KIB as u64);
    let response = server.patch(&path, 250 * KIB as u64, Bytes::copy_from_slice(&data[250 * KIB..])).await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(sha256(&server.download(&path).await), sha256(&data));

    // A second instance on the same bucket: partials on each, the final on the second.
    let other_dir = tempfile::tempdir().unwrap();
    let other = serve(&emulator, other_dir.path(), "uploads", "tus/");
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
    let response = request(server.addr, Method::DELETE, &path, common::TUS, Bytes::new()).await.unwrap();
    assert_eq!(response.status, 204);
    let head = request(other.addr, Method::HEAD, &path, common::TUS, Bytes::new()).await.unwrap();
    assert_eq!(head.status, 410);
    let id = path.rsplit('/').next().unwrap();
    assert!(emulator.objects("uploads", &format!("tus/data/{id}")).await.is_empty(), "its bytes are deleted");
}

/// A missing bucket fails at startup with one clear line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_fails_at_startup() {
    let emulator = FakeGcs::start();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(common::tus_bin())
        .args(["serve", "--port", "0", "--storage", "gcs", "--bucket", "nope", "--dir"])
        .arg(dir.path())
        .env("STORAGE_EMULATOR_HOST", emulator.endpoint())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().find(|l| l.starts_with("tus: ")).unwrap_or_default();
    assert!(
        line.contains("cannot use --storage gcs: GCS configuration: the bucket \"nope\" does not exist"),
        "{stderr}"
    );

    let output = Command::new(common::tus_bin())
        .args(["serve", "--port", "0", "--storage", "gcs", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "--bucket is required with --storage gcs");
}
