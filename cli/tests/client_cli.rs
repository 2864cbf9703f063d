//! `tus upload`, `tus info` and `tus delete` as processes, against the real `tus serve`.

mod common;
mod support;

use common::{KIB, MIB, TusServer, sha256, test_data};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;
use support::{Faults, Proxy, write_file};
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// How long one command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// `tus ARGS…` with its URL storage in `cache`.
fn tus(cache: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(common::tus_bin());
    command
        .args(args)
        .env("TUS_CACHE_DIR", cache)
        .env_remove("TUS_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn run(cache: &Path, args: &[&str]) -> Output {
    tokio::time::timeout(COMMAND_TIMEOUT, tus(cache, args).output())
        .await
        .unwrap_or_else(|_| panic!("tus {args:?} ran for more than {COMMAND_TIMEOUT:?}"))
        .expect("run tus")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The last line of stdout: the upload URL.
fn url_of(output: &Output) -> String {
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "tus failed ({}):\n{stdout}\n{}", output.status, text(&output.stderr));
    stdout.lines().last().expect("a URL line").to_owned()
}

async fn assert_stored(server: &TusServer, url: &str, data: &[u8]) {
    let stored = server.download(&server.path_of(url)).await;
    assert_eq!(stored.len(), data.len(), "{url}: stored length");
    assert_eq!(sha256(&stored), sha256(data), "{url}: stored bytes differ");
}

/// Fails with stderr as one `tus: error: …` line.
fn assert_one_line_error(output: &Output, contains: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stdout:\n{}\nstderr:\n{stderr}", text(&output.stdout));
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("tus: error: ") && lines[0].contains(contains), "{stderr}");
}

#[tokio::test]
async fn upload_then_info_then_delete() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let data = test_data(MIB + 333, 41);
    let file = write_file(work.path(), "report.pdf", &data);
    let file_arg = file.to_str().unwrap();
    let output = run(
        &cache,
        &["upload", file_arg, "--endpoint", &server.url, "--chunk-size", "256KiB", "--metadata", "note=hello world"],
    )
    .await;
    let url = url_of(&output);
    let stdout = text(&output.stdout);
    assert!(stdout.contains(&format!("tus: created {url}")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("tus: ") && l.contains("(100%)")), "plain progress lines: {stdout}");
    assert_stored(&server, &url, &data).await;

    let info = run(&cache, &["info", &url]).await;
    assert!(info.status.success(), "{}", text(&info.stderr));
    let info = text(&info.stdout);
    for line in [
        format!("offset: {}", data.len()),
        format!("length: {}", data.len()),
        "complete: yes".into(),
        "metadata: filename=report.pdf".into(),
        "metadata: note=hello world".into(),
    ] {
        assert!(info.lines().any(|l| l == line), "{line:?} missing in:\n{info}");
    }

    let deleted = run(&cache, &["delete", &url]).await;
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    assert!(text(&deleted.stdout).contains("tus: deleted"));
    let gone = run(&cache, &["info", &url]).await;
    assert_one_line_error(&gone, "410");
}

#[tokio::test]
async fn parallel_checksum_and_quiet() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let data = test_data(3 * MIB + 1, 42);
    let file = write_file(work.path(), "p.bin", &data);
    let output = run(
        &cache,
        &[
            "upload",
            file.to_str().unwrap(),
            "--endpoint",
            &server.url,
            "--parallel",
            "3",
            "--checksum",
            "sha256",
            "--chunk-size",
            "512KiB",
            "--quiet",
            "--header",
            "X-Test: 1",
        ],
    )
    .await;
    let url = url_of(&output);
    assert_eq!(text(&output.stdout).lines().count(), 1, "--quiet prints only the URL");
    assert_stored(&server, &url, &data).await;
}

#[tokio::test]
async fn fatal_errors_are_one_line() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let file = write_file(work.path(), "x.bin", b"data");
    let wrong = format!("http://{}/nope", server.addr);
    let output = run(&cache, &["upload", file.to_str().unwrap(), "--endpoint", &wrong]).await;
    assert_one_line_error(&output, "404");
    let missing = work.path().join("missing.bin");
    let output = run(&cache, &["upload", missing.to_str().unwrap(), "--endpoint", &server.url]).await;
    assert_one_line_error(&output, "missing.bin");
    let output = run(&cache, &["upload", file.to_str().unwrap(), "--endpoint", "ftp://x/files"]).await;
    assert_one_line_error(&output, "ftp");
}

