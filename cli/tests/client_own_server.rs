//! The tus client library (tus-rs-client) against our own server: the real `tus serve`
//! binary over real HTTP on 127.0.0.1. Every upload is downloaded again (GET) and compared
//! with its source by SHA-256.

mod common;
mod support;

use common::{KIB, MIB, TusServer, sha256, test_data};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Faults, Proxy, dead_port, write_file};
use tus_rs_client::{
    CancellationToken, ChecksumAlgorithm, Client, ClientBuilder, Error, JsonFileUrlStorage, MemoryUrlStorage, Metadata,
    Progress, RetryPolicy, Source, SqliteUrlStorage,
};

/// Requests and responses as the hooks saw them: `> METHOD headers…` and `< METHOD STATUS`.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn attach(&self, builder: ClientBuilder) -> ClientBuilder {
        let (before, after) = (self.clone(), self.clone());
        builder
            .before_request(move |r| {
                let mut line = format!("> {}", r.method);
                for name in [
                    "content-length",
                    "upload-offset",
                    "upload-length",
                    "upload-defer-length",
                    "upload-checksum",
                    "upload-concat",
                    "x-trace",
                    "tus-resumable",
                ] {
                    if let Some(v) = r.headers.get(name) {
                        line.push_str(&format!(" {name}={}", v.to_str().unwrap()));
                    }
                }
                before.0.lock().unwrap().push(line);
            })
            .after_response(move |r| after.0.lock().unwrap().push(format!("< {} {}", r.method, r.status.as_u16())))
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self, prefix: &str) -> usize {
        self.lines().iter().filter(|l| l.starts_with(prefix)).count()
    }
}

/// A client of `endpoint` with quick retries.
fn quick(endpoint: &str) -> ClientBuilder {
    Client::builder(endpoint).retry_policy(RetryPolicy::new(5).base_delay(Duration::from_millis(20)))
}

async fn assert_stored(server: &TusServer, url: &tus_rs_client::Url, data: &[u8]) {
    let stored = server.download(&server.path_of(url.as_str())).await;
    assert_eq!(stored.len(), data.len(), "{url}: stored length");
    assert_eq!(sha256(&stored), sha256(data), "{url}: stored bytes differ from the source");
}

fn last_progress() -> (Arc<Mutex<Vec<Progress>>>, impl Fn(&Progress) + Send + Sync + 'static) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |p: &Progress| sink.lock().unwrap().push(p.clone()))
}

#[tokio::test]
async fn uploads_a_file_in_chunks_with_creation_with_upload_and_custom_headers() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let data = test_data(3 * MIB + 5, 1);
    let file = write_file(work.path(), "a.bin", &data);
    let log = Log::default();
    let client = log.attach(quick(&server.url).chunk_size(MIB as u64).header("X-Trace", "abc")).build().unwrap();
    let (seen, on_progress) = last_progress();
    let uploaded =
        client.upload(Source::file(&file)).metadata("filename", "a.bin").on_progress(on_progress).await.unwrap();
    assert!(uploaded.is_complete());
    assert_eq!(uploaded.resumed_from, None);
    assert_stored(&server, &uploaded.url, &data).await;

    let lines = log.lines();
    assert!(lines[0].starts_with("> OPTIONS"), "{lines:#?}");
    let post = lines.iter().find(|l| l.starts_with("> POST")).unwrap();
    assert!(post.contains(&format!("content-length={MIB}")) && post.contains("upload-length=3145733"), "{post}");
    assert_eq!(log.count("> PATCH"), 3, "{lines:#?}");
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with('>'))
            .all(|l| l.contains("x-trace=abc") && l.contains("tus-resumable=1.0.0"))
    );

    let seen = seen.lock().unwrap().clone();
    // Reports after each confirmed chunk (the others come while a chunk is sent).
    let offsets: Vec<u64> =
        seen.iter().filter(|p| p.bytes_sent == p.bytes_uploaded).map(|p| p.bytes_uploaded).collect();
    assert_eq!(offsets, [MIB as u64, 2 * MIB as u64, 3 * MIB as u64, data.len() as u64]);
    let last = seen.last().unwrap();
    assert_eq!((last.total, last.chunks, last.percent()), (Some(data.len() as u64), 4, Some(100.0)));
    assert_eq!(last.eta(), Some(Duration::ZERO));
    assert!(last.speed() > 0.0);

    let info = client.upload_info(&uploaded.url).await.unwrap();
    assert!(info.is_complete());
    assert_eq!(info.metadata.get_str("filename"), Some("a.bin"));
}

