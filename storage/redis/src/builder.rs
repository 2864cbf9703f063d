//! Configuring and connecting a [`RedisLocker`].

use crate::RedisLocker;
use crate::connection::Commands;
use crate::keys::Keys;
use std::fmt;
use std::time::Duration;
use tus_core::BoxError;

/// The default [`RedisLockerBuilder::key_prefix`].
pub(crate) const DEFAULT_PREFIX: &str = "tus:";
/// The default [`RedisLockerBuilder::lease_ttl`].
pub(crate) const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
/// The default [`RedisLockerBuilder::poll_interval`].
pub(crate) const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The default [`RedisLockerBuilder::connect_timeout`].
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The shortest lease accepted: renewals every third of it must stay meaningful.
const MIN_LEASE_TTL: Duration = Duration::from_millis(30);

/// Why [`RedisLockerBuilder::connect`] failed. Its `Display` is one line, and shows the URL
/// with any password masked.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a Redis URL (`redis://[user:password@]host[:port][/db]`,
    /// `redis+unix:///path` or `unix:///path`).
    InvalidUrl(BoxError),
    /// Redis did not answer a `PING` within the connection timeout.
    Unreachable {
        /// The URL, password masked.
        url: String,
        /// What went wrong.
        source: BoxError,
    },
    /// Redis answered, but the pub/sub subscription for release requests could not be set
    /// up within the connection timeout.
    Subscribe {
        /// The URL, password masked.
        url: String,
        /// The connection timeout.
        after: Duration,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::InvalidUrl(e) => format!("invalid Redis URL: {e}"),
            Self::Unreachable { url, source } => format!("cannot reach Redis at {url}: {source}"),
            Self::Subscribe { url, after } => {
                format!("cannot subscribe to Redis pub/sub at {url} within {after:?} (is PSUBSCRIBE allowed?)")
            }
        };
        f.write_str(&text.replace(['\r', '\n'], " "))
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidUrl(source) | Self::Unreachable { source, .. } => Some(source.as_ref()),
            Self::Subscribe { .. } => None,
        }
    }
}

/// `url` with the password (or a lone user-info part) replaced by `***`.
fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    let user = match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{scheme}://{user}{}", &rest[at..])
}

/// Configures a [`RedisLocker`]; [`connect`](Self::connect) checks that Redis answers and
/// starts the release-request subscription.
///
/// ```no_run
/// use std::time::Duration;
/// use tus_redis::RedisLocker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tus_redis::ConnectError> {
/// let locker = RedisLocker::builder("redis://:secret@redis.internal:6379/2")
///     .key_prefix("media-uploads:")
///     .lease_ttl(Duration::from_secs(10))
///     .poll_interval(Duration::from_millis(20))
///     .connect_timeout(Duration::from_secs(1))
///     .connect()
///     .await?;
/// assert_eq!(locker.held_locks(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisLockerBuilder {
    url: String,
    key_prefix: String,
    lease_ttl: Duration,
    poll_interval: Duration,
    connect_timeout: Duration,
}

impl fmt::Debug for RedisLockerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: leave it out.
        f.debug_struct("RedisLockerBuilder")
            .field("key_prefix", &self.key_prefix)
            .field("lease_ttl", &self.lease_ttl)
            .field("poll_interval", &self.poll_interval)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisLockerBuilder {
    /// A builder for the Redis at `url` (e.g. `redis://127.0.0.1:6379`), with the defaults:
    /// prefix `tus:`, a 30 s lease, a 50 ms poll interval and a 2 s connection timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: DEFAULT_PREFIX.to_owned(),
            lease_ttl: DEFAULT_LEASE_TTL,
            poll_interval: DEFAULT_POLL_INTERVAL,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// What every key and channel name starts with (default `tus:`). Deployments that share
    /// a Redis database need different prefixes; instances that serve the same storage need
    /// the same one.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long a lease lives without renewal (default 30 s, at least 30 ms). Holders renew
    /// it every third of this; it bounds how long the lock of a process that died stays
    /// taken, and how long a holder keeps writing while Redis cannot be reached.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(MIN_LEASE_TTL);
        self
    }

    /// How often a waiting request retries when no release notice wakes it first
    /// (default 50 ms, at least 1 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The longest any Redis round trip may take, connecting included (default 2 s, at
    /// least 1 ms). Past it, [`Locker::lock`](tus_core::Locker::lock) answers
    /// [`LockError::Unavailable`](tus_core::LockError::Unavailable).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Connects: checks that Redis answers a `PING` and that the pub/sub subscription for
    /// release requests is up, each within the connection timeout. Must run inside a Tokio
    /// runtime, which then runs the locker's background tasks.
    pub async fn connect(self) -> Result<RedisLocker, ConnectError> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| ConnectError::InvalidUrl(Box::new(e)))?;
        let url = masked(&self.url);
        let commands = Commands::new(client, self.connect_timeout);
        commands
            .run(|mut connection| async move { redis::cmd("PING").query_async::<String>(&mut connection).await })
            .await
            .map_err(|e| ConnectError::Unreachable { url: url.clone(), source: e.into_source() })?;
        let locker = RedisLocker::start(commands, Keys::new(self.key_prefix), self.lease_ttl, self.poll_interval);
        if !locker.wait_subscribed(self.connect_timeout).await {
            return Err(ConnectError::Subscribe { url, after: self.connect_timeout });
        }
        Ok(locker)
    }
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(masked("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(masked("redis://:hunter2@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(masked("redis://app:hunter2@h"), "redis://app:***@h");
        assert_eq!(masked("redis://hunter2@h"), "redis://***@h");
        assert_eq!(masked("redis://h/0?x=a@b"), "redis://h/0?x=a@b");
        assert_eq!(masked("redis+unix:///run/redis.sock"), "redis+unix:///run/redis.sock");
    }
}
