//! `RedisLocker` against a real redis-server: locking, release requests within one process
//! and across instances, leases, and what happens when Redis goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tus_core::{LockError, Locker, UploadId};
use tus_redis::test_server::{RedisServer, free_port};
use tus_redis::{ConnectError, RedisLocker};

fn id(name: &str) -> UploadId {
    UploadId::new(name).unwrap()
}

async fn locker(redis: &RedisServer) -> RedisLocker {
    RedisLocker::builder(redis.url()).connect_timeout(Duration::from_millis(500)).connect().await.unwrap()
}

async fn locker_with_ttl(redis: &RedisServer, ttl: Duration) -> RedisLocker {
    RedisLocker::builder(redis.url())
        .lease_ttl(ttl)
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap()
}

async fn get(redis: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(redis).await.unwrap()
}

async fn eventually(timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn lock_and_unlock() {
    let redis = RedisServer::start();
    let locker = locker(&redis).await;
    let mut plain = redis.connection().await;

    let lock = locker.lock(&id("a"), Duration::from_secs(1)).await.unwrap();
    assert_eq!(locker.held_locks(), 1);
    let token = get(&mut plain, "tus:lock:a").await.expect("the lease key exists while held");
    assert_eq!(token.len(), 32, "a random hex token: {token}");
    let ttl: i64 = redis::cmd("PTTL").arg("tus:lock:a").query_async(&mut plain).await.unwrap();
    assert!(ttl > 25_000 && ttl <= 30_000, "the default lease is 30 s: {ttl} ms left");
    assert!(!lock.stop_signal().is_cancelled());

    lock.release().await;
    assert_eq!(locker.held_locks(), 0);
    assert_eq!(get(&mut plain, "tus:lock:a").await, None, "released: the key is gone");

    // Again, with a fresh token each time; other uploads are independent.
    let again = locker.lock(&id("a"), Duration::from_secs(1)).await.unwrap();
    let other = locker.lock(&id("b"), Duration::from_millis(100)).await.unwrap();
    let second = get(&mut plain, "tus:lock:a").await.unwrap();
    assert_ne!(second, token, "each acquisition has its own token");
    assert_eq!(locker.held_locks(), 2);
    again.release().await;
    other.release().await;
    assert_eq!(locker.held_locks(), 0);
    assert_eq!(locker.waiting(), 0);
}

#[tokio::test]
async fn key_prefix_is_used_for_keys() {
    let redis = RedisServer::start();
    let locker = RedisLocker::builder(redis.url()).key_prefix("app1:").connect().await.unwrap();
    let other_app = RedisLocker::builder(redis.url()).key_prefix("app2:").connect().await.unwrap();
    let mut plain = redis.connection().await;
    let lock = locker.lock(&id("x"), Duration::from_secs(1)).await.unwrap();
    assert!(get(&mut plain, "app1:lock:x").await.is_some());
    // Another prefix is another namespace: no contention, no release request.
    let unrelated = other_app.lock(&id("x"), Duration::from_millis(200)).await.unwrap();
    assert!(!lock.stop_signal().is_cancelled());
    unrelated.release().await;
    lock.release().await;
}

#[tokio::test]
async fn a_holder_that_ignores_the_request_makes_the_waiter_time_out() {
    let redis = RedisServer::start();
    let locker = locker(&redis).await;
    let first = locker.lock(&id("a"), Duration::from_secs(1)).await.unwrap();

    let started = Instant::now();
    let err = locker.lock(&id("a"), Duration::from_millis(300)).await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, LockError::Timeout), "{err:?}");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2), "waited {waited:?}");
    assert!(first.stop_signal().is_cancelled(), "the waiter asked the holder to stop");
    assert_eq!(locker.waiting(), 0);

    first.release().await;
    locker.lock(&id("a"), Duration::from_millis(300)).await.unwrap().release().await;
}

#[tokio::test]
async fn a_waiter_asks_the_local_holder_to_stop_and_gets_the_lock() {
    let redis = RedisServer::start();
    let locker = locker(&redis).await;
    let first = locker.lock(&id("a"), Duration::from_secs(1)).await.unwrap();
    let stop = first.stop_signal();
    let holder = tokio::spawn(async move {
        stop.cancelled().await;
        let lost = first.lease_lost();
        first.release().await;
        lost
    });
    let started = Instant::now();
    let second = locker.lock(&id("a"), Duration::from_secs(5)).await.unwrap();
    let waited = started.elapsed();
    let first_lost = holder.await.unwrap();
    assert!(!first_lost, "a release request is not a lost lease");
    assert!(!second.stop_signal().is_cancelled());
    assert!(waited < Duration::from_millis(500), "took {waited:?}");
    second.release().await;
    assert_eq!(locker.held_locks(), 0);
}

