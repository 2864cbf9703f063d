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
    let mut command = cleanup_command("s3", bucket, prefix, extra);
    s3_env(&mut command, moto);
    run(command)
}

/// Runs `tus cleanup --storage gcs` on the emulator's `bucket` under `prefix` with `extra` flags.
///
/// # Panics
/// When it runs longer than two minutes.
pub fn gcs_cleanup(emulator: &FakeGcs, bucket: &str, prefix: &str, extra: &[&str]) -> Output {
    let mut command = cleanup_command("gcs", bucket, prefix, extra);
    command.env("STORAGE_EMULATOR_HOST", emulator.endpoint());
    run(command)
}

/// Runs `tus cleanup --storage azure` on Azurite's `container` under `prefix` with `extra` flags.
///
/// # Panics
/// When it runs longer than two minutes.
pub fn azure_cleanup(emulator: &Azurite, container: &str, prefix: &str, extra: &[&str]) -> Output {
    let mut command = Command::new(super::tus_bin());
    command.args(["cleanup", "--storage", "azure", "--container", container, "--prefix", prefix]).args(extra);
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

fn cleanup_command(storage: &str, bucket: &str, prefix: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(super::tus_bin());
    command.args(["cleanup", "--storage", storage, "--bucket", bucket, "--prefix", prefix]).args(extra);
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
