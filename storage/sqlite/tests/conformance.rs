//! The storage conformance suite from tus-core, against real SQLite files.

use tus_core::storage::conformance;
use tus_sqlite::{Durability, SqliteStorage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_storage_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    conformance::run_all(&storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_storage_conforms_with_buffered_durability() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).durability(Durability::Buffered).open().unwrap();
    conformance::run_all(&storage).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_storage_conforms_on_a_current_thread_runtime_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    conformance::run_all(&storage).await;
    drop(storage);
    // The uploads of the first run stay in the directory; recovery must leave them sound.
    let storage = SqliteStorage::open(dir.path()).unwrap();
    conformance::run_all(&storage).await;
}

/// An exclusive storage answers `info` from its cache: every check reads back what it changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_sqlite_storage_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).exclusive(true).open().unwrap();
    conformance::run_all(&storage).await;
    // Twice: the second run finds the first run's records cached.
    conformance::run_all(&storage).await;
}
