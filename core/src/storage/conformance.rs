//! The storage conformance suite: behaviour every [`Storage`] backend must have.
//!
//! A backend runs it from its own tests against a real instance:
//!
//! ```ignore
//! #[tokio::test]
//! async fn conforms() {
//!     let storage = MyStorage::connect(/* … */).await;
//!     tus_core::storage::conformance::run_all(&storage).await;
//! }
//! ```
//!
//! Every check panics with a message naming the check and what went wrong. Each one makes
//! its own uploads with fresh random IDs, so all checks may share one storage, run in any
//! order, and run again on a storage that holds uploads from earlier runs. Checks of
//! optional operations are skipped when [`Storage::features`] does not offer them; bytes
//! are compared through [`Storage::read`] only when the backend supports it.

use super::{AppendOptions, BodyError, ChunkStream, Concat, NewUpload, Removal, Storage, UploadInfo};
use crate::error::StorageError;
use crate::id::{IdGenerator, RandomIds, UploadId};
use crate::metadata::Metadata;
use bytes::Bytes;
use futures_util::StreamExt as _;
use std::fmt::Debug;
use std::ops::Range;
use std::time::{Duration, SystemTime};

/// How far apart two times may be and still count as the same: backends may store
/// timestamps with less precision than [`SystemTime`].
const TIME_TOLERANCE: Duration = Duration::from_secs(1);

/// Runs every check, one after the other, on `storage`.
pub async fn run_all<S: Storage + ?Sized>(storage: &S) {
    create_and_info(storage).await;
    duplicate_ids(storage).await;
    append_advances_offset(storage).await;
    offset_mismatch_stores_nothing(storage).await;
    atomic_append_with_error_commits_nothing(storage).await;
    non_atomic_append_with_error_commits_received(storage).await;
    deferred_length_set_once(storage).await;
    concatenate_in_order(storage).await;
    concatenate_twice_fails(storage).await;
    finals_waiting_for(storage).await;
    read_full_and_ranged(storage).await;
    remove_leaves_tombstone(storage).await;
    expired_lists_unfinished_expired(storage).await;
    append_slides_expiry(storage).await;
    create_with_upload(storage).await;
}

// ---------------------------------------------------------------------------------------
// Helpers

fn fresh_id() -> UploadId {
    RandomIds.generate()
}

/// A body made of `items`, in order; an `Err` ends it the way a broken request does.
/// `len` bytes of test data that differ with `seed` and do not repeat every 256 bytes (a
/// misplaced chunk shows), for backends' own tests.
pub fn test_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 7) as u8).collect()
}

/// Every byte of `stream`, for backends' own tests.
///
/// # Panics
/// When the stream fails.
pub async fn read_all(mut stream: super::ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("the stream reads to its end"));
    }
    out
}

fn body(items: &[Result<&'static [u8], BodyError>]) -> ChunkStream {
    let items: Vec<Result<Bytes, BodyError>> = items.iter().map(|item| item.clone().map(Bytes::from_static)).collect();
    ChunkStream::new(futures_util::stream::iter(items), None)
}

fn expect_ok<T>(check: &str, what: &str, result: Result<T, StorageError>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("[{check}] {what} failed: {err} ({err:?})"),
    }
}

fn expect_err<T: Debug>(check: &str, what: &str, result: Result<T, StorageError>) -> StorageError {
    match result {
        Ok(value) => panic!("[{check}] {what} should have failed, but returned {value:?}"),
        Err(err) => err,
    }
}

async fn create<S: Storage + ?Sized>(storage: &S, check: &str, upload: NewUpload) -> UploadInfo {
    let id = upload.id.clone();
    expect_ok(check, &format!("create({id})"), storage.create(upload).await)
}

async fn info<S: Storage + ?Sized>(storage: &S, check: &str, id: &UploadId) -> UploadInfo {
    expect_ok(check, &format!("info({id})"), storage.info(id).await)
}

async fn append<S: Storage + ?Sized>(
    storage: &S,
    check: &str,
    id: &UploadId,
    offset: u64,
    bytes: &'static [u8],
) -> UploadInfo {
    let result = storage.append(id, offset, &mut ChunkStream::from_bytes(bytes), AppendOptions::new()).await;
    let info = expect_ok(check, &format!("append({id}, {offset}, {} bytes)", bytes.len()), result);
    assert_eq!(info.offset, offset + bytes.len() as u64, "[{check}] offset returned by append({id}, {offset})");
    info
}

