//! `tus serve --storage gcs` on a real fake-gcs-server (scripts/fake-gcs.sh, through
//! STORAGE_EMULATOR_HOST): upload, resume after a killed server, concatenation across two
//! instances sharing one bucket, termination, and a missing bucket failing at startup.
//! Bytes are compared by SHA-256.

mod common;

use bytes::Bytes;
use common::{KIB, TusServer, sha256, test_data};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tus_gcs::emulator::FakeGcs;

/// `tus serve --storage gcs` on the emulator's `bucket` under `prefix`, with `extra` flags.
fn serve_with(emulator: &FakeGcs, dir: &Path, bucket: &str, prefix: &str, extra: &[&str]) -> TusServer {
    let mut command = common::cloud::gcs_command(emulator, dir, bucket, prefix);
    command.args(extra);
    TusServer::spawn(command, dir).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resume_concatenate_terminate_on_gcs() {
    let emulator = FakeGcs::start();
    emulator.storage("uploads", |c| c).await;
    common::cloud::upload_resume_concatenate_terminate(
        |dir, extra| serve_with(&emulator, dir, "uploads", "tus/", extra),
        "gs://uploads/tus/",
        async |id| emulator.objects("uploads", &format!("tus/data/{id}")).await.is_empty(),
    )
    .await;
}

/// `tus cleanup --storage gcs` removes expired uploads (their part objects too) and leaves
/// live uploads alone; --dry-run touches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_command_on_gcs() {
    let emulator = FakeGcs::start();
    emulator.storage("sweep", |c| c).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Two servers on one bucket: one gives its uploads a second to live, one an hour; the
    // janitors never run, so only the command removes anything.
    let janitor_off = ["--janitor-interval", "1h"];
    let short =
        serve_with(&emulator, dir_a.path(), "sweep", "tus/", &[&["--expiration", "1s"][..], &janitor_off].concat());
    let long =
        serve_with(&emulator, dir_b.path(), "sweep", "tus/", &[&["--expiration", "1h"][..], &janitor_off].concat());
    let data = test_data(40 * KIB, 9);
    let expired = short.create(data.len() as u64).await;
    assert_eq!(short.patch(&expired, 0, Bytes::copy_from_slice(&data[..10 * KIB])).await.status, 204);
    let live = long.create(data.len() as u64).await;
    assert_eq!(long.patch(&live, 0, Bytes::copy_from_slice(&data[..20 * KIB])).await.status, 204);
    let expired_id = expired.rsplit('/').next().unwrap().to_owned();
    let live_id = live.rsplit('/').next().unwrap().to_owned();
    let parts_of = async |id: &str| -> Vec<String> {
        let objects = emulator.objects("sweep", "tus/").await.into_iter().map(|(name, _)| name);
        objects.filter(|name| name.contains(id) && !name.contains("info")).collect()
    };
    assert!(!parts_of(&expired_id).await.is_empty(), "the expired upload has a part object");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let dry = common::cloud::gcs_cleanup(&emulator, "sweep", "tus/", &["--dry-run"]);
    let out = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(out.contains(&format!("would remove {expired_id}")), "{out}");
    assert!(!out.contains(&live_id), "{out}");
    // (HEAD answers 410 for an expired upload whether it is removed or not: look at the bucket.)
    assert!(!parts_of(&expired_id).await.is_empty(), "a dry run removes nothing");

    let real = common::cloud::gcs_cleanup(&emulator, "sweep", "tus/", &[]);
    let out = String::from_utf8_lossy(&real.stdout).into_owned();
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stderr));
    assert!(out.contains(&format!("removed {expired_id}")), "{out}");
    assert!(out.contains("removed 1 expired upload(s) from gs://sweep/tus/"), "{out}");
    let left = parts_of(&expired_id).await;
    assert!(left.is_empty(), "the expired upload's parts are deleted: {left:?}");

    // The live upload stays and goes on.
    assert_eq!(long.offset(&live).await, 20 * KIB as u64, "the live upload stays");
    let response = long.patch(&live, 20 * KIB as u64, Bytes::copy_from_slice(&data[20 * KIB..])).await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(sha256(&long.download(&live).await), sha256(&data));
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
