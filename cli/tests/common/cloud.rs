//! `tus serve` on the cloud emulators: the commands every cloud test starts from.

use std::path::Path;
use std::process::Command;
use tus_azure::emulator::Azurite;
use tus_gcs::emulator::FakeGcs;
use tus_s3::moto::Moto;

/// `tus serve --storage s3` on `moto`'s `bucket` under `prefix`, with its data dir in `dir`.
pub fn s3_command(moto: &Moto, dir: &Path, bucket: &str, prefix: &str) -> Command {
    let mut command = serve_command(dir);
    command
        .args(["--storage", "s3", "--bucket", bucket, "--prefix", prefix])
        .env("AWS_ENDPOINT_URL_S3", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    command
}

/// `tus serve --storage gcs` on the emulator's `bucket` under `prefix`.
pub fn gcs_command(emulator: &FakeGcs, dir: &Path, bucket: &str, prefix: &str) -> Command {
    let mut command = serve_command(dir);
    command
        .args(["--storage", "gcs", "--bucket", bucket, "--prefix", prefix])
        .env("STORAGE_EMULATOR_HOST", emulator.endpoint());
    command
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