/// One 6 MiB chunk: progress moves while its bytes are sent, before the server confirms
/// anything, for a PATCH and for the body of a creation-with-upload POST alike.
#[tokio::test]
async fn progress_moves_within_a_chunk() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let data = test_data(6 * MIB, 9);
    let file = write_file(work.path(), "big.bin", &data);
    let total = data.len() as u64;
    for (creation_with_upload, first) in [(true, None), (false, Some(1u64))] {
        let client = quick(&server.url).chunk_size(total).build().unwrap();
        let mut upload = client.upload(Source::file(&file));
        if let Some(first) = first {
            // A first 1-byte chunk, so that the big one goes by PATCH.
            upload = upload.chunk_size(first);
        }
        let (seen, on_progress) = last_progress();
        let mut uploader = upload.on_progress(on_progress).uploader().await.unwrap();
        uploader.upload_chunk().await.unwrap();
        uploader.set_chunk_size(total);
        uploader.upload().await.unwrap();
        assert!(uploader.is_complete());
        assert_stored(&server, uploader.url().unwrap(), &data).await;

        let seen = seen.lock().unwrap().clone();
        let base = first.unwrap_or(0);
        let in_flight: Vec<u64> = seen
            .iter()
            .filter(|p| p.bytes_uploaded == base && p.bytes_sent > base && p.bytes_sent < total)
            .map(|p| p.bytes_sent)
            .collect();
        assert!(in_flight.len() >= 4, "creation-with-upload {creation_with_upload}: {in_flight:?}");
        assert!(in_flight.windows(2).all(|w| w[0] < w[1]), "{in_flight:?}");
        assert!(seen.iter().all(|p| p.bytes_sent >= p.bytes_uploaded && p.percent().unwrap() <= 100.0));
        let last = seen.last().unwrap();
        assert_eq!((last.bytes_uploaded, last.bytes_sent), (total, total));
    }
}

#[tokio::test]
async fn every_checksum_algorithm_is_sent_and_verified() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let data = test_data(300 * KIB, 2);
    for algorithm in ChecksumAlgorithm::ALL {
        let log = Log::default();
        let client = log.attach(quick(&server.url).chunk_size(128 * KIB as u64).checksum(algorithm)).build().unwrap();
        let uploaded = client.upload(data.clone()).await.unwrap();
        assert_stored(&server, &uploaded.url, &data).await;
        let with_body: Vec<_> =
            log.lines().into_iter().filter(|l| l.starts_with("> PATCH") || l.starts_with("> POST")).collect();
        assert_eq!(with_body.len(), 3, "{with_body:#?}");
        assert!(with_body.iter().all(|l| l.contains(&format!("upload-checksum={algorithm} "))), "{with_body:#?}");
    }
}

#[tokio::test]
async fn bytes_empty_files_and_small_files() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let client = quick(&server.url).build().unwrap();
    let empty = write_file(work.path(), "empty", b"");
    let uploaded = client.upload(Source::file(&empty)).await.unwrap();
    assert!(uploaded.is_complete());
    assert_eq!(uploaded.length, Some(0));
    assert_stored(&server, &uploaded.url, b"").await;
    let uploaded = client.upload(b"hello tus".to_vec()).await.unwrap();
    assert_stored(&server, &uploaded.url, b"hello tus").await;
}

