//! Storing a PATCH body: its bytes stream into part objects (one per checkpoint), each
//! committed to the info object with a generation precondition.

use crate::GcsStorage;
use crate::error::GcsError;
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

impl GcsStorage {
    /// Streams `data` into part objects and commits them; returns the committed state and
    /// its generation.
    pub(crate) async fn write_body(
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
            let (size, end) = self.upload_segment(&name, data, limit).await?;
            if end == SegmentEnd::BodyError && options.atomic {
                if size > 0 {
                    self.delete_quietly([name]).await;
                }
                return Ok((state, generation));
            }
            if size > 0 || (!committed_any && options.expires_at.is_some() && end != SegmentEnd::BodyError) {
                let mut next = state.clone();
                if size > 0 {
                    next.backend.parts.push(PartState { name: name.clone(), size });
                    next.offset += size;
                }
                next.set_expires_at(options.expires_at);
                match self.save(id, &next, generation).await {
                    Ok(new_generation) => {
                        state = next;
                        generation = new_generation;
                        committed_any = true;
                    }
                    Err(e) => {
                        if size > 0 {
                            self.delete_quietly([name]).await;
                        }
                        return Err(match e {
                            GcsError::PreconditionFailed => self.lost_race(id).await,
                            e => e.into(),
                        });
                    }
                }
            }
            if end != SegmentEnd::Checkpoint {
                return Ok((state, generation));
            }
        }
    }

    /// Uploads the next up to `limit` bytes (a little more: whole chunks) of `data` into a
    /// new object `name`. Uploads nothing when no byte comes.
    async fn upload_segment(
        &self,
        name: &str,
        data: &mut ChunkStream,
        limit: u64,
    ) -> Result<(u64, SegmentEnd), StorageError> {
        // Wait for the first byte before starting a request, so empty bodies make no object.
        let first = loop {
            match data.next_chunk().await {
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(chunk)) => break chunk,
                Some(Err(_)) => return Ok((0, SegmentEnd::BodyError)),
                None => return Ok((0, SegmentEnd::End)),
            }
        };
        let (sender, mut receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
        let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        let timeout = self.api.timeout();
        let (body_done, body_sent) = oneshot::channel::<()>();
        let upload = async {
            let mut upload = std::pin::pin!(self.api.put_stream(name, reqwest::Body::wrap_stream(body)));
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
                    // The bytes before the error make a clean object; the caller decides
                    // whether to keep it (non-atomic) or delete it (atomic).
                    Some(Err(_)) => return (sent, Some(SegmentEnd::BodyError)),
                    None => return (sent, Some(SegmentEnd::End)),
                }
            }
            // Dropping the sender ends the upload's body; dropping `_body_done` starts
            // the wait for GCS's answer.
        };
        let (uploaded, (sent, end)) = tokio::join!(upload, pump);
        let object = uploaded?;
        let Some(end) = end else {
            self.delete_quietly([name.to_owned()]).await;
            return Err(
                GcsError::TimedOut { operation: "upload object (taking the body)", target: name.to_owned() }.into()
            );
        };
        if object.size != sent {
            self.delete_quietly([name.to_owned()]).await;
            return Err(GcsError::Corrupt(format!("{name} holds {} bytes, {sent} were sent", object.size)).into());
        }
        Ok((sent, end))
    }
}