/// Two instances with their own connections: the request on B reaches A's holder through
/// pub/sub, A lets go, B is woken by the release notice.
#[tokio::test]
async fn a_release_request_reaches_a_holder_on_another_instance() {
    let redis = RedisServer::start();
    let a = locker(&redis).await;
    let b = locker(&redis).await;
    for round in 0..5 {
        let held = a.lock(&id("shared"), Duration::from_secs(1)).await.unwrap();
        let stop = held.stop_signal();
        let holder = tokio::spawn(async move {
            stop.cancelled().await;
            held.release().await;
        });
        let started = Instant::now();
        let taken = b.lock(&id("shared"), Duration::from_secs(5)).await.unwrap();
        let waited = started.elapsed();
        holder.await.unwrap();
        eprintln!("round {round}: took the lock from the other instance in {waited:?}");
        assert!(waited < Duration::from_millis(500), "took {waited:?}");
        assert_eq!(a.held_locks(), 0);
        assert_eq!(b.held_locks(), 1);
        taken.release().await;
    }
}

/// Many requests on two instances, each holding for a moment and ignoring stop requests:
/// never two holders at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_two_holders_at_once() {
    let redis = RedisServer::start();
    let lockers = [locker(&redis).await, locker(&redis).await];
    let inside = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (locker, inside, done) = (lockers[i % 2].clone(), inside.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let lock = locker.lock(&id("hot"), Duration::from_secs(30)).await.unwrap();
            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
            tokio::time::sleep(Duration::from_millis(5)).await;
            inside.fetch_sub(1, Ordering::SeqCst);
            lock.release().await;
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 40);
    assert_eq!(lockers[0].held_locks() + lockers[1].held_locks(), 0);
}

#[tokio::test]
async fn renewals_keep_a_long_hold_alive_past_the_ttl() {
    let redis = RedisServer::start();
    let ttl = Duration::from_millis(600);
    let a = locker_with_ttl(&redis, ttl).await;
    let b = locker_with_ttl(&redis, ttl).await;
    let mut plain = redis.connection().await;
    let lock = a.lock(&id("long"), Duration::from_secs(1)).await.unwrap();
    let token = get(&mut plain, "tus:lock:long").await.unwrap();
    for _ in 0..8 {
        tokio::time::sleep(ttl / 2).await;
        assert!(!lock.stop_signal().is_cancelled(), "a renewed lease is not lost");
        assert_eq!(get(&mut plain, "tus:lock:long").await.as_deref(), Some(token.as_str()));
        assert!(b.try_lock(&id("long")).await.unwrap().is_none(), "another instance cannot take it");
    }
    lock.release().await;
    assert!(b.try_lock(&id("long")).await.unwrap().is_some());
}

#[tokio::test]
async fn losing_the_lease_cancels_the_stop_signal() {
    let redis = RedisServer::start();
    let ttl = Duration::from_millis(600);
    let locker = locker_with_ttl(&redis, ttl).await;
    let mut plain = redis.connection().await;
    let lock = locker.lock(&id("lost"), Duration::from_secs(1)).await.unwrap();
    let () = redis::cmd("DEL").arg("tus:lock:lost").query_async(&mut plain).await.unwrap();
    let deleted = Instant::now();
    tokio::time::timeout(ttl, lock.stop_signal().cancelled()).await.expect("the holder is told to stop");
    eprintln!("lease loss noticed {:?} after the DEL", deleted.elapsed());
    assert!(lock.lease_lost(), "the holder can tell a lost lease from a release request");

    // Someone else took the upload meanwhile: releasing must not delete their lease.
    let () = redis::cmd("SET").arg("tus:lock:lost").arg("someone-else").query_async(&mut plain).await.unwrap();
    lock.release().await;
    assert_eq!(get(&mut plain, "tus:lock:lost").await.as_deref(), Some("someone-else"));
}

#[tokio::test]
async fn try_lock_never_disturbs_a_holder() {
    let redis = RedisServer::start();
    let a = locker(&redis).await;
    let b = locker(&redis).await;
    let held = a.lock(&id("t"), Duration::from_secs(1)).await.unwrap();
    assert!(!held.lease_lost());
    assert!(b.try_lock(&id("t")).await.unwrap().is_none());
    assert!(a.try_lock(&id("t")).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.stop_signal().is_cancelled(), "try_lock sent no release request");
    held.release().await;
    let taken = b.try_lock(&id("t")).await.unwrap().expect("free now");
    assert_eq!(b.held_locks(), 1);
    taken.release().await;
}