#[tokio::test]
async fn streams_of_unknown_length_defer_their_length() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    for (len, seed) in [(2 * MIB + MIB / 2, 3), (2 * MIB, 4), (100 * KIB, 5), (0, 6)] {
        let data = test_data(len, seed);
        let log = Log::default();
        let client = log.attach(quick(&server.url).chunk_size(MIB as u64)).build().unwrap();
        let uploaded = client.upload(Source::reader(std::io::Cursor::new(data.clone()))).await.unwrap();
        assert!(uploaded.is_complete(), "{len}");
        assert_stored(&server, &uploaded.url, &data).await;
        let lines = log.lines();
        let post = lines.iter().find(|l| l.starts_with("> POST")).unwrap();
        if len > MIB {
            // The length is not known at creation: deferred, then given by the last PATCH.
            assert!(post.contains("upload-defer-length=1") && !post.contains("upload-length="), "{post}");
            let last_patch = lines.iter().rev().find(|l| l.starts_with("> PATCH")).unwrap();
            assert!(last_patch.contains(&format!("upload-length={len}")), "{lines:#?}");
            assert_eq!(log.count("> PATCH"), len.div_ceil(MIB) - 1, "{lines:#?}");
        } else {
            // The stream ended within the first chunk: its length is known at once.
            assert!(post.contains(&format!("upload-length={len}")), "{post}");
        }
    }
    // A known length given with the stream.
    let data = test_data(3 * MIB / 2, 7);
    let client = quick(&server.url).chunk_size(MIB as u64).build().unwrap();
    let source = Source::reader_with_length(std::io::Cursor::new(data.clone()), data.len() as u64);
    let uploaded = client.upload(source).await.unwrap();
    assert_stored(&server, &uploaded.url, &data).await;
}

#[tokio::test]
async fn stop_at_then_resume_from_the_url() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let data = test_data(2 * MIB + 11, 8);
    let file = write_file(work.path(), "s.bin", &data);
    let client = quick(&server.url).chunk_size(512 * KIB as u64).build().unwrap();
    let stop = MIB as u64 + 3;
    let first = client.upload(Source::file(&file)).stop_at(stop).await.unwrap();
    assert!(!first.is_complete());
    assert_eq!(first.offset, stop, "the last chunk is shortened to stop exactly there");
    let info = client.upload_info(first.url.as_str()).await.unwrap();
    assert_eq!((info.offset, info.length), (stop, Some(data.len() as u64)));

    let (seen, on_progress) = last_progress();
    let second = client.resume_upload(first.url.as_str(), Source::file(&file)).on_progress(on_progress).await.unwrap();
    assert_eq!(second.url, first.url);
    assert_eq!(second.resumed_from, Some(stop));
    assert!(second.is_complete());
    assert_eq!(seen.lock().unwrap().last().unwrap().started_at, stop);
    assert_stored(&server, &second.url, &data).await;

    // A stream resumes too: the bytes the server has are skipped.
    let third = client.upload(data.clone()).stop_at(700 * KIB as u64).await.unwrap();
    let stream = Source::reader(std::io::Cursor::new(data.clone()));
    let resumed = client.resume_upload(third.url.as_str(), stream).await.unwrap();
    assert_eq!(resumed.resumed_from, Some(700 * KIB as u64));
    assert_stored(&server, &resumed.url, &data).await;

    // Resuming with other data is refused, not silently mixed.
    let fourth = client.upload(data.clone()).stop_at(10).await.unwrap();
    let err = client.resume_upload(fourth.url.as_str(), vec![0u8; 5]).await.unwrap_err();
    assert!(matches!(err, Error::SourceMismatch(_)), "{err}");
}

