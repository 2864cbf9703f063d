//! Running the third-party client scripts in tests/interop/ against a server.

use super::{TUS, TusServer, repo_root, request, sha256, test_data};
use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one client script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh from the repository root to install the interop clients";

/// The tus-js-client project, checked to be installed.
pub fn js_project() -> PathBuf {
    let dir = repo_root().join("tests/interop/js");
    let installed = dir.join("node_modules/tus-js-client/package.json");
    assert!(installed.is_file(), "tus-js-client is not installed in {}: {INSTALL_HINT}", dir.display());
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is not on PATH ({node:?}); install Node.js 18+ and {INSTALL_HINT}"
    );
    dir
}

/// The Python of the venv with tuspy, checked to be installed.
pub fn py_python() -> PathBuf {
    let dir = repo_root().join("tests/interop/py");
    let python = dir.join(".venv/bin/python");
    assert!(python.is_file(), "no Python venv at {}: {INSTALL_HINT}", python.display());
    let import = std::process::Command::new(&python).args(["-c", "import tusclient"]).output();
    assert!(
        import.as_ref().is_ok_and(|o| o.status.success()),
        "tuspy cannot be imported by {} ({import:?}): {INSTALL_HINT}",
        python.display()
    );
    python
}

/// What a client script reported.
#[derive(Debug)]
pub struct ScriptResult {
    /// The `RESULT` line's JSON.
    pub json: String,
    /// The upload URL it reported.
    pub url: String,
}

impl ScriptResult {
    /// A numeric field of the JSON, if present.
    pub fn number(&self, key: &str) -> Option<u64> {
        let at = self.json.find(&format!("\"{key}\":"))? + key.len() + 3;
        let rest = self.json[at..].trim_start();
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        rest[..end].parse().ok()
    }

    /// A string field of the JSON, if present (no escapes expected).
    pub fn string(&self, key: &str) -> Option<String> {
        let at = self.json.find(&format!("\"{key}\":"))? + key.len() + 3;
        let rest = self.json[at..].trim_start().strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_owned())
    }
}

/// Runs `program args… scenario endpoint file workdir` and parses its `RESULT` line;
/// panics with the script's output when it fails.
pub async fn run_script(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    scenario: &str,
    server: &TusServer,
    file: &Path,
    workdir: &Path,
) -> ScriptResult {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .arg(scenario)
        .arg(&server.url)
        .arg(file)
        .arg(workdir)
        .current_dir(cwd)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
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
    let json = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("{scenario}: no RESULT line:\n{stdout}\n{stderr}"))
        .to_owned();
    let mut result = ScriptResult { json, url: String::new() };
    result.url = result.string("url").unwrap_or_else(|| panic!("{scenario}: no url in {}", result.json));
    assert!(result.url.starts_with(&server.url), "{scenario}: URL {} is not under {}", result.url, server.url);
    result
}

/// A temp dir with a data file of `len` bytes; returns the dir, the file and its bytes.
pub fn data_file(len: usize, seed: u64) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(len, seed);
    let file = dir.path().join(format!("upload-{seed}.bin"));
    std::fs::write(&file, &data).unwrap();
    (dir, file, data)
}

/// Downloads the upload at `url` and checks its length and SHA-256 against `data`.
pub async fn assert_stored(server: &TusServer, url: &str, data: &[u8]) {
    let path = server.path_of(url);
    let stored = server.download(&path).await;
    assert_eq!(stored.len(), data.len(), "{url}: stored length");
    assert_eq!(sha256(&stored), sha256(data), "{url}: stored bytes differ from the source");
}

/// Checks that the upload at `url` is gone (404 or 410).
pub async fn assert_gone(server: &TusServer, url: &str) {
    let head = request(server.addr, Method::HEAD, &server.path_of(url), TUS, Bytes::new()).await.unwrap();
    assert!(head.status == 404 || head.status == 410, "{url}: expected 404/410 after termination, got {head:?}");
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
pub async fn assert_metadata(server: &TusServer, url: &str) {
    let path = server.path_of(url);
    let head = request(server.addr, Method::HEAD, &path, TUS, Bytes::new()).await.unwrap();
    assert_eq!(head.status, 200, "{head:?}");
    let header = head.header("upload-metadata").expect("Upload-Metadata on HEAD");
    let mut stored = BTreeMap::new();
    for pair in header.split(',') {
        let mut parts = pair.trim().splitn(2, ' ');
        let key = parts.next().unwrap().to_owned();
        let value = parts.next().unwrap_or("").trim();
        let value = base64::engine::general_purpose::STANDARD.decode(value).expect("base64 value");
        assert!(stored.insert(key.clone(), value).is_none(), "{key} twice in {header}");
    }
    assert_eq!(stored, expected_metadata(), "Upload-Metadata: {header}");

    let get = request(server.addr, Method::GET, &path, TUS, Bytes::new()).await.unwrap();
    assert_eq!(get.status, 200);
    assert_eq!(get.header("content-type"), Some("text/plain"));
    let disposition = get.header("content-disposition").expect("Content-Disposition");
    assert!(
        disposition.starts_with("inline;")
            && disposition
                .contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20%E5%B1%A5%E6%AD%B4%E6%9B%B8%20%F0%9F%9A%80.txt"),
        "Content-Disposition: {disposition}"
    );
}
