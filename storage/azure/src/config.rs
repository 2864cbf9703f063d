//! Where the container is and how to reach it.

use crate::ConnectionString;
use std::time::Duration;

/// How an [`AzureStorage`](crate::AzureStorage) reaches its container.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AzureConfig {
    /// The account, endpoint and key.
    pub connection: ConnectionString,
    /// The container (it must exist).
    pub container: String,
    /// Prepended to every blob name, e.g. `"tus/"`.
    pub prefix: String,
    /// The size of the staged blocks (grown for large uploads to stay within 50,000
    /// blocks). Each block in flight is held in memory once.
    pub block_size: u64,
    /// How many blocks of one PATCH are staged at the same time.
    pub block_concurrency: usize,
    /// A non-atomic PATCH is recorded in the info blob every this many bytes, so that a
    /// crash or a dropped connection loses at most this much.
    pub checkpoint_bytes: u64,
    /// The timeout of each request (a block, a state read or write, a list page).
    pub request_timeout: Duration,
}

impl AzureConfig {
    /// `container` reached with `connection`; no prefix, 8 MiB blocks, 4 at a time,
    /// 64 MiB checkpoints.
    pub fn new(connection: ConnectionString, container: impl Into<String>) -> Self {
        Self {
            connection,
            container: container.into(),
            prefix: String::new(),
            block_size: 8 << 20,
            block_concurrency: 4,
            checkpoint_bytes: 64 << 20,
            request_timeout: Duration::from_secs(120),
        }
    }

    /// Like [`AzureConfig::new`], with `AZURE_STORAGE_CONNECTION_STRING`.
    pub fn from_env(container: impl Into<String>) -> Result<Self, crate::AzureError> {
        Ok(Self::new(ConnectionString::from_env()?, container))
    }

    /// Sets [`AzureConfig::prefix`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`AzureConfig::block_size`] (the storage uses at least 1 byte, at most 4000 MiB).
    pub fn block_size(mut self, bytes: u64) -> Self {
        self.block_size = bytes;
        self
    }

    /// Sets [`AzureConfig::block_concurrency`] (the storage uses at least 1).
    pub fn block_concurrency(mut self, blocks: usize) -> Self {
        self.block_concurrency = blocks;
        self
    }

    /// Sets [`AzureConfig::checkpoint_bytes`] (the storage uses at least 1).
    pub fn checkpoint_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_bytes = bytes;
        self
    }

    /// Sets [`AzureConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}