#[tokio::test]
async fn cross_session_resume_through_url_storages() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let data = test_data(MIB + 77, 9);
    let file = write_file(work.path(), "c.bin", &data);
    let json = work.path().join("cache/urls.json");
    let sqlite = work.path().join("cache/urls.sqlite3");
    let memory: Arc<dyn tus_rs_client::UrlStorage> = Arc::new(MemoryUrlStorage::new());
    for kind in ["json", "sqlite", "memory"] {
        // Each "session" is a new client over the same storage.
        let session = || {
            let builder = quick(&server.url).chunk_size(256 * KIB as u64);
            match kind {
                "json" => builder.url_storage(JsonFileUrlStorage::new(&json)),
                "sqlite" => builder.url_storage(SqliteUrlStorage::open(&sqlite).unwrap()),
                _ => builder.shared_url_storage(memory.clone()),
            }
            .build()
            .unwrap()
        };
        let first = session().upload(Source::file(&file)).stop_at(300 * KIB as u64).await.unwrap();
        let previous = session().find_previous_uploads(&file).unwrap();
        assert_eq!(previous.len(), 1, "{kind}");
        assert_eq!(previous[0].upload.upload_url.as_deref(), Some(first.url.as_str()), "{kind}");

        let second = session().upload(Source::file(&file)).await.unwrap();
        assert_eq!(second.url, first.url, "{kind}: the same upload goes on");
        assert_eq!(second.resumed_from, Some(300 * KIB as u64), "{kind}");
        assert_stored(&server, &second.url, &data).await;
        assert!(session().find_previous_uploads(&file).unwrap().is_empty(), "{kind}: forgotten once complete");

        // Complete: the next upload of the file is a new one.
        let third = session().upload(Source::file(&file)).await.unwrap();
        assert_ne!(third.url, first.url, "{kind}");
        assert_eq!(third.resumed_from, None, "{kind}");

        // A stored upload the server no longer has is forgotten and a new one made.
        let fourth = session().upload(Source::file(&file)).stop_at(10).await.unwrap();
        session().delete_upload(fourth.url.as_str()).await.unwrap();
        let fifth = session().upload(Source::file(&file)).await.unwrap();
        assert_ne!(fifth.url, fourth.url, "{kind}");
        assert_stored(&server, &fifth.url, &data).await;

        // resume(false) neither looks nor stores.
        session().upload(Source::file(&file)).stop_at(10).resume(false).await.unwrap();
        assert!(session().find_previous_uploads(&file).unwrap().is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn parallel_upload_of_four_parts() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let data = test_data(5 * MIB + 3, 10);
    let file = write_file(work.path(), "p.bin", &data);
    let log = Log::default();
    let client =
        log.attach(quick(&server.url).chunk_size(512 * KIB as u64).checksum(ChecksumAlgorithm::Sha1)).build().unwrap();
    let (seen, on_progress) = last_progress();
    let uploaded = client
        .upload(Source::file(&file))
        .parallel(4)
        .metadata("filename", "p.bin")
        .on_progress(on_progress)
        .await
        .unwrap();
    assert!(uploaded.is_complete());
    assert_eq!(uploaded.partial_urls.len(), 4);
    assert_stored(&server, &uploaded.url, &data).await;
    let info = client.upload_info(uploaded.url.as_str()).await.unwrap();
    assert!(info.concat.as_deref().is_some_and(|c| c.starts_with("final;")), "{info:?}");
    assert_eq!(info.metadata.get_str("filename"), Some("p.bin"));
    let mut total = 0;
    for url in &uploaded.partial_urls {
        let part = client.upload_info(url.as_str()).await.unwrap();
        assert_eq!(part.concat.as_deref(), Some("partial"));
        assert!(part.is_complete());
        total += part.length.unwrap();
    }
    assert_eq!(total, data.len() as u64);
    assert_eq!(log.count("> POST"), 5, "four partials and the final");
    assert!(log.lines().iter().any(|l| l.contains("upload-concat=final;")));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last().unwrap().bytes_uploaded, data.len() as u64);
    assert!(seen.windows(2).all(|w| w[0].bytes_uploaded <= w[1].bytes_uploaded), "the sum only grows");

    // Bytes in memory can be split too.
    let uploaded = client.upload(data.clone()).parallel(3).await.unwrap();
    assert_stored(&server, &uploaded.url, &data).await;
}

#[tokio::test]
async fn parallel_uploads_refuse_streams_and_stop_at_clearly() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let client = quick(&server.url).build().unwrap();
    let err = client.upload(Source::reader(std::io::Cursor::new(vec![1u8; 10]))).parallel(2).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)) && err.to_string().contains("stream"), "{err}");
    let err = client.upload(vec![1u8; 10]).parallel(2).stop_at(5).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)) && err.to_string().contains("stop_at"), "{err}");
}

#[tokio::test]
async fn partial_and_final_upload_primitives() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let client = quick(&server.url).chunk_size(64 * KIB as u64).build().unwrap();
    let a = test_data(100 * KIB, 11);
    let b = test_data(50 * KIB + 1, 12);
    let url_a = client.create_partial_upload(a.clone(), Metadata::new()).await.unwrap();
    let url_b = client.create_partial_upload(b.clone(), Metadata::new()).await.unwrap();
    let metadata: Metadata = [("filename", "merged.bin")].into_iter().collect();
    let merged = client.create_final_upload(&[url_a, url_b], metadata).await.unwrap();
    let info = client.upload_info(merged.as_str()).await.unwrap();
    assert!(info.is_complete());
    assert_eq!(info.metadata.get_str("filename"), Some("merged.bin"));
    let whole: Vec<u8> = a.iter().chain(&b).copied().collect();
    assert_stored(&server, &merged, &whole).await;
}

