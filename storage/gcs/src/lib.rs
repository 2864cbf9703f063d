//! Google Cloud Storage for tus-core, over the GCS JSON API.
//!
//! Each upload is a handful of objects in one bucket (see the crate README for the design):
//! an info object with the committed state, one part object per stored PATCH (or per
//! checkpoint of a long PATCH), and, once complete, one data object composed from the parts
//! (or written directly, when one request brings the whole upload).
//! Every state change is written with a generation precondition, so two servers sharing
//! the bucket can never both advance an upload.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tus_gcs::GcsError> {
//! use tus_gcs::{GcsConfig, GcsStorage};
//! // STORAGE_EMULATOR_HOST, GOOGLE_OAUTH_ACCESS_TOKEN or the metadata server's credentials.
//! let storage = GcsStorage::connect(GcsConfig::from_env("my-bucket").prefix("tus/")).await?;
//! let layer = tus_core::TusLayer::new(storage);
//! # let _ = layer; Ok(()) }
//! ```

mod api;
mod auth;
mod compose;
mod config;
#[cfg(feature = "emulator")]
pub mod emulator;
mod error;
mod layout;
mod state;
mod write;

pub use auth::GcsAuth;
pub use config::{GCS_ENDPOINT, GcsConfig};
pub use error::GcsError;

use api::Api;
use async_trait::async_trait;
use futures_util::StreamExt as _;
use layout::PartNames as _;
use state::{PartState, UploadState};
use std::ops::Range;
use std::time::SystemTime;
use tus_cloud::Layout;
use tus_cloud::ListingKeys;
use tus_cloud::store::{self, MetadataFilter, RecordFilter, RecordStore};
use tus_core::storage::ByteStream;
use tus_core::{
    AppendOptions, ChunkStream, NewUpload, Removal, Storage, StorageError, StorageFeatures, UploadId, UploadInfo,
};

/// Uploads stored in a Google Cloud Storage bucket. See the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct GcsStorage {
    api: Api,
    layout: Layout,
    checkpoint_bytes: u64,
    whole_object_max_bytes: u64,
}

impl GcsStorage {
    /// Builds the storage and checks that the bucket exists and is usable, so that a
    /// missing bucket or bad credentials fail at startup.
    pub async fn connect(config: GcsConfig) -> Result<Self, GcsError> {
        let storage = Self::new(config)?;
        storage.api.check_bucket().await.map_err(|e| match e {
            GcsError::Status { status: 404, .. } => {
                GcsError::Config(format!("the bucket {:?} does not exist", storage.api.bucket()))
            }
            GcsError::Status { status: 401 | 403, message, .. } => {
                GcsError::Config(format!("access to the bucket {:?} refused: {message}", storage.api.bucket()))
            }
            other => other,
        })?;
        Ok(storage)
    }

    /// Builds the storage without touching the network.
    pub fn new(config: GcsConfig) -> Result<Self, GcsError> {
        let endpoint = config.endpoint.trim();
        if endpoint.starts_with("https://") && !cfg!(feature = "rustls") {
            return Err(GcsError::Config("https:// endpoints need the `rustls` feature of tus-gcs".into()));
        }
        if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
            return Err(GcsError::Config(format!("the endpoint {endpoint:?} is not an http(s) URL")));
        }
        if config.bucket.is_empty() {
            return Err(GcsError::Config("no bucket given".into()));
        }
        #[cfg(feature = "rustls")]
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Another thread may win the race; either provider is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("tus-gcs/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| GcsError::Config(format!("cannot build the HTTP client: {e}")))?;
        let auth = auth::Authorizer::new(config.auth);
        Ok(Self {
            api: Api::new(http, endpoint.to_owned(), config.bucket, auth, config.request_timeout),
            layout: Layout::new(&config.prefix),
            checkpoint_bytes: config.checkpoint_bytes.max(1),
            whole_object_max_bytes: config.whole_object_max_bytes,
        })
    }

    /// Creates the bucket if it does not exist (for emulators and tests; on real GCS
    /// buckets are made with their location and policies by the operator).
    pub async fn create_bucket(&self, project: &str) -> Result<(), GcsError> {
        self.api.create_bucket(project).await
    }

