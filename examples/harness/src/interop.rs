//! Real tus clients against a running server: tus-js-client (its Node build, driven by
//! `tests/interop/js/run.mjs`) and tuspy (`tests/interop/py/run.py`, in the venv made by
//! `scripts/install-test-deps.sh`). Each scenario uploads a generated file with the client,
//! then downloads the upload again over HTTP and compares it with the file by SHA-256.
//!
//! The same scenarios run against the `tus` binary (`cli/tests/interop_*.rs`) and against
//! each example app (`examples/*-app/tests/interop.rs`): a server is anything that names an
//! [`Endpoint`] ([`InteropServer`]). When the endpoint has a bearer token, the drivers get
//! it in `TUS_BEARER_TOKEN` and send it as `Authorization: Bearer …` on every request, and
//! the checks here send it too.
//!
//! [`interop_tests!`](crate::interop_tests) makes one test per scenario.

use crate::client::Client;
use crate::data::Pattern;
use crate::server::Server;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one client script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh from the repository root to install the interop clients";

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// A tus endpoint to upload to: its URL (e.g. `http://127.0.0.1:PORT/files`) and the bearer
/// token the server wants, if any.
#[derive(Debug, Clone)]
pub struct Endpoint {
    url: String,
    addr: SocketAddr,
    token: Option<String>,
}

impl Endpoint {
    /// The endpoint at `url` (`http://HOST:PORT/PATH`, with an IP address as host).
    ///
    /// # Panics
    /// When `url` is not of that form.
    pub fn new(url: &str, token: Option<&str>) -> Self {
        let url = url.trim_end_matches('/').to_owned();
        let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("not an http:// URL: {url}"));
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        let addr = authority.parse().unwrap_or_else(|e| panic!("no IP address and port in {url}: {e}"));
        Self { url, addr, token: token.map(str::to_owned) }
    }

    /// The endpoint URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bearer token sent with every request, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A client of the server, sending the token.
    pub fn client(&self) -> Client {
        Client::new(self.addr, self.token.clone())
    }
}

/// A running server the interop scenarios can upload to.
pub trait InteropServer {
    /// Where uploads are created, and the token to send.
    fn endpoint(&self) -> Endpoint;
}

impl InteropServer for Server {
    /// `http://ADDR/files`, with the token the app was started with.
    fn endpoint(&self) -> Endpoint {
        Endpoint::new(&format!("http://{}/files", self.addr()), self.token())
    }
}

/// The repository root (the workspace).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A third-party client that runs the scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// tus-js-client, `node tests/interop/js/run.mjs`.
    Js,
    /// tuspy, `tests/interop/py/.venv/bin/python tests/interop/py/run.py`.
    Py,
}

impl Driver {
    /// The program, its script and the directory it runs in, checked to be installed.
    fn command(self) -> (PathBuf, &'static str, PathBuf) {
        match self {
            Self::Js => {
                let dir = repo_root().join("tests/interop/js");
                let installed = dir.join("node_modules/tus-js-client/package.json");
                assert!(installed.is_file(), "tus-js-client is not installed in {}: {INSTALL_HINT}", dir.display());
                let node = std::process::Command::new("node").arg("--version").output();
                assert!(
                    node.as_ref().is_ok_and(|o| o.status.success()),
                    "`node` is not on PATH ({node:?}); install Node.js 18+ and {INSTALL_HINT}"
                );
                (PathBuf::from("node"), "run.mjs", dir)
            }
            Self::Py => {
                let dir = repo_root().join("tests/interop/py");
                let python = dir.join(".venv/bin/python");
                assert!(python.is_file(), "no Python venv at {}: {INSTALL_HINT}", python.display());
                let import = std::process::Command::new(&python).args(["-c", "import tusclient"]).output();
                assert!(
                    import.as_ref().is_ok_and(|o| o.status.success()),
                    "tuspy cannot be imported by {} ({import:?}): {INSTALL_HINT}",
                    python.display()
                );
                (python, "run.py", dir)
            }
        }
    }
}