/// A complete partial upload holding `bytes`.
async fn complete_partial<S: Storage + ?Sized>(storage: &S, check: &str, bytes: &'static [u8]) -> UploadInfo {
    let id = fresh_id();
    let new = NewUpload::new(id.clone()).with_length(Some(bytes.len() as u64)).with_concat(Some(Concat::Partial));
    let created = create(storage, check, new).await;
    if bytes.is_empty() {
        return created;
    }
    append(storage, check, &id, 0, bytes).await
}

/// A final upload over `partials`, with the length a service computes for it.
async fn final_over<S: Storage + ?Sized>(storage: &S, check: &str, partials: &[&UploadInfo]) -> UploadInfo {
    let ids = partials.iter().map(|p| p.id.clone()).collect();
    let length = partials.iter().try_fold(0u64, |sum, p| p.length.map(|l| sum + l));
    let new = NewUpload::new(fresh_id()).with_length(length).with_concat(Some(Concat::Final(ids)));
    create(storage, check, new).await
}

async fn read_range<S: Storage + ?Sized>(storage: &S, check: &str, id: &UploadId, range: Range<u64>) -> Vec<u8> {
    let what = format!("read({id}, {range:?})");
    let mut stream = expect_ok(check, &what, storage.read(id, range).await);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(err) => panic!("[{check}] {what}: the stream failed: {err}"),
        }
    }
    bytes
}

/// Checks that `id` is complete and holds exactly `expected` (compared when the backend
/// can read).
async fn assert_content<S: Storage + ?Sized>(storage: &S, check: &str, id: &UploadId, expected: &[u8]) {
    let info = info(storage, check, id).await;
    assert_eq!(info.offset, expected.len() as u64, "[{check}] offset of {id}");
    assert!(info.is_complete(), "[{check}] {id} should be complete: {info:?}");
    if storage.features().read {
        let bytes = read_range(storage, check, id, 0..expected.len() as u64).await;
        assert!(
            bytes == expected,
            "[{check}] bytes of {id}: expected {:?}, got {:?}",
            String::from_utf8_lossy(expected),
            String::from_utf8_lossy(&bytes)
        );
    }
}

fn assert_time_close(check: &str, what: &str, actual: Option<SystemTime>, expected: Option<SystemTime>) {
    let close = match (actual, expected) {
        (None, None) => true,
        (Some(a), Some(e)) => a.duration_since(e).or_else(|_| e.duration_since(a)).is_ok_and(|d| d <= TIME_TOLERANCE),
        _ => false,
    };
    assert!(close, "[{check}] {what}: expected {expected:?}, got {actual:?}");
}

fn assert_same_upload(check: &str, what: &str, actual: &UploadInfo, expected: &UploadInfo) {
    assert_eq!(actual.id, expected.id, "[{check}] {what}: id");
    assert_eq!(actual.offset, expected.offset, "[{check}] {what}: offset");
    assert_eq!(actual.length, expected.length, "[{check}] {what}: length");
    assert_eq!(actual.metadata, expected.metadata, "[{check}] {what}: metadata");
    assert_eq!(actual.concat, expected.concat, "[{check}] {what}: concat");
    assert_time_close(check, &format!("{what}: created_at"), Some(actual.created_at), Some(expected.created_at));
    assert_time_close(check, &format!("{what}: expires_at"), actual.expires_at, expected.expires_at);
}

fn sorted(mut ids: Vec<UploadId>) -> Vec<UploadId> {
    ids.sort();
    ids
}

// ---------------------------------------------------------------------------------------
// Checks