    /// Reads the state and its generation; tombstones are `Gone`.
    async fn load(&self, id: &UploadId) -> Result<(UploadState, u64), StorageError> {
        let (bytes, generation) = self.api.get_small(&self.layout.info(id)).await?.ok_or(StorageError::NotFound)?;
        let state = UploadState::from_json(&bytes)?;
        if state.removed {
            return Err(StorageError::Gone);
        }
        Ok((state, generation))
    }

    /// Writes the state if its generation is still `generation` (0: if it does not exist).
    async fn save(&self, id: &UploadId, state: &UploadState, generation: u64) -> Result<u64, GcsError> {
        let name = self.layout.info(id);
        self.api
            .put_small(&name, "application/json", &state.to_json(), &state::object_metadata(state), generation)
            .await
    }

    /// Deletes objects, logging (not failing on) errors: they are unreferenced already.
    async fn delete_quietly(&self, names: impl IntoIterator<Item = String>) {
        for name in names {
            if let Err(e) = self.api.delete(&name).await {
                tracing::warn!(object = %name, error = %e, "could not delete an unreferenced object");
            }
        }
    }

    /// Every object name under `prefix`.
    async fn list_names(&self, prefix: &str) -> Result<Vec<String>, GcsError> {
        let mut names = Vec::new();
        let mut page = None;
        loop {
            let (items, next) = self.api.list(prefix, page.as_deref()).await?;
            names.extend(items.into_iter().map(|o| o.name));
            match next {
                Some(next) => page = Some(next),
                None => return Ok(names),
            }
        }
    }

    /// Composes a complete upload's parts into its data object and drops the parts.
    /// Failure is logged, not returned: the bytes are committed, and reads stream the
    /// parts until a later finish succeeds.
    async fn finish(&self, id: &UploadId, mut state: UploadState, generation: u64) -> UploadState {
        if state.backend.composed || state.backend.parts.is_empty() || !state.is_complete() {
            return state;
        }
        let sources: Vec<_> = state.backend.parts.iter().map(PartState::source).collect();
        let data = self.layout.data(id);
        // The first part may be the data object itself (a one-request body that broke
        // off): composing into it replaces it with every byte, as intended.
        if let Err(e) = compose::compose_all(&self.api, &self.layout, id, &data, &sources).await {
            tracing::warn!(upload = %id, error = %e, "could not compose the parts; reads stream the parts");
            return state;
        }
        let before = state.clone();
        state.backend.parts.clear();
        state.backend.composed = true;
        match self.save(id, &state, generation).await {
            Ok(_) => {
                // Everything under the parts prefix goes, including parts that a crashed
                // or losing writer left behind.
                let leftovers = self
                    .list_names(&self.layout.parts_prefix(id))
                    .await
                    .unwrap_or_else(|_| sources.into_iter().map(|s| s.name).filter(|name| *name != data).collect());
                self.delete_quietly(leftovers).await;
                state
            }
            Err(e) => {
                tracing::warn!(upload = %id, error = %e, "could not record the composition");
                before
            }
        }
    }
}

#[async_trait]
impl RecordStore<state::GcsFields> for GcsStorage {
    type Version = u64;

    async fn load_record(&self, id: &UploadId) -> Result<(UploadState, u64), StorageError> {
        self.load(id).await
    }

