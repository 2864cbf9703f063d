//! `tus serve --storage azure` on a real Azurite (scripts/azurite.sh, through
//! AZURE_STORAGE_CONNECTION_STRING): upload, resume after a killed server, concatenation
//! across two instances sharing one container, termination, and a missing container or a
//! bad key failing at startup. Bytes are compared by SHA-256.

mod common;

use bytes::Bytes;
use common::{KIB, TusServer, sha256, test_data};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tus_azure::emulator::{ACCOUNT_KEY, Azurite};
use tus_core::{Storage as _, StorageError, UploadId};

/// `tus serve --storage azure` on the emulator's `container` under `prefix` with `extra`
/// flags, and 64 KiB blocks so that the test uploads span several.
fn serve_with(emulator: &Azurite, dir: &Path, container: &str, prefix: &str, extra: &[&str]) -> TusServer {
    let mut command = common::cloud::azure_command(emulator, dir, container, prefix);
    command.args(["--part-size", "64KiB"]).args(extra);
    TusServer::spawn(command, dir).unwrap_or_else(|e| panic!("{e}"))
}

/// `tus cleanup --storage azure` removes expired uploads (their info blob becomes a
/// tombstone) and leaves live uploads alone; --dry-run touches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_command_on_azure() {
    let emulator = Azurite::start();
    emulator.storage("sweep", |c| c).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Two servers on one container: one gives its uploads a second to live, one an hour;
    // the janitors never run, so only the command removes anything.
    let janitor_off = ["--janitor-interval", "1h"];
    let short =
        serve_with(&emulator, dir_a.path(), "sweep", "tus/", &[&["--expiration", "1s"][..], &janitor_off].concat());
    let long =
        serve_with(&emulator, dir_b.path(), "sweep", "tus/", &[&["--expiration", "1h"][..], &janitor_off].concat());
    let data = test_data(100 * KIB, 9);
    let expired = short.create(data.len() as u64).await;
    assert_eq!(short.patch(&expired, 0, Bytes::copy_from_slice(&data[..70 * KIB])).await.status, 204);
    let live = long.create(data.len() as u64).await;
    assert_eq!(long.patch(&live, 0, Bytes::copy_from_slice(&data[..20 * KIB])).await.status, 204);
    let expired_id = expired.rsplit('/').next().unwrap().to_owned();
    let live_id = live.rsplit('/').next().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // HEAD answers 410 for an expired upload whether it is removed or not: ask the storage,
    // which reports a tombstone as Gone and an expired live record as it is.
    let storage = emulator.storage("sweep", |c| c.prefix("tus/")).await;
    let expired_upload = UploadId::new(&expired_id).unwrap();

    let dry = common::cloud::azure_cleanup(&emulator, "sweep", "tus/", &["--dry-run"]);
    let out = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(out.contains(&format!("would remove {expired_id}")), "{out}");
    assert!(!out.contains(&live_id), "{out}");
    let kept = storage.info(&expired_upload).await;
    assert_eq!(kept.map(|info| info.offset).ok(), Some(70 * KIB as u64), "a dry run removes nothing");

    let real = common::cloud::azure_cleanup(&emulator, "sweep", "tus/", &[]);
    let out = String::from_utf8_lossy(&real.stdout).into_owned();
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stderr));
    assert!(out.contains(&format!("removed {expired_id}")), "{out}");
    assert!(out.contains("removed 1 expired upload(s) from azure://sweep/tus/"), "{out}");
    let removed = storage.info(&expired_upload).await;
    assert!(matches!(removed, Err(StorageError::Gone)), "the expired upload is a tombstone: {removed:?}");
    // A second sweep finds nothing: the tombstone is not listed as expired again.
    let again = common::cloud::azure_cleanup(&emulator, "sweep", "tus/", &[]);
    assert!(!String::from_utf8_lossy(&again.stdout).contains(&expired_id));

    // The live upload stays and goes on.
    assert_eq!(long.offset(&live).await, 20 * KIB as u64, "the live upload stays");
    let response = long.patch(&live, 20 * KIB as u64, Bytes::copy_from_slice(&data[20 * KIB..])).await;
    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(sha256(&long.download(&live).await), sha256(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resume_concatenate_terminate_on_azure() {
    let emulator = Azurite::start();
    emulator.storage("uploads", |c| c).await;
    common::cloud::upload_resume_concatenate_terminate(
        |dir, extra| serve_with(&emulator, dir, "uploads", "tus/", extra),
        "azure://uploads/tus/",
        async |id| emulator.blob_names("uploads", &format!("tus/data/{id}")).await.is_empty(),
    )
    .await;
}

fn serve_output(emulator: &Azurite, dir: &Path, container: &str, connection: &str) -> std::process::Output {
    Command::new(common::tus_bin())
        .args(["serve", "--port", "0", "--storage", "azure", "--container", container, "--dir"])
        .arg(dir)
        .env("AZURE_STORAGE_CONNECTION_STRING", connection)
        .output()
        .unwrap_or_else(|e| panic!("cannot run tus on port {}: {e}", emulator.port()))
}

fn error_line(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "the server must not start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("tus: ")).collect();
    assert_eq!(lines.len(), 1, "one clear line: {stderr}");
    lines[0].to_owned()
}

/// A missing container, a bad key or no connection string fails at startup with one clear line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_container_or_a_bad_key_fails_at_startup() {
    let emulator = Azurite::start();
    emulator.storage("present", |c| c).await;
    let dir = tempfile::tempdir().unwrap();
    let line = error_line(&serve_output(&emulator, dir.path(), "nope", &emulator.connection_string()));
    assert!(
        line.contains("cannot use --storage azure: Azure configuration: the container \"nope\" does not exist"),
        "{line}"
    );
    let bad_key = emulator.connection_string().replace(ACCOUNT_KEY, "YmFkIGtleQ==");
    let line = error_line(&serve_output(&emulator, dir.path(), "present", &bad_key));
    assert!(line.contains("cannot use --storage azure") && line.contains("refused"), "{line}");
    let line = error_line(&serve_output(&emulator, dir.path(), "present", "AccountName=x"));
    assert!(line.contains("no AccountKey"), "{line}");

    let output = Command::new(common::tus_bin())
        .args(["serve", "--port", "0", "--storage", "azure", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "--container is required with --storage azure");
}
