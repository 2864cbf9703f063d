//! What one instance knows locally (the locks it holds or is taking, the requests waiting
//! for a lock), and the pub/sub task that delivers release requests and release notices
//! from every instance.

use crate::keys::{Channel, Keys};
use futures_util::StreamExt as _;
use redis::Client;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// The first pause before reconnecting the subscription; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The local state of one [`RedisLocker`](crate::RedisLocker) and its clones.
#[derive(Debug)]
pub(crate) struct Registry {
    /// Locks held or being taken, by token.
    holders: Mutex<HashMap<String, Holder>>,
    /// Requests waiting for a lock, by upload ID.
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    /// Whether the pub/sub subscription is up.
    subscribed: watch::Sender<bool>,
}

#[derive(Debug)]
struct Holder {
    id: String,
    stop: CancellationToken,
    acquired: bool,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self { holders: Mutex::default(), waiters: Mutex::default(), subscribed: watch::Sender::new(false) }
    }

    fn holders(&self) -> MutexGuard<'_, HashMap<String, Holder>> {
        self.holders.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn waiters(&self) -> MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.waiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers an acquisition before it is sent, so that a release request naming its
    /// token finds it even if it arrives before the `SET` answer does.
    pub(crate) fn add_pending(&self, token: &str, id: &str, stop: CancellationToken) {
        self.holders().insert(token.to_owned(), Holder { id: id.to_owned(), stop, acquired: false });
    }

    /// The acquisition under `token` succeeded.
    pub(crate) fn mark_acquired(&self, token: &str) {
        if let Some(holder) = self.holders().get_mut(token) {
            holder.acquired = true;
        }
    }

    /// Forgets `token` (released, or never acquired).
    pub(crate) fn remove(&self, token: &str) {
        self.holders().remove(token);
    }

    /// Cancels the stop signal of the local holder of `id` under `token`; false when this
    /// instance has no such holder.
    pub(crate) fn ask_to_stop(&self, id: &str, token: &str) -> bool {
        match self.holders().get(token) {
            Some(holder) if holder.id == id => {
                holder.stop.cancel();
                true
            }
            _ => false,
        }
    }

    /// How many locks this instance holds.
    pub(crate) fn held(&self) -> usize {
        self.holders().values().filter(|holder| holder.acquired).count()
    }

    /// How many uploads have requests of this instance waiting for their lock.
    pub(crate) fn waiting(&self) -> usize {
        self.waiters().len()
    }

    /// Joins the requests waiting for the lock on `id`.
    pub(crate) fn wait_for(self: &Arc<Self>, id: &str) -> Waiter {
        let notify = self.waiters().entry(id.to_owned()).or_default().clone();
        Waiter { registry: self.clone(), id: id.to_owned(), notify }
    }

    /// Wakes the local requests waiting for the lock on `id`.
    pub(crate) fn wake(&self, id: &str) {
        if let Some(notify) = self.waiters().get(id) {
            notify.notify_waiters();
        }
    }

    /// Whether the subscription is up.
    pub(crate) fn is_subscribed(&self) -> bool {
        *self.subscribed.borrow()
    }

    /// Waits until the subscription is up, at most `timeout`; false if it is not.
    pub(crate) async fn wait_subscribed(&self, timeout: Duration) -> bool {
        let mut subscribed = self.subscribed.subscribe();
        tokio::time::timeout(timeout, subscribed.wait_for(|up| *up)).await.is_ok_and(|r| r.is_ok())
    }
}

/// A request waiting for a lock; leaves the registry when dropped.
#[derive(Debug)]
pub(crate) struct Waiter {
    registry: Arc<Registry>,
    id: String,
    notify: Arc<Notify>,
}

impl Waiter {
    /// Woken when the lock on this upload is released, here or on another instance.
    pub(crate) fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut waiters = self.registry.waiters();
        // The map and this waiter hold the only references: nobody else waits.
        if Arc::strong_count(&self.notify) == 2 {
            waiters.remove(&self.id);
        }
    }
}

/// Keeps one pub/sub connection subscribed to every upload's release channels, and
/// reconnects it (with backoff) whenever it fails, until `shutdown`.
pub(crate) async fn run(
    client: Client,
    keys: Keys,
    registry: Arc<Registry>,
    timeout: Duration,
    health_check: Duration,
    shutdown: CancellationToken,
) {
    let patterns = keys.patterns();
    let mut backoff = MIN_BACKOFF;
    let mut was_up = false;
    loop {
        let connect = async {
            let (mut sink, stream) = client.get_async_pubsub().await?.split();
            sink.psubscribe(&patterns).await?;
            Ok::<_, redis::RedisError>((sink, stream))
        };
        let connected = tokio::select! {
            () = shutdown.cancelled() => return,
            connected = tokio::time::timeout(timeout, connect) => connected,
        };
        let (mut sink, mut stream) = match connected {
            Ok(Ok(connected)) => connected,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {timeout:?}"),
                };
                if was_up {
                    tracing::warn!(%error, "cannot subscribe to Redis lock release requests; retrying");
                    was_up = false;
                } else {
                    tracing::debug!(%error, "cannot subscribe to Redis lock release requests; retrying");
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        if !was_up {
            tracing::debug!(?patterns, "subscribed to Redis lock release requests");
        }
        was_up = true;
        registry.subscribed.send_replace(true);

        // A PING now and then notices a connection that died silently (no RST, no EOF).
        let mut ping = tokio::time::interval(health_check);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let reason = loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                message = stream.next() => match message {
                    Some(message) => handle(&keys, &registry, &message),
                    None => break "the connection closed".to_owned(),
                },
                _ = ping.tick() => {
                    match tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => break e.to_string(),
                        Err(_) => break format!("no PING answer within {timeout:?}"),
                    }
                }
            }
        };
        registry.subscribed.send_replace(false);
        tracing::warn!(%reason, "lost the Redis subscription to lock release requests; reconnecting");
    }
}

fn handle(keys: &Keys, registry: &Registry, message: &redis::Msg) {
    match keys.parse(message.get_channel_name()) {
        Some(Channel::Release(id)) => {
            let token = String::from_utf8_lossy(message.get_payload_bytes());
            if registry.ask_to_stop(id, &token) {
                tracing::debug!(upload = id, "asked the holder to release the lock (request from Redis)");
            }
        }
        Some(Channel::Released(id)) => registry.wake(id),
        None => {}
    }
}
