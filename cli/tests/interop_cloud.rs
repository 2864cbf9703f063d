//! The real-client interop scenarios (tus-js-client and tuspy, the same ones the binary and
//! the example apps run) against `tus serve` on the cloud backends: S3 on moto and GCS on
//! fake-gcs-server, both started by the project's scripts. Bytes compared by SHA-256.

mod common;

use common::TusServer;
use std::process::Command;
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

fn spawn<E>(emulator: E, configure: impl FnOnce(&mut Command, &E)) -> CloudServed<E> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(common::tus_bin());
    command.args(["serve", "--port", "0", "--dir"]).arg(dir.path());
    configure(&mut command, &emulator);
    let server = TusServer::spawn(command, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    CloudServed { server, _dir: dir, _emulator: emulator }
}

/// `tus serve --storage s3` on moto, at S3's real 5 MiB part minimum.
async fn s3() -> CloudServed<Moto> {
    let moto = Moto::start();
    moto.create_bucket("interop").await;
    spawn(moto, |command, moto| {
        command
            .args(["--storage", "s3", "--bucket", "interop", "--prefix", "tus/"])
            .env("AWS_ENDPOINT_URL_S3", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
    })
}

/// `tus serve --storage gcs` on fake-gcs-server.
async fn gcs() -> CloudServed<FakeGcs> {
    let emulator = FakeGcs::start();
    emulator.storage("interop", |c| c).await;
    spawn(emulator, |command, emulator| {
        command
            .args(["--storage", "gcs", "--bucket", "interop", "--prefix", "tus/"])
            .env("STORAGE_EMULATOR_HOST", emulator.endpoint());
    })
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
