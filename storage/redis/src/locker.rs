//! [`RedisLocker`]: leases in Redis, release requests over pub/sub.

use crate::builder::{ConnectError, RedisLockerBuilder};
use crate::connection::{BackendError, Commands};
use crate::keys::Keys;
use crate::subscriber::{self, Registry};
use async_trait::async_trait;
use redis::{Script, Value};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use tus_core::{LockError, LockRelease, Locker, UploadId, UploadLock};

/// `SET key token NX PX ttl`; on failure, the token of the current holder (nil if the key
/// vanished in between).
/// When the lock is held, the same script marks the upload as waited for (`KEYS[2]`, for
/// as long as a lease), so that no release can slip between this attempt and the mark.
const ACQUIRE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return 1
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return redis.call('GET', KEYS[1])
";

/// Extends the lease only while the key still holds our token.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the key only while it holds our token, and tells waiters everywhere, when an
/// attempt found the lock held since the last release (`KEYS[2]`): most releases have no
/// waiter, and a message would wake every instance's subscription for nothing.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    if redis.call('DEL', KEYS[2]) == 1 then
        redis.call('PUBLISH', ARGV[2], ARGV[1])
    end
    return 1
end
return 0
";

/// A waiter asks the same holder again after this long, in case the request was lost
/// (the holder's subscription was reconnecting).
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// A [`Locker`] that keeps upload locks in Redis, for several server instances sharing one
/// storage. See the [crate documentation](crate) for how it works and what it guarantees.
///
/// Cloning is cheap and shares the connections. The background tasks (the pub/sub
/// subscription and one lease renewal per held lock) stop when the last clone and the last
/// held lock are dropped.
#[derive(Clone)]
pub struct RedisLocker {
    inner: Arc<Inner>,
}

struct Inner {
    commands: Commands,
    keys: Keys,
    registry: Arc<Registry>,
    lease_ttl: Duration,
    poll_interval: Duration,
    scripts: Scripts,
    /// Stops the subscription task.
    shutdown: CancellationToken,
}

struct Scripts {
    acquire: Script,
    renew: Script,
    release: Script,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl fmt::Debug for RedisLocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLocker")
            .field("keys", &self.inner.keys)
            .field("lease_ttl", &self.inner.lease_ttl)
            .field("poll_interval", &self.inner.poll_interval)
            .field("timeout", &self.inner.commands.timeout())
            .field("held_locks", &self.held_locks())
            .finish_non_exhaustive()
    }
}

/// The outcome of one `SET NX`.
enum Attempt {
    Acquired(UploadLock),
    /// Held by the acquisition with this token.
    Held(String),
    /// Taken when we tried, free when we looked: try again.
    Vanished,
}

impl RedisLocker {
    /// Configures a locker for the Redis at `url`; see [`RedisLockerBuilder`].
    pub fn builder(url: impl Into<String>) -> RedisLockerBuilder {
        RedisLockerBuilder::new(url)
    }

    /// Connects to the Redis at `url` with the default settings.
    pub async fn connect(url: impl Into<String>) -> Result<Self, ConnectError> {
        Self::builder(url).connect().await
    }

    /// Spawns the subscription task; [`RedisLockerBuilder::connect`] then waits for it.
    pub(crate) fn start(commands: Commands, keys: Keys, lease_ttl: Duration, poll_interval: Duration) -> Self {
        let registry = Arc::new(Registry::new());
        let shutdown = CancellationToken::new();
        let health_check = (lease_ttl / 3).clamp(Duration::from_secs(1), Duration::from_secs(10));
        tokio::spawn(subscriber::run(
            commands.client().clone(),
            keys.clone(),
            registry.clone(),
            commands.timeout(),
            health_check,
            shutdown.clone(),
        ));
        let scripts =
            Scripts { acquire: Script::new(ACQUIRE), renew: Script::new(RENEW), release: Script::new(RELEASE) };
        Self { inner: Arc::new(Inner { commands, keys, registry, lease_ttl, poll_interval, scripts, shutdown }) }
    }

