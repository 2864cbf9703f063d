//! Azure-specific behaviour on Azurite: staged blocks stay invisible until the upload is
//! complete, resuming with a new storage instance, all-or-nothing checksummed appends,
//! deferred length, concatenation with Put Block From URL (partials below and above a
//! block), two writers at one offset, termination, expiry, and startup failures.

use bytes::Bytes;
use std::time::{Duration, SystemTime};
use tus_azure::emulator::Azurite;
use tus_azure::{AzureConfig, AzureError, AzureStorage, ConnectionString};
use tus_core::storage::conformance::{read_all, test_bytes as data};
use tus_core::{
    AppendOptions, BodyError, ChunkStream, Concat, NewUpload, Removal, Storage, StorageError, UploadId, UploadInfo,
};

const CONTAINER: &str = "azure-behaviour";
/// Small blocks, so that small test uploads span several of them.
const BLOCK: u64 = 64 * 1024;

fn id(name: &str) -> UploadId {
    UploadId::new(format!("{name}-{}", std::process::id())).unwrap()
}

async fn append(storage: &AzureStorage, id: &UploadId, offset: u64, bytes: &[u8]) -> UploadInfo {
    // Frames of 10 KiB, as a request body would come.
    let chunks: Vec<Result<Bytes, BodyError>> =
        bytes.chunks(10 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let mut body = ChunkStream::new(futures_util::stream::iter(chunks), Some(bytes.len() as u64));
    storage.append(id, offset, &mut body, AppendOptions::new()).await.unwrap()
}

async fn storage(emulator: &Azurite) -> AzureStorage {
    emulator.storage(CONTAINER, |c| c.prefix("p/").block_size(BLOCK).block_concurrency(3)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_are_invisible_until_complete_and_a_new_instance_resumes() {
    let emulator = Azurite::start();
    let first = storage(&emulator).await;
    let bytes = data(300 * 1024 + 17, 1);
    let upload = id("resume");
    first.create(NewUpload::new(upload.clone()).with_length(Some(bytes.len() as u64))).await.unwrap();
    let info = append(&first, &upload, 0, &bytes[..130 * 1024]).await;
    assert_eq!(info.offset, 130 * 1024);
    assert_eq!(
        emulator.blob_names(CONTAINER, "p/").await,
        vec![format!("p/info/{upload}")],
        "staged blocks make no committed data blob"
    );
    assert!(matches!(first.read(&upload, 0..10).await, Err(StorageError::NotSupported(_))));

    // A new instance (another server, or this one restarted) reads the state and goes on.
    drop(first);
    let second = storage(&emulator).await;
    assert_eq!(second.info(&upload).await.unwrap().offset, 130 * 1024);
    let done = append(&second, &upload, 130 * 1024, &bytes[130 * 1024..]).await;
    assert!(done.is_complete());
    let mut names = emulator.blob_names(CONTAINER, "p/").await;
    names.sort();
    assert_eq!(names, vec![format!("p/data/{upload}"), format!("p/info/{upload}")]);
    assert_eq!(read_all(second.read(&upload, 0..bytes.len() as u64).await.unwrap()).await, bytes);
    assert_eq!(read_all(second.read(&upload, 70_000..200_001).await.unwrap()).await, &bytes[70_000..200_001]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_checksummed_append_records_nothing() {
    let emulator = Azurite::start();
    let storage = storage(&emulator).await;
    let bytes = data(200 * 1024, 2);
    let upload = id("checksum");
    storage.create(NewUpload::new(upload.clone()).with_length(Some(bytes.len() as u64))).await.unwrap();
    // 150 KiB (two full blocks staged) and then the checksum fails.
    let chunks: Vec<Result<Bytes, BodyError>> = bytes[..150 * 1024]
        .chunks(10 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .chain([Err(BodyError::ChecksumMismatch)])
        .collect();
    let mut body = ChunkStream::new(futures_util::stream::iter(chunks), None);
    let info = storage.append(&upload, 0, &mut body, AppendOptions::new().atomic(true)).await.unwrap();
    assert_eq!(info.offset, 0, "nothing of the failed checksummed body is recorded");
    // The same bytes again, correct this time: the stray staged blocks never show up.
    let done = append(&storage, &upload, 0, &bytes).await;
    assert!(done.is_complete());
    assert_eq!(read_all(storage.read(&upload, 0..bytes.len() as u64).await.unwrap()).await, bytes);

    // A broken non-checksummed body keeps what arrived.
    let other = id("broken");
    storage.create(NewUpload::new(other.clone()).with_length(Some(bytes.len() as u64))).await.unwrap();
    let chunks: Vec<Result<Bytes, BodyError>> = bytes[..100 * 1024]
        .chunks(10 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .chain([Err(BodyError::Broken("connection reset".into()))])
        .collect();
    let mut body = ChunkStream::new(futures_util::stream::iter(chunks), None);
    let info = storage.append(&other, 0, &mut body, AppendOptions::new()).await.unwrap();
    assert_eq!(info.offset, 100 * 1024);
    append(&storage, &other, 100 * 1024, &bytes[100 * 1024..]).await;
    assert_eq!(read_all(storage.read(&other, 0..bytes.len() as u64).await.unwrap()).await, bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_length_completes_when_declared() {
    let emulator = Azurite::start();
    let storage = storage(&emulator).await;
    let bytes = data(90 * 1024, 3);
    let upload = id("deferred");
    storage.create(NewUpload::new(upload.clone())).await.unwrap();
    append(&storage, &upload, 0, &bytes).await;
    assert!(matches!(storage.read(&upload, 0..10).await, Err(StorageError::NotSupported(_))));
    let done = storage.set_length(&upload, bytes.len() as u64).await.unwrap();
    assert!(done.is_complete());
    assert!(matches!(storage.set_length(&upload, 5).await, Err(StorageError::LengthAlreadySet)));
    assert_eq!(read_all(storage.read(&upload, 0..bytes.len() as u64).await.unwrap()).await, bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concatenation_copies_partials_below_and_above_a_block() {
    let emulator = Azurite::start();
    let storage = storage(&emulator).await;
    let pieces = [data(10, 4), data(200 * 1024 + 3, 5), data(0, 6), data(BLOCK as usize, 7)];
    let mut partials = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let partial = id(&format!("part-{i}"));
        storage
            .create(
                NewUpload::new(partial.clone())
                    .with_length(Some(piece.len() as u64))
                    .with_concat(Some(Concat::Partial)),
            )
            .await
            .unwrap();
        if !piece.is_empty() {
            append(&storage, &partial, 0, piece).await;
        }
        partials.push(storage.info(&partial).await.unwrap());
    }
    let ids: Vec<UploadId> = partials.iter().map(|p| p.id.clone()).collect();
    let final_id = id("final");
    storage.create(NewUpload::new(final_id.clone()).with_concat(Some(Concat::Final(ids)))).await.unwrap();
    let done = storage.concatenate(&final_id, &partials).await.unwrap();
    let expected: Vec<u8> = pieces.concat();
    assert_eq!((done.offset, done.length), (expected.len() as u64, Some(expected.len() as u64)));
    assert_eq!(read_all(storage.read(&final_id, 0..expected.len() as u64).await.unwrap()).await, expected);
    // The partials are untouched, and the final survives their removal (its blocks are copies).
    for partial in &partials {
        storage.remove(&partial.id, Removal::Terminated).await.unwrap();
    }
    assert_eq!(read_all(storage.read(&final_id, 5..100_000).await.unwrap()).await, &expected[5..100_000]);
    assert!(matches!(storage.concatenate(&final_id, &partials[..1]).await, Err(StorageError::AlreadyExists)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_writers_at_one_offset_only_one_is_recorded() {
    let emulator = Azurite::start();
    let a = storage(&emulator).await;
    let b = storage(&emulator).await;
    let upload = id("race");
    let (one, two) = (data(100 * 1024, 8), data(100 * 1024, 9));
    a.create(NewUpload::new(upload.clone()).with_length(Some(200 * 1024))).await.unwrap();
    let mut body_one = ChunkStream::from_bytes(one.clone());
    let mut body_two = ChunkStream::from_bytes(two.clone());
    let (first, second) = tokio::join!(
        a.append(&upload, 0, &mut body_one, AppendOptions::new()),
        b.append(&upload, 0, &mut body_two, AppendOptions::new()),
    );
    let winner = match (&first, &second) {
        (Ok(_), Err(StorageError::OffsetMismatch { actual })) => {
            assert_eq!(*actual, 100 * 1024);
            &one
        }
        (Err(StorageError::OffsetMismatch { actual }), Ok(_)) => {
            assert_eq!(*actual, 100 * 1024);
            &two
        }
        other => panic!("expected one winner and one offset mismatch, got {other:?}"),
    };
    let rest = data(100 * 1024, 10);
    append(&a, &upload, 100 * 1024, &rest).await;
    let expected = [winner.as_slice(), rest.as_slice()].concat();
    assert_eq!(read_all(a.read(&upload, 0..200 * 1024).await.unwrap()).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_and_expiry_delete_every_blob() {
    let emulator = Azurite::start();
    let storage = storage(&emulator).await;
    let bytes = data(100 * 1024, 11);
    let done = id("terminated-done");
    storage.create(NewUpload::new(done.clone()).with_length(Some(bytes.len() as u64))).await.unwrap();
    append(&storage, &done, 0, &bytes).await;
    let half = id("terminated-half");
    storage.create(NewUpload::new(half.clone()).with_length(Some(bytes.len() as u64))).await.unwrap();
    append(&storage, &half, 0, &bytes[..70 * 1024]).await;
    for upload in [&done, &half] {
        storage.remove(upload, Removal::Terminated).await.unwrap();
        assert!(matches!(storage.info(upload).await, Err(StorageError::Gone)));
        assert!(matches!(storage.create(NewUpload::new(upload.clone())).await, Err(StorageError::AlreadyExists)));
    }
    let mut names = emulator.blob_names(CONTAINER, "p/").await;
    names.sort();
    assert_eq!(names, vec![format!("p/info/{done}"), format!("p/info/{half}")], "only the tombstones are left");

    // Expiry: the listing finds the expired, unfinished upload by its metadata alone.
    let past = SystemTime::now() - Duration::from_secs(60);
    let stale = id("stale");
    storage.create(NewUpload::new(stale.clone()).with_length(Some(10)).with_expires_at(Some(past))).await.unwrap();
    let fresh = id("fresh");
    storage
        .create(
            NewUpload::new(fresh.clone())
                .with_length(Some(10))
                .with_expires_at(Some(SystemTime::now() + Duration::from_secs(3600))),
        )
        .await
        .unwrap();
    let expired: Vec<UploadId> =
        storage.expired(SystemTime::now(), 10).await.unwrap().into_iter().map(|info| info.id).collect();
    assert_eq!(expired, vec![stale.clone()]);
    storage.remove(&stale, Removal::Expired).await.unwrap();
    assert!(storage.expired(SystemTime::now(), 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_container_or_a_bad_key_fails_at_connect() {
    let emulator = Azurite::start();
    let missing = AzureStorage::connect(emulator.config("no-such-container")).await.unwrap_err();
    assert!(matches!(&missing, AzureError::Config(why) if why.contains("does not exist")), "{missing}");
    emulator.storage(CONTAINER, |c| c).await;
    let wrong_key = emulator.connection_string().replace(tus_azure::emulator::ACCOUNT_KEY, "d3Jvbmcga2V5");
    let config = AzureConfig::new(ConnectionString::parse(&wrong_key).unwrap(), CONTAINER);
    let refused = AzureStorage::connect(config).await.unwrap_err();
    assert!(matches!(&refused, AzureError::Config(why) if why.contains("refused")), "{refused}");
}
