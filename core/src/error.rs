//! Errors: what went wrong, and the one place that decides its HTTP status and code.

use http::StatusCode;
use std::fmt;

/// A boxed error from a storage backend, a body or a hook.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The status tus uses for a checksum mismatch.
pub const CHECKSUM_MISMATCH: StatusCode = match StatusCode::from_u16(460) {
    Ok(status) => status,
    Err(_) => panic!("460 is a valid status code"),
};

/// An error answered to a tus client.
///
/// Each variant has one HTTP status ([`TusError::status`]) and one stable,
/// machine-readable code ([`TusError::code`]) that appears at the start of the
/// response body, e.g. `ERR_MISMATCHED_OFFSET: …`.
#[derive(Debug)]
#[non_exhaustive]
pub enum TusError {
    /// `Tus-Resumable` is missing or names a version we do not speak (412).
    UnsupportedVersion,
    /// A PATCH whose `Content-Type` is not `application/offset+octet-stream` (415).
    InvalidContentType,
    /// A required header is absent (400).
    MissingHeader(&'static str),
    /// A header's value is malformed (400).
    InvalidHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The request's `Upload-Offset` is not the upload's offset (409).
    MismatchedOffset {
        /// The upload's offset on the server.
        expected: u64,
        /// The offset the client sent.
        given: u64,
    },
    /// The data would go past the upload's declared length (413).
    UploadSizeExceeded {
        /// The upload's length.
        length: u64,
    },
    /// The storage backend cannot hold the upload this way, e.g. too many pieces (413).
    StorageLimitExceeded(String),
    /// The upload would be larger than the server's maximum (413).
    MaxSizeExceeded {
        /// The server's maximum upload size.
        max: u64,
    },
    /// The `Upload-Length` of a deferred upload may be set once only (400).
    LengthAlreadySet,
    /// The data does not match the client's `Upload-Checksum` (460).
    ChecksumMismatch,
    /// The named checksum algorithm is not supported (400).
    UnsupportedChecksumAlgorithm(String),
    /// Another request holds the upload for longer than the lock timeout (423).
    Locked,
    /// A newer request on the same upload asked this one to stop; the data it
    /// received so far was stored (423, so that clients retry with HEAD).
    Interrupted,
    /// The lock backend lost this request's lease (it could not be renewed in time, or
    /// another holder took it over); the data received so far was stored (503).
    LockLost,
    /// No body byte arrived within the idle timeout (408).
    BodyTimeout,
    /// The request body broke off or was malformed, e.g. a missing announced trailer (400).
    /// The data received before the break was kept unless the request had a checksum.
    BrokenBody(String),
    /// No upload with this ID (404).
    NotFound,
    /// The upload expired or was terminated (410).
    Gone,
    /// The upload is the final upload of a concatenation and cannot be patched (403).
    ModifyFinal,
    /// The `Upload-Concat` header is wrong or names unusable partial uploads (400).
    InvalidConcat(String),
    /// A partial upload named in a final concatenation is not complete (400).
    UploadNotFinished,
    /// GET on an upload that is not complete (404 with its own code).
    DownloadIncomplete,
    /// A `Range` that lies outside the upload (416).
    RangeNotSatisfiable {
        /// The upload's length.
        length: u64,
    },
    /// The feature behind this request is switched off (405 for methods, else 404).
    Disabled(&'static str),
    /// The method is not one tus answers at this URL (405).
    MethodNotAllowed,
    /// A CORS preflight from an origin that is not allowed (403).
    OriginNotAllowed,
    /// A hook refused the request with its own status and message.
    Rejected {
        /// The status chosen by the hook.
        status: StatusCode,
        /// The message chosen by the hook.
        message: String,
        /// Headers chosen by the hook.
        headers: http::HeaderMap,
    },
    /// The server is shutting down (503).
    ShuttingDown,
    /// The storage or lock backend cannot be reached right now (503).
    Unavailable(String),
    /// Anything else: a bug or a broken backend (500). The detail is logged, not sent.
    Internal(String),
}

impl TusError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedVersion => StatusCode::PRECONDITION_FAILED,
            Self::InvalidContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MissingHeader(_)
            | Self::InvalidHeader { .. }
            | Self::LengthAlreadySet
            | Self::UnsupportedChecksumAlgorithm(_)
            | Self::InvalidConcat(_)
            | Self::BrokenBody(_)
            | Self::UploadNotFinished => StatusCode::BAD_REQUEST,
            Self::MismatchedOffset { .. } => StatusCode::CONFLICT,
            Self::UploadSizeExceeded { .. } | Self::MaxSizeExceeded { .. } | Self::StorageLimitExceeded(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::ChecksumMismatch => CHECKSUM_MISMATCH,
            Self::Locked | Self::Interrupted => StatusCode::LOCKED,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::NotFound | Self::DownloadIncomplete => StatusCode::NOT_FOUND,
            Self::Gone => StatusCode::GONE,
            Self::ModifyFinal | Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Disabled(_) | Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Rejected { status, .. } => *status,
            Self::ShuttingDown | Self::Unavailable(_) | Self::LockLost => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code at the start of the response body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedVersion => "ERR_UNSUPPORTED_VERSION",
            Self::InvalidContentType => "ERR_INVALID_CONTENT_TYPE",
            Self::MissingHeader(_) => "ERR_MISSING_HEADER",
            Self::InvalidHeader { header, .. } => match *header {
                "Upload-Offset" => "ERR_INVALID_OFFSET",
                "Upload-Length" | "Upload-Defer-Length" => "ERR_INVALID_LENGTH",
                "Upload-Metadata" => "ERR_INVALID_METADATA",
                "Upload-Checksum" => "ERR_INVALID_CHECKSUM",
                "Upload-Concat" => "ERR_INVALID_CONCAT",
                "Range" => "ERR_INVALID_RANGE",
                _ => "ERR_INVALID_HEADER",
            },
            Self::MismatchedOffset { .. } => "ERR_MISMATCHED_OFFSET",
            Self::UploadSizeExceeded { .. } => "ERR_UPLOAD_SIZE_EXCEEDED",
            Self::MaxSizeExceeded { .. } => "ERR_MAX_SIZE_EXCEEDED",
            Self::StorageLimitExceeded(_) => "ERR_STORAGE_LIMIT_EXCEEDED",
            Self::LengthAlreadySet => "ERR_INVALID_UPLOAD_LENGTH_CHANGE",
            Self::ChecksumMismatch => "ERR_CHECKSUM_MISMATCH",
            Self::UnsupportedChecksumAlgorithm(_) => "ERR_UNSUPPORTED_CHECKSUM_ALGORITHM",
            Self::Locked => "ERR_UPLOAD_LOCKED",
            Self::Interrupted => "ERR_UPLOAD_INTERRUPTED",
            Self::LockLost => "ERR_LOCK_LOST",
            Self::BodyTimeout => "ERR_READ_TIMEOUT",
            Self::BrokenBody(_) => "ERR_BROKEN_BODY",
            Self::NotFound => "ERR_UPLOAD_NOT_FOUND",
            Self::Gone => "ERR_UPLOAD_GONE",
            Self::ModifyFinal => "ERR_MODIFY_FINAL",
            Self::InvalidConcat(_) => "ERR_INVALID_CONCAT",
            Self::UploadNotFinished => "ERR_UPLOAD_NOT_FINISHED",
            Self::DownloadIncomplete => "ERR_INCOMPLETE_UPLOAD",
            Self::RangeNotSatisfiable { .. } => "ERR_RANGE_NOT_SATISFIABLE",
            Self::Disabled(_) => "ERR_EXTENSION_DISABLED",
            Self::MethodNotAllowed => "ERR_METHOD_NOT_ALLOWED",
            Self::OriginNotAllowed => "ERR_ORIGIN_NOT_ALLOWED",
            Self::Rejected { .. } => "ERR_REJECTED",
            Self::ShuttingDown => "ERR_SERVER_SHUTDOWN",
            Self::Unavailable(_) => "ERR_UNAVAILABLE",
            Self::Internal(_) => "ERR_INTERNAL_SERVER_ERROR",
        }
    }

