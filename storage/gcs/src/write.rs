//! Storing a PATCH body: its bytes stream into part objects (one per checkpoint), each
//! committed to the info object with a generation precondition; a body that makes the
//! whole upload in one request streams straight into the data object instead.

use crate::GcsStorage;
use crate::error::GcsError;
use crate::layout::PartNames as _;
use crate::state::{PartState, UploadState};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tus_core::{AppendOptions, ChunkStream, StorageError, UploadId};

/// Chunks in flight between the request body and the upload to GCS: with the body's
/// frames (at most a few hundred KiB each) this bounds an append's memory.
const CHANNEL_CHUNKS: usize = 4;

/// How a segment of the body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SegmentEnd {
    /// The body ended cleanly.
    End,
    /// The body ended in an error (checksum mismatch, broken connection, …).
    BodyError,
    /// The segment reached the checkpoint size; the body goes on.
    Checkpoint,
}

/// What [`GcsStorage::upload_segment`] stored.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Bytes taken from the body (all in the object, when there is one).
    size: u64,
    end: SegmentEnd,
    /// The new object's generation; `None` when no object was made.
    generation: Option<u64>,
}

impl GcsStorage {
    /// Whether an append at `state` with this body goes straight into the data object: it
    /// starts at offset 0 and the body's announced size (`Content-Length`) is the whole
    /// upload, so the object written is the finished upload and nothing needs composing.
    fn completes_in_one_object(&self, state: &UploadState, data: &ChunkStream) -> bool {
        state.offset == 0
            && !state.backend.composed
            && state.backend.parts.is_empty()
            && state.length.is_some_and(|length| {
                length > 0 && length <= self.whole_object_max_bytes && data.content_length() == Some(length)
            })
    }

