//! The example app over real HTTP: its binary, started on a free port with SQLite data in a
//! temporary directory, against the shared scenarios of `tus-example-harness`.

use tus_example_harness::{mib, scenarios};

const BINARY: &str = env!("CARGO_BIN_EXE_actix-app");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_roundtrip() {
    scenarios::upload_roundtrip(BINARY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_routes_pass_through() {
    scenarios::host_routes_pass_through(BINARY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_check() {
    scenarios::bearer_check(BINARY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_mid_patch() {
    scenarios::disconnect_mid_patch(BINARY).await;
}

/// 1 GiB in one PATCH and back in one GET, with the server's peak RSS at most 32 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_streams_with_bounded_memory() {
    scenarios::streaming_memory(BINARY, mib(1024), mib(32)).await;
}
