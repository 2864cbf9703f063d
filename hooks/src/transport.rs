//! What a transport does: deliver one encoded event and bring back the reply.

use crate::event::EncodedEvent;
use crate::reply::Reply;
use async_trait::async_trait;
use http::StatusCode;
use std::fmt;

/// Delivers events to a receiver: an HTTP endpoint ([`HttpTransport`](crate::HttpTransport)),
/// a program ([`CommandTransport`](crate::CommandTransport)) or anything else.
///
/// A transport makes one attempt; [`TransportHooks`](crate::TransportHooks) adds the time
/// limit, retries and the background queue.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Delivers `event` once. For blocking events the reply is the decision; for
    /// notifications it is ignored.
    async fn deliver(&self, event: &EncodedEvent) -> Result<Reply, DeliveryError>;
}

/// Why one delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The receiver may answer a retry: unreachable, timed out, 5xx, 408, 429, or a
    /// notification command that exited non-zero.
    Transient(String),
    /// A retry would fail the same way: a 4xx status, an invalid reply, a missing program.
    Permanent(String),
}

impl DeliveryError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// The status a blocking request gets when its hook cannot decide: it fails closed,
    /// with 503 (try again later) or 502 (the receiver answered nonsense).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Transient(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Permanent(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transient(why) => write!(f, "hook delivery failed (will retry): {why}"),
            Self::Permanent(why) => write!(f, "hook delivery failed: {why}"),
        }
    }
}

impl std::error::Error for DeliveryError {}
