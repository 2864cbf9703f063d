//! The tus-core storage conformance suite against S3 on moto, with a lowered minimum part
//! size so that small bodies exercise parts, incomplete parts and UploadPartCopy.

use tus_s3::S3Storage;
use tus_s3::moto::Moto;

/// The minimum part size moto is started with.
const MIN_PART: u64 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_storage_conforms() {
    let moto = Moto::start_with_min_part_size(Some(MIN_PART));
    let client = moto.create_bucket("conformance").await;
    // Parts of 4 bytes: appends of 1 to 6 bytes cross part boundaries and leave incomplete parts.
    let storage = S3Storage::builder(client.clone(), "conformance")
        .prefix("suite/")
        .min_part_size(MIN_PART)
        .part_size(MIN_PART)
        .part_concurrency(2)
        .build()
        .unwrap();
    storage.check().await.unwrap();
    tus_core::storage::conformance::run_all(&storage).await;

    // Again with every part spilled to a temporary file (no memory budget) and no prefix.
    let spilling = S3Storage::builder(client, "conformance")
        .min_part_size(MIN_PART)
        .part_size(MIN_PART)
        .max_buffered_bytes(0)
        .build()
        .unwrap();
    tus_core::storage::conformance::run_all(&spilling).await;
}
