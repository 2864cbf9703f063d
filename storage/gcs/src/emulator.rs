//! A throwaway fake-gcs-server for tests (feature `emulator`), started with the project's
//! `scripts/fake-gcs.sh` (which installs it into a venv when it is missing).

use crate::{GcsAuth, GcsConfig, GcsStorage};
use std::time::{Duration, Instant};
use tus_cloud::emulator::{Emulator, EmulatorCommand};

/// A fake-gcs-server on a free loopback port, holding objects in memory; killed when dropped.
#[derive(Debug)]
pub struct FakeGcs {
    emulator: Emulator,
}

impl FakeGcs {
    /// Installs (when missing) and starts the emulator. Its log is shown while
    /// `TUS_FAKE_GCS_LOG` is set.
    ///
    /// # Panics
    /// When it cannot be installed or does not start within 5 minutes.
    pub fn start() -> Self {
        Self { emulator: EmulatorCommand::new("fake-gcs.sh").log_env("TUS_FAKE_GCS_LOG").start() }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.emulator.port()
    }

    /// `http://127.0.0.1:PORT`, the value for `STORAGE_EMULATOR_HOST`.
    pub fn endpoint(&self) -> String {
        self.emulator.endpoint()
    }

    /// A configuration for `bucket` on this emulator, without credentials.
    pub fn config(&self, bucket: &str) -> GcsConfig {
        GcsConfig::new(bucket).endpoint(self.endpoint()).auth(GcsAuth::Anonymous)
    }

    /// Creates `bucket` without an async runtime (a plain HTTP request; the emulator
    /// needs no credentials), retrying while the emulator warms up.
    ///
    /// # Panics
    /// When the bucket cannot be created within a minute.
    pub fn create_bucket_blocking(&self, bucket: &str) {
        let body = format!("{{\"name\":\"{bucket}\"}}");
        let json = [("Content-Type", "application/json")];
        // 409: it exists already.
        self.emulator.request_blocking("POST", "/storage/v1/b?project=test-project", &json, &body, &[200, 409]);
    }

    /// Creates `bucket` (retrying while the emulator warms up) and connects to it.
    ///
    /// # Panics
    /// When the bucket cannot be created within a minute.
    pub async fn storage(&self, bucket: &str, config: impl FnOnce(GcsConfig) -> GcsConfig) -> GcsStorage {
        let storage = GcsStorage::new(config(self.config(bucket))).expect("a valid emulator configuration");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match storage.create_bucket("test-project").await {
                Ok(()) => break,
                // Only a refused connection means "not up yet".
                Err(e @ crate::GcsError::Transport(_)) => {
                    assert!(Instant::now() < deadline, "cannot create bucket {bucket}: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create bucket {bucket}: {e}"),
            }
        }
        storage
    }
}

impl FakeGcs {
    /// The emulator's process ID (for benchmarks that read its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.emulator.pid()
    }

    /// The JSON API client tus-gcs itself uses, on `bucket` of this emulator.
    fn api(&self, bucket: &str) -> crate::api::Api {
        crate::api::Api::new(
            reqwest::Client::new(),
            self.endpoint(),
            bucket.to_owned(),
            crate::auth::Authorizer::new(GcsAuth::Anonymous),
            Duration::from_secs(30),
        )
    }

    /// The names and sizes of the objects in `bucket` whose names start with `prefix`,
    /// read straight from the emulator's JSON API (for tests that check what is stored).
    ///
    /// # Panics
    /// When the emulator does not answer as expected.
    pub async fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let api = self.api(bucket);
        let mut objects = Vec::new();
        let mut page = None;
        loop {
            let (items, next) = api.list(prefix, page.as_deref()).await.expect("list objects on the emulator");
            objects.extend(items.into_iter().map(|o| (o.name, o.size)));
            match next {
                Some(next) => page = Some(next),
                None => return objects,
            }
        }
    }

    /// Streams `chunks` into a new object `name` of `bucket` with the very request tus-gcs
    /// sends for one part (a resumable session, then one chunked PUT): the baseline of the
    /// GCS benchmark. Returns the object's size as the emulator reports it.
    pub async fn upload_object(
        &self,
        bucket: &str,
        name: &str,
        chunks: impl Iterator<Item = bytes::Bytes> + Send + Sync + 'static,
    ) -> Result<u64, crate::GcsError> {
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks.map(Ok::<_, std::io::Error>)));
        Ok(self.api(bucket).put_stream(name, body).await?.size)
    }

    /// Deletes object `name` of `bucket`; `false` when there was none.
    pub async fn delete(&self, bucket: &str, name: &str) -> Result<bool, crate::GcsError> {
        self.api(bucket).delete(name).await
    }

    /// The bytes `range` (not empty) of object `name` in `bucket`.
    pub async fn read(&self, bucket: &str, name: &str, range: std::ops::Range<u64>) -> std::io::Result<bytes::Bytes> {
        use futures_util::TryStreamExt as _;
        let stream = self.api(bucket).download(name, range).await.map_err(std::io::Error::other)?;
        let chunks: Vec<bytes::Bytes> = stream.try_collect().await?;
        Ok(chunks.concat().into())
    }
}