    /// How many locks this locker (and its clones) holds right now.
    pub fn held_locks(&self) -> usize {
        self.inner.registry.held()
    }

    /// How many uploads have requests of this locker waiting for their lock right now.
    pub fn waiting(&self) -> usize {
        self.inner.registry.waiting()
    }

    /// The lease TTL in use.
    pub fn lease_ttl(&self) -> Duration {
        self.inner.lease_ttl
    }

    /// Whether the subscription that delivers release requests to this instance is up
    /// (it reconnects on its own after a Redis outage).
    pub fn is_subscribed(&self) -> bool {
        self.inner.registry.is_subscribed()
    }

    /// Waits up to `timeout` for the subscription to be up.
    pub(crate) async fn wait_subscribed(&self, timeout: Duration) -> bool {
        self.inner.registry.wait_subscribed(timeout).await
    }

    /// One `SET NX` for `id`.
    async fn attempt(&self, id: &str) -> Result<Attempt, BackendError> {
        let inner = &self.inner;
        let token = new_token();
        let stop = CancellationToken::new();
        let pending = Pending::new(inner, id, &token, stop.clone());
        let lost = CancellationToken::new();
        let key = inner.keys.lock(id);
        let waiting = inner.keys.waiting(id);
        let ttl = millis(inner.lease_ttl);
        let started = Instant::now();
        let script = &inner.scripts.acquire;
        let token_arg = token.as_str();
        let outcome: Value = inner
            .commands
            .run(|mut connection| async move {
                script.key(&key).key(&waiting).arg(token_arg).arg(ttl).invoke_async(&mut connection).await
            })
            .await?;
        match outcome {
            Value::Int(1) => {
                pending.acquired();
                let done = CancellationToken::new();
                tokio::spawn(heartbeat(
                    inner.clone(),
                    id.to_owned(),
                    token.clone(),
                    Loss { lost: lost.clone(), stop: stop.clone() },
                    started,
                    done.clone(),
                ));
                tracing::trace!(upload = id, "took the Redis lock");
                let release = RedisRelease { inner: inner.clone(), id: id.to_owned(), token, done, armed: true };
                Ok(Attempt::Acquired(UploadLock::new(stop, Box::new(release)).with_lease_loss(lost)))
            }
            Value::BulkString(holder) => {
                pending.not_acquired();
                Ok(Attempt::Held(String::from_utf8_lossy(&holder).into_owned()))
            }
            Value::SimpleString(holder) => {
                pending.not_acquired();
                Ok(Attempt::Held(holder))
            }
            _ => {
                pending.not_acquired();
                Ok(Attempt::Vanished)
            }
        }
    }

    /// Asks the holder of `id` under `token` to let go: directly if it is local, through
    /// Redis otherwise.
    async fn ask_to_release(&self, id: &str, token: &str) -> Result<(), BackendError> {
        if self.inner.registry.ask_to_stop(id, token) {
            tracing::debug!(upload = id, "asked the local holder to release the lock");
            return Ok(());
        }
        let channel = self.inner.keys.release(id);
        let receivers: i64 = self
            .inner
            .commands
            .run(|mut connection| async move {
                redis::cmd("PUBLISH").arg(&channel).arg(token).query_async(&mut connection).await
            })
            .await?;
        tracing::debug!(upload = id, receivers, "asked the holder to release the lock (through Redis)");
        Ok(())
    }
}

impl Inner {
    /// Extends the lease; false if it is no longer ours.
    async fn renew(&self, id: &str, token: &str) -> Result<bool, BackendError> {
        let key = self.keys.lock(id);
        let ttl = millis(self.lease_ttl);
        let script = &self.scripts.renew;
        let renewed: i64 =
            self.commands
                .run(|mut connection| async move {
                    script.key(&key).arg(token).arg(ttl).invoke_async(&mut connection).await
                })
                .await?;
        Ok(renewed == 1)
    }

