//! Behaviour specific to the SQLite + files backend, on real files in temporary directories.

use bytes::Bytes;
use futures_util::StreamExt as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tus_core::{
    AppendOptions, BodyError, ChunkStream, Concat, IdGenerator as _, Metadata, NewUpload, RandomIds, Removal, Storage,
    StorageError, UploadId, UploadInfo,
};
use tus_sqlite::{Durability, SqliteStorage};

fn data_file(dir: &Path, id: &UploadId) -> PathBuf {
    dir.join("data").join(id.as_str())
}

fn chunks(items: Vec<Result<Bytes, BodyError>>) -> ChunkStream {
    ChunkStream::new(futures_util::stream::iter(items), None)
}

async fn new_upload(storage: &SqliteStorage, length: Option<u64>) -> UploadId {
    let id = RandomIds.generate();
    storage.create(NewUpload::new(id.clone()).with_length(length)).await.unwrap();
    id
}

async fn append(storage: &SqliteStorage, id: &UploadId, offset: u64, bytes: &'static [u8]) -> UploadInfo {
    storage.append(id, offset, &mut ChunkStream::from_bytes(bytes), AppendOptions::new()).await.unwrap()
}

async fn read(storage: &SqliteStorage, id: &UploadId, range: std::ops::Range<u64>) -> Vec<u8> {
    let mut stream = storage.read(id, range).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// The byte at position `i` of the pattern used for large uploads.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_land_in_one_file_per_upload() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    assert!(dir.path().join("uploads.db").is_file());

    let id = new_upload(&storage, Some(11)).await;
    assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), b"", "create makes an empty file");
    append(&storage, &id, 0, b"hello").await;
    let info = storage
        .append(
            &id,
            5,
            &mut chunks(vec![Ok(Bytes::from_static(b" wo")), Ok(Bytes::from_static(b"rld"))]),
            AppendOptions::new(),
        )
        .await
        .unwrap();
    assert!(info.is_complete());
    assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), b"hello world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let mut metadata = Metadata::new();
    metadata.insert("filename", "a b,c.txt");
    let partial = RandomIds.generate();
    let id = RandomIds.generate();
    let new = NewUpload::new(id.clone())
        .with_length(Some(4))
        .with_metadata(metadata)
        .with_concat(Some(Concat::Final(vec![partial.clone(), partial])))
        .with_expires_at(Some(std::time::SystemTime::now() + Duration::from_secs(60)));
    let created = storage.create(new).await.unwrap();
    let removed = new_upload(&storage, None).await;
    storage.remove(&removed, Removal::Expired).await.unwrap();
    drop(storage);

    let storage = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(storage.info(&id).await.unwrap(), created);
    assert!(matches!(storage.info(&removed).await, Err(StorageError::Gone)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_atomic_append_truncates_the_file_back() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(1 << 20)).await;
    append(&storage, &id, 0, b"abc").await;

    // Large enough to get past the write buffer into the file before the error.
    let big = Bytes::from(vec![b'x'; 600 * 1024]);
    let failing = vec![Ok(big.clone()), Ok(big), Err(BodyError::ChecksumMismatch)];
    let info = storage.append(&id, 3, &mut chunks(failing), AppendOptions::new().atomic(true)).await.unwrap();
    assert_eq!(info.offset, 3);
    assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), b"abc");

    // Non-atomic: what arrived before the error stays, on disk too.
    let failing = vec![Ok(Bytes::from_static(b"def")), Err(BodyError::Broken("reset".into()))];
    let info = storage.append(&id, 3, &mut chunks(failing), AppendOptions::new()).await.unwrap();
    assert_eq!(info.offset, 6);
    assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), b"abcdef");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_repairs_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let written = new_upload(&storage, Some(10)).await;
    append(&storage, &written, 0, b"abc").await;
    let empty = new_upload(&storage, Some(10)).await;
    let removed = new_upload(&storage, Some(10)).await;
    storage.remove(&removed, Removal::Terminated).await.unwrap();
    drop(storage);

    // A write that crashed after its bytes reached the file, but before the commit.
    std::fs::OpenOptions::new()
        .append(true)
        .open(data_file(dir.path(), &written))
        .unwrap()
        .write_all(b"uncommitted")
        .unwrap();
    // A file nobody knows, and the file of a removed upload that failed to go.
    let orphan = RandomIds.generate();
    std::fs::write(data_file(dir.path(), &orphan), b"orphan").unwrap();
    std::fs::write(data_file(dir.path(), &removed), b"left over").unwrap();
    // The empty file of a live upload, lost.
    std::fs::remove_file(data_file(dir.path(), &empty)).unwrap();

    let storage = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(std::fs::read(data_file(dir.path(), &written)).unwrap(), b"abc");
    assert!(!data_file(dir.path(), &orphan).exists(), "orphan deleted");
    assert!(!data_file(dir.path(), &removed).exists(), "file of a removed upload deleted");
    assert_eq!(std::fs::read(data_file(dir.path(), &empty)).unwrap(), b"", "empty file re-created");
    assert!(matches!(storage.info(&removed).await, Err(StorageError::Gone)));

    // Everything still works.
    assert_eq!(append(&storage, &written, 3, b"defghij").await.offset, 10);
    assert_eq!(read(&storage, &written, 0..10).await, b"abcdefghij");
    assert_eq!(append(&storage, &empty, 0, b"0123456789").await.offset, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_leaves_files_that_a_writer_holds_alone() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(10)).await;
    append(&storage, &id, 0, b"abc").await;
    drop(storage);

    let path = data_file(dir.path(), &id);
    let mut held = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    held.write_all(b"in flight").unwrap();
    held.lock().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"abcin flight", "a locked file is some writer's business");
    drop(held);

    // The next append truncates the leftovers itself.
    append(&storage, &id, 3, b"de").await;
    assert_eq!(std::fs::read(&path).unwrap(), b"abcde");
    drop(storage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_with_recorded_bytes_is_an_error_not_a_silent_restart() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(10)).await;
    append(&storage, &id, 0, b"abc").await;
    drop(storage);
    std::fs::remove_file(data_file(dir.path(), &id)).unwrap();

    let storage = SqliteStorage::open(dir.path()).unwrap();
    assert!(!data_file(dir.path(), &id).exists(), "recovery must not invent an empty file for recorded bytes");
    let result = storage.append(&id, 3, &mut ChunkStream::from_bytes(&b"def"[..]), AppendOptions::new()).await;
    assert!(matches!(result, Err(StorageError::Io(_))), "{result:?}");
    assert_eq!(storage.info(&id).await.unwrap().offset, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_body_streams_in_many_chunks() {
    const CHUNK: u64 = 64 * 1024;
    const TOTAL: u64 = 64 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(TOTAL)).await;

    // Chunks are made as they are pulled, like a network body.
    let body = futures_util::stream::iter(0..TOTAL / CHUNK).map(|n| {
        let start = n * CHUNK;
        Ok::<_, BodyError>(Bytes::from((start..start + CHUNK).map(pattern).collect::<Vec<u8>>()))
    });
    let info = storage.append(&id, 0, &mut ChunkStream::new(body, Some(TOTAL)), AppendOptions::new()).await.unwrap();
    assert_eq!(info.offset, TOTAL);
    assert!(info.is_complete());

    let path = data_file(dir.path(), &id);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), TOTAL);
    let mut stream = storage.read(&id, 0..TOTAL).await.unwrap();
    let mut position = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= 64 * 1024, "reads come in chunks of at most 64 KiB");
        for &byte in chunk.iter() {
            assert_eq!(byte, pattern(position), "byte {position}");
            position += 1;
        }
    }
    assert_eq!(position, TOTAL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_read_across_chunk_boundaries_and_stop_at_the_committed_offset() {
    const LEN: u64 = 200 * 1024 + 17;
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(LEN)).await;
    let bytes: Vec<u8> = (0..LEN).map(pattern).collect();
    storage.append(&id, 0, &mut ChunkStream::from_bytes(bytes.clone()), AppendOptions::new()).await.unwrap();

    for range in [0..LEN, 0..1, 65_535..65_537, 65_536..131_072, 100_000..LEN, LEN - 1..LEN, 7..7] {
        let expected = &bytes[range.start as usize..range.end as usize];
        assert!(read(&storage, &id, range.clone()).await == expected, "range {range:?}");
    }

    // Bytes past the committed offset (an append in progress) are never served.
    let partial = new_upload(&storage, Some(10)).await;
    append(&storage, &partial, 0, b"abc").await;
    std::fs::OpenOptions::new().append(true).open(data_file(dir.path(), &partial)).unwrap().write_all(b"defg").unwrap();
    assert_eq!(read(&storage, &partial, 0..10).await, b"abc");
    assert_eq!(read(&storage, &partial, 5..10).await, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortened_file_makes_the_read_fail_instead_of_ending_early() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(6)).await;
    append(&storage, &id, 0, b"abcdef").await;
    std::fs::OpenOptions::new().write(true).open(data_file(dir.path(), &id)).unwrap().set_len(4).unwrap();

    let mut stream = storage.read(&id, 0..6).await.unwrap();
    let mut got = Vec::new();
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => got.extend_from_slice(&chunk),
            Err(e) => failed = Some(e.kind()),
        }
    }
    assert_eq!(got, b"abcd");
    assert_eq!(failed, Some(std::io::ErrorKind::UnexpectedEof));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concatenation_copies_the_partials_files() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let mut partials = Vec::new();
    for bytes in [&b"one "[..], b"", b"two ", b"three"] {
        let id = RandomIds.generate();
        let new = NewUpload::new(id.clone()).with_length(Some(bytes.len() as u64)).with_concat(Some(Concat::Partial));
        let mut info = storage.create(new).await.unwrap();
        if !bytes.is_empty() {
            info = append(&storage, &id, 0, bytes).await;
        }
        partials.push(info);
    }
    // The empty partial lost its (empty) file: that is no reason to fail.
    std::fs::remove_file(data_file(dir.path(), &partials[1].id)).unwrap();

    let final_id = RandomIds.generate();
    let ids = partials.iter().map(|p| p.id.clone()).collect();
    storage.create(NewUpload::new(final_id.clone()).with_concat(Some(Concat::Final(ids)))).await.unwrap();
    let info = storage.concatenate(&final_id, &partials).await.unwrap();
    assert_eq!((info.offset, info.length), (13, Some(13)));
    assert_eq!(std::fs::read(data_file(dir.path(), &final_id)).unwrap(), b"one two three");
    assert_eq!(std::fs::read(data_file(dir.path(), &partials[0].id)).unwrap(), b"one ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concatenation_refuses_unfinished_partials_and_wrong_totals() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let partial = RandomIds.generate();
    let new = NewUpload::new(partial.clone()).with_length(Some(6)).with_concat(Some(Concat::Partial));
    storage.create(new).await.unwrap();
    let half = append(&storage, &partial, 0, b"abc").await;

    let final_id = RandomIds.generate();
    let new = NewUpload::new(final_id.clone()).with_concat(Some(Concat::Final(vec![partial.clone()])));
    storage.create(new).await.unwrap();
    assert!(matches!(storage.concatenate(&final_id, &[half]).await, Err(StorageError::Other(_))));
    assert_eq!(storage.info(&final_id).await.unwrap().offset, 0);

    let full = append(&storage, &partial, 3, b"def").await;
    let wrong = RandomIds.generate();
    let new = NewUpload::new(wrong.clone()).with_length(Some(7)).with_concat(Some(Concat::Final(vec![partial])));
    storage.create(new).await.unwrap();
    assert!(matches!(storage.concatenate(&wrong, std::slice::from_ref(&full)).await, Err(StorageError::Other(_))));
    assert_eq!(storage.concatenate(&final_id, &[full]).await.unwrap().offset, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_deletes_the_file_and_keeps_a_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(3)).await;
    append(&storage, &id, 0, b"abc").await;
    storage.remove(&id, Removal::Terminated).await.unwrap();
    assert!(!data_file(dir.path(), &id).exists());
    assert!(matches!(storage.info(&id).await, Err(StorageError::Gone)));
    assert!(matches!(storage.create(NewUpload::new(id.clone())).await, Err(StorageError::AlreadyExists)));
    assert!(!data_file(dir.path(), &id).exists(), "a refused create touches no file");
}