/// What a client script reported on its `RESULT` line.
#[derive(Debug)]
pub struct ScriptResult {
    /// The `RESULT` line's JSON.
    pub json: serde_json::Value,
    /// The upload URL it reported.
    pub url: String,
}

impl ScriptResult {
    /// A numeric field of the JSON, if present.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.json.get(key)?.as_u64()
    }

    /// A string field of the JSON, if present.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.json.get(key)?.as_str()
    }
}

/// A generated file to upload, in its own temporary directory (also the script's work
/// directory), with the digest of its bytes.
#[derive(Debug)]
pub struct DataFile {
    dir: tempfile::TempDir,
    path: PathBuf,
    pattern: Pattern,
}

impl DataFile {
    /// A file of `len` bytes derived from `seed`, written chunk by chunk.
    pub fn new(len: u64, seed: u64) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(format!("upload-{seed}.bin"));
        let pattern = Pattern::new(len, seed);
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create the data file"));
        for chunk in pattern.chunks(0..len) {
            file.write_all(&chunk).expect("write the data file");
        }
        file.flush().expect("flush the data file");
        Self { dir, path, pattern }
    }

    /// Its length.
    pub fn len(&self) -> u64 {
        self.pattern.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.pattern.is_empty()
    }

    /// The hex SHA-256 of its bytes.
    pub fn sha256(&self) -> String {
        self.pattern.sha256()
    }
}

/// Runs `driver`'s `scenario` on `file` against `endpoint` and parses its `RESULT` line;
/// panics with the script's output when it fails or runs for more than 5 minutes.
pub async fn run_script(driver: Driver, scenario: &str, endpoint: &Endpoint, file: &DataFile) -> ScriptResult {
    let (program, script, cwd) = driver.command();
    let mut command = tokio::process::Command::new(&program);
    command
        .arg(script)
        .arg(scenario)
        .arg(endpoint.url())
        .arg(&file.path)
        .arg(file.dir.path())
        .current_dir(cwd)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    match endpoint.token() {
        Some(token) => command.env("TUS_BEARER_TOKEN", token),
        None => command.env_remove("TUS_BEARER_TOKEN"),
    };
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{scenario}: the client script ran for more than {SCRIPT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{scenario}: cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{scenario}: the client failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("{scenario}: no RESULT line:\n{stdout}\n{stderr}"));
    let json: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{scenario}: RESULT is not JSON ({e}): {line}"));
    let url = json["url"].as_str().unwrap_or_else(|| panic!("{scenario}: no url in {json}")).to_owned();
    assert!(url.starts_with(endpoint.url()), "{scenario}: URL {url} is not under {}", endpoint.url());
    ScriptResult { json, url }
}

/// The path of an upload URL: `http://h/files/ID` and `/files/ID` both give `/files/ID`.
pub fn upload_path(location: &str) -> &str {
    match location.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => location,
    }
}

/// Downloads the upload at `url` and checks its length and SHA-256 against `file`.
pub async fn assert_stored(endpoint: &Endpoint, url: &str, file: &DataFile) {
    let download = endpoint.client().download(upload_path(url)).await;
    assert_eq!(download.status, 200, "GET {url}: {download:?}");
    assert_eq!(download.len, file.len(), "{url}: stored length");
    assert_eq!(download.sha256, file.sha256(), "{url}: stored bytes differ from the source");
}

/// Checks that the upload at `url` is gone (404 or 410).
pub async fn assert_gone(endpoint: &Endpoint, url: &str) {
    let head = endpoint.client().head(upload_path(url)).await;
    assert!(matches!(head.status, 404 | 410), "{url}: expected 404/410 after termination, got {head:?}");
}

