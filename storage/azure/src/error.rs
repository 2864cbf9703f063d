//! What can go wrong talking to Azure Blob storage, and how it maps onto [`StorageError`].

use std::fmt;
use tus_core::StorageError;

/// An error from the Blob service or from this crate's use of it.
#[derive(Debug)]
#[non_exhaustive]
pub enum AzureError {
    /// The service answered with an error status, or did not answer.
    Service {
        /// What was being done, e.g. `"stage block"`.
        operation: &'static str,
        /// The blob (or container) concerned.
        target: String,
        /// The HTTP status, when there was an answer.
        status: Option<u16>,
        /// The SDK's error.
        source: Box<azure_core::Error>,
    },
    /// The service did not answer within the request timeout.
    TimedOut {
        /// What was being done.
        operation: &'static str,
        /// The blob concerned.
        target: String,
    },
    /// An ETag precondition failed: another writer changed the blob first.
    PreconditionFailed,
    /// A blob this crate wrote holds something it cannot read back.
    Corrupt(String),
    /// The configuration is unusable (bad connection string, missing container, bad key).
    Config(String),
    /// An Azure limit would be exceeded (50,000 blocks per blob).
    Limit(String),
}

impl AzureError {
    /// Wraps an SDK error.
    pub(crate) fn service(operation: &'static str, target: impl Into<String>, source: azure_core::Error) -> Self {
        let status = source.http_status().map(u16::from);
        Self::Service { operation, target: target.into(), status, source: Box::new(source) }
    }

    /// The service's error code (e.g. `AuthorizationFailure`) of a service error.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Self::Service { source, .. } => match source.kind() {
                azure_core::error::ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
                _ => None,
            },
            _ => None,
        }
    }

    /// The HTTP status of a service error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Service { status, .. } => *status,
            _ => None,
        }
    }
}

impl fmt::Display for AzureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service { operation, target, status: Some(status), source } => {
                write!(f, "Azure {operation} {target}: HTTP {status}: {source}")
            }
            Self::Service { operation, target, status: None, source } => {
                write!(f, "Azure {operation} {target}: {source}")
            }
            Self::TimedOut { operation, target } => write!(f, "Azure {operation} {target}: no answer in time"),
            Self::PreconditionFailed => f.write_str("Azure ETag precondition failed"),
            Self::Corrupt(why) => write!(f, "Azure blob unreadable: {why}"),
            Self::Config(why) => write!(f, "Azure configuration: {why}"),
            Self::Limit(why) => write!(f, "Azure limit: {why}"),
        }
    }
}

impl std::error::Error for AzureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Service { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<AzureError> for StorageError {
    fn from(e: AzureError) -> Self {
        match &e {
            // Retrying later may work: the service answers 503.
            AzureError::TimedOut { .. } | AzureError::Service { status: None, .. } => {
                StorageError::Unavailable(Box::new(e))
            }
            AzureError::Service { status: Some(status), .. } if *status == 429 || *status >= 500 => {
                StorageError::Unavailable(Box::new(e))
            }
            // Retrying cannot help: the client learns why (413), not "internal error".
            AzureError::Limit(why) => StorageError::LimitExceeded(format!("Azure: {why}")),
            _ => StorageError::Other(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_azure_limit_is_a_storage_limit_not_an_internal_error() {
        let limit = StorageError::from(AzureError::Limit("data/x would need more than 50000 blocks".into()));
        assert!(matches!(&limit, StorageError::LimitExceeded(why) if why.contains("50000 blocks")), "{limit:?}");
        let status = tus_core::TusError::from(limit).status();
        assert_eq!(status.as_u16(), 413);
    }
}