/// A body of a few chunks from one writer, each chunk arriving after a short pause so
/// that concurrent writers overlap.
fn slow_body(writer: u8) -> (ChunkStream, Vec<u8>) {
    let chunks: Vec<Bytes> =
        (0..4u8).map(|n| Bytes::from(vec![writer.wrapping_mul(4).wrapping_add(n); 4096])).collect();
    let all = chunks.concat();
    let stream = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, BodyError>(chunk)
    });
    (ChunkStream::new(stream, Some(all.len() as u64)), all)
}

/// Runs 50 concurrent appends at offset 0, spread over `storages`, and checks that exactly
/// one applied and the file holds exactly its bytes.
async fn race(dir: &Path, storages: &[SqliteStorage]) {
    let id = new_upload(&storages[0], None).await;
    let mut tasks = Vec::new();
    for writer in 0..50u8 {
        let storage = storages[usize::from(writer) % storages.len()].clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let (mut body, bytes) = slow_body(writer);
            (storage.append(&id, 0, &mut body, AppendOptions::new()).await, bytes)
        }));
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    for task in tasks {
        let (result, bytes) = task.await.unwrap();
        match result {
            Ok(info) => winners.push((info, bytes)),
            Err(StorageError::OffsetMismatch { actual }) => {
                assert_eq!(actual, 4 * 4096);
                losers += 1;
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one append applies");
    assert_eq!(losers, 49);
    let (info, bytes) = &winners[0];
    assert_eq!(info.offset, bytes.len() as u64);
    for storage in storages {
        assert_eq!(storage.info(&id).await.unwrap().offset, bytes.len() as u64);
    }
    assert!(std::fs::read(data_file(dir, &id)).unwrap() == *bytes, "the file holds exactly the winner's bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_at_one_offset_apply_once_through_one_storage() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    race(dir.path(), &[storage]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_at_one_offset_apply_once_through_two_storages() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStorage::open(dir.path()).unwrap();
    let second = SqliteStorage::open(dir.path()).unwrap();
    race(dir.path(), &[first, second]).await;
}

/// Environment of the helper process in [`concurrent_appends_at_one_offset_apply_once_across_processes`].
const CHILD_DIR: &str = "TUS_SQLITE_TEST_CHILD_DIR";
const CHILD_ID: &str = "TUS_SQLITE_TEST_CHILD_ID";
const CHILD_START: &str = "TUS_SQLITE_TEST_CHILD_START_MS";

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Appends with writers `first..first + 25`, all at offset 0, starting at `start_ms`;
/// returns the bytes of the append that applied, if one did.
async fn race_from(storage: &SqliteStorage, id: &UploadId, first: u8, start_ms: u64) -> Vec<Vec<u8>> {
    tokio::time::sleep(Duration::from_millis(start_ms.saturating_sub(unix_ms()))).await;
    let tasks: Vec<_> = (first..first + 25)
        .map(|writer| {
            let storage = storage.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let (mut body, bytes) = slow_body(writer);
                match storage.append(&id, 0, &mut body, AppendOptions::new()).await {
                    Ok(_) => Some(bytes),
                    Err(StorageError::OffsetMismatch { actual }) if actual == bytes.len() as u64 => None,
                    Err(other) => panic!("unexpected error: {other:?}"),
                }
            })
        })
        .collect();
    let mut applied = Vec::new();
    for task in tasks {
        applied.extend(task.await.unwrap());
    }
    applied
}

/// Not a test on its own: the other process of the cross-process race (does nothing
/// unless that test starts it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_process_race_helper() {
    let (Ok(dir), Ok(id), Ok(start)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ID), std::env::var(CHILD_START))
    else {
        return;
    };
    let storage = SqliteStorage::open(dir).unwrap();
    let applied = race_from(&storage, &UploadId::new(id).unwrap(), 25, start.parse().unwrap()).await;
    let writers: Vec<u8> = applied.iter().map(|bytes| bytes[0] / 4).collect();
    println!("APPLIED {writers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_at_one_offset_apply_once_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, None).await;
    // Both processes start appending at the same moment, once the helper is up.
    let start = unix_ms() + 1500;
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "cross_process_race_helper", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_ID, id.as_str())
        .env(CHILD_START, start.to_string())
        .output();
    let (ours, child) = tokio::join!(race_from(&storage, &id, 0, start), child);
    let child = child.unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(child.status.success(), "helper process failed: {stdout}\n{}", String::from_utf8_lossy(&child.stderr));
    let theirs: Vec<u8> = stdout
        .lines()
        .find_map(|line| line.split_once("APPLIED ").map(|(_, list)| list))
        .unwrap_or_else(|| panic!("the helper reports what it applied: {stdout}"))
        .trim_matches(['[', ']'])
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();

    assert_eq!(ours.len() + theirs.len(), 1, "exactly one append applies (ours: {}, theirs: {theirs:?})", ours.len());
    let winner = match (ours.first(), theirs.first()) {
        (Some(bytes), _) => bytes.clone(),
        (None, Some(&writer)) => slow_body(writer).1,
        (None, None) => unreachable!(),
    };
    assert_eq!(storage.info(&id).await.unwrap().offset, winner.len() as u64);
    assert!(std::fs::read(data_file(dir.path(), &id)).unwrap() == winner, "the file holds exactly the winner's bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_does_not_wait_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(10)).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BodyError>>(1);
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let writer = {
        let storage = storage.clone();
        let id = id.clone();
        tokio::spawn(
            async move { storage.append(&id, 0, &mut ChunkStream::new(body, None), AppendOptions::new()).await },
        )
    };
    tx.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
    for _ in 0..20 {
        let info = tokio::time::timeout(Duration::from_secs(2), storage.info(&id)).await.unwrap().unwrap();
        assert_eq!(info.offset, 0, "uncommitted bytes are not visible");
    }
    drop(tx);
    assert_eq!(writer.await.unwrap().unwrap().offset, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_append_commits_nothing_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(1 << 20)).await;
    append(&storage, &id, 0, b"abc").await;

    let big = Bytes::from(vec![b'x'; 300 * 1024]);
    let body = futures_util::stream::iter([Ok::<_, BodyError>(big)]).chain(futures_util::stream::pending());
    let mut body = ChunkStream::new(body, None);
    let result =
        tokio::time::timeout(Duration::from_millis(300), storage.append(&id, 3, &mut body, AppendOptions::new())).await;
    assert!(result.is_err(), "the body never ends, so the append is cut off by the timeout");

    let path = data_file(dir.path(), &id);
    for _ in 0..100 {
        if std::fs::metadata(&path).unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"abc");
    assert_eq!(storage.info(&id).await.unwrap().offset, 3);
    assert_eq!(append(&storage, &id, 3, b"def").await.offset, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_offset_is_answered_without_waiting_for_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(10)).await;
    append(&storage, &id, 0, b"abc").await;
    let mut stalled = ChunkStream::new(futures_util::stream::pending::<Result<Bytes, BodyError>>(), Some(3));
    let result =
        tokio::time::timeout(Duration::from_secs(5), storage.append(&id, 0, &mut stalled, AppendOptions::new()))
            .await
            .expect("a stale offset must not wait for the body");
    assert!(matches!(result, Err(StorageError::OffsetMismatch { actual: 3 })), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_offset_is_answered_while_another_writer_holds_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = new_upload(&storage, Some(10)).await;
    append(&storage, &id, 0, b"abc").await;
    // A writer elsewhere (another process, say) holds the file lock.
    let held = std::fs::OpenOptions::new().write(true).open(data_file(dir.path(), &id)).unwrap();
    held.lock().unwrap();

    let stale = tokio::time::timeout(Duration::from_secs(5), async {
        storage.append(&id, 0, &mut ChunkStream::from_bytes(&b"xyz"[..]), AppendOptions::new()).await
    })
    .await
    .expect("a stale offset must not wait for the file lock");
    assert!(matches!(stale, Err(StorageError::OffsetMismatch { actual: 3 })), "{stale:?}");

    // An append at the right offset waits for the lock, then goes on.
    let waiting = {
        let storage = storage.clone();
        let id = id.clone();
        tokio::spawn(async move { append(&storage, &id, 3, b"def").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the append must wait for the file lock");
    drop(held);
    let info = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert_eq!(info.offset, 6);
    assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), b"abcdef");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_mebibyte_sync_append_stores_every_byte() {
    // Bodies past the write-behind step have their write-back started while they arrive,
    // then are synced before the commit.
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).durability(Durability::Sync).open().unwrap();
    let len = 5 * 1024 * 1024 + 12_345;
    let id = new_upload(&storage, Some(len)).await;
    let pieces: Vec<Result<Bytes, BodyError>> = (0..len)
        .step_by(40_000)
        .map(|from| Ok(Bytes::from((from..(from + 40_000).min(len)).map(pattern).collect::<Vec<u8>>())))
        .collect();
    let info = storage.append(&id, 0, &mut chunks(pieces), AppendOptions::new()).await.unwrap();
    assert!(info.is_complete());
    let stored = std::fs::read(data_file(dir.path(), &id)).unwrap();
    assert_eq!(stored.len() as u64, len);
    assert!(stored.iter().enumerate().all(|(i, b)| *b == pattern(i as u64)), "bytes differ");
    drop(storage);
    let reopened = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(reopened.info(&id).await.unwrap().offset, len);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_durability_stores_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).durability(Durability::Buffered).open().unwrap();
    assert_eq!(storage.durability(), Durability::Buffered);
    let id = new_upload(&storage, Some(6)).await;
    append(&storage, &id, 0, b"abc").await;
    append(&storage, &id, 3, b"def").await;
    drop(storage);

    let storage = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(storage.durability(), Durability::Sync);
    assert!(storage.info(&id).await.unwrap().is_complete());
    assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), b"abcdef");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_heads_share_a_few_reader_connections() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).idle_readers(2).open().unwrap();
    let id = new_upload(&storage, Some(6)).await;
    let heads: Vec<_> = (0..64)
        .map(|_| {
            let storage = storage.clone();
            let id = id.clone();
            tokio::spawn(async move { storage.info(&id).await })
        })
        .collect();
    for head in heads {
        assert_eq!(head.await.unwrap().unwrap().length, Some(6));
    }
}