#[tokio::test]
async fn deferred_upload_info_and_delete() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let log = Log::default();
    let client = log.attach(quick(&server.url)).build().unwrap();
    let metadata: Metadata = [("filename", "résumé 🚀.txt"), ("empty", "")].into_iter().collect();
    let url = client.create_deferred_upload(metadata.clone()).await.unwrap();
    let info = client.upload_info(url.as_str()).await.unwrap();
    assert_eq!((info.offset, info.length, info.is_complete()), (0, None, false));
    assert_eq!(info.metadata, metadata);
    client.delete_upload(url.as_str()).await.unwrap();
    let heads = log.count("> HEAD");
    let err = client.upload_info(url.as_str()).await.unwrap_err();
    assert!(err.is_not_found() && !err.is_retryable(), "{err}");
    assert_eq!(log.count("> HEAD"), heads + 1, "a 404/410 is not retried");
}

#[tokio::test]
async fn server_info_and_limits() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &["--max-size", "1000"]);
    let client = quick(&server.url).build().unwrap();
    let info = client.server_info().await.unwrap();
    assert!(info.versions.iter().any(|v| v == "1.0.0"), "{info:?}");
    for extension in
        ["creation", "creation-with-upload", "creation-defer-length", "termination", "concatenation", "checksum"]
    {
        assert!(info.supports(extension), "{extension}: {info:?}");
    }
    assert!(ChecksumAlgorithm::ALL.into_iter().all(|a| info.supports_checksum(a)), "{info:?}");
    assert_eq!(info.max_size, Some(1000));
    let err = client.upload(vec![0u8; 2000]).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)) && err.to_string().contains("1000"), "{err}");
}

#[tokio::test]
async fn other_4xx_are_fatal_at_once_with_the_servers_message() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let log = Log::default();
    let client = log.attach(quick(&server.url)).build().unwrap();
    let missing = format!("{}/0123456789abcdef", server.url);
    let err = client.resume_upload(&missing, vec![1u8; 10]).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404), "{err}");
    assert_eq!(log.count("> HEAD"), 1, "{:#?}", log.lines());

    // The server's message travels in the error.
    let storage = tempfile::tempdir().unwrap();
    let picky = TusServer::start(storage.path(), &[]);
    let client = quick(&picky.url).build().unwrap();
    let url = client.upload(vec![1u8; 10]).stop_at(5).await.unwrap().url;
    let raw = picky.patch(&picky.path_of(url.as_str()), 5, vec![1u8; 10]).await;
    assert_eq!(raw.status, 413, "{raw:?}"); // more than the upload's length: refused
    let err = client.resume_upload(url.as_str(), vec![2u8; 10]).await;
    assert!(err.is_ok(), "resuming with the right length works: {err:?}");
    let err = client.upload(vec![1u8; 10]).metadata("bad key", "x").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let wrong = Client::builder(format!("http://{}/nope", picky.addr)).max_retries(5).build().unwrap();
    let err = wrong.upload(vec![1u8; 10]).await.unwrap_err();
    assert!(matches!(err, Error::Status { .. }) && !err.is_retryable(), "{err}");
    assert!(!err.to_string().contains('\n'), "one line: {err}");
}

