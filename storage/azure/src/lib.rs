//! Azure Blob storage for tus-core, through Microsoft's `azure_storage_blob` crate.
//!
//! Each upload is two blobs in one container (see the crate README for the design): an
//! info blob with the committed state, and a block blob whose blocks are staged as PATCH
//! bodies arrive and whose block list is committed once the upload is complete. Every
//! state change is written with an ETag precondition, so two servers sharing the container
//! can never both advance an upload.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tus_azure::AzureError> {
//! use tus_azure::{AzureConfig, AzureStorage};
//! // AZURE_STORAGE_CONNECTION_STRING names the account, its key and the endpoint.
//! let storage = AzureStorage::connect(AzureConfig::from_env("uploads")?.prefix("tus/")).await?;
//! let layer = tus_core::TusLayer::new(storage);
//! # let _ = layer; Ok(()) }
//! ```

mod auth;
mod blobs;
mod config;
mod connection;
#[cfg(feature = "emulator")]
pub mod emulator;
mod error;
mod layout;
mod sizing;
mod state;
mod write;

pub use config::AzureConfig;
pub use connection::ConnectionString;
pub use error::AzureError;

use async_trait::async_trait;
use azure_core::http::Etag;
use blobs::Blobs;
use futures_util::{StreamExt as _, TryStreamExt as _};
use state::{AzureFields, BlockState, UploadState};
use std::ops::Range;
use std::time::SystemTime;
use tus_cloud::Layout;
use tus_cloud::ListingKeys;
use tus_cloud::store::{self, MetadataFilter, RecordFilter, RecordStore};
use tus_core::storage::ByteStream;
use tus_core::{
    AppendOptions, ChunkStream, NewUpload, Removal, Storage, StorageError, StorageFeatures, UploadId, UploadInfo,
};

/// Uploads stored in an Azure Blob container. See the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct AzureStorage {
    blobs: Blobs,
    layout: Layout,
    block_size: u64,
    block_concurrency: usize,
    checkpoint_bytes: u64,
}

impl AzureStorage {
    /// The largest upload: 25,000 blocks of Azure's largest block size (the block size
    /// grows with `Upload-Length` so that the blocks of an upload stay within 25,000,
    /// leaving room under the 50,000-block limit for each PATCH's short last block).
    pub const MAX_UPLOAD_SIZE: u64 = (sizing::MAX_BLOCKS as u64 / 2) * sizing::MAX_BLOCK_SIZE;

