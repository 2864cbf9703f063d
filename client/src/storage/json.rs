use super::{StorageError, StoredUpload, UrlStorage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a writer waits for the file lock by default.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest pause between two attempts at taking the lock.
const MAX_LOCK_POLL: Duration = Duration::from_millis(50);

/// A URL storage in one JSON file.
///
/// Every change reads the file, changes it and writes it back whole: to a temporary file
/// in the same directory, flushed to disk and renamed over the old one, so a crash never
/// leaves a half-written file. The read-change-write runs under an exclusive lock on a
/// `.lock` file beside it (an OS file lock), so concurrent writers — threads of one
/// process or other processes — never lose each other's entries. A writer waits for the
/// lock at most [`JsonFileUrlStorage::lock_timeout`] (10 s by default), then fails with
/// [`StorageError::LockTimeout`] rather than hanging behind a stuck process.
///
/// ```no_run
/// use tus_rs_client::{Client, JsonFileUrlStorage};
///
/// let storage = JsonFileUrlStorage::new("/home/me/.cache/my-app/tus-uploads.json");
/// let client = Client::builder("https://uploads.example.com/files").url_storage(storage).build()?;
/// # Ok::<(), tus_rs_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct JsonFileUrlStorage {
    path: PathBuf,
    lock_timeout: Duration,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileContent {
    version: u32,
    uploads: BTreeMap<String, StoredUpload>,
}

impl JsonFileUrlStorage {
    /// A storage in the file at `path` (it and its directory are created when needed).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), lock_timeout: DEFAULT_LOCK_TIMEOUT }
    }

    /// How long an operation waits for another writer to release the file lock before it
    /// fails with [`StorageError::LockTimeout`] (10 s by default).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The JSON file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// Runs `f` on the content under the lock; writes the content back when `f` says so.
    fn locked<R>(&self, exclusive: bool, f: impl FnOnce(&mut FileContent) -> (R, bool)) -> Result<R, StorageError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(self.lock_path())?;
        self.acquire(&lock, exclusive)?;
        let mut content = self.read()?;
        let (result, write) = f(&mut content);
        if write {
            debug_assert!(exclusive);
            self.write(&content)?;
        }
        drop(lock); // unlocks
        Ok(result)
    }

    /// Takes the OS lock on `lock`, polling (the standard library's blocking lock has no
    /// timeout) with pauses growing from 1 ms to [`MAX_LOCK_POLL`].
    fn acquire(&self, lock: &File, exclusive: bool) -> Result<(), StorageError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let attempt = if exclusive { lock.try_lock() } else { lock.try_lock_shared() };
            match attempt {
                Ok(()) => return Ok(()),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
            let waited = started.elapsed();
            if waited >= self.lock_timeout {
                return Err(StorageError::LockTimeout(waited));
            }
            std::thread::sleep(pause.min(self.lock_timeout - waited));
            pause = (pause * 2).min(MAX_LOCK_POLL);
        }
    }

    fn read(&self) -> Result<FileContent, StorageError> {
        let mut text = String::new();
        match File::open(&self.path) {
            Ok(mut file) => file.read_to_string(&mut text)?,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(FileContent { version: 1, ..Default::default() }),
            Err(e) => return Err(e.into()),
        };
        if text.trim().is_empty() {
            return Ok(FileContent { version: 1, ..Default::default() });
        }
        serde_json::from_str(&text).map_err(|e| StorageError::Format(format!("{}: {e}", self.path.display())))
    }

    fn write(&self, content: &FileContent) -> Result<(), StorageError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(format!(".tmp-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let temp = self.path.with_file_name(name);
        let json = serde_json::to_vec_pretty(content).map_err(|e| StorageError::Format(e.to_string()))?;
        let result = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(&json)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temp, &self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        Ok(result?)
    }
}

impl UrlStorage for JsonFileUrlStorage {
    fn get(&self, key: &str) -> Result<Option<StoredUpload>, StorageError> {
        self.locked(false, |c| (c.uploads.get(key).cloned(), false))
    }

    fn set(&self, key: &str, upload: &StoredUpload) -> Result<(), StorageError> {
        self.locked(true, |c| {
            c.version = 1;
            c.uploads.insert(key.to_owned(), upload.clone());
            ((), true)
        })
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.locked(true, |c| {
            let removed = c.uploads.remove(key).is_some();
            ((), removed)
        })
    }

    fn entries(&self) -> Result<Vec<(String, StoredUpload)>, StorageError> {
        self.locked(false, |c| (c.uploads.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn behaves_like_a_storage() {
        let dir = tempfile::tempdir().unwrap();
        let storage = JsonFileUrlStorage::new(dir.path().join("nested/dir/urls.json"));
        super::super::tests::exercise(&storage);
        let text = std::fs::read_to_string(storage.path()).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        // Only the file and its lock remain: no temporary files are left behind.
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join("nested/dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["urls.json", "urls.json.lock"]);
    }

    /// Each thread has its own storage value (its own file handles), as separate
    /// processes would: the file lock alone keeps their entries.
    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("urls.json");
        super::super::tests::concurrent_writers(|| Arc::new(JsonFileUrlStorage::new(&path)));
    }

    /// A writer that holds the lock for too long makes others fail after the timeout
    /// instead of waiting forever; once it lets go, they succeed.
    #[test]
    fn a_held_lock_times_out_then_frees() {
        let dir = tempfile::tempdir().unwrap();
        let storage = JsonFileUrlStorage::new(dir.path().join("urls.json")).lock_timeout(Duration::from_millis(300));
        let holder = OpenOptions::new().create(true).truncate(false).write(true).open(storage.lock_path()).unwrap();
        holder.lock().unwrap();
        let started = Instant::now();
        let upload = StoredUpload::single("e", "http://h/files/1");
        match storage.set("a", &upload) {
            Err(StorageError::LockTimeout(waited)) => assert!(waited >= Duration::from_millis(300), "{waited:?}"),
            other => panic!("expected a lock timeout, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(storage.get("a"), Err(StorageError::LockTimeout(_))), "readers wait for writers too");
        holder.unlock().unwrap();
        storage.set("a", &upload).unwrap();
        assert_eq!(storage.get("a").unwrap(), Some(upload));
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("urls.json");
        std::fs::write(&path, "{ not json").unwrap();
        let storage = JsonFileUrlStorage::new(&path);
        assert!(matches!(storage.get("a"), Err(StorageError::Format(_))));
    }
}