/// `create` stores what it is given (length, metadata, concatenation role, expiry) and
/// `info` reads it back; `info` of an unknown ID is `NotFound`.
pub async fn create_and_info<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "create_and_info";
    let mut metadata = Metadata::new();
    metadata.insert("filename", "report.pdf");
    metadata.insert("is_confidential", "");
    metadata.insert("binary", vec![0u8, 0xff, b'\n', b',', b' ']);
    let expires_at = SystemTime::now() + Duration::from_secs(3600);
    let before = SystemTime::now();

    let id = fresh_id();
    let new = NewUpload::new(id.clone())
        .with_length(Some(100))
        .with_metadata(metadata.clone())
        .with_expires_at(Some(expires_at));
    let created = create(storage, CHECK, new).await;
    assert_eq!(created.id, id, "[{CHECK}] id returned by create");
    assert_eq!(created.offset, 0, "[{CHECK}] a new upload is empty");
    assert_eq!(created.length, Some(100), "[{CHECK}] length returned by create");
    assert_eq!(created.metadata, metadata, "[{CHECK}] metadata returned by create");
    assert_eq!(created.concat, None, "[{CHECK}] concat returned by create");
    assert_time_close(CHECK, "expires_at returned by create", created.expires_at, Some(expires_at));
    assert_time_close(CHECK, "created_at returned by create", Some(created.created_at), Some(before));
    assert_same_upload(CHECK, "info after create", &info(storage, CHECK, &id).await, &created);

    let deferred = create(storage, CHECK, NewUpload::new(fresh_id())).await;
    let read_back = info(storage, CHECK, &deferred.id).await;
    assert_eq!(read_back.length, None, "[{CHECK}] a deferred length stays unknown");
    assert!(read_back.metadata.is_empty(), "[{CHECK}] no metadata given, none stored");
    assert_eq!(read_back.expires_at, None, "[{CHECK}] no expiry given, none stored");
    assert_same_upload(CHECK, "info of a deferred-length upload", &read_back, &deferred);

    let partial_a = create(storage, CHECK, NewUpload::new(fresh_id()).with_concat(Some(Concat::Partial))).await;
    let partial_b = create(storage, CHECK, NewUpload::new(fresh_id()).with_concat(Some(Concat::Partial))).await;
    let read_back = info(storage, CHECK, &partial_a.id).await;
    assert_eq!(read_back.concat, Some(Concat::Partial), "[{CHECK}] concat of a partial upload");
    assert!(read_back.is_partial(), "[{CHECK}] is_partial");

    // Order matters, and a partial may appear more than once.
    let parts = vec![partial_b.id.clone(), partial_a.id.clone(), partial_b.id.clone()];
    let final_id = fresh_id();
    let new = NewUpload::new(final_id.clone()).with_concat(Some(Concat::Final(parts.clone())));
    let created = create(storage, CHECK, new).await;
    let read_back = info(storage, CHECK, &final_id).await;
    assert_eq!(read_back.concat, Some(Concat::Final(parts)), "[{CHECK}] concat of a final upload");
    assert!(read_back.is_final(), "[{CHECK}] is_final");
    assert_same_upload(CHECK, "info of a final upload", &read_back, &created);

    let err = expect_err(CHECK, "info of an unknown id", storage.info(&fresh_id()).await);
    assert!(matches!(err, StorageError::NotFound), "[{CHECK}] info of an unknown id: expected NotFound, got {err:?}");
}

/// A second `create` with a taken ID fails with `AlreadyExists` and changes nothing, also
/// when the first upload has been removed (its tombstone keeps the ID).
pub async fn duplicate_ids<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "duplicate_ids";
    let id = fresh_id();
    create(storage, CHECK, NewUpload::new(id.clone()).with_length(Some(5))).await;
    let err = expect_err(CHECK, "second create", storage.create(NewUpload::new(id.clone()).with_length(Some(7))).await);
    assert!(matches!(err, StorageError::AlreadyExists), "[{CHECK}] second create: expected AlreadyExists, got {err:?}");
    assert_eq!(info(storage, CHECK, &id).await.length, Some(5), "[{CHECK}] the first upload must be unchanged");

    expect_ok(CHECK, "remove", storage.remove(&id, Removal::Terminated).await);
    let err = expect_err(CHECK, "create over a tombstone", storage.create(NewUpload::new(id.clone())).await);
    assert!(
        matches!(err, StorageError::AlreadyExists),
        "[{CHECK}] create over a tombstone: expected AlreadyExists, got {err:?}"
    );
}

