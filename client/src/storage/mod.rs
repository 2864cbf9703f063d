//! URL storages: where the URLs of unfinished uploads are kept between sessions, so that
//! uploading the same file again resumes instead of starting over.
//!
//! Keys are made by the client from the file's [fingerprint](crate::Fingerprinter) and
//! the endpoint; values are [`StoredUpload`]s. Three storages come with the crate:
//! [`JsonFileUrlStorage`] (one JSON file, safe for concurrent processes),
//! [`SqliteUrlStorage`] (feature `sqlite`) and [`MemoryUrlStorage`].

mod json;
mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use json::JsonFileUrlStorage;
pub use memory::MemoryUrlStorage;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteUrlStorage;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// What is remembered about an unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredUpload {
    /// The endpoint the upload was created at.
    pub endpoint: String,
    /// The upload's URL (a single upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
    /// The URLs of the partial uploads, in order (a parallel upload not yet concatenated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial_urls: Vec<String>,
    /// When it was stored, in seconds since the Unix epoch.
    pub created_at: u64,
}

impl StoredUpload {
    /// A single upload at `upload_url`, stored now.
    pub fn single(endpoint: impl Into<String>, upload_url: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            upload_url: Some(upload_url.into()),
            partial_urls: Vec::new(),
            created_at: now(),
        }
    }

    /// A parallel upload made of `partial_urls`, stored now.
    pub fn parallel(endpoint: impl Into<String>, partial_urls: Vec<String>) -> Self {
        Self { endpoint: endpoint.into(), upload_url: None, partial_urls, created_at: now() }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A stored upload and its key, as found by [`Client::find_previous_uploads`].
///
/// [`Client::find_previous_uploads`]: crate::Client::find_previous_uploads
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreviousUpload {
    /// The storage key (the fingerprint, a space and the endpoint).
    pub key: String,
    /// What was stored.
    pub upload: StoredUpload,
}

/// Where upload URLs are kept between sessions. Implementations must be safe to share
/// between threads; the client calls them on a blocking thread.
pub trait UrlStorage: Send + Sync + fmt::Debug {
    /// The upload stored under `key`.
    fn get(&self, key: &str) -> Result<Option<StoredUpload>, StorageError>;
    /// Stores `upload` under `key`, replacing what was there.
    fn set(&self, key: &str, upload: &StoredUpload) -> Result<(), StorageError>;
    /// Forgets `key` (no error when it is not stored).
    fn remove(&self, key: &str) -> Result<(), StorageError>;
    /// Every stored upload with its key.
    fn entries(&self) -> Result<Vec<(String, StoredUpload)>, StorageError>;
}

/// Why a URL storage failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// Reading or writing its file failed.
    Io(std::io::Error),
    /// Its content cannot be parsed.
    Format(String),
    /// The database failed.
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// Another writer held the storage's lock for longer than the lock timeout.
    LockTimeout(std::time::Duration),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Format(message) => write!(f, "unreadable content: {message}"),
            Self::Database(e) => write!(f, "database error: {e}"),
            Self::LockTimeout(waited) => {
                write!(f, "the storage stayed locked by another writer for {:.1} s", waited.as_secs_f64())
            }
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Database(e) => Some(e.as_ref()),
            Self::Format(_) | Self::LockTimeout(_) => None,
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// The behaviour every storage shares.
    pub(crate) fn exercise(storage: &dyn UrlStorage) {
        assert_eq!(storage.get("a").unwrap(), None);
        let one = StoredUpload::single("http://h/files", "http://h/files/1");
        storage.set("a", &one).unwrap();
        assert_eq!(storage.get("a").unwrap(), Some(one.clone()));
        let two =
            StoredUpload::parallel("http://h/files", vec!["http://h/files/p1".into(), "http://h/files/p2".into()]);
        storage.set("a", &two).unwrap();
        storage.set("b", &one).unwrap();
        assert_eq!(storage.get("a").unwrap(), Some(two.clone()));
        let mut entries = storage.entries().unwrap();
        entries.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(entries, vec![("a".to_owned(), two), ("b".to_owned(), one)]);
        storage.remove("a").unwrap();
        storage.remove("a").unwrap();
        assert_eq!(storage.get("a").unwrap(), None);
        assert_eq!(storage.entries().unwrap().len(), 1);
    }

    /// Many threads writing distinct keys at once: none may be lost.
    pub(crate) fn concurrent_writers(make: impl Fn() -> Arc<dyn UrlStorage>) {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let storage = make();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let key = format!("t{t}-{i}");
                        storage.set(&key, &StoredUpload::single("e", format!("http://h/files/{key}"))).unwrap();
                        if i % 5 == 0 {
                            storage.remove(&key).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let storage = make();
        let entries = storage.entries().unwrap();
        assert_eq!(entries.len(), 8 * 20, "entries were lost by concurrent writers");
        for (key, upload) in entries {
            assert_eq!(upload.upload_url.unwrap(), format!("http://h/files/{key}"));
        }
    }
}
