//! `tus serve --hooks-http` and `--hooks-command` against real receivers: a webhook server
//! in this test process and shell scripts written to a temporary directory.

mod common;

use bytes::Bytes;
use common::{TUS, TusServer, eventually, patch_headers, request};
use http::Method;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a test waits for background deliveries.
const DELIVERY_WAIT: Duration = Duration::from_secs(20);

/// What the receiver answers to one delivery.
struct Answer {
    status: u16,
    body: String,
    delay: Duration,
}

impl Answer {
    fn ok() -> Self {
        Self::json(200, "")
    }

    fn json(status: u16, body: &str) -> Self {
        Self { status, body: body.to_owned(), delay: Duration::ZERO }
    }
}

/// Decides the answer from the event and how many times its ID was delivered before.
type Behaviour = Arc<dyn Fn(&Value, usize) -> Answer + Send + Sync>;

/// A webhook receiver recording every delivery attempt in arrival order.
struct Receiver {
    addr: SocketAddr,
    deliveries: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn start(behaviour: impl Fn(&Value, usize) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let behaviour: Behaviour = Arc::new(behaviour);
        let log = deliveries.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                let behaviour = behaviour.clone();
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    let behaviour = behaviour.clone();
                    async move {
                        let header_id = request.headers()["tus-hook-event-id"].to_str().unwrap().to_owned();
                        let header_kind = request.headers()["tus-hook-event"].to_str().unwrap().to_owned();
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let event: Value = serde_json::from_slice(&body).expect("the event is JSON");
                        assert_eq!(event["id"], header_id, "the ID header matches the body");
                        assert_eq!(event["type"], header_kind, "the event header matches the body");
                        let seen = {
                            let mut log = log.lock().unwrap();
                            let seen = log.iter().filter(|e: &&Value| e["id"] == event["id"]).count();
                            log.push(event.clone());
                            seen
                        };
                        let answer = behaviour(&event, seen);
                        tokio::time::sleep(answer.delay).await;
                        let response = hyper::Response::builder()
                            .status(answer.status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(answer.body)))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { addr, deliveries }
    }

    fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// Every delivery attempt so far, retries included.
    fn deliveries(&self) -> Vec<Value> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Deliveries of `kind`.
    fn of(&self, kind: &str) -> Vec<Value> {
        self.deliveries().into_iter().filter(|e| e["type"] == kind).collect()
    }

    /// Waits until at least `n` deliveries of `kind` arrived.
    async fn wait_for(&self, kind: &str, n: usize) {
        let arrived = eventually(DELIVERY_WAIT, async || self.of(kind).len() >= n).await;
        assert!(arrived, "expected {n} {kind} deliveries, got {:#?}", self.deliveries());
    }
}

fn start_server(dir: &Path, extra: &[&str]) -> TusServer {
    TusServer::start(dir, extra)
}

async fn post(server: &TusServer, headers: &[(&str, &str)]) -> common::Response {
    let mut all = vec![("Tus-Resumable", "1.0.0")];
    all.extend_from_slice(headers);
    request(server.addr, Method::POST, &server.base_path, all.as_slice(), Bytes::new()).await.expect("POST")
}

/// Creates an upload and returns its path and ID.
async fn create(server: &TusServer, headers: &[(&str, &str)]) -> (String, String) {
    let response = post(server, headers).await;
    assert_eq!(response.status, 201, "POST: {response:?} {}", response.text());
    let path = server.path_of(response.header("location").unwrap());
    let id = path.rsplit('/').next().unwrap().to_owned();
    (path, id)
}

async fn patch(server: &TusServer, path: &str, offset: u64, data: &'static [u8]) {
    let response =
        request(server.addr, Method::PATCH, path, &patch_headers(offset), Bytes::from_static(data)).await.unwrap();
    assert_eq!(response.status, 204, "PATCH {path}: {}", response.text());
}

fn upload_id(event: &Value) -> Option<&str> {
    event["upload"]["id"].as_str()
}

