//! Storing a PATCH body: its bytes are cut into blocks that are staged on the data blob a
//! few at a time (each block in flight is held in memory once), and the blocks are
//! recorded in the info blob with an ETag precondition. Staged blocks that are never
//! recorded (a failed checksum, a lost race) stay invisible: only recorded blocks are
//! ever committed.

use crate::AzureStorage;
use crate::error::AzureError;
use crate::layout::block_id;
use crate::sizing::{self, MAX_BLOCKS};
use crate::state::{BlockState, UploadState};
use azure_core::http::Etag;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use std::future::Future;
use std::pin::Pin;
use tus_core::{AppendOptions, ChunkStream, StorageError, UploadId};

/// Staging blocks; each gives its bytes back, so that their buffer can be reused.
type Staging<'a> = FuturesUnordered<Pin<Box<dyn Future<Output = Result<Bytes, AzureError>> + Send + 'a>>>;

/// The blocks of one PATCH: staged or being staged, not yet recorded.
struct Pending<'a> {
    storage: &'a AzureStorage,
    blob: String,
    first_index: usize,
    blocks: Vec<BlockState>,
    in_flight: Staging<'a>,
    /// Buffers of staged blocks, emptied for the next blocks: reusing them keeps the
    /// allocator from holding freed block-sized buffers on top of the live ones.
    spare: Vec<BytesMut>,
}

impl<'a> Pending<'a> {
    /// Starts staging `bytes` as the next block, once fewer than the allowed number of
    /// blocks are in flight (back-pressure on the request body).
    async fn stage(&mut self, bytes: Bytes) -> Result<(), AzureError> {
        let index = self.first_index + self.blocks.len();
        if index >= MAX_BLOCKS {
            return Err(AzureError::Limit(format!("{} would need more than {MAX_BLOCKS} blocks", self.blob)));
        }
        while self.in_flight.len() >= self.storage.block_concurrency {
            if let Some(staged) = self.in_flight.next().await {
                self.recycle(staged?);
            }
        }
        let id = block_id(index);
        self.blocks.push(BlockState { id: id.clone(), size: bytes.len() as u64 });
        let storage = self.storage;
        let blob = self.blob.clone();
        self.in_flight
            .push(Box::pin(async move { storage.blobs.stage_block(&blob, &id, bytes.clone()).await.map(|()| bytes) }));
        Ok(())
    }

    /// Keeps the buffer of a staged block when the request let go of it.
    fn recycle(&mut self, staged: Bytes) {
        if let Ok(mut buffer) = staged.try_into_mut() {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    /// An empty buffer for the next block: a spare one, or a new one of `capacity`.
    fn buffer(&mut self, capacity: usize) -> BytesMut {
        self.spare.pop().unwrap_or_else(|| BytesMut::with_capacity(capacity))
    }

    /// Waits until every started block is staged.
    async fn settle(&mut self) -> Result<(), AzureError> {
        while let Some(result) = self.in_flight.next().await {
            self.recycle(result?);
        }
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.blocks.iter().map(|b| b.size).sum()
    }
}

impl AzureStorage {
    /// Streams `data` into staged blocks and records them; returns the recorded state and
    /// its ETag.
    pub(crate) async fn write_body(
        &self,
        id: &UploadId,
        mut state: UploadState,
        mut etag: Etag,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<(UploadState, Etag), StorageError> {
        let block_size = usize::try_from(sizing::block_size(self.block_size, state.length, state.backend.blocks.len()))
            .unwrap_or(usize::MAX);
        let mut pending = Pending {
            storage: self,
            blob: self.layout.data(id),
            first_index: state.backend.blocks.len(),
            blocks: Vec::new(),
            in_flight: FuturesUnordered::new(),
            spare: Vec::new(),
        };
        // Each block is filled in a buffer of exactly its size, so a block in flight holds
        // one block size of memory, not a grown allocation shared with the next block.
        // `unread`: bytes of the current chunk not yet in a block.
        let capacity = |data: &ChunkStream, unread: usize| {
            let left = data.content_length().map_or(u64::MAX, |length| length.saturating_sub(data.received()));
            block_size.min(usize::try_from(left).unwrap_or(usize::MAX).saturating_add(unread))
        };
        let mut buffer = BytesMut::with_capacity(capacity(data, 0));
        let mut saved_any = false;
        let mut body_failed = false;
        loop {
            match data.next_chunk().await {
                Some(Ok(mut chunk)) => {
                    while !chunk.is_empty() {
                        let take = chunk.len().min(block_size - buffer.len());
                        buffer.extend_from_slice(&chunk.split_to(take));
                        if buffer.len() < block_size {
                            continue;
                        }
                        pending.stage(std::mem::take(&mut buffer).freeze()).await?;
                        buffer = pending.buffer(capacity(data, chunk.len()));
                        if !options.atomic && pending.bytes() >= self.checkpoint_bytes {
                            pending.settle().await?;
                            (state, etag) = self.record(id, state, &etag, &mut pending, options).await?;
                            saved_any = true;
                        }
                    }
                }
                Some(Err(_)) => {
                    body_failed = true;
                    break;
                }
                None => break,
            }
        }
        if body_failed && options.atomic {
            // Nothing is recorded; the staged blocks are never committed.
            return Ok((state, etag));
        }
        if !buffer.is_empty() {
            pending.stage(buffer.freeze()).await?;
        }
        pending.settle().await?;
        if !pending.blocks.is_empty() || (!saved_any && !body_failed && options.expires_at.is_some()) {
            (state, etag) = self.record(id, state, &etag, &mut pending, options).await?;
        }
        Ok((state, etag))
    }

    /// Records the staged `pending` blocks (and the new expiry) in the info blob.
    async fn record(
        &self,
        id: &UploadId,
        state: UploadState,
        etag: &Etag,
        pending: &mut Pending<'_>,
        options: AppendOptions,
    ) -> Result<(UploadState, Etag), StorageError> {
        let mut next = state;
        next.offset += pending.bytes();
        next.backend.blocks.append(&mut pending.blocks);
        pending.first_index = next.backend.blocks.len();
        next.set_expires_at(options.expires_at);
        match self.save(id, &next, Some(etag)).await {
            Ok(etag) => Ok((next, etag)),
            Err(AzureError::PreconditionFailed) => Err(tus_cloud::store::lost_race(self, id).await),
            Err(e) => Err(e.into()),
        }
    }
}