#[test]
fn the_database_is_in_wal_mode_with_a_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("uploads.db")).unwrap();
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(schema_version(&conn), 4);
    drop(storage);

    // A database from a newer version is refused rather than misread.
    conn.pragma_update(None, "user_version", 5).unwrap();
    drop(conn);
    let err = SqliteStorage::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("schema version 5"), "{err}");
}

/// The schema version a database file says it has.
fn schema_version(conn: &rusqlite::Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap()
}

/// The `CREATE` statement of a table or index, as the database file keeps it, if it exists.
fn schema_sql(conn: &rusqlite::Connection, name: &str) -> Option<String> {
    conn.query_row("SELECT sql FROM sqlite_schema WHERE name = ?1", [name], |row| row.get(0)).ok()
}

/// The `CREATE` statement of a table or index that must exist.
fn table_sql(conn: &rusqlite::Connection, name: &str) -> String {
    schema_sql(conn, name).unwrap_or_else(|| panic!("no {name} in the schema"))
}

/// The schema of version 1, the first one (frozen here: the crate only keeps
/// the way from it to the current one).
const SCHEMA_V1: &str = r#"
CREATE TABLE uploads (
    id         TEXT PRIMARY KEY NOT NULL,
    "offset"   INTEGER NOT NULL CHECK ("offset" >= 0),
    length     INTEGER CHECK (length >= 0),
    metadata   TEXT NOT NULL,
    concat     TEXT CHECK (concat IN ('partial', 'final')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    state      TEXT NOT NULL CHECK (state IN ('active', 'terminated', 'expired'))
) STRICT;
CREATE INDEX uploads_expiry ON uploads (expires_at) WHERE state = 'active' AND expires_at IS NOT NULL;
CREATE TABLE concat_parts (
    final_id   TEXT NOT NULL REFERENCES uploads (id),
    position   INTEGER NOT NULL,
    partial_id TEXT NOT NULL,
    PRIMARY KEY (final_id, position)
) STRICT, WITHOUT ROWID;
CREATE INDEX concat_parts_partial ON concat_parts (partial_id);
PRAGMA user_version = 1;
"#;

/// A version 1 upload row: id, offset, length, metadata, concat, expires_at, state.
type V1Row<'a> = (&'a str, i64, Option<i64>, &'a str, Option<&'a str>, Option<i64>, &'a str);

/// A version 1 database in `dir` with `rows` and `parts` of (final, position, partial),
/// and the data files of the active uploads, filled to their offsets.
fn version_1_directory(dir: &Path, rows: &[V1Row<'_>], parts: &[(&str, i64, &str)]) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let conn = rusqlite::Connection::open(dir.join("uploads.db")).unwrap();
    conn.execute_batch(SCHEMA_V1).unwrap();
    for &(id, offset, length, metadata, concat, expires_at, state) in rows {
        conn.execute(
            r#"INSERT INTO uploads (id, "offset", length, metadata, concat, created_at, expires_at, state)
               VALUES (?1, ?2, ?3, ?4, ?5, 1700000000000, ?6, ?7)"#,
            rusqlite::params![id, offset, length, metadata, concat, expires_at, state],
        )
        .unwrap();
        if state == "active" {
            std::fs::write(dir.join("data").join(id), vec![b'x'; offset as usize]).unwrap();
        }
    }
    for &(final_id, position, partial) in parts {
        conn.execute(
            "INSERT INTO concat_parts (final_id, position, partial_id) VALUES (?1, ?2, ?3)",
            rusqlite::params![final_id, position, partial],
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_database_is_upgraded_with_every_record_kept() {
    let dir = tempfile::tempdir().unwrap();
    let far = 4_000_000_000_000i64; // year 2096
    version_1_directory(
        dir.path(),
        &[
            ("plain", 3, Some(5), "name bmFtZQ==,empty", None, Some(far), "active"),
            ("deferred", 0, None, "", None, None, "active"),
            ("part-a", 2, Some(2), "", Some("partial"), None, "active"),
            ("part-b", 1, Some(1), "", Some("partial"), None, "active"),
            ("final", 0, Some(3), "", Some("final"), None, "active"),
            ("gone", 4, Some(4), "", None, None, "terminated"),
        ],
        &[("final", 0, "part-a"), ("final", 1, "part-b")],
    );
    let storage = SqliteStorage::open(dir.path()).unwrap();

    let id = |text: &str| UploadId::new(text).unwrap();
    let plain = storage.info(&id("plain")).await.unwrap();
    assert_eq!((plain.offset, plain.length, plain.expires_at.is_some()), (3, Some(5), true));
    assert_eq!(plain.metadata.get("name"), Some(&b"name"[..]));
    assert_eq!(plain.metadata.get("empty"), Some(&b""[..]));
    assert_eq!(storage.info(&id("deferred")).await.unwrap().length, None);
    assert!(matches!(storage.info(&id("gone")).await, Err(StorageError::Gone)));
    // The parts of a final upload survive the new table, in order, and still concatenate.
    let final_info = storage.info(&id("final")).await.unwrap();
    assert_eq!(final_info.concat, Some(Concat::Final(vec![id("part-a"), id("part-b")])));
    let partials = [storage.info(&id("part-a")).await.unwrap(), storage.info(&id("part-b")).await.unwrap()];
    assert_eq!(storage.concatenate(&id("final"), &partials).await.unwrap().offset, 3);
    // New uploads go into the new table, and appends to old ones still apply once.
    let fresh = new_upload(&storage, Some(1)).await;
    assert_eq!(append(&storage, &fresh, 0, b"z").await.offset, 1);
    assert_eq!(append(&storage, &id("plain"), 3, b"yz").await.offset, 5);
    drop(storage);

    let conn = rusqlite::Connection::open(dir.path().join("uploads.db")).unwrap();
    assert_eq!(schema_version(&conn), 4);
    let table = table_sql(&conn, "uploads");
    assert!(table.contains("WITHOUT ROWID") && !table.contains(" IN ("), "{table}");
    assert!(table_sql(&conn, "uploads_expiry").starts_with("CREATE INDEX"));
    let problems: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| row.get(0)).unwrap();
    assert_eq!(problems, 0);
    // Opening again finds the current version and changes nothing.
    drop(conn);
    let storage = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(storage.info(&id("plain")).await.unwrap().offset, 5);
}

#[test]
fn a_version_1_database_whose_parts_name_no_upload_is_not_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    // Only possible if foreign keys were off when it was written; the upgrade refuses to
    // carry the dangling part over, and leaves the file as it was.
    version_1_directory(
        dir.path(),
        &[("final", 0, Some(3), "", Some("final"), None, "active")],
        &[("final", 0, "missing")],
    );
    let conn = rusqlite::Connection::open(dir.path().join("uploads.db")).unwrap();
    conn.pragma_update(None, "foreign_keys", false).unwrap();
    conn.execute("DELETE FROM uploads", []).unwrap();
    drop(conn);
    let err = SqliteStorage::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("1 concatenation parts name no upload"), "{err}");
    let conn = rusqlite::Connection::open(dir.path().join("uploads.db")).unwrap();
    assert_eq!(schema_version(&conn), 1);
}

#[test]
fn storages_are_clone_send_sync_and_debug() {
    fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}
    assert_traits::<SqliteStorage>();
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    assert!(storage.features().read);
    let debug = format!("{:?}", SqliteStorage::open(dir.path()).unwrap());
    assert!(debug.contains("SqliteStorage") && debug.contains("Sync"), "{debug}");
}

/// A body fed by hand: the sender decides when each chunk arrives and when it ends.
fn hand_fed_body() -> (tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>, ChunkStream) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BodyError>>(4);
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (tx, ChunkStream::new(body, None))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_append_commits_checkpoints_while_it_runs_and_an_atomic_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    for atomic in [false, true] {
        let id = new_upload(&storage, None).await;
        let (tx, mut body) = hand_fed_body();
        let writer = {
            let (storage, id) = (storage.clone(), id.clone());
            tokio::spawn(async move { storage.append(&id, 0, &mut body, AppendOptions::new().atomic(atomic)).await })
        };
        // 1 MiB, then silence: the checkpoint interval passes while the body is still open.
        tx.send(Ok(Bytes::from(vec![7u8; 1 << 20]))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2300)).await;
        tx.send(Ok(Bytes::from_static(b"x"))).await.unwrap();
        let mut seen = 0;
        for _ in 0..100 {
            seen = storage.info(&id).await.unwrap().offset;
            if seen > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if atomic {
            assert_eq!(seen, 0, "an atomic append never exposes a part of its body");
        } else {
            assert_eq!(seen, (1 << 20) + 1, "the bytes stored before the pause are committed while the body is open");
        }
        drop(tx);
        assert_eq!(writer.await.unwrap().unwrap().offset, (1 << 20) + 1);
        assert_eq!(std::fs::metadata(data_file(dir.path(), &id)).unwrap().len(), (1 << 20) + 1);
    }
}