#[tokio::test]
async fn uploader_chunk_by_chunk() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let data = test_data(MIB, 13);
    let client = quick(&server.url).build().unwrap();
    let mut uploader = client.upload(data.clone()).chunk_size(256 * KIB as u64).uploader().await.unwrap();
    assert!(uploader.url().is_none() && !uploader.is_complete());
    let mut offsets = Vec::new();
    while uploader.upload_chunk().await.unwrap() {
        offsets.push(uploader.offset());
    }
    offsets.push(uploader.offset());
    assert_eq!(offsets, [256 * KIB as u64, 512 * KIB as u64, 768 * KIB as u64, MIB as u64]);
    assert!(uploader.is_complete());
    assert!(!uploader.upload_chunk().await.unwrap(), "nothing left");
    assert_stored(&server, uploader.url().unwrap(), &data).await;

    // Created first, then sent, with a stop offset moved along the way.
    let mut uploader = client.upload(data.clone()).chunk_size(100 * KIB as u64).uploader().await.unwrap();
    let url = uploader.create().await.unwrap();
    assert_eq!(uploader.offset(), 0);
    uploader.set_stop_at(Some(150 * KIB as u64));
    uploader.upload().await.unwrap();
    assert_eq!(uploader.offset(), 150 * KIB as u64);
    uploader.set_stop_at(None);
    uploader.upload().await.unwrap();
    assert_stored(&server, &url, &data).await;
}

#[tokio::test]
async fn a_409_conflict_asks_the_server_for_its_offset_and_goes_on() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let data = test_data(MIB, 14);
    let log = Log::default();
    let client = log.attach(quick(&server.url)).build().unwrap();
    let mut uploader = client.upload(data.clone()).chunk_size(256 * KIB as u64).uploader().await.unwrap();
    assert!(uploader.upload_chunk().await.unwrap());
    let url = uploader.url().unwrap().clone();
    // Someone else sends the next chunk behind the uploader's back.
    let path = server.path_of(url.as_str());
    let raw = server.patch(&path, 256 * KIB as u64, data[256 * KIB..512 * KIB].to_vec()).await;
    assert_eq!(raw.status, 204, "{raw:?}");
    uploader.upload().await.unwrap();
    let lines = log.lines();
    let conflict = lines.iter().position(|l| l == "< PATCH 409").unwrap_or_else(|| panic!("no 409: {lines:#?}"));
    assert!(lines[conflict + 1].starts_with("> HEAD"), "{lines:#?}");
    assert_eq!(lines[conflict + 2], "< HEAD 200", "{lines:#?}");
    assert!(lines[conflict + 3].contains("upload-offset=524288"), "went on from the server's offset: {lines:#?}");
    assert!(uploader.progress().retries >= 1);
    assert_stored(&server, &url, &data).await;
}

#[tokio::test]
async fn cancellation_stops_a_retry_wait() {
    let client = Client::builder(format!("http://127.0.0.1:{}/files", dead_port()))
        .retry_policy(RetryPolicy::new(5).base_delay(Duration::from_secs(30)))
        .build()
        .unwrap();
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let err = client.upload(vec![1u8; 10]).cancel_token(token).await.unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn cancellation_stops_a_chunk_in_flight_and_the_upload_resumes() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let proxy = Proxy::start(server.addr, Faults::throttled(2 * MIB as u64)).await;
    let data = test_data(6 * MIB, 15);
    let client = quick(&proxy.url(&server.base_path)).chunk_size(MIB as u64).build().unwrap();
    let token = CancellationToken::new();
    let cancel = token.clone();
    let cancelled_at = Arc::new(Mutex::new(None));
    let when = cancelled_at.clone();
    let err = client
        .upload(data.clone())
        .cancel_token(token)
        .on_progress(move |p| {
            if p.bytes_uploaded >= 2 * MIB as u64 && !cancel.is_cancelled() {
                // Cancel while the next chunk is on its way (it takes ~0.5 s).
                let cancel = cancel.clone();
                let when = when.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    *when.lock().unwrap() = Some(Instant::now());
                    cancel.cancel();
                });
            }
        })
        .await
        .unwrap_err();
    let stopped = cancelled_at.lock().unwrap().expect("cancelled").elapsed();
    assert!(stopped < Duration::from_millis(300), "the chunk in flight was not stopped at once ({stopped:?})");
    let Error::Cancelled { url: Some(url), offset } = err else { panic!("{err}") };
    assert!((2 * MIB as u64..data.len() as u64).contains(&offset), "{offset}");
    // The server kept what arrived of the cut chunk; the upload goes on from there.
    let direct = quick(&server.url).build().unwrap();
    let resumed = direct.resume_upload(url.as_str(), data.clone()).await.unwrap();
    assert!(resumed.resumed_from.unwrap() >= offset);
    assert_stored(&server, &resumed.url, &data).await;
}

