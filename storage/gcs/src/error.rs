//! What can go wrong talking to GCS, and how it maps onto [`StorageError`].

use std::fmt;
use tus_core::StorageError;

/// An error from the GCS JSON API or from this crate's use of it.
#[derive(Debug)]
#[non_exhaustive]
pub enum GcsError {
    /// The request did not get an answer (connection refused, timeout, broken stream).
    Transport(reqwest::Error),
    /// GCS answered with an error status.
    Status {
        /// What was being done, e.g. `"upload object"`.
        operation: &'static str,
        /// The object (or bucket) concerned.
        target: String,
        /// The HTTP status.
        status: u16,
        /// The start of GCS's error message.
        message: String,
    },
    /// GCS did not answer within the request timeout.
    TimedOut {
        /// What was being done.
        operation: &'static str,
        /// The object (or bucket) concerned.
        target: String,
    },
    /// A generation precondition failed: another writer changed the object first.
    PreconditionFailed,
    /// An object this crate wrote holds something it cannot read back.
    Corrupt(String),
    /// The configuration is unusable (bad endpoint, missing bucket, no credentials).
    Config(String),
    /// Getting an access token failed.
    Auth(String),
}

impl fmt::Display for GcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "GCS request failed: {e}"),
            Self::Status { operation, target, status, message } => {
                write!(f, "GCS {operation} {target}: HTTP {status}: {message}")
            }
            Self::TimedOut { operation, target } => write!(f, "GCS {operation} {target}: no answer in time"),
            Self::PreconditionFailed => f.write_str("GCS generation precondition failed"),
            Self::Corrupt(why) => write!(f, "GCS object unreadable: {why}"),
            Self::Config(why) => write!(f, "GCS configuration: {why}"),
            Self::Auth(why) => write!(f, "GCS credentials: {why}"),
        }
    }
}

impl std::error::Error for GcsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport(e) => Some(e),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for GcsError {
    fn from(e: reqwest::Error) -> Self {
        Self::Transport(e)
    }
}

impl From<GcsError> for StorageError {
    fn from(e: GcsError) -> Self {
        match &e {
            // Retrying later may work: the service answers 503.
            GcsError::Transport(_) | GcsError::Auth(_) | GcsError::TimedOut { .. } => {
                StorageError::Unavailable(Box::new(e))
            }
            GcsError::Status { status, .. } if *status == 429 || *status >= 500 => {
                StorageError::Unavailable(Box::new(e))
            }
            _ => StorageError::Other(Box::new(e)),
        }
    }
}