/// `create_with_upload` creates the upload with its first bytes (whole, cut short, or
/// rolled back when atomic), and refuses a taken ID without touching that upload.
pub async fn create_with_upload<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "create_with_upload";
    let id = fresh_id();
    let metadata = Metadata::parse("name aGVsbG8=").expect("valid metadata");
    let new = NewUpload::new(id.clone()).with_length(Some(11)).with_metadata(metadata.clone());
    let mut data = body(&[Ok(b"hello"), Ok(b" "), Ok(b"world")]);
    let outcome =
        expect_ok(CHECK, "create with a body", storage.create_with_upload(new, &mut data, AppendOptions::new()).await);
    assert_eq!(outcome.created.id, id, "[{CHECK}] created id");
    assert_eq!(outcome.created.offset, 0, "[{CHECK}] the upload as created has no bytes yet");
    assert_eq!(outcome.created.metadata, metadata, "[{CHECK}] created metadata");
    let stored = expect_ok(CHECK, "the body of a create", outcome.stored);
    assert!(stored.is_complete(), "[{CHECK}] 11 of 11 bytes is complete: {stored:?}");
    assert_eq!(info(storage, CHECK, &id).await.offset, 11, "[{CHECK}] offset after a create with a body");
    assert_content(storage, CHECK, &id, b"hello world").await;

    let new = NewUpload::new(id.clone()).with_length(Some(3));
    let mut data = body(&[Ok(b"xyz")]);
    let err = expect_err(
        CHECK,
        "create over a taken id",
        storage.create_with_upload(new, &mut data, AppendOptions::new()).await,
    );
    assert!(matches!(err, StorageError::AlreadyExists), "[{CHECK}] taken id: expected AlreadyExists, got {err:?}");
    assert_eq!(info(storage, CHECK, &id).await.offset, 11, "[{CHECK}] the first upload must be unchanged");
    assert_content(storage, CHECK, &id, b"hello world").await;

    let cut = fresh_id();
    let mut data = body(&[Ok(b"abc"), Err(BodyError::Broken("connection reset".into()))]);
    let new = NewUpload::new(cut.clone()).with_length(Some(10));
    let outcome = expect_ok(
        CHECK,
        "create with a broken body",
        storage.create_with_upload(new, &mut data, AppendOptions::new()).await,
    );
    let stored = expect_ok(CHECK, "a broken body of a create", outcome.stored);
    assert_eq!(stored.offset, 3, "[{CHECK}] a broken body keeps what arrived");
    append(storage, CHECK, &cut, 3, b"defghij").await;
    assert_content(storage, CHECK, &cut, b"abcdefghij").await;

    let rolled_back = fresh_id();
    let mut data = body(&[Ok(b"abc"), Err(BodyError::ChecksumMismatch)]);
    let new = NewUpload::new(rolled_back.clone()).with_length(Some(3));
    let atomic = AppendOptions::new().atomic(true);
    let outcome =
        expect_ok(CHECK, "create with a bad checksum", storage.create_with_upload(new, &mut data, atomic).await);
    let stored = expect_ok(CHECK, "a bad body of a create", outcome.stored);
    assert_eq!(stored.offset, 0, "[{CHECK}] an atomic body that failed commits nothing");
    assert_eq!(info(storage, CHECK, &rolled_back).await.offset, 0, "[{CHECK}] the upload exists at offset 0");
    append(storage, CHECK, &rolled_back, 0, b"xyz").await;
    assert_content(storage, CHECK, &rolled_back, b"xyz").await;
}

/// Appends advance the offset by the bytes they carry (in one chunk or several, empty
/// chunks included), and an empty append changes nothing.
pub async fn append_advances_offset<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "append_advances_offset";
    let id = fresh_id();
    create(storage, CHECK, NewUpload::new(id.clone()).with_length(Some(16))).await;
    append(storage, CHECK, &id, 0, b"hello ").await;
    assert_eq!(info(storage, CHECK, &id).await.offset, 6, "[{CHECK}] offset after the first append");

    let mut chunks = body(&[Ok(b"wo"), Ok(b""), Ok(b"rld"), Ok(b" and")]);
    let after =
        expect_ok(CHECK, "append of several chunks", storage.append(&id, 6, &mut chunks, AppendOptions::new()).await);
    assert_eq!(after.offset, 15, "[{CHECK}] offset returned by an append of several chunks");
    assert!(!after.is_complete(), "[{CHECK}] 15 of 16 bytes is not complete");

    let mut empty = body(&[]);
    let after = expect_ok(CHECK, "empty append", storage.append(&id, 15, &mut empty, AppendOptions::new()).await);
    assert_eq!(after.offset, 15, "[{CHECK}] an empty append keeps the offset");

    let after = append(storage, CHECK, &id, 15, b"!").await;
    assert!(after.is_complete(), "[{CHECK}] 16 of 16 bytes is complete: {after:?}");
    assert_content(storage, CHECK, &id, b"hello world and!").await;
}

/// An append at the wrong offset fails with `OffsetMismatch` carrying the real offset and
/// stores nothing; appends to unknown uploads are `NotFound`.
pub async fn offset_mismatch_stores_nothing<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "offset_mismatch_stores_nothing";
    let id = fresh_id();
    create(storage, CHECK, NewUpload::new(id.clone()).with_length(Some(6))).await;
    append(storage, CHECK, &id, 0, b"abc").await;

    for wrong in [0, 2, 5] {
        let mut data = ChunkStream::from_bytes(&b"zzz"[..]);
        let err = expect_err(
            CHECK,
            &format!("append at offset {wrong}"),
            storage.append(&id, wrong, &mut data, AppendOptions::new()).await,
        );
        assert!(
            matches!(err, StorageError::OffsetMismatch { actual: 3 }),
            "[{CHECK}] append at offset {wrong}: expected OffsetMismatch {{ actual: 3 }}, got {err:?}"
        );
        assert_eq!(info(storage, CHECK, &id).await.offset, 3, "[{CHECK}] offset after a mismatched append");
    }
    append(storage, CHECK, &id, 3, b"def").await;
    assert_content(storage, CHECK, &id, b"abcdef").await;

    let mut data = ChunkStream::from_bytes(&b"x"[..]);
    let err = expect_err(
        CHECK,
        "append to an unknown id",
        storage.append(&fresh_id(), 0, &mut data, AppendOptions::new()).await,
    );
    assert!(matches!(err, StorageError::NotFound), "[{CHECK}] append to an unknown id: expected NotFound, got {err:?}");
}

