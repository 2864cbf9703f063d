//! A throwaway Azurite for tests (feature `emulator`), started with the project's
//! `scripts/azurite.sh` (which installs it from npm when it is missing).

use crate::{AzureConfig, AzureStorage, ConnectionString};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the emulator may take to answer after it was started (the first run installs it).
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// The key of [`ACCOUNT`] (public, documented by Microsoft; not a secret).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// An Azurite Blob service on a free loopback port, holding blobs in memory; killed when dropped.
#[derive(Debug)]
pub struct Azurite {
    child: Option<Child>,
    port: u16,
}

impl Azurite {
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
        if std::env::var_os("TUS_AZURITE_LOG").is_none() {
            command.stderr(Stdio::null());
        }
        command.env("TUS_AZURITE_PARENT_PID", std::process::id().to_string());
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let emulator = Self { child: Some(child), port };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "azurite did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        emulator
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The value for `AZURE_STORAGE_CONNECTION_STRING`.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};\
             BlobEndpoint=http://127.0.0.1:{}/{ACCOUNT};",
            self.port
        )
    }

    /// A configuration for `container` on this emulator.
    pub fn config(&self, container: &str) -> AzureConfig {
        let connection = ConnectionString::parse(&self.connection_string()).expect("a valid connection string");
        AzureConfig::new(connection, container)
    }

    /// Creates `container` (retrying while the emulator warms up) and connects to it.
    ///
    /// # Panics
    /// When the container cannot be created within a minute.
    pub async fn storage(&self, container: &str, config: impl FnOnce(AzureConfig) -> AzureConfig) -> AzureStorage {
        let storage = AzureStorage::new(config(self.config(container))).expect("a valid emulator configuration");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match storage.create_container().await {
                Ok(()) => break,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot create container {container}: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        storage
    }

    /// Creates `container` without an async runtime of the caller's (for tests that run
    /// `tus serve` against the emulator).
    ///
    /// # Panics
    /// When the container cannot be created within a minute.
    pub fn create_container_blocking(&self, container: &str) {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a current-thread runtime");
        runtime.block_on(async {
            self.storage(container, |c| c).await;
        });
    }
}

impl Azurite {
    /// The names of the (committed) blobs in `container` whose names start with `prefix`,
    /// read straight from the emulator (for tests that check what is stored).
    ///
    /// # Panics
    /// When the emulator does not answer as expected.
    pub async fn blob_names(&self, container: &str, prefix: &str) -> Vec<String> {
        use futures_util::TryStreamExt as _;
        let storage = AzureStorage::new(self.config(container)).expect("a valid emulator configuration");
        let listing = storage.blobs.list(prefix).expect("list blobs on the emulator");
        let listed: Vec<crate::blobs::Listed> = listing.try_collect().await.expect("list blobs on the emulator");
        listed.into_iter().map(|blob| blob.name).collect()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The repository's `scripts/azurite.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/azurite.sh")
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}