/// The upload's offset, from HEAD.
pub async fn offset(endpoint: &Endpoint, url: &str) -> u64 {
    let head = endpoint.client().head(upload_path(url)).await;
    head.expect(200, "HEAD");
    head.offset().unwrap_or_else(|| panic!("no Upload-Offset: {head:?}"))
}

/// The metadata the `metadata` scenarios send.
pub fn expected_metadata() -> BTreeMap<String, Vec<u8>> {
    [
        ("filename", "résumé 履歴書 🚀.txt"),
        ("filetype", "text/plain"),
        ("empty", ""),
        ("note", "ünïcödé, with comma and spaces"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
    .collect()
}

/// Checks the stored metadata (HEAD's `Upload-Metadata`) and the download headers.
pub async fn assert_metadata(endpoint: &Endpoint, url: &str) {
    let client = endpoint.client();
    let path = upload_path(url);
    let head = client.head(path).await;
    head.expect(200, "HEAD");
    let header = head.header("upload-metadata").expect("Upload-Metadata on HEAD");
    let mut stored = BTreeMap::new();
    for pair in header.split(',') {
        let mut parts = pair.trim().splitn(2, ' ');
        let key = parts.next().unwrap_or_default().to_owned();
        let value = parts.next().unwrap_or("").trim();
        let value = base64::engine::general_purpose::STANDARD.decode(value).expect("base64 value");
        assert!(stored.insert(key.clone(), value).is_none(), "{key} twice in {header}");
    }
    assert_eq!(stored, expected_metadata(), "Upload-Metadata: {header}");

    let get = client.get(path).await;
    get.expect(200, "GET");
    assert_eq!(get.header("content-type"), Some("text/plain"));
    let disposition = get.header("content-disposition").expect("Content-Disposition");
    assert!(
        disposition.starts_with("inline;")
            && disposition
                .contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20%E5%B1%A5%E6%AD%B4%E6%9B%B8%20%F0%9F%9A%80.txt"),
        "Content-Disposition: {disposition}"
    );
}

/// Runs one scenario of `driver` on a fresh `len`-byte file.
async fn run(driver: Driver, scenario: &str, endpoint: &Endpoint, len: u64, seed: u64) -> (DataFile, ScriptResult) {
    let file = DataFile::new(len, seed);
    let result = run_script(driver, scenario, endpoint, &file).await;
    (file, result)
}

/// The tus-js-client scenarios (`tests/interop/js/run.mjs`).
pub mod js {
    use super::{Driver, Endpoint, KIB, MIB, assert_gone, assert_metadata, assert_stored, run};

    /// A whole file in one PATCH, with metadata.
    pub async fn small_file(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Js, "small", endpoint, 64 * KIB + 3, 11).await;
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// A 0-byte file: creation alone completes it.
    pub async fn empty_file(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Js, "empty", endpoint, 0, 12).await;
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// 50 MiB in ten 5 MiB PATCHes.
    pub async fn fifty_mib_in_five_mib_chunks(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Js, "chunked", endpoint, 50 * MIB, 13).await;
        assert_eq!(result.number("patches"), Some(10), "{}", result.json);
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// Abort between chunks, resume in a new client that finds the URL in its storage.
    pub async fn abort_then_resume_from_url_storage(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Js, "resume-storage", endpoint, 20 * MIB + 5, 14).await;
        assert_eq!(result.number("resumedAt"), Some(12 * MIB), "{}", result.json);
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// The connection is cut in the middle of one big PATCH; a new client resumes from
    /// what the server kept.
    pub async fn connection_cut_mid_patch_then_resume_from_upload_url(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Js, "resume-mid-request", endpoint, 48 * MIB, 15).await;
        let resumed = result.number("resumedAt").expect("resumedAt");
        assert!(resumed > 0 && resumed < file.len(), "{}", result.json);
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// Four partial uploads in parallel, concatenated.
    pub async fn parallel_uploads_4(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Js, "parallel", endpoint, 10 * MIB + 1, 16).await;
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// A stream of unknown length (Upload-Defer-Length).
    pub async fn deferred_length_from_a_stream(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Js, "deferred", endpoint, 5 * MIB + 17, 17).await;
        // The client sends what the stream gave it: at least one PATCH per 1 MiB chunk.
        assert!(result.number("patches").is_some_and(|n| n >= 6), "{}", result.json);
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// A small file (16 KiB + 1) whose data rides on the creation POST: the whole upload in
    /// one request, which the SQLite storage keeps in its database rather than in a file.
    /// Returns the upload URL.
    pub async fn small_creation_with_upload(endpoint: &Endpoint) -> String {
        created_with_upload(endpoint, 16 * KIB + 1, 23).await
    }

    /// The data rides on the creation POST.
    pub async fn creation_with_upload(endpoint: &Endpoint) {
        created_with_upload(endpoint, 200 * KIB, 18).await;
    }

    /// Uploads `len` bytes in the creation POST alone, checks them and returns the URL.
    async fn created_with_upload(endpoint: &Endpoint, len: u64, seed: u64) -> String {
        let (file, result) = run(Driver::Js, "creation-with-upload", endpoint, len, seed).await;
        assert_stored(endpoint, &result.url, &file).await;
        result.url
    }

    /// PATCH sent as POST with X-HTTP-Method-Override.
    pub async fn override_patch_method(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Js, "override-patch", endpoint, 3 * MIB + 5, 19).await;
        assert_eq!(result.number("patches"), Some(4), "{}", result.json);
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// `abort(true)` part-way terminates the upload.
    pub async fn terminate_by_abort_true(endpoint: &Endpoint) {
        let (_file, result) = run(Driver::Js, "terminate-abort", endpoint, 4 * MIB, 20).await;
        assert_gone(endpoint, &result.url).await;
    }

    /// `Upload.terminate` after completion; a second DELETE is 404/410.
    pub async fn terminate_after_completion(endpoint: &Endpoint) {
        let (_file, result) = run(Driver::Js, "terminate-after", endpoint, KIB, 21).await;
        assert_gone(endpoint, &result.url).await;
    }

    /// Unicode and empty metadata values survive, and shape the download headers.
    pub async fn unicode_and_empty_metadata(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Js, "metadata", endpoint, KIB, 22).await;
        assert_stored(endpoint, &result.url, &file).await;
        assert_metadata(endpoint, &result.url).await;
    }
}

/// The tuspy scenarios (`tests/interop/py/run.py`). tuspy 1.1.0 has no termination and no
/// deferred length.
pub mod py {
    use super::{Driver, Endpoint, KIB, MIB, assert_gone, assert_metadata, assert_stored, offset, run, upload_path};

    /// A whole file in one PATCH.
    pub async fn small_file(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Py, "small", endpoint, 64 * KIB + 3, 31).await;
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// A 0-byte file.
    pub async fn empty_file(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Py, "empty", endpoint, 0, 32).await;
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// 50 MiB in ten 5 MiB PATCHes.
    pub async fn fifty_mib_in_five_mib_chunks(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Py, "chunked", endpoint, 50 * MIB, 33).await;
        assert_eq!(result.number("patches"), Some(10), "{}", result.json);
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// Stop after 3 chunks; a new client finds the URL in tuspy's file storage.
    pub async fn resume_from_url_storage_in_a_new_client(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Py, "resume-storage", endpoint, 20 * MIB + 5, 34).await;
        assert_eq!(result.number("resumedAt"), Some(12 * MIB), "{}", result.json);
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// Stop part-way; a new uploader given the URL asks for the offset and goes on.
    pub async fn resume_from_url_in_a_new_client(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Py, "resume-url", endpoint, 3 * MIB + 5, 35).await;
        assert_eq!(result.number("resumedAt"), Some(2 * MIB), "{}", result.json);
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// sha1 Upload-Checksum on every chunk; a lying checksum is refused with 460 and stores nothing.
    pub async fn sha1_checksums_are_verified(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Py, "checksum", endpoint, 3 * MIB + 5, 36).await;
        assert_stored(endpoint, &result.url, &file).await;
        let bad = result.string("badUrl").expect("badUrl");
        assert_eq!(offset(endpoint, bad).await, 0, "bytes of a chunk with a wrong checksum were stored");
    }

    /// Unicode and empty metadata values survive, and shape the download headers.
    pub async fn unicode_and_empty_metadata(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Py, "metadata", endpoint, KIB, 37).await;
        assert_stored(endpoint, &result.url, &file).await;
        assert_metadata(endpoint, &result.url).await;
    }

    /// The aiohttp-based AsyncUploader, with checksums.
    pub async fn async_uploader_with_checksums(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Py, "async", endpoint, 5 * MIB + 1, 38).await;
        assert_stored(endpoint, &result.url, &file).await;
    }

    /// Not a tuspy feature: after a tuspy upload, a plain DELETE terminates it (so the
    /// termination extension works for uploads tuspy made).
    pub async fn tuspy_upload_then_delete(endpoint: &Endpoint) {
        let (file, result) = run(Driver::Py, "small", endpoint, 10 * KIB, 39).await;
        assert_stored(endpoint, &result.url, &file).await;
        endpoint.client().call("DELETE", upload_path(&result.url), &[]).await.expect(204, "DELETE");
        assert_gone(endpoint, &result.url).await;
    }
}

