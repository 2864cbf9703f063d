//! The black-box conformance checks that need no in-process handle (the 57 of
//! `tus_example_harness::conformance_checks!`) against `tus serve` on each cloud backend:
//! S3 on moto, GCS on fake-gcs-server, Azure Blob on Azurite. One emulator per backend
//! for the whole binary (it stops with the test process), a fresh `tus serve` with its
//! own prefix for each check. The whole suite (121 checks) also runs on each backend
//! in-process: the `s3`, `gcs` and `azure` features of tests/.

mod common;

use common::{TusServer, cloud};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::OnceCell;
use tus_azure::emulator::Azurite;
use tus_example_harness::conformance::RunningServer;
use tus_gcs::emulator::FakeGcs;
use tus_s3::moto::Moto;

const BUCKET: &str = "conformance";

/// A prefix no other check of this binary uses.
fn fresh_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("check-{}/", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `tus serve` started by `command` (given a data directory), as a launcher.
fn serve(name: &str, command: impl FnOnce(&std::path::Path) -> std::process::Command) -> RunningServer {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = TusServer::spawn(command(dir.path()), dir.path()).unwrap_or_else(|e| panic!("{e}"));
    RunningServer::new(name, &server.url.clone(), (server, dir))
}

async fn s3() -> RunningServer {
    static MOTO: OnceCell<Moto> = OnceCell::const_new();
    let moto = MOTO
        .get_or_init(|| async {
            let moto = Moto::start();
            moto.create_bucket(BUCKET).await;
            moto
        })
        .await;
    serve("tus serve --storage s3", |dir| cloud::s3_command(moto, dir, BUCKET, &fresh_prefix()))
}

async fn gcs() -> RunningServer {
    static FAKE_GCS: OnceCell<FakeGcs> = OnceCell::const_new();
    let emulator = FAKE_GCS
        .get_or_init(|| async {
            let emulator = FakeGcs::start();
            emulator.storage(BUCKET, |c| c).await;
            emulator
        })
        .await;
    serve("tus serve --storage gcs", |dir| cloud::gcs_command(emulator, dir, BUCKET, &fresh_prefix()))
}

async fn azure() -> RunningServer {
    static AZURITE: OnceCell<Azurite> = OnceCell::const_new();
    let emulator = AZURITE
        .get_or_init(|| async {
            let emulator = Azurite::start();
            emulator.storage(BUCKET, |c| c).await;
            emulator
        })
        .await;
    serve("tus serve --storage azure", |dir| cloud::azure_command(emulator, dir, BUCKET, &fresh_prefix()))
}

mod s3 {
    tus_example_harness::conformance_checks!(launcher: super::s3());
}
mod gcs {
    tus_example_harness::conformance_checks!(launcher: super::gcs());
}
mod azure {
    tus_example_harness::conformance_checks!(launcher: super::azure());
}
