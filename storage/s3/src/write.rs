//! Appends: the request body streams into parts of the upload's multipart upload, with
//! bounded memory and up to `part_concurrency` parts in flight.
//!
//! The bytes after the last full part go to an incomplete-part object (a new one per
//! append), which the next append reads back in front of its body. The info object is
//! written last, with `If-Match` on the ETag read at the start: the new offset is committed
//! only once every byte it covers is stored, and at most one writer wins per offset.

use crate::buffer::{BufferPool, PartBuffer};
use crate::error::Failure;
use crate::objects::{Condition, Objects};
use crate::sizing::part_size;
use crate::state::{IncompleteState, PartState, UploadState};
use bytes::Bytes;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tus_core::{AppendOptions, ChunkStream, StorageError, UploadInfo};

/// Fills parts from a stream of bytes and uploads them.
pub(crate) struct PartWriter<'a> {
    objects: &'a Objects,
    pool: &'a BufferPool,
    id: String,
    key: String,
    first_size: u64,
    growing: bool,
    /// The number of the part being filled.
    number: i32,
    multipart: Option<String>,
    /// Whether this writer started the multipart upload (so it aborts it on failure).
    started_multipart: bool,
    buffer: Option<PartBuffer>,
    in_flight: JoinSet<Result<PartState, StorageError>>,
    concurrency: usize,
    uploaded: Vec<PartState>,
}

/// What a finished writer stored.
pub(crate) struct Written {
    pub(crate) parts: Vec<PartState>,
    pub(crate) multipart: Option<String>,
    pub(crate) incomplete: Option<IncompleteState>,
    pub(crate) completed: bool,
}

impl<'a> PartWriter<'a> {
    /// A writer continuing `state`'s parts.
    pub(crate) fn new(objects: &'a Objects, pool: &'a BufferPool, state: &UploadState, concurrency: usize) -> Self {
        Self {
            objects,
            pool,
            id: state.id.clone(),
            key: objects.data_key(&state.id),
            first_size: state.backend.part_size,
            growing: state.backend.growing,
            number: i32::try_from(state.backend.parts.len()).unwrap_or(i32::MAX - 1) + 1,
            multipart: state.backend.multipart.clone(),
            started_multipart: false,
            buffer: None,
            in_flight: JoinSet::new(),
            concurrency: concurrency.max(1),
            uploaded: Vec::new(),
        }
    }

