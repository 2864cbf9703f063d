//! A throwaway moto S3 emulator for tests (feature `moto`), started with the project's
//! `scripts/moto.sh` (which installs moto 5.2.5 into a venv when it is missing).

use crate::S3Connection;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long moto may take to answer after it was started (the first run installs it).
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// A moto server on a free loopback port; killed when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Option<Child>,
    port: u16,
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
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0` to make it check credentials.
    ///
    /// # Panics
    /// When moto cannot be installed or does not start within 5 minutes.
    pub fn start_with_env(min_part_size: Option<u64>, env: &[(&str, &str)]) -> Self {
        let script = moto_script();
        let status = Command::new("bash").arg(&script).arg("install").status();
        assert!(status.is_ok_and(|s| s.success()), "`{} install` failed", script.display());
        let port = free_port();
        let mut command = Command::new("bash");
        command.arg(&script).arg("run").arg(port.to_string()).stdin(Stdio::null()).stdout(Stdio::null());
        if std::env::var_os("TUS_MOTO_LOG").is_none() {
            command.stderr(Stdio::null());
        }
        command.env("TUS_MOTO_PARENT_PID", std::process::id().to_string());
        command.envs(env.iter().copied());
        if let Some(min) = min_part_size {
            command.env("S3_UPLOAD_PART_MIN_SIZE", min.to_string());
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let moto = Self { child: Some(child), port };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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
        use std::io::{Read as _, Write as _};
        let deadline = Instant::now() + Duration::from_secs(60);
        let request = format!(
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        loop {
            let answer = TcpStream::connect(("127.0.0.1", self.port)).and_then(|mut stream| {
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                stream.write_all(request.as_bytes())?;
                let mut answer = String::new();
                stream.read_to_string(&mut answer)?;
                Ok(answer)
            });
            match answer {
                Ok(answer) if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") => return,
                other => {
                    assert!(Instant::now() < deadline, "cannot create bucket {bucket}: {other:?}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
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

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The repository's `scripts/moto.sh`.
pub fn moto_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/moto.sh")
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}
