//! A throwaway moto S3 emulator for tests (feature `moto`), started with the project's
//! `scripts/moto.sh` (which installs moto 5.2.5 into a venv when it is missing).

use crate::S3Connection;
use std::time::{Duration, Instant};
use tus_cloud::emulator::{Emulator, EmulatorCommand};

/// A moto server on a free loopback port; killed when dropped.
#[derive(Debug)]
pub struct Moto {
    emulator: Emulator,
}

impl Moto {
    /// Starts moto with S3's real 5 MiB minimum part size.
    pub fn start() -> Self {
        Self::start_with_min_part_size(None)
    }

    /// Starts moto; `min_part_size` lowers its minimum part size (`S3_UPLOAD_PART_MIN_SIZE`).
    ///
    /// # Panics
    /// When moto cannot be installed or does not start within 5 minutes.
    pub fn start_with_min_part_size(min_part_size: Option<u64>) -> Self {
        Self::start_with_env(min_part_size, &[])
    }

    /// Starts moto with extra environment variables, e.g.
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0` to make it check credentials. Its log is shown
    /// while `TUS_MOTO_LOG` is set.
    ///
    /// # Panics
    /// When moto cannot be installed or does not start within 5 minutes.
    pub fn start_with_env(min_part_size: Option<u64>, env: &[(&str, &str)]) -> Self {
        let mut command = EmulatorCommand::new("moto.sh").log_env("TUS_MOTO_LOG");
        for (key, value) in env {
            command = command.env(*key, *value);
        }
        if let Some(min) = min_part_size {
            command = command.env("S3_UPLOAD_PART_MIN_SIZE", min.to_string());
        }
        Self { emulator: command.start() }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.emulator.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.emulator.endpoint()
    }

    /// The connection to it: credentials `test`/`test`, region `us-east-1`, path-style.
    pub fn connection(&self) -> S3Connection {
        S3Connection::new("test", "test").endpoint(self.endpoint())
    }

    /// Creates `bucket` without an async runtime (a plain HTTP PUT: moto does not check
    /// signatures), retrying while moto warms up.
    ///
    /// # Panics
    /// When the bucket cannot be created within a minute.
    pub fn create_bucket_blocking(&self, bucket: &str) {
        self.emulator.request_blocking("PUT", &format!("/{bucket}"), &[], "", &[200]);
    }

    /// Creates `bucket` (retrying while moto warms up) and returns a client.
    ///
    /// # Panics
    /// When the bucket cannot be created within a minute.
    pub async fn create_bucket(&self, bucket: &str) -> aws_sdk_s3::Client {
        let client = self.connection().client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match client.create_bucket().bucket(bucket).send().await {
                Ok(_) => return client,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), "moto not ready");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create bucket {bucket}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)),
            }
        }
    }
}
