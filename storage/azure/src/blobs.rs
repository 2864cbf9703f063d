//! The Blob service calls this crate makes, through the official `azure_storage_blob`
//! clients, each bounded by the request timeout and mapped onto [`AzureError`].

use crate::AzureError;
use crate::auth::{SharedKey, SharedKeyPolicy, sas_for_blob};
use azure_core::http::{ClientOptions, Etag, RequestContent, Transport, Url};
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobContainerClientListBlobsOptions, BlockBlobClientCommitBlockListOptions,
    BlockBlobClientStageBlockFromUrlOptions, BlockBlobClientUploadOptions, BlockLookupList, ListBlobsIncludeItem,
};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use std::collections::HashMap;
use std::future::Future;
use std::num::NonZero;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use tus_core::storage::ByteStream;

/// How long the SAS that lets Put Block From URL read a partial stays valid.
const COPY_SAS_TTL: Duration = Duration::from_secs(3600);
/// The size of each ranged read of a download (one at a time).
const DOWNLOAD_PARTITION: usize = 4 << 20;

/// A blob listed with its metadata.
pub(crate) struct Listed {
    pub(crate) name: String,
    pub(crate) metadata: HashMap<String, String>,
}

/// The container and the calls made on it.
#[derive(Clone)]
pub(crate) struct Blobs {
    container: Arc<BlobContainerClient>,
    container_name: String,
    key: Arc<SharedKey>,
    timeout: Duration,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs").field("container", &self.container.url().as_str()).finish_non_exhaustive()
    }
}

