//! The `tus` command line as a user meets it: flags, exit codes, messages, and what each
//! flag changes in the running server.

mod common;

use bytes::Bytes;
use common::{TUS, TusServer, request, tus_bin};
use http::Method;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn run(args: &[&str]) -> Output {
    Command::new(tus_bin()).args(args).stdin(Stdio::null()).output().expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Bad flags: clap's message on stderr naming the problem, exit code 2, nothing served.
#[test]
fn bad_flags_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["serve", "--bogus"], "--bogus"),
        (&["serve", "--dir", d, "--port", "99999"], "99999"),
        (&["serve", "--dir", d, "--port", "http"], "--port"),
        (&["serve", "--dir", d, "--max-size", "5XB"], "unknown size unit"),
        (&["serve", "--dir", d, "--max-size", "lots"], "--max-size"),
        (&["serve", "--dir", d, "--expiration", "soon"], "not a duration"),
        (&["serve", "--dir", d, "--lock-timeout", "10"], "--lock-timeout"),
        (&["serve", "--dir", d, "--expiration-mode", "sliding"], "--expiration"),
        (&["serve", "--dir", d, "--expiration", "1h", "--expiration-mode", "weekly"], "weekly"),
        (&["serve", "--dir", d, "--durability", "fast"], "fast"),
        (&["serve", "--dir", d, "--no-cors", "--cors-origin", "https://a.example"], "--no-cors"),
        (&["serve", "--dir", d, "--public-url", "uploads.example"], "--public-url"),
        (&["cleanup", "--dir", d, "--force"], "--force"),
        (&["frobnicate"], "frobnicate"),
        (&[], "Usage"),
    ];
    for (args, needle) in cases {
        let output = run(args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "tus {args:?} exited {:?}; stderr: {err}", output.status);
        assert!(err.contains(needle), "tus {args:?}: stderr does not mention {needle:?}:\n{err}");
        assert!(output.stdout.is_empty(), "tus {args:?} printed on stdout: {:?}", output.stdout);
    }
}

#[test]
fn help_and_version_exit_0() {
    let help = run(&["serve", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--host",
        "--port",
        "--base-path",
        "--dir",
        "--max-size",
        "--expiration",
        "--expiration-mode",
        "--cors-origin",
        "--no-cors",
        "--durability",
        "--no-download",
        "--behind-proxy",
        "--public-url",
        "--lock-timeout",
        "--body-idle-timeout",
        "--shutdown-timeout",
    ] {
        assert!(text.contains(flag), "`tus serve --help` does not list {flag}:\n{text}");
    }
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("tus "));
}

/// A `--dir` that cannot be a directory: exit 1 with exactly one line naming it.
#[test]
fn unusable_dir_exits_1_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let under_file = file.join("uploads");
    for dir in [&file, &under_file] {
        let output = run(&["serve", "--port", "0", "--dir", dir.to_str().unwrap()]);
        let err = stderr(&output);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(output.status.code(), Some(1), "--dir {}: exited {:?}; stderr: {err}", dir.display(), output.status);
        assert_eq!(lines.len(), 1, "--dir {}: expected one line on stderr, got:\n{err}", dir.display());
        assert!(lines[0].contains(&*dir.to_string_lossy()), "the line does not name the directory: {}", lines[0]);
        assert!(lines[0].starts_with("tus: error: "), "unexpected line: {}", lines[0]);
        assert!(output.stdout.is_empty(), "printed a serving line although it failed");
    }
    // cleanup refuses a directory that does not exist, rather than creating one.
    let missing = tmp.path().join("missing");
    let output = run(&["cleanup", "--dir", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    assert!(!missing.exists(), "cleanup created the directory");
}

/// A port that is taken: exit 1 with one line.
#[tokio::test]
async fn port_in_use_exits_1_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["serve", "--port", &port, "--dir", dir.path().to_str().unwrap()]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().filter(|l| !l.trim().is_empty()).count(), 1, "expected one line:\n{err}");
    assert!(err.contains(&port) && err.contains("cannot listen"), "{err}");
}