/// A holder that died without releasing (its process is gone): the lease expires and a
/// waiter takes over.
#[tokio::test]
async fn a_dead_holders_lease_expires() {
    let redis = RedisServer::start();
    let locker = locker(&redis).await;
    let mut plain = redis.connection().await;
    let () = redis::cmd("SET")
        .arg("tus:lock:orphan")
        .arg("dead-instance")
        .arg("PX")
        .arg(800)
        .query_async(&mut plain)
        .await
        .unwrap();
    let started = Instant::now();
    let lock = locker.lock(&id("orphan"), Duration::from_secs(5)).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(600) && waited < Duration::from_secs(2), "took {waited:?}");
    lock.release().await;
}

#[tokio::test]
async fn a_dropped_lock_is_released() {
    let redis = RedisServer::start();
    let a = locker(&redis).await;
    let b = locker(&redis).await;
    let mut plain = redis.connection().await;
    drop(a.lock(&id("d"), Duration::from_secs(1)).await.unwrap());
    assert_eq!(a.held_locks(), 0);
    let started = Instant::now();
    b.lock(&id("d"), Duration::from_secs(5)).await.unwrap().release().await;
    assert!(started.elapsed() < Duration::from_secs(1), "the drop released at once, not after the TTL");
    assert_eq!(get(&mut plain, "tus:lock:d").await, None);
}

/// Keeps Redis busy for `millis` ms with a spinning script, so that commands sent meanwhile
/// are answered only after it.
async fn stall(redis: &RedisServer, millis: u64) -> tokio::task::JoinHandle<()> {
    const SPIN: &str = "local t = redis.call('TIME'); local start = t[1] * 1000000 + t[2]; \
        while true do local n = redis.call('TIME'); \
        if n[1] * 1000000 + n[2] - start > tonumber(ARGV[1]) * 1000 then return 1 end end";
    let mut plain = redis.connection().await;
    let task = tokio::spawn(async move {
        let _: i64 = redis::cmd("EVAL").arg(SPIN).arg(0).arg(millis).query_async(&mut plain).await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    task
}

/// A `lock` call cancelled after its `SET` was sent but before the answer came back (a
/// client that went away) leaves no lease behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_lock_calls_leave_no_lease() {
    let redis = RedisServer::start();
    let locker = locker(&redis).await;
    let mut plain = redis.connection().await;
    // Once, so the script is cached and the cut call sends the SET itself (EVALSHA).
    locker.lock(&id("c"), Duration::from_secs(1)).await.unwrap().release().await;
    for round in 0..3 {
        let stalled = stall(&redis, 100).await;
        let cut = tokio::time::timeout(Duration::from_millis(20), locker.lock(&id("c"), Duration::from_secs(1))).await;
        assert!(cut.is_err(), "round {round}: the lock call was not cut while Redis was busy");
        stalled.await.unwrap();
        assert!(
            eventually(Duration::from_secs(2), async || get(&mut plain, "tus:lock:c").await.is_none()).await,
            "round {round}: a cancelled acquisition left its lease"
        );
    }
    assert_eq!(locker.held_locks(), 0);
    assert_eq!(locker.waiting(), 0);
    // And a lock call cut while waiting for a holder neither disturbs it nor stays waiting.
    let held = locker.lock(&id("c"), Duration::from_secs(1)).await.unwrap();
    let cut = tokio::time::timeout(Duration::from_millis(50), locker.lock(&id("c"), Duration::from_secs(5))).await;
    assert!(cut.is_err());
    assert_eq!(locker.waiting(), 0);
    assert_eq!(locker.held_locks(), 1);
    held.release().await;
}

/// Redis down: `lock` and `try_lock` answer Unavailable within the connection timeout,
/// holders are told to stop before their lease could expire, and everything works again
/// when Redis is back on the same address.
#[tokio::test]
async fn redis_down_means_unavailable_quickly_then_recovery() {
    let mut redis = RedisServer::start();
    let ttl = Duration::from_millis(900);
    let timeout = Duration::from_millis(300);
    let locker = RedisLocker::builder(redis.url()).lease_ttl(ttl).connect_timeout(timeout).connect().await.unwrap();
    let held = locker.lock(&id("h"), Duration::from_secs(1)).await.unwrap();
    assert!(locker.is_subscribed());
    locker.health().await.expect("PING answers while Redis runs");

    redis.kill();
    let killed = Instant::now();
    for attempt in 0..3 {
        let started = Instant::now();
        let err = locker.lock(&id("other"), Duration::from_secs(10)).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, LockError::Unavailable(_)), "{err:?}");
        assert!(took <= timeout + Duration::from_millis(200), "attempt {attempt}: took {took:?}");
        eprintln!("attempt {attempt}: Unavailable after {took:?}: {err}");
    }
    assert!(matches!(locker.try_lock(&id("other")).await, Err(LockError::Unavailable(_))));
    let started = Instant::now();
    assert!(matches!(locker.health().await, Err(LockError::Unavailable(_))), "the health check fails");
    assert!(started.elapsed() <= timeout + Duration::from_millis(200), "the health check is bounded");

    tokio::time::timeout(ttl * 2, held.stop_signal().cancelled()).await.expect("the holder is told to stop");
    let told = killed.elapsed();
    assert!(told < ttl + timeout, "told to stop {told:?} after Redis died; the lease was {ttl:?}");
    assert!(held.lease_lost(), "a lease that cannot be renewed counts as lost");
    held.release().await; // cannot reach Redis: logs, does not hang past the timeout
    assert_eq!(locker.held_locks(), 0);

    redis.restart();
    let recovered =
        eventually(Duration::from_secs(5), async || match locker.lock(&id("h"), Duration::from_millis(200)).await {
            Ok(lock) => {
                lock.release().await;
                true
            }
            Err(_) => false,
        })
        .await;
    assert!(recovered, "locks work again once Redis is back");
    locker.health().await.expect("PING answers again");
    assert!(eventually(Duration::from_secs(5), async || locker.is_subscribed()).await, "the subscription came back");

    // Release requests flow again across instances after the outage.
    let other = RedisLocker::builder(redis.url()).connect().await.unwrap();
    let held = locker.lock(&id("h"), Duration::from_secs(1)).await.unwrap();
    let stop = held.stop_signal();
    let holder = tokio::spawn(async move {
        stop.cancelled().await;
        held.release().await;
    });
    other.lock(&id("h"), Duration::from_secs(3)).await.unwrap().release().await;
    holder.await.unwrap();
}