    /// Seconds a client should wait before retrying, for `Retry-After`.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Self::Locked | Self::Interrupted | Self::LockLost => Some(1),
            Self::ShuttingDown | Self::Unavailable(_) => Some(5),
            _ => None,
        }
    }
}

impl fmt::Display for TusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedVersion => {
                f.write_str("unsupported or missing Tus-Resumable version; this server speaks 1.0.0")
            }
            Self::InvalidContentType => {
                f.write_str("PATCH requests need Content-Type: application/offset+octet-stream")
            }
            Self::MissingHeader(h) => write!(f, "missing header {h}"),
            Self::InvalidHeader { header, reason } => write!(f, "invalid {header}: {reason}"),
            Self::MismatchedOffset { expected, given } => {
                write!(f, "Upload-Offset {given} does not match the upload's offset {expected}")
            }
            Self::UploadSizeExceeded { length } => {
                write!(f, "the data goes past the upload's length of {length} bytes")
            }
            Self::MaxSizeExceeded { max } => write!(f, "the upload is larger than the maximum of {max} bytes"),
            Self::StorageLimitExceeded(why) => write!(f, "the storage cannot hold the upload this way: {why}"),
            Self::LengthAlreadySet => f.write_str("Upload-Length is already set and cannot change"),
            Self::ChecksumMismatch => f.write_str("the data does not match Upload-Checksum; nothing was stored"),
            Self::UnsupportedChecksumAlgorithm(a) => write!(f, "unsupported checksum algorithm {a:?}"),
            Self::Locked => f.write_str("the upload is busy with another request; retry shortly"),
            Self::Interrupted => {
                f.write_str("a newer request on this upload stopped this one; the data received was kept")
            }
            Self::LockLost => {
                f.write_str("the upload's lock was lost mid-request; the data received was kept, resume with HEAD")
            }
            Self::BodyTimeout => f.write_str("no data arrived within the idle timeout; the data received was kept"),
            Self::BrokenBody(why) => write!(f, "the request body broke off: {why}"),
            Self::NotFound => f.write_str("upload not found"),
            Self::Gone => f.write_str("the upload expired or was terminated"),
            Self::ModifyFinal => f.write_str("the final upload of a concatenation cannot be modified"),
            Self::InvalidConcat(why) => write!(f, "invalid Upload-Concat: {why}"),
            Self::UploadNotFinished => f.write_str("a partial upload of the concatenation is not complete"),
            Self::DownloadIncomplete => f.write_str("the upload is not complete yet"),
            Self::RangeNotSatisfiable { length } => write!(f, "the range lies outside the upload's {length} bytes"),
            Self::Disabled(what) => write!(f, "{what} is disabled on this server"),
            Self::MethodNotAllowed => f.write_str("method not allowed"),
            Self::OriginNotAllowed => f.write_str("origin not allowed"),
            Self::Rejected { message, .. } => f.write_str(message),
            Self::ShuttingDown => f.write_str("the server is shutting down; retry shortly"),
            Self::Unavailable(what) => write!(f, "temporarily unavailable: {what}"),
            Self::Internal(_) => f.write_str("internal server error"),
        }
    }
}