/// The start line names the actually bound port, the base path and the storage directory.
#[tokio::test]
async fn start_line_names_the_bound_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--base-path", "/uploads/"]);
    assert_ne!(server.addr.port(), 0);
    assert_eq!(server.url, format!("http://127.0.0.1:{}/uploads", server.addr.port()));
    assert!(server.line.ends_with(&format!("(storage: {})", dir.path().display())), "{}", server.line);
    let created = request(
        server.addr,
        Method::POST,
        "/uploads",
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "3")],
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(created.status, 201, "{created:?}");
    assert!(created.header("location").unwrap().starts_with("/uploads/"), "{created:?}");
    let other =
        request(server.addr, Method::POST, "/files", &[("Tus-Resumable", "1.0.0")], Bytes::new()).await.unwrap();
    assert_eq!(other.status, 404, "the default base path must not be served: {other:?}");
    // The database and data live in --dir.
    assert!(std::fs::read_dir(dir.path()).unwrap().count() > 0, "nothing was written to --dir");
}

/// Without --dir, uploads go to ./uploads.
#[tokio::test]
async fn default_dir_is_uploads_in_the_working_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let mut command = Command::new(tus_bin());
    command.args(["serve", "--port", "0"]).current_dir(cwd.path());
    let server = TusServer::spawn(command, &cwd.path().join("uploads")).unwrap();
    assert!(server.line.ends_with("(storage: ./uploads)"), "{}", server.line);
    server.create(10).await;
    assert!(cwd.path().join("uploads").is_dir(), "./uploads was not created");
}

/// `--max-size 5GiB` is advertised as `Tus-Max-Size: 5368709120` and enforced.
#[tokio::test]
async fn max_size_with_unit_is_advertised_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--max-size", "5GiB"]);
    let options = request(server.addr, Method::OPTIONS, &server.base_path, TUS, Bytes::new()).await.unwrap();
    assert!(options.status == 204 || options.status == 200, "{options:?}");
    assert_eq!(options.header("tus-max-size"), Some("5368709120"), "{options:?}");
    assert_eq!(options.header("tus-version"), Some("1.0.0"));
    let too_big = request(
        server.addr,
        Method::POST,
        &server.base_path,
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "5368709121")],
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(too_big.status, 413, "{too_big:?}");
    server.create(5_368_709_120).await;

    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--max-size", "10KiB"]);
    let options = request(server.addr, Method::OPTIONS, &server.base_path, TUS, Bytes::new()).await.unwrap();
    assert_eq!(options.header("tus-max-size"), Some("10240"), "{options:?}");
}