#[tokio::test]
async fn connecting_to_nothing_fails_fast() {
    let port = free_port();
    let started = Instant::now();
    let err = RedisLocker::builder(format!("redis://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(err.to_string().starts_with(&format!("cannot reach Redis at redis://127.0.0.1:{port}: ")), "{err}");

    let err = RedisLocker::connect("http://127.0.0.1:1").await.unwrap_err();
    assert!(matches!(err, ConnectError::InvalidUrl(_)), "{err:?}");
    let with_password = RedisLocker::connect(format!("redis://:hunter2@127.0.0.1:{port}")).await.unwrap_err();
    assert!(!with_password.to_string().contains("hunter2"), "{with_password}");
    assert!(with_password.to_string().contains(":***@"), "{with_password}");
}

/// A release publishes on the `released` channel only when an attempt found the lock held
/// since it was taken: most releases have no waiter, and their message would wake every
/// instance's subscription for nothing.
#[tokio::test]
async fn a_release_is_announced_only_when_someone_waited() {
    use futures_util::StreamExt as _;
    let redis = RedisServer::start();
    let a = locker(&redis).await;
    let b = locker(&redis).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.psubscribe("tus:released:*").await.unwrap();
    let mut messages = pubsub.on_message();
    let next = async |messages: &mut (dyn futures_util::Stream<Item = redis::Msg> + Unpin + Send)| {
        tokio::time::timeout(Duration::from_millis(300), messages.next()).await.ok().flatten()
    };

    // Nobody waited: nothing is published.
    a.lock(&id("quiet"), Duration::from_secs(1)).await.unwrap().release().await;
    assert!(next(&mut messages).await.is_none(), "a release nobody waited for was announced");

    // b found the lock held: the release is announced, once.
    let held = a.lock(&id("busy"), Duration::from_secs(1)).await.unwrap();
    assert!(b.try_lock(&id("busy")).await.unwrap().is_none());
    held.release().await;
    let message = next(&mut messages).await.expect("the release after a failed attempt is announced");
    assert_eq!(message.get_channel_name(), "tus:released:busy");
    let again = a.lock(&id("busy"), Duration::from_secs(1)).await.unwrap();
    again.release().await;
    assert!(next(&mut messages).await.is_none(), "the marker is used up by the release that announced it");
}

/// A waiter on another instance is woken by the release itself, long before its next poll.
#[tokio::test]
async fn a_waiter_on_another_instance_wakes_on_the_release_not_the_poll() {
    let redis = RedisServer::start();
    let a = locker(&redis).await;
    let b = RedisLocker::builder(redis.url())
        .poll_interval(Duration::from_secs(30))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    for round in 0..3 {
        // The holder ignores b's request to let go, then releases on its own.
        let held = a.lock(&id("wake"), Duration::from_secs(1)).await.unwrap();
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.lock(&id("wake"), Duration::from_secs(10)).await.map(|lock| (lock, Instant::now())) }
        });
        assert!(eventually(Duration::from_secs(2), async || b.waiting() == 1).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let released = Instant::now();
        held.release().await;
        let (lock, taken) = waiter.await.unwrap().unwrap();
        let after = taken - released;
        eprintln!("round {round}: the other instance took the lock {after:?} after the release");
        assert!(after < Duration::from_secs(5), "woken by its poll, not the release: {after:?}");
        lock.release().await;
    }
}