impl std::error::Error for TusError {}

/// An error from a [`Storage`](crate::Storage) backend.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// No upload with this ID.
    NotFound,
    /// The upload existed but expired or was terminated (a tombstone remains).
    Gone,
    /// An upload with this ID exists already.
    AlreadyExists,
    /// The upload's offset moved (another writer won the compare-and-set).
    OffsetMismatch {
        /// The offset the storage holds now.
        actual: u64,
    },
    /// The upload's length is already set.
    LengthAlreadySet,
    /// The operation would exceed a limit of the backend itself (e.g. Azure's 50,000 blocks
    /// per blob), whatever the server's configuration; the client cannot go on this way.
    LimitExceeded(String),
    /// The operation is not supported by this backend.
    NotSupported(&'static str),
    /// The backend cannot be reached right now; the client may retry.
    Unavailable(BoxError),
    /// An I/O error.
    Io(std::io::Error),
    /// Any other backend failure.
    Other(BoxError),
}

impl StorageError {
    /// Wraps any error as [`StorageError::Other`].
    pub fn other(err: impl Into<BoxError>) -> Self {
        Self::Other(err.into())
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("upload not found"),
            Self::Gone => f.write_str("upload expired or terminated"),
            Self::AlreadyExists => f.write_str("an upload with this id exists already"),
            Self::OffsetMismatch { actual } => write!(f, "offset changed concurrently (now {actual})"),
            Self::LengthAlreadySet => f.write_str("upload length already set"),
            Self::LimitExceeded(why) => write!(f, "storage limit exceeded: {why}"),
            Self::NotSupported(what) => write!(f, "not supported by this storage: {what}"),
            Self::Unavailable(e) => write!(f, "storage unavailable: {e}"),
            Self::Io(e) => write!(f, "storage i/o error: {e}"),
            Self::Other(e) => write!(f, "storage error: {e}"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Unavailable(e) | Self::Other(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}

impl From<StorageError> for TusError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound => Self::NotFound,
            StorageError::Gone => Self::Gone,
            StorageError::OffsetMismatch { actual } => Self::MismatchedOffset { expected: actual, given: u64::MAX },
            StorageError::LengthAlreadySet => Self::LengthAlreadySet,
            StorageError::LimitExceeded(why) => Self::StorageLimitExceeded(why),
            StorageError::NotSupported(what) => Self::Disabled(what),
            StorageError::Unavailable(e) => {
                // The client learns only the first line; the operator needs the causes
                // (connection refused, reset, DNS) to tell a dead backend from a slow one.
                tracing::warn!(error = %with_causes(&*e), "storage unavailable");
                Self::Unavailable(e.to_string())
            }
            other => Self::Internal(with_causes(&other)),
        }
    }
}

