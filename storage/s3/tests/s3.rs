//! S3-specific behaviour on moto at S3's real 5 MiB minimum part size: multi-part appends
//! that leave incomplete parts, concatenation of partials below and above the minimum,
//! termination deleting every object, and the abort of stale multipart uploads.

use sha2::{Digest as _, Sha256};
use std::time::Duration;
use tus_core::storage::conformance::{read_all, test_bytes as data};
use tus_core::{AppendOptions, ChunkStream, Concat, NewUpload, Removal, Storage, UploadId, UploadInfo};
use tus_s3::moto::Moto;
use tus_s3::{S3_MIN_PART_SIZE, S3Storage};

const MIB: usize = 1 << 20;

fn sha(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// A body of `bytes` in chunks of 64 KiB, like a request body.
fn body(bytes: &[u8]) -> ChunkStream {
    let chunks: Vec<Result<bytes::Bytes, tus_core::BodyError>> =
        bytes.chunks(64 * 1024).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    ChunkStream::new(futures_util::stream::iter(chunks), Some(bytes.len() as u64))
}

fn id(name: &str) -> UploadId {
    UploadId::new(format!("{name}-{}", std::process::id())).unwrap()
}

async fn setup(moto: &Moto, bucket: &str) -> (aws_sdk_s3::Client, S3Storage) {
    let client = moto.create_bucket(bucket).await;
    let storage = S3Storage::builder(client.clone(), bucket)
        .prefix("up/")
        .part_size(S3_MIN_PART_SIZE)
        .part_concurrency(2)
        .build()
        .unwrap();
    (client, storage)
}

async fn keys(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = client.list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents.unwrap_or_default().into_iter().filter_map(|o| o.key).collect()
}

async fn multipart_uploads(client: &aws_sdk_s3::Client, bucket: &str) -> usize {
    let out = client.list_multipart_uploads().bucket(bucket).send().await.unwrap();
    out.uploads.unwrap_or_default().len()
}

async fn upload(storage: &S3Storage, id: UploadId, bytes: &[u8], cuts: &[usize], concat: Option<Concat>) -> UploadInfo {
    let new = NewUpload::new(id.clone()).with_length(Some(bytes.len() as u64)).with_concat(concat);
    let mut info = storage.create(new).await.unwrap();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&bytes.len())) {
        info = storage.append(&id, start as u64, &mut body(&bytes[start..end]), AppendOptions::new()).await.unwrap();
        assert_eq!(info.offset, end as u64);
        start = end;
    }
    info
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_minimum_part_size() {
    let moto = Moto::start();
    let bucket = "real-min";
    let (client, storage) = setup(&moto, bucket).await;

    // Appends of 3, 7 and 2 MiB + 1 byte: the first stays in an incomplete part, the second
    // completes a part and leaves 5 MiB, the third finishes the upload.
    let bytes = data(12 * MIB + 1, 7);
    let plain = id("plain");
    let new = NewUpload::new(plain.clone()).with_length(Some(bytes.len() as u64));
    storage.create(new).await.unwrap();
    let after = storage.append(&plain, 0, &mut body(&bytes[..3 * MIB]), AppendOptions::new()).await.unwrap();
    assert_eq!(after.offset, 3 * MIB as u64);
    assert!(keys(&client, bucket).await.iter().any(|k| k.starts_with("up/.tus/part/")), "an incomplete part is kept");

    // A checksum failure rolls back: the offset stays and the incomplete part is untouched.
    let mut failing = ChunkStream::new(
        futures_util::stream::iter(vec![
            Ok(bytes::Bytes::copy_from_slice(&bytes[3 * MIB..9 * MIB])),
            Err(tus_core::BodyError::ChecksumMismatch),
        ]),
        None,
    );
    let rolled_back = storage.append(&plain, 3 * MIB as u64, &mut failing, AppendOptions::new().atomic(true)).await;
    assert_eq!(rolled_back.unwrap().offset, 3 * MIB as u64);

    storage.append(&plain, 3 * MIB as u64, &mut body(&bytes[3 * MIB..10 * MIB]), AppendOptions::new()).await.unwrap();
    let done =
        storage.append(&plain, 10 * MIB as u64, &mut body(&bytes[10 * MIB..]), AppendOptions::new()).await.unwrap();
    assert!(done.is_complete());
    let read = read_all(storage.read(&plain, 0..bytes.len() as u64).await.unwrap()).await;
    assert_eq!(sha(&read), sha(&bytes), "bytes read back");
    let ranged = read_all(storage.read(&plain, 5 * MIB as u64 - 3..5 * MIB as u64 + 5).await.unwrap()).await;
    assert_eq!(ranged, &bytes[5 * MIB - 3..5 * MIB + 5]);
    assert!(!keys(&client, bucket).await.iter().any(|k| k.starts_with("up/.tus/part/")), "no incomplete part left");
    assert_eq!(multipart_uploads(&client, bucket).await, 0, "the multipart upload was completed");

    // Concatenation of partials above, below, just above and far below the minimum.
    let sizes = [6 * MIB, 100 * 1024, 5 * MIB + 3, 10, 7 * MIB];
    let mut partials = Vec::new();
    let mut expected = Vec::new();
    for (n, size) in sizes.into_iter().enumerate() {
        let bytes = data(size, n as u8);
        let cuts = if size > 2 * MIB { vec![MIB + 17] } else { vec![] };
        partials.push(upload(&storage, id(&format!("partial{n}")), &bytes, &cuts, Some(Concat::Partial)).await);
        expected.extend_from_slice(&bytes);
    }
    let final_id = id("final");
    let ids = partials.iter().map(|p| p.id.clone()).collect();
    storage.create(NewUpload::new(final_id.clone()).with_concat(Some(Concat::Final(ids)))).await.unwrap();
    let done = storage.concatenate(&final_id, &partials).await.unwrap();
    assert_eq!(done.length, Some(expected.len() as u64));
    let read = read_all(storage.read(&final_id, 0..expected.len() as u64).await.unwrap()).await;
    assert_eq!(sha(&read), sha(&expected), "concatenated bytes");

    // Termination mid-upload aborts the multipart upload and deletes every object.
    let doomed = id("doomed");
    storage.create(NewUpload::new(doomed.clone()).with_length(Some(20 * MIB as u64))).await.unwrap();
    storage.append(&doomed, 0, &mut body(&data(7 * MIB, 1)), AppendOptions::new()).await.unwrap();
    assert_eq!(multipart_uploads(&client, bucket).await, 1);
    storage.remove(&doomed, Removal::Terminated).await.unwrap();
    assert_eq!(multipart_uploads(&client, bucket).await, 0, "termination aborts the multipart upload");
    let left: Vec<String> = keys(&client, bucket).await.into_iter().filter(|k| k.contains(doomed.as_str())).collect();
    assert_eq!(left, vec![format!("up/.tus/info/{doomed}")], "only the tombstone remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_multipart_uploads_are_aborted() {
    let moto = Moto::start_with_min_part_size(Some(4));
    let bucket = "stale";
    let client = moto.create_bucket(bucket).await;
    let storage = S3Storage::builder(client.clone(), bucket)
        .prefix("up/")
        .min_part_size(4)
        .part_size(4)
        .stale_multipart_after(Some(Duration::ZERO))
        .build()
        .unwrap();
    // A live upload with a multipart upload in progress, and an orphan left by a crash.
    let live = id("live");
    storage.create(NewUpload::new(live.clone()).with_length(Some(100))).await.unwrap();
    storage.append(&live, 0, &mut body(b"0123456789"), AppendOptions::new()).await.unwrap();
    client.create_multipart_upload().bucket(bucket).key("up/orphan").send().await.unwrap();
    // Outside the prefix: not ours.
    client.create_multipart_upload().bucket(bucket).key("other/x").send().await.unwrap();
    assert_eq!(multipart_uploads(&client, bucket).await, 3);

    // An incomplete part no upload refers to, and the live upload's own.
    client.put_object().bucket(bucket).key("up/.tus/part/gone/0123").body(b"xy".to_vec().into()).send().await.unwrap();
    let parts = |keys: Vec<String>| keys.into_iter().filter(|k| k.starts_with("up/.tus/part/")).count();
    assert_eq!(parts(keys(&client, bucket).await), 2);

    // Listing expired uploads changes nothing…
    storage.expired(std::time::SystemTime::now(), 10).await.unwrap();
    assert_eq!(multipart_uploads(&client, bucket).await, 3);
    assert_eq!(parts(keys(&client, bucket).await), 2);
    // …the janitor's leftover pass aborts the orphan only, and deletes the orphan part only.
    assert_eq!(storage.remove_leftovers().await.unwrap(), 2);
    assert_eq!(multipart_uploads(&client, bucket).await, 2);
    let left = keys(&client, bucket).await;
    assert_eq!(parts(left.clone()), 1, "{left:?}");
    assert!(!left.contains(&"up/.tus/part/gone/0123".to_owned()));
    assert_eq!(storage.abort_stale_multipart_uploads(Duration::ZERO).await.unwrap(), 0);
    let rest = data(90, 3);
    let done = storage.append(&live, 10, &mut body(&rest), AppendOptions::new()).await.unwrap();
    assert!(done.is_complete(), "the live upload still completes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_part_size_caps_uploads_and_keeps_parts_equal() {
    let moto = Moto::start_with_min_part_size(Some(4));
    let bucket = "fixed";
    let client = moto.create_bucket(bucket).await;
    let storage =
        S3Storage::builder(client.clone(), bucket).min_part_size(4).part_size(8).fixed_part_size(true).build().unwrap();
    assert_eq!(storage.max_upload_size(), 80_000);
    let too_big = NewUpload::new(id("too-big")).with_length(Some(80_001));
    assert!(storage.create(too_big).await.is_err(), "more than 10,000 parts are refused");

    // Appends of 5, 9 and 13 bytes: parts are always 8 bytes, the rest waits.
    let bytes = data(27, 9);
    let fixed = id("fixed");
    let done = upload(&storage, fixed.clone(), &bytes, &[5, 14], None).await;
    assert!(done.is_complete());
    let read = read_all(storage.read(&fixed, 0..27).await.unwrap()).await;
    assert_eq!(read, bytes);
    // A multipart object's ETag ends with `-<number of parts>`.
    let head = client.head_object().bucket(bucket).key(storage.data_key(&fixed)).send().await.unwrap();
    let parts = head.e_tag.unwrap_or_default().trim_matches('"').rsplit_once('-').map(|(_, n)| n.to_owned());
    assert_eq!(parts.as_deref(), Some("4"), "27 bytes in parts of 8: 8 + 8 + 8 + 3");
}

/// A long non-atomic append commits its uploaded parts as it goes: when the request is cut
/// off (the append future dropped), the parts stored by then stay committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_appends_commit_parts_as_they_go() {
    let moto = Moto::start_with_min_part_size(Some(1024));
    let bucket = "checkpoints";
    let client = moto.create_bucket(bucket).await;
    let storage = S3Storage::builder(client, bucket).min_part_size(1024).part_size(1024).build().unwrap();
    let upload = id("long");
    storage.create(NewUpload::new(upload.clone()).with_length(Some(100 * 1024))).await.unwrap();
    let head = data(300, 1);
    storage.append(&upload, 0, &mut body(&head), AppendOptions::new()).await.unwrap();

    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) });
    let writer = {
        let (storage, upload) = (storage.clone(), upload.clone());
        tokio::spawn(async move {
            let mut chunks = ChunkStream::new(stream, None);
            storage.append(&upload, 300, &mut chunks, AppendOptions::new()).await
        })
    };
    let bytes = data(10 * 1024, 2);
    tx.send(bytes::Bytes::copy_from_slice(&bytes)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        // Keep the body alive (and the clock moving) until a checkpoint shows.
        tx.send(bytes::Bytes::new()).await.unwrap();
        let offset = storage.info(&upload).await.unwrap().offset;
        if offset > 300 {
            assert_eq!(offset % 1024, 0, "a checkpoint covers whole parts: {offset}");
            assert!(offset <= 300 + 10 * 1024);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    writer.abort();
    let _ = writer.await;
    let offset = storage.info(&upload).await.unwrap().offset as usize;
    let mut all = head.clone();
    all.extend_from_slice(&bytes);
    let rest = data(100 * 1024 - offset, 3);
    storage.append(&upload, offset as u64, &mut body(&rest), AppendOptions::new()).await.unwrap();
    all.truncate(offset);
    all.extend_from_slice(&rest);
    let read = read_all(storage.read(&upload, 0..all.len() as u64).await.unwrap()).await;
    assert_eq!(sha(&read), sha(&all), "resumed after the checkpoint");
}
