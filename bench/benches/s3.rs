//! S3 throughput and memory (`cargo bench -p tus-bench --bench s3`): the same bytes
//! (1 GiB by default, `TUS_BENCH_S3_MIB`) uploaded to a moto S3 emulator
//!
//! - through `tus serve --storage s3` (a child process: this binary re-executed), as one
//!   streaming PATCH, measuring MB/s and the server's peak RSS;
//! - directly with aws-sdk-s3 as one multipart upload with the same part size and
//!   concurrency, measuring MB/s;
//!
//! and prints them side by side with the ratio (target ≥ 0.8) and the memory bound
//! `64 MiB + part size × (concurrency + 1)`. moto is started by `scripts/moto.sh`.

use bytes::Bytes;
use std::process::ExitCode;
use std::time::Instant;
use tokio::task::JoinSet;
use tus_bench::Error;
use tus_bench::cloud::{bench_main, id_of, print_comparison, upload_through_serve};
use tus_bench::pattern::Pattern;
use tus_s3::aws_sdk_s3;
use tus_s3::moto::Moto;

const MIB: u64 = 1 << 20;
const PART_MIB: u64 = 8;
const CONCURRENCY: usize = 4;

fn main() -> ExitCode {
    bench_main("s3", run)
}

async fn run() -> Result<(), Error> {
    let mib: u64 = std::env::var("TUS_BENCH_S3_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let total = mib * MIB;
    let part = PART_MIB * MIB;
    eprintln!("s3 bench: {mib} MiB, parts of {PART_MIB} MiB, concurrency {CONCURRENCY}; starting moto");
    let moto = Moto::start();
    let client = moto.create_bucket("bench").await;
    let pattern = Pattern::new();

    // Through tus serve.
    let storage = ["--storage", "s3", "--bucket", "bench"];
    let env = [
        ("AWS_ENDPOINT_URL_S3", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ];
    let served = upload_through_serve(&storage, (part, CONCURRENCY), &env, &pattern, total).await?;

    // The object is complete and holds the pattern (checked on its first and last MiB).
    check_object(&client, &format!("tus/{}", id_of(&served.path)), &pattern, total).await?;

    // Directly: one multipart upload, same part size and concurrency.
    let started = Instant::now();
    direct_upload(&client, "direct", &pattern, total, part).await?;
    let direct_time = started.elapsed();
    check_object(&client, "direct", &pattern, total).await?;

    let rows = (
        &*format!("S3 upload of {mib} MiB to moto (parts {PART_MIB} MiB × {CONCURRENCY})"),
        "tus serve --storage s3, one PATCH",
        "aws-sdk-s3 multipart, direct",
    );
    print_comparison(rows, total, &served, direct_time, (part, CONCURRENCY));
    Ok(())
}

async fn direct_upload(
    client: &aws_sdk_s3::Client,
    key: &str,
    pattern: &Pattern,
    total: u64,
    part: u64,
) -> Result<(), Error> {
    let upload = client.create_multipart_upload().bucket("bench").key(key).send().await?;
    let upload_id = upload.upload_id.ok_or("no upload id")?;
    let mut tasks = JoinSet::new();
    let mut parts = Vec::new();
    let mut number = 0;
    let mut start = 0;
    while start < total {
        while tasks.len() >= CONCURRENCY {
            parts.push(tasks.join_next().await.ok_or("no task")???);
        }
        number += 1;
        let len = part.min(total - start);
        let bytes = pattern.bytes(start, len);
        let (client, upload_id, key) = (client.clone(), upload_id.clone(), key.to_owned());
        tasks.spawn(async move {
            let out = client
                .upload_part()
                .bucket("bench")
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(bytes.into())
                .send()
                .await?;
            Ok::<_, Error>((number, out.e_tag.unwrap_or_default()))
        });
        start += len;
    }
    while let Some(done) = tasks.join_next().await {
        parts.push(done??);
    }
    parts.sort();
    let completed = parts
        .into_iter()
        .map(|(n, etag)| aws_sdk_s3::types::CompletedPart::builder().part_number(n).e_tag(etag).build())
        .collect();
    client
        .complete_multipart_upload()
        .bucket("bench")
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await?;
    Ok(())
}

async fn check_object(client: &aws_sdk_s3::Client, key: &str, pattern: &Pattern, total: u64) -> Result<(), Error> {
    let head = client.head_object().bucket("bench").key(key).send().await?;
    if head.content_length != Some(total as i64) {
        return Err(format!("{key}: {:?} bytes, not {total}", head.content_length).into());
    }
    for start in [0, total.saturating_sub(MIB)] {
        let end = (start + MIB).min(total) - 1;
        let out = client.get_object().bucket("bench").key(key).range(format!("bytes={start}-{end}")).send().await?;
        let bytes = out.body.collect().await?.into_bytes();
        if !pattern.matches(start, &bytes) {
            return Err(format!("{key}: wrong bytes at {start}").into());
        }
    }
    Ok(())
}