impl Blobs {
    pub(crate) fn new(
        endpoint: &str,
        container: &str,
        key: SharedKey,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Result<Self, AzureError> {
        let key = Arc::new(key);
        let url = Url::parse(&format!("{endpoint}/{container}"))
            .map_err(|e| AzureError::Config(format!("bad blob endpoint {endpoint:?}: {e}")))?;
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                per_try_policies: vec![Arc::new(SharedKeyPolicy::new(key.clone()))],
                transport: Some(Transport::new(Arc::new(http))),
                ..ClientOptions::default()
            },
            ..BlobContainerClientOptions::default()
        };
        let client = BlobContainerClient::new(url, None, Some(options))
            .map_err(|e| AzureError::Config(format!("cannot build the Blob client: {e}")))?;
        Ok(Self { container: Arc::new(client), container_name: container.to_owned(), key, timeout })
    }

    /// The official SDK's client of the container, signing with the account key.
    #[cfg(feature = "emulator")]
    pub(crate) fn container_client(&self) -> Arc<BlobContainerClient> {
        self.container.clone()
    }

    pub(crate) fn container_name(&self) -> &str {
        &self.container_name
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        target: &str,
        call: impl Future<Output = azure_core::Result<T>>,
    ) -> Result<T, AzureError> {
        self.timed_for(self.timeout, operation, target, call).await
    }

    async fn timed_for<T>(
        &self,
        timeout: Duration,
        operation: &'static str,
        target: &str,
        call: impl Future<Output = azure_core::Result<T>>,
    ) -> Result<T, AzureError> {
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(AzureError::service(operation, target, e)),
            Err(_) => Err(AzureError::TimedOut { operation, target: target.to_owned() }),
        }
    }

    /// Whether the container exists (errors for a bad key and the like).
    pub(crate) async fn container_exists(&self) -> Result<bool, AzureError> {
        let name = self.container_name.clone();
        self.timed("check container", &name, self.container.exists()).await
    }

    /// Creates the container (for emulators and tests); an existing one is fine.
    pub(crate) async fn create_container(&self) -> Result<(), AzureError> {
        let name = self.container_name.clone();
        match self.timed("create container", &name, self.container.create(None)).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(409) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A small blob's bytes and ETag, or `None` when it does not exist.
    pub(crate) async fn get_small(&self, name: &str) -> Result<Option<(Bytes, Etag)>, AzureError> {
        let blob = self.container.blob_client(name);
        let options = BlobClientDownloadOptions { parallel: NonZero::new(1), ..Default::default() };
        let read = async {
            let result = blob.download(Some(options)).await?;
            let etag = result.properties.etag.clone();
            Ok((result.body.collect().await?, etag))
        };
        match self.timed("read state", name, read).await {
            Ok((bytes, Some(etag))) => Ok(Some((bytes, etag))),
            Ok((_, None)) => Err(AzureError::Corrupt(format!("{name} was read without an ETag"))),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a small blob with `metadata` if its ETag is still `etag` (`None`: if it does
    /// not exist); returns the new ETag. A lost race is [`AzureError::PreconditionFailed`].
    pub(crate) async fn put_small(
        &self,
        name: &str,
        bytes: Vec<u8>,
        metadata: HashMap<String, String>,
        etag: Option<&Etag>,
    ) -> Result<Etag, AzureError> {
        let blob = self.container.blob_client(name).block_blob_client();
        let mut options = BlockBlobClientUploadOptions {
            blob_content_type: Some("application/json".to_owned()),
            metadata: Some(metadata),
            parallel: NonZero::new(1),
            ..Default::default()
        };
        match etag {
            Some(etag) => options.if_match = Some(etag.clone()),
            None => options.if_none_match = Some(Etag::from("*")),
        }
        let result = match self.timed("write state", name, blob.upload(Bytes::from(bytes).into(), Some(options))).await
        {
            Ok(result) => result,
            // The ETag moved (412), or the blob exists where none was expected (409).
            Err(e) if matches!(e.status(), Some(409 | 412)) => return Err(AzureError::PreconditionFailed),
            Err(e) => return Err(e),
        };
        result.etag.ok_or_else(|| AzureError::Corrupt(format!("{name} was written without an ETag")))
    }

    /// Stages `bytes` as block `id` of blob `name`.
    pub(crate) async fn stage_block(&self, name: &str, id: &str, bytes: Bytes) -> Result<(), AzureError> {
        let blob = self.container.blob_client(name).block_blob_client();
        let length = bytes.len() as u64;
        // Large blocks (grown for huge uploads) get one more second per MiB: the timeout
        // bounds a stalled request, not a slow but moving one above 1 MiB/s.
        let timeout = self.timeout + Duration::from_secs(length >> 20);
        self.timed_for(timeout, "stage block", name, blob.stage_block(id.as_bytes(), length, bytes.into(), None))
            .await
            .map(drop)
    }

    /// Stages `range` of the committed blob `source` as block `id` of blob `name`, copied
    /// on the service's side; the source is read with a short-lived read-only SAS.
    pub(crate) async fn stage_block_from_blob(
        &self,
        name: &str,
        id: &str,
        source: &str,
        range: Range<u64>,
    ) -> Result<(), AzureError> {
        let blob = self.container.blob_client(name).block_blob_client();
        let mut source_url = self.container.blob_client(source).url().clone();
        source_url.set_query(Some(&sas_for_blob(&self.key, &self.container_name, source, COPY_SAS_TTL)));
        // The copy runs on the service's side; give it the same per-MiB allowance.
        let timeout = self.timeout + Duration::from_secs((range.end - range.start) >> 20);
        let options =
            BlockBlobClientStageBlockFromUrlOptions { source_range: Some(range.into()), ..Default::default() };
        self.timed_for(
            timeout,
            "stage block from URL",
            name,
            blob.stage_block_from_url(id.as_bytes(), 0, source_url.to_string(), Some(options)),
        )
        .await
        .map(drop)
    }

    /// Commits the block list of blob `name`: it then holds exactly these blocks, in order.
    pub(crate) async fn commit(&self, name: &str, ids: &[String]) -> Result<(), AzureError> {
        let blob = self.container.blob_client(name).block_blob_client();
        let list = BlockLookupList {
            latest: Some(ids.iter().map(|id| id.as_bytes().to_vec()).collect()),
            ..Default::default()
        };
        let content: RequestContent<BlockLookupList, _> = list
            .try_into()
            .map_err(|e: azure_core::Error| AzureError::Corrupt(format!("cannot encode a block list: {e}")))?;
        let options = BlockBlobClientCommitBlockListOptions {
            blob_content_type: Some("application/octet-stream".to_owned()),
            ..Default::default()
        };
        self.timed("commit block list", name, blob.commit_block_list(content, Some(options))).await.map(drop)
    }

    /// Deletes a blob; a missing one is fine.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), AzureError> {
        match self.timed("delete", name, self.container.blob_client(name).delete(None)).await {
            Err(e) if e.status() == Some(404) => Ok(()),
            other => other.map(drop),
        }
    }

    /// The blobs whose names start with `prefix`, with their metadata, as a lazy stream
    /// (one list page at a time).
    pub(crate) fn list(
        &self,
        prefix: &str,
    ) -> Result<impl futures_util::Stream<Item = Result<Listed, AzureError>> + Send + use<>, AzureError> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(prefix.to_owned()),
            include: Some(vec![ListBlobsIncludeItem::Metadata]),
            ..Default::default()
        };
        let prefix_owned = prefix.to_owned();
        let pager = self
            .container
            .list_blobs(Some(options))
            .map_err(|e| AzureError::service("list blobs", prefix_owned.clone(), e))?;
        let timeout = self.timeout;
        let items = pager.map_err(move |e| AzureError::service("list blobs", prefix_owned.clone(), e));
        let target = prefix.to_owned();
        let items = item_timeout(items, timeout, move || AzureError::TimedOut {
            operation: "list blobs",
            target: target.clone(),
        });
        Ok(items.map(|item| {
            item.map(|blob| Listed {
                name: blob.name.unwrap_or_default(),
                metadata: blob.metadata.and_then(|m| m.values).unwrap_or_default(),
            })
        }))
    }

    /// Streams `range` of the committed blob `name`, one ranged request per 4 MiB.
    pub(crate) async fn download(&self, name: &str, range: Range<u64>) -> Result<ByteStream, AzureError> {
        let blob = self.container.blob_client(name);
        let options = BlobClientDownloadOptions {
            range: Some(range.into()),
            parallel: NonZero::new(1),
            partition_size: NonZero::new(DOWNLOAD_PARTITION),
            ..Default::default()
        };
        let result = self.timed("download", name, blob.download(Some(options))).await?;
        let timeout = self.timeout;
        let target = name.to_owned();
        let body = result.body.map_err(std::io::Error::other);
        let body = item_timeout(body, timeout, move || {
            std::io::Error::other(format!("Azure download {target}: no data in time"))
        });
        Ok(Box::pin(body))
    }
}

/// Bounds each item's wait by `timeout`; a stall ends the stream with `stalled()`'s error.
fn item_timeout<S, T, E>(
    stream: S,
    timeout: Duration,
    stalled: impl Fn() -> E + Send + Sync + 'static,
) -> impl futures_util::Stream<Item = Result<T, E>> + Send
where
    S: futures_util::Stream<Item = Result<T, E>> + Send + 'static,
    T: Send,
    E: Send,
{
    let stalled = std::sync::Arc::new(stalled);
    futures_util::stream::unfold((Box::pin(stream), false), move |(mut stream, done)| {
        let stalled = std::sync::Arc::clone(&stalled);
        async move {
            if done {
                return None;
            }
            match tokio::time::timeout(timeout, stream.next()).await {
                Ok(Some(item)) => Some((item, (stream, false))),
                Ok(None) => None,
                Err(_) => Some((Err(stalled()), (stream, true))),
            }
        }
    })
}