    /// Deletes the lease if it is still ours, and wakes the waiters. `cleanup`: the lease
    /// may never have been taken (an acquisition that failed or was cancelled), so a
    /// failure is not worth a warning.
    async fn release(&self, id: &str, token: &str, cleanup: bool) {
        let key = self.keys.lock(id);
        let waiting = self.keys.waiting(id);
        let channel = self.keys.released(id);
        let script = &self.scripts.release;
        let result: Result<i64, _> = self
            .commands
            .run(|mut connection| async move {
                script.key(&key).key(&waiting).arg(token).arg(&channel).invoke_async(&mut connection).await
            })
            .await;
        match result {
            Ok(1) => tracing::trace!(upload = id, "released the Redis lock"),
            Ok(_) if cleanup => {}
            Ok(_) => tracing::debug!(upload = id, "the Redis lock was already gone when released"),
            Err(e) if cleanup => {
                tracing::debug!(upload = id, error = %e, "cannot clean up after a failed acquisition");
            }
            Err(e) => tracing::warn!(
                upload = id,
                error = %e,
                ttl = ?self.lease_ttl,
                "cannot release the Redis lock; it expires on its own within the lease TTL"
            ),
        }
        self.registry.wake(id);
    }
}

#[async_trait]
impl Locker for RedisLocker {
    async fn lock(&self, id: &UploadId, timeout: Duration) -> Result<UploadLock, LockError> {
        let id = id.as_str();
        let deadline = Instant::now() + timeout;
        let waiter = self.inner.registry.wait_for(id);
        // The holder this request asked to let go, and when. Only that holder is asked: one
        // that takes the lock later (another waiter) got it fairly and is not disturbed.
        let mut asked: Option<(String, Instant)> = None;
        loop {
            // Listen before trying, so a release between the try and the wait is not missed.
            let mut released = std::pin::pin!(waiter.notify().notified());
            released.as_mut().enable();
            let vanished = match self.attempt(id).await.map_err(unavailable)? {
                Attempt::Acquired(lock) => return Ok(lock),
                Attempt::Vanished => true,
                Attempt::Held(holder) => {
                    let ask = match &asked {
                        None => true,
                        Some((asked, at)) => *asked == holder && at.elapsed() >= ASK_AGAIN_AFTER,
                    };
                    if ask {
                        self.ask_to_release(id, &holder).await.map_err(unavailable)?;
                        asked = Some((holder, Instant::now()));
                    }
                    false
                }
            };
            let now = Instant::now();
            if now >= deadline {
                tracing::debug!(upload = id, ?timeout, "timed out waiting for the Redis lock");
                return Err(LockError::Timeout);
            }
            if !vanished {
                let pause = self.inner.poll_interval.min(deadline - now);
                tokio::select! {
                    () = released => {}
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }

    async fn try_lock(&self, id: &UploadId) -> Result<Option<UploadLock>, LockError> {
        match self.attempt(id.as_str()).await.map_err(unavailable)? {
            Attempt::Acquired(lock) => Ok(Some(lock)),
            Attempt::Held(_) | Attempt::Vanished => Ok(None),
        }
    }

    /// A PING, bounded by the connection timeout.
    async fn health(&self) -> Result<(), LockError> {
        let pong: String = self
            .inner
            .commands
            .run(|mut connection| async move { redis::cmd("PING").query_async(&mut connection).await })
            .await
            .map_err(unavailable)?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(LockError::Unavailable(format!("unexpected PING reply {pong:?}").into()))
        }
    }
}

fn unavailable(e: BackendError) -> LockError {
    LockError::Unavailable(Box::new(e))
}

/// An acquisition in flight: registered so that release requests find it, and cleaned up
/// if the request is cancelled before the answer arrives (the `SET` may have happened, so
/// the lease is deleted if it is ours).
struct Pending<'a> {
    inner: &'a Arc<Inner>,
    id: &'a str,
    token: &'a str,
    settled: bool,
}

impl<'a> Pending<'a> {
    fn new(inner: &'a Arc<Inner>, id: &'a str, token: &'a str, stop: CancellationToken) -> Self {
        inner.registry.add_pending(token, id, stop);
        Self { inner, id, token, settled: false }
    }

