//! The storage conformance suite from tus-core, against Azurite.

use tus_azure::emulator::Azurite;
use tus_core::storage::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_storage_conforms() {
    let emulator = Azurite::start();
    let storage = emulator.storage("conformance", |c| c).await;
    conformance::run_all(&storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_storage_conforms_with_a_prefix_tiny_blocks_and_checkpoints() {
    let emulator = Azurite::start();
    // Every append is cut into blocks of 3 bytes, staged 2 at a time; non-atomic appends
    // are recorded every 2 bytes.
    let storage = emulator
        .storage("conformance", |c| c.prefix("tus/uploads/").block_size(3).block_concurrency(2).checkpoint_bytes(2))
        .await;
    conformance::run_all(&storage).await;
}
