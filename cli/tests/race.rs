//! 50 PATCHes at the same offset, at the same moment, against the binary and its SQLite
//! storage: at most one writer's bytes land, every other request is refused (409/423) or
//! cut off, and the stored bytes are exactly one writer's followed by a serial completion.

mod common;

use common::{MIB, TusServer, race::race};
use std::time::Duration;

const WRITERS: usize = 50;

/// Whole bodies sent at once: typically the first writer finishes before the others
/// get the lock, and they find the offset moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_patches_at_one_offset() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(dir.path(), &[]);
    for round in 0..3 {
        race(std::slice::from_ref(&server), WRITERS, 2 * MIB, 100 * (round + 1), None).await;
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
        race(std::slice::from_ref(&server), WRITERS, MIB, 1_000 * (round + 1), Some(Duration::from_millis(5))).await;
    }
}