#[tokio::test]
async fn request_timeouts_and_should_retry() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let proxy = Proxy::start(server.addr, Faults::throttled(200 * KIB as u64)).await;
    let client = Client::builder(proxy.url(&server.base_path))
        .timeout(Duration::from_millis(500))
        .max_retries(0)
        .chunk_size(MIB as u64)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.upload(vec![7u8; MIB]).await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }) && err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // should_retry sees each retryable error with its number and may stop the retries.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let client = Client::builder(format!("http://127.0.0.1:{}/files", dead_port()))
        .retry_policy(RetryPolicy::new(10).base_delay(Duration::from_millis(5)))
        .should_retry(move |err, attempt| {
            seen.lock().unwrap().push((matches!(err, Error::Network { .. }), attempt));
            attempt < 3
        })
        .build()
        .unwrap();
    let err = client.server_info().await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err}");
    assert_eq!(*calls.lock().unwrap(), [(true, 1), (true, 2), (true, 3)]);
}

#[tokio::test]
async fn kill_the_server_mid_upload_then_restart_it_and_the_upload_resumes() {
    let storage = tempfile::tempdir().unwrap();
    let first = TusServer::start(storage.path(), &[]);
    let (url, addr) = (first.url.clone(), first.addr);
    let slot = Arc::new(Mutex::new(Some(first)));
    let data = test_data(8 * MIB, 16);
    let killed_at = Arc::new(AtomicU64::new(0));
    let client = Client::builder(&url)
        .chunk_size(256 * KIB as u64)
        .retry_policy(RetryPolicy::new(30).base_delay(Duration::from_millis(50)).max_delay(Duration::from_millis(400)))
        .build()
        .unwrap();
    let (slot2, killed) = (slot.clone(), killed_at.clone());
    let dir = storage.path().to_owned();
    let uploaded = client
        .upload(data.clone())
        .on_progress(move |p| {
            if p.bytes_uploaded >= 3 * MIB as u64 && killed.load(Ordering::SeqCst) == 0 {
                killed.store(p.bytes_uploaded, Ordering::SeqCst);
                let mut server = slot2.lock().unwrap().take().expect("running");
                server.kill9();
                drop(server);
                // Back on the same port and directory a moment later.
                let (slot, dir) = (slot2.clone(), dir.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(700));
                    *slot.lock().unwrap() = Some(restart(&dir, addr.port()));
                });
            }
        })
        .await
        .unwrap();
    assert!(killed_at.load(Ordering::SeqCst) > 0, "the server was never killed");
    assert!(uploaded.progress.retries > 0, "the upload never noticed the restart");
    let server = slot.lock().unwrap().take().expect("restarted");
    assert_stored(&server, &uploaded.url, &data).await;
}

fn restart(dir: &Path, port: u16) -> TusServer {
    let mut command = std::process::Command::new(common::tus_bin());
    command.args(["serve", "--port", &port.to_string(), "--dir"]).arg(dir);
    TusServer::spawn(command, dir).expect("restart on the same port")
}

#[tokio::test]
async fn a_flaky_proxy_cutting_connections_does_not_stop_the_upload() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let faults = Faults {
        seed: 7,
        cut_percent: 45,
        cut_after: (8 * KIB as u64, 1536 * KIB as u64),
        max_cuts: 8,
        throttle: None,
    };
    let proxy = Proxy::start(server.addr, faults).await;
    let work = tempfile::tempdir().unwrap();
    let data = test_data(12 * MIB + 9, 17);
    let file = write_file(work.path(), "f.bin", &data);
    let client = quick(&proxy.url(&server.base_path))
        .chunk_size(MIB as u64)
        .checksum(ChecksumAlgorithm::Sha256)
        .retry_policy(RetryPolicy::new(12).base_delay(Duration::from_millis(10)).max_delay(Duration::from_millis(200)))
        .build()
        .unwrap();
    let uploaded = client.upload(Source::file(&file)).await.unwrap();
    assert!(proxy.cuts() >= 3, "the proxy cut only {} connections", proxy.cuts());
    assert!(uploaded.progress.retries >= 1);
    assert_stored(&server, &uploaded.url, &data).await;

    // A parallel upload through another flaky proxy.
    let faults = Faults {
        seed: 11,
        cut_percent: 40,
        cut_after: (4 * KIB as u64, 700 * KIB as u64),
        max_cuts: 6,
        throttle: None,
    };
    let proxy = Proxy::start(server.addr, faults).await;
    let client = quick(&proxy.url(&server.base_path))
        .chunk_size(512 * KIB as u64)
        .retry_policy(RetryPolicy::new(12).base_delay(Duration::from_millis(10)).max_delay(Duration::from_millis(200)))
        .build()
        .unwrap();
    let uploaded = client.upload(Source::file(&file)).parallel(3).await.unwrap();
    assert!(proxy.cuts() >= 2, "the proxy cut only {} connections", proxy.cuts());
    assert_stored(&server, &uploaded.url, &data).await;
}