/// An atomic append whose stream ends in an error succeeds with the unchanged state and
/// commits none of its bytes.
pub async fn atomic_append_with_error_commits_nothing<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "atomic_append_with_error_commits_nothing";
    let atomic = AppendOptions::new().atomic(true);
    let id = fresh_id();
    create(storage, CHECK, NewUpload::new(id.clone()).with_length(Some(6))).await;

    let mut failing = body(&[Ok(b"12"), Ok(b"3"), Err(BodyError::ChecksumMismatch)]);
    let after = expect_ok(CHECK, "failed atomic append at 0", storage.append(&id, 0, &mut failing, atomic).await);
    assert_eq!(after.offset, 0, "[{CHECK}] offset returned by a failed atomic append at 0");
    assert_eq!(info(storage, CHECK, &id).await.offset, 0, "[{CHECK}] offset after a failed atomic append at 0");

    let mut good = body(&[Ok(b"ab"), Ok(b"c")]);
    let after = expect_ok(CHECK, "atomic append", storage.append(&id, 0, &mut good, atomic).await);
    assert_eq!(after.offset, 3, "[{CHECK}] offset returned by a good atomic append");

    let mut failing = body(&[Ok(b"de"), Ok(b"f"), Err(BodyError::Broken("connection reset".into()))]);
    let after = expect_ok(CHECK, "failed atomic append at 3", storage.append(&id, 3, &mut failing, atomic).await);
    assert_eq!(after.offset, 3, "[{CHECK}] offset returned by a failed atomic append at 3");
    assert_eq!(info(storage, CHECK, &id).await.offset, 3, "[{CHECK}] offset after a failed atomic append at 3");

    append(storage, CHECK, &id, 3, b"xyz").await;
    assert_content(storage, CHECK, &id, b"abcxyz").await;
}

/// A non-atomic append whose stream ends in an error commits every byte that arrived
/// before the error.
pub async fn non_atomic_append_with_error_commits_received<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "non_atomic_append_with_error_commits_received";
    let id = fresh_id();
    create(storage, CHECK, NewUpload::new(id.clone()).with_length(Some(10))).await;

    let mut failing = body(&[Ok(b"abc"), Ok(b"def"), Err(BodyError::Broken("connection reset".into()))]);
    let after = expect_ok(CHECK, "failed append", storage.append(&id, 0, &mut failing, AppendOptions::new()).await);
    assert_eq!(after.offset, 6, "[{CHECK}] offset returned by an append that failed after 6 bytes");
    assert_eq!(info(storage, CHECK, &id).await.offset, 6, "[{CHECK}] offset after an append that failed after 6 bytes");

    let mut failing = body(&[Err(BodyError::Timeout)]);
    let after =
        expect_ok(CHECK, "append failing at once", storage.append(&id, 6, &mut failing, AppendOptions::new()).await);
    assert_eq!(after.offset, 6, "[{CHECK}] an append that failed before any byte keeps the offset");

    append(storage, CHECK, &id, 6, b"ghij").await;
    assert_content(storage, CHECK, &id, b"abcdefghij").await;
}

/// The length of a deferred-length upload may be set once; a second time, or on an upload
/// created with a length, it is `LengthAlreadySet`.
pub async fn deferred_length_set_once<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "deferred_length_set_once";
    let id = fresh_id();
    create(storage, CHECK, NewUpload::new(id.clone())).await;
    let after = append(storage, CHECK, &id, 0, b"abc").await;
    assert_eq!(after.length, None, "[{CHECK}] length before it is declared");
    assert!(!after.is_complete(), "[{CHECK}] an upload without length is not complete");

    let after = expect_ok(CHECK, "set_length(5)", storage.set_length(&id, 5).await);
    assert_eq!((after.offset, after.length), (3, Some(5)), "[{CHECK}] state returned by set_length");
    assert_eq!(info(storage, CHECK, &id).await.length, Some(5), "[{CHECK}] length after set_length");

    let err = expect_err(CHECK, "second set_length", storage.set_length(&id, 6).await);
    assert!(
        matches!(err, StorageError::LengthAlreadySet),
        "[{CHECK}] second set_length: expected LengthAlreadySet, got {err:?}"
    );
    assert_eq!(info(storage, CHECK, &id).await.length, Some(5), "[{CHECK}] length after a refused set_length");

    append(storage, CHECK, &id, 3, b"de").await;
    assert_content(storage, CHECK, &id, b"abcde").await;

    let fixed = fresh_id();
    create(storage, CHECK, NewUpload::new(fixed.clone()).with_length(Some(4))).await;
    let err = expect_err(CHECK, "set_length on an upload with a length", storage.set_length(&fixed, 4).await);
    assert!(
        matches!(err, StorageError::LengthAlreadySet),
        "[{CHECK}] set_length on an upload with a length: expected LengthAlreadySet, got {err:?}"
    );
    let err = expect_err(CHECK, "set_length on an unknown id", storage.set_length(&fresh_id(), 4).await);
    assert!(
        matches!(err, StorageError::NotFound),
        "[{CHECK}] set_length on an unknown id: expected NotFound, got {err:?}"
    );
}

