use super::{StorageError, StoredUpload, UrlStorage};
use rusqlite::{Connection, OptionalExtension as _, params};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A URL storage in an SQLite database (table `tus_upload_urls`), safe for concurrent
/// threads (one connection behind a mutex) and processes (SQLite's locking, WAL mode and
/// a busy timeout). Needs the `sqlite` feature.
///
/// ```no_run
/// use tus_rs_client::{Client, SqliteUrlStorage};
///
/// let storage = SqliteUrlStorage::open("uploads.sqlite3")?;
/// let client = Client::builder("https://uploads.example.com/files").url_storage(storage).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SqliteUrlStorage {
    connection: Mutex<Connection>,
}

fn db(e: rusqlite::Error) -> StorageError {
    StorageError::Database(Box::new(e))
}

impl SqliteUrlStorage {
    /// Opens (creating when missing) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        if let Some(dir) = path.as_ref().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Self::from_connection(Connection::open(path).map_err(db)?)
    }

    /// A database in memory.
    pub fn in_memory() -> Result<Self, StorageError> {
        Self::from_connection(Connection::open_in_memory().map_err(db)?)
    }

    fn from_connection(connection: Connection) -> Result<Self, StorageError> {
        connection.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        // Switching to WAL and creating the table can answer "busy" without waiting when other
        // processes open the same new file at the same moment (SQLite skips the busy handler
        // there to avoid deadlocks), so those retry by hand, within the same timeout.
        let deadline = Instant::now() + BUSY_TIMEOUT;
        loop {
            match set_up(&connection) {
                Err(e) if is_busy(&e) && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                other => break other.map_err(db)?,
            }
        }
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long a call waits for another process's write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// WAL mode (readers and a writer of other processes work at once; in-memory databases
/// answer "memory", which is fine) and the table.
fn set_up(connection: &Connection) -> rusqlite::Result<()> {
    let _: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS tus_upload_urls (
            key TEXT PRIMARY KEY NOT NULL,
            upload TEXT NOT NULL
        )",
    )
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

fn parse(json: &str) -> Result<StoredUpload, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Format(e.to_string()))
}

impl UrlStorage for SqliteUrlStorage {
    fn get(&self, key: &str) -> Result<Option<StoredUpload>, StorageError> {
        let json: Option<String> = self
            .connection()
            .query_row("SELECT upload FROM tus_upload_urls WHERE key = ?1", [key], |row| row.get(0))
            .optional()
            .map_err(db)?;
        json.as_deref().map(parse).transpose()
    }

    fn set(&self, key: &str, upload: &StoredUpload) -> Result<(), StorageError> {
        let json = serde_json::to_string(upload).map_err(|e| StorageError::Format(e.to_string()))?;
        self.connection()
            .execute(
                "INSERT INTO tus_upload_urls (key, upload) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET upload = excluded.upload",
                params![key, json],
            )
            .map_err(db)?;
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.connection().execute("DELETE FROM tus_upload_urls WHERE key = ?1", [key]).map_err(db)?;
        Ok(())
    }

    fn entries(&self) -> Result<Vec<(String, StoredUpload)>, StorageError> {
        let connection = self.connection();
        let mut statement = connection.prepare("SELECT key, upload FROM tus_upload_urls ORDER BY key").map_err(db)?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        rows.into_iter().map(|(key, json)| Ok((key, parse(&json)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn behaves_like_a_storage() {
        super::super::tests::exercise(&SqliteUrlStorage::in_memory().unwrap());
        let dir = tempfile::tempdir().unwrap();
        super::super::tests::exercise(&SqliteUrlStorage::open(dir.path().join("a/urls.db")).unwrap());
    }

    /// Separate connections to one file, as separate processes would have.
    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("urls.db");
        super::super::tests::concurrent_writers(|| Arc::new(SqliteUrlStorage::open(&path).unwrap()));
    }
}
