//! 50 PATCHes at the same offset, at the same moment, against the binary and its SQLite
//! storage: at most one writer's bytes land, every other request is refused (409/423) or
//! cut off, and the stored bytes are exactly one writer's followed by a serial completion.

mod common;

use bytes::Bytes;
use common::{MIB, Response, StreamingPatch, TusServer, patch_headers, request, sha256, test_data};
use http::Method;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

const WRITERS: usize = 50;

#[derive(Debug)]
enum Outcome {
    Status(u16, Option<String>, String),
    Failed(#[allow(dead_code)] String),
}

/// Whole bodies sent at once: typically the first writer finishes before the others
/// get the lock, and they find the offset moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_patches_at_one_offset() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    for round in 0..3 {
        race(&server, 2 * MIB, 100 * (round + 1), None).await;
    }
}

/// Bodies trickled in small pieces, so that all 50 are in flight together: each newcomer
/// asks the lock holder to stop, which keeps what it received and answers 423. Still
/// only one writer's bytes may land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_slow_patches_at_one_offset() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    for round in 0..2 {
        race(&server, MIB, 1_000 * (round + 1), Some(Duration::from_millis(5))).await;
    }
}

/// One race on a new upload of `total` bytes; with `pause`, bodies go out in 32 KiB pieces
/// with that pause between them.
async fn race(server: &TusServer, total: usize, seed: u64, pause: Option<Duration>) {
    let path = server.create(total as u64).await;
    // Each writer has its own bytes, so interleaving would show in the result.
    let bodies: Arc<Vec<Bytes>> =
        Arc::new((0..WRITERS).map(|i| Bytes::from(test_data(total, seed + i as u64))).collect());

    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (barrier, bodies, path, addr) = (barrier.clone(), bodies.clone(), path.clone(), server.addr);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let result = match pause {
                None => request(addr, Method::PATCH, &path, &patch_headers(0), bodies[i].clone()).await,
                Some(pause) => trickle(addr, &path, &bodies[i], pause).await,
            };
            match result {
                Ok(r) => Outcome::Status(r.status, r.header("upload-offset").map(str::to_owned), r.text()),
                Err(e) => Outcome::Failed(e),
            }
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }

    let mut winners = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Outcome::Status(204, offset, _) => {
                assert_eq!(offset.as_deref(), Some(total.to_string().as_str()), "writer {i}: {outcome:?}");
                winners.push(i);
            }
            Outcome::Status(409 | 423, _, _) | Outcome::Failed(_) => {}
            other => panic!("writer {i}: unexpected outcome {other:?}"),
        }
    }
    let summary = summarize(&outcomes);
    eprintln!("outcomes: {summary}");
    assert!(winners.len() <= 1, "{} PATCHes at offset 0 all succeeded: {winners:?}", winners.len());

    let offset = server.offset(&path).await as usize;
    assert!(offset > 0, "no writer's bytes landed ({summary})");
    if !winners.is_empty() {
        assert_eq!(offset, total, "a 204 was answered but the upload is not complete");
    }

    // Complete serially with filler after whatever landed, then compare the whole file.
    let filler = test_data(total, 999);
    if offset < total {
        let rest = server.patch(&path, offset as u64, filler[offset..].to_vec()).await;
        assert_eq!(rest.status, 204, "{rest:?}");
    }
    let stored = server.download(&path).await;
    assert_eq!(stored.len(), total);
    let sources: Vec<usize> = (0..WRITERS).filter(|&i| stored[..offset] == bodies[i][..offset]).collect();
    assert_eq!(
        sources.len(),
        1,
        "the first {offset} stored bytes are not one writer's bytes (matching writers: {sources:?}); ({summary})"
    );
    if let Some(&winner) = winners.first() {
        assert_eq!(sources[0], winner, "the 204 went to a writer whose bytes were not stored");
    }
    let mut serial = bodies[sources[0]][..offset].to_vec();
    serial.extend_from_slice(&filler[offset..]);
    assert_eq!(sha256(&stored), sha256(&serial), "the result differs from a serial upload");
}

/// A PATCH at offset 0 whose body goes out in 32 KiB pieces with `pause` in between;
/// stops sending as soon as the server has answered.
async fn trickle(addr: SocketAddr, path: &str, body: &Bytes, pause: Duration) -> Result<Response, String> {
    let mut patch = StreamingPatch::start(addr, path, 0, body.len() as u64).await;
    for piece in body.chunks(32 * 1024) {
        if patch.response.is_finished() || patch.body.send(Bytes::copy_from_slice(piece)).await.is_err() {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    (&mut patch.response).await.map_err(|e| e.to_string())?
}

fn summarize(outcomes: &[Outcome]) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for outcome in outcomes {
        let key = match outcome {
            Outcome::Status(status, _, text) => {
                format!("{status} {}", text.split(':').next().unwrap_or_default())
            }
            Outcome::Failed(_) => "connection error".to_owned(),
        };
        *counts.entry(key).or_default() += 1;
    }
    format!("{counts:?}")
}