    async fn store_record(
        &self,
        id: &UploadId,
        record: &UploadState,
        expected: Option<&u64>,
    ) -> Result<Option<u64>, StorageError> {
        match self.save(id, record, expected.copied().unwrap_or(0)).await {
            Ok(generation) => Ok(Some(generation)),
            Err(GcsError::PreconditionFailed) => Ok(None),
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
        keep: RecordFilter<'_, state::GcsFields>,
        limit: usize,
    ) -> Result<Vec<UploadState>, StorageError> {
        let mut found = Vec::new();
        let mut page = None;
        let prefix = self.layout.info_prefix();
        while found.len() < limit {
            let (items, next) = self.api.list(&prefix, page.as_deref()).await?;
            for item in items.into_iter().filter(|o| wanted(&o.metadata)) {
                let Some(id) = item.name.strip_prefix(&prefix).and_then(|id| UploadId::new(id).ok()) else {
                    continue;
                };
                match self.load(&id).await {
                    Ok((state, _)) if keep(&state) => found.push(state),
                    Ok(_) | Err(StorageError::Gone | StorageError::NotFound) => {}
                    Err(e) => return Err(e),
                }
                if found.len() >= limit {
                    break;
                }
            }
            match next {
                Some(next) => page = Some(next),
                None => break,
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl Storage for GcsStorage {
    fn features(&self) -> StorageFeatures {
        StorageFeatures::ALL
    }

    async fn create(&self, upload: NewUpload) -> Result<UploadInfo, StorageError> {
        store::create(self, &upload, state::GcsFields::default()).await
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
        let (state, generation) = store::load_at(self, id, offset).await?;
        let (state, generation) = self.write_body(id, state, generation, data, options).await?;
        self.finish(id, state, generation).await.to_info()
    }

    async fn set_length(&self, id: &UploadId, length: u64) -> Result<UploadInfo, StorageError> {
        let (state, generation) = store::set_length(self, id, length).await?;
        self.finish(id, state, generation).await.to_info()
    }

    async fn concatenate(&self, final_id: &UploadId, partials: &[UploadInfo]) -> Result<UploadInfo, StorageError> {
        let (mut state, generation) = self.load(final_id).await?;
        if state.offset > 0 {
            return Err(StorageError::AlreadyExists);
        }
        let mut sources = Vec::new();
        let mut total = 0u64;
        for partial in partials {
            // The partials' own info objects say where their bytes are now.
            let (partial_state, _) = self.load(&partial.id).await?;
            total += partial_state.offset;
            if partial_state.backend.composed {
                sources.push(api::Source::latest(self.layout.data(&partial.id)));
            } else {
                sources.extend(partial_state.backend.parts.iter().map(PartState::source));
            }
        }
        if !sources.is_empty() {
            compose::compose_all(&self.api, &self.layout, final_id, &self.layout.data(final_id), &sources).await?;
        }
        state.offset = total;
        state.length = Some(total);
        state.backend.composed = !sources.is_empty();
        match self.save(final_id, &state, generation).await {
            Ok(_) => state.to_info(),
            Err(GcsError::PreconditionFailed) => Err(match self.load(final_id).await {
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
        let (state, _) = self.load(id).await?;
        let range = range.start.min(state.offset)..range.end.min(state.offset);
        if range.is_empty() {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        if state.backend.composed {
            return Ok(self.api.download(&self.layout.data(id), range).await?);
        }
        // Not composed (yet): stream the overlapping parts one after the other.
        let mut pieces = Vec::new();
        let mut start = 0u64;
        for part in &state.backend.parts {
            let end = start + part.size;
            if end > range.start && start < range.end {
                let from = range.start.max(start) - start;
                let to = range.end.min(end) - start;
                pieces.push((part.name.clone(), from..to));
            }
            start = end;
        }
        let api = self.api.clone();
        let stream = futures_util::stream::iter(pieces)
            .then(move |(name, range)| {
                let api = api.clone();
                async move { api.download(&name, range).await.map_err(std::io::Error::other) }
            })
            .map(|result| match result {
                Ok(stream) => stream,
                Err(e) => Box::pin(futures_util::stream::once(async move { Err(e) })) as ByteStream,
            })
            .flatten();
        Ok(Box::pin(stream))
    }

    async fn remove(&self, id: &UploadId, _why: Removal) -> Result<(), StorageError> {
        store::tombstone(self, id, |fields| {
            fields.parts.clear();
            fields.composed = false;
        })
        .await?;
        // The tombstone is written: nothing refers to these objects any more.
        let mut names = vec![self.layout.data(id)];
        names.extend(self.list_names(&self.layout.parts_prefix(id)).await?);
        for name in names {
            self.api.delete(&name).await?;
        }
        Ok(())
    }

    async fn expired(&self, now: SystemTime, limit: usize) -> Result<Vec<UploadInfo>, StorageError> {
        store::expired(self, now, limit).await
    }
}