    /// Reads the incomplete-part object of `state` back into the part buffer.
    pub(crate) async fn prefill(&mut self, state: &UploadState) -> Result<(), StorageError> {
        let Some(incomplete) = &state.backend.incomplete else { return Ok(()) };
        let key = self.objects.incomplete_key(&state.id, &incomplete.token);
        let mut body = self.objects.get(&key, None).await.map_err(|failure| match failure {
            Failure::NotFound => StorageError::other(format!("the incomplete part {key} is missing")),
            other => other.into(),
        })?;
        let mut read = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| crate::error::body_error("GetObject (incomplete part)", e))?;
            read += chunk.len() as u64;
            self.push(chunk).await?;
        }
        if read != incomplete.size {
            return Err(StorageError::other(format!(
                "the incomplete part {key} holds {read} bytes, not {}",
                incomplete.size
            )));
        }
        Ok(())
    }

    /// Adds bytes, uploading each part as soon as it is full.
    pub(crate) async fn push(&mut self, mut chunk: Bytes) -> Result<(), StorageError> {
        while !chunk.is_empty() {
            let buffer = match &mut self.buffer {
                Some(buffer) => buffer,
                None => self.buffer.insert(self.pool.buffer(part_size(self.first_size, self.growing, self.number))?),
            };
            let take = usize::try_from(buffer.room()).unwrap_or(usize::MAX).min(chunk.len());
            buffer.write(&chunk.split_to(take)).await?;
            if buffer.room() == 0 {
                self.ship().await?;
            }
        }
        Ok(())
    }

    /// Uploads the buffer as the next part, waiting first while `concurrency` parts are in
    /// flight (the back-pressure that bounds memory).
    async fn ship(&mut self) -> Result<(), StorageError> {
        let Some(buffer) = self.buffer.take() else { return Ok(()) };
        let body = buffer.finish().await?;
        let upload_id = match &self.multipart {
            Some(upload_id) => upload_id.clone(),
            None => {
                let upload_id = self.objects.create_multipart(&self.key).await?;
                self.started_multipart = true;
                self.multipart.insert(upload_id).clone()
            }
        };
        while self.in_flight.len() >= self.concurrency {
            self.join_one().await?;
        }
        let (objects, key, number) = (self.objects.clone(), self.key.clone(), self.number);
        self.in_flight.spawn(async move {
            let size = body.len();
            let stream = body.stream().await?;
            let etag = objects.upload_part(&key, &upload_id, number, stream, size).await?;
            Ok(PartState { number, etag, size })
        });
        self.number += 1;
        Ok(())
    }

    /// Collects the part uploads that have finished, without waiting.
    fn reap(&mut self) -> Result<(), StorageError> {
        while let Some(done) = self.in_flight.try_join_next() {
            match done {
                Ok(part) => self.uploaded.push(part?),
                Err(join) => return Err(StorageError::other(format!("a part upload task failed: {join}"))),
            }
        }
        Ok(())
    }

    /// Takes the uploaded parts that directly follow the first `committed` parts, in order.
    fn take_contiguous(&mut self, committed: usize) -> Vec<PartState> {
        self.uploaded.sort_by_key(|p| p.number);
        let first = i32::try_from(committed).unwrap_or(i32::MAX - 1) + 1;
        let run = self.uploaded.iter().zip(first..).take_while(|(part, number)| part.number == *number).count();
        self.uploaded.drain(..run).collect()
    }

    async fn join_one(&mut self) -> Result<(), StorageError> {
        match self.in_flight.join_next().await {
            Some(Ok(part)) => {
                self.uploaded.push(part?);
                Ok(())
            }
            Some(Err(join)) => Err(StorageError::other(format!("a part upload task failed: {join}"))),
            None => Ok(()),
        }
    }

    /// Waits for every part in flight, then stores the rest: as the last part (or the whole
    /// object) when `complete`, else in a new incomplete-part object.
    pub(crate) async fn finish(&mut self, prior: &[PartState], complete: bool) -> Result<Written, StorageError> {
        let mut completed = false;
        let mut incomplete = None;
        if complete && self.multipart.is_some() {
            self.ship().await?;
        }
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        self.uploaded.sort_by_key(|p| p.number);
        if complete {
            match &self.multipart {
                Some(upload_id) => {
                    let parts = prior.iter().chain(&self.uploaded).map(|p| (p.number, p.etag.clone()));
                    self.objects.complete_multipart(&self.key, upload_id, parts).await?;
                }
                None => match self.buffer.take() {
                    Some(buffer) => self.objects.put_buffered(&self.key, &buffer.finish().await?).await?,
                    None => self.objects.put(&self.key, Default::default(), 0).await?,
                },
            }
            completed = true;
        } else if let Some(buffer) = self.buffer.take().filter(|b| !b.is_empty()) {
            let body = buffer.finish().await?;
            let token = crate::random_token();
            let key = self.objects.incomplete_key(&self.id, &token);
            self.objects.put_buffered(&key, &body).await?;
            incomplete = Some(IncompleteState { token, size: body.len() });
        }
        Ok(Written {
            parts: std::mem::take(&mut self.uploaded),
            multipart: self.multipart.clone(),
            incomplete,
            completed,
        })
    }

    /// Gives up: stops the parts in flight and aborts a multipart upload this writer started.
    pub(crate) async fn abandon(mut self) {
        self.in_flight.shutdown().await;
        if let (true, Some(upload_id)) = (self.started_multipart, &self.multipart)
            && let Err(e) = self.objects.abort_multipart(&self.key, upload_id).await
        {
            tracing::warn!(id = %self.id, error = %e, "cannot abort an abandoned multipart upload");
        }
    }
}

/// Where an append or a completion stands when its state is to be committed.
pub(crate) struct Commit {
    pub(crate) written: Written,
    pub(crate) started_multipart: bool,
}

/// Applies what a writer stored to `state` (clearing part bookkeeping once complete).
pub(crate) fn apply(state: &mut UploadState, written: Written, new_offset: u64) {
    state.offset = new_offset;
    state.backend.incomplete = written.incomplete;
    if written.completed {
        state.backend.completed = true;
        state.backend.multipart = None;
        state.backend.parts.clear();
    } else {
        state.backend.multipart = written.multipart;
        state.backend.parts.extend(written.parts);
    }
}

/// How often (as the SQLite storage) a long non-atomic append commits the parts uploaded so far, so that a crash
/// or a dropped request loses at most the parts of the last interval.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(2);

/// Commits the parts that follow `base`'s, if any: `base` and `etag` become the new
/// committed state. The multipart upload is then recorded, so the writer no longer owns it.
async fn checkpoint(
    storage: &crate::S3Storage,
    writer: &mut PartWriter<'_>,
    base: &mut UploadState,
    etag: &mut String,
    options: AppendOptions,
) -> Result<(), StorageError> {
    writer.reap()?;
    let parts = writer.take_contiguous(base.backend.parts.len());
    if parts.is_empty() {
        return Ok(());
    }
    let mut next = base.clone();
    next.backend.parts.extend(parts);
    next.backend.multipart = writer.multipart.clone();
    next.backend.incomplete = None; // its bytes are in the first new part
    next.offset = next.backend.parts.iter().map(|p| p.size).sum();
    if options.expires_at.is_some() {
        next.set_expires_at(options.expires_at);
    }
    let objects = storage.objects();
    match objects.write_state(&next, Condition::Unchanged(etag)).await {
        Ok(new_etag) => {
            if let Some(old) = &base.backend.incomplete {
                objects.delete_quietly(&objects.incomplete_key(&base.id, &old.token)).await;
            }
            writer.started_multipart = false;
            *base = next;
            *etag = new_etag;
            Ok(())
        }
        Err(Failure::Conflict) => Err(match objects.read_state(&base.id).await? {
            None => StorageError::NotFound,
            Some((now, _)) if now.removed => StorageError::Gone,
            Some((now, _)) => StorageError::OffsetMismatch { actual: now.offset },
        }),
        Err(other) => Err(other.into()),
    }
}

