//! Part buffers: one part's bytes before it is uploaded, in memory while the global budget
//! allows and in a temporary file otherwise.

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use tempfile::TempPath;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in KiB so that a `u32` permit count covers any part.
const UNIT: u64 = 1024;

/// Hands out part buffers, keeping the bytes buffered in memory under one cap.
#[derive(Debug, Clone)]
pub(crate) struct BufferPool {
    budget: Arc<Semaphore>,
    temp_dir: PathBuf,
}

impl BufferPool {
    /// A pool that buffers at most `cap` bytes in memory and spills to `temp_dir`.
    pub(crate) fn new(cap: u64, temp_dir: PathBuf) -> Self {
        let units = usize::try_from(cap / UNIT).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        Self { budget: Arc::new(Semaphore::new(units)), temp_dir }
    }

    /// An empty buffer for up to `capacity` bytes: in memory when the budget has room for
    /// all of it now, else in a temporary file (never waiting for memory).
    pub(crate) fn buffer(&self, capacity: u64) -> io::Result<PartBuffer> {
        let units = u32::try_from(capacity.div_ceil(UNIT)).unwrap_or(u32::MAX);
        let inner = match self.budget.clone().try_acquire_many_owned(units) {
            Ok(permit) => Inner::Memory { bytes: Vec::new(), permit },
            Err(_) => {
                let (file, path) = tempfile::NamedTempFile::new_in(&self.temp_dir)?.into_parts();
                Inner::File { file: tokio::fs::File::from_std(file), path }
            }
        };
        Ok(PartBuffer { inner, len: 0, capacity })
    }
}

/// One part's bytes, filling up.
#[derive(Debug)]
pub(crate) struct PartBuffer {
    inner: Inner,
    len: u64,
    capacity: u64,
}

#[derive(Debug)]
enum Inner {
    Memory { bytes: Vec<u8>, permit: OwnedSemaphorePermit },
    File { file: tokio::fs::File, path: TempPath },
}

impl PartBuffer {
    /// Bytes held.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds no byte.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left before the part is full.
    pub(crate) fn room(&self) -> u64 {
        self.capacity - self.len
    }

    /// Appends `chunk`, which must fit in [`room`](Self::room).
    pub(crate) async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        debug_assert!(chunk.len() as u64 <= self.room());
        match &mut self.inner {
            Inner::Memory { bytes, .. } => {
                if bytes.capacity() == 0 {
                    // The whole part at once: no copies while it grows, and pages the part
                    // never fills are never touched, so they cost no memory.
                    bytes.reserve_exact(usize::try_from(self.capacity).unwrap_or(usize::MAX));
                }
                bytes.extend_from_slice(chunk);
            }
            Inner::File { file, .. } => file.write_all(chunk).await?,
        }
        self.len += chunk.len() as u64;
        Ok(())
    }

    /// The finished part, ready to be sent (and re-sent on retries).
    pub(crate) async fn finish(self) -> io::Result<PartBody> {
        let source = match self.inner {
            Inner::Memory { bytes, permit } => Source::Memory { bytes: Bytes::from(bytes), _permit: permit },
            Inner::File { mut file, path } => {
                file.flush().await?;
                drop(file);
                Source::File(path)
            }
        };
        Ok(PartBody { source, len: self.len })
    }
}

/// A complete part. Memory parts keep their share of the budget until dropped.
#[derive(Debug)]
pub(crate) struct PartBody {
    source: Source,
    len: u64,
}

#[derive(Debug)]
enum Source {
    Memory { bytes: Bytes, _permit: OwnedSemaphorePermit },
    File(TempPath),
}

impl PartBody {
    /// Its size.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// A request body for it.
    pub(crate) async fn stream(&self) -> io::Result<ByteStream> {
        match &self.source {
            Source::Memory { bytes, .. } => Ok(ByteStream::from(bytes.clone())),
            Source::File(path) => ByteStream::from_path(path.to_path_buf()).await.map_err(io::Error::other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spills_to_a_file_when_the_budget_is_spent() {
        let dir = tempfile::tempdir().unwrap();
        let pool = BufferPool::new(64 * 1024, dir.path().to_owned());
        let mut memory = pool.buffer(64 * 1024).unwrap();
        assert!(matches!(memory.inner, Inner::Memory { .. }));
        let mut file = pool.buffer(1024).unwrap();
        assert!(matches!(file.inner, Inner::File { .. }));
        memory.write(b"abc").await.unwrap();
        file.write(b"defg").await.unwrap();
        let (memory, file) = (memory.finish().await.unwrap(), file.finish().await.unwrap());
        assert_eq!((memory.len(), file.len()), (3, 4));
        let bytes = file.stream().await.unwrap().collect().await.unwrap().into_bytes();
        assert_eq!(&bytes[..], b"defg");
        drop(memory);
        assert!(matches!(pool.buffer(64 * 1024).unwrap().inner, Inner::Memory { .. }), "the budget comes back");
    }
}
