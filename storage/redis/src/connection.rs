//! The command connection: one multiplexed connection shared by every request, opened on
//! demand, replaced after a connection failure, and never waited on longer than the
//! connection timeout.

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult, ServerErrorKind};
use std::fmt;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Why a Redis round trip failed.
#[derive(Debug)]
pub(crate) enum BackendError {
    /// No answer (or no connection) within the connection timeout.
    Timeout(Duration),
    /// Redis or the connection to it failed.
    Redis(RedisError),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(after) => write!(f, "Redis did not answer within {after:?}"),
            Self::Redis(e) => write!(f, "Redis: {e}"),
        }
    }
}

impl BackendError {
    /// The underlying error, without the `Redis: ` context.
    pub(crate) fn into_source(self) -> tus_core::BoxError {
        match self {
            Self::Timeout(after) => format!("no answer within {after:?}").into(),
            Self::Redis(e) => Box::new(e),
        }
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Timeout(_) => None,
            Self::Redis(e) => Some(e),
        }
    }
}

/// A lazily (re)connected multiplexed connection.
pub(crate) struct Commands {
    client: Client,
    config: AsyncConnectionConfig,
    timeout: Duration,
    current: Mutex<Current>,
    /// One connection attempt at a time.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Current {
    /// Counts the connections opened, so a failure only discards the one it happened on.
    generation: u64,
    connection: Option<MultiplexedConnection>,
}

impl fmt::Debug for Commands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commands").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Commands {
    pub(crate) fn new(client: Client, timeout: Duration) -> Self {
        let config =
            AsyncConnectionConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(Some(timeout));
        Self {
            client,
            config,
            timeout,
            current: Mutex::new(Current::default()),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// The client, to open other connections (pub/sub) to the same server.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The bound on every round trip.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `op` on the connection (opening it first if needed), all within the timeout.
    /// A failure that may have broken the connection discards it, so the next call
    /// reconnects.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T, BackendError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut used = None;
        let attempt = async {
            let (generation, connection) = self.connection().await?;
            used = Some(generation);
            op(connection).await
        };
        let result = tokio::time::timeout(self.timeout, attempt).await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if breaks_connection(&e) {
                    self.discard(used);
                }
                Err(BackendError::Redis(e))
            }
            Err(_) => {
                self.discard(used);
                Err(BackendError::Timeout(self.timeout))
            }
        }
    }

    fn current(&self) -> MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cached(&self) -> Option<(u64, MultiplexedConnection)> {
        let current = self.current();
        current.connection.clone().map(|connection| (current.generation, connection))
    }

    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(cached) = self.cached() {
            return Ok(cached);
        }
        let _connecting = self.connecting.lock().await;
        // Another request may have connected while this one waited.
        if let Some(cached) = self.cached() {
            return Ok(cached);
        }
        let connection = self.client.get_multiplexed_async_connection_with_config(&self.config).await?;
        let mut current = self.current();
        current.generation += 1;
        current.connection = Some(connection.clone());
        tracing::debug!(generation = current.generation, "connected to Redis");
        Ok((current.generation, connection))
    }

    fn discard(&self, generation: Option<u64>) {
        let Some(generation) = generation else { return };
        let mut current = self.current();
        if current.generation == generation && current.connection.take().is_some() {
            tracing::debug!(generation, "dropped the Redis connection after a failure");
        }
    }
}

/// Whether an error means the connection should be replaced: I/O errors, and a server
/// that turned read-only (a demoted primary after a failover).
fn breaks_connection(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || matches!(e.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown))
}