/// The notification kinds delivered for one upload, in delivery order.
fn notifications_of(deliveries: &[Value], id: &str) -> Vec<String> {
    deliveries
        .iter()
        .filter(|e| upload_id(e) == Some(id) && e["type"].as_str().unwrap().starts_with("post-"))
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_gets_every_event_once_with_a_unique_id() {
    let receiver = Receiver::start(|_, _| Answer::ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let server = start_server(dir.path(), &["--hooks-http", &url, "--hooks-enabled-events", "all"]);

    // A plain upload in two PATCHes, then terminated.
    let (plain_path, plain) =
        create(&server, &[("Upload-Length", "10"), ("Upload-Metadata", "filename YS50eHQ=")]).await;
    patch(&server, &plain_path, 0, b"0123").await;
    patch(&server, &plain_path, 4, b"456789").await;
    // An empty upload: complete at creation.
    let (_, empty) = create(&server, &[("Upload-Length", "0")]).await;
    // Two partials and their concatenation.
    let (a_path, a) = create(&server, &[("Upload-Length", "3"), ("Upload-Concat", "partial")]).await;
    let (b_path, b) = create(&server, &[("Upload-Length", "4"), ("Upload-Concat", "partial")]).await;
    patch(&server, &a_path, 0, b"abc").await;
    patch(&server, &b_path, 0, b"defg").await;
    let concat = format!("final;{a_path} {b_path}");
    let (final_path, fin) = create(&server, &[("Upload-Concat", &concat)]).await;
    assert_eq!(server.download(&final_path).await, Bytes::from_static(b"abcdefg"));
    let deleted = request(server.addr, Method::DELETE, &plain_path, TUS, Bytes::new()).await.unwrap();
    assert_eq!(deleted.status, 204);

    receiver.wait_for("post-terminate", 1).await;
    let deliveries = receiver.deliveries();

    // No retries happened, so every delivery is a distinct event with its own ID.
    let ids: HashSet<_> = deliveries.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), deliveries.len(), "event IDs repeat: {deliveries:#?}");
    for event in &deliveries {
        assert_eq!(event["version"], 1);
        assert!(event["timestamp"].as_str().unwrap().ends_with('Z'), "{event}");
    }

    assert_eq!(
        notifications_of(&deliveries, &plain),
        ["post-create", "post-receive", "post-receive", "post-finish", "post-terminate"]
    );
    let offsets: Vec<_> = deliveries
        .iter()
        .filter(|e| e["type"] == "post-receive" && upload_id(e) == Some(&plain))
        .map(|e| e["upload"]["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [4, 10]);
    assert_eq!(notifications_of(&deliveries, &empty), ["post-create", "post-finish"]);
    assert_eq!(notifications_of(&deliveries, &a), ["post-create", "post-receive"], "no post-finish for partials");
    assert_eq!(notifications_of(&deliveries, &b), ["post-create", "post-receive"]);
    assert_eq!(notifications_of(&deliveries, &fin), ["post-create", "post-finish"]);

    let finished: Vec<_> = deliveries.iter().filter(|e| e["type"] == "post-finish").collect();
    assert_eq!(finished.len(), 3, "post-finish once per finished upload: {finished:#?}");
    let final_finish = finished.iter().find(|e| upload_id(e) == Some(&fin)).unwrap();
    assert_eq!(final_finish["upload"]["final"], true);
    assert_eq!(final_finish["upload"]["parts"], serde_json::json!([a, b]));
    assert_eq!(final_finish["upload"]["offset"], 7);
    let plain_finish = finished.iter().find(|e| upload_id(e) == Some(&plain)).unwrap();
    assert_eq!(plain_finish["upload"]["metadata"]["filename"], "a.txt");

    let pre_creates: Vec<_> = deliveries.iter().filter(|e| e["type"] == "pre-create").collect();
    assert_eq!(pre_creates.len(), 5);
    for event in &pre_creates {
        assert_eq!(event["request"]["method"], "POST");
        assert_eq!(event["request"]["headers"]["tus-resumable"], serde_json::json!(["1.0.0"]));
        assert!(event["upload"]["id"].is_null(), "no ID before creation: {event}");
    }
    assert!(
        pre_creates.iter().any(|e| e["upload"]["final"] == true && e["upload"]["parts"] == serde_json::json!([a, b]))
    );
    let terminate = receiver.of("pre-terminate");
    assert_eq!(terminate.len(), 1);
    assert_eq!(upload_id(&terminate[0]), Some(plain.as_str()));
    let intents: HashSet<_> =
        receiver.of("authorize").iter().map(|e| e["intent"].as_str().unwrap().to_owned()).collect();
    for intent in ["create", "append", "download", "terminate"] {
        assert!(intents.contains(intent), "no authorize event for {intent}: {intents:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_pre_create_blocks_creation_with_its_status() {
    let receiver = Receiver::start(|event, _| {
        if event["type"] == "pre-create" && event["upload"]["metadata"]["filename"] == "blocked.bin" {
            Answer::json(200, r#"{"reject":{"status":403,"message":"uploads of blocked.bin are closed"}}"#)
        } else {
            Answer::ok()
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let server = start_server(dir.path(), &["--hooks-http", &url]);

    // filename "blocked.bin"
    let refused = post(&server, &[("Upload-Length", "5"), ("Upload-Metadata", "filename YmxvY2tlZC5iaW4=")]).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.text().contains("uploads of blocked.bin are closed"), "{}", refused.text());
    assert!(refused.header("location").is_none());

    let (_, allowed) = create(&server, &[("Upload-Length", "5")]).await;
    receiver.wait_for("post-create", 1).await;
    // Notifications are delivered in order: a post-create of the refused upload would be first.
    let created = receiver.of("post-create");
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(upload_id(&created[0]), Some(allowed.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_create_reply_chooses_the_id_and_changes_metadata() {
    let receiver = Receiver::start(|event, _| {
        if event["type"] == "pre-create" {
            Answer::json(200, r#"{"id":"chosen-by-hook","metadata":{"owner":"alice","secret":null}}"#)
        } else {
            Answer::ok()
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let server = start_server(dir.path(), &["--hooks-http", &url]);

    // filename "a.txt", secret "x"
    let (path, id) =
        create(&server, &[("Upload-Length", "5"), ("Upload-Metadata", "filename YS50eHQ=,secret eA==")]).await;
    assert_eq!(id, "chosen-by-hook");
    let head = request(server.addr, Method::HEAD, &path, TUS, Bytes::new()).await.unwrap();
    assert_eq!(head.status, 200);
    let metadata: HashSet<_> = head.header("upload-metadata").unwrap().split(',').map(str::to_owned).collect();
    assert_eq!(metadata, HashSet::from(["filename YS50eHQ=".to_owned(), "owner YWxpY2U=".to_owned()]));
    receiver.wait_for("post-create", 1).await;
    let created = &receiver.of("post-create")[0];
    assert_eq!(upload_id(created), Some("chosen-by-hook"));
    assert_eq!(created["upload"]["metadata"]["owner"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_with_the_same_event_id() {
    // The first attempt of every event fails.
    let receiver = Receiver::start(|_, seen| if seen == 0 { Answer::json(500, "") } else { Answer::ok() }).await;
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let server = start_server(dir.path(), &["--hooks-http", &url, "--hooks-retries", "3"]);

    let (path, id) = create(&server, &[("Upload-Length", "3")]).await;
    patch(&server, &path, 0, b"xyz").await;
    receiver.wait_for("post-finish", 2).await;

    let deliveries = receiver.deliveries();
    let mut attempts: HashMap<&str, usize> = HashMap::new();
    for event in &deliveries {
        *attempts.entry(event["id"].as_str().unwrap()).or_default() += 1;
    }
    // pre-create, post-create and post-finish: three events, each delivered twice.
    assert_eq!(attempts.len(), 3, "{deliveries:#?}");
    assert!(attempts.values().all(|&n| n == 2), "{attempts:?}");
    let finishes = receiver.of("post-finish");
    assert_eq!(finishes.len(), 2);
    assert_eq!(finishes[0]["id"], finishes[1]["id"], "a retry never gets a new event ID");
    assert_eq!(finishes[0], finishes[1], "a retry sends the same event");
    assert_eq!(upload_id(&finishes[0]), Some(id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_receiver_makes_blocking_requests_fail_closed() {
    let receiver = Receiver::start(|_, _| Answer { delay: Duration::from_secs(60), ..Answer::ok() }).await;
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let server = start_server(dir.path(), &["--hooks-http", &url, "--hooks-timeout", "300ms", "--hooks-retries", "1"]);

    let refused = post(&server, &[("Upload-Length", "5")]).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("did not answer"), "{}", refused.text());
    let attempts = receiver.of("pre-create");
    assert_eq!(attempts.len(), 2, "one attempt and one retry: {attempts:#?}");
    assert_eq!(attempts[0]["id"], attempts[1]["id"]);
    assert!(receiver.of("post-create").is_empty());
}

/// Writes an executable shell script.
fn write_script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_hook_logs_events_and_rejects_by_exit_code() {
    let scripts = tempfile::tempdir().unwrap();
    let log = scripts.path().join("events.log");
    let env_log = scripts.path().join("env.log");
    let script = write_script(
        scripts.path(),
        "hook.sh",
        &format!(
            r#"event=$(cat)
printf '%s\n' "$event" >> '{log}'
printf '%s %s\n' "$TUS_HOOK_EVENT" "$TUS_HOOK_EVENT_ID" >> '{env}'
# The first post-finish fails: the server retries the same event.
if [ "$TUS_HOOK_EVENT" = post-finish ] && [ ! -e '{marker}' ]; then touch '{marker}'; exit 1; fi
case "$event" in
  *'"filename":"forbidden.txt"'*) echo '{{"reject":{{"status":422,"message":"forbidden.txt is not allowed"}}}}'; exit 1 ;;
  *'"filename":"refused.txt"'*) exit 3 ;;
esac
exit 0
"#,
            log = log.display(),
            env = env_log.display(),
            marker = scripts.path().join("failed-once").display()
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &["--hooks-command", &script]);

    // "forbidden.txt": the script's reply decides the status.
    let forbidden =
        post(&server, &[("Upload-Length", "3"), ("Upload-Metadata", "filename Zm9yYmlkZGVuLnR4dA==")]).await;
    assert_eq!(forbidden.status, 422, "{}", forbidden.text());
    assert!(forbidden.text().contains("forbidden.txt is not allowed"));
    // "refused.txt": a bare non-zero exit is a 403.
    let refused = post(&server, &[("Upload-Length", "3"), ("Upload-Metadata", "filename cmVmdXNlZC50eHQ=")]).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    let (path, id) = create(&server, &[("Upload-Length", "3"), ("Upload-Metadata", "filename b2sudHh0")]).await;
    patch(&server, &path, 0, b"abc").await;

    let read_events = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
            .collect()
    };
    let finished =
        eventually(DELIVERY_WAIT, async || read_events().iter().filter(|e| e["type"] == "post-finish").count() == 2)
            .await;
    assert!(finished, "no retried post-finish in {:#?}", read_events());
    let events = read_events();
    let kinds: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["pre-create", "pre-create", "pre-create", "post-create", "post-finish", "post-finish"]);
    assert_eq!(upload_id(&events[4]), Some(id.as_str()));
    assert_eq!(events[4], events[5], "the retry after a failed exit is the same event, same ID");
    let env_lines: Vec<String> = std::fs::read_to_string(&env_log).unwrap().lines().map(str::to_owned).collect();
    let expected: Vec<String> =
        events.iter().map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["id"].as_str().unwrap())).collect();
    assert_eq!(env_lines, expected, "the environment names the event and its ID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_hook_past_its_timeout_is_killed_and_the_request_fails_closed() {
    let scripts = tempfile::tempdir().unwrap();
    let pid_file = scripts.path().join("pid");
    let script = write_script(
        scripts.path(),
        "slow.sh",
        &format!("cat > /dev/null\necho $$ > '{}'\nexec sleep 60\n", pid_file.display()),
    );
    let dir = tempfile::tempdir().unwrap();
    let server =
        start_server(dir.path(), &["--hooks-command", &script, "--hooks-timeout", "500ms", "--hooks-retries", "0"]);

    let refused = post(&server, &[("Upload-Length", "3")]).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    let pid = std::fs::read_to_string(&pid_file).expect("the hook ran").trim().to_owned();
    // Gone, or a zombie waiting to be reaped: either way no longer running.
    let stat = format!("/proc/{pid}/stat");
    let dead = eventually(Duration::from_secs(5), async || match std::fs::read_to_string(&stat) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    })
    .await;
    assert!(dead, "the timed-out hook command {pid} still runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_replies_fail_with_502_and_4xx_answers_are_not_retried() {
    let receiver = Receiver::start(|event, _| match event["type"].as_str().unwrap() {
        // A typo must not pass for "accept".
        "pre-create" if event["upload"]["length"] == 1 => Answer::json(200, r#"{"rejcet":{"status":403}}"#),
        "post-create" => Answer::json(404, ""),
        _ => Answer::ok(),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let server = start_server(dir.path(), &["--hooks-http", &url, "--hooks-retries", "3"]);

    let invalid = post(&server, &[("Upload-Length", "1")]).await;
    assert_eq!(invalid.status, 502, "{}", invalid.text());
    assert_eq!(receiver.of("pre-create").len(), 1, "an invalid reply is not retried");

    let (path, id) = create(&server, &[("Upload-Length", "2")]).await;
    patch(&server, &path, 0, b"ok").await;
    // post-finish is queued behind post-create: once it arrives, post-create is settled.
    receiver.wait_for("post-finish", 1).await;
    let created = receiver.of("post-create");
    assert_eq!(created.len(), 1, "a 404 answer is final: {created:#?}");
    assert_eq!(upload_id(&created[0]), Some(id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_notifications_are_delivered_before_a_graceful_exit() {
    // A slow receiver: the notifications pile up in the queue.
    let receiver = Receiver::start(|event, _| {
        let slow = event["type"].as_str().unwrap().starts_with("post-");
        Answer { delay: if slow { Duration::from_millis(300) } else { Duration::ZERO }, ..Answer::ok() }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let mut server = start_server(dir.path(), &["--hooks-http", &url]);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (path, id) = create(&server, &[("Upload-Length", "1")]).await;
        patch(&server, &path, 0, b"x").await;
        ids.push(id);
    }
    server.signal("TERM");
    let status = tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(30)));
    assert!(status.is_some_and(|s| s.success()), "the server exits cleanly: {status:?}");
    // Everything was delivered before the process exited, not after.
    let finished: Vec<_> = receiver.of("post-finish").iter().map(|e| upload_id(e).unwrap().to_owned()).collect();
    assert_eq!(finished, ids, "every upload's post-finish, in order");
    assert_eq!(receiver.of("post-create").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_and_pre_terminate_replies_decide_requests_on_existing_uploads() {
    let receiver = Receiver::start(|event, _| match (event["type"].as_str().unwrap(), event["intent"].as_str()) {
        ("authorize", Some("download")) if event["request"]["headers"]["authorization"].is_null() => Answer::json(
            200,
            r#"{"reject":{"status":401,"message":"log in first","headers":{"WWW-Authenticate":"Bearer realm=\"uploads\""}}}"#,
        ),
        ("pre-terminate", _) => Answer::json(200, r#"{"reject":{"status":403,"message":"uploads are kept"}}"#),
        _ => Answer::ok(),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let server = start_server(dir.path(), &["--hooks-http", &url, "--hooks-enabled-events", "authorize,pre-terminate"]);

    let (path, id) = create(&server, &[("Upload-Length", "2")]).await;
    patch(&server, &path, 0, b"hi").await;
    let anonymous = request(server.addr, Method::GET, &path, TUS, Bytes::new()).await.unwrap();
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer realm=\"uploads\""));
    assert!(anonymous.text().contains("log in first"));
    let with_token = [("Tus-Resumable", "1.0.0"), ("Authorization", "Bearer t")];
    let download = request(server.addr, Method::GET, &path, &with_token, Bytes::new()).await.unwrap();
    assert_eq!(download.status, 200);
    assert_eq!(download.body, Bytes::from_static(b"hi"));

    let vetoed = request(server.addr, Method::DELETE, &path, TUS, Bytes::new()).await.unwrap();
    assert_eq!(vetoed.status, 403, "{}", vetoed.text());
    assert!(vetoed.text().contains("uploads are kept"));
    assert_eq!(server.offset(&path).await, 2, "the upload still exists");

    let pre_terminate = receiver.of("pre-terminate");
    assert_eq!(pre_terminate.len(), 1);
    assert_eq!(upload_id(&pre_terminate[0]), Some(id.as_str()));
    assert_eq!(pre_terminate[0]["upload"]["offset"], 2);
    assert_eq!(pre_terminate[0]["request"]["method"], "DELETE");
    // Only the enabled events were delivered.
    assert!(receiver.deliveries().iter().all(|e| e["type"] == "authorize" || e["type"] == "pre-terminate"));
}