/// HTTP/2 with prior knowledge (h2c) is served next to HTTP/1.1.
#[tokio::test]
async fn serves_h2c() {
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let uri = format!("http://{}{}", server.addr, server.base_path);
    let response = sender
        .send_request(
            http::Request::post(&uri)
                .header("tus-resumable", "1.0.0")
                .header("upload-length", "0")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let head = sender
        .send_request(
            http::Request::head(format!("http://{}{location}", server.addr))
                .header("tus-resumable", "1.0.0")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["upload-offset"], "0");
    let _ = head.into_body().collect().await;

    // A multi-MiB PATCH and its download over the same h2c connection.
    let total = 8 * common::MIB;
    let data = common::test_data(total, 5);
    let response = sender
        .send_request(
            http::Request::post(&uri)
                .header("tus-resumable", "1.0.0")
                .header("upload-length", total.to_string())
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let upload = format!("http://{}{}", server.addr, response.headers()["location"].to_str().unwrap());
    let patch = sender
        .send_request(
            http::Request::patch(&upload)
                .header("tus-resumable", "1.0.0")
                .header("content-type", "application/offset+octet-stream")
                .header("upload-offset", "0")
                .body(Full::new(Bytes::from(data.clone())))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(patch.status(), 204);
    assert_eq!(patch.headers()["upload-offset"], total.to_string().as_str());
    let get = sender.send_request(http::Request::get(&upload).body(Full::new(Bytes::new())).unwrap()).await.unwrap();
    assert_eq!(get.status(), 200);
    let body = get.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(common::sha256(&body), common::sha256(&data));
}

/// --no-download, --public-url and --behind-proxy change what clients see.
#[tokio::test]
async fn download_public_url_and_proxy_flags() {
    let create = [("Tus-Resumable", "1.0.0"), ("Upload-Length", "2")];
    let forwarded = [
        ("Tus-Resumable", "1.0.0"),
        ("Upload-Length", "2"),
        ("X-Forwarded-Host", "up.example"),
        ("X-Forwarded-Proto", "https"),
    ];

    // Defaults: relative Location, proxy headers ignored, downloads on.
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    let r = request(server.addr, Method::POST, "/files", &forwarded, Bytes::new()).await.unwrap();
    let location = r.header("location").unwrap().to_owned();
    assert!(location.starts_with("/files/"), "proxy headers must be ignored without --behind-proxy: {location}");
    assert_eq!(server.patch(&location, 0, "hi").await.status, 204);
    assert_eq!(&server.download(&location).await[..], b"hi");

    // --no-download: GET is refused; HEAD still works.
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--no-download"]);
    let path = server.create(2).await;
    assert_eq!(server.patch(&path, 0, "hi").await.status, 204);
    let get = request(server.addr, Method::GET, &path, TUS, Bytes::new()).await.unwrap();
    assert!(get.status == 404 || get.status == 405, "GET with --no-download: {get:?}");
    assert_ne!(&get.body[..], b"hi");
    assert_eq!(server.offset(&path).await, 2);

    // --public-url: absolute Locations under it.
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--public-url", "https://uploads.example.com/"]);
    let r = request(server.addr, Method::POST, "/files", &create, Bytes::new()).await.unwrap();
    assert!(
        r.header("location").unwrap().starts_with("https://uploads.example.com/files/"),
        "--public-url: {:?}",
        r.header("location")
    );

    // --behind-proxy: Locations from X-Forwarded-*.
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--behind-proxy"]);
    let r = request(server.addr, Method::POST, "/files", &forwarded, Bytes::new()).await.unwrap();
    assert!(r.header("location").unwrap().starts_with("https://up.example/files/"), "{:?}", r.header("location"));
    let r = request(
        server.addr,
        Method::POST,
        "/files",
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "2"), ("Forwarded", "for=1.2.3.4;host=fw.example;proto=https")],
        Bytes::new(),
    )
    .await
    .unwrap();
    assert!(r.header("location").unwrap().starts_with("https://fw.example/files/"), "{:?}", r.header("location"));
}

/// CORS: any origin by default, a list with --cors-origin, nothing with --no-cors.
#[tokio::test]
async fn cors_flags() {
    let preflight = |origin: &'static str| {
        [
            ("Origin", origin),
            ("Access-Control-Request-Method", "PATCH"),
            ("Access-Control-Request-Headers", "tus-resumable, upload-offset, content-type"),
        ]
    };
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    let r =
        request(server.addr, Method::OPTIONS, "/files", &preflight("https://any.example"), Bytes::new()).await.unwrap();
    assert!(r.status < 300, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("https://any.example"), "{r:?}");

    let dir = tempfile::tempdir().unwrap();
    let server =
        TusServer::start(dir.path(), &["--cors-origin", "https://a.example", "--cors-origin", "https://b.example"]);
    for allowed in ["https://a.example", "https://b.example"] {
        let r = request(server.addr, Method::OPTIONS, "/files", &preflight(allowed), Bytes::new()).await.unwrap();
        assert!(r.status < 300, "{allowed}: {r:?}");
        assert_eq!(r.header("access-control-allow-origin"), Some(allowed), "{r:?}");
    }
    let r = request(server.addr, Method::OPTIONS, "/files", &preflight("https://evil.example"), Bytes::new())
        .await
        .unwrap();
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
    let post = request(
        server.addr,
        Method::POST,
        "/files",
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "1"), ("Origin", "https://a.example")],
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(post.header("access-control-allow-origin"), Some("https://a.example"));
    assert!(post.header("access-control-expose-headers").unwrap_or_default().contains("Location"), "{post:?}");

    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--no-cors"]);
    let post = request(
        server.addr,
        Method::POST,
        "/files",
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "1"), ("Origin", "https://a.example")],
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(post.status, 201);
    assert!(
        !post.headers.keys().any(|k| k.as_str().starts_with("access-control-")),
        "--no-cors still sent CORS headers: {post:?}"
    );
}