/// The readiness probe's check: a query and the data directory; fails when the directory
/// the server writes into is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_the_database_and_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    storage.health().await.expect("a fresh storage is healthy");
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    let err = storage.health().await.expect_err("no data directory: not healthy");
    assert!(matches!(err, StorageError::Io(_)), "{err:?}");
}

/// Instances started together on one new directory (a deploy of several `tus serve`) all open it.
#[test]
fn storages_opening_one_new_directory_at_once_all_succeed() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let start = Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (path, start) = (dir.path().to_owned(), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    SqliteStorage::open(path).map(drop)
                })
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().unwrap();
        }
    }
}

/// Creation-with-upload records the upload only once bytes are stored: nobody sees it
/// before; a long body is recorded at its first checkpoint, then advances as appends do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_creation_with_upload_is_recorded_at_its_first_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = RandomIds.generate();
    let (tx, mut body) = hand_fed_body();
    let creator = {
        let (storage, id) = (storage.clone(), id.clone());
        tokio::spawn(async move {
            let new = NewUpload::new(id).with_length(Some((1 << 20) + 2));
            storage.create_with_upload(new, &mut body, AppendOptions::new()).await
        })
    };
    tx.send(Ok(Bytes::from(vec![7u8; 1 << 20]))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(matches!(storage.info(&id).await, Err(StorageError::NotFound)), "no record before the first commit");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    tx.send(Ok(Bytes::from_static(b"x"))).await.unwrap();
    let mut seen = None;
    for _ in 0..100 {
        if let Ok(info) = storage.info(&id).await {
            seen = Some(info.offset);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some((1 << 20) + 1), "the first checkpoint records the upload with the bytes before it");
    tx.send(Ok(Bytes::from_static(b"y"))).await.unwrap();
    drop(tx);
    let outcome = creator.await.unwrap().unwrap();
    assert_eq!(outcome.created.offset, 0);
    assert!(outcome.stored.unwrap().is_complete());
    assert_eq!(storage.info(&id).await.unwrap().offset, (1 << 20) + 2);
    let on_disk = std::fs::read(data_file(dir.path(), &id)).unwrap();
    assert_eq!(on_disk.len(), (1 << 20) + 2);
    assert_eq!(&on_disk[(1 << 20)..], b"xy");
}

/// A leftover data file without a record (a crash between writing and recording) does
/// not stop a creation-with-upload of the same ID, and none of its bytes remain: the file
/// path overwrites it; an upload kept in the database ignores it, and the next open
/// deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_upload_over_a_leftover_data_file() {
    // Both modes: small bodies in buffered mode take the writer thread's path (small.rs).
    for durability in [Durability::Sync, Durability::Buffered] {
        for inline_limit in [0, 64 << 10] {
            let dir = tempfile::tempdir().unwrap();
            let open =
                || SqliteStorage::builder(dir.path()).durability(durability).inline_limit(inline_limit).open().unwrap();
            let storage = open();
            let id = RandomIds.generate();
            std::fs::write(data_file(dir.path(), &id), b"leftover bytes that were never recorded").unwrap();
            let new = NewUpload::new(id.clone()).with_length(Some(5));
            let outcome = storage
                .create_with_upload(new, &mut ChunkStream::from_bytes(&b"fresh"[..]), AppendOptions::new())
                .await
                .unwrap();
            assert!(outcome.stored.unwrap().is_complete());
            assert_eq!(read(&storage, &id, 0..5).await, b"fresh");
            if inline_limit == 0 {
                assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), b"fresh");
            }
            drop(storage);
            let storage = open();
            assert_eq!(read(&storage, &id, 0..5).await, b"fresh");
            assert_eq!(data_file(dir.path(), &id).exists(), inline_limit == 0, "limit {inline_limit}");
        }
    }
}