/// `concatenate` fills a final with its partials' bytes in the order given (the same
/// partial may appear twice, empty partials add nothing) and leaves the partials as they were.
pub async fn concatenate_in_order<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "concatenate_in_order";
    if !storage.features().concatenation {
        return;
    }
    let a = complete_partial(storage, CHECK, b"hello ").await;
    let b = complete_partial(storage, CHECK, b"world").await;
    let empty = complete_partial(storage, CHECK, b"").await;

    let cases: [(&[&UploadInfo], &[u8]); 4] = [
        (&[&a, &b], b"hello world"),
        (&[&b, &a], b"worldhello "),
        (&[&a, &a], b"hello hello "),
        (&[&a, &empty, &b], b"hello world"),
    ];
    for (parts, expected) in cases {
        let created = final_over(storage, CHECK, parts).await;
        let partials: Vec<UploadInfo> = parts.iter().map(|p| (*p).clone()).collect();
        let done = expect_ok(CHECK, "concatenate", storage.concatenate(&created.id, &partials).await);
        let total = expected.len() as u64;
        assert_eq!((done.offset, done.length), (total, Some(total)), "[{CHECK}] state returned by concatenate");
        assert_eq!(done.concat, created.concat, "[{CHECK}] concatenate keeps the list of partials");
        assert_content(storage, CHECK, &created.id, expected).await;
    }

    // A final created before its length was known gets it from the concatenation.
    let created = create(
        storage,
        CHECK,
        NewUpload::new(fresh_id()).with_concat(Some(Concat::Final(vec![b.id.clone(), a.id.clone()]))),
    )
    .await;
    let done = expect_ok(CHECK, "concatenate", storage.concatenate(&created.id, &[b.clone(), a.clone()]).await);
    assert_eq!(done.length, Some(11), "[{CHECK}] length of a final created without one");
    assert_content(storage, CHECK, &created.id, b"worldhello ").await;

    assert_content(storage, CHECK, &a.id, b"hello ").await;
    assert_content(storage, CHECK, &b.id, b"world").await;
}

/// A second `concatenate` of the same final fails with `AlreadyExists` and changes nothing.
pub async fn concatenate_twice_fails<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "concatenate_twice_fails";
    if !storage.features().concatenation {
        return;
    }
    let a = complete_partial(storage, CHECK, b"abc").await;
    let b = complete_partial(storage, CHECK, b"de").await;
    let created = final_over(storage, CHECK, &[&a, &b]).await;
    expect_ok(CHECK, "first concatenate", storage.concatenate(&created.id, &[a.clone(), b.clone()]).await);
    let err = expect_err(CHECK, "second concatenate", storage.concatenate(&created.id, &[b.clone(), a.clone()]).await);
    assert!(
        matches!(err, StorageError::AlreadyExists),
        "[{CHECK}] second concatenate: expected AlreadyExists, got {err:?}"
    );
    assert_content(storage, CHECK, &created.id, b"abcde").await;
}

