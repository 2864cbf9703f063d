//! The storage conformance suite from tus-core, against fake-gcs-server.

use tus_core::storage::conformance;
use tus_gcs::emulator::FakeGcs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_storage_conforms() {
    let emulator = FakeGcs::start();
    let storage = emulator.storage("conformance", |c| c).await;
    conformance::run_all(&storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_storage_conforms_with_a_prefix_and_tiny_checkpoints() {
    let emulator = FakeGcs::start();
    // Every non-atomic append is cut into parts of (about) 2 bytes, each one committed.
    let storage = emulator.storage("conformance", |c| c.prefix("tus/uploads/").checkpoint_bytes(2)).await;
    conformance::run_all(&storage).await;
}