/// A creation-with-upload whose future is dropped mid-body leaves neither a record nor a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_creation_with_upload_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let id = RandomIds.generate();
    let (tx, mut body) = hand_fed_body();
    let creator = {
        let (storage, id) = (storage.clone(), id.clone());
        tokio::spawn(async move {
            let new = NewUpload::new(id).with_length(Some(100));
            storage.create_with_upload(new, &mut body, AppendOptions::new()).await
        })
    };
    tx.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    creator.abort();
    let _ = creator.await;
    let mut gone = false;
    for _ in 0..100 {
        if !data_file(dir.path(), &id).exists() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the data file of an upload that was never recorded is removed");
    assert!(matches!(storage.info(&id).await, Err(StorageError::NotFound)));
}

/// An exclusive storage is alone on its directory: it does not open beside another one,
/// and no other opens beside it, until it is dropped.
#[test]
fn an_exclusive_storage_is_alone_on_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SqliteStorage::open(dir.path()).unwrap();
    let err = SqliteStorage::builder(dir.path()).exclusive(true).open().unwrap_err();
    assert!(err.to_string().contains("in use by another storage"), "{err}");
    let second_shared = SqliteStorage::open(dir.path()).unwrap();
    drop((shared, second_shared));

    let exclusive = SqliteStorage::builder(dir.path()).exclusive(true).open().unwrap();
    let err = SqliteStorage::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("held exclusively"), "{err}");
    let err = SqliteStorage::builder(dir.path()).exclusive(true).open().unwrap_err();
    assert!(err.to_string().contains("in use by another storage"), "{err}");
    drop(exclusive);
    SqliteStorage::builder(dir.path()).exclusive(true).open().unwrap();
}