/// `finals_waiting_for` lists each live, unfinished final naming a partial exactly once.
pub async fn finals_waiting_for<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "finals_waiting_for";
    if !storage.features().concatenation_unfinished {
        return;
    }
    let waiting = async |id: &UploadId| {
        sorted(expect_ok(CHECK, &format!("finals_waiting_for({id})"), storage.finals_waiting_for(id).await))
    };
    let p = create(storage, CHECK, NewUpload::new(fresh_id()).with_length(Some(3)).with_concat(Some(Concat::Partial)))
        .await;
    let q = complete_partial(storage, CHECK, b"xy").await;
    let f = final_over(storage, CHECK, &[&p, &q]).await;
    let g = final_over(storage, CHECK, &[&q, &p, &p]).await;
    let done = final_over(storage, CHECK, &[&q]).await;
    expect_ok(CHECK, "concatenate", storage.concatenate(&done.id, std::slice::from_ref(&q)).await);

    let both = sorted(vec![f.id.clone(), g.id.clone()]);
    assert_eq!(waiting(&p.id).await, both, "[{CHECK}] finals waiting for an unfinished partial");
    assert_eq!(
        waiting(&q.id).await,
        both,
        "[{CHECK}] finals waiting for a complete partial (complete finals excluded)"
    );
    assert_eq!(waiting(&fresh_id()).await, Vec::<UploadId>::new(), "[{CHECK}] finals waiting for an unknown partial");

    let p = append(storage, CHECK, &p.id, 0, b"abc").await;
    expect_ok(CHECK, "concatenate", storage.concatenate(&f.id, &[p.clone(), q.clone()]).await);
    assert_eq!(waiting(&p.id).await, vec![g.id.clone()], "[{CHECK}] a completed final is no longer waiting");

    expect_ok(CHECK, "remove", storage.remove(&g.id, Removal::Terminated).await);
    assert_eq!(waiting(&p.id).await, Vec::<UploadId>::new(), "[{CHECK}] a removed final is no longer waiting");
}

/// `read` streams a whole upload or any range of it; an empty upload reads as empty.
pub async fn read_full_and_ranged<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "read_full_and_ranged";
    if !storage.features().read {
        return;
    }
    let id = fresh_id();
    create(storage, CHECK, NewUpload::new(id.clone()).with_length(Some(10))).await;
    append(storage, CHECK, &id, 0, b"01234").await;
    append(storage, CHECK, &id, 5, b"56789").await;
    for (range, expected) in [
        (0..10, &b"0123456789"[..]),
        (0..1, b"0"),
        (3..7, b"3456"),
        (4..6, b"45"),
        (9..10, b"9"),
        (5..10, b"56789"),
        (5..5, b""),
    ] {
        let bytes = read_range(storage, CHECK, &id, range.clone()).await;
        assert!(
            bytes == expected,
            "[{CHECK}] read({range:?}): expected {:?}, got {:?}",
            String::from_utf8_lossy(expected),
            String::from_utf8_lossy(&bytes)
        );
    }

    let empty = fresh_id();
    create(storage, CHECK, NewUpload::new(empty.clone()).with_length(Some(0))).await;
    assert!(read_range(storage, CHECK, &empty, 0..0).await.is_empty(), "[{CHECK}] an empty upload reads as empty");

    let err = expect_err(CHECK, "read of an unknown id", storage.read(&fresh_id(), 0..1).await.map(|_| ()));
    assert!(matches!(err, StorageError::NotFound), "[{CHECK}] read of an unknown id: expected NotFound, got {err:?}");
}

/// `remove` leaves a tombstone: every later operation on the ID is `Gone`; removing an
/// unknown ID is `NotFound`.
pub async fn remove_leaves_tombstone<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "remove_leaves_tombstone";
    for why in [Removal::Terminated, Removal::Expired] {
        let id = fresh_id();
        create(storage, CHECK, NewUpload::new(id.clone())).await;
        append(storage, CHECK, &id, 0, b"abc").await;
        expect_ok(CHECK, &format!("remove({why:?})"), storage.remove(&id, why).await);

        let gone = |what: &str, err: StorageError| {
            assert!(
                matches!(err, StorageError::Gone),
                "[{CHECK}] {what} after remove({why:?}): expected Gone, got {err:?}"
            );
        };
        gone("info", expect_err(CHECK, "info after remove", storage.info(&id).await));
        let mut data = ChunkStream::from_bytes(&b"def"[..]);
        gone(
            "append",
            expect_err(CHECK, "append after remove", storage.append(&id, 3, &mut data, AppendOptions::new()).await),
        );
        gone("set_length", expect_err(CHECK, "set_length after remove", storage.set_length(&id, 6).await));
        gone("remove", expect_err(CHECK, "second remove", storage.remove(&id, Removal::Terminated).await));
        if storage.features().read {
            gone("read", expect_err(CHECK, "read after remove", storage.read(&id, 0..3).await.map(|_| ())));
        }
    }
    let err = expect_err(CHECK, "remove of an unknown id", storage.remove(&fresh_id(), Removal::Terminated).await);
    assert!(matches!(err, StorageError::NotFound), "[{CHECK}] remove of an unknown id: expected NotFound, got {err:?}");
}