    /// Builds the storage and checks that the container exists and the key is accepted,
    /// so that a missing container or a bad key fails at startup.
    pub async fn connect(config: AzureConfig) -> Result<Self, AzureError> {
        let storage = Self::new(config)?;
        let container = storage.blobs.container_name().to_owned();
        match storage.blobs.container_exists().await {
            Ok(true) => Ok(storage),
            Ok(false) => Err(AzureError::Config(format!("the container {container:?} does not exist"))),
            Err(e @ AzureError::Service { status: Some(status @ (401 | 403)), .. }) => {
                let code = e.error_code().unwrap_or("no error code");
                Err(AzureError::Config(format!(
                    "access to the container {container:?} refused (HTTP {status}, {code}): check AccountName and AccountKey"
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// Builds the storage without touching the network.
    pub fn new(config: AzureConfig) -> Result<Self, AzureError> {
        let endpoint = config.connection.blob_endpoint.trim_end_matches('/');
        if config.container.is_empty() {
            return Err(AzureError::Config("no container given".into()));
        }
        if endpoint.starts_with("https://") && !cfg!(feature = "rustls") {
            return Err(AzureError::Config("https:// endpoints need the `rustls` feature of tus-azure".into()));
        }
        #[cfg(feature = "rustls")]
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Another thread may win the race; either provider is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("tus-azure/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| AzureError::Config(format!("cannot build the HTTP client: {e}")))?;
        let key = auth::SharedKey::new(&config.connection.account, &config.connection.account_key)
            .map_err(AzureError::Config)?;
        Ok(Self {
            blobs: Blobs::new(endpoint, &config.container, key, http, config.request_timeout)?,
            layout: Layout::new(&config.prefix),
            block_size: config.block_size.clamp(1, sizing::MAX_BLOCK_SIZE),
            block_concurrency: config.block_concurrency.max(1),
            checkpoint_bytes: config.checkpoint_bytes.max(1),
        })
    }

    /// Creates the container if it does not exist (for emulators and tests; real
    /// containers are made with their access policies by the operator).
    pub async fn create_container(&self) -> Result<(), AzureError> {
        self.blobs.create_container().await
    }

    /// Reads the state and its ETag; tombstones are `Gone`.
    async fn load(&self, id: &UploadId) -> Result<(UploadState, Etag), StorageError> {
        let (bytes, etag) = self.blobs.get_small(&self.layout.info(id)).await?.ok_or(StorageError::NotFound)?;
        let state = UploadState::from_json(&bytes)?;
        if state.removed {
            return Err(StorageError::Gone);
        }
        Ok((state, etag))
    }

    /// Writes the state if its ETag is still `etag` (`None`: if it does not exist).
    async fn save(&self, id: &UploadId, state: &UploadState, etag: Option<&Etag>) -> Result<Etag, AzureError> {
        self.blobs.put_small(&self.layout.info(id), state.to_json(), state::blob_metadata(state), etag).await
    }

    /// Commits a complete upload's block list, so the data blob holds its bytes. Failure
    /// is logged, not returned: the bytes are recorded, and a later finish (or read) retries.
    async fn finish(&self, id: &UploadId, mut state: UploadState, etag: Etag) -> UploadState {
        if state.backend.committed || state.backend.blocks.is_empty() || !state.is_complete() {
            return state;
        }
        let ids: Vec<String> = state.backend.blocks.iter().map(|b| b.id.clone()).collect();
        if let Err(e) = self.blobs.commit(&self.layout.data(id), &ids).await {
            tracing::warn!(upload = %id, error = %e, "could not commit the block list");
            return state;
        }
        state.backend.committed = true;
        if let Err(e) = self.save(id, &state, Some(&etag)).await {
            // The committed blob holds exactly the recorded blocks, so the state stays
            // right either way; the flag only saves a commit next time.
            tracing::debug!(upload = %id, error = %e, "could not record the committed block list");
        }
        state
    }

    /// Loads a complete upload and makes sure its block list is committed.
    async fn load_committed(&self, id: &UploadId) -> Result<UploadState, StorageError> {
        let (state, etag) = self.load(id).await?;
        let state = self.finish(id, state, etag).await;
        if state.is_complete() && !state.backend.committed && !state.backend.blocks.is_empty() {
            return Err(StorageError::Unavailable(
                format!("the block list of upload {id} could not be committed (see the log)").into(),
            ));
        }
        Ok(state)
    }
}

#[async_trait]
impl RecordStore<AzureFields> for AzureStorage {
    type Version = Etag;

    async fn load_record(&self, id: &UploadId) -> Result<(UploadState, Etag), StorageError> {
        self.load(id).await
    }

    async fn store_record(
        &self,
        id: &UploadId,
        record: &UploadState,
        expected: Option<&Etag>,
    ) -> Result<Option<Etag>, StorageError> {
        match self.save(id, record, expected).await {
            Ok(etag) => Ok(Some(etag)),
            Err(AzureError::PreconditionFailed) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn listing_keys(&self) -> ListingKeys {
        state::LISTING
    }

    /// Reads one page of the listing at a time.
    async fn scan_records(
        &self,
        wanted: MetadataFilter<'_>,
        keep: RecordFilter<'_, AzureFields>,
        limit: usize,
    ) -> Result<Vec<UploadState>, StorageError> {
        let mut found = Vec::new();
        let prefix = self.layout.info_prefix();
        let mut listing = std::pin::pin!(self.blobs.list(&prefix)?);
        while found.len() < limit {
            let Some(item) = listing.try_next().await? else { break };
            if !wanted(&item.metadata) {
                continue;
            }
            let Some(id) = item.name.strip_prefix(&prefix).and_then(|id| UploadId::new(id).ok()) else {
                continue;
            };
            match self.load(&id).await {
                Ok((state, _)) if keep(&state) => found.push(state),
                Ok(_) | Err(StorageError::Gone | StorageError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl Storage for AzureStorage {
    fn features(&self) -> StorageFeatures {
        StorageFeatures::ALL
    }

    async fn create(&self, upload: NewUpload) -> Result<UploadInfo, StorageError> {
        store::create(self, &upload, AzureFields::default()).await
    }

    async fn info(&self, id: &UploadId) -> Result<UploadInfo, StorageError> {
        self.load(id).await?.0.to_info()
    }

    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<UploadInfo, StorageError> {
        let (state, etag) = store::load_at(self, id, offset).await?;
        let (state, etag) = self.write_body(id, state, etag, data, options).await?;
        self.finish(id, state, etag).await.to_info()
    }

    async fn set_length(&self, id: &UploadId, length: u64) -> Result<UploadInfo, StorageError> {
        let (state, etag) = store::set_length(self, id, length).await?;
        self.finish(id, state, etag).await.to_info()
    }

    async fn concatenate(&self, final_id: &UploadId, partials: &[UploadInfo]) -> Result<UploadInfo, StorageError> {
        let (mut state, etag) = self.load(final_id).await?;
        if state.offset > 0 {
            return Err(StorageError::AlreadyExists);
        }
        // Each partial's committed blob is copied range by range into blocks of the final,
        // on the service's side (Put Block From URL).
        let mut copies = Vec::new();
        let mut total = 0u64;
        for partial in partials {
            let partial_state = self.load_committed(&partial.id).await?;
            let source = self.layout.data(&partial.id);
            let mut start = 0;
            while start < partial_state.offset {
                let end = partial_state.offset.min(start + sizing::MAX_COPY_BLOCK);
                copies.push((source.clone(), start..end));
                start = end;
            }
            total += partial_state.offset;
        }
        if copies.len() > sizing::MAX_BLOCKS {
            return Err(AzureError::Limit(format!("the concatenation would need {} blocks", copies.len())).into());
        }
        let target = self.layout.data(final_id);
        let blocks: Vec<BlockState> = copies
            .iter()
            .enumerate()
            .map(|(index, (_, range))| BlockState { id: layout::block_id(index), size: range.end - range.start })
            .collect();
        let ids: Vec<String> = blocks.iter().map(|b| b.id.clone()).collect();
        futures_util::stream::iter(copies.into_iter().zip(ids.iter().cloned()))
            .map(|((source, range), block_id)| {
                let blobs = self.blobs.clone();
                let target = target.clone();
                async move { blobs.stage_block_from_blob(&target, &block_id, &source, range).await }
            })
            .buffer_unordered(self.block_concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        if !blocks.is_empty() {
            self.blobs.commit(&target, &ids).await?;
        }
        state.offset = total;
        state.length = Some(total);
        state.backend.committed = !blocks.is_empty();
        state.backend.blocks = blocks;
        match self.save(final_id, &state, Some(&etag)).await {
            Ok(_) => state.to_info(),
            Err(AzureError::PreconditionFailed) => Err(match self.load(final_id).await {
                Ok(_) => StorageError::AlreadyExists,
                Err(e) => e,
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn finals_waiting_for(&self, partial: &UploadId) -> Result<Vec<UploadId>, StorageError> {
        store::finals_waiting_for(self, partial).await
    }

    async fn read(&self, id: &UploadId, range: Range<u64>) -> Result<ByteStream, StorageError> {
        let state = self.load_committed(id).await?;
        let range = range.start.min(state.offset)..range.end.min(state.offset);
        if range.is_empty() {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        if !state.backend.committed {
            // Bytes become readable when the upload is complete and its block list committed.
            return Err(StorageError::NotSupported("reading an unfinished upload"));
        }
        Ok(self.blobs.download(&self.layout.data(id), range).await?)
    }

    async fn remove(&self, id: &UploadId, _why: Removal) -> Result<(), StorageError> {
        store::tombstone(self, id, |fields| {
            fields.blocks.clear();
            fields.committed = false;
        })
        .await?;
        // The tombstone is written: nothing refers to the data blob any more. Committing an
        // empty block list first discards the staged blocks too (a blob that has only
        // uncommitted blocks cannot be deleted, its blocks would linger for a week).
        let data = self.layout.data(id);
        self.blobs.commit(&data, &[]).await?;
        self.blobs.delete(&data).await?;
        Ok(())
    }

    async fn expired(&self, now: SystemTime, limit: usize) -> Result<Vec<UploadInfo>, StorageError> {
        store::expired(self, now, limit).await
    }

    async fn health(&self) -> Result<(), StorageError> {
        self.blobs.container_exists().await.map(drop).map_err(StorageError::from)
    }
}
