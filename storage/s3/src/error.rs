//! Turning SDK errors into what the storage needs to know: not found, a lost condition,
//! or a failure (transient ones as [`StorageError::Unavailable`]).

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tus_core::StorageError;

/// What an S3 request's failure means to the storage.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The object (or multipart upload) does not exist.
    NotFound,
    /// A conditional write lost: the object changed (412) or exists already.
    Conflict,
    /// Anything else.
    Storage(StorageError),
}

impl From<Failure> for StorageError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::NotFound => StorageError::other("an object of the upload is missing"),
            Failure::Conflict => StorageError::other("the upload changed concurrently"),
            Failure::Storage(err) => err,
        }
    }
}

/// Classifies the failure of the request `what`.
pub(crate) fn classify<E>(what: &str, err: SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    match (status, code.as_deref()) {
        (_, Some("NoSuchBucket")) => {}
        (_, Some("NoSuchKey" | "NoSuchUpload" | "NotFound")) | (Some(404), _) => return Failure::NotFound,
        (_, Some("PreconditionFailed" | "ConditionalRequestConflict")) | (Some(412), _) => return Failure::Conflict,
        _ => {}
    }
    let transient = matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
        || matches!(status, Some(500 | 502 | 503 | 504))
        || matches!(code.as_deref(), Some("SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable"));
    let message = format!("S3 {what}: {}", DisplayErrorContext(&err));
    Failure::Storage(if transient { StorageError::Unavailable(message.into()) } else { StorageError::other(message) })
}

/// Like [`classify`], for requests where every failure is an error.
pub(crate) fn fail<E>(what: &str) -> impl FnOnce(SdkError<E, HttpResponse>) -> StorageError + '_
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |err| match classify(what, err) {
        Failure::NotFound => StorageError::other(format!("S3 {what}: not found")),
        Failure::Conflict => StorageError::other(format!("S3 {what}: precondition failed")),
        Failure::Storage(err) => err,
    }
}

/// A failure reading an object body.
pub(crate) fn body_error(what: &str, err: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(format!("S3 {what}: body broke off: {err}").into())
}