/// `err` and its chain of sources on one line, each cause added unless the text already
/// ends with it (many errors repeat their source in their own message).
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let line = err.to_string();
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_protocol() {
        assert_eq!(TusError::ChecksumMismatch.status().as_u16(), 460);
        assert_eq!(TusError::Locked.status(), StatusCode::LOCKED);
        assert_eq!(TusError::Locked.retry_after(), Some(1));
        let limit = TusError::from(StorageError::LimitExceeded("50,000 blocks".into()));
        assert_eq!(limit.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(limit.code(), "ERR_STORAGE_LIMIT_EXCEEDED");
        assert!(limit.to_string().ends_with("50,000 blocks"), "{limit}");
        assert_eq!(TusError::UnsupportedVersion.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(
            TusError::InvalidHeader { header: "Upload-Offset", reason: String::new() }.code(),
            "ERR_INVALID_OFFSET"
        );
    }

    /// An error with a message and an optional cause, like a client library's.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn an_internal_error_keeps_every_cause_once() {
        let refused = Layer("connection refused", None);
        let send = Layer("error sending request", Some(Box::new(refused)));
        let storage = StorageError::other(Layer("stage block: failed to execute request", Some(Box::new(send))));
        let TusError::Internal(detail) = TusError::from(storage) else { panic!("not internal") };
        assert_eq!(
            detail,
            "storage error: stage block: failed to execute request: error sending request: connection refused"
        );
        // The client is told only that the backend is unavailable, not how it failed.
        let unavailable = TusError::from(StorageError::Unavailable(Box::new(Layer(
            "stage block",
            Some(Box::new(Layer("connection refused", None))),
        ))));
        assert_eq!(unavailable.to_string(), "temporarily unavailable: stage block");
    }
}
