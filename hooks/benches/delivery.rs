//! Hook delivery figures: the round trip of a blocking webhook and command hook, and how
//! fast the notification queue drains, against a receiver on loopback. Prints a table.
//!
//! `cargo bench -p tus-hooks` (sizes: `TUS_HOOKS_BENCH_N`, default 2000).

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tus_core::{Hooks, UploadInfo};
use tus_hooks::{CommandTransport, DeliveryPolicy, EventKind, HookEvent, HttpTransport, Transport, TransportHooks};

/// A webhook receiver that accepts everything with an empty reply.
async fn receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
                use http_body_util::BodyExt as _;
                let _ = request.into_body().collect().await;
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    format!("http://{addr}/events")
}

/// Median, 99th percentile and rate of sequential round trips.
struct Latencies {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

async fn round_trips(transport: &dyn Transport, n: usize) -> Latencies {
    let policy = DeliveryPolicy::default().retries(0);
    let info = sample_upload();
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let event = HookEvent::new(EventKind::PreTerminate, Some(tus_hooks::UploadState::from_info(&info))).encode();
        let t = Instant::now();
        policy.deliver(transport, &event).await.expect("delivered");
        samples.push(t.elapsed());
    }
    let total = started.elapsed();
    samples.sort();
    Latencies {
        p50: samples[n / 2],
        p99: samples[(n * 99 / 100).min(n - 1)],
        per_second: n as f64 / total.as_secs_f64(),
    }
}

fn sample_upload() -> UploadInfo {
    let mut info = UploadInfo::new("3f2a9c0d1e4b5a6f7081920a3b4c5d6e".parse().expect("id"));
    info.length = Some(1 << 20);
    info.offset = 1 << 20;
    info.metadata.insert("filename", "photo.jpg");
    info.metadata.insert("filetype", "image/jpeg");
    info
}

fn row(name: &str, n: usize, l: &Latencies) {
    println!(
        "| {name} | {n} | {:.3} | {:.3} | {:.0} |",
        l.p50.as_secs_f64() * 1e3,
        l.p99.as_secs_f64() * 1e3,
        l.per_second
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("TUS_HOOKS_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let url = receiver().await;
    let http = HttpTransport::new(&url).expect("transport");

    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("hook.sh");
    std::fs::write(&script, "#!/bin/sh\ncat > /dev/null\n").expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let command = CommandTransport::new(&script);

    println!("| delivery | events | p50 ms | p99 ms | events/s |");
    println!("|---|---|---|---|---|");
    row("webhook, blocking round trip", n, &round_trips(&http, n).await);
    let spawns = (n / 10).max(10);
    row("command hook (/bin/sh), blocking round trip", spawns, &round_trips(&command, spawns).await);

    // Notifications: what a request pays to enqueue, and how fast the queue drains.
    let hooks = TransportHooks::new(http).queue_capacity(n);
    let info = sample_upload();
    let mut enqueue = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        hooks.post_finish(&info).await;
        enqueue.push(t.elapsed());
    }
    assert!(hooks.flush(Duration::from_secs(120)).await, "the queue drained");
    let total = started.elapsed();
    enqueue.sort();
    row(
        "webhook notifications: enqueue (p50/p99), drain (events/s)",
        n,
        &Latencies {
            p50: enqueue[n / 2],
            p99: enqueue[(n * 99 / 100).min(n - 1)],
            per_second: n as f64 / total.as_secs_f64(),
        },
    );
}
