//! The cost of a lock: lock + release round trips with `RedisLocker` against a local
//! redis-server, next to `MemoryLocker`, and the time a release request takes to move a
//! lock from one instance to another. Numbers for the bench, not a pass/fail check:
//!
//! ```text
//! cargo test -p tus-redis --release --test latency -- --ignored --nocapture
//! ```

use std::time::{Duration, Instant};
use tus_core::{Locker, MemoryLocker, UploadId};
use tus_redis::RedisLocker;
use tus_redis::test_server::RedisServer;

const ROUNDS: usize = 5_000;

struct Stats(Vec<Duration>);

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sorted = self.0.clone();
        sorted.sort();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
        let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
        write!(f, "mean {mean:?}, p50 {:?}, p99 {:?}, max {:?} (n={})", at(0.5), at(0.99), at(1.0), sorted.len())
    }
}

async fn round_trips(locker: &impl Locker, ids: &[UploadId]) -> Stats {
    let mut samples = Vec::with_capacity(ids.len());
    for id in ids {
        let started = Instant::now();
        let lock = locker.lock(id, Duration::from_secs(1)).await.unwrap();
        lock.release().await;
        samples.push(started.elapsed());
    }
    Stats(samples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn lock_round_trip_latency() {
    let ids: Vec<UploadId> = (0..ROUNDS).map(|i| UploadId::new(format!("upload-{}", i % 64)).unwrap()).collect();

    let memory = MemoryLocker::new();
    round_trips(&memory, &ids[..500]).await; // warm-up
    println!("MemoryLocker  lock+release: {}", round_trips(&memory, &ids).await);

    let redis = RedisServer::start();
    let locker = RedisLocker::connect(redis.url()).await.unwrap();
    round_trips(&locker, &ids[..500]).await;
    println!("RedisLocker   lock+release: {}", round_trips(&locker, &ids).await);

    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let lock = locker.try_lock(&ids[0]).await.unwrap().unwrap();
        lock.release().await;
        samples.push(started.elapsed());
    }
    println!("RedisLocker   try_lock+release: {}", Stats(samples));

    // A holder on instance A, a request on instance B: from B's lock call to B holding it
    // (release request over pub/sub, A lets go, B woken by the release notice).
    let other = RedisLocker::connect(redis.url()).await.unwrap();
    let mut samples = Vec::new();
    for _ in 0..500 {
        let held = locker.lock(&ids[1], Duration::from_secs(1)).await.unwrap();
        let stop = held.stop_signal();
        let holder = tokio::spawn(async move {
            stop.cancelled().await;
            held.release().await;
        });
        let started = Instant::now();
        let taken = other.lock(&ids[1], Duration::from_secs(5)).await.unwrap();
        samples.push(started.elapsed());
        holder.await.unwrap();
        taken.release().await;
    }
    println!("RedisLocker   handover across instances: {}", Stats(samples));

    let memory_handover = MemoryLocker::new();
    let mut samples = Vec::new();
    for _ in 0..500 {
        let held = memory_handover.lock(&ids[1], Duration::from_secs(1)).await.unwrap();
        let stop = held.stop_signal();
        let holder = tokio::spawn(async move {
            stop.cancelled().await;
            held.release().await;
        });
        let started = Instant::now();
        let taken = memory_handover.lock(&ids[1], Duration::from_secs(5)).await.unwrap();
        samples.push(started.elapsed());
        holder.await.unwrap();
        taken.release().await;
    }
    println!("MemoryLocker  handover within the process: {}", Stats(samples));
}