    fn acquired(mut self) {
        self.inner.registry.mark_acquired(self.token);
        self.settled = true;
    }

    fn not_acquired(mut self) {
        self.inner.registry.remove(self.token);
        self.settled = true;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.inner.registry.remove(self.token);
        spawn_release(self.inner.clone(), self.id.to_owned(), self.token.to_owned(), true);
    }
}

/// Releases in the background (from `Drop`), if there is a runtime to do it on; otherwise
/// the lease expires on its own.
fn spawn_release(inner: Arc<Inner>, id: String, token: String, cleanup: bool) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move { inner.release(&id, &token, cleanup).await });
        }
        Err(_) => tracing::warn!(upload = id, "no async runtime to release the Redis lock; it expires on its own"),
    }
}

/// What releases a lock held in Redis.
struct RedisRelease {
    inner: Arc<Inner>,
    id: String,
    token: String,
    /// Stops the lease renewal.
    done: CancellationToken,
    armed: bool,
}

impl RedisRelease {
    fn disarm(&mut self) {
        self.armed = false;
        self.done.cancel();
        self.inner.registry.remove(&self.token);
    }
}

#[async_trait]
impl LockRelease for RedisRelease {
    async fn release(mut self: Box<Self>) {
        self.disarm();
        self.inner.release(&self.id, &self.token, false).await;
    }
}

impl Drop for RedisRelease {
    fn drop(&mut self) {
        if self.armed {
            self.disarm();
            let (id, token) = (std::mem::take(&mut self.id), std::mem::take(&mut self.token));
            spawn_release(self.inner.clone(), id, token, false);
        }
    }
}

/// How a heartbeat tells the holder its lease is gone.
struct Loss {
    /// Says why: cancelled first, so the holder sees it when `stop` wakes it.
    lost: CancellationToken,
    /// The holder's stop signal.
    stop: CancellationToken,
}

impl Loss {
    fn signal(&self) {
        self.lost.cancel();
        self.stop.cancel();
    }
}

/// Renews the lease every third of its TTL until `done`. If the lease turns out to be lost,
/// or cannot be renewed before it would expire, the holder is told the lease is lost and
/// asked to stop.
async fn heartbeat(
    inner: Arc<Inner>,
    id: String,
    token: String,
    stop: Loss,
    mut confirmed: Instant,
    done: CancellationToken,
) {
    let ttl = inner.lease_ttl;
    let every = ttl / 3;
    loop {
        tokio::select! {
            () = done.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let sent = Instant::now();
        let renewed = inner.renew(&id, &token).await;
        if done.is_cancelled() {
            return;
        }
        match renewed {
            Ok(true) => confirmed = sent,
            Ok(false) => {
                tracing::warn!(upload = id, "the Redis lock's lease was lost; asking the holder to stop");
                stop.signal();
                return;
            }
            Err(e) => {
                // The next try would come after the lease may have expired: stop now.
                if Instant::now() + every >= confirmed + ttl {
                    tracing::warn!(
                        upload = id,
                        error = %e,
                        "cannot renew the Redis lock's lease before it expires; asking the holder to stop"
                    );
                    stop.signal();
                    return;
                }
                tracing::debug!(upload = id, error = %e, "cannot renew the Redis lock's lease; retrying");
            }
        }
    }
}

/// A duration in whole milliseconds, at least 1 (what `PX` accepts).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A random token for one acquisition: 128 bits, hex.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen in practice): still unique within this process, and
        // very likely across processes.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mixed = nanos ^ (u128::from(std::process::id()) << 64) ^ (u128::from(count) << 96);
        bytes = mixed.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn millis_never_zero() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_secs(3)), 3_000);
    }
}
