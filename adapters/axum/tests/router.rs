//! tus in real axum servers on 127.0.0.1, over SQLite storage in temporary directories.
//! (The example app's tests add the 1 GiB streaming and disconnect checks.)

use axum::extract::FromRef;
use axum::routing::get;
use axum::{Json, Router};
use std::net::SocketAddr;
use tus_axum::{FinishedUpload, TusNest, Uploads};
use tus_core::TusLayer;
use tus_example_harness::{Client, Pattern};
use tus_sqlite::SqliteStorage;

/// Serves `app` on a free port until the test ends.
async fn serve(app: Router) -> Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Client::new(addr, None)
}

fn layer(dir: &tempfile::TempDir) -> TusLayer {
    TusLayer::new(SqliteStorage::open(dir.path()).unwrap())
}

/// Uploads 200 kB at `collection` and checks every step; returns the upload's path.
async fn upload_through(client: &Client, collection: &str) -> String {
    let pattern = Pattern::new(200_000, 9);
    let reply = client.call("POST", collection, &[("upload-length", "200000")]).await;
    reply.expect(201, "POST");
    let location = reply.header("location").unwrap().to_owned();
    assert!(location.starts_with(&format!("{collection}/")), "Location {location} under {collection}");
    client.patch(&location, 0, pattern.bytes(0..120_000)).await.expect(204, "PATCH");
    client.patch(&location, 120_000, pattern.bytes(120_000..200_000)).await.expect(204, "PATCH");
    assert_eq!(client.head(&location).await.offset(), Some(200_000));
    let download = client.download(&location).await;
    assert_eq!((download.status, download.sha256), (200, pattern.sha256()));
    location
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_works_on_a_router_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let app = Router::new().route("/api", get(|| async { "api" })).layer(layer(&dir));
    let client = serve(app).await;
    upload_through(&client, "/files").await;
    assert_eq!(client.get("/api").await.text(), "api");
    let unknown = client.get("/unknown").await;
    unknown.expect(404, "GET /unknown");
    assert!(unknown.header("tus-resumable").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_on_the_top_router_serves_a_nested_path() {
    let dir = tempfile::tempdir().unwrap();
    let api = Router::new().route("/health", get(|| async { "ok" }));
    let app = Router::new().nest("/api", api).layer(layer(&dir).base_path("/api/files"));
    let client = serve(app).await;
    upload_through(&client, "/api/files").await;
    assert_eq!(client.get("/api/health").await.text(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_nest_serves_a_nested_router_with_right_locations() {
    let dir = tempfile::tempdir().unwrap();
    let api = Router::new()
        .route("/health", get(|| async { "ok" }))
        .nest_service("/files", TusNest::new("/api/v1/files", layer(&dir)));
    let app = Router::new().nest("/api/v1", api).route("/", get(|| async { "root" }));
    let client = serve(app).await;
    upload_through(&client, "/api/v1/files").await;
    client.call("OPTIONS", "/api/v1/files/", &[]).await.expect(204, "OPTIONS with a trailing slash");
    assert_eq!(client.get("/api/v1/health").await.text(), "ok");
    assert_eq!(client.get("/").await.text(), "root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_nest_reports_a_base_path_that_misses_the_mount() {
    let dir = tempfile::tempdir().unwrap();
    let api = Router::new().nest_service("/files", TusNest::new("/files", layer(&dir)));
    let client = serve(Router::new().nest("/api", api)).await;
    let reply = client.call("POST", "/api/files", &[("upload-length", "1")]).await;
    reply.expect(500, "a base path without the prefix of the enclosing router");
    assert!(reply.text().contains("full path"), "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_on_a_nested_router_never_sees_unrouted_paths() {
    // Why TusNest exists: axum drops the default fallback of a nested router.
    let dir = tempfile::tempdir().unwrap();
    let api = Router::new().route("/health", get(|| async { "ok" })).layer(layer(&dir).base_path("/api/files"));
    let client = serve(Router::new().nest("/api", api)).await;
    let reply = client.call("POST", "/api/files", &[("upload-length", "1")]).await;
    reply.expect(404, "POST to tus layered on a nested router");
    assert!(reply.header("tus-resumable").is_none());
}

#[derive(Clone)]
struct AppState {
    uploads: Uploads,
}

impl FromRef<AppState> for Uploads {
    fn from_ref(state: &AppState) -> Self {
        state.uploads.clone()
    }
}

async fn describe(FinishedUpload(upload): FinishedUpload) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "id": upload.id.to_string(),
        "size": upload.offset,
        "filename": upload.metadata.get_str("filename"),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extractor_reads_finished_uploads_only() {
    let dir = tempfile::tempdir().unwrap();
    let layer = layer(&dir);
    let state = AppState { uploads: Uploads::new(&layer) };
    let app = Router::new().route("/uploads/{id}", get(describe)).layer(layer).with_state(state);
    let client = serve(app).await;

    let upload = client.create(4, Some("four.txt")).await;
    let path = format!("/uploads/{}", upload.id);
    client.get(&path).await.expect(409, "an unfinished upload");
    client.patch(&upload.path, 0, "four").await.expect(204, "PATCH");
    let reply = client.get(&path).await;
    reply.expect(200, "a finished upload");
    assert_eq!(reply.json(), serde_json::json!({ "id": upload.id, "size": 4, "filename": "four.txt" }));

    client.get("/uploads/unknown").await.expect(404, "an unknown upload");
    client.get("/uploads/%2e%2e").await.expect(400, "an invalid id");
    client.call("DELETE", &upload.path, &[]).await.expect(204, "DELETE");
    client.get(&path).await.expect(410, "a terminated upload");
}