#[test]
fn the_blocking_client_works_from_sync_code() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let data = test_data(700 * KIB, 18);
    let file = write_file(work.path(), "b.bin", &data);
    let client = Client::builder(&server.url).chunk_size(256 * KIB as u64).build_blocking().unwrap();
    assert!(client.server_info().unwrap().supports("termination"));
    let uploaded = client.upload(Source::file(&file)).metadata("filename", "b.bin").send().unwrap();
    assert!(uploaded.is_complete());
    let mut uploader = client.upload(data.clone()).chunk_size(300 * KIB as u64).uploader().unwrap();
    let mut chunks = 0;
    while uploader.upload_chunk().unwrap() {
        chunks += 1;
    }
    assert_eq!(chunks, 2);
    let second = uploader.url().unwrap().clone();
    let parallel = client.upload(Source::file(&file)).parallel(2).send().unwrap();
    let info = client.upload_info(uploaded.url.as_str()).unwrap();
    assert_eq!(info.metadata.get_str("filename"), Some("b.bin"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        assert_stored(&server, &uploaded.url, &data).await;
        assert_stored(&server, &second, &data).await;
        assert_stored(&server, &parallel.url, &data).await;
    });
    client.delete_upload(second.as_str()).unwrap();
    assert!(client.upload_info(second.as_str()).unwrap_err().is_not_found());
}

#[tokio::test]
async fn an_interrupted_parallel_upload_resumes_its_parts() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let proxy = Proxy::start(server.addr, Faults::throttled(4 * MIB as u64)).await;
    let work = tempfile::tempdir().unwrap();
    let data = test_data(3 * MIB + 2, 19);
    let file = write_file(work.path(), "pp.bin", &data);
    let urls: Arc<dyn tus_rs_client::UrlStorage> = Arc::new(MemoryUrlStorage::new());
    let session =
        |endpoint: &str| quick(endpoint).chunk_size(256 * KIB as u64).shared_url_storage(urls.clone()).build().unwrap();
    let token = CancellationToken::new();
    let cancel = token.clone();
    let err = session(&proxy.url(&server.base_path))
        .upload(Source::file(&file))
        .parallel(3)
        .cancel_token(token)
        .on_progress(move |p| {
            if p.bytes_uploaded >= MIB as u64 {
                cancel.cancel();
            }
        })
        .await
        .unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    let previous = session(&server.url).find_previous_uploads(&file).unwrap();
    assert_eq!(previous.len(), 1);
    assert_eq!(previous[0].upload.partial_urls.len(), 3, "{previous:?}");

    // A new session without `.parallel()` goes on with the stored parts.
    let endpoint = proxy.url(&server.base_path);
    let uploaded = session(&endpoint).upload(Source::file(&file)).await.unwrap();
    let resumed = uploaded.resumed_from.expect("resumed");
    assert!(resumed >= MIB as u64 && resumed < data.len() as u64, "{resumed}");
    let stored: Vec<String> = previous[0].upload.partial_urls.clone();
    let parts: Vec<String> = uploaded.partial_urls.iter().map(ToString::to_string).collect();
    assert_eq!(parts, stored, "the same partial uploads were finished");
    assert_stored(&server, &uploaded.url, &data).await;
    assert!(session(&endpoint).find_previous_uploads(&file).unwrap().is_empty());
}
