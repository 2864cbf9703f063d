//! A throwaway Azurite for tests (feature `emulator`), started with the project's
//! `scripts/azurite.sh` (which installs it from npm when it is missing) through tus-cloud's launcher.

use crate::{AzureConfig, AzureStorage, ConnectionString};
use std::time::{Duration, Instant};
use tus_cloud::emulator::{Emulator, EmulatorCommand};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// The key of [`ACCOUNT`] (public, documented by Microsoft; not a secret).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// An Azurite Blob service on a free loopback port, holding blobs in memory; killed when dropped.
#[derive(Debug)]
pub struct Azurite {
    emulator: Emulator,
}

impl Azurite {
    /// Installs (when missing) and starts the emulator. Its log is shown while
    /// `TUS_AZURITE_LOG` is set.
    ///
    /// # Panics
    /// When it cannot be installed or does not start within 5 minutes.
    pub fn start() -> Self {
        Self { emulator: EmulatorCommand::new("azurite.sh").log_env("TUS_AZURITE_LOG").start() }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.emulator.port()
    }

    /// The value for `AZURE_STORAGE_CONNECTION_STRING`.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};\
             BlobEndpoint=http://127.0.0.1:{}/{ACCOUNT};",
            self.port()
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

    /// Creates `container` from synchronous code, even inside an async runtime (on a
    /// thread of its own with a runtime of its own).
    ///
    /// # Panics
    /// When the container cannot be created within a minute.
    pub fn create_container_blocking(&self, container: &str) {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a current-thread runtime");
                    runtime.block_on(async {
                        self.storage(container, |c| c).await;
                    });
                })
                .join()
                .expect("the container was created");
        });
    }
}

impl Azurite {
    /// The official `azure_storage_blob` client of `container`, authorised with the
    /// account key (for benchmarks that upload directly with the SDK).
    pub fn container_client(&self, container: &str) -> std::sync::Arc<azure_storage_blob::BlobContainerClient> {
        AzureStorage::new(self.config(container)).expect("a valid emulator configuration").blobs.container_client()
    }

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