/// `info` through `reader` (whose cache is warm) shows every change `writer` acknowledged,
/// while appends and reads run concurrently.
async fn reads_see_every_acknowledged_change(writer: &SqliteStorage, reader: &SqliteStorage) {
    let id = new_upload(writer, None).await;
    assert_eq!(reader.info(&id).await.unwrap().offset, 0);
    assert_eq!(reader.info(&id).await.unwrap().offset, 0);

    let acknowledged = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let heads = {
        let (reader, id, acknowledged) = (reader.clone(), id.clone(), Arc::clone(&acknowledged));
        tokio::spawn(async move {
            for _ in 0..2000 {
                let floor = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
                let seen = reader.info(&id).await.unwrap().offset;
                assert!(seen >= floor, "HEAD showed {seen} after {floor} was acknowledged");
                tokio::task::yield_now().await;
            }
        })
    };
    for n in 0..200u64 {
        let after = append(writer, &id, n, b"x").await;
        acknowledged.store(after.offset, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(reader.info(&id).await.unwrap().offset, n + 1);
    }
    heads.await.unwrap();

    writer.set_length(&id, 300).await.unwrap();
    assert_eq!(reader.info(&id).await.unwrap().length, Some(300));
    writer.remove(&id, Removal::Terminated).await.unwrap();
    assert!(matches!(reader.info(&id).await, Err(StorageError::Gone)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_storage_reads_its_own_changes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).exclusive(true).open().unwrap();
    reads_see_every_acknowledged_change(&storage, &storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_storage_reads_its_own_changes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    reads_see_every_acknowledged_change(&storage, &storage).await;
}

/// Two storages on one directory, as two processes would be: each caches records for HEAD,
/// and neither may serve one the other has changed (the commit stamp in `uploads.lock`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_storage_reads_another_storages_changes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, reader) = (SqliteStorage::open(dir.path()).unwrap(), SqliteStorage::open(dir.path()).unwrap());
    reads_see_every_acknowledged_change(&writer, &reader).await;
    // Both ways.
    reads_see_every_acknowledged_change(&reader, &writer).await;
}

/// A small creation-with-upload body (announced length) is read whole before the writer
/// starts: many tiny chunks, and a body that breaks, land as they would through the channel.
/// A whole body is kept in the database unless the inline limit is 0; a broken one always
/// goes to a file (the upload goes on with appends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_creation_with_upload_bodies_in_many_chunks_or_broken() {
    // Both modes: small bodies in buffered mode take the writer thread's path (small.rs).
    for durability in [Durability::Sync, Durability::Buffered] {
        for inline_limit in [0, 64 << 10] {
            let dir = tempfile::tempdir().unwrap();
            let storage =
                SqliteStorage::builder(dir.path()).durability(durability).inline_limit(inline_limit).open().unwrap();
            let items: Vec<Result<Bytes, BodyError>> = (0..100u8).map(|i| Ok(Bytes::from(vec![i; 10]))).collect();
            let id = RandomIds.generate();
            let new = NewUpload::new(id.clone()).with_length(Some(1000));
            let mut body = ChunkStream::new(futures_util::stream::iter(items), Some(1000));
            let outcome = storage.create_with_upload(new, &mut body, AppendOptions::new()).await.unwrap();
            assert!(outcome.stored.unwrap().is_complete());
            let expected: Vec<u8> = (0..100u8).flat_map(|i| vec![i; 10]).collect();
            assert_eq!(read(&storage, &id, 0..1000).await, expected);
            assert_eq!(read(&storage, &id, 995..2000).await, &expected[995..]);
            match inline_limit {
                0 => assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), expected),
                _ => assert!(!data_file(dir.path(), &id).exists(), "kept in the database, not in a file"),
            }

            for atomic in [false, true] {
                let id = RandomIds.generate();
                let new = NewUpload::new(id.clone()).with_length(Some(10));
                let items = vec![Ok(Bytes::from_static(b"abc")), Err(BodyError::Broken("reset".into()))];
                let mut body = ChunkStream::new(futures_util::stream::iter(items), Some(10));
                let outcome =
                    storage.create_with_upload(new, &mut body, AppendOptions::new().atomic(atomic)).await.unwrap();
                let kept = if atomic { 0 } else { 3 };
                assert_eq!(outcome.stored.unwrap().offset, kept, "atomic: {atomic}");
                assert_eq!(storage.info(&id).await.unwrap().offset, kept);
                assert_eq!(std::fs::metadata(data_file(dir.path(), &id)).unwrap().len(), kept);
                let rest: &'static [u8] = if atomic { b"abcdefghij" } else { b"defghij" };
                assert_eq!(append(&storage, &id, kept, rest).await.offset, 10);
                assert_eq!(read(&storage, &id, 0..10).await, b"abcdefghij");
            }
        }
    }
}

/// A creation-with-upload on the ID of a terminated upload is refused and leaves no file
/// behind (the tombstone owns none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_upload_on_a_tombstoned_id_leaves_no_file() {
    // Both modes: small bodies in buffered mode take the writer thread's path (small.rs).
    for durability in [Durability::Sync, Durability::Buffered] {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::builder(dir.path()).durability(durability).open().unwrap();
        let id = new_upload(&storage, Some(3)).await;
        append(&storage, &id, 0, b"abc").await;
        storage.remove(&id, Removal::Terminated).await.unwrap();
        let new = NewUpload::new(id.clone()).with_length(Some(5));
        let refused =
            storage.create_with_upload(new, &mut ChunkStream::from_bytes(&b"fresh"[..]), AppendOptions::new()).await;
        assert!(matches!(refused, Err(StorageError::AlreadyExists)));
        assert!(!data_file(dir.path(), &id).exists(), "a refused creation-with-upload leaves no file");
        assert!(matches!(storage.info(&id).await, Err(StorageError::Gone)));
    }
}

