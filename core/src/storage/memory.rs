use super::{AppendOptions, ByteStream, ChunkStream, Concat, NewUpload, Removal, Storage, StorageFeatures, UploadInfo};
use crate::error::StorageError;
use crate::id::UploadId;
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// Uploads kept in memory: for tests, examples and short-lived processes.
///
/// It supports every feature, so the conformance suite can run against it, but it
/// holds every byte in RAM and loses everything when dropped.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    uploads: HashMap<UploadId, Entry>,
    tombstones: HashSet<UploadId>,
}

#[derive(Debug)]
struct Entry {
    info: UploadInfo,
    data: Vec<u8>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps half-updated.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn entry<'a>(state: &'a mut State, id: &UploadId) -> Result<&'a mut Entry, StorageError> {
        if state.tombstones.contains(id) {
            return Err(StorageError::Gone);
        }
        state.uploads.get_mut(id).ok_or(StorageError::NotFound)
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    fn features(&self) -> StorageFeatures {
        StorageFeatures::ALL
    }

    async fn create(&self, upload: NewUpload) -> Result<UploadInfo, StorageError> {
        let mut state = self.lock();
        if state.uploads.contains_key(&upload.id) || state.tombstones.contains(&upload.id) {
            return Err(StorageError::AlreadyExists);
        }
        let info = UploadInfo::from_new(&upload);
        state.uploads.insert(upload.id, Entry { info: info.clone(), data: Vec::new() });
        Ok(info)
    }

    async fn info(&self, id: &UploadId) -> Result<UploadInfo, StorageError> {
        Ok(Self::entry(&mut self.lock(), id)?.info.clone())
    }

    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        data: &mut ChunkStream,
        options: AppendOptions,
    ) -> Result<UploadInfo, StorageError> {
        let actual = Self::entry(&mut self.lock(), id)?.info.offset;
        if actual != offset {
            return Err(StorageError::OffsetMismatch { actual });
        }
        let mut received = Vec::new();
        let mut failed = false;
        while let Some(chunk) = data.next_chunk().await {
            match chunk {
                Ok(chunk) => received.extend_from_slice(&chunk),
                Err(_) => failed = true,
            }
        }
        let mut state = self.lock();
        let entry = Self::entry(&mut state, id)?;
        if entry.info.offset != offset {
            return Err(StorageError::OffsetMismatch { actual: entry.info.offset });
        }
        if failed && options.atomic {
            return Ok(entry.info.clone());
        }
        entry.data.extend_from_slice(&received);
        entry.info.offset += received.len() as u64;
        if options.expires_at.is_some() {
            entry.info.expires_at = options.expires_at;
        }
        Ok(entry.info.clone())
    }

    async fn set_length(&self, id: &UploadId, length: u64) -> Result<UploadInfo, StorageError> {
        let mut state = self.lock();
        let entry = Self::entry(&mut state, id)?;
        if entry.info.length.is_some() {
            return Err(StorageError::LengthAlreadySet);
        }
        entry.info.length = Some(length);
        Ok(entry.info.clone())
    }

    async fn concatenate(&self, final_id: &UploadId, partials: &[UploadInfo]) -> Result<UploadInfo, StorageError> {
        let mut state = self.lock();
        let mut bytes = Vec::new();
        for partial in partials {
            bytes.extend_from_slice(&Self::entry(&mut state, &partial.id)?.data);
        }
        let entry = Self::entry(&mut state, final_id)?;
        if entry.info.offset > 0 {
            return Err(StorageError::AlreadyExists);
        }
        entry.info.length = Some(bytes.len() as u64);
        entry.info.offset = bytes.len() as u64;
        entry.data = bytes;
        Ok(entry.info.clone())
    }

    async fn finals_waiting_for(&self, partial: &UploadId) -> Result<Vec<UploadId>, StorageError> {
        let state = self.lock();
        Ok(state
            .uploads
            .values()
            .filter(|e| {
                !e.info.is_complete() && matches!(&e.info.concat, Some(Concat::Final(parts)) if parts.contains(partial))
            })
            .map(|e| e.info.id.clone())
            .collect())
    }

    async fn read(&self, id: &UploadId, range: Range<u64>) -> Result<ByteStream, StorageError> {
        let mut state = self.lock();
        let entry = Self::entry(&mut state, id)?;
        let len = entry.data.len() as u64;
        let start = range.start.min(len) as usize;
        let end = range.end.min(len) as usize;
        let bytes = Bytes::copy_from_slice(&entry.data[start..end]);
        let mut once = Some(bytes);
        Ok(Box::pin(futures_util::stream::poll_fn(move |_| std::task::Poll::Ready(once.take().map(Ok)))))
    }

    async fn remove(&self, id: &UploadId, _why: Removal) -> Result<(), StorageError> {
        let mut state = self.lock();
        Self::entry(&mut state, id)?;
        state.uploads.remove(id);
        state.tombstones.insert(id.clone());
        Ok(())
    }

    async fn expired(&self, now: SystemTime, limit: usize) -> Result<Vec<UploadInfo>, StorageError> {
        let state = self.lock();
        Ok(state.uploads.values().filter(|e| e.info.is_expired(now)).take(limit).map(|e| e.info.clone()).collect())
    }
}
