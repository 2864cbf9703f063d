//! Concatenation: the final's object is assembled on S3's side with UploadPartCopy.
//!
//! Every part but the last must hold at least the minimum part size, so partials below it
//! cannot be copied as parts of their own: their bytes pass through the server into a
//! buffer of at most the minimum part size, which is topped up from the start of the next
//! partial (a ranged GET) and uploaded as a part once full. Everything else is copied, in
//! pieces of at most 5 GiB (S3's part limit).

use crate::buffer::PartBuffer;
use crate::error::body_error;
use crate::objects::Objects;
use crate::sizing::S3_MAX_PART_SIZE;
use crate::state::PartState;
use tus_core::{StorageError, UploadInfo};

/// Assembles `partials` (complete uploads) into the data object of `final_id`.
pub(crate) async fn assemble(
    storage: &crate::S3Storage,
    final_id: &str,
    partials: &[UploadInfo],
) -> Result<u64, StorageError> {
    let objects = storage.objects();
    let key = objects.data_key(final_id);
    let min = storage.min_part_size();
    let total: u64 = partials.iter().map(|p| p.offset).sum();
    let mut assembly = Assembly { objects, key: key.clone(), upload_id: None, parts: Vec::new() };
    let mut buffer: Option<PartBuffer> = None;
    let last_index = partials.iter().rposition(|p| p.offset > 0);

    let result = async {
        for (index, partial) in partials.iter().enumerate() {
            let source = objects.data_key(partial.id.as_str());
            let size = partial.offset;
            let is_last = Some(index) == last_index;
            let mut pos = 0;
            while pos < size {
                let remaining = size - pos;
                let buffered = buffer.as_ref().map_or(0, PartBuffer::len);
                if buffered == 0 && (remaining >= min || is_last) {
                    // Copy the rest on S3's side, in near-equal pieces of at most 5 GiB.
                    let pieces = remaining.div_ceil(S3_MAX_PART_SIZE);
                    let piece = remaining.div_ceil(pieces);
                    while pos < size {
                        let end = (pos + piece).min(size);
                        assembly.copy(&source, pos..end).await?;
                        pos = end;
                    }
                    break;
                }
                // Through the server: fill the buffer up to the minimum part size.
                let take = remaining.min(min - buffered);
                let part = match &mut buffer {
                    Some(part) => part,
                    None => buffer.insert(storage.pool().buffer(min)?),
                };
                let mut body = objects.get(&source, Some(pos..pos + take)).await.map_err(StorageError::from)?;
                while let Some(chunk) = body.next().await {
                    part.write(&chunk.map_err(|e| body_error("GetObject (partial)", e))?).await?;
                }
                pos += take;
                if part.room() == 0
                    && let Some(full) = buffer.take()
                {
                    assembly.upload(full).await?;
                }
            }
        }
        match (buffer.take().filter(|b| !b.is_empty()), &assembly.upload_id) {
            (Some(rest), Some(_)) => assembly.upload(rest).await?,
            (Some(rest), None) => {
                let body = rest.finish().await?;
                objects.put_buffered(&key, &body).await?;
            }
            (None, None) => objects.put(&key, Default::default(), 0).await?,
            (None, Some(_)) => {}
        }
        if let Some(upload_id) = &assembly.upload_id {
            let parts = assembly.parts.iter().map(|p| (p.number, p.etag.clone()));
            objects.complete_multipart(&key, upload_id, parts).await?;
        }
        Ok::<_, StorageError>(())
    }
    .await;
    if let (Err(_), Some(upload_id)) = (&result, &assembly.upload_id) {
        let _ = objects.abort_multipart(&key, upload_id).await;
    }
    result.map(|()| total)
}

/// The multipart upload of a final, part by part.
struct Assembly<'a> {
    objects: &'a Objects,
    key: String,
    upload_id: Option<String>,
    parts: Vec<PartState>,
}

impl Assembly<'_> {
    async fn upload_id(&mut self) -> Result<String, StorageError> {
        if let Some(upload_id) = &self.upload_id {
            return Ok(upload_id.clone());
        }
        let upload_id = self.objects.create_multipart(&self.key).await?;
        Ok(self.upload_id.insert(upload_id).clone())
    }

    fn next_number(&self) -> i32 {
        i32::try_from(self.parts.len()).unwrap_or(i32::MAX - 1) + 1
    }

    async fn copy(&mut self, source: &str, range: std::ops::Range<u64>) -> Result<(), StorageError> {
        let upload_id = self.upload_id().await?;
        let number = self.next_number();
        let size = range.end - range.start;
        let etag = self.objects.copy_part(&self.key, &upload_id, number, source, range).await?;
        self.parts.push(PartState { number, etag, size });
        Ok(())
    }

    async fn upload(&mut self, buffer: PartBuffer) -> Result<(), StorageError> {
        let upload_id = self.upload_id().await?;
        let number = self.next_number();
        let body = buffer.finish().await?;
        let etag = self.objects.upload_part(&self.key, &upload_id, number, body.stream().await?, body.len()).await?;
        self.parts.push(PartState { number, etag, size: body.len() });
        Ok(())
    }
}