/// `expired` lists live, unfinished uploads whose expiry is at or before `now`, and
/// honours its limit.
pub async fn expired_lists_unfinished_expired<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "expired_lists_unfinished_expired";
    let now = SystemTime::now();
    let past = now - Duration::from_secs(3600);
    let future = now + Duration::from_secs(3600);
    let upload = |length: Option<u64>, expires_at: Option<SystemTime>| {
        NewUpload::new(fresh_id()).with_length(length).with_expires_at(expires_at)
    };

    let unfinished = create(storage, CHECK, upload(Some(10), Some(past))).await;
    append(storage, CHECK, &unfinished.id, 0, b"abc").await;
    let deferred = create(storage, CHECK, upload(None, Some(past))).await;
    let complete = create(storage, CHECK, upload(Some(3), Some(past))).await;
    append(storage, CHECK, &complete.id, 0, b"abc").await;
    let empty_complete = create(storage, CHECK, upload(Some(0), Some(past))).await;
    let not_yet = create(storage, CHECK, upload(Some(10), Some(future))).await;
    let never = create(storage, CHECK, upload(Some(10), None)).await;
    let removed = create(storage, CHECK, upload(Some(10), Some(past))).await;
    expect_ok(CHECK, "remove", storage.remove(&removed.id, Removal::Expired).await);

    let ours = [&unfinished, &deferred, &complete, &empty_complete, &not_yet, &never, &removed];
    let listed = expect_ok(CHECK, "expired(now)", storage.expired(now, usize::MAX).await);
    let mut found: Vec<&UploadInfo> = listed.iter().filter(|u| ours.iter().any(|o| o.id == u.id)).collect();
    found.sort_by(|x, y| x.id.cmp(&y.id));
    let found_ids: Vec<UploadId> = found.iter().map(|u| u.id.clone()).collect();
    assert_eq!(
        found_ids,
        sorted(vec![unfinished.id.clone(), deferred.id.clone()]),
        "[{CHECK}] expired(now) must list exactly the unfinished, expired, live uploads \
         (not complete, not yet expired, never expiring or removed ones)"
    );
    for upload in found {
        assert!(upload.is_expired(now), "[{CHECK}] listed upload is not expired: {upload:?}");
        if upload.id == unfinished.id {
            assert_eq!((upload.offset, upload.length), (3, Some(10)), "[{CHECK}] state of a listed upload");
        }
    }

    let earlier = expect_ok(
        CHECK,
        "expired(an hour ago - 1 min)",
        storage.expired(past - Duration::from_secs(60), usize::MAX).await,
    );
    assert!(
        !earlier.iter().any(|u| u.id == unfinished.id || u.id == deferred.id),
        "[{CHECK}] expired(t) must not list uploads that expire after t"
    );
    let one = expect_ok(CHECK, "expired(now, 1)", storage.expired(now, 1).await);
    assert_eq!(one.len(), 1, "[{CHECK}] expired(now, 1) must list exactly one upload");
    let none = expect_ok(CHECK, "expired(now, 0)", storage.expired(now, 0).await);
    assert!(none.is_empty(), "[{CHECK}] expired(now, 0) must list nothing");
}

/// An append with `expires_at` moves the expiry (sliding expiration); one without keeps
/// it, and a failed atomic append changes nothing.
pub async fn append_slides_expiry<S: Storage + ?Sized>(storage: &S) {
    const CHECK: &str = "append_slides_expiry";
    let now = SystemTime::now();
    let first = now + Duration::from_secs(3600);
    let second = now + Duration::from_secs(7200);
    let third = now + Duration::from_secs(10800);
    let id = fresh_id();
    create(storage, CHECK, NewUpload::new(id.clone()).with_length(Some(10)).with_expires_at(Some(first))).await;

    let mut data = ChunkStream::from_bytes(&b"abc"[..]);
    let options = AppendOptions::new().expires_at(Some(second));
    let after = expect_ok(CHECK, "append with expires_at", storage.append(&id, 0, &mut data, options).await);
    assert_time_close(CHECK, "expires_at returned by an append that slides it", after.expires_at, Some(second));
    assert_time_close(
        CHECK,
        "expires_at after an append that slides it",
        info(storage, CHECK, &id).await.expires_at,
        Some(second),
    );

    let after = append(storage, CHECK, &id, 3, b"de").await;
    assert_time_close(CHECK, "expires_at after an append without expires_at", after.expires_at, Some(second));

    let mut failing = body(&[Ok(b"fg"), Err(BodyError::ChecksumMismatch)]);
    let options = AppendOptions::new().atomic(true).expires_at(Some(third));
    let after = expect_ok(CHECK, "failed atomic append", storage.append(&id, 5, &mut failing, options).await);
    assert_eq!(after.offset, 5, "[{CHECK}] offset after a failed atomic append");
    assert_time_close(
        CHECK,
        "expires_at after a failed atomic append",
        info(storage, CHECK, &id).await.expires_at,
        Some(second),
    );
}
