//! The real-client interop scenarios (tus-js-client and tuspy, the same ones the binary and
//! the example apps run) against `tus serve` on the cloud backends: S3 on moto and GCS on
//! fake-gcs-server and Azure Blob on Azurite, all started by the project's scripts. Bytes compared by SHA-256.

mod common;

use common::{TusServer, cloud};
use std::process::Command;
use tus_azure::emulator::Azurite;
use tus_example_harness::interop::{Endpoint, InteropServer};
use tus_gcs::emulator::FakeGcs;
use tus_s3::moto::Moto;

/// A `tus serve` on a cloud emulator; the emulator stops after the server.
pub struct CloudServed<E> {
    server: TusServer,
    _dir: tempfile::TempDir,
    _emulator: E,
}

impl<E> InteropServer for CloudServed<E> {
    fn endpoint(&self) -> Endpoint {
        Endpoint::new(&self.server.url, None)
    }
}

/// Starts the server `command` builds on `emulator`, with a fresh data directory.
fn spawn<E>(emulator: E, command: impl FnOnce(&E, &std::path::Path) -> Command) -> CloudServed<E> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = TusServer::spawn(command(&emulator, dir.path()), dir.path()).unwrap_or_else(|e| panic!("{e}"));
    CloudServed { server, _dir: dir, _emulator: emulator }
}

/// `tus serve --storage s3` on moto, at S3's real 5 MiB part minimum.
async fn s3() -> CloudServed<Moto> {
    let moto = Moto::start();
    moto.create_bucket("interop").await;
    spawn(moto, |moto, dir| cloud::s3_command(moto, dir, "interop", "tus/"))
}

/// `tus serve --storage gcs` on fake-gcs-server.
async fn gcs() -> CloudServed<FakeGcs> {
    let emulator = FakeGcs::start();
    emulator.storage("interop", |c| c).await;
    spawn(emulator, |emulator, dir| cloud::gcs_command(emulator, dir, "interop", "tus/"))
}

/// `tus serve --storage azure` on Azurite.
async fn azure() -> CloudServed<Azurite> {
    let emulator = Azurite::start();
    emulator.storage("interop", |c| c).await;
    spawn(emulator, |emulator, dir| cloud::azure_command(emulator, dir, "interop", "tus/"))
}

mod s3_js {
    tus_example_harness::interop_tests!(js, super::s3());
}
mod s3_py {
    tus_example_harness::interop_tests!(py, super::s3());
}
mod gcs_js {
    tus_example_harness::interop_tests!(js, super::gcs());
}
mod gcs_py {
    tus_example_harness::interop_tests!(py, super::gcs());
}
mod azure_js {
    tus_example_harness::interop_tests!(js, super::azure());
}
mod azure_py {
    tus_example_harness::interop_tests!(py, super::azure());
}
