use super::{StorageError, StoredUpload, UrlStorage};
use std::collections::HashMap;
use std::sync::Mutex;

/// A URL storage in memory: it lasts as long as the process (useful for tests, or to
/// resume within one program run).
#[derive(Debug, Default)]
pub struct MemoryUrlStorage {
    entries: Mutex<HashMap<String, StoredUpload>>,
}

impl MemoryUrlStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, StoredUpload>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl UrlStorage for MemoryUrlStorage {
    fn get(&self, key: &str) -> Result<Option<StoredUpload>, StorageError> {
        Ok(self.map().get(key).cloned())
    }

    fn set(&self, key: &str, upload: &StoredUpload) -> Result<(), StorageError> {
        self.map().insert(key.to_owned(), upload.clone());
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.map().remove(key);
        Ok(())
    }

    fn entries(&self) -> Result<Vec<(String, StoredUpload)>, StorageError> {
        Ok(self.map().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn behaves_like_a_storage() {
        super::super::tests::exercise(&MemoryUrlStorage::new());
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let shared: Arc<dyn UrlStorage> = Arc::new(MemoryUrlStorage::new());
        super::super::tests::concurrent_writers(|| shared.clone());
    }
}