/// --expiration switches the extension on and stamps Upload-Expires; sliding moves it.
#[tokio::test]
async fn expiration_flags() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    let options = request(server.addr, Method::OPTIONS, "/files", TUS, Bytes::new()).await.unwrap();
    assert!(!options.header("tus-extension").unwrap().split(',').any(|e| e == "expiration"));
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--expiration", "24h"]);
    let options = request(server.addr, Method::OPTIONS, "/files", TUS, Bytes::new()).await.unwrap();
    assert!(options.header("tus-extension").unwrap().split(',').any(|e| e == "expiration"), "{options:?}");
    let created = request(
        server.addr,
        Method::POST,
        "/files",
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "10")],
        Bytes::new(),
    )
    .await
    .unwrap();
    let expires = httpdate_secs(created.header("upload-expires").expect("Upload-Expires on POST"));
    let now = now_secs();
    assert!((now + 86_400 - 120..=now + 86_400 + 120).contains(&expires), "expires {expires}, now {now}");

    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--expiration", "1h", "--expiration-mode", "sliding"]);
    let path = server.create(10).await;
    let patched = server.patch(&path, 0, "12345").await;
    assert_eq!(patched.status, 204);
    let expires = httpdate_secs(patched.header("upload-expires").expect("Upload-Expires on PATCH"));
    let now = now_secs();
    assert!((now + 3_600 - 120..=now + 3_600 + 120).contains(&expires), "expires {expires}, now {now}");
}

/// `tus cleanup` removes (or lists) unfinished uploads whose expiry passed, and only those.
#[tokio::test]
async fn cleanup_removes_expired_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let mut server = TusServer::start(dir.path(), &["--expiration", "1s"]);
    let unfinished = server.create(10).await;
    let complete = server.create(2).await;
    assert_eq!(server.patch(&complete, 0, "ok").await.status, 204);
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).is_some_and(|s| s.success()));
    let unfinished_id = unfinished.rsplit('/').next().unwrap().to_owned();
    let complete_id = complete.rsplit('/').next().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let dry = run(&["cleanup", "--dir", d, "--dry-run"]);
    let out = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert!(out.contains(&format!("would remove {unfinished_id}")), "{out}");
    assert!(!out.contains(&complete_id), "a complete upload never expires: {out}");

    let real = run(&["cleanup", "--dir", d]);
    let out = String::from_utf8_lossy(&real.stdout).into_owned();
    assert_eq!(real.status.code(), Some(0), "{}", stderr(&real));
    assert!(out.contains(&format!("removed {unfinished_id}")), "{out}");
    assert!(out.contains("removed 1 expired upload"), "{out}");

    let again = run(&["cleanup", "--dir", d]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("removed 0 expired upload"));

    let server = TusServer::start(dir.path(), &[]);
    let head = request(server.addr, Method::HEAD, &unfinished, TUS, Bytes::new()).await.unwrap();
    assert!(head.status == 404 || head.status == 410, "the removed upload answers {head:?}");
    assert_eq!(&server.download(&complete).await[..], b"ok");
}