    /// Streams `data` into storage and commits it; returns the committed state and its
    /// generation. A body that completes the upload from offset 0 goes straight into the
    /// data object ([`GcsStorage::write_whole`]); any other into part objects.
    pub(crate) async fn write_body(
        &self,
        id: &UploadId,
        state: UploadState,
        generation: u64,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<(UploadState, u64), StorageError> {
        if self.completes_in_one_object(&state, data) {
            let name = self.layout.data(id);
            match self.api.start_upload(&name).await {
                Ok(session) => return self.write_whole(id, state, generation, data, options, &name, session).await,
                // A data object is there already, left by a writer that crashed or lost a
                // race: write parts (whose names are never reused); finishing overwrites it.
                Err(GcsError::PreconditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.write_parts(id, state, generation, data, options).await
    }

    /// Streams a body announced to complete the upload into the data object through the
    /// upload `session` opened for it, then commits the upload as complete. A checksummed
    /// body that fails is abandoned before GCS makes the object; any other body that ends
    /// early keeps what arrived: the object GCS made of it is committed as the upload's
    /// first part, and finishing the upload later composes the rest into it.
    #[allow(clippy::too_many_arguments)]
    async fn write_whole(
        &self,
        id: &UploadId,
        state: UploadState,
        generation: u64,
        data: &mut ChunkStream,
        options: AppendOptions,
        name: &str,
        session: String,
    ) -> Result<(UploadState, u64), StorageError> {
        let length = state.length.unwrap_or(0);
        let segment = match self.upload_segment(name, Some(session), data, u64::MAX, options.atomic).await {
            Ok(segment) => segment,
            // Another writer made `data/ID` while this body streamed (GCS checks the
            // precondition again when the upload ends): it won, or will lose its commit.
            Err(GcsError::PreconditionFailed) => return Err(tus_cloud::store::lost_race(self, id).await),
            Err(e) => return Err(e.into()),
        };
        let Some(object_generation) = segment.generation else {
            // Nothing arrived, or a checksummed body failed: nothing was stored.
            return Ok((state, generation));
        };
        if segment.end == SegmentEnd::End && segment.size == length {
            let mut next = state.clone();
            next.offset = length;
            next.backend.composed = true;
            next.set_expires_at(options.expires_at);
            return match self.save(id, &next, generation).await {
                Ok(new_generation) => Ok((next, new_generation)),
                Err(GcsError::PreconditionFailed) => {
                    self.delete_own(name, object_generation).await;
                    Err(tus_cloud::store::lost_race(self, id).await)
                }
                // Whether the state was written is unknown: keep the object. If it was
                // not, finishing the upload later overwrites it; removal deletes it.
                Err(e) => Err(e.into()),
            };
        }
        if options.atomic && segment.end == SegmentEnd::BodyError {
            // GCS made the object although the body was abandoned: all or nothing.
            self.delete_own(name, object_generation).await;
            return Ok((state, generation));
        }
        // The body broke off (or ended short): what arrived stays where it is, as the
        // upload's first part (no copy, so it is committed as soon as the body ends);
        // finishing the upload composes into this very object.
        let part = PartState { name: name.to_owned(), size: segment.size, generation: Some(object_generation) };
        self.commit(id, state, generation, Some(part), options.expires_at).await
    }

    /// Deletes an object this writer made, unless it was replaced since; logs failures.
    async fn delete_own(&self, name: &str, generation: u64) {
        match self.api.delete_generation(name, Some(generation)).await {
            Ok(_) | Err(GcsError::PreconditionFailed) => {}
            Err(e) => tracing::warn!(object = %name, error = %e, "could not delete an unreferenced object"),
        }
    }

    /// Writes `state` advanced by `part` (if any) and with the new expiry, on condition
    /// that its generation is still `generation`. On failure the part is deleted, and a
    /// lost race answers with the offset now stored.
    async fn commit(
        &self,
        id: &UploadId,
        state: UploadState,
        generation: u64,
        part: Option<PartState>,
        expires_at: Option<std::time::SystemTime>,
    ) -> Result<(UploadState, u64), StorageError> {
        let mut next = state;
        if let Some(part) = &part {
            next.offset += part.size;
            next.backend.parts.push(part.clone());
        }
        next.set_expires_at(expires_at);
        match self.save(id, &next, generation).await {
            Ok(new_generation) => Ok((next, new_generation)),
            Err(e) => {
                match part {
                    Some(PartState { name, generation: Some(generation), .. }) => {
                        self.delete_own(&name, generation).await
                    }
                    Some(part) => self.delete_quietly([part.name]).await,
                    None => {}
                }
                Err(match e {
                    GcsError::PreconditionFailed => tus_cloud::store::lost_race(self, id).await,
                    e => e.into(),
                })
            }
        }
    }

    /// Streams `data` into part objects and commits them; returns the committed state and
    /// its generation.
    async fn write_parts(
        &self,
        id: &UploadId,
        mut state: UploadState,
        mut generation: u64,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<(UploadState, u64), StorageError> {
        // Atomic (checksummed) bodies go into one part: all of it is committed, or nothing.
        let limit = if options.atomic { u64::MAX } else { self.checkpoint_bytes };
        let mut committed_any = false;
        loop {
            let name = self.layout.part(id, state.offset);
            let Segment { size, end, .. } = self.upload_segment(&name, None, data, limit, false).await?;
            if end == SegmentEnd::BodyError && options.atomic {
                if size > 0 {
                    self.delete_quietly([name]).await;
                }
                return Ok((state, generation));
            }
            if size > 0 || (!committed_any && options.expires_at.is_some() && end != SegmentEnd::BodyError) {
                let part = (size > 0).then(|| PartState { name: name.clone(), size, generation: None });
                (state, generation) = self.commit(id, state, generation, part, options.expires_at).await?;
                committed_any = true;
            }
            if end != SegmentEnd::Checkpoint {
                return Ok((state, generation));
            }
        }
    }

    /// Uploads the next up to `limit` bytes (a little more: whole chunks) of `data` into a
    /// new object `name`, through `session` if one was opened for it. Uploads nothing when
    /// no byte comes. When the body fails and `abandon_on_body_error` is set, the upload
    /// is abandoned (no object); otherwise the bytes before the error make the object.
    async fn upload_segment(
        &self,
        name: &str,
        session: Option<String>,
        data: &mut ChunkStream,
        limit: u64,
        abandon_on_body_error: bool,
    ) -> Result<Segment, GcsError> {
        // Wait for the first byte before starting a request, so empty bodies make no object.
        let first = loop {
            match data.next_chunk().await {
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(chunk)) => break chunk,
                Some(Err(_)) => return Ok(Segment { size: 0, end: SegmentEnd::BodyError, generation: None }),
                None => return Ok(Segment { size: 0, end: SegmentEnd::End, generation: None }),
            }
        };
        let (sender, mut receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
        let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        let timeout = self.api.timeout();
        let (body_done, body_sent) = oneshot::channel::<()>();
        let upload = async {
            let body = reqwest::Body::wrap_stream(body);
            let mut upload = std::pin::pin!(async {
                match &session {
                    Some(session) => self.api.put_to_session(session, name, body).await,
                    None => self.api.put_stream(name, body).await,
                }
            });
            // The upload lasts as long as its body; once the body is sent, GCS's answer
            // must come within the timeout.
            tokio::select! {
                answer = &mut upload => return answer,
                _ = body_sent => {}
            }
            tokio::time::timeout(timeout, upload)
                .await
                .unwrap_or_else(|_| Err(GcsError::TimedOut { operation: "upload object", target: name.to_owned() }))
        };
        let pump = async move {
            let _body_done = body_done;
            // GCS must take each chunk within the timeout, or the upload is given up.
            let send = |chunk: Bytes| {
                let sender = &sender;
                async move { matches!(tokio::time::timeout(timeout, sender.send(Ok(chunk))).await, Ok(Ok(()))) }
            };
            let mut sent = first.len() as u64;
            if !send(first).await {
                return (sent, None);
            }
            loop {
                if sent >= limit {
                    return (sent, Some(SegmentEnd::Checkpoint));
                }
                match data.next_chunk().await {
                    Some(Ok(chunk)) if chunk.is_empty() => {}
                    Some(Ok(chunk)) => {
                        sent += chunk.len() as u64;
                        // The upload stopped (it failed) or stalled: reported below.
                        if !send(chunk).await {
                            return (sent, None);
                        }
                    }
                    // Abandoning: an error in the upload's body aborts the request.
                    Some(Err(e)) if abandon_on_body_error => {
                        let error = std::io::Error::other(e);
                        let _ = tokio::time::timeout(timeout, sender.send(Err(error))).await;
                        return (sent, Some(SegmentEnd::BodyError));
                    }
                    // Otherwise the bytes before the error make a clean object; the caller
                    // decides whether to keep it (non-atomic) or delete it (atomic).
                    Some(Err(_)) => return (sent, Some(SegmentEnd::BodyError)),
                    None => return (sent, Some(SegmentEnd::End)),
                }
            }
            // Dropping the sender ends the upload's body; dropping `_body_done` starts
            // the wait for GCS's answer.
        };
        let (uploaded, (sent, end)) = tokio::join!(upload, pump);
        if abandon_on_body_error && end == Some(SegmentEnd::BodyError) {
            // The request was aborted, so normally no object exists; should GCS have
            // made one anyway, the caller gets its generation to delete it.
            let generation = uploaded.ok().map(|object| object.generation);
            return Ok(Segment { size: sent, end: SegmentEnd::BodyError, generation });
        }
        let object = uploaded?;
        let Some(end) = end else {
            self.delete_own(name, object.generation).await;
            return Err(GcsError::TimedOut { operation: "upload object (taking the body)", target: name.to_owned() });
        };
        if object.size != sent {
            self.delete_own(name, object.generation).await;
            return Err(GcsError::Corrupt(format!("{name} holds {} bytes, {sent} were sent", object.size)));
        }
        Ok(Segment { size: sent, end, generation: Some(object.generation) })
    }
}