/// The append of [`tus_core::Storage::append`].
pub(crate) async fn append(
    storage: &crate::S3Storage,
    id: &str,
    offset: u64,
    data: &mut ChunkStream,
    options: AppendOptions,
) -> Result<UploadInfo, StorageError> {
    let objects = storage.objects();
    let (state, etag) = storage.live_state(id).await?;
    if state.offset != offset {
        return Err(StorageError::OffsetMismatch { actual: state.offset });
    }
    let mut writer = PartWriter::new(objects, storage.pool(), &state, storage.concurrency());
    let mut received = 0u64;
    let mut failed = false;
    let mut prefilled = false;
    // The committed state: moves forward at each checkpoint.
    let (mut base, mut etag) = (state.clone(), etag);
    let mut last_checkpoint = Instant::now();
    while let Some(chunk) = data.next_chunk().await {
        match chunk {
            Ok(chunk) if chunk.is_empty() => {}
            Ok(chunk) => {
                if !prefilled {
                    prefilled = true;
                    if let Err(e) = writer.prefill(&state).await {
                        writer.abandon().await;
                        return Err(e);
                    }
                }
                received += chunk.len() as u64;
                if let Err(e) = writer.push(chunk).await {
                    writer.abandon().await;
                    return Err(e);
                }
            }
            Err(_) => {
                failed = true;
                break;
            }
        }
        if !options.atomic && last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
            if let Err(e) = checkpoint(storage, &mut writer, &mut base, &mut etag, options).await {
                writer.abandon().await;
                return Err(e);
            }
            last_checkpoint = Instant::now();
        }
    }
    if (failed && options.atomic) || (received == 0 && options.expires_at.is_none()) {
        writer.abandon().await;
        return state.to_info();
    }
    let new_offset = state.offset + received;
    let mut next = base.clone();
    if options.expires_at.is_some() {
        next.set_expires_at(options.expires_at);
    }
    if received > 0 {
        let complete = state.length == Some(new_offset);
        let written = match writer.finish(&base.backend.parts, complete).await {
            Ok(written) => written,
            Err(e) => {
                writer.abandon().await;
                return Err(e);
            }
        };
        let commit = Commit { written, started_multipart: writer.started_multipart };
        return commit_append(storage, base, next, etag, commit, new_offset).await;
    }
    writer.abandon().await;
    commit_state(storage, &base, next, &etag).await
}

/// Writes `next` over `state` (read with `etag`) and cleans up what the old state named.
async fn commit_append(
    storage: &crate::S3Storage,
    state: UploadState,
    mut next: UploadState,
    etag: String,
    commit: Commit,
    new_offset: u64,
) -> Result<UploadInfo, StorageError> {
    let objects = storage.objects();
    let new_incomplete = commit.written.incomplete.clone();
    let new_multipart = commit.written.multipart.clone();
    apply(&mut next, commit.written, new_offset);
    match commit_state(storage, &state, next, &etag).await {
        Ok(info) => {
            if let Some(old) = &state.backend.incomplete {
                objects.delete_quietly(&objects.incomplete_key(&state.id, &old.token)).await;
            }
            Ok(info)
        }
        Err(e) => {
            // Another writer won: drop what this append stored, keep theirs.
            if let Some(incomplete) = &new_incomplete {
                objects.delete_quietly(&objects.incomplete_key(&state.id, &incomplete.token)).await;
            }
            if let (true, Some(upload_id)) = (commit.started_multipart, &new_multipart) {
                let _ = objects.abort_multipart(&objects.data_key(&state.id), upload_id).await;
            }
            Err(e)
        }
    }
}

/// Writes `next` if the info object is still the one read (`etag`); on a conflict, reports
/// what the winner left: `Gone`, or `OffsetMismatch` with the new offset.
pub(crate) async fn commit_state(
    storage: &crate::S3Storage,
    state: &UploadState,
    next: UploadState,
    etag: &str,
) -> Result<UploadInfo, StorageError> {
    match storage.objects().write_state(&next, Condition::Unchanged(etag)).await {
        Ok(_) => next.to_info(),
        Err(Failure::Conflict) => match storage.objects().read_state(&state.id).await? {
            None => Err(StorageError::NotFound),
            Some((now, _)) if now.removed => Err(StorageError::Gone),
            Some((now, _)) => Err(StorageError::OffsetMismatch { actual: now.offset }),
        },
        Err(other) => Err(other.into()),
    }
}

/// Reads the incomplete-part object (if any) into a completed object: for a deferred
/// length declared equal to the offset.
pub(crate) async fn complete_from_incomplete(
    storage: &crate::S3Storage,
    state: &UploadState,
) -> Result<Written, StorageError> {
    let mut writer = PartWriter::new(storage.objects(), storage.pool(), state, storage.concurrency());
    let result = match writer.prefill(state).await {
        Ok(()) => writer.finish(&state.backend.parts, true).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        writer.abandon().await;
    }
    result
}