/// Starts `tus upload` and returns the child and its stdout lines as they come.
async fn start_upload(
    cache: &Path,
    args: &[&str],
) -> (tokio::process::Child, tokio::sync::mpsc::UnboundedReceiver<String>, tokio::task::JoinHandle<String>) {
    let mut child = tus(cache, args).spawn().expect("start tus upload");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    let stderr = tokio::spawn(async move {
        let mut all = String::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (child, rx, stderr)
}

/// Waits for the `tus: created URL` line; returns the URL.
async fn created(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(COMMAND_TIMEOUT, async {
        while let Some(line) = lines.recv().await {
            if let Some(url) = line.strip_prefix("tus: created ") {
                return url.to_owned();
            }
        }
        panic!("tus upload ended without creating an upload");
    })
    .await
    .expect("the upload was created in time")
}

/// Waits until the server has at least `bytes` of the upload.
async fn wait_offset(server: &TusServer, url: &str, bytes: u64) -> u64 {
    let path = server.path_of(url);
    let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT;
    loop {
        let offset = server.offset(&path).await;
        if offset >= bytes {
            return offset;
        }
        assert!(tokio::time::Instant::now() < deadline, "the upload stalled at {offset}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn killed_server_then_the_same_command_resumes() {
    let storage = tempfile::tempdir().unwrap();
    let mut server = TusServer::start(storage.path(), &[]);
    let port = server.addr.port();
    // The proxy slows the upload to ~4 MiB/s, so the kill lands mid-upload.
    let proxy = Proxy::start(server.addr, Faults::throttled(4 * MIB as u64)).await;
    let endpoint = proxy.url(&server.base_path);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let data = test_data(8 * MIB, 43);
    let file = write_file(work.path(), "k.bin", &data);
    let args = ["upload", file.to_str().unwrap(), "--endpoint", &endpoint, "--chunk-size", "256KiB", "--retries", "0"];

    let (mut child, mut lines, stderr) = start_upload(&cache, &args).await;
    let url = created(&mut lines).await;
    wait_offset(&server, &url, MIB as u64).await;
    server.kill9();
    let status = tokio::time::timeout(COMMAND_TIMEOUT, child.wait()).await.unwrap().unwrap();
    let stderr = stderr.await.unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("run the same command again to resume"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let mut command = std::process::Command::new(common::tus_bin());
    command.args(["serve", "--port", &port.to_string(), "--dir"]).arg(storage.path());
    let server = TusServer::spawn(command, storage.path()).expect("restart on the same port");
    let output = run(&cache, &args).await;
    let stdout = text(&output.stdout);
    let resumed = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("tus: resuming {url} at byte ")))
        .unwrap_or_else(|| panic!("no resumption in:\n{stdout}\n{}", text(&output.stderr)));
    let offset: u64 = resumed.split(' ').next().unwrap().parse().unwrap();
    assert!(offset > 0 && offset < data.len() as u64, "{stdout}");
    assert_eq!(url_of(&output), url, "the same upload was finished");
    assert_stored(&server, &url, &data).await;
}

#[tokio::test]
async fn ctrl_c_leaves_a_resumable_upload() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let proxy = Proxy::start(server.addr, Faults::throttled(4 * MIB as u64)).await;
    let endpoint = proxy.url(&server.base_path);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let data = test_data(8 * MIB + 5, 44);
    let file = write_file(work.path(), "c.bin", &data);
    let args = ["upload", file.to_str().unwrap(), "--endpoint", &endpoint, "--chunk-size", "512KiB"];

    let (mut child, mut lines, stderr) = start_upload(&cache, &args).await;
    let url = created(&mut lines).await;
    wait_offset(&server, &url, MIB as u64).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exits promptly").unwrap();
    let stderr = stderr.await.unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted at byte") && stderr.contains("run the same command again"), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");

    // The same command goes on where it stopped…
    let output = run(&cache, &args).await;
    assert!(text(&output.stdout).contains(&format!("tus: resuming {url}")), "{}", text(&output.stdout));
    assert_eq!(url_of(&output), url);
    assert_stored(&server, &url, &data).await;

    // …and once complete, the next run is a new upload; --no-resume never resumes.
    let again = url_of(&run(&cache, &args).await);
    assert_ne!(again, url);
    let mut stop = args.to_vec();
    stop.push("--no-resume");
    let fresh = url_of(&run(&cache, &stop).await);
    assert_ne!(fresh, again);
    assert_stored(&server, &fresh, &data).await;
}

#[tokio::test]
async fn small_files_and_chunk_sizes() {
    let storage = tempfile::tempdir().unwrap();
    let server = TusServer::start(storage.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    for (len, chunk) in [(0, "1KiB"), (1, "1KiB"), (10 * KIB + 1, "1KiB")] {
        let data = test_data(len, 45);
        let file = write_file(work.path(), &format!("s{len}.bin"), &data);
        let output =
            run(&cache, &["upload", file.to_str().unwrap(), "--endpoint", &server.url, "--chunk-size", chunk]).await;
        assert_stored(&server, &url_of(&output), &data).await;
    }
}
