//! A throwaway fake-gcs-server for tests (feature `emulator`), started with the project's
//! `scripts/fake-gcs.sh` (which installs it into a venv when it is missing).

use crate::{GcsAuth, GcsConfig, GcsStorage};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the emulator may take to answer after it was started (the first run installs it).
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// A fake-gcs-server on a free loopback port, holding objects in memory; killed when dropped.
#[derive(Debug)]
pub struct FakeGcs {
    child: Option<Child>,
    port: u16,
}

impl FakeGcs {
    /// Installs (when missing) and starts the emulator.
    ///
    /// # Panics
    /// When it cannot be installed or does not start within 5 minutes.
    pub fn start() -> Self {
        let script = script();
        let status = Command::new("bash").arg(&script).arg("install").status();
        assert!(status.is_ok_and(|s| s.success()), "`{} install` failed", script.display());
        let port = free_port();
        let mut command = Command::new("bash");
        command.arg(&script).arg("run").arg(port.to_string()).stdin(Stdio::null()).stdout(Stdio::null());
        if std::env::var_os("TUS_FAKE_GCS_LOG").is_none() {
            command.stderr(Stdio::null());
        }
        command.env("TUS_FAKE_GCS_PARENT_PID", std::process::id().to_string());
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let emulator = Self { child: Some(child), port };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "fake-gcs-server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        emulator
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, the value for `STORAGE_EMULATOR_HOST`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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
        use std::io::{Read as _, Write as _};
        let body = format!("{{\"name\":\"{bucket}\"}}");
        let request = format!(
            "POST /storage/v1/b?project=test-project HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = TcpStream::connect(("127.0.0.1", self.port)).and_then(|mut stream| {
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                stream.write_all(request.as_bytes())?;
                let mut answer = String::new();
                stream.read_to_string(&mut answer)?;
                Ok(answer)
            });
            match answer {
                // 409: it exists already.
                Ok(answer) if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 409") => return,
                other => {
                    assert!(Instant::now() < deadline, "cannot create bucket {bucket}: {other:?}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
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
    /// The names and sizes of the objects in `bucket` whose names start with `prefix`,
    /// read straight from the emulator's JSON API (for tests that check what is stored).
    ///
    /// # Panics
    /// When the emulator does not answer as expected.
    pub async fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let api = crate::api::Api::new(
            reqwest::Client::new(),
            self.endpoint(),
            bucket.to_owned(),
            crate::auth::Authorizer::new(GcsAuth::Anonymous),
            Duration::from_secs(30),
        );
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
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The repository's `scripts/fake-gcs.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fake-gcs.sh")
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}
