//! tus-js-client (Node build, tests/interop/js/run.mjs) against the real `tus` binary:
//! the scenarios of `tus_example_harness::interop::js`, shared with the example apps.
//! Every upload is downloaded again and compared with its source by SHA-256.

mod common;

tus_example_harness::interop_tests!(js, common::interop::serve());

/// tus-js-client sends a small file with its creation POST: `tus serve` (SQLite storage, sync
/// durability by default) keeps that upload in its database, with no data file, and serves it
/// back from there (the scenario downloads it and compares the bytes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_creation_with_upload_is_kept_in_the_database() {
    use tus_example_harness::interop::InteropServer as _;
    let served = common::interop::serve().await;
    let url = tus_example_harness::interop::js::small_creation_with_upload(&served.endpoint()).await;
    let id = url.rsplit('/').next().expect("an upload ID at the end of the URL");
    let data_file = served.storage_dir().join("data").join(id);
    assert!(!data_file.exists(), "a data file was made for {url}: {}", data_file.display());
    let db = rusqlite::Connection::open_with_flags(
        served.storage_dir().join("uploads.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("the server's database opens");
    let stored: i64 = db
        .query_row(
            "SELECT length(bytes) FROM inline_bytes JOIN uploads USING (bytes_id) WHERE uploads.id = ?1",
            [id],
            |row| row.get(0),
        )
        .expect("the upload's bytes are in the database");
    assert_eq!(stored, 16 * 1024 + 1);
}