/// A creation-with-upload that finds a live record at offset 0 without its file (another
/// creator between recording and making the file) is refused, and the file it made is
/// left empty for that upload, whose appends then work as usual. Kept in the database, the
/// refused creation makes no file at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_upload_on_a_live_id_leaves_the_file_empty_for_that_upload() {
    // Both modes: small bodies in buffered mode take the writer thread's path (small.rs).
    for durability in [Durability::Sync, Durability::Buffered] {
        for inline_limit in [0, 64 << 10] {
            let dir = tempfile::tempdir().unwrap();
            let storage =
                SqliteStorage::builder(dir.path()).durability(durability).inline_limit(inline_limit).open().unwrap();
            let id = new_upload(&storage, Some(3)).await;
            std::fs::remove_file(data_file(dir.path(), &id)).unwrap();
            let new = NewUpload::new(id.clone()).with_length(Some(5));
            let refused = storage
                .create_with_upload(new, &mut ChunkStream::from_bytes(&b"fresh"[..]), AppendOptions::new())
                .await;
            assert!(matches!(refused, Err(StorageError::AlreadyExists)));
            match inline_limit {
                0 => assert_eq!(
                    std::fs::read(data_file(dir.path(), &id)).unwrap(),
                    b"",
                    "none of the refused bytes stay"
                ),
                _ => assert!(!data_file(dir.path(), &id).exists()),
            }
            assert_eq!(storage.info(&id).await.unwrap().offset, 0);
            assert_eq!(append(&storage, &id, 0, b"abc").await.offset, 3);
            assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), b"abc");
        }
    }
}

/// Many small chunks of uneven sizes (more than one gathered write's worth of pieces)
/// reach the file whole and in order, in both durability modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_small_chunks_are_written_in_order() {
    for durability in [Durability::Sync, Durability::Buffered] {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::builder(dir.path()).durability(durability).open().unwrap();
        let chunks: Vec<Bytes> = (0..700u32)
            .map(|n| Bytes::from((0..(n % 97 + 1)).map(|k| (n * 31 + k) as u8).collect::<Vec<u8>>()))
            .collect();
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let len = expected.len() as u64;
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, BodyError>));
        let id = new_upload(&storage, Some(len)).await;
        let info =
            storage.append(&id, 0, &mut ChunkStream::new(stream, Some(len)), AppendOptions::new()).await.unwrap();
        assert_eq!(info.offset, len);
        assert_eq!(std::fs::read(data_file(dir.path(), &id)).unwrap(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_with_metadata_larger_than_a_database_page_are_kept_whole() {
    // Records live in one b-tree keyed by ID (schema version 2), so a record whose
    // metadata spills into overflow pages is also a key in the tree's inner pages. Enough
    // of them to split pages several times over, each read back intact.
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let mut ids = Vec::new();
    for i in 0..300u32 {
        let id = RandomIds.generate();
        let mut metadata = Metadata::new();
        metadata.insert("filename", format!("file-{i}.bin"));
        metadata.insert("notes", vec![b'a' + (i % 26) as u8; 12 * 1024]);
        storage.create(NewUpload::new(id.clone()).with_length(Some(1)).with_metadata(metadata)).await.unwrap();
        ids.push(id);
    }
    drop(storage);
    let storage = SqliteStorage::open(dir.path()).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let info = storage.info(id).await.unwrap();
        assert_eq!(info.metadata.get_str("filename"), Some(format!("file-{i}.bin").as_str()));
        assert_eq!(info.metadata.get("notes"), Some(&vec![b'a' + (i % 26) as u8; 12 * 1024][..]));
    }
}

/// Creates upload `id` of `length` (none: deferred) with `body` in one creation-with-upload.
async fn create_whole(storage: &SqliteStorage, id: &UploadId, length: Option<u64>, body: &[u8]) -> UploadInfo {
    let new = NewUpload::new(id.clone()).with_length(length);
    let mut body = ChunkStream::new(
        futures_util::stream::iter([Ok::<_, BodyError>(Bytes::copy_from_slice(body))]),
        Some(body.len() as u64),
    );
    storage.create_with_upload(new, &mut body, AppendOptions::new()).await.unwrap().stored.unwrap()
}

/// The bytes the database holds for `id`, read from the file with a connection of its own.
fn bytes_in_database(dir: &Path, id: &UploadId) -> Option<Vec<u8>> {
    let conn = rusqlite::Connection::open(dir.join("uploads.db")).unwrap();
    conn.query_row(
        "SELECT bytes FROM inline_bytes JOIN uploads USING (bytes_id) WHERE uploads.id = ?1",
        [id.as_str()],
        |row| row.get(0),
    )
    .ok()
}

/// How many uploads' bytes the database holds, whichever record names them.
fn rows_of_bytes(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("uploads.db")).unwrap();
    conn.query_row("SELECT count(*) FROM inline_bytes", [], |row| row.get(0)).unwrap()
}

/// A small upload that arrives whole with its creation is one row in the database and no
/// file: it reads back whole and by ranges, takes zero-byte appends at its end and refuses
/// others, survives reopening (recovery expects no file of it), and its removal deletes the
/// bytes with it. In both durability modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_whole_upload_lives_in_the_database() {
    for durability in [Durability::Sync, Durability::Buffered] {
        let dir = tempfile::tempdir().unwrap();
        let open = || SqliteStorage::builder(dir.path()).durability(durability).inline_limit(64 << 10).open().unwrap();
        let storage = open();
        let body: Vec<u8> = (0..16 * 1024u64).map(pattern).collect();
        let id = RandomIds.generate();
        let stored = create_whole(&storage, &id, Some(body.len() as u64), &body).await;
        assert!(stored.is_complete());
        assert!(!data_file(dir.path(), &id).exists(), "no data file");
        assert_eq!(bytes_in_database(dir.path(), &id).as_deref(), Some(&body[..]));
        assert_eq!(read(&storage, &id, 0..u64::MAX).await, body);
        assert_eq!(read(&storage, &id, 100..4196).await, &body[100..4196]);
        assert_eq!(read(&storage, &id, 16 * 1024..u64::MAX).await, b"");

        // Appends: nothing can be added; a stale offset is still told apart.
        assert_eq!(append(&storage, &id, 16 * 1024, b"").await.offset, 16 * 1024);
        let stale = storage.append(&id, 5, &mut ChunkStream::from_bytes(&b"x"[..]), AppendOptions::new()).await;
        assert!(matches!(stale, Err(StorageError::OffsetMismatch { actual }) if actual == 16 * 1024), "{stale:?}");
        let more = storage.append(&id, 16 * 1024, &mut ChunkStream::from_bytes(&b"x"[..]), AppendOptions::new()).await;
        assert!(more.is_err(), "{more:?}");
        assert_eq!(read(&storage, &id, 0..u64::MAX).await, body);

        drop(storage);
        let storage = open();
        assert_eq!(storage.info(&id).await.unwrap().offset, 16 * 1024);
        assert_eq!(read(&storage, &id, 0..u64::MAX).await, body);
        assert!(!data_file(dir.path(), &id).exists(), "recovery makes no file for it");

        assert_eq!(rows_of_bytes(dir.path()), 1);
        storage.remove(&id, Removal::Terminated).await.unwrap();
        assert_eq!(bytes_in_database(dir.path(), &id), None, "removal deletes the bytes");
        assert_eq!(rows_of_bytes(dir.path()), 0, "removal deletes the bytes");
        assert!(matches!(storage.info(&id).await, Err(StorageError::Gone)));
        assert!(matches!(storage.read(&id, 0..10).await, Err(StorageError::Gone)));
    }
}