/// One `#[tokio::test]` per interop scenario, each against a fresh server.
///
/// - `interop_tests!(app: BINARY)`: every tus-js-client and tuspy scenario against an
///   example app's binary started with the bearer token [`TOKEN`](crate::TOKEN), in
///   modules `js` and `py`.
/// - `interop_tests!(js, START)` / `interop_tests!(py, START)`: one client's scenarios,
///   where `START` is an expression evaluated in each test to a future of a server
///   implementing [`InteropServer`] (kept alive for the test).
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features.
///
/// ```ignore
/// tus_example_harness::interop_tests!(app: env!("CARGO_BIN_EXE_axum-app"));
/// ```
#[macro_export]
macro_rules! interop_tests {
    (app: $binary:expr) => {
        /// tus-js-client against the app, with its bearer token.
        mod js {
            $crate::interop_tests!(js, $crate::Server::start($binary, Some($crate::TOKEN)));
        }
        /// tuspy against the app, with its bearer token.
        mod py {
            $crate::interop_tests!(py, $crate::Server::start($binary, Some($crate::TOKEN)));
        }
    };
    (js, $start:expr) => {
        $crate::interop_tests!(@each js, $start;
            small_file,
            empty_file,
            fifty_mib_in_five_mib_chunks,
            abort_then_resume_from_url_storage,
            connection_cut_mid_patch_then_resume_from_upload_url,
            parallel_uploads_4,
            deferred_length_from_a_stream,
            small_creation_with_upload,
            creation_with_upload,
            override_patch_method,
            terminate_by_abort_true,
            terminate_after_completion,
            unicode_and_empty_metadata,
        );
    };
    (py, $start:expr) => {
        $crate::interop_tests!(@each py, $start;
            small_file,
            empty_file,
            fifty_mib_in_five_mib_chunks,
            resume_from_url_storage_in_a_new_client,
            resume_from_url_in_a_new_client,
            sha1_checksums_are_verified,
            unicode_and_empty_metadata,
            async_uploader_with_checksums,
            tuspy_upload_then_delete,
        );
    };
    (@each $client:ident, $start:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let server = $start.await;
                let endpoint = $crate::interop::InteropServer::endpoint(&server);
                $crate::interop::$client::$scenario(&endpoint).await;
            }
        )*
    };
}
