//! GCS-specific behaviour on fake-gcs-server: where the bytes live (parts, composed data
//! object), hierarchical composition past 32 sources, two writers at one offset,
//! all-or-nothing checksummed appends, checkpoints of long appends, termination.

use bytes::Bytes;
use futures_util::StreamExt as _;
use std::sync::Arc;
use tus_core::storage::conformance::{read_all, test_bytes as data};
use tus_core::{
    AppendOptions, BodyError, ChunkStream, Concat, NewUpload, Removal, Storage, StorageError, UploadId, UploadInfo,
};
use tus_gcs::GcsStorage;
use tus_gcs::emulator::FakeGcs;

const BUCKET: &str = "gcs-behaviour";

fn id(name: &str) -> UploadId {
    UploadId::new(format!("{name}-{}", std::process::id())).unwrap()
}

async fn append(storage: &GcsStorage, id: &UploadId, offset: u64, bytes: &[u8]) -> UploadInfo {
    let mut body = ChunkStream::from_bytes(Bytes::copy_from_slice(bytes));
    storage.append(id, offset, &mut body, AppendOptions::new()).await.unwrap()
}

/// The object names under `{prefix}{kind}/{id}`.
async fn objects_of(emulator: &FakeGcs, prefix: &str, kind: &str, id: &UploadId) -> Vec<(String, u64)> {
    emulator.objects(BUCKET, &format!("{prefix}{kind}/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_parts_are_composed_in_rounds_and_then_deleted() {
    let emulator = FakeGcs::start();
    let storage = emulator.storage(BUCKET, |c| c.prefix("p/")).await;
    let bytes = data(1200, 1);
    let upload = id("many-parts");
    storage.create(NewUpload::new(upload.clone()).with_length(Some(1200))).await.unwrap();
    // 70 appends of 10..20 bytes, then the rest: 71 parts, more than two rounds of 32.
    let mut offset = 0usize;
    for i in 0..70 {
        let size = 10 + i % 10;
        append(&storage, &upload, offset as u64, &bytes[offset..offset + size]).await;
        offset += size;
    }
    assert_eq!(objects_of(&emulator, "p/", "parts", &upload).await.len(), 70, "one part object per append");
    assert!(objects_of(&emulator, "p/", "data", &upload).await.is_empty(), "no data object before the end");
    let done = append(&storage, &upload, offset as u64, &bytes[offset..]).await;
    assert!(done.is_complete());

    assert_eq!(objects_of(&emulator, "p/", "data", &upload).await, vec![(format!("p/data/{upload}"), 1200)]);
    assert!(
        objects_of(&emulator, "p/", "parts", &upload).await.is_empty(),
        "parts and compose intermediates are deleted once composed"
    );
    assert_eq!(read_all(storage.read(&upload, 0..1200).await.unwrap()).await, bytes);
    assert_eq!(read_all(storage.read(&upload, 333..777).await.unwrap()).await, &bytes[333..777]);

    // Concatenating 40 partials (40 sources) composes in rounds too.
    let mut partials = Vec::new();
    for i in 0..40u8 {
        let partial = id(&format!("partial-{i}"));
        let piece = data(10 + usize::from(i), i);
        storage
            .create(
                NewUpload::new(partial.clone())
                    .with_length(Some(piece.len() as u64))
                    .with_concat(Some(Concat::Partial)),
            )
            .await
            .unwrap();
        partials.push(append(&storage, &partial, 0, &piece).await);
    }
    let expected: Vec<u8> = (0..40u8).flat_map(|i| data(10 + usize::from(i), i)).collect();
    let final_id = id("final-of-40");
    let ids = partials.iter().map(|p| p.id.clone()).collect();
    storage.create(NewUpload::new(final_id.clone()).with_concat(Some(Concat::Final(ids)))).await.unwrap();
    let done = storage.concatenate(&final_id, &partials).await.unwrap();
    assert_eq!(done.length, Some(expected.len() as u64));
    assert_eq!(read_all(storage.read(&final_id, 0..expected.len() as u64).await.unwrap()).await, expected);
    assert!(objects_of(&emulator, "p/", "parts", &final_id).await.is_empty(), "no intermediates left");
}

/// A body that yields `bytes` only once both writers hold the same state.
fn gated_body(bytes: &'static [u8], gate: Arc<tokio::sync::Barrier>) -> ChunkStream {
    let stream = futures_util::stream::once(async move {
        gate.wait().await;
        Ok::<_, BodyError>(Bytes::from_static(bytes))
    });
    ChunkStream::new(stream, Some(bytes.len() as u64))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_servers_writing_at_one_offset_exactly_one_wins() {
    let emulator = FakeGcs::start();
    let first = emulator.storage(BUCKET, |c| c.prefix("race/")).await;
    let second = emulator.storage(BUCKET, |c| c.prefix("race/")).await;
    for round in 0..5 {
        let upload = id(&format!("race-{round}"));
        first.create(NewUpload::new(upload.clone()).with_length(Some(6))).await.unwrap();
        let gate = Arc::new(tokio::sync::Barrier::new(2));
        let mut body_a = gated_body(b"AAA", gate.clone());
        let mut body_b = gated_body(b"BBB", gate);
        let (a, b) = tokio::join!(
            first.append(&upload, 0, &mut body_a, AppendOptions::new()),
            second.append(&upload, 0, &mut body_b, AppendOptions::new()),
        );
        let (winner, loser) = match (&a, &b) {
            (Ok(_), Err(e)) => (b"AAA", e),
            (Err(e), Ok(_)) => (b"BBB", e),
            _ => panic!("exactly one append must win: {a:?} / {b:?}"),
        };
        assert!(
            matches!(loser, StorageError::OffsetMismatch { actual: 3 }),
            "the loser sees the new offset: {loser:?}"
        );
        assert_eq!(first.info(&upload).await.unwrap().offset, 3);
        let parts = objects_of(&emulator, "race/", "parts", &upload).await;
        assert_eq!(parts.len(), 1, "the loser deletes its part object: {parts:?}");
        append(&second, &upload, 3, b"xyz").await;
        let mut expected = winner.to_vec();
        expected.extend_from_slice(b"xyz");
        assert_eq!(read_all(first.read(&upload, 0..6).await.unwrap()).await, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_checksummed_append_leaves_no_object_and_long_appends_commit_checkpoints() {
    let emulator = FakeGcs::start();
    let storage = emulator.storage(BUCKET, |c| c.prefix("cp/").checkpoint_bytes(1024)).await;
    let bytes = data(10 * 1024, 7);

    let upload = id("atomic");
    storage.create(NewUpload::new(upload.clone()).with_length(Some(bytes.len() as u64))).await.unwrap();
    let chunks: Vec<Result<Bytes, BodyError>> =
        bytes.chunks(512).map(|c| Ok(Bytes::copy_from_slice(c))).chain([Err(BodyError::ChecksumMismatch)]).collect();
    let mut body = ChunkStream::new(futures_util::stream::iter(chunks), None);
    let after = storage.append(&upload, 0, &mut body, AppendOptions::new().atomic(true)).await.unwrap();
    assert_eq!(after.offset, 0, "nothing of a failed checksummed append is committed");
    assert!(objects_of(&emulator, "cp/", "parts", &upload).await.is_empty(), "and no part object stays");

    // Non-atomic: a 10 KiB body cut off at 9 KiB is committed in 1 KiB checkpoints.
    let chunks: Vec<Result<Bytes, BodyError>> = bytes[..9 * 1024]
        .chunks(512)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .chain([Err(BodyError::Broken("connection reset".into()))])
        .collect();
    let mut body = ChunkStream::new(futures_util::stream::iter(chunks), None);
    let after = storage.append(&upload, 0, &mut body, AppendOptions::new()).await.unwrap();
    assert_eq!(after.offset, 9 * 1024);
    let parts = objects_of(&emulator, "cp/", "parts", &upload).await;
    assert_eq!(parts.len(), 9, "one part per checkpoint: {parts:?}");
    assert!(parts.iter().all(|(_, size)| *size == 1024));
    append(&storage, &upload, 9 * 1024, &bytes[9 * 1024..]).await;
    assert_eq!(read_all(storage.read(&upload, 0..bytes.len() as u64).await.unwrap()).await, bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_length_composes_when_set_and_termination_deletes_every_object() {
    let emulator = FakeGcs::start();
    let storage = emulator.storage(BUCKET, |c| c.prefix("t/")).await;

    let deferred = id("deferred");
    storage.create(NewUpload::new(deferred.clone())).await.unwrap();
    append(&storage, &deferred, 0, b"hello").await;
    append(&storage, &deferred, 5, b" world").await;
    assert_eq!(objects_of(&emulator, "t/", "parts", &deferred).await.len(), 2);
    let done = storage.set_length(&deferred, 11).await.unwrap();
    assert!(done.is_complete());
    assert_eq!(objects_of(&emulator, "t/", "data", &deferred).await.len(), 1, "composed when the length is set");
    assert!(objects_of(&emulator, "t/", "parts", &deferred).await.is_empty());

    let unfinished = id("unfinished");
    storage.create(NewUpload::new(unfinished.clone()).with_length(Some(100))).await.unwrap();
    append(&storage, &unfinished, 0, b"abc").await;
    append(&storage, &unfinished, 3, b"def").await;

    for upload in [&deferred, &unfinished] {
        storage.remove(upload, Removal::Terminated).await.unwrap();
        assert!(objects_of(&emulator, "t/", "parts", upload).await.is_empty(), "parts of {upload} deleted");
        assert!(objects_of(&emulator, "t/", "data", upload).await.is_empty(), "data of {upload} deleted");
        // Only the tombstone stays.
        assert_eq!(objects_of(&emulator, "t/", "info", upload).await.len(), 1);
        assert!(matches!(storage.info(upload).await, Err(StorageError::Gone)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_fails_at_connect_with_one_clear_error() {
    let emulator = FakeGcs::start();
    let err = GcsStorage::connect(emulator.config("no-such-bucket")).await.unwrap_err();
    assert_eq!(err.to_string(), "GCS configuration: the bucket \"no-such-bucket\" does not exist");
    let unreachable = tus_gcs::GcsConfig::new("b").endpoint("http://127.0.0.1:1").auth(tus_gcs::GcsAuth::Anonymous);
    let err = GcsStorage::connect(unreachable).await.unwrap_err();
    assert!(matches!(err, tus_gcs::GcsError::Transport(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_times_out_instead_of_hanging() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let config = tus_gcs::GcsConfig::new("b")
        .endpoint(endpoint)
        .auth(tus_gcs::GcsAuth::Anonymous)
        .request_timeout(std::time::Duration::from_millis(500));
    let storage = GcsStorage::new(config).unwrap();
    let started = std::time::Instant::now();
    let err = storage.info(&id("silent")).await.unwrap_err();
    assert!(matches!(err, StorageError::Unavailable(_)), "a timeout is a 503-kind error: {err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_answers_while_an_append_streams() {
    let emulator = FakeGcs::start();
    let storage = emulator.storage(BUCKET, |c| c.prefix("s/")).await;
    let upload = id("streaming");
    storage.create(NewUpload::new(upload.clone()).with_length(Some(10))).await.unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let writer = {
        let storage = storage.clone();
        let upload = upload.clone();
        tokio::spawn(async move {
            // "hello" now, "world" only once the reader has its answer.
            let rest = futures_util::stream::once(async move {
                let _ = released.await;
                Ok::<_, BodyError>(Bytes::from_static(b"world"))
            });
            let body = futures_util::stream::iter([Ok(Bytes::from_static(b"hello"))]).chain(rest);
            let mut body = ChunkStream::new(body, Some(10));
            storage.append(&upload, 0, &mut body, AppendOptions::new()).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let info = tokio::time::timeout(std::time::Duration::from_secs(5), storage.info(&upload)).await;
    let info = info.expect("info must not wait for a streaming append").unwrap();
    assert_eq!(info.offset, 0, "uncommitted bytes are not visible");
    release.send(()).unwrap();
    assert_eq!(writer.await.unwrap().unwrap().offset, 10);
}

/// A loopback HTTP proxy in front of the emulator that records each request it forwards
/// (`METHOD path?query`), to see which GCS calls an operation made. Upload sessions'
/// PUTs go to the session URL the emulator hands out, i.e. around the proxy.
struct RecordingProxy {
    endpoint: String,
    requests: Arc<std::sync::Mutex<Vec<String>>>,
}

impl RecordingProxy {
    async fn start(upstream: String) -> Self {
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let http = reqwest::Client::new();
        let seen = requests.clone();
        let forward = move |request: axum::extract::Request| {
            let (http, seen, upstream) = (http.clone(), seen.clone(), upstream.clone());
            async move {
                let (head, body) = request.into_parts();
                let target = head.uri.path_and_query().map_or_else(String::new, ToString::to_string);
                seen.lock().unwrap().push(format!("{} {target}", head.method));
                let mut headers = head.headers.clone();
                headers.remove(axum::http::header::HOST);
                let answer = http
                    .request(head.method, format!("{upstream}{target}"))
                    .headers(headers)
                    .body(reqwest::Body::wrap_stream(body.into_data_stream()))
                    .send()
                    .await
                    .expect("the emulator answers the proxy");
                let mut response = axum::http::Response::builder().status(answer.status());
                for (name, value) in answer.headers() {
                    response = response.header(name, value);
                }
                response.body(axum::body::Body::from_stream(answer.bytes_stream())).unwrap()
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { endpoint, requests }
    }

    /// The requests forwarded since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// Whether `requests` hold a compose, or started an upload of an object under `prefix`.
fn composes(requests: &[String]) -> bool {
    requests.iter().any(|r| r.starts_with("POST ") && r.contains("/compose"))
}

fn uploads_under(requests: &[String], prefix: &str) -> bool {
    let escaped = prefix.replace('/', "%2F");
    requests.iter().any(|r| r.contains("uploadType=resumable") && r.contains(&format!("name={escaped}")))
}

/// A body of `bytes` in 1 KiB chunks announcing `announced` bytes, then `error` if any.
fn announced_body(bytes: &[u8], announced: u64, error: Option<BodyError>) -> ChunkStream {
    let chunks: Vec<Result<Bytes, BodyError>> =
        bytes.chunks(1024).map(|c| Ok(Bytes::copy_from_slice(c))).chain(error.map(Err)).collect();
    ChunkStream::new(futures_util::stream::iter(chunks), Some(announced))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_sent_in_one_request_is_written_straight_to_its_data_object() {
    let emulator = FakeGcs::start();
    let proxy = RecordingProxy::start(emulator.endpoint()).await;
    let storage = emulator.storage(BUCKET, |c| c.prefix("one/").endpoint(proxy.endpoint.clone())).await;
    let bytes = data(20 * 1024, 4);
    let length = bytes.len() as u64;

    let upload = id("one-request");
    storage.create(NewUpload::new(upload.clone()).with_length(Some(length))).await.unwrap();
    proxy.take();
    let mut body = announced_body(&bytes, length, None);
    let done = storage.append(&upload, 0, &mut body, AppendOptions::new()).await.unwrap();
    assert!(done.is_complete());
    let requests = proxy.take();
    assert!(!composes(&requests), "no compose: {requests:#?}");
    assert!(!uploads_under(&requests, "one/parts/"), "no part object: {requests:#?}");
    assert!(uploads_under(&requests, &format!("one/data/{upload}")), "{requests:#?}");
    assert!(objects_of(&emulator, "one/", "parts", &upload).await.is_empty());
    assert_eq!(objects_of(&emulator, "one/", "data", &upload).await, vec![(format!("one/data/{upload}"), length)]);
    assert_eq!(read_all(storage.read(&upload, 0..length).await.unwrap()).await, bytes);
    assert_eq!(read_all(storage.read(&upload, 5000..9000).await.unwrap()).await, &bytes[5000..9000]);

    // Checksummed too, and as a partial of a concatenation (whose data object is a source).
    let partial = id("one-request-partial");
    storage
        .create(NewUpload::new(partial.clone()).with_length(Some(length)).with_concat(Some(Concat::Partial)))
        .await
        .unwrap();
    let mut body = announced_body(&bytes, length, None);
    let partial_info = storage.append(&partial, 0, &mut body, AppendOptions::new().atomic(true)).await.unwrap();
    assert!(!composes(&proxy.take()));
    let final_id = id("one-request-final");
    storage
        .create(
            NewUpload::new(final_id.clone()).with_concat(Some(Concat::Final(vec![partial.clone(), upload.clone()]))),
        )
        .await
        .unwrap();
    let upload_info = storage.info(&upload).await.unwrap();
    storage.concatenate(&final_id, &[partial_info, upload_info]).await.unwrap();
    let expected = [bytes.clone(), bytes.clone()].concat();
    assert_eq!(read_all(storage.read(&final_id, 0..2 * length).await.unwrap()).await, expected);

    // Termination deletes the data object.
    storage.remove(&upload, Removal::Terminated).await.unwrap();
    assert!(objects_of(&emulator, "one/", "data", &upload).await.is_empty());

    // The same upload in two requests goes through parts and a compose (what the
    // assertions above would have caught), and so does every upload when the one-request
    // path is switched off.
    let split = id("two-requests");
    storage.create(NewUpload::new(split.clone()).with_length(Some(length))).await.unwrap();
    append(&storage, &split, 0, &bytes[..1000]).await;
    append(&storage, &split, 1000, &bytes[1000..]).await;
    assert!(composes(&proxy.take()));
    let parts_only = emulator.storage(BUCKET, |c| c.prefix("one/").whole_object_max_bytes(0)).await;
    let forced = id("forced-parts");
    parts_only.create(NewUpload::new(forced.clone()).with_length(Some(length))).await.unwrap();
    let mut body = announced_body(&bytes, length, None);
    parts_only.append(&forced, 0, &mut body, AppendOptions::new()).await.unwrap();
    assert_eq!(read_all(storage.read(&forced, 0..length).await.unwrap()).await, bytes);
    assert!(objects_of(&emulator, "one/", "parts", &forced).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_checksum_in_one_request_stores_nothing() {
    let emulator = FakeGcs::start();
    let storage = emulator.storage(BUCKET, |c| c.prefix("bad/")).await;
    let bytes = data(20 * 1024, 5);
    let length = bytes.len() as u64;
    let upload = id("one-request-bad-checksum");
    storage.create(NewUpload::new(upload.clone()).with_length(Some(length))).await.unwrap();

    let mut body = announced_body(&bytes, length, Some(BodyError::ChecksumMismatch));
    let after = storage.append(&upload, 0, &mut body, AppendOptions::new().atomic(true)).await.unwrap();
    assert_eq!(after.offset, 0);
    assert_eq!(storage.info(&upload).await.unwrap().offset, 0);
    assert!(objects_of(&emulator, "bad/", "data", &upload).await.is_empty(), "no data object");
    assert!(objects_of(&emulator, "bad/", "parts", &upload).await.is_empty(), "no part object");

    // The client sends it again, correctly.
    let mut body = announced_body(&bytes, length, None);
    assert!(storage.append(&upload, 0, &mut body, AppendOptions::new().atomic(true)).await.unwrap().is_complete());
    assert_eq!(read_all(storage.read(&upload, 0..length).await.unwrap()).await, bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_body_in_one_request_keeps_what_arrived_in_the_data_object_as_a_part() {
    let emulator = FakeGcs::start();
    let storage = emulator.storage(BUCKET, |c| c.prefix("cut/")).await;
    let bytes = data(20 * 1024, 6);
    let length = bytes.len() as u64;
    let upload = id("one-request-cut");
    storage.create(NewUpload::new(upload.clone()).with_length(Some(length))).await.unwrap();

    let arrived = 12 * 1024;
    let mut body = announced_body(&bytes[..arrived], length, Some(BodyError::Broken("connection reset".into())));
    let after = storage.append(&upload, 0, &mut body, AppendOptions::new()).await.unwrap();
    assert_eq!(after.offset, arrived as u64, "every byte that arrived is kept");
    assert_eq!(storage.info(&upload).await.unwrap().offset, arrived as u64);
    let data_object = format!("cut/data/{upload}");
    assert_eq!(
        objects_of(&emulator, "cut/", "data", &upload).await,
        vec![(data_object.clone(), arrived as u64)],
        "what arrived stays in the data object, as the first part"
    );
    assert!(objects_of(&emulator, "cut/", "parts", &upload).await.is_empty());
    assert_eq!(read_all(storage.read(&upload, 0..arrived as u64).await.unwrap()).await, &bytes[..arrived]);

    // Resumed in two more requests, it is finished by composing into the data object.
    append(&storage, &upload, arrived as u64, &bytes[arrived..arrived + 1000]).await;
    assert_eq!(objects_of(&emulator, "cut/", "parts", &upload).await.len(), 1);
    append(&storage, &upload, arrived as u64 + 1000, &bytes[arrived + 1000..]).await;
    assert_eq!(read_all(storage.read(&upload, 0..length).await.unwrap()).await, bytes);
    assert_eq!(objects_of(&emulator, "cut/", "data", &upload).await, vec![(data_object, length)]);
    assert!(objects_of(&emulator, "cut/", "parts", &upload).await.is_empty());

    // The same, as a partial that is concatenated before its own compose: the final
    // composes its parts (the partial's data object holds only what arrived).
    let partial = id("one-request-cut-partial");
    storage
        .create(NewUpload::new(partial.clone()).with_length(Some(length)).with_concat(Some(Concat::Partial)))
        .await
        .unwrap();
    let mut body = announced_body(&bytes[..arrived], length, Some(BodyError::Broken("reset".into())));
    storage.append(&partial, 0, &mut body, AppendOptions::new()).await.unwrap();
    let partial_info = append(&storage, &partial, arrived as u64, &bytes[arrived..]).await;
    let final_id = id("one-request-cut-final");
    storage.create(NewUpload::new(final_id.clone()).with_concat(Some(Concat::Final(vec![partial])))).await.unwrap();
    storage.concatenate(&final_id, &[partial_info]).await.unwrap();
    assert_eq!(read_all(storage.read(&final_id, 0..length).await.unwrap()).await, bytes);
}
