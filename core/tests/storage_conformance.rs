//! The storage conformance suite against the in-memory backend.
#![cfg(feature = "conformance")]

use std::sync::Arc;
use tus_core::storage::conformance;
use tus_core::{MemoryStorage, Storage};

#[tokio::test]
async fn memory_storage_conforms() {
    conformance::run_all(&MemoryStorage::new()).await;
}

#[tokio::test]
async fn the_suite_runs_through_a_trait_object_and_twice_on_one_storage() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    conformance::run_all(&*storage).await;
    conformance::run_all(&*storage).await;
}
