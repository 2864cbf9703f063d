//! Azure Blob throughput and memory (`cargo bench -p tus-bench --bench azure`): the same
//! bytes (256 MiB by default, `TUS_BENCH_AZURE_MIB`; Azurite holds blobs in RAM) uploaded
//! to Azurite
//!
//! - through `tus serve --storage azure` (a child process: this binary re-executed), as one
//!   streaming PATCH, measuring MB/s and the server's peak RSS;
//! - directly with azure_storage_blob (the crate tus-azure uses) as staged blocks of the
//!   same size and concurrency and one Put Block List, measuring MB/s;
//!
//! and prints them side by side with the ratio (target ≥ 0.8) and the memory bound
//! `64 MiB + block size × (concurrency + 1)`. Azurite is started by `scripts/azurite.sh`.

use azure_storage_blob::BlobContainerClient;
use azure_storage_blob::models::{BlobClientDownloadOptions, BlockLookupList};
use bytes::Bytes;
use std::process::ExitCode;
use std::time::Instant;
use tokio::task::JoinSet;
use tus_azure::emulator::Azurite;
use tus_bench::Error;
use tus_bench::cloud::{bench_main, id_of, print_comparison, upload_through_serve};
use tus_bench::pattern::Pattern;

const MIB: u64 = 1 << 20;
const PART_MIB: u64 = 8;
const CONCURRENCY: usize = 4;

fn main() -> ExitCode {
    bench_main("azure", run)
}

async fn run() -> Result<(), Error> {
    let mib: u64 = std::env::var("TUS_BENCH_AZURE_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let total = mib * MIB;
    let part = PART_MIB * MIB;
    eprintln!("azure bench: {mib} MiB, blocks of {PART_MIB} MiB, concurrency {CONCURRENCY}; starting Azurite");
    let azurite = Azurite::start();
    azurite.storage("bench", |c| c).await;
    let container = azurite.container_client("bench");
    let pattern = Pattern::new();

    // Through tus serve.
    let storage = ["--storage", "azure", "--container", "bench"];
    let env = [("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())];
    let served = upload_through_serve(&storage, (part, CONCURRENCY), &env, &pattern, total).await?;

    // The blob is committed and holds the pattern (checked on its first and last MiB).
    check_blob(&container, &format!("tus/data/{}", id_of(&served.path)), &pattern, total).await?;

    // Directly: staged blocks of the same size and concurrency, one Put Block List.
    let started = Instant::now();
    direct_upload(&container, "direct", &pattern, total, part).await?;
    let direct_time = started.elapsed();
    check_blob(&container, "direct", &pattern, total).await?;

    let rows = (
        &*format!("Azure Blob upload of {mib} MiB to Azurite (blocks {PART_MIB} MiB × {CONCURRENCY})"),
        "tus serve --storage azure, one PATCH",
        "azure_storage_blob blocks, direct",
    );
    print_comparison(rows, total, &served, direct_time, (part, CONCURRENCY));
    Ok(())
}

async fn direct_upload(
    container: &BlobContainerClient,
    name: &str,
    pattern: &Pattern,
    total: u64,
    part: u64,
) -> Result<(), Error> {
    let blob = std::sync::Arc::new(container.blob_client(name).block_blob_client());
    let mut tasks = JoinSet::new();
    let mut ids = Vec::new();
    let mut start = 0;
    while start < total {
        while tasks.len() >= CONCURRENCY {
            tasks.join_next().await.ok_or("no task")???;
        }
        let len = part.min(total - start);
        let bytes = pattern.bytes(start, len);
        let id = format!("{:06}", ids.len()).into_bytes();
        ids.push(id.clone());
        let blob = blob.clone();
        tasks.spawn(async move {
            blob.stage_block(&id, len, bytes.into(), None).await?;
            Ok::<_, Error>(())
        });
        start += len;
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let list = BlockLookupList { latest: Some(ids), ..Default::default() };
    blob.commit_block_list(list.try_into()?, None).await?;
    Ok(())
}

async fn check_blob(container: &BlobContainerClient, name: &str, pattern: &Pattern, total: u64) -> Result<(), Error> {
    let blob = container.blob_client(name);
    for start in [0, total.saturating_sub(MIB)] {
        let end = (start + MIB).min(total);
        let options = BlobClientDownloadOptions { range: Some((start..end).into()), ..Default::default() };
        let bytes = blob.download(Some(options)).await?.body.collect().await?;
        if bytes.len() as u64 != end - start || !pattern.matches(start, &bytes) {
            return Err(format!("{name}: wrong bytes at {start}").into());
        }
    }
    Ok(())
}