/// `--exclusive` holds the directory alone: the server works (HEAD from its record cache
/// sees every change), and a second server or `tus cleanup` on the same directory fails
/// with one line while it runs; once it has stopped, both work again.
#[tokio::test]
async fn exclusive_server_holds_its_directory_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let mut server = TusServer::start(dir.path(), &["--exclusive"]);
    let path = server.create(4).await;
    assert_eq!(server.offset(&path).await, 0);
    assert_eq!(server.patch(&path, 0, "ab").await.status, 204);
    assert_eq!(server.offset(&path).await, 2, "HEAD after a PATCH");
    assert_eq!(server.patch(&path, 2, "cd").await.status, 204);
    assert_eq!(&server.download(&path).await[..], b"abcd");

    for (what, output) in
        [("a second server", run(&["serve", "--port", "0", "--dir", d])), ("cleanup", run(&["cleanup", "--dir", d]))]
    {
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{what}: {err}");
        assert_eq!(err.lines().filter(|l| !l.trim().is_empty()).count(), 1, "{what}: expected one line:\n{err}");
        assert!(err.contains("exclusive"), "{what}: the line does not say why: {err}");
    }
    let conflicting = run(&["serve", "--port", "0", "--dir", d, "--exclusive", "--lock", "redis"]);
    assert_eq!(conflicting.status.code(), Some(2), "--exclusive with --lock: {}", stderr(&conflicting));

    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).is_some_and(|s| s.success()));
    assert_eq!(run(&["cleanup", "--dir", d]).status.code(), Some(0));
    let server = TusServer::start(dir.path(), &[]);
    assert_eq!(&server.download(&path).await[..], b"abcd");
}

/// --body-idle-timeout cuts a silent body off, keeping what arrived.
#[tokio::test]
async fn body_idle_timeout_keeps_what_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &["--body-idle-timeout", "1s"]);
    let path = server.create(10_000).await;
    let patch = common::StreamingPatch::start(server.addr, &path, 0, 10_000).await;
    patch.send(&[7u8; 4_000], 1_000).await;
    let started = std::time::Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), patch.response)
        .await
        .expect("the server never cut off the silent body")
        .unwrap()
        .unwrap();
    assert_eq!(response.status, 408, "{response:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(server.offset(&path).await, 4_000);
}

/// Every flag at once is accepted, and the server still serves an upload end to end.
#[tokio::test]
async fn all_flags_together() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(
        dir.path(),
        &[
            "--host",
            "127.0.0.1",
            "--base-path",
            "tus",
            "--max-size",
            "100MB",
            "--expiration",
            "30m",
            "--expiration-mode",
            "absolute",
            "--cors-origin",
            "https://a.example",
            "--durability",
            "buffered",
            "--behind-proxy",
            "--public-url",
            "http://files.example:8080",
            "--lock-timeout",
            "250ms",
            "--body-idle-timeout",
            "5s",
            "--shutdown-timeout",
            "2s",
        ],
    );
    assert_eq!(server.base_path, "/tus");
    let created =
        request(server.addr, Method::POST, "/tus", &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "4")], Bytes::new())
            .await
            .unwrap();
    assert_eq!(created.status, 201, "{created:?}");
    let location = created.header("location").unwrap();
    assert!(location.starts_with("http://files.example:8080/tus/"), "{location}");
    let path = server.path_of(location);
    assert_eq!(server.patch(&path, 0, "abcd").await.status, 204);
    assert_eq!(&server.download(&path).await[..], b"abcd");
    let options = request(server.addr, Method::OPTIONS, "/tus", TUS, Bytes::new()).await.unwrap();
    assert_eq!(options.header("tus-max-size"), Some("100000000"));
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn httpdate_secs(value: &str) -> u64 {
    let at = httpdate::parse_http_date(value).unwrap_or_else(|e| panic!("not an HTTP date {value:?}: {e}"));
    at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
