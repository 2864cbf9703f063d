//! Racing PATCHes at offset 0 of one upload, spread over one or more `tus serve` instances
//! that share the upload: at most one writer's bytes may land, at most one writer may be
//! told it succeeded, and the completed upload must equal a serial upload.

use super::{Response, StreamingPatch, TusServer, patch_headers, request, sha256, test_data};
use bytes::Bytes;
use http::Method;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

/// What one racing writer got back.
#[derive(Debug)]
enum Outcome {
    Status(u16, Option<String>, String),
    Failed(#[allow(dead_code)] String),
}

/// One race: `writers` PATCHes, each with its own `total` bytes, writer `i` on
/// `servers[i % servers.len()]`, on a new upload. With `pause`, bodies go out in 32 KiB
/// pieces with that pause between them, so that all are in flight together. Then checks
/// the outcome and completes the upload serially.
pub async fn race(servers: &[TusServer], writers: usize, total: usize, seed: u64, pause: Option<Duration>) {
    let path = servers[0].create(total as u64).await;
    // Each writer has its own bytes, so interleaving would show in the result.
    let bodies: Arc<Vec<Bytes>> =
        Arc::new((0..writers).map(|i| Bytes::from(test_data(total, seed + i as u64))).collect());
    let barrier = Arc::new(Barrier::new(writers));
    let mut tasks = Vec::new();
    for i in 0..writers {
        let (barrier, bodies, path) = (barrier.clone(), bodies.clone(), path.clone());
        let addr = servers[i % servers.len()].addr;
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
            other => panic!("writer {i} (instance {}): unexpected outcome {other:?}", i % servers.len()),
        }
    }
    let summary = summarize(&outcomes);
    eprintln!("{} race: {summary}", if pause.is_some() { "trickled" } else { "whole-body" });
    assert!(winners.len() <= 1, "{} PATCHes at offset 0 all succeeded: {winners:?}", winners.len());

    let offset = servers[0].offset(&path).await as usize;
    for (n, server) in servers.iter().enumerate().skip(1) {
        assert_eq!(server.offset(&path).await as usize, offset, "instance {n} sees another offset");
    }
    assert!(offset > 0, "no writer's bytes landed ({summary})");
    if !winners.is_empty() {
        assert_eq!(offset, total, "a 204 was answered but the upload is not complete");
    }

    // Complete serially with filler after whatever landed (on the last instance), then
    // compare the whole upload (read from the first).
    let filler = test_data(total, 999);
    if offset < total {
        let rest = servers[servers.len() - 1].patch(&path, offset as u64, filler[offset..].to_vec()).await;
        assert_eq!(rest.status, 204, "{rest:?}");
    }
    let stored = servers[0].download(&path).await;
    assert_eq!(stored.len(), total);
    let sources: Vec<usize> = (0..writers).filter(|&i| stored[..offset] == bodies[i][..offset]).collect();
    assert_eq!(sources.len(), 1, "the first {offset} bytes are not one writer's bytes: {sources:?} ({summary})");
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

/// Outcomes counted by status and error code, for the log and failure messages.
fn summarize(outcomes: &[Outcome]) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for outcome in outcomes {
        let key = match outcome {
            Outcome::Status(status, _, text) => format!("{status} {}", text.split(':').next().unwrap_or_default()),
            Outcome::Failed(_) => "connection error".to_owned(),
        };
        *counts.entry(key).or_default() += 1;
    }
    format!("{counts:?}")
}
