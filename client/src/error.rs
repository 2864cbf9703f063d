//! The error type of every fallible operation of this crate.

use crate::checksum::ChecksumAlgorithm;
use crate::storage::StorageError;
use reqwest::{Method, StatusCode, Url};
use std::fmt;
use std::time::Duration;

/// A shorthand for `Result<T, tus_rs_client::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation failed.
///
/// [`Error::is_retryable`] tells the transient failures (network errors, 5xx, 423, 409, 429,
/// 460) from the fatal ones; the client retries the former as its [`RetryPolicy`] allows
/// before returning them. Its `Display` is one line.
///
/// [`RetryPolicy`]: crate::RetryPolicy
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a status this step of the protocol does not accept.
    Status {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: String,
        /// The status the server answered.
        status: StatusCode,
        /// The server's explanation (its response body, on one line; may be empty).
        message: String,
        /// How long the server asked the client to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// The request could not be sent, or its response could not be read (connection
    /// refused or cut, timeout, DNS failure, TLS failure, …).
    Network {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: String,
        /// What went wrong.
        source: reqwest::Error,
    },
    /// The server's answer breaks the tus protocol (no `Location`, a bad `Upload-Offset`, …).
    Protocol {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: String,
        /// What is wrong with the answer.
        message: String,
    },
    /// The server lacks a tus extension this operation needs.
    Unsupported {
        /// The extension, as named in `Tus-Extension` (e.g. `concatenation`).
        extension: &'static str,
        /// What needed it.
        needed_for: &'static str,
    },
    /// Checksums were asked for with an algorithm the server does not offer.
    ChecksumUnsupported {
        /// The algorithm asked for.
        algorithm: ChecksumAlgorithm,
        /// The algorithms the server offers (`Tus-Checksum-Algorithm`); empty when it has
        /// no checksum extension at all.
        offered: Vec<String>,
    },
    /// Reading the data to upload failed.
    Io {
        /// What was being read.
        context: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The data to upload does not match the upload on the server any more: the file
    /// shrank, or the server wants bytes a stream can no longer give.
    SourceMismatch(String),
    /// The arguments of the operation cannot work together (e.g. parallel uploads from a
    /// stream, an invalid metadata key).
    InvalidInput(String),
    /// The client could not be built (bad endpoint, bad header, TLS setup).
    Config(String),
    /// The upload was cancelled through its cancellation token. It can be resumed.
    Cancelled {
        /// The upload's URL, when it had been created.
        url: Option<Url>,
        /// The offset the server had confirmed when the upload stopped.
        offset: u64,
    },
    /// The URL storage failed.
    Storage(StorageError),
}

impl Error {
    /// The HTTP status, for [`Error::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether retrying the same request may succeed: network errors, 5xx, `423 Locked`,
    /// `409 Conflict` (after asking the server for its offset), `429 Too Many Requests`,
    /// `408 Request Timeout` and `460 Checksum Mismatch`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network { .. } => true,
            Self::Status { status, .. } => {
                status.is_server_error() || matches!(status.as_u16(), 408 | 409 | 423 | 429 | 460)
            }
            _ => false,
        }
    }

    /// Whether the upload is gone from the server (404, 410) or no longer accessible (403).
    pub fn is_not_found(&self) -> bool {
        matches!(self.status().map(|s| s.as_u16()), Some(403 | 404 | 410))
    }

    /// Whether this is [`Error::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    pub(crate) fn protocol(method: &Method, url: &Url, message: impl Into<String>) -> Self {
        Self::Protocol { method: method.clone(), url: url.to_string(), message: message.into() }
    }
}

/// Flattens a message onto one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { method, url, status, message, .. } => {
                write!(f, "{method} {url}: the server answered {status}")?;
                if !message.is_empty() {
                    write!(f, ": {}", one_line(message))?;
                }
                Ok(())
            }
            Self::Network { method, url, source } => {
                write!(f, "{method} {url}: network error: {source}")?;
                let mut cause = std::error::Error::source(source);
                while let Some(err) = cause {
                    write!(f, ": {}", one_line(&err.to_string()))?;
                    cause = err.source();
                }
                Ok(())
            }
            Self::Protocol { method, url, message } => {
                write!(f, "{method} {url}: the server broke the tus protocol: {}", one_line(message))
            }
            Self::Unsupported { extension, needed_for } => {
                write!(f, "the server does not support the tus {extension} extension, needed for {needed_for}")
            }
            Self::ChecksumUnsupported { algorithm, offered } if offered.is_empty() => {
                write!(f, "the server has no checksum extension, so {algorithm} checksums cannot be used")
            }
            Self::ChecksumUnsupported { algorithm, offered } => {
                write!(f, "the server does not accept {algorithm} checksums (it offers: {})", offered.join(", "))
            }
            Self::Io { context, source } => write!(f, "{context}: {}", one_line(&source.to_string())),
            Self::SourceMismatch(message) => write!(f, "the data does not match the upload: {}", one_line(message)),
            Self::InvalidInput(message) => write!(f, "invalid arguments: {}", one_line(message)),
            Self::Config(message) => write!(f, "invalid client configuration: {}", one_line(message)),
            Self::Cancelled { url: Some(url), offset } => {
                write!(f, "the upload was cancelled at byte {offset}; it can be resumed from {url}")
            }
            Self::Cancelled { url: None, .. } => f.write_str("the upload was cancelled before it was created"),
            Self::Storage(err) => write!(f, "URL storage: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Network { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
            Self::Storage(source) => Some(source),
            _ => None,
        }
    }
}

impl From<StorageError> for Error {
    fn from(err: StorageError) -> Self {
        Self::Storage(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Error {
        Error::Status {
            method: Method::PATCH,
            url: "http://h/files/x".into(),
            status: StatusCode::from_u16(code).unwrap(),
            message: "offset\nmismatch".into(),
            retry_after: None,
        }
    }

    #[test]
    fn retryable_statuses() {
        for code in [409, 423, 429, 460, 500, 502, 503] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [400, 403, 404, 410, 412, 413, 415] {
            assert!(!status(code).is_retryable(), "{code}");
        }
        assert!(status(410).is_not_found());
    }

    #[test]
    fn display_is_one_line() {
        let text = status(409).to_string();
        assert_eq!(text, "PATCH http://h/files/x: the server answered 409 Conflict: offset mismatch");
    }
}