/// Only plain uploads whose creation carries all their bytes, within the limit, are kept
/// in the database; everything else gets a data file, and concatenation still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_are_not_small_and_whole_get_a_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).inline_limit(100).open().unwrap();
    let in_database = |id: &UploadId| bytes_in_database(dir.path(), id).is_some();
    let at_limit = RandomIds.generate();
    create_whole(&storage, &at_limit, Some(100), &[1; 100]).await;
    assert!(in_database(&at_limit) && !data_file(dir.path(), &at_limit).exists());

    let over = RandomIds.generate();
    create_whole(&storage, &over, Some(101), &[2; 101]).await;
    let unfinished = RandomIds.generate();
    assert_eq!(create_whole(&storage, &unfinished, Some(20), &[3; 10]).await.offset, 10);
    let deferred = RandomIds.generate();
    create_whole(&storage, &deferred, None, &[4; 10]).await;
    for id in [&over, &unfinished, &deferred] {
        assert!(!in_database(id) && data_file(dir.path(), id).exists(), "{id}");
    }
    assert_eq!(append(&storage, &unfinished, 10, &[3; 10]).await.offset, 20);
    assert_eq!(read(&storage, &unfinished, 0..20).await, [3; 20]);

    // Partial uploads keep files, so that the final is assembled by in-kernel copies.
    let mut partials = Vec::new();
    for byte in [5u8, 6] {
        let id = RandomIds.generate();
        let new = NewUpload::new(id.clone()).with_length(Some(3)).with_concat(Some(Concat::Partial));
        let mut body = ChunkStream::from_bytes(Bytes::from(vec![byte; 3]));
        let info = storage.create_with_upload(new, &mut body, AppendOptions::new()).await.unwrap().stored.unwrap();
        assert!(!in_database(&id) && data_file(dir.path(), &id).exists());
        partials.push(info);
    }
    let final_id = RandomIds.generate();
    let ids = partials.iter().map(|p| p.id.clone()).collect();
    storage
        .create(NewUpload::new(final_id.clone()).with_length(Some(6)).with_concat(Some(Concat::Final(ids))))
        .await
        .unwrap();
    assert_eq!(storage.concatenate(&final_id, &partials).await.unwrap().offset, 6);
    assert_eq!(read(&storage, &final_id, 0..6).await, [5, 5, 5, 6, 6, 6]);

    // A limit of 0 keeps nothing in the database.
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).inline_limit(0).open().unwrap();
    let id = RandomIds.generate();
    create_whole(&storage, &id, Some(5), b"hello").await;
    assert!(bytes_in_database(dir.path(), &id).is_none() && data_file(dir.path(), &id).exists());
}

/// By default small uploads are kept in the database in sync mode, where that saves a data
/// sync and a directory sync each, and in files in buffered mode, where files are cheaper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_uploads_are_kept_in_the_database_by_default_only_in_sync_mode() {
    for (durability, in_database) in [(Durability::Sync, true), (Durability::Buffered, false)] {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::builder(dir.path()).durability(durability).open().unwrap();
        let id = RandomIds.generate();
        create_whole(&storage, &id, Some(5), b"hello").await;
        assert_eq!(bytes_in_database(dir.path(), &id).is_some(), in_database, "{durability:?}");
        assert_eq!(data_file(dir.path(), &id).exists(), !in_database, "{durability:?}");
        assert_eq!(read(&storage, &id, 0..5).await, b"hello");
    }
}

/// A version 2 database (without the table of bytes kept in the database, or the column
/// naming them) is upgraded in place, its records kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).inline_limit(0).open().unwrap();
    let id = new_upload(&storage, Some(3)).await;
    append(&storage, &id, 0, b"abc").await;
    drop(storage);
    let conn = rusqlite::Connection::open(dir.path().join("uploads.db")).unwrap();
    conn.execute_batch("DROP TABLE inline_bytes; ALTER TABLE uploads DROP COLUMN bytes_id; PRAGMA user_version = 2;")
        .unwrap();
    drop(conn);

    let storage = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(read(&storage, &id, 0..3).await, b"abc");
    let small = RandomIds.generate();
    create_whole(&storage, &small, Some(2), b"hi").await;
    assert_eq!(bytes_in_database(dir.path(), &small).as_deref(), Some(&b"hi"[..]));
    drop(storage);
    let conn = rusqlite::Connection::open(dir.path().join("uploads.db")).unwrap();
    assert_eq!(schema_version(&conn), 4);
}

/// A version 3 database, whose table of bytes was keyed by upload ID, is upgraded in place:
/// every upload it held still reads back whole from the database (no data file appears),
/// a file-backed upload beside them is untouched, and removal still deletes the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_database_is_upgraded_with_the_bytes_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::builder(dir.path()).inline_limit(64 << 10).open().unwrap();
    let in_file = new_upload(&storage, Some(3)).await;
    append(&storage, &in_file, 0, b"abc").await;
    let mut held = Vec::new();
    for n in 0..4u64 {
        let body: Vec<u8> = (0..1000 + n).map(|i| pattern(i * 7 + n)).collect();
        let id = RandomIds.generate();
        create_whole(&storage, &id, Some(body.len() as u64), &body).await;
        held.push((id, body));
    }
    drop(storage);
    // Back to version 3's layout (frozen here), the rows numbered in reverse, so that the
    // upgrade must follow the IDs rather than the numbers.
    let conn = rusqlite::Connection::open(dir.path().join("uploads.db")).unwrap();
    conn.execute_batch(
        r#"
CREATE TABLE inline_bytes_v3 (
    id    TEXT PRIMARY KEY NOT NULL REFERENCES uploads (id),
    bytes BLOB NOT NULL
) STRICT;
INSERT INTO inline_bytes_v3 (id, bytes)
SELECT uploads.id, inline_bytes.bytes FROM inline_bytes JOIN uploads USING (bytes_id) ORDER BY bytes_id DESC;
DROP TABLE inline_bytes;
ALTER TABLE inline_bytes_v3 RENAME TO inline_bytes;
ALTER TABLE uploads DROP COLUMN bytes_id;
PRAGMA user_version = 3;
"#,
    )
    .unwrap();
    drop(conn);

    let storage = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(read(&storage, &in_file, 0..3).await, b"abc");
    for (id, body) in &held {
        assert_eq!(&read(&storage, id, 0..u64::MAX).await, body, "{id}");
        assert_eq!(bytes_in_database(dir.path(), id).as_ref(), Some(body), "{id}");
        assert!(!data_file(dir.path(), id).exists(), "{id}");
    }
    assert_eq!(rows_of_bytes(dir.path()), 4);
    storage.remove(&held[0].0, Removal::Terminated).await.unwrap();
    assert_eq!(rows_of_bytes(dir.path()), 3, "removal deletes the bytes");
    assert_eq!(&read(&storage, &held[1].0, 0..u64::MAX).await, &held[1].1);
    drop(storage);

    let conn = rusqlite::Connection::open(dir.path().join("uploads.db")).unwrap();
    assert_eq!(schema_version(&conn), 4);
    let table = table_sql(&conn, "inline_bytes");
    assert!(table.contains("bytes_id INTEGER PRIMARY KEY") && !table.contains("id    TEXT"), "{table}");
    assert_eq!(schema_sql(&conn, "inline_bytes_v3"), None, "the old table is gone");
}
